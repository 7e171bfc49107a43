//! The pre-copy through the log: a transit server's installation completes, and the
//! data mover copies every account's files and mails there for real, verifies them
//! and records the transfer, which is what lends the transit server. A second
//! pre-copy (after the reinstall, or a repeated one) only sends what changed.

mod support;

use ferry_data_mover::MoverSettings;
use ferry_events::*;
use ferry_infra::testkit::eventually;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_transit_server_gets_every_accounts_files_and_mails() {
    let mut world = World::new().await;
    write(
        &world.path("srv-1", "files/bakery/www/index.php"),
        b"<?php echo 'bread';",
    );
    write(
        &world.path("srv-1", "files/bakery/www/big.bin"),
        &vec![7u8; 300_000],
    );
    write(
        &world.path("srv-1", "mail/bakery/Maildir/cur/1"),
        b"Subject: hello",
    );
    write(
        &world.path("srv-1", "files/blog/wp-config.php"),
        b"<?php // blog",
    );
    // blog declares no mail and has no mail directory: nothing to copy there.
    let mut blog = account("acc-2", "blog", vec![]);
    blog.mail_bytes = 0;
    let settings = MoverSettings {
        progress_every: std::time::Duration::ZERO,
        ..MoverSettings::default()
    };
    let (scheduled, transfer) = world
        .pre_copy(vec![account("acc-1", "bakery", vec![]), blog], settings)
        .await;
    let types = types(&transfer);
    assert_eq!(types.first(), Some(&"TransferScheduled"), "{types:?}");
    assert_eq!(types.last(), Some(&"TransferCompleted"), "{types:?}");
    assert!(
        types.contains(&"TransferVerified"),
        "verified before completed: {types:?}"
    );
    assert!(
        types.iter().filter(|t| **t == "TransferProgressed").count() >= 2,
        "{types:?}"
    );
    assert_eq!(scheduled.kind, TransferKind::PreCopy);
    assert_eq!(scheduled.migration_id, Some(world.migration));
    assert_eq!(scheduled.destination.server_id, "tr-1");
    assert_eq!(
        completed(&transfer).and_then(|c| c.downtime_ms),
        None,
        "nothing frozen"
    );
    assert_eq!(
        std::fs::read(world.path("tr-1", "files/bakery/www/big.bin")).expect("copied"),
        vec![7u8; 300_000]
    );
    assert_eq!(
        std::fs::read(world.path("tr-1", "mail/bakery/Maildir/cur/1")).expect("copied"),
        b"Subject: hello"
    );
    assert_eq!(
        std::fs::read(world.path("tr-1", "files/blog/wp-config.php")).expect("copied"),
        b"<?php // blog"
    );
    assert_eq!(
        std::fs::read(world.path("srv-1", "files/bakery/www/index.php")).expect("source intact"),
        b"<?php echo 'bread';"
    );
    world.stop().await;
    world.cleanup().await;
}

async fn slots_for(database: &str) -> i64 {
    let admin = pg("postgres").await.expect("connects");
    admin
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
            &[&database],
        )
        .await
        .expect("counts")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_copy_sets_up_replication_and_a_cancelled_migration_tears_it_down() {
    pre_copy_then_torn_down_by(
        MigrationCancelled {
            reason: "the customer changed their mind".into(),
        }
        .into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_the_languages_tears_the_pre_copys_replication_down() {
    // The migration goes back to step 1 and gives its transit server up: nothing
    // may keep the client's WAL for a copy no one will use.
    pre_copy_then_torn_down_by(
        ObsoleteLanguagesRestored {
            restorations: Vec::new(),
        }
        .into(),
    )
    .await;
}

/// A pre-copy with replication, then `ending` on the migration: its slots go.
async fn pre_copy_then_torn_down_by(ending: Event) {
    let mut world = World::new().await;
    write(&world.path("srv-1", "files/shop/index.php"), b"<?php");
    write(
        &world.path("srv-1", "mail/shop/Maildir/cur/1"),
        b"Subject: hi",
    );
    pg_shop(&world.db("srv-1", "shop_pg"), 1_000).await;
    my_shop(&world.db("srv-1", "shop_my"), 100);
    let shop = shop_with_both_databases();
    let (_, events) = world.pre_copy(vec![shop], MoverSettings::default()).await;
    let done = completed(&events).unwrap_or_else(|| panic!("{:?}", failed(&events)));
    let mut methods: Vec<_> = done.database_methods.iter().map(|m| m.method).collect();
    methods.sort_by_key(|m| format!("{m:?}"));
    assert_eq!(
        methods,
        vec![
            DatabaseMethod::BinlogReplication,
            DatabaseMethod::LogicalReplication
        ],
        "both databases follow their source from the pre-copy on"
    );
    assert_eq!(slots_for(&world.db("srv-1", "shop_pg")).await, 1);
    let staging = format!("{}__ferry_incoming", world.db("tr-1", "shop_pg"));
    assert_eq!(
        pg_count(&staging).await,
        1_000,
        "the staging copy follows the source"
    );

    world.migration_events(vec![ending]).await;
    let source = world.db("srv-1", "shop_pg");
    assert!(
        eventually(15, || async { slots_for(&source).await == 0 }).await,
        "no slot keeps the source's WAL once the migration gave its transit server up"
    );
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_copy_of_sources_that_do_not_exist_fails_for_good_naming_them() {
    let mut world = World::new().await;
    // Nothing of the declared account exists on the client server.
    let bakery = account(
        "acc-1",
        "bakery",
        vec![database(DatabaseEngine::Postgres, "shop")],
    );
    let (_, events) = world.pre_copy(vec![bakery], MoverSettings::default()).await;
    let failure = failed(&events).unwrap_or_else(|| panic!("fails: {:?}", types(&events)));
    assert!(
        !failure.retryable,
        "a missing source does not come back by itself"
    );
    assert!(
        failure.reason.contains("acc-1") && failure.reason.contains("does not exist"),
        "{}",
        failure.reason
    );
    assert!(
        !world.path("tr-1", "files/bakery").exists(),
        "nothing copied, the transit server not filled with nothing"
    );
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_copy_of_a_source_much_smaller_than_declared_fails_naming_both_sizes() {
    let mut world = World::new().await;
    write(&world.path("srv-1", "files/bakery/index.php"), b"<?php");
    write(
        &world.path("srv-1", "mail/bakery/Maildir/cur/1"),
        b"Subject: hi",
    );
    pg_shop(&world.db("srv-1", "shop"), 10).await;
    let mut bakery = account(
        "acc-1",
        "bakery",
        vec![database(DatabaseEngine::Postgres, "shop")],
    );
    bakery.files_bytes = 2 << 30; // 2 GiB declared, 5 bytes there.
    let (_, events) = world.pre_copy(vec![bakery], MoverSettings::default()).await;
    let failure = failed(&events).unwrap_or_else(|| panic!("fails: {:?}", types(&events)));
    assert!(!failure.retryable);
    assert!(
        failure.reason.contains("holds 5 bytes") && failure.reason.contains("declares 2147483648"),
        "{}",
        failure.reason
    );
    world.stop().await;
    world.cleanup().await;
}
