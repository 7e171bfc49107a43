//! Support removes and restores a server's obsolete languages from the console by
//! clicking, sees the pre-copy that then really failed (the server's data is not on
//! this machine) among the failed transfers needing a person; a customer is offered
//! none of it and is refused it.

use crate::support::panel_browser::{Browser, Page};
use crate::support::{Demo, open_migration, start, token, wait_for_state};
use crate::{once_showing, signed_in};
use ferry_infra::testkit::TestStack;
use reqwest::{Method, StatusCode};

/// The console's row of `server` in the section whose rows carry `attribute`.
pub(crate) fn row<'a>(page: &'a Page, attribute: &str, server: &str) -> &'a str {
    page.html
        .split(&format!("<tr {attribute}=\"{server}\""))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no {attribute} row of {server}: {}", page.html))
}

/// Clicks support's `action` of `server` in the console (its form: the session's
/// CSRF token, back to the console), confirming it when asked; the page it leads to.
pub(crate) async fn click_in_console(
    browser: &mut Browser,
    server: &str,
    action: &str,
    account: Option<&str>,
) -> Page {
    let console = browser.get("/panel/console").await;
    let row = row(&console, "data-support-server", server);
    assert!(
        row.contains(&format!("data-action=\"{action}\"")),
        "{action} offered for {server}: {row}"
    );
    let csrf = console.field("csrf");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("action", action),
        ("back", "console"),
    ];
    if let Some(account) = account {
        form.push(("account", account));
    }
    let path = format!("/panel/servers/{server}/actions");
    let mut done = browser.post(&path, &form).await;
    if done.status == StatusCode::OK && done.html.contains("name=\"confirmed\" value=\"yes\"") {
        assert!(
            done.html.contains("name=\"back\" value=\"console\""),
            "{}",
            done.html
        );
        form.push(("confirmed", "yes"));
        done = browser.post(&path, &form).await;
    }
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(
        done.location.as_deref(),
        Some("/panel/console#support-actions")
    );
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_removes_and_restores_languages_from_the_console_and_sees_the_failed_pre_copy() {
    let stack = TestStack::new().await;
    let ferry = start(&stack).await;
    // The example fleet, its servers' data under this run's directory, where none
    // of srv-0077's is: its pre-copy fails for real.
    let demo = Demo::new();
    ferry::fleet::import(
        &ferry.api("support:fleet").await,
        &demo.fleet().expect("the fleet"),
    )
    .await
    .expect("imported");
    let m = open_migration(&ferry, "customer:c-77", "srv-0077").await;
    wait_for_state(&stack.log, m, "preparing").await;
    let c77 = ferry.api("customer:c-77").await;
    for path in [
        format!("/migrations/{m}/accounts/acc-2001/ready"),
        format!("/migrations/{m}/transit-request"),
    ] {
        c77.command(Method::POST, &path, None)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    wait_for_state(&stack.log, m, "transit_requested").await;

    // The customer is offered no support action, and is refused one.
    let mut customer = signed_in(&ferry.base, &token(&ferry.log, "customer:c-77").await).await;
    let page = once_showing(
        &mut customer,
        "/panel/servers/srv-0077",
        "data-state=\"transit_requested\"",
    )
    .await;
    assert!(!page.html.contains("data-action=\"remove-languages\""));
    let csrf = page.field("csrf");
    let refused = customer
        .post(
            "/panel/servers/srv-0077/actions",
            &[
                ("csrf", &csrf),
                ("action", "remove-languages"),
                ("back", "console"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let page = customer.get("/panel/servers/srv-0077").await;
    assert!(
        page.html.contains("only support"),
        "the API's refusal: {}",
        page.html
    );
    assert_eq!(
        crate::support::migration(&stack.log, m).await.state_name(),
        "transit_requested"
    );
    for path in ["/panel/console", "/panel/console#failed"] {
        let console = customer.get(path).await;
        assert_eq!(console.status, StatusCode::FORBIDDEN, "{}", console.html);
    }
    let failed = c77.get("/transfers/failed").await;
    assert!(
        failed.is_err_and(|e| e.to_string().contains("403")),
        "support's list"
    );

    // Support removes the languages from the console: the request goes to the pool.
    let mut support = signed_in(&ferry.base, &token(&ferry.log, "support:jdoe").await).await;
    let console = once_showing(
        &mut support,
        "/panel/console",
        "data-support-server=\"srv-0077\"",
    )
    .await;
    let offered = row(&console, "data-support-server", "srv-0077");
    assert!(
        !offered.contains("data-action=\"restore-languages\""),
        "{offered}"
    );
    assert!(
        !offered.contains("data-action=\"ready\""),
        "the customer's own"
    );
    click_in_console(&mut support, "srv-0077", "remove-languages", None).await;
    let console = support.get("/panel/console").await;
    assert!(
        console
            .html
            .contains("class=\"flash \" role=\"status\">Done"),
        "what was done: {}",
        console.html
    );

    // Its transit server is installed at once, and the pre-copy fails for good:
    // a failed transfer needing a person, with its server, account, phase, reason.
    let console = once_showing(&mut support, "/panel/console", "data-failed=\"srv-0077\"").await;
    let failed = row(&console, "data-failed", "srv-0077");
    assert!(
        failed.contains("href=\"/panel/servers/srv-0077\""),
        "{failed}"
    );
    assert!(
        failed.contains("c-77") && failed.contains("acc-2001"),
        "{failed}"
    );
    assert!(failed.contains("pre_copy"), "{failed}");
    let reason = failed
        .split("<td class=\"reason\">")
        .nth(1)
        .and_then(|r| r.split("</td>").next())
        .expect("a reason");
    assert!(!reason.trim().is_empty(), "{failed}");
    let listed: serde_json::Value = ferry
        .api("support:jdoe")
        .await
        .get("/transfers/failed")
        .await
        .expect("support's list");
    assert_eq!(listed[0]["server_id"], "srv-0077", "{listed}");
    assert_eq!(listed[0]["retryable"], false, "{listed}");

    // Restoring the languages is offered now, and takes the migration back to step 1.
    let console = once_showing(
        &mut support,
        "/panel/console",
        "data-action=\"restore-languages\"",
    )
    .await;
    assert!(row(&console, "data-support-server", "srv-0077").contains("restore-languages"));
    click_in_console(&mut support, "srv-0077", "restore-languages", None).await;
    wait_for_state(&stack.log, m, "preparing").await;
    // In French too.
    let french = support.get("/panel/console?lang=fr").await;
    assert!(
        french.html.contains("Actions du support"),
        "{}",
        french.html
    );
    assert!(french.html.contains("Transferts échoués à traiter"));
    ferry.stop().await;
}
