//! Support's list of the loans near the end of their free period
//! (`GET /loans?ending_within_days=`), over a real server and read model: a loan
//! whose free period ends within the window is listed with its days used and amount,
//! one ending later is not until the window reaches it, a released one never is;
//! a customer is refused the list.

use crate::support::{
    Running, eventually, lent, loan_where, migration_opened, released, serve_api, server_registered,
};
use chrono::Duration;
use ferry_billing::Billing;
use ferry_billing::api::EndingLoans;
use ferry_infra::testkit::TestStack;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_lists_the_open_loans_whose_free_period_ends_soon_and_a_customer_is_refused() {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    // On the test's own connection, so that the route reads the clock it advances.
    let billing = Billing::new(log.clone(), 14);
    let (soon, later, gone) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (server, customer, migration) in [
        ("srv-1", "c-42", soon),
        ("srv-2", "c-7", later),
        ("srv-3", "c-42", gone),
    ] {
        server_registered(&log, server, customer, 3100).await;
        migration_opened(&log, migration, server, customer).await;
    }
    let running = Running::start(&stack, &billing, log.clone()).await;
    let shutdown = CancellationToken::new();
    let (base, openapi) = serve_api(&stack, &billing, &shutdown).await;
    assert!(openapi.paths.paths.contains_key("/loans"), "documented");
    let client = reqwest::Client::new();
    let list = |days: u32, actor: &'static str| {
        let request = client
            .get(format!("{base}/loans?ending_within_days={days}"))
            .header("x-ferry-actor", actor);
        async move {
            let response = request.send().await.expect("an answer");
            (response.status(), response.text().await.expect("a body"))
        }
    };

    // Two loans of 14 free days: `soon` and `gone` lent now, `later` 5 days on.
    lent(&log, "tr-1", soon).await;
    lent(&log, "tr-3", gone).await;
    loan_where(&billing, soon, "soon opened", |_| true).await;
    loan_where(&billing, gone, "gone opened", |_| true).await;
    log.clock().advance(Duration::days(5));
    lent(&log, "tr-2", later).await;
    loan_where(&billing, later, "later opened", |_| true).await;
    released(&log, "tr-3", gone).await;
    loan_where(&billing, gone, "gone closed", |l| l.closed.is_some()).await;
    // Day 12 of `soon`: its free period ends in 2 days; `later`'s in 7.
    log.clock().advance(Duration::days(7));

    let within_3: EndingLoans = eventually("soon listed, gone not", || async {
        let (status, text) = list(3, "support:alice").await;
        let answer: EndingLoans = serde_json::from_str(&text).ok()?;
        (status == StatusCode::OK
            && answer.loans.len() == 1
            && answer.loans[0].migration_id == soon)
            .then_some(answer)
    })
    .await;
    let loan = &within_3.loans[0];
    assert_eq!(loan.customer_id, "c-42");
    assert_eq!(loan.client_server_id, "srv-1");
    assert_eq!(loan.transit_server_id, "tr-1");
    assert_eq!(loan.free_period_days, 14);
    assert_eq!(loan.days_used, 13, "day 13 has started");
    assert_eq!(loan.free_days_left, 1);
    assert_eq!(loan.charged.amount_cents, 0);
    assert_eq!(loan.charged_display, "0.00 EUR");
    assert_eq!(
        loan.free_period_ends_at,
        loan.started_at + Duration::days(14)
    );
    assert_eq!(within_3.ending_within_days, 3);

    // A wider window reaches `later`, the soonest first; the released one never.
    let (status, text) = list(10, "support:alice").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let within_10: EndingLoans = serde_json::from_str(&text).expect("the list");
    let ids: Vec<Uuid> = within_10.loans.iter().map(|l| l.migration_id).collect();
    assert_eq!(ids, [soon, later]);

    // Past its free period, a loan stays listed, charged.
    log.clock().advance(Duration::days(3));
    let past: EndingLoans = eventually("soon charged", || async {
        let (_, text) = list(0, "support:alice").await;
        let answer: EndingLoans = serde_json::from_str(&text).ok()?;
        answer
            .loans
            .iter()
            .any(|l| l.migration_id == soon && l.charged.amount_cents > 0)
            .then_some(answer)
    })
    .await;
    assert_eq!(past.loans.len(), 1, "only soon's free period is over");
    assert_eq!(past.loans[0].free_days_left, 0);

    // Support's alone; a window past a year is refused.
    for actor in ["customer:c-42", "customer:c-7"] {
        let (status, text) = list(3, actor).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{actor}: {text}");
    }
    let (status, text) = list(366, "support:alice").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    running.stop().await;
    shutdown.cancel();
}
