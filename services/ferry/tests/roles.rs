//! Every route of the API by every role, from the API's own description: nobody
//! without a valid token gets anything but 401; support is never refused for who
//! it is; a customer reads its own server, migration, loan and invoices, and
//! another customer's are never answered; a user its customer granted the server
//! reads its server and migration (not its bills), a user granted nothing is a
//! stranger; support's pool, outbox and reactions are refused to customers and
//! their users; and no answer shows a database password.

mod support;

use ferry_infra::testkit::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{import_example_fleet, open_migration, start_with, token};

/// Support-only reads: the transit pool, the outbox, the parked reactions, the
/// failed transfers.
const SUPPORT_ONLY: &[&str] = &[
    "/transit-servers",
    "/transit-queues",
    "/notifications",
    "/reactions",
    "/transfers",
];

/// The concrete path of a described one, naming c-42's server, migration and loan.
fn concrete(path: &str, migration: &str) -> String {
    let id = if path.starts_with("/transit-servers") {
        "tr-0001".to_owned()
    } else {
        uuid::Uuid::now_v7().to_string()
    };
    path.replace("{server_id}", "srv-0042")
        .replace("{migration_id}", migration)
        .replace("{account_id}", "acc-1207")
        .replace("{customer_id}", "c-42")
        .replace("{login}", "bob")
        .replace("{month}", "2026-12")
        .replace("{version}", "v2026")
        .replace("{token_id}", &uuid::Uuid::now_v7().to_string())
        .replace("{optional_migration_id}", &uuid::Uuid::now_v7().to_string())
        .replace("{id}", &id)
}

/// Whether the path names something of customer c-42's.
fn customers_own(path: &str) -> bool {
    ["{server_id}", "{migration_id}", "{customer_id}"]
        .iter()
        .any(|param| path.contains(param))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_role() {
    let stack = TestStack::new().await;
    // A forged token on every route: far past the brake on guessing (its own test).
    let ferry = start_with(&stack, &[("FERRY_AUTH_MAX_FAILURES", "1000000")]).await;
    let support_api = ferry.api("support:jdoe").await;
    import_example_fleet(&ferry).await;
    let owner = token(&ferry.log, "customer:c-42").await;
    let migration = open_migration(&ferry, "customer:c-42", "srv-0042")
        .await
        .to_string();
    ferry
        .api("customer:c-42")
        .await
        .send::<Value>(
            Method::POST,
            "/customers/c-42/users/alice/grants",
            Some(json!({ "server_id": "srv-0042" })),
        )
        .await
        .expect("granted");
    let tokens = [
        ("support", Some(token(&ferry.log, "support:jdoe").await)),
        ("owner", Some(owner)),
        ("stranger", Some(token(&ferry.log, "customer:c-77").await)),
        ("granted", Some(token(&ferry.log, "user:c-42/alice").await)),
        ("ungranted", Some(token(&ferry.log, "user:c-42/bob").await)),
        ("anonymous", None),
        (
            "forged",
            Some(format!(
                "ferry_{}_{}",
                uuid::Uuid::now_v7().simple(),
                "0".repeat(64)
            )),
        ),
    ];
    let openapi: Value = support_api
        .get("/openapi.json")
        .await
        .expect("the description");
    let client = reqwest::Client::new();
    let mut checked = 0;
    let mut refusals = Vec::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = format!("{}{}", ferry.base, concrete(path, &migration));
            for (role, token) in &tokens {
                let mutating = method != "get";
                // Commands only for those who may not be let in: the others' would act.
                if mutating && matches!(*role, "support" | "owner" | "granted") {
                    continue;
                }
                let mut request = client.request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"),
                    &url,
                );
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if mutating {
                    request = request.json(&json!({}));
                }
                let response = request.send().await.expect("ferry answers");
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                // The example fleet's database URLs hold a password: no answer shows it.
                if body.contains("postgres:postgres@") {
                    refusals.push(format!(
                        "{} {path} as {role}: a password in {body}",
                        method.to_uppercase()
                    ));
                }
                checked += 1;
                let support_only = SUPPORT_ONLY.iter().any(|p| path.starts_with(p));
                let billing = path.starts_with("/loans")
                    || path.contains("/charges")
                    || path.contains("/invoices");
                // c-42's users list their own grants (bob: none).
                let own_grants = path == "/customers/{customer_id}/grants";
                let wrong = match *role {
                    "anonymous" | "forged" => status != StatusCode::UNAUTHORIZED,
                    "support" => matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                    "owner" => {
                        status == StatusCode::UNAUTHORIZED
                            || (support_only && status.is_success())
                            || (customers_own(path) && status == StatusCode::FORBIDDEN)
                    }
                    // Granted srv-0042: its server and migration, as the owner reads
                    // them; never its customer's bills, never support's pages.
                    "granted" => {
                        status == StatusCode::UNAUTHORIZED
                            || (support_only && status.is_success())
                            || (billing && status.is_success())
                            || (customers_own(path) && !billing && status == StatusCode::FORBIDDEN)
                    }
                    "ungranted" if own_grants => status != StatusCode::OK,
                    // Never answered about c-42's, never carried out: refused for
                    // who it is (403), as not found, or (a command, a query without
                    // its parameters) as malformed before any decision; a list of
                    // its own names nothing of c-42's.
                    _ => {
                        status == StatusCode::UNAUTHORIZED
                            || (status.is_success() && (mutating || customers_own(path)))
                            || (support_only && !mutating && status != StatusCode::FORBIDDEN)
                            || (status.is_success()
                                && (body.contains("srv-0042") || body.contains("\"c-42\"")))
                    }
                };
                if wrong {
                    refusals.push(format!(
                        "{} {path} as {role}: {status}",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }
    assert!(
        refusals.is_empty(),
        "{} of {checked} answers wrong:\n{}",
        refusals.len(),
        refusals.join("\n")
    );
    assert!(checked > 150, "only {checked} checked");
    println!("{checked} route × role answers checked");
    ferry.stop().await;
}
