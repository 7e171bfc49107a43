//! Billing's HTTP API over a real server and its read model: loans, charges,
//! invoices (JSON and CSV), support's change of a free period; a customer sees only
//! their own. The rebuilt read model equals the live one, and the loans folded from
//! the log give the same totals to the cent.

use crate::support::{
    Running, eventually, lent, loan_where, migration_opened, released, serve_api, server_registered,
};
use chrono::Duration;
use ferry_billing::api::{ChargeList, FreePeriodAnswer, Invoice, InvoiceList, LoanDetail};
use ferry_billing::domain::loan::LoanDecider;
use ferry_billing::{Billing, BillingReadModel};
use ferry_core::Decider;
use ferry_events::AggregateType;
use ferry_infra::event_log::AggregateRef;
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::testkit::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Api {
    base: String,
    client: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        actor: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(actor) = actor {
            request = request.header("x-ferry-actor", actor);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("response");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Answer {
            status,
            content_type,
            text: response.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str, actor: Option<&str>) -> Answer {
        self.call(Method::GET, path, actor, None).await
    }
}

const SUPPORT: Option<&str> = Some("support:alice");
const C42: Option<&str> = Some("customer:c-42");
const C7: Option<&str> = Some("customer:c-7");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_loans_charges_and_invoices_to_their_customer_and_the_rebuild_equals_live() {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    // As ferry up runs it: on its own NATS user.
    let billing = Billing::new(
        stack
            .log_as(ferry_infra::nats_users::NatsUser::Billing)
            .await,
        0,
    );
    let (m1, m2) = (Uuid::now_v7(), Uuid::now_v7());
    server_registered(&log, "srv-1", "c-42", 3100).await;
    server_registered(&log, "srv-2", "c-7", 2800).await;
    migration_opened(&log, m1, "srv-1", "c-42").await;
    migration_opened(&log, m2, "srv-2", "c-7").await;
    let running = Running::start(&stack, &billing, log.clone()).await;
    let shutdown = CancellationToken::new();
    let (base, openapi) = serve_api(&stack, &billing, &shutdown).await;
    for path in [
        "/loans/{migration_id}",
        "/loans/{migration_id}/free-period",
        "/customers/{customer_id}/charges",
        "/customers/{customer_id}/invoices",
        "/customers/{customer_id}/invoices/{month}",
        "/customers/{customer_id}/invoices/{month}/csv",
    ] {
        assert!(openapi.paths.paths.contains_key(path), "{path} documented");
    }
    let api = Api {
        base,
        client: reqwest::Client::new(),
    };

    // No free period: day 1 is charged as soon as it starts, then day 2.
    lent(&log, "tr-1", m1).await;
    lent(&log, "tr-2", m2).await;
    loan_where(&billing, m1, "m1 day 1", |l| l.charged.len() == 1).await;
    loan_where(&billing, m2, "m2 day 1", |l| l.charged.len() == 1).await;
    log.clock().advance(Duration::days(1));
    loan_where(&billing, m1, "m1 day 2", |l| l.charged.len() == 2).await;
    loan_where(&billing, m2, "m2 day 2", |l| l.charged.len() == 2).await;

    // Support changes m2's free period; a customer may not, nor without a reason.
    let path = format!("/loans/{m2}/free-period");
    let body = json!({"free_period_days": 5, "reason": "installation was late"});
    let refused = api
        .call(
            Method::POST,
            &path,
            Some("customer:c-7"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    for (bad, status) in [
        (
            json!({"free_period_days": 5, "reason": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"free_period_days": 366, "reason": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"free_period_days": -1, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"free_period_days": 5}), StatusCode::BAD_REQUEST),
        (
            json!({"free_period_days": 5, "reason": "x", "extra": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let answer = api
            .call(Method::POST, &path, SUPPORT, Some(bad.clone()))
            .await;
        assert_eq!(answer.status, status, "{bad}: {}", answer.text);
    }
    let unknown = api
        .call(
            Method::POST,
            &format!("/loans/{}/free-period", Uuid::now_v7()),
            SUPPORT,
            Some(body.clone()),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    let changed = api
        .call(Method::POST, &path, SUPPORT, Some(body.clone()))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let changed: FreePeriodAnswer = changed.json();
    assert!(changed.changed);
    assert_eq!(changed.events, ["LoanFreePeriodChanged"]);
    assert_eq!(changed.free_period_days, 5);

    // m1 released: closed.
    released(&log, "tr-1", m1).await;
    loan_where(&billing, m1, "m1 closed", |l| l.closed.is_some()).await;

    // The loan, as its customer sees it once the read model has it.
    let detail: LoanDetail = eventually("m1 closed in the read model", || async {
        let answer = api.get(&format!("/loans/{m1}"), C42).await;
        (answer.status == StatusCode::OK)
            .then(|| answer.json::<LoanDetail>())
            .filter(|d| d.closed)
    })
    .await;
    let loan = billing.loan(m1).await.expect("loan");
    let total = loan.total().expect("total");
    assert_eq!(detail.customer_id, "c-42");
    assert_eq!(detail.client_server_id, "srv-1");
    assert_eq!(detail.transit_server_id, "tr-1");
    assert_eq!(detail.free_period_days, 0);
    assert_eq!(detail.billable_days_charged, 2);
    assert_eq!(detail.days_used, 2);
    assert_eq!(detail.charged.amount_cents, total.amount_cents);
    assert_eq!(detail.charged_display, total.to_string());
    assert_eq!(detail.charges.len(), 2);
    assert_eq!(
        detail.ended.as_ref().map(|e| e.total.amount_cents),
        Some(total.amount_cents)
    );
    // Another customer is told there is no such loan; support sees it.
    let other = api.get(&format!("/loans/{m1}"), C7).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    assert_eq!(
        api.get(&format!("/loans/{m1}"), SUPPORT).await.status,
        StatusCode::OK
    );
    let m2_detail: LoanDetail = eventually("m2's change in the read model", || async {
        let answer = api.get(&format!("/loans/{m2}"), SUPPORT).await;
        (answer.status == StatusCode::OK)
            .then(|| answer.json::<LoanDetail>())
            .filter(|d| !d.free_period_changes.is_empty())
    })
    .await;
    assert_eq!(m2_detail.free_period_changes[0].by, "support:alice");
    assert_eq!(
        m2_detail.free_period_changes[0].reason,
        "installation was late"
    );
    assert_eq!(
        m2_detail.billable_days_charged, 2,
        "charged days stay charged"
    );
    assert!(!m2_detail.closed);

    // Charges and invoices of c-42.
    let charges: ChargeList = api.get("/customers/c-42/charges", C42).await.json();
    assert_eq!(charges.charges.len(), 2);
    assert_eq!(charges.totals.len(), 1);
    assert_eq!(charges.totals[0].amount_cents, total.amount_cents);
    let invoices: InvoiceList = api.get("/customers/c-42/invoices", C42).await.json();
    let invoiced: i64 = invoices
        .invoices
        .iter()
        .flat_map(|i| i.totals.iter())
        .map(|t| t.amount_cents)
        .sum();
    assert_eq!(invoiced, total.amount_cents, "invoices total the charges");
    let month = invoices.invoices[0].month.clone();
    let by_month: ChargeList = api
        .get(&format!("/customers/c-42/charges?month={month}"), C42)
        .await
        .json();
    assert_eq!(by_month.month.as_deref(), Some(month.as_str()));
    let invoice: Invoice = api
        .get(&format!("/customers/c-42/invoices/{month}"), SUPPORT)
        .await
        .json();
    assert_eq!(invoice.lines, by_month.charges);
    let csv = api
        .get(&format!("/customers/c-42/invoices/{month}/csv"), C42)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let rows: Vec<&str> = csv.text.lines().collect();
    assert_eq!(rows.len(), invoice.lines.len() + 1, "{}", csv.text);
    assert!(rows[0].starts_with("customer_id,month,day,migration_id"));
    let first = &invoice.lines[0];
    let amount = format!(
        "{}.{:02}",
        first.amount.amount_cents / 100,
        first.amount.amount_cents % 100
    );
    assert!(
        rows[1].contains(&format!(",{},{m1},srv-1,tr-1,{amount},EUR", first.day)),
        "{}",
        rows[1]
    );

    // Refusals: another customer, a bad month, no actor, a malformed id.
    for (path, actor, status) in [
        (
            "/customers/c-42/charges".to_owned(),
            C7,
            StatusCode::NOT_FOUND,
        ),
        (
            "/customers/c-42/invoices".to_owned(),
            C7,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/customers/c-42/invoices/{month}"),
            C7,
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/customers/c-42/invoices/{month}/csv"),
            C7,
            StatusCode::NOT_FOUND,
        ),
        (
            "/customers/c-42/charges?month=2026-13".to_owned(),
            C42,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/customers/c-42/invoices/2026-1".to_owned(),
            C42,
            StatusCode::BAD_REQUEST,
        ),
        (
            "/customers/c-42/invoices/1999-01".to_owned(),
            C42,
            StatusCode::NOT_FOUND,
        ),
        (
            "/loans/not-a-uuid".to_owned(),
            SUPPORT,
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/loans/{}", Uuid::now_v7()),
            SUPPORT,
            StatusCode::NOT_FOUND,
        ),
        (format!("/loans/{m1}"), None, StatusCode::UNAUTHORIZED),
        (
            format!("/loans/{m1}"),
            Some("system:billing"),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let answer = api.get(&path, actor).await;
        assert_eq!(
            answer.status, status,
            "{path} as {actor:?}: {}",
            answer.text
        );
        let error: Value = answer.json();
        assert!(
            error["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{path}"
        );
    }

    // The rebuild of the read model equals the live one.
    running.stop().await;
    eventually("the read model caught up", || async {
        let c7: ChargeList = api.get("/customers/c-7/charges", SUPPORT).await.json();
        (c7.charges.len() == 2).then_some(())
    })
    .await;
    let shadow = build_shadow(&BillingReadModel, &log, &stack.pool, 3)
        .await
        .expect("rebuild");
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(comparison.is_equal(), "{comparison:#?}");
    shadow.discard().await.expect("discard");

    // The loans folded from the log give the read model's totals to the cent.
    for (migration, customer) in [(m1, "c-42"), (m2, "c-7")] {
        let aggregate = AggregateRef::new(AggregateType::Loan, migration.to_string()).expect("id");
        let history = log.load(&aggregate).await.expect("load");
        let folded = LoanDecider::fold(history.events.iter().map(|r| &r.envelope.event));
        let list: ChargeList = api
            .get(&format!("/customers/{customer}/charges"), SUPPORT)
            .await
            .json();
        assert_eq!(
            list.totals.first().map(|t| t.amount_cents),
            folded.total().map(|t| t.amount_cents),
            "{customer}"
        );
    }
    shutdown.cancel();
}
