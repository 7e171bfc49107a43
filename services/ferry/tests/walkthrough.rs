//! One server through the eight steps with `ferry up` running as a process, driven
//! through the CLI's client exactly as a customer and support would. The data mover's
//! pre-copy is real; its cutovers and the network's traffic switches are not built
//! yet, so the test publishes those events **as test inputs**.
//! Then the audit, the read side, and the migration-state read model rebuilt from the
//! log and compared with the live one.

mod support;

use ferry::client::Api;
use ferry::fleet::{self, Fleet};
use ferry_accounts::domain::migration::{MigrationState, Place, TestCopy};
use ferry_events::{AggregateType, Event, IncompatibilityKind, TransferKind, TransitQueueEvent};
use ferry_infra::event_log::AggregateRef;
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::testkit::{TestStack, eventually};
use ferry_migration_state::projection::MigrationState as MigrationStateProjection;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_walks_through_the_eight_steps() -> anyhow::Result<()> {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    let ferry = start(&stack).await;
    let support = ferry.api("support:jdoe");
    let customer = ferry.api("customer:c-42");
    let stranger = ferry.api("customer:c-77");

    // The example fleet imports, and importing it again changes nothing.
    let fleet =
        Fleet::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml"))?;
    let first = fleet::import(&support, &fleet).await?;
    assert!(
        first.iter().all(|item| !item.events.is_empty()),
        "{first:?}"
    );
    let again = fleet::import(&support, &fleet).await?;
    assert!(again.iter().all(|item| item.events.is_empty()), "{again:?}");
    let server = fleet
        .servers
        .iter()
        .find(|s| s.server_id == "srv-0042")
        .expect("in the fleet");
    let specs = server.registration.accounts.clone();

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

    // A test migration: the data mover copies the databases and reports the address.
    post(&customer, format!("/migrations/{m}/accounts/acc-1207/test")).await?;
    let TestCopy::Requested { transfer_id } = migration(&log, m).await.accounts["acc-1207"].test
    else {
        panic!("test migration requested");
    };
    transfer_done(
        &log,
        m,
        transfer_id,
        TransferKind::TestCopy,
        vec![specs[0].clone()],
        ("srv-0042", "test-01"),
        None,
        Some("test-0042.hosting.example"),
    )
    .await;
    assert!(
        eventually(15, || async {
            matches!(&migration(&log, m).await.accounts["acc-1207"].test,
                TestCopy::Available { address, .. } if address == "test-0042.hosting.example")
        })
        .await,
        "the test address is recorded"
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
    // installs it; the data mover pre-copies files and mails; then it is lent.
    let state = wait_for_state(&log, m, "transit_installing").await;
    assert_eq!(state.transit_server_id.as_deref(), Some("tr-0001"));
    // The data mover pre-copies files and mails once the installation completes (the
    // example fleet's directories do not exist here: there is nothing to copy), which
    // lends the transit server.
    wait_for_state(&log, m, "migrating_accounts").await;

    // Step 4: one account at a time; moved once copied and its traffic switched.
    post(&customer, format!("/migrations/{m}/accounts/acc-1207/move")).await?;
    let t1 = moving_transfer(&migration(&log, m).await, "acc-1207");
    let second = post(&customer, format!("/migrations/{m}/accounts/acc-1208/move")).await;
    assert!(second.is_err_and(|e| e.to_string().contains("one at a time")));
    transfer_done(
        &log,
        m,
        t1,
        TransferKind::Cutover,
        vec![specs[0].clone()],
        ("srv-0042", "tr-0001"),
        Some(1_800),
        None,
    )
    .await;
    traffic_switched(&log, m, "acc-1207", "tr-0001").await;
    assert!(
        eventually(15, || async {
            migration(&log, m).await.accounts["acc-1207"].place == Place::Transit
        })
        .await
    );
    post(&customer, format!("/migrations/{m}/accounts/acc-1208/move")).await?;
    let t2 = moving_transfer(&migration(&log, m).await, "acc-1208");
    // The network may switch first: the move completes when both are done.
    traffic_switched(&log, m, "acc-1208", "tr-0001").await;
    transfer_done(
        &log,
        m,
        t2,
        TransferKind::Cutover,
        vec![specs[1].clone()],
        ("srv-0042", "tr-0001"),
        Some(900),
        None,
    )
    .await;
    wait_for_state(&log, m, "verifying").await;

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
    transfer_done(
        &log,
        m,
        t3,
        TransferKind::Rollback,
        vec![specs[1].clone()],
        ("tr-0001", "srv-0042"),
        Some(700),
        None,
    )
    .await;
    traffic_switched(&log, m, "acc-1208", "srv-0042").await;
    wait_for_state(&log, m, "migrating_accounts").await;
    let reinstall = post(&customer, format!("/migrations/{m}/reinstall-request")).await;
    assert!(reinstall.is_err_and(|e| e.to_string().contains("acc-1208")));
    post(&customer, format!("/migrations/{m}/accounts/acc-1208/move")).await?;
    let t4 = moving_transfer(&migration(&log, m).await, "acc-1208");
    transfer_done(
        &log,
        m,
        t4,
        TransferKind::Cutover,
        vec![specs[1].clone()],
        ("srv-0042", "tr-0001"),
        Some(500),
        None,
    )
    .await;
    traffic_switched(&log, m, "acc-1208", "tr-0001").await;
    wait_for_state(&log, m, "verifying").await;
    post(&customer, format!("/migrations/{m}/reinstall-request")).await?;

    // Step 6: support reinstalls.
    let not_support = post(&customer, format!("/migrations/{m}/reinstall")).await;
    assert!(not_support.is_err_and(|e| e.to_string().contains("403")));
    post(&support, format!("/migrations/{m}/reinstall")).await?;
    wait_for_state(&log, m, "reinstalling").await;
    post(&support, format!("/migrations/{m}/reinstall/done")).await?;
    wait_for_state(&log, m, "relocating").await;

    // Step 7: support moves the accounts back, one by one.
    for (account, spec, downtime) in [
        ("acc-1207", &specs[0], 1_000),
        ("acc-1208", &specs[1], 1_100),
    ] {
        post(
            &support,
            format!("/migrations/{m}/accounts/{account}/relocation"),
        )
        .await?;
        let t = moving_transfer(&migration(&log, m).await, account);
        transfer_done(
            &log,
            m,
            t,
            TransferKind::Relocation,
            vec![spec.clone()],
            ("tr-0001", "srv-0042"),
            Some(downtime),
            None,
        )
        .await;
        traffic_switched(&log, m, account, "srv-0042").await;
        assert!(
            eventually(15, || async {
                migration(&log, m).await.accounts[account].place == Place::Relocated
            })
            .await
        );
    }

    // Step 8: completed with every downtime added up; the server runs v2026 and is
    // free for another migration; the transit server is wiped and free again.
    let done = wait_for_state(&log, m, "completed").await;
    assert_eq!(
        done.total_downtime_ms,
        1_800 + 900 + 700 + 500 + 1_000 + 1_100
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

    read_side_and_audit(&customer, &stranger, m).await?;
    let openapi: Value = reqwest::get(format!("{}/openapi.json", ferry.base))
        .await?
        .json()
        .await?;
    for path in [
        "/servers/{server_id}/migrations",
        "/transit-servers/{id}",
        "/servers/{server_id}/audit",
        "/migrations/{migration_id}/accounts/{account_id}/move",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "OpenAPI describes {path}"
        );
    }
    ferry.stop().await;
    rebuild_equals_live(&stack).await;
    Ok(())
}

async fn read_side_and_audit(customer: &Api, stranger: &Api, m: Uuid) -> anyhow::Result<()> {
    let refused = stranger.get("/servers/srv-0042").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));
    let refused = stranger.get("/servers/srv-0042/audit").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("403")));
    let mut server = Value::Null;
    for _ in 0..750 {
        server = customer.get("/servers/srv-0042").await?;
        if server.pointer("/migration/state") == Some(&json!("completed")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.pointer("/migration/state"),
        Some(&json!("completed")),
        "{server}"
    );
    assert_eq!(server.pointer("/migration/step"), Some(&json!(8)));
    assert_eq!(
        server.pointer("/migration/downtime_ms"),
        Some(&json!(6_000))
    );
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
