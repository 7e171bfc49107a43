//! One server through the eight steps with `ferry up` running as a process, driven
//! through the CLI's client exactly as a customer and support would, with real data:
//! the example fleet under a temp dir and a name tag of this run, srv-0042's accounts
//! with files, mail, a PostgreSQL and a MariaDB database. The data mover is real: the
//! test copy, the pre-copies, every cutover, the rollback and the relocations copy
//! those files and databases, and the test checks them where they land. So is the
//! network: it lowers the TTLs, advises the MX change, switches each account's
//! traffic (its zones and the redirect) once the copy is verified, which lets the
//! data mover retire the source; nothing is published by the test.
//! Then the downtime added up, the audit, the read side, and the migration-state read
//! model rebuilt from the log and compared with the live one.
//! Billing and notifications are real too: ferry is restarted ahead of time
//! (`FERRY_CLOCK_OFFSET`) while the transit server is lent, past the notices and the
//! end of its free period, and the loan ends with its days charged; every message
//! reaches the SMTP server the test runs (aiosmtpd), once.

mod support;
// The notifications service's SMTP harness (aiosmtpd as a child process).
#[path = "../../notifications/tests/support/smtp.rs"]
mod smtp;

use ferry::client::Api;
use ferry::fleet;
use ferry_accounts::domain::migration::{MigrationState, Place, TestCopy};
use ferry_events::{
    AccountTrafficEvent, Actor, AggregateType, DatabaseEngine, Event, IncompatibilityKind,
    MigrationEvent, TransferEvent, TransitQueueEvent,
};
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::testkit::{TestStack, eventually, eventually_some};
use ferry_migration_state::projection::MigrationState as MigrationStateProjection;
use ferry_network::routes::lab::{Lab, LabServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::net::IpAddr;
use support::*;
use uuid::Uuid;

async fn post(api: &Api, path: String) -> anyhow::Result<Value> {
    api.command(Method::POST, &path, None).await
}

fn moving_transfer(state: &MigrationState, account: &str) -> Uuid {
    match state.accounts[account].place {
        Place::MovingToTransit { transfer_id }
        | Place::RollingBack { transfer_id }
        | Place::Relocating { transfer_id } => transfer_id,
        ref other => panic!("{account} is not moving: {other:?}"),
    }
}

/// The stream sequence of the last event of an aggregate that `pick` accepts.
/// The example fleet's servers in a network lab: srv-0042 and its transit servers,
/// each answering its id over HTTP on its public addresses.
async fn fleet_network() -> Lab {
    let ip = |text: &str| text.parse::<IpAddr>().expect("an address");
    let servers = [
        LabServer::new("srv-0042", &[ip("192.0.2.42"), ip("2001:db8::42")], false),
        LabServer::new(
            "tr-0001",
            &[ip("198.51.100.11"), ip("2001:db8:100::11")],
            true,
        ),
        LabServer::new("tr-0002", &[ip("198.51.100.12")], true),
    ];
    Lab::up("walk", &servers, 80)
        .await
        .expect("the network lab (root, iproute2, nftables)")
}

/// `dig +short` of `name`'s `kind` records at ferry's DNS, sorted.
async fn dig(port: u16, name: &str, kind: &str) -> Vec<String> {
    let out = dig_run(port, &[name, kind, "+short"]).await;
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The TTL of the first answer to `name`'s `kind`.
async fn dig_ttl(port: u16, name: &str, kind: &str) -> Option<u32> {
    let out = dig_run(port, &[name, kind, "+noall", "+answer"]).await;
    out.lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|ttl| ttl.parse().ok())
}

/// The status of a query for `name` (`NOERROR`, `NXDOMAIN`, `REFUSED`...).
async fn dig_status(port: u16, name: &str) -> String {
    let out = dig_run(port, &[name, "A", "+noall", "+comments"]).await;
    out.split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("no status")
        .to_owned()
}

async fn dig_run(port: u16, args: &[&str]) -> String {
    let output = tokio::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=2"])
        .args(args)
        .output()
        .await
        .expect("dig runs (Debian's bind9-dnsutils; scripts/test installs it)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Who recorded the events of an aggregate, each actor once, in order.
async fn actors_of(log: &EventLog, kind: AggregateType, id: &str) -> Vec<Actor> {
    let aggregate = AggregateRef::new(kind, id).expect("an id");
    let mut actors: Vec<Actor> = Vec::new();
    for recorded in log.load(&aggregate).await.expect("reads").events {
        if !actors.contains(&recorded.envelope.actor) {
            actors.push(recorded.envelope.actor);
        }
    }
    actors
}

async fn sequence_of(
    log: &EventLog,
    kind: AggregateType,
    id: &str,
    pick: impl Fn(&Event) -> bool,
) -> u64 {
    let aggregate = AggregateRef::new(kind, id).expect("an aggregate id");
    let loaded = log.load(&aggregate).await.expect("loads");
    loaded
        .events
        .iter()
        .rev()
        .find(|r| pick(&r.envelope.event))
        .map(|r| r.sequence)
        .unwrap_or_else(|| panic!("no such event of {kind:?} {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_walks_through_the_eight_steps() -> anyhow::Result<()> {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    // Declared before ferry: dropped (its databases with it) after ferry is killed.
    let demo = Demo::new();
    demo.client_data().await?;
    let mut env = demo.ferry_env();
    let dns_port = free_dns_port();
    let dns_addr = format!("127.0.0.1:{dns_port}");
    env.push(("FERRY_DNS_ADDR", dns_addr));
    // The provider's network for the example fleet, in namespaces of this test: the
    // reinstallation's IP reroute is applied to it for real, and measured.
    let lab = fleet_network().await;
    let routes = demo.path("network", "routes.json");
    std::fs::create_dir_all(demo.path("network", ""))?;
    lab.write_description(&routes)?;
    env.push(("FERRY_IP_ROUTES", routes.display().to_string()));
    // The mail system: a real SMTP server, receiving into a directory of this test.
    let mail_dir = demo.path("smtp", "");
    std::fs::create_dir_all(&mail_dir)?;
    let mut smtp = smtp::SmtpServer::start(&mail_dir).await;
    env.push(("FERRY_SMTP_URL", smtp.url()));
    env.push(("FERRY_SUPPORT_EMAIL", "support@hosting.example".into()));
    env.push(("FERRY_NOTIFY_RETRY_FIRST_MS", "200".into()));
    // Kept across the restarts below.
    env.push(("FERRY_REDIRECT_ADDR", format!("127.0.0.1:{}", free_port())));
    let env_of = |offset: &'static str| {
        let mut env = env.clone();
        env.push(("FERRY_CLOCK_OFFSET", offset.to_owned()));
        env
    };
    let started = |env: Vec<(&'static str, String)>| {
        let stack = &stack;
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            start_with(stack, &env).await
        }
    };
    let ferry = started(env.clone()).await;
    let support = ferry.api("support:jdoe").await;
    let customer = ferry.api("customer:c-42").await;
    let stranger = ferry.api("customer:c-77").await;
    let shop = |server: &str| demo.db(server, "bakery_shop");
    let blog = |server: &str| demo.db(server, "blog_wp");

    // The example fleet imports, and importing it again changes nothing.
    let fleet = demo.fleet()?;
    let first = fleet::import(&support, &fleet).await?;
    assert!(
        first.iter().all(|item| !item.events.is_empty()),
        "{first:?}"
    );
    let again = fleet::import(&support, &fleet).await?;
    assert!(again.iter().all(|item| item.events.is_empty()), "{again:?}");

    // Step 1: only the owner (or support) opens the migration.
    let open = json!({ "target_version": "v2026" });
    let refused = stranger
        .command(
            Method::POST,
            "/servers/srv-0042/migrations",
            Some(open.clone()),
        )
        .await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));
    // An id no server can have is the client's mistake (404), not an outage (503).
    let unknown = support.get("/servers/a.b/downtime-estimates").await;
    assert!(
        unknown
            .as_ref()
            .is_err_and(|e| e.to_string().contains("404")),
        "{unknown:?}"
    );
    let opened = customer
        .command(Method::POST, "/servers/srv-0042/migrations", Some(open))
        .await?;
    let m: Uuid = opened["migration_id"].as_str().expect("an id").parse()?;
    let state = wait_for_state(&log, m, "preparing").await;
    let kinds = |account: &str| -> Vec<IncompatibilityKind> {
        state.accounts[account]
            .issues
            .iter()
            .map(|i| i.kind)
            .collect()
    };
    assert_eq!(
        kinds("acc-1207"),
        vec![
            IncompatibilityKind::LanguageVersionRemoved,
            IncompatibilityKind::DatabaseVersionUpgraded
        ],
        "php 7.4 is gone and PostgreSQL 13 becomes 16"
    );
    assert_eq!(
        kinds("acc-1208"),
        vec![IncompatibilityKind::DatabaseVersionUpgraded],
        "MariaDB 10.6 becomes 10.11"
    );

    // A test migration: the data mover copies the databases to the test servers and
    // reports where to reach them; the original is untouched.
    post(&customer, format!("/migrations/{m}/accounts/acc-1207/test")).await?;
    let TestCopy::Requested { transfer_id } = migration(&log, m).await.accounts["acc-1207"].test
    else {
        panic!("test migration requested");
    };
    wait_for_transfer(&log, transfer_id, TRANSFER_SECS).await;
    assert!(
        eventually(15, || async {
            matches!(&migration(&log, m).await.accounts["acc-1207"].test,
                TestCopy::Available { address, .. } if address.starts_with(TEST_ADDRESS))
        })
        .await,
        "the test address is recorded: {:?}",
        migration(&log, m).await.accounts["acc-1207"].test
    );
    let TestCopy::Available { address, .. } =
        migration(&log, m).await.accounts["acc-1207"].test.clone()
    else {
        unreachable!("checked above")
    };
    let copies = pg_databases(&format!("{}test\\_%", demo.tag)).await;
    let [copy] = copies.as_slice() else {
        panic!("one test copy: {copies:?}");
    };
    assert!(copy.ends_with("_bakery_shop"), "{copy}");
    assert!(address.contains(copy.as_str()), "{address} names {copy}");
    assert_eq!(pg_rows(copy).await, BAKERY_ROWS);
    assert_eq!(pg_rows(&shop("srv-0042")).await, BAKERY_ROWS);
    assert_eq!(
        pg(&shop("srv-0042"))
            .await?
            .query_one("SHOW default_transaction_read_only", &[])
            .await?
            .get::<_, String>(0),
        "off",
        "the original still takes writes"
    );

    // Readiness, reversible; step 2 only when every account is ready.
    post(
        &customer,
        format!("/migrations/{m}/accounts/acc-1207/ready"),
    )
    .await?;
    let early = post(&customer, format!("/migrations/{m}/transit-request")).await;
    assert!(early.is_err_and(|e| e.to_string().contains("acc-1208")));
    post(
        &customer,
        format!("/migrations/{m}/accounts/acc-1208/ready"),
    )
    .await?;
    customer
        .command(
            Method::DELETE,
            &format!("/migrations/{m}/accounts/acc-1208/ready"),
            None,
        )
        .await?;
    post(
        &customer,
        format!("/migrations/{m}/accounts/acc-1208/ready"),
    )
    .await?;
    post(&customer, format!("/migrations/{m}/transit-request")).await?;
    wait_for_state(&log, m, "transit_requested").await;
    let not_support = post(
        &customer,
        format!("/migrations/{m}/obsolete-languages/removal"),
    )
    .await;
    assert!(not_support.is_err_and(|e| e.to_string().contains("only support")));
    post(
        &support,
        format!("/migrations/{m}/obsolete-languages/removal"),
    )
    .await?;

    // Step 3: the pool reserves the free transit server of the same configuration and
    // installs it; the data mover pre-copies files and mails once the installation
    // completes, which lends the transit server.
    let state = wait_for_state(&log, m, "transit_installing").await;
    assert_eq!(state.transit_server_id.as_deref(), Some("tr-0001"));
    wait_for_state(&log, m, "migrating_accounts").await;
    assert_eq!(
        read(&demo.path("tr-0001", "files/bakery/index.php")),
        read(&demo.path("srv-0042", "files/bakery/index.php")),
        "pre-copied"
    );

    // Before any account moves, the network lowered the TTL of the zones on the
    // provider's DNS and says which MX record to delete at the other DNS provider
    // (bakery-paris.example: external DNS, the provider's mail), and which to keep.
    let advised = eventually_some(30, || async {
        let view = customer.get(&format!("/migrations/{m}")).await.ok()?;
        let network = view.get("view")?.get("network")?.clone();
        let advice = network["mx_advice"].as_array()?.clone();
        let lowered = network["ttl_lowered"].as_array()?.clone();
        (!advice.is_empty() && lowered.len() == 2).then_some((advice, lowered))
    })
    .await;
    let (advice, lowered) = advised.expect("MX advice and lowered TTLs shown before the move");
    assert_eq!(advice[0]["domain"], "bakery-paris.example");
    assert_eq!(advice[0]["delete"]["priority"], 5);
    assert_eq!(advice[0]["delete"]["value"], "bakery.hosting.example");
    assert_eq!(advice[0]["keep"].as_array().map(Vec::len), Some(2));
    let mut lowered: Vec<&str> = lowered
        .iter()
        .filter_map(|l| l["domain"].as_str())
        .collect();
    lowered.sort_unstable();
    assert_eq!(lowered, ["bakery.example", "blog.bakery.example"]);

    // The provider's DNS answers for the zones of domains on it, from the client
    // server, with their TTL lowered; a domain on another DNS provider is refused.
    assert_eq!(dig(dns_port, "bakery.example", "A").await, ["192.0.2.42"]);
    assert_eq!(dig_ttl(dns_port, "bakery.example", "A").await, Some(60));
    assert_eq!(
        dig(dns_port, "www.bakery.example", "A").await,
        ["192.0.2.42", "bakery.example."]
    );
    assert_eq!(
        dig(dns_port, "bakery.example", "MX").await,
        [
            "10 mx1.hosting.example.",
            "20 mx2.hosting.example.",
            "5 bakery.hosting.example."
        ]
    );
    assert_eq!(
        dig_status(dns_port, "bakery-paris.example").await,
        "REFUSED"
    );

    // The transit server is lent: its loan is open, free for 14 days. ferry is run
    // ahead of time, as `FERRY_CLOCK_OFFSET` does: 11 days later the customer is
    // told 3 days ahead, 13 days later 1 day ahead, and 16 days later the 15th,
    // 16th and 17th days are charged (a day is charged once it starts). Each time
    // ferry stops and starts again: the timers are durable.
    let loan = eventually_some(30, || async {
        customer.get(&format!("/loans/{m}")).await.ok()
    })
    .await
    .expect("the loan opened when the transit server was lent");
    assert_eq!(loan["free_period_days"], 14, "{loan}");
    assert_eq!(loan["days_used"], 1, "{loan}");
    assert_eq!(loan["billable_days_charged"], 0, "{loan}");
    let refused = stranger.get(&format!("/loans/{m}")).await;
    assert!(refused.is_err(), "another customer's loan: {refused:?}");
    let mut ferry = ferry;
    for (offset, notices, charged) in [("265h", 1, 0), ("313h", 2, 0), ("16d", 2, 3)] {
        ferry.stop().await;
        ferry = started(env_of(offset)).await;
        let customer = ferry.api("customer:c-42").await;
        let loan = eventually_some(30, || async {
            let loan = customer.get(&format!("/loans/{m}")).await.ok()?;
            (loan["notices"].as_array()?.len() == notices
                && loan["billable_days_charged"] == charged)
                .then_some(loan)
        })
        .await;
        let loan = match loan {
            Some(loan) => loan,
            None => customer.get(&format!("/loans/{m}")).await?,
        };
        assert_eq!(
            loan["notices"].as_array().map(Vec::len),
            Some(notices),
            "{offset}: {loan}"
        );
        assert_eq!(loan["billable_days_charged"], charged, "{offset}: {loan}");
    }
    let support = ferry.api("support:jdoe").await;
    let customer = ferry.api("customer:c-42").await;
    let stranger = ferry.api("customer:c-77").await;
    let loan = customer.get(&format!("/loans/{m}")).await?;
    let days_left: Vec<&Value> = loan["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| &n["days_left"])
        .collect();
    assert_eq!(days_left, [&json!(3), &json!(1)], "{loan}");

    // Step 4: one account at a time; moved once copied and its traffic switched.
    post(&customer, format!("/migrations/{m}/accounts/acc-1207/move")).await?;
    let t1 = moving_transfer(&migration(&log, m).await, "acc-1207");
    let second = post(&customer, format!("/migrations/{m}/accounts/acc-1208/move")).await;
    assert!(second.is_err_and(|e| e.to_string().contains("one at a time")));
    let moved = wait_for_transfer(&log, t1, TRANSFER_SECS).await;
    assert!(moved.downtime_ms.is_some(), "{moved:?}");
    // The data mover announced its fitted estimate before the freeze: with no
    // cutover measured yet in this test's log, from its priors.
    let history = log
        .load(&AggregateRef::new(AggregateType::Transfer, t1.to_string()).expect("id"))
        .await
        .expect("the transfer's history");
    let told: Vec<&TransferEvent> = history
        .events
        .iter()
        .filter_map(|r| match &r.envelope.event {
            Event::Transfer(
                e @ (TransferEvent::DowntimeEstimated(_) | TransferEvent::AccountFrozen(_)),
            ) => Some(e),
            _ => None,
        })
        .collect();
    assert!(
        matches!(told.as_slice(), [TransferEvent::DowntimeEstimated(e), TransferEvent::AccountFrozen(_), ..]
            if e.account_id == "acc-1207" && e.estimated_downtime_ms > 0 && e.measured_cutovers == 0),
        "{told:?}"
    );
    assert_eq!(
        moved
            .database_methods
            .iter()
            .map(|d| (d.database.clone(), d.engine))
            .collect::<Vec<_>>(),
        [(shop("tr-0001"), DatabaseEngine::Postgres)],
        "{moved:?}"
    );
    // Everything is on the transit server; the old database refuses writes.
    assert_eq!(pg_rows(&shop("tr-0001")).await, BAKERY_ROWS);
    let late = pg_insert(&shop("srv-0042"), "late order").await;
    assert!(
        late.as_ref()
            .is_err_and(|e| format!("{e:?}").contains("read-only")),
        "the source is read-only: {late:?}"
    );
    for rest in [
        "files/bakery/index.php",
        "files/bakery/images/croissant.svg",
        "mail/bakery/Maildir/cur/1.eml",
    ] {
        assert_eq!(
            read(&demo.path("tr-0001", rest)),
            read(&demo.path("srv-0042", rest)),
            "{rest}"
        );
    }
    // The bakery lives on the transit server for a while.
    pg_insert(&shop("tr-0001"), "ordered on transit").await?;
    write(
        &demo.path("tr-0001", "files/bakery/uploads/menu.txt"),
        "uploaded on transit",
    );
    wait_for_place(&log, m, "acc-1207", &Place::Transit, TRANSFER_SECS).await;
    // Its zone follows it to the transit server, the server's own MX too.
    assert_eq!(
        dig(dns_port, "bakery.example", "A").await,
        ["198.51.100.11"]
    );
    assert_eq!(
        dig(dns_port, "bakery.example", "AAAA").await,
        ["2001:db8:100::11"]
    );
    assert!(
        dig(dns_port, "bakery.example", "MX")
            .await
            .contains(&"5 transit-01.hosting.example.".to_owned())
    );

    post(&customer, format!("/migrations/{m}/accounts/acc-1208/move")).await?;
    let t2 = moving_transfer(&migration(&log, m).await, "acc-1208");
    wait_for_place(&log, m, "acc-1208", &Place::Transit, TRANSFER_SECS).await;
    // The handshake, in order: the copy verified, the network's switch naming it,
    // the source retired and the account unfrozen at the switch, then the move
    // recorded. Nobody but ferry's services wrote these.
    let transfer_step = |pick: fn(&TransferEvent) -> bool| {
        let log = log.clone();
        async move {
            sequence_of(
                &log,
                AggregateType::Transfer,
                &t2.to_string(),
                |e| matches!(e, Event::Transfer(t) if pick(t)),
            )
            .await
        }
    };
    let verified = transfer_step(|e| matches!(e, TransferEvent::TransferVerified(_))).await;
    let unfrozen = transfer_step(|e| matches!(e, TransferEvent::AccountUnfrozen(_))).await;
    let switched = sequence_of(&log, AggregateType::AccountTraffic, "acc-1208", |e| {
        matches!(
            e,
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(s))
                if s.to_server_id == "tr-0001" && s.transfer_id == Some(t2)
        )
    })
    .await;
    let moved = sequence_of(
        &log,
        AggregateType::Migration,
        &m.to_string(),
        |e| matches!(e, Event::Migration(MigrationEvent::AccountMoved(a)) if a.transfer_id == t2),
    )
    .await;
    assert!(
        verified < switched && switched < unfrozen && unfrozen < moved,
        "verified at {verified}, switched at {switched}, unfrozen at {unfrozen}, moved at {moved}"
    );
    let actors = actors_of(&log, AggregateType::AccountTraffic, "acc-1208").await;
    assert_eq!(
        actors,
        vec![Actor::system("network")],
        "the network switched it"
    );
    wait_for_state(&log, m, "verifying").await;
    assert_eq!(my_rows(&blog("tr-0001")), BLOG_ROWS);
    assert_eq!(
        read(&demo.path("tr-0001", "files/blog/wp-config.php")),
        read(&demo.path("srv-0042", "files/blog/wp-config.php"))
    );
    my_insert(&blog("tr-0001"), "written on transit");

    // Step 5: verification; a rollback to the client server, and the move again.
    post(
        &customer,
        format!("/migrations/{m}/accounts/acc-1207/verification"),
    )
    .await?;
    post(
        &customer,
        format!("/migrations/{m}/accounts/acc-1208/rollback"),
    )
    .await?;
    let t3 = moving_transfer(&migration(&log, m).await, "acc-1208");
    wait_for_place(&log, m, "acc-1208", &Place::Client, TRANSFER_SECS).await;
    wait_for_state(&log, m, "migrating_accounts").await;
    assert_eq!(my_rows(&blog("srv-0042")), BLOG_ROWS + 1);
    assert!(my_has(&blog("srv-0042"), "written on transit"));
    my_insert(&blog("srv-0042"), "written after the rollback");
    let reinstall = post(&customer, format!("/migrations/{m}/reinstall-request")).await;
    assert!(reinstall.is_err_and(|e| e.to_string().contains("acc-1208")));
    post(&customer, format!("/migrations/{m}/accounts/acc-1208/move")).await?;
    let t4 = moving_transfer(&migration(&log, m).await, "acc-1208");
    wait_for_place(&log, m, "acc-1208", &Place::Transit, TRANSFER_SECS).await;
    wait_for_state(&log, m, "verifying").await;
    assert_eq!(my_rows(&blog("tr-0001")), BLOG_ROWS + 2);
    assert!(my_has(&blog("tr-0001"), "written after the rollback"));
    my_insert(&blog("tr-0001"), "written before the relocation");
    post(&customer, format!("/migrations/{m}/reinstall-request")).await?;

    // Step 6: support reinstalls.
    let not_support = post(&customer, format!("/migrations/{m}/reinstall")).await;
    assert!(not_support.is_err_and(|e| e.to_string().contains("403")));
    post(&support, format!("/migrations/{m}/reinstall")).await?;
    wait_for_state(&log, m, "reinstalling").await;
    // The client server's IPs reach the transit server before it goes down for its
    // reinstallation (which takes hours: here the report comes once they do).
    let rerouted = eventually_some(60, || async {
        let view = support.get(&format!("/migrations/{m}")).await.ok()?;
        let route = view["view"]["network"]["ip_route"].clone();
        route["rerouted_at"].is_string().then_some(route)
    })
    .await
    .expect("the IPs rerouted to the transit server");
    assert_eq!(
        lab.fetch("192.0.2.42".parse()?).await?,
        "tr-0001",
        "the transit server answers the client server's IPs: {rerouted}"
    );
    // The report says what was installed: anything but the target is refused.
    let wrong = support
        .command(
            Method::POST,
            &format!("/migrations/{m}/reinstall/done"),
            Some(serde_json::json!({ "infrastructure_version": "v2020" })),
        )
        .await;
    assert!(
        wrong.is_err_and(|e| e.to_string().contains("v2026")),
        "a reinstall on the wrong version is refused"
    );
    support
        .command(
            Method::POST,
            &format!("/migrations/{m}/reinstall/done"),
            Some(serde_json::json!({ "infrastructure_version": "v2026" })),
        )
        .await?;
    wait_for_state(&log, m, "relocating").await;
    // The client server's IPs went to the transit server during the reinstallation
    // and came home after it, through the lab's router, each way measured.
    let route = eventually_some(60, || async {
        let view = support.get(&format!("/migrations/{m}")).await.ok()?;
        let route = view["view"]["network"]["ip_route"].clone();
        route["restored_at"].is_string().then_some(route)
    })
    .await
    .expect("the IPs rerouted and routed home");
    eprintln!(
        "IPs of srv-0042 rerouted: {} ms unavailable; routed home: {} ms",
        route["reroute_unavailability_ms"], route["restore_unavailability_ms"]
    );
    assert_eq!(route["to_server_id"], "tr-0001");
    assert!(route["reroute_unavailability_ms"].is_u64(), "{route}");
    assert!(route["restore_unavailability_ms"].is_u64(), "{route}");
    let home = lab.fetch("192.0.2.42".parse()?).await?;
    assert_eq!(
        home, "srv-0042",
        "the client server answers its own IPs again"
    );

    // Step 7: support moves the accounts back, one by one.
    let mut relocations = vec![];
    for account in ["acc-1207", "acc-1208"] {
        post(
            &support,
            format!("/migrations/{m}/accounts/{account}/relocation"),
        )
        .await?;
        relocations.push(moving_transfer(&migration(&log, m).await, account));
        wait_for_place(&log, m, account, &Place::Relocated, TRANSFER_SECS).await;
    }
    // What the accounts did on the transit server is home, and the home copies take
    // writes again.
    assert_eq!(pg_rows(&shop("srv-0042")).await, BAKERY_ROWS + 1);
    assert!(pg_has(&shop("srv-0042"), "ordered on transit").await);
    pg_insert(&shop("srv-0042"), "ordered at home").await?;
    assert_eq!(
        read(&demo.path("srv-0042", "files/bakery/uploads/menu.txt")),
        "uploaded on transit"
    );
    assert_eq!(my_rows(&blog("srv-0042")), BLOG_ROWS + 3);
    assert!(my_has(&blog("srv-0042"), "written before the relocation"));
    my_insert(&blog("srv-0042"), "written at home");

    // Step 8: completed with every measured downtime added up; the server runs v2026
    // and is free for another migration; the transit server is wiped and free again.
    let done = wait_for_state(&log, m, "completed").await;
    let mut measured = 0;
    for t in [t1, t2, t3, t4].into_iter().chain(relocations) {
        let completed = wait_for_transfer(&log, t, 1).await;
        measured += completed
            .downtime_ms
            .expect("a cutover measures its downtime");
    }
    assert!(done.total_downtime_ms > 0, "{done:?}");
    assert_eq!(done.total_downtime_ms, measured);
    assert_eq!(
        done.total_downtime_ms,
        done.accounts.values().map(|a| a.downtime_ms).sum::<u64>()
    );
    let server_ref = AggregateRef::new(AggregateType::Server, "srv-0042")?;
    assert!(
        eventually(15, || async {
            let loaded = log.load(&server_ref).await.expect("loads");
            let server = <ferry_accounts::domain::server::ServerDecider as ferry_infra::command::Decider>::fold(
                loaded.events.iter().map(|r| &r.envelope.event),
            );
            server.infrastructure_version == "v2026" && server.open_migration.is_none()
        })
        .await,
        "the server runs v2026 and its migration is closed"
    );
    let queue = AggregateRef::new(AggregateType::TransitQueue, "vps-4c-8g")?;
    assert!(
        eventually(15, || async {
            log.load(&queue).await.is_ok_and(|l| matches!(
                l.events.last().map(|r| &r.envelope.event),
                Some(Event::TransitQueue(TransitQueueEvent::TransitServerAvailable(e))) if e.transit_server_id == "tr-0001"
            ))
        })
        .await,
        "the transit server is available again"
    );

    read_side_and_audit(&customer, &stranger, m, &done).await?;
    loan_closed_and_charged(&customer, m).await?;
    every_message_once(&support, &mut smtp).await?;

    // Downtime estimates for the next migration, fitted to the cutovers measured.
    let estimates = customer.get("/servers/srv-0042/downtime-estimates").await?;
    assert!(
        estimates["measured_cutovers"].as_u64() >= Some(6),
        "{estimates}"
    );
    let accounts = estimates["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2, "{estimates}");
    for account in accounts {
        assert!(
            account["estimated_downtime_ms"].as_u64() > Some(0),
            "{account}"
        );
        let methods: Vec<&str> = account["databases"]
            .as_array()
            .expect("databases")
            .iter()
            .filter_map(|d| d["method"].as_str())
            .collect();
        assert!(
            methods == ["logical_replication"] || methods == ["binlog_replication"],
            "{account}"
        );
    }
    let refused = stranger.get("/servers/srv-0042/downtime-estimates").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));

    // An optional migration of srv-0042's PostgreSQL to 16: the data mover moves its
    // databases to the new version's server, and the server then says where they
    // live, so that no later transfer copies from the old one.
    let rows_before = pg_rows(&shop("srv-0042")).await;
    let scheduled = support
        .command(
            Method::POST,
            "/servers/srv-0042/optional-migrations",
            Some(json!({ "service": "postgresql", "from_version": "13", "to_version": "16" })),
        )
        .await?;
    let optional = scheduled["optional_migration_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    post(
        &customer,
        format!("/optional-migrations/{optional}/application"),
    )
    .await?;
    let moved = eventually(TRANSFER_SECS, || async {
        log.load(&server_ref).await.is_ok_and(|server| {
            server.events.iter().any(|r| {
                matches!(
                    &r.envelope.event,
                    Event::Server(ferry_events::ServerEvent::ServerDetailsChanged(d))
                        if d.storage.postgres_url.as_deref().is_some_and(|u| u.ends_with("pg16_"))
                )
            })
        })
    })
    .await;
    assert!(moved, "the server's PostgreSQL is the new version's");
    let optional_ref = AggregateRef::new(AggregateType::OptionalMigration, optional.clone())?;
    let applied = eventually(TRANSFER_SECS, || async {
        log.load(&optional_ref).await.is_ok_and(|optional| {
            optional
                .events
                .iter()
                .any(|r| r.envelope.event.event_type() == "OptionalMigrationApplied")
        })
    })
    .await;
    assert!(applied, "the optional migration is applied");
    assert_eq!(pg_rows(&shop("pg16")).await, rows_before, "every row moved");

    // Support's (or monitoring's) to read.
    let openapi: Value = support.get("/openapi.json").await?;
    for path in [
        "/servers/{server_id}/migrations",
        "/transit-servers/{id}",
        "/servers/{server_id}/audit",
        "/migrations/{migration_id}/accounts/{account_id}/move",
        "/servers/{server_id}/downtime-estimates",
        "/reactions/parked",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "OpenAPI describes {path}"
        );
    }
    // Every reaction of the whole walk was carried out: none parked. Support only.
    let parked = support.get("/reactions/parked").await?;
    assert_eq!(parked["parked"], json!([]), "nothing parked: {parked}");
    let refused = customer.get("/reactions/parked").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));
    ferry.stop().await;
    rebuild_equals_live(&stack).await;
    drop(demo);
    Ok(())
}

