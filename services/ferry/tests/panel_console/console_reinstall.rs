//! Support's console on a server walked with real data to step 5 (its accounts
//! moved by the data mover): its transit server's loan, past its one free day
//! (`FERRY_FREE_PERIOD_DAYS=1`), is listed near the end of its free period with the
//! days used and the amount; support starts then finishes the reinstall by
//! clicking in the console (each confirmed); outside support's working hours the
//! relocation is not offered and the next opening is shown, and once ferry runs in
//! working hours support relocates an account from the console.

use crate::panel_console_work::{click_in_console, row};
use crate::support::{
    Demo, TRANSFER_SECS, free_dns_port, free_port, migration, open_migration, start_with, token,
    wait_for_place, wait_for_state,
};
use crate::{once_showing, signed_in};
use chrono::{Datelike, Duration, Utc};
use ferry_accounts::domain::migration::Place;
use ferry_infra::testkit::{TestStack, eventually_some};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_sees_the_loan_ending_starts_and_finishes_the_reinstall_and_relocates_in_working_hours()
 {
    let stack = TestStack::new().await;
    let demo = Demo::new();
    demo.client_data().await.expect("srv-0042's data");
    // Support works only the day after tomorrow (UTC): closed now.
    let open_day = Utc::now() + Duration::days(2);
    let closed = open_day.weekday().to_string().to_lowercase();
    let mut env = demo.ferry_env();
    env.push(("FERRY_FREE_PERIOD_DAYS", "1".into()));
    // Kept across the restart below.
    env.push(("FERRY_REDIRECT_ADDR", format!("127.0.0.1:{}", free_port())));
    env.push(("FERRY_DNS_ADDR", format!("127.0.0.1:{}", free_dns_port())));
    let with = |extra: &[(&'static str, String)]| {
        let mut all = env.clone();
        all.extend(extra.iter().cloned());
        all
    };
    let started = |env: Vec<(&'static str, String)>| {
        let stack = &stack;
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            start_with(stack, &env).await
        }
    };
    let ferry = started(with(&[("FERRY_WORKING_DAYS", closed)])).await;
    ferry::fleet::import(
        &ferry.api("support:fleet").await,
        &demo.fleet().expect("the fleet"),
    )
    .await
    .expect("imported");
    let log = stack.log.clone();
    let customer = ferry.api("customer:c-42").await;
    let support_api = ferry.api("support:jdoe").await;
    let m = open_migration(&ferry, "customer:c-42", "srv-0042").await;
    wait_for_state(&log, m, "preparing").await;
    let post = |api: &ferry::client::Api, path: String| {
        let api = api.clone();
        async move {
            api.command(Method::POST, &path, None)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"))
        }
    };
    for account in ["acc-1207", "acc-1208"] {
        post(
            &customer,
            format!("/migrations/{m}/accounts/{account}/ready"),
        )
        .await;
    }
    post(&customer, format!("/migrations/{m}/transit-request")).await;
    wait_for_state(&log, m, "transit_requested").await;
    post(
        &support_api,
        format!("/migrations/{m}/obsolete-languages/removal"),
    )
    .await;
    // Installed at once, pre-copied for real, then lent: the loan opens.
    wait_for_state(&log, m, "migrating_accounts").await;

    let mut support = signed_in(&ferry.base, &token(&ferry.log, "support:jdoe").await).await;
    let console = once_showing(&mut support, "/panel/console", "data-loan=\"srv-0042\"").await;
    let loan = row(&console, "data-loan", "srv-0042");
    for shown in [
        "c-42",
        "tr-0001",
        "1 / 1",
        "0.00 EUR",
        "href=\"/panel/servers/srv-0042\"",
    ] {
        assert!(loan.contains(shown), "{shown}: {loan}");
    }

    // Step 4 and 5 by the customer: both accounts moved for real, verified, and the
    // reinstall requested.
    for account in ["acc-1207", "acc-1208"] {
        post(
            &customer,
            format!("/migrations/{m}/accounts/{account}/move"),
        )
        .await;
        wait_for_place(&log, m, account, &Place::Transit, TRANSFER_SECS).await;
    }
    for account in ["acc-1207", "acc-1208"] {
        post(
            &customer,
            format!("/migrations/{m}/accounts/{account}/verification"),
        )
        .await;
    }
    post(&customer, format!("/migrations/{m}/reinstall-request")).await;

    // Support starts the reinstall from the console (confirmed), then records it done.
    let console = once_showing(
        &mut support,
        "/panel/console",
        "data-action=\"start-reinstall\"",
    )
    .await;
    assert!(row(&console, "data-support-server", "srv-0042").contains("start-reinstall"));
    let mut owner = signed_in(&ferry.base, &token(&ferry.log, "customer:c-42").await).await;
    let page = owner.get("/panel/servers/srv-0042").await;
    assert!(
        !page.html.contains("data-action=\"start-reinstall\""),
        "support's"
    );
    click_in_console(&mut support, "srv-0042", "start-reinstall", None).await;
    wait_for_state(&log, m, "reinstalling").await;
    let console = once_showing(
        &mut support,
        "/panel/console",
        "data-action=\"reinstalled\"",
    )
    .await;
    assert!(!row(&console, "data-support-server", "srv-0042").contains("start-reinstall"));
    click_in_console(&mut support, "srv-0042", "reinstalled", None).await;
    wait_for_state(&log, m, "relocating").await;

    // Outside working hours: no relocation offered, the next opening shown, on the
    // console and on the server's page.
    let opening = format!("{}T00:00:00", open_day.date_naive());
    let console = once_showing(&mut support, "/panel/console", "data-later=\"relocate\"").await;
    let offered = row(&console, "data-support-server", "srv-0042");
    assert!(!offered.contains("data-action=\"relocate\""), "{offered}");
    assert!(offered.contains(&opening), "{opening}: {offered}");
    let page = support.get("/panel/servers/srv-0042").await;
    assert!(!page.html.contains("data-action=\"relocate\""));
    assert!(
        page.html.contains("data-later=\"relocate\""),
        "{}",
        page.html
    );
    assert!(page.html.contains(&opening), "{}", page.html);
    ferry.stop().await;

    // In working hours (ferry's default here: every day, all day), support relocates.
    let ferry = started(with(&[])).await;
    let mut support = signed_in(&ferry.base, &token(&ferry.log, "support:jdoe").await).await;
    once_showing(&mut support, "/panel/console", "data-action=\"relocate\"").await;
    click_in_console(&mut support, "srv-0042", "relocate", Some("acc-1207")).await;
    let moving = eventually_some(30, || async {
        let place = migration(&log, m).await.accounts["acc-1207"].place.clone();
        matches!(place, Place::Relocating { .. } | Place::Relocated).then_some(place)
    })
    .await;
    assert!(moving.is_some(), "acc-1207 is relocating");
    wait_for_place(&log, m, "acc-1207", &Place::Relocated, TRANSFER_SECS).await;
    ferry.stop().await;
}
