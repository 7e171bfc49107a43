//! The web panel over HTTP, against a running `ferry up` (its browser tests click
//! the same pages in Chromium): signing in with a token (a wrong one, a forged
//! form refused), a customer's servers and nobody else's, a server's Migrations
//! page with the current step and only the actions the process allows, actions
//! carried out through the API (an irreversible one confirmed first), French, and
//! signing out.

mod support;

use ferry_infra::testkit::TestStack;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use support::panel_browser::{Browser, Page};
use support::{start, token};

impl Browser {
    /// The first event of a server's live section.
    async fn first_live_event(&mut self, server: &str) -> String {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut response = self
            .http
            .get(format!("{}/panel/servers/{server}/live", self.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .expect("ferry answers");
        assert_eq!(response.status(), StatusCode::OK);
        let mut text = String::new();
        while !text.contains("\n\n") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream reads")
                .expect("the stream goes on");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    }

    /// The server's page once it shows step `step` (the read side follows the
    /// log within moments).
    async fn at_step(&mut self, server: &str, step: usize) -> Page {
        let path = format!("/panel/servers/{server}");
        let mut page = self.get(&path).await;
        for _ in 0..100 {
            if current_step(&page.html) == Some(step) {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            page = self.get(&path).await;
        }
        panic!("{server} never showed step {step}: {}", page.html);
    }

    /// Clicks the button of `action` (for `account`) on a server's page.
    async fn act(&mut self, server: &str, action: &str, account: Option<&str>) -> Page {
        let page = self.get(&format!("/panel/servers/{server}")).await;
        let csrf = page.field("csrf");
        let mut form = vec![("csrf", csrf.as_str()), ("action", action)];
        if let Some(account) = account {
            form.push(("account", account));
        }
        self.post(&format!("/panel/servers/{server}/actions"), &form)
            .await
    }
}

fn current_step(html: &str) -> Option<usize> {
    let steps = html
        .split("<ol class=\"steps\"")
        .nth(1)?
        .split("</ol>")
        .next()?;
    steps
        .split("<li")
        .skip(1)
        .position(|li| li.contains("aria-current=\"step\""))
        .map(|at| at + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_signs_in_and_walks_its_server_through_the_first_steps() {
    let stack = TestStack::new().await;
    let ferry = start(&stack).await;
    let support = ferry.api("support:jdoe").await;
    let fleet = ferry::fleet::Fleet::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/fleet.yaml"
    )))
    .expect("the example fleet");
    ferry::fleet::import(&support, &fleet)
        .await
        .expect("imported");
    let owner = token(&ferry.log, "customer:c-42").await;
    let mut browser = Browser::new(&ferry.base);

    // Nobody signed in: the sign-in page, for every page.
    let home = browser.get("/panel/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location.as_deref(), Some("/panel/sign-in"));
    // A wrong token, and a form not from the panel, are refused.
    let wrong = browser.sign_in("ferry_not_a_token").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("role=\"alert\""), "{}", wrong.html);
    let forged = browser
        .post("/panel/sign-in", &[("csrf", "forged"), ("token", &owner)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let signed_in = browser.sign_in(&owner).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    let home = browser.get("/panel/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("<html lang=\"en\">"));
    assert!(home.html.contains("Your servers"));
    assert!(home.html.contains("/panel/servers/srv-0042"));
    assert!(
        !home.html.contains("srv-0077"),
        "another customer's server listed"
    );
    let other = browser.get("/panel/servers/srv-0077").await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);

    // No migration yet: opening it is offered, to the published version.
    let page = browser.get("/panel/servers/srv-0042").await;
    assert!(page.html.contains("data-action=\"open\""), "{}", page.html);
    assert!(
        page.html.contains("<option selected>v2026</option>"),
        "{}",
        page.html
    );
    let csrf = page.field("csrf");
    let forged = browser
        .post(
            "/panel/servers/srv-0042/actions",
            &[
                ("csrf", "forged"),
                ("action", "open"),
                ("target_version", "v2026"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A form without its target version is told so, and nothing is opened.
    let sequence = stack.log.last_sequence().await.expect("the log's sequence");
    let unchosen = browser
        .post(
            "/panel/servers/srv-0042/actions",
            &[("csrf", &csrf), ("action", "open")],
        )
        .await;
    assert_eq!(unchosen.status, StatusCode::SEE_OTHER);
    let page = browser.get("/panel/servers/srv-0042").await;
    assert!(
        page.html
            .contains("Choose the target version to open the migration"),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"data-action="open""#), "still to open");
    assert_eq!(
        stack.log.last_sequence().await.expect("the log's sequence"),
        sequence,
        "nothing recorded"
    );
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
    // The opening is carried out by the accounts policy, then read.
    let page = browser.at_step("srv-0042", 1).await;
    // What happens now, in the seeds' words, under the steps.
    assert!(
        page.html
            .contains(r#"<p class="step-about" data-step-about="1">Prepare every account"#),
        "{}",
        page.html
    );
    // Step 1: each account may be made ready; the transit server cannot be asked yet.
    assert!(page.html.contains("data-action=\"ready\""));
    assert!(!page.html.contains("data-action=\"request-transit\""));
    assert!(
        !page.html.contains("data-action=\"remove-languages\""),
        "support's"
    );
    for account in ["acc-1207", "acc-1208"] {
        let done = browser.act("srv-0042", "ready", Some(account)).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
    }
    let page = browser.get("/panel/servers/srv-0042").await;
    assert!(
        page.html.contains("role=\"status\""),
        "the last action's outcome"
    );
    assert!(
        page.html.contains("data-action=\"request-transit\""),
        "{}",
        page.html
    );
    let asked = browser.act("srv-0042", "request-transit", None).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    browser.at_step("srv-0042", 2).await;
    // The live section: the same migration section, as server-sent events.
    let event = browser.first_live_event("srv-0042").await;
    assert!(event.starts_with("event: live\n"), "{event}");
    assert!(event.contains("aria-current=\"step\""), "{event}");
    assert!(event.contains("data-account=\"acc-1207\""), "{event}");
    // An irreversible action is confirmed first, on a page of its own.
    let cancel = browser.act("srv-0042", "cancel", None).await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert!(cancel.html.contains("cannot be undone"), "{}", cancel.html);
    assert!(cancel.html.contains("name=\"confirmed\" value=\"yes\""));

    // In French.
    let french = browser.get("/panel/servers/srv-0042?lang=fr").await;
    assert!(french.html.contains("<html lang=\"fr\">"));
    assert!(french.html.contains("Demande du serveur de transit"));
    assert!(
        french
            .html
            .contains("Tous les comptes sont prêts. Le support supprime"),
        "step 2 said in French: {}",
        french.html
    );

    // Signed out: the session is over.
    let page = browser.get("/panel/").await;
    let csrf = page.field("csrf");
    let out = browser.post("/panel/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let home = browser.get("/panel/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    let live = browser.get("/panel/servers/srv-0042/live").await;
    assert_eq!(live.status, StatusCode::UNAUTHORIZED);
    ferry.stop().await;
}