/// The loan closed with the transit server's release: 17 days used (ferry ran 16
/// days ahead), the last 3 charged at 49.00 EUR a month pro rata, on the invoice.
async fn loan_closed_and_charged(customer: &Api, m: Uuid) -> anyhow::Result<()> {
    let loan = eventually_some(30, || async {
        let loan = customer.get(&format!("/loans/{m}")).await.ok()?;
        (loan["closed"] == json!(true)).then_some(loan)
    })
    .await
    .expect("the loan closed when the transit server was released");
    assert_eq!(loan["ended"]["days_used"], 17, "{loan}");
    assert_eq!(loan["ended"]["billable_days"], 3, "{loan}");
    let charges = loan["charges"].as_array().expect("charges");
    assert_eq!(charges.len(), 3, "{loan}");
    let mut total = 0;
    for charge in charges {
        let day: chrono::NaiveDate = charge["day"].as_str().expect("a day").parse()?;
        let days = ferry_billing::domain::pricing::days_in_month(day);
        let expected = (4900 * 2 + days) / (2 * days);
        assert_eq!(charge["amount"]["amount_cents"], expected, "{charge}");
        assert_eq!(charge["amount"]["currency"], "EUR");
        total += expected;
    }
    assert_eq!(loan["ended"]["total"]["amount_cents"], total, "{loan}");
    // The same charges on the customer's invoices (one per month they fall in).
    let listed = customer.get("/customers/c-42/charges").await?;
    assert_eq!(
        listed["charges"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    let invoices = customer.get("/customers/c-42/invoices").await?;
    let invoiced: i64 = invoices["invoices"]
        .as_array()
        .expect("invoices")
        .iter()
        .flat_map(|i| i["totals"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["amount_cents"].as_i64())
        .sum();
    assert_eq!(invoiced, total, "{invoices}");
    let month = invoices["invoices"][0]["month"].as_str().expect("a month");
    let csv = customer
        .get_text(&format!("/customers/c-42/invoices/{month}/csv"))
        .await?;
    assert!(csv.lines().count() >= 2, "a header and a line: {csv}");
    Ok(())
}

/// Every message queued during the walk was delivered to the SMTP server, once each
/// (unique Message-IDs, as many as the outbox sent), in the customer's French or
/// support's English; none given up.
async fn every_message_once(support: &Api, smtp: &mut smtp::SmtpServer) -> anyhow::Result<()> {
    let settled = eventually_some(60, || async {
        let outbox = support.get("/notifications?limit=500").await.ok()?;
        let counts = &outbox["counts"];
        let pending: u64 = ["queued", "sending", "retrying", "interrupted", "given_up"]
            .iter()
            .map(|k| counts[*k].as_u64().unwrap_or(u64::MAX))
            .sum();
        (pending == 0).then_some(outbox)
    })
    .await;
    let outbox = match settled {
        Some(outbox) => outbox,
        None => support.get("/notifications?limit=500").await?,
    };
    let sent = outbox["counts"]["sent"].as_u64().expect("a count");
    let templates: Vec<String> = outbox["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter_map(|n| {
            Some(format!(
                "{}/{}",
                n["audience"].as_str()?,
                n["template"].as_str()?
            ))
        })
        .collect();
    assert_eq!(templates.len() as u64, sent, "everything sent: {outbox}");
    for expected in [
        "customer/migration_opened",
        "customer/test_migration_ready",
        "customer/transit_requested",
        "support/transit_requested",
        "customer/transit_ready",
        "customer/mx_record_removal",
        "customer/free_period_ending",
        "customer/charges_started",
        "customer/account_moved",
        "customer/reinstall_requested",
        "support/reinstall_requested",
        "customer/server_reinstalled",
        "support/relocation_to_arrange",
        "customer/account_relocated",
        "customer/migration_completed",
    ] {
        assert!(
            templates.iter().any(|t| t == expected),
            "{expected} was sent: {templates:?}"
        );
    }
    let received = smtp
        .wait_for(usize::try_from(sent)?, std::time::Duration::from_secs(30))
        .await;
    let mut ids: Vec<&str> = received
        .iter()
        .filter_map(|mail| mail.header("Message-ID"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, sent, "each message received once");
    assert_eq!(received.len() as u64, sent, "each message received once");
    assert!(received.iter().any(|mail| {
        mail.header("To")
            .is_some_and(|to| to.contains("owner@bakery.example"))
            && mail.header("Content-Language") == Some("fr")
    }));
    assert!(received.iter().any(|mail| {
        mail.header("To")
            .is_some_and(|to| to.contains("support@hosting.example"))
            && mail.header("Content-Language") == Some("en")
    }));
    smtp.stop().await;
    Ok(())
}

async fn read_side_and_audit(
    customer: &Api,
    stranger: &Api,
    m: Uuid,
    done: &MigrationState,
) -> anyhow::Result<()> {
    let refused = stranger.get("/servers/srv-0042").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));
    let refused = stranger.get("/servers/srv-0042/audit").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));
    let completed = eventually_some(15, || async {
        let server = customer.get("/servers/srv-0042").await.ok()?;
        (server.pointer("/migration/state") == Some(&json!("completed"))).then_some(server)
    })
    .await;
    let server = match completed {
        Some(server) => server,
        None => customer.get("/servers/srv-0042").await?,
    };
    assert_eq!(
        server.pointer("/migration/state"),
        Some(&json!("completed")),
        "{server}"
    );
    assert_eq!(server.pointer("/migration/step"), Some(&json!(8)));
    assert_eq!(
        server.pointer("/migration/downtime_ms"),
        Some(&json!(done.total_downtime_ms)),
        "the read side adds up the same downtime"
    );
    let per_account: u64 = server
        .pointer("/migration/accounts")
        .and_then(Value::as_array)
        .expect("accounts")
        .iter()
        .map(|a| a["downtime_ms"].as_u64().expect("a downtime"))
        .sum();
    assert_eq!(per_account, done.total_downtime_ms, "{server}");
    assert_eq!(
        server.pointer("/migration/transit/transit_server_id"),
        Some(&json!("tr-0001"))
    );
    assert_eq!(
        server.pointer("/server/infrastructure_version"),
        Some(&json!("v2026"))
    );
    let listed = customer.get("/servers").await?;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "a customer lists only their servers: {listed}"
    );

    let audit = customer.get("/servers/srv-0042/audit").await?;
    let types: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    let position = |t: &str| {
        types
            .iter()
            .position(|x| *x == t)
            .unwrap_or_else(|| panic!("the audit has {t}: {types:?}"))
    };
    let order = [
        "MigrationOpened",
        "TestMigrationAvailable",
        "TransitServerRequested",
        "TransitServerReserved",
        "TransitServerReady",
        "AccountMoved",
        "AccountRolledBack",
        "ReinstallStarted",
        "ServerReinstalled",
        "AccountRelocated",
        "MigrationCompleted",
    ];
    let positions: Vec<usize> = order.iter().map(|t| position(t)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in process order: {types:?}"
    );
    assert!(audit.to_string().contains(&m.to_string()));
    Ok(())
}

async fn rebuild_equals_live(stack: &TestStack) {
    let shadow = build_shadow(&MigrationStateProjection, &stack.log, &stack.pool, 50)
        .await
        .expect("rebuild");
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(comparison.is_equal(), "{comparison:#?}");
    shadow.discard().await.expect("discard");
}
