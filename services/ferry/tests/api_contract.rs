//! The API against its own description: Schemathesis (`st`, pinned in
//! `scripts/test`, which installs it and sets `FERRY_SCHEMATHESIS`) runs every check
//! in every phase (examples, coverage, fuzzing, stateful) against a live `ferry up`
//! on the test's own stream and database, once as support and once as the customer
//! owning the one registered server, and must find nothing. Its settings, with the
//! one widening they allow and why, are in `tests/api/schemathesis.toml`.
//!
//! A machine without Schemathesis fails this test with how to get it: a contract
//! test that cannot run must not pass.

mod support;

use ferry_infra::testkit::TestStack;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Test cases per operation and phase: enough to walk each body's fields and
/// every documented status, within about a minute per actor on two cores.
const EXAMPLES_PER_OPERATION: &str = "40";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_answers_as_its_description_says_to_support_and_to_a_customer() {
    let st = std::env::var("FERRY_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "FERRY_SCHEMATHESIS is not set: run the tests with scripts/test, which installs \
             Schemathesis (pinned) into .stack/ and sets it, or point it at an `st` binary"
        )
    });
    let stack = TestStack::new().await;
    // Schemathesis sends wrong tokens on purpose, thousands of them: the gate's
    // brake on guessing (tested in `up`) would answer it 429.
    let ferry = support::start_with(&stack, &[("FERRY_AUTH_MAX_FAILURES", "1000000")]).await;
    let data = std::env::temp_dir().join(format!("ferry-api-contract-{}", uuid::Uuid::now_v7()));
    register_fleet(
        &ferry.base,
        &support::token(&ferry.log, "support:fleet").await,
        &data,
    )
    .await;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/schemathesis.toml");
    // The description is support's (and monitoring's) to read: read once, as support,
    // and given to both runs as a file.
    let description = data.join("openapi.json");
    let openapi = reqwest::Client::new()
        .get(format!("{}/openapi.json", ferry.base))
        .bearer_auth(&ferry.metrics_token)
        .send()
        .await
        .expect("ferry answers")
        .text()
        .await
        .expect("the description");
    std::fs::create_dir_all(&data).expect("a test directory");
    std::fs::write(&description, openapi).expect("the description saved");
    for actor in ["support:st", "customer:c-42"] {
        let token = support::token(&ferry.log, actor).await;
        let started = Instant::now();
        let output = Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(&description)
            .args(["--url", &ferry.base])
            .args(["--checks", "all", "--max-examples", EXAMPLES_PER_OPERATION])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            // One worker: CPython 3.11 (this machine's) shares the `ast` module's
            // recursion counter between threads, and Hypothesis parses source while
            // describing its filters, so two workers now and then die with
            // "AST constructor recursion depth mismatch" (python/cpython#106905).
            .args(["--workers", "1", "--no-color", "--seed", "20261203"])
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap_or_else(|e| panic!("running {st}: {e}"));
        let out = String::from_utf8_lossy(&output.stdout);
        let summary = out
            .lines()
            .rev()
            .take_while(|l| !l.starts_with("=") || l.contains(" in "))
            .collect::<Vec<_>>();
        println!(
            "schemathesis as {actor}: {} in {:.0?}",
            summary.first().copied().unwrap_or("(no summary)"),
            started.elapsed()
        );
        assert!(
            output.status.success(),
            "Schemathesis as {actor} found failures:\n{out}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    ferry.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}

/// A target version, a transit server and one server of customer `c-42` with two
/// accounts (no databases, files under `data`), so that the generated requests
/// reach the commands' rules instead of 404s.
async fn register_fleet(base: &str, token: &str, data: &Path) {
    let client = reqwest::Client::new();
    let root = |name: &str| data.join(name).display().to_string();
    let put = |path: &str, body: serde_json::Value| {
        let request = client
            .put(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await.expect("ferry answers");
            let status = response.status();
            assert!(
                status.is_success(),
                "{status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
    };
    put(
        "/target-infrastructures/v2026",
        serde_json::json!({
            "languages": [{"language": "php", "version": "8.3"}],
            "databases": [{"engine": "postgres", "version": "16"}],
        }),
    )
    .await;
    put(
        "/transit-servers/tr-0001",
        serde_json::json!({
            "name": "transit-01.hosting.example", "configuration": "vps-4c-8g",
            "infrastructure_version": "v2026", "ipv4": ["198.51.100.11"],
            "storage": {"files_root": root("tr-files"), "mail_root": root("tr-mail")},
        }),
    )
    .await;
    let account = |id: &str, name: &str| {
        serde_json::json!({
            "account_id": id, "name": name, "files_bytes": 0, "mail_bytes": 0,
            "databases": [], "languages": [{"language": "php", "version": "8.3"}],
            "domains": [{"name": format!("{name}.example"), "dns": "hosted", "mail": "hosted"}],
        })
    };
    put(
        "/servers/srv-0042",
        serde_json::json!({
            "name": "bakery.hosting.example", "kind": "vps", "configuration": "vps-4c-8g",
            "infrastructure_version": "v2020", "ipv4": ["192.0.2.42"],
            "monthly_price": {"amount_cents": 4900, "currency": "EUR"},
            "customer_id": "c-42", "contact_email": "owner@bakery.example", "locale": "fr",
            "storage": {"files_root": root("files"), "mail_root": root("mail")},
            "accounts": [account("acc-1207", "bakery"), account("acc-1208", "shop")],
        }),
    )
    .await;
}
