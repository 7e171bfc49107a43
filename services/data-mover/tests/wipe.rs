//! A transit server's wipe through the log, for real: after a pre-copy left files,
//! mails, a replicated PostgreSQL database (its subscription, the client's slot) and a
//! MariaDB staging copy on the transit server, `TransitServerWipeStarted` makes the
//! data mover erase all of it and check the server empty; a leftover that is not
//! ferry's fails the wipe, naming it, and nothing outside the roots is touched.

mod support;

use ferry_data_mover::MoverSettings;
use ferry_events::*;
use support::*;

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

async fn pg_with_prefix(prefix: &str) -> Vec<String> {
    let admin = pg("postgres").await.expect("connects");
    admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            &[&prefix],
        )
        .await
        .expect("lists")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// A world whose transit server holds what a pre-copy of `shop` left there, its
/// replications running; the data mover runs.
async fn transit_after_a_pre_copy() -> World {
    let mut world = World::new().await;
    write(&world.path("srv-1", "files/shop/index.php"), b"<?php");
    write(
        &world.path("srv-1", "mail/shop/Maildir/cur/1"),
        b"Subject: hi",
    );
    pg_shop(&world.db("srv-1", "shop_pg"), 1_000).await;
    my_shop(&world.db("srv-1", "shop_my"), 100);
    let (_, events) = world
        .pre_copy(
            vec![account(
                "acc-1",
                "shop",
                vec![
                    database(DatabaseEngine::Postgres, "shop_pg"),
                    database(DatabaseEngine::Mysql, "shop_my"),
                ],
            )],
            MoverSettings::default(),
        )
        .await;
    assert!(completed(&events).is_some(), "{:?}", failed(&events));
    assert_eq!(slots_for(&world.db("srv-1", "shop_pg")).await, 1);
    assert!(world.path("tr-1", "files/shop/index.php").exists());
    world
}

/// The transit server released and its wipe started (what the transit pool
/// records); the wipe's events once it ended.
async fn wiped(world: &World) -> Vec<Event> {
    world
        .append(
            AggregateType::TransitServer,
            "tr-1",
            vec![
                TransitServerReleased {
                    migration_id: world.migration,
                }
                .into(),
                TransitServerWipeStarted {
                    expected_duration_ms: 1_000,
                }
                .into(),
            ],
        )
        .await;
    let wipe = world
        .scheduled_one("the wipe", 60, |s| s.kind == TransferKind::Wipe)
        .await;
    assert_eq!(wipe.destination.server_id, "tr-1");
    assert_eq!(
        wipe.accounts
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["shop"]
    );
    world.ended(wipe.transfer_id, 60).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_erases_what_the_loan_left_and_checks_the_transit_server_empty() {
    let mut world = transit_after_a_pre_copy().await;
    // What a cutover leaves too: the final copy and an older one kept aside.
    my_shop(&world.db("tr-1", "shop_my"), 10);
    pg_shop(
        &format!("{}__ferry_replaced", world.db("tr-1", "shop_pg")),
        10,
    )
    .await;

    let events = wiped(&world).await;
    assert!(
        completed(&events).is_some(),
        "the wipe completes: {:?}",
        failed(&events)
    );
    assert!(types(&events).contains(&"TransferVerified"));
    for root in ["files", "mail"] {
        let left: Vec<_> = std::fs::read_dir(world.path("tr-1", root))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{root} still holds {left:?}");
    }
    assert_eq!(
        pg_with_prefix(&world.prefix("tr-1")).await,
        Vec::<String>::new()
    );
    let schemas = my(&format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}%'",
        world.prefix("tr-1")
    ))
    .expect("lists");
    assert_eq!(schemas, "", "no MariaDB copy left on the transit server");
    assert_eq!(
        slots_for(&world.db("srv-1", "shop_pg")).await,
        0,
        "the subscription went with its slot on the client: no WAL kept for ever"
    );
    // The client server is untouched.
    assert!(world.path("srv-1", "files/shop/index.php").exists());
    assert_eq!(pg_count(&world.db("srv-1", "shop_pg")).await, 1_000);
    assert_eq!(my_count(&world.db("srv-1", "shop_my")), 100);
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_that_finds_data_it_did_not_put_there_fails_naming_it() {
    let mut world = transit_after_a_pre_copy().await;
    write(
        &world.path("tr-1", "files/someone-else/secret.txt"),
        b"not ferry's",
    );

    let events = wiped(&world).await;
    let failure = failed(&events).unwrap_or_else(|| panic!("the wipe fails: {:?}", types(&events)));
    assert_eq!(failure.phase, TransferPhase::Erasing);
    assert!(!failure.retryable);
    assert!(
        failure.reason.contains("someone-else") && failure.reason.contains("tr-1 still holds"),
        "{}",
        failure.reason
    );
    // What was ferry's is gone all the same; what was not is left for a person.
    assert!(!world.path("tr-1", "files/shop").exists());
    assert!(world.path("tr-1", "files/someone-else/secret.txt").exists());
    world.stop().await;
    world.cleanup().await;
}
