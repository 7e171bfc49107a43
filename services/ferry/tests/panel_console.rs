//! The support console and a server's audit page over HTTP, against a running
//! `ferry up`: support sees every server (filtered by step, searched), the transit
//! pool and its queue; a customer is refused the console with the API's reason; the
//! audit page shows a migration's opening with its actor, exports it as CSV, and is
//! refused on another customer's server. Support's work from the console: removing
//! and restoring obsolete languages by clicking, a pre-copy that really failed
//! listed among the failed transfers (`console_work.rs`); a loan near the end of its
//! free period, starting and finishing a reinstall, a relocation offered only in
//! working hours with the next opening shown (`console_reinstall.rs`).

#[path = "panel_console/console_reinstall.rs"]
mod panel_console_reinstall;
#[path = "panel_console/console_work.rs"]
mod panel_console_work;
mod support;

use ferry_infra::testkit::TestStack;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use support::panel_browser::{Browser, Page};
use support::{start, token};

pub(crate) async fn signed_in(base: &str, token: &str) -> Browser {
    let mut browser = Browser::new(base);
    let page = browser.sign_in(token).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(page.location.as_deref(), Some("/panel/"));
    browser
}

/// Starts ferry with the example fleet imported.
async fn with_example_fleet(stack: &TestStack) -> support::Ferry {
    let ferry = start(stack).await;
    let support = ferry.api("support:jdoe").await;
    let fleet = ferry::fleet::Fleet::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/fleet.yaml"
    )))
    .expect("the example fleet");
    ferry::fleet::import(&support, &fleet)
        .await
        .expect("imported");
    ferry
}

/// The customer of srv-0042 opens its migration to v2026 from the panel.
async fn open_migration(browser: &mut Browser) {
    let page = browser.get("/panel/servers/srv-0042").await;
    let csrf = page.field("csrf");
    let opened = browser
        .post(
            "/panel/servers/srv-0042/actions",
            &[
                ("csrf", &csrf),
                ("action", "open"),
                ("target_version", "v2026"),
            ],
        )
        .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
}

/// `path` once its page contains `text` (the read side follows the log within
/// moments).
pub(crate) async fn once_showing(browser: &mut Browser, path: &str, text: &str) -> Page {
    let mut page = browser.get(path).await;
    for _ in 0..100 {
        if page.html.contains(text) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = browser.get(path).await;
    }
    panic!("{path} never showed {text:?}: {}", page.html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_sees_the_console_filters_and_searches_and_a_customer_is_refused() {
    let stack = TestStack::new().await;
    let ferry = with_example_fleet(&stack).await;
    let support = signed_in(&ferry.base, &token(&ferry.log, "support:jdoe").await).await;
    let mut support = support;

    // Support's home links to the console.
    let home = support.get("/panel/").await;
    assert!(
        home.html.contains("href=\"/panel/console\""),
        "{}",
        home.html
    );

    let console = support.get("/panel/console").await;
    assert_eq!(console.status, StatusCode::OK, "{}", console.html);
    for server in ["srv-0042", "srv-0077"] {
        assert!(
            console.html.contains(&format!("data-server=\"{server}\"")),
            "{server}: {}",
            console.html
        );
    }
    assert!(console.html.contains("1–2 of 2"), "{}", console.html);
    assert!(console.html.contains("<caption>"));
    assert!(console.html.contains("<th scope=\"col\">"));
    // The pool by configuration, each with its waiting queue.
    for (transit, configuration) in [("tr-0001", "vps-4c-8g"), ("tr-0002", "dedi-16c-64g")] {
        assert!(
            console
                .html
                .contains(&format!("data-transit=\"{transit}\""))
        );
        assert!(
            console
                .html
                .contains(&format!("data-configuration=\"{configuration}\""))
        );
    }
    assert!(console.html.contains("<table class=\"transit\">"));
    assert!(console.html.contains("<table class=\"queue\">"));
    assert!(console.html.contains("id=\"parked\""));
    assert!(console.html.contains("id=\"outbox\""));

    // Searched by customer, by name or id.
    let searched = support.get("/panel/console?q=C-77").await;
    assert!(searched.html.contains("data-server=\"srv-0077\""));
    assert!(!searched.html.contains("data-server=\"srv-0042\""));
    assert!(searched.html.contains("1–1 of 1"), "{}", searched.html);
    // Filtered by step: none at step 1 until a migration is opened.
    let none = support.get("/panel/console?step=none").await;
    assert!(none.html.contains("1–2 of 2"), "{}", none.html);
    let step1 = support.get("/panel/console?step=1").await;
    assert!(step1.html.contains("0–0 of 0"), "{}", step1.html);

    let owner = token(&ferry.log, "customer:c-42").await;
    let mut customer = signed_in(&ferry.base, &owner).await;
    open_migration(&mut customer).await;
    let step1 = once_showing(
        &mut support,
        "/panel/console?step=1",
        "data-server=\"srv-0042\"",
    )
    .await;
    assert!(!step1.html.contains("data-server=\"srv-0077\""));
    assert!(step1.html.contains("1–1 of 1"), "{}", step1.html);
    // Paging keeps the filter in its links; a page past the end shows the last.
    let far = support.get("/panel/console?step=1&page=9").await;
    assert!(far.html.contains("data-server=\"srv-0042\""));

    // A customer is refused the console, with the API's reason.
    let refused = customer.get("/panel/console").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(refused.html.contains("role=\"alert\""));
    assert!(refused.html.contains("transit"), "{}", refused.html);
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_shows_the_opening_with_its_actor_and_exports_it_as_csv() {
    let stack = TestStack::new().await;
    let ferry = with_example_fleet(&stack).await;
    let owner = token(&ferry.log, "customer:c-42").await;
    let mut customer = signed_in(&ferry.base, &owner).await;
    open_migration(&mut customer).await;

    let audit = once_showing(
        &mut customer,
        "/panel/servers/srv-0042/audit",
        "data-event=\"MigrationOpened\"",
    )
    .await;
    assert_eq!(audit.status, StatusCode::OK);
    let row = audit
        .html
        .split("<tr data-event=\"MigrationOpened\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("the opening's row");
    assert!(row.contains("customer:c-42"), "{row}");
    assert!(audit.html.contains("<caption>"));
    assert!(
        audit
            .html
            .contains("href=\"/panel/servers/srv-0042/audit.csv\"")
    );

    // The export: CSV, as an attachment, a quoted header and the opening's row.
    let cookie = customer
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let csv = customer
        .http
        .get(format!("{}/panel/servers/srv-0042/audit.csv", ferry.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("ferry answers");
    assert_eq!(csv.status(), StatusCode::OK);
    let content_type = csv.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let disposition = csv.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(disposition, "attachment; filename=\"srv-0042-audit.csv\"");
    let body = csv.text().await.expect("a body");
    let mut lines = body.split("\r\n");
    assert_eq!(
        lines.next(),
        Some(
            "\"sequence\",\"occurred_at\",\"actor_role\",\"actor_id\",\"event_type\",\"migration_id\",\"summary\",\"downtime_ms\""
        )
    );
    assert!(
        body.lines()
            .any(|l| l.contains("\"customer\",\"c-42\",\"MigrationOpened\"")),
        "{body}"
    );

    // Another customer's server: the API's refusal, for the page and the export.
    let other = customer.get("/panel/servers/srv-0077/audit").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.html);
    assert!(other.html.contains("role=\"alert\""));
    let other_csv = customer.get("/panel/servers/srv-0077/audit.csv").await;
    assert_eq!(other_csv.status, StatusCode::FORBIDDEN);
    ferry.stop().await;
}
