//! The pre-copy through the log: a transit server's installation completes, and the
//! data mover copies every account's files and mails there for real, verifies them
//! and records the transfer, which is what lends the transit server.

use ferry_data_mover::engine::Mover;
use ferry_data_mover::inventory::Inventory;
use ferry_data_mover::reactor::DataMoverReactor;
use ferry_events::*;
use ferry_infra::command::CommandHandler;
use ferry_infra::event_log::EventLog;
use ferry_infra::reactor::{ReactorSettings, run};
use ferry_infra::testkit::{TestStack, append_inputs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

fn storage(root: &Path) -> ServerStorage {
    ServerStorage {
        files_root: root.join("files").display().to_string(),
        mail_root: root.join("mail").display().to_string(),
        postgres_url: None,
        mysql_url: None,
    }
}

async fn append(
    log: &EventLog,
    kind: AggregateType,
    id: &str,
    correlation: Uuid,
    events: Vec<Event>,
) {
    append_inputs(log, kind, id, correlation, events, Actor::system("test")).await;
}

fn account(id: &str, name: &str) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: name.into(),
        files_bytes: 300_000,
        mail_bytes: 1_000,
        databases: vec![],
        domains: vec![],
        languages: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_transit_server_gets_every_accounts_files_and_mails() {
    let stack = TestStack::new().await;
    let log = stack.log.clone();
    let root = std::env::temp_dir().join(format!("ferry-precopy-{}", Uuid::now_v7().simple()));
    let (client, transit) = (root.join("srv-1"), root.join("tr-1"));
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, bytes).expect("written");
    };
    write(
        client.join("files/bakery/www/index.php"),
        b"<?php echo 'bread';",
    );
    write(client.join("files/bakery/www/big.bin"), &vec![7u8; 300_000]);
    write(client.join("mail/bakery/Maildir/cur/1"), b"Subject: hello");
    write(client.join("files/blog/wp-config.php"), b"<?php // blog");
    // blog has no mail directory: nothing to copy there.

    let migration = Uuid::now_v7();
    append(
        &log,
        AggregateType::Server,
        "srv-1",
        migration,
        vec![
            ServerRegistered {
                server_id: "srv-1".into(),
                name: "bakery.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2020".into(),
                ipv4: vec!["192.0.2.1".into()],
                ipv6: vec![],
                monthly_price: Money::new(4_900, "EUR"),
                customer_id: "c-1".into(),
                contact_email: "a@b.example".into(),
                locale: "fr".into(),
                storage: storage(&client),
            }
            .into(),
            AccountAdded {
                account: account("acc-1", "bakery"),
            }
            .into(),
            AccountAdded {
                account: account("acc-2", "blog"),
            }
            .into(),
        ],
    )
    .await;
    append(
        &log,
        AggregateType::TransitServer,
        "tr-1",
        migration,
        vec![
            TransitServerAdded {
                name: "transit-1".into(),
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2026".into(),
                ipv4: vec!["198.51.100.1".into()],
                ipv6: vec![],
                storage: storage(&transit),
            }
            .into(),
        ],
    )
    .await;
    append(
        &log,
        AggregateType::Migration,
        &migration.to_string(),
        migration,
        vec![
            MigrationOpened {
                migration_id: migration,
                server_id: "srv-1".into(),
                customer_id: "c-1".into(),
                from_version: "v2020".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1".into(), "acc-2".into()],
            }
            .into(),
        ],
    )
    .await;
    append(
        &log,
        AggregateType::TransitServer,
        "tr-1",
        migration,
        vec![
            TransitInstallationCompleted {
                migration_id: migration,
            }
            .into(),
        ],
    )
    .await;

    let shutdown = tokio_util::sync::CancellationToken::new();
    let reactor = DataMoverReactor::new(
        Mover::new(CommandHandler::new(log.clone(), 20)),
        Inventory::new(log.clone()),
    );
    let running = tokio::spawn(run(
        Arc::new(reactor),
        log.clone(),
        ReactorSettings::default(),
        shutdown.clone(),
    ));

    let mut transfer: Vec<Event> = Vec::new();
    for _ in 0..500 {
        let replay = log
            .replay_filtered(1, vec![log.type_filter(AggregateType::Transfer)])
            .await
            .expect("replay");
        transfer = futures_events(replay).await;
        if transfer
            .iter()
            .any(|e| matches!(e, Event::Transfer(TransferEvent::TransferCompleted(_))))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let types: Vec<&str> = transfer.iter().map(Event::event_type).collect();
    assert_eq!(types.first(), Some(&"TransferScheduled"), "{types:?}");
    assert_eq!(types.last(), Some(&"TransferCompleted"), "{types:?}");
    assert!(
        types.contains(&"TransferVerified"),
        "verified before completed: {types:?}"
    );
    assert!(
        types.iter().filter(|t| **t == "TransferProgressed").count() >= 3,
        "{types:?}"
    );
    let Some(Event::Transfer(TransferEvent::TransferScheduled(scheduled))) = transfer.first()
    else {
        panic!("scheduled first");
    };
    assert_eq!(scheduled.kind, TransferKind::PreCopy);
    assert_eq!(scheduled.migration_id, Some(migration));
    assert_eq!(scheduled.destination.server_id, "tr-1");
    assert_eq!(
        std::fs::read(transit.join("files/bakery/www/big.bin")).expect("copied"),
        vec![7u8; 300_000]
    );
    assert_eq!(
        std::fs::read(transit.join("mail/bakery/Maildir/cur/1")).expect("copied"),
        b"Subject: hello"
    );
    assert_eq!(
        std::fs::read(transit.join("files/blog/wp-config.php")).expect("copied"),
        b"<?php // blog"
    );
    assert_eq!(
        std::fs::read(client.join("files/bakery/www/index.php")).expect("source intact"),
        b"<?php echo 'bread';"
    );

    shutdown.cancel();
    running.await.expect("joined").expect("stops");
    std::fs::remove_dir_all(&root).ok();
}

async fn futures_events(
    replay: impl futures::Stream<
        Item = Result<ferry_infra::event_log::Recorded, ferry_infra::event_log::ReadError>,
    >,
) -> Vec<Event> {
    use futures::StreamExt;
    replay
        .filter_map(|r| async move { r.ok().map(|r| r.envelope.event) })
        .collect()
        .await
}
