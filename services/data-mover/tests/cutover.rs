//! Cutovers for real, through the log: an account with files, mails, a PostgreSQL and
//! a MariaDB database moves to the transit server while a writer keeps writing until
//! the freeze; it rolls back, then moves back after the reinstall. Every step checks
//! the data at both ends, the downtime recorded, and the method used per database.

mod support;

use ferry_data_mover::MoverSettings;
use ferry_events::*;
use ferry_infra::testkit::eventually;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::*;
use uuid::Uuid;

/// The client server with one account, `acc-1`: a file and a small PostgreSQL
/// database (`shop_pg`), and the transit server.
async fn small_shop(world: &World) {
    let shop = account(
        "acc-1",
        "shop",
        vec![database(DatabaseEngine::Postgres, "shop_pg")],
    );
    write(&world.path("srv-1", "files/shop/index.php"), b"<?php");
    pg_shop(&world.db("srv-1", "shop_pg"), 100).await;
    world.client_and_transit(vec![shop]).await;
}

/// Inserts into the source database until writes are refused; how many succeeded.
fn pg_writer(name: String) -> tokio::task::JoinHandle<(u64, String)> {
    tokio::spawn(async move {
        let db = pg(&name).await.expect("connects");
        let mut written = 0u64;
        loop {
            match db
                .execute("INSERT INTO items (label) VALUES ('live write')", &[])
                .await
            {
                Ok(_) => written += 1,
                // A refusal by the server says why in its message ("db error" alone
                // otherwise): read-only, or the session terminated.
                Err(e) => {
                    let why = e
                        .as_db_error()
                        .map_or_else(|| e.to_string(), |db| db.message().to_owned());
                    return (written, why);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// Inserts into the MariaDB source (one client per statement, like a PHP request)
/// until a statement fails or `done` is set.
fn my_writer(name: String, done: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, String)> {
    std::thread::spawn(move || {
        let mut written = 0u64;
        while !done.load(Ordering::Relaxed) {
            match my(&format!(
                "INSERT INTO `{name}`.orders (note) VALUES ('live write')"
            )) {
                Ok(_) => written += 1,
                Err(e) => return (written, e),
            }
        }
        (written, "stopped".into())
    })
}

fn methods(done: &TransferCompleted) -> Vec<(String, DatabaseMethod)> {
    let mut m: Vec<_> = done
        .database_methods
        .iter()
        .map(|m| (m.database.clone(), m.method))
        .collect();
    m.sort_by(|a, b| a.0.cmp(&b.0));
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_moves_rolls_back_and_relocates_with_everything_verified() {
    let mut world = World::new().await;
    let shop = shop_with_both_databases();
    write(
        &world.path("srv-1", "files/shop/www/index.php"),
        b"<?php echo 'shop';",
    );
    write(
        &world.path("srv-1", "files/shop/www/big.bin"),
        &vec![3u8; 200_000],
    );
    write(
        &world.path("srv-1", "mail/shop/Maildir/cur/1"),
        b"Subject: order",
    );
    pg_shop(&world.db("srv-1", "shop_pg"), 2_000).await;
    my_shop(&world.db("srv-1", "shop_my"), 1_000);
    world.client_and_transit(vec![shop]).await;
    world.start(MoverSettings::default());

    // Step 4: the move, with writes going on at the source until the freeze.
    let pg_writes = pg_writer(world.db("srv-1", "shop_pg"));
    let my_done = Arc::new(AtomicBool::new(false));
    let my_writes = my_writer(world.db("srv-1", "shop_my"), my_done.clone());
    // The move starts while both writers write.
    let (pg_source, my_source) = (world.db("srv-1", "shop_pg"), world.db("srv-1", "shop_my"));
    assert!(
        eventually(30, || async {
            pg_count(&pg_source).await > 2_000 && my_count(&my_source) > 1_000
        })
        .await,
        "the writers write"
    );
    write(
        &world.path("srv-1", "files/shop/www/late.txt"),
        b"written just before the move",
    );
    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    let events = world.ended(moving, 120).await;
    let done = completed(&events)
        .unwrap_or_else(|| panic!("completed: {:?} {:?}", types(&events), failed(&events)));
    let (pg_written, pg_stop) = tokio::time::timeout(Duration::from_secs(10), pg_writes)
        .await
        .expect("the writer was stopped by the freeze")
        .expect("joined");
    my_done.store(true, Ordering::Relaxed);
    let (my_written, _) = my_writes.join().expect("joined");
    assert!(
        pg_written > 0 && my_written > 0,
        "writes went on until the freeze"
    );
    assert!(
        pg_stop.contains("read-only") || pg_stop.contains("terminat") || pg_stop.contains("closed"),
        "{pg_stop}"
    );
    let downtime = done.downtime_ms.expect("a cutover's downtime is measured");
    assert!(downtime < 30_000, "{downtime} ms");
    assert_eq!(
        methods(done),
        vec![
            (
                world.db("tr-1", "shop_my"),
                DatabaseMethod::BinlogReplication
            ),
            (
                world.db("tr-1", "shop_pg"),
                DatabaseMethod::LogicalReplication
            ),
        ]
    );
    let order: Vec<_> = types(&events);
    let position = |t: &str| order.iter().position(|x| *x == t).unwrap_or(usize::MAX);
    assert!(position("AccountFrozen") < position("TransferVerified"));
    assert!(position("TransferVerified") < position("AccountUnfrozen"));
    assert!(position("AccountUnfrozen") < position("TransferCompleted"));
    // Every committed write is at the destination; the source is left read-only.
    assert_eq!(
        pg_count(&world.db("tr-1", "shop_pg")).await,
        pg_count(&world.db("srv-1", "shop_pg")).await
    );
    assert_eq!(
        pg_count(&world.db("tr-1", "shop_pg")).await,
        2_000 + pg_written as i64
    );
    assert_eq!(my_count(&world.db("tr-1", "shop_my")), 1_000 + my_written);
    let source = pg(&world.db("srv-1", "shop_pg")).await.expect("connects");
    assert!(
        source
            .execute("INSERT INTO items (label) VALUES ('x')", &[])
            .await
            .is_err()
    );
    assert_eq!(
        std::fs::read(world.path("tr-1", "files/shop/www/late.txt")).expect("copied"),
        b"written just before the move"
    );
    assert_eq!(
        std::fs::read(world.path("tr-1", "mail/shop/Maildir/cur/1")).expect("copied"),
        b"Subject: order"
    );

    // The account lives on the transit server for a while.
    let transit = pg(&world.db("tr-1", "shop_pg")).await.expect("connects");
    transit
        .execute("INSERT INTO items (label) VALUES ('on transit')", &[])
        .await
        .expect("the moved database takes writes");
    my(&format!(
        "INSERT INTO `{}`.orders (note) VALUES ('on transit')",
        world.db("tr-1", "shop_my")
    ))
    .expect("the moved schema takes writes");
    write(
        &world.path("tr-1", "files/shop/www/new.php"),
        b"<?php // new on transit",
    );

    // Step 5: a rollback onto the client server; its older copy is kept aside.
    let rolling_back = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Rollback, "acc-1", rolling_back)
        .await;
    let events = world.ended(rolling_back, 120).await;
    let done = completed(&events).unwrap_or_else(|| panic!("rolled back: {events:?}"));
    assert!(done.downtime_ms.is_some());
    let client_count = pg_count(&world.db("srv-1", "shop_pg")).await;
    assert_eq!(
        client_count,
        2_000 + pg_written as i64 + 1,
        "the transit write came back"
    );
    assert_eq!(
        pg_count(&format!("{}__ferry_replaced", world.db("srv-1", "shop_pg"))).await,
        2_000 + pg_written as i64,
        "the older copy is kept aside, not lost"
    );
    assert_eq!(
        my_count(&world.db("srv-1", "shop_my")),
        1_000 + my_written + 1
    );
    let client = pg(&world.db("srv-1", "shop_pg")).await.expect("connects");
    client
        .execute("INSERT INTO items (label) VALUES ('back home')", &[])
        .await
        .expect("the rolled-back database takes writes");
    assert!(world.path("srv-1", "files/shop/www/new.php").exists());

    // Steps 4 again, 6 and 7: moved again, the reinstall pre-copies back, relocation.
    let moving_again = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving_again)
        .await;
    assert!(completed(&world.ended(moving_again, 120).await).is_some());
    world
        .migration_events(vec![
            ServerReinstalled {
                infrastructure_version: "v2026".into(),
            }
            .into(),
        ])
        .await;
    let pre_copy_back = world
        .scheduled_one("the pre-copy back", 60, |s| {
            s.kind == TransferKind::PreCopy && s.destination.server_id == "srv-1"
        })
        .await
        .transfer_id;
    assert!(completed(&world.ended(pre_copy_back, 60).await).is_some());
    let relocating = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Relocation, "acc-1", relocating)
        .await;
    let events = world.ended(relocating, 120).await;
    assert!(completed(&events).is_some(), "{:?}", types(&events));
    assert_eq!(
        pg_count(&world.db("srv-1", "shop_pg")).await,
        2_000 + pg_written as i64 + 2
    );

    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verified_cutover_waits_frozen_for_the_traffic_switch_and_its_downtime_ends_there() {
    let mut world = World::new().await;
    small_shop(&world).await;
    world.start_mover(MoverSettings::default());
    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    let verified = eventually(120, || async {
        types(&world.transfer(moving).await).contains(&"TransferVerified")
    })
    .await;
    assert!(
        verified,
        "verified: {:?}",
        types(&world.transfer(moving).await)
    );
    // No switch yet: the account stays frozen, the source refuses writes.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let waiting = types(&world.transfer(moving).await);
    assert!(
        !waiting.contains(&"AccountUnfrozen") && !waiting.contains(&"TransferCompleted"),
        "nothing after the verification before the switch: {waiting:?}"
    );
    let source = pg(&world.db("srv-1", "shop_pg")).await.expect("connects");
    assert!(
        source
            .execute("INSERT INTO items (label) VALUES ('too late')", &[])
            .await
            .is_err(),
        "the frozen source refuses writes while the switch is awaited"
    );
    world.start_network();
    let events = world.ended(moving, 60).await;
    let done = completed(&events).unwrap_or_else(|| panic!("{:?}", types(&events)));
    let frozen_at = events.iter().find_map(|e| match e {
        Event::Transfer(TransferEvent::AccountFrozen(f)) => Some(f.frozen_at),
        _ => None,
    });
    let unfrozen_at = events.iter().find_map(|e| match e {
        Event::Transfer(TransferEvent::AccountUnfrozen(u)) => Some(u.unfrozen_at),
        _ => None,
    });
    let traffic = ferry_infra::event_log::AggregateRef::new(AggregateType::AccountTraffic, "acc-1")
        .expect("id");
    let switched_at = world
        .log
        .load(&traffic)
        .await
        .expect("reads")
        .events
        .iter()
        .find_map(|r| match &r.envelope.event {
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(s)) => {
                Some(s.switched_at)
            }
            _ => None,
        });
    assert_eq!(unfrozen_at, switched_at, "the downtime ends at the switch");
    let downtime = done.downtime_ms.expect("measured");
    let expected = (switched_at.expect("switched") - frozen_at.expect("frozen")).num_milliseconds();
    assert_eq!(i64::try_from(downtime).expect("small"), expected);
    assert!(
        downtime >= 1_500,
        "the wait for the switch is downtime: {downtime} ms"
    );
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cutover_whose_requests_nobody_holds_fails_before_freezing_anything() {
    let mut world = World::new().await;
    small_shop(&world).await;
    // No network service: nobody holds the account's requests at the redirect.
    world.start_mover_alone(MoverSettings {
        hold_wait: Duration::from_secs(1),
        ..MoverSettings::default()
    });
    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    let events = world.ended(moving, 120).await;
    let failure = failed(&events).unwrap_or_else(|| panic!("failed: {:?}", types(&events)));
    assert!(
        failure.reason.contains("did not hold") && failure.retryable,
        "{failure:?}"
    );
    let seen = types(&events);
    assert!(
        seen.contains(&"AccountFrozen") && seen.contains(&"AccountUnfrozen"),
        "recorded frozen, then unfrozen on its source: {seen:?}"
    );
    let source = pg(&world.db("srv-1", "shop_pg")).await.expect("connects");
    source
        .execute("INSERT INTO items (label) VALUES ('still serving')", &[])
        .await
        .expect("the source was never frozen");
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_freeze_leaves_the_account_serving_from_its_source() {
    let mut world = World::new().await;
    small_shop(&world).await;
    let marker = world.root.join("freeze-calls");
    world.start(MoverSettings {
        // The operator's command cannot stop the account: the move must not go on.
        freeze_command: Some(format!(
            "echo \"$FERRY_FREEZE_ACTION $FERRY_ACCOUNT\" >> {}; [ \"$FERRY_FREEZE_ACTION\" != freeze ]",
            marker.display()
        )),
        ..MoverSettings::default()
    });
    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    let events = world.ended(moving, 120).await;
    let failure = failed(&events).unwrap_or_else(|| panic!("failed: {:?}", types(&events)));
    assert!(
        failure.reason.contains("freeze command"),
        "{}",
        failure.reason
    );
    assert!(
        types(&events).contains(&"AccountUnfrozen"),
        "unfrozen on its source"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the command ran"),
        "freeze acc-1\nthaw acc-1\n"
    );
    // The source takes writes; the replication set up for the move is gone.
    let source = pg(&world.db("srv-1", "shop_pg")).await.expect("connects");
    source
        .execute("INSERT INTO items (label) VALUES ('still here')", &[])
        .await
        .expect("the source serves");
    let admin = pg("postgres").await.expect("connects");
    let slots: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
            &[&world.db("srv-1", "shop_pg")],
        )
        .await
        .expect("counts")
        .get(0);
    assert_eq!(slots, 0, "no slot left to hold the source's WAL");
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cutover_interrupted_by_a_stop_resumes_at_the_restart() {
    let mut world = World::new().await;
    let shop = account(
        "acc-1",
        "shop",
        vec![database(DatabaseEngine::Mysql, "shop_my")],
    );
    write(&world.path("srv-1", "files/shop/index.php"), b"<?php");
    my_shop(&world.db("srv-1", "shop_my"), 50_000);
    world.client_and_transit(vec![shop]).await;
    world.start(MoverSettings {
        // Dump and restore while frozen: the longest window to stop in.
        low_downtime: false,
        ..MoverSettings::default()
    });
    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    // Stop as soon as the account is frozen.
    assert!(
        eventually(30, || async {
            types(&world.transfer(moving).await).contains(&"AccountFrozen")
        })
        .await,
        "frozen"
    );
    world.stop().await;
    let after_stop = types(&world.transfer(moving).await);
    assert!(!after_stop.contains(&"TransferCompleted") || after_stop.contains(&"TransferVerified"));
    // The restart picks the transfer up where it was and completes it.
    world.start(MoverSettings {
        low_downtime: false,
        ..MoverSettings::default()
    });
    let events = world.ended(moving, 120).await;
    let done = completed(&events).unwrap_or_else(|| panic!("resumed: {:?}", types(&events)));
    assert!(done.downtime_ms.is_some());
    assert_eq!(
        types(&events)
            .iter()
            .filter(|t| **t == "AccountFrozen")
            .count(),
        1
    );
    assert_eq!(my_count(&world.db("tr-1", "shop_my")), 50_000);
    world.stop().await;
    world.cleanup().await;
}

/// A cutover's events up to its verification, as a process killed right after it
/// would have left them.
async fn verified_then_killed(world: &World, engine: DatabaseEngine) -> Uuid {
    let shop = account("acc-1", "shop", vec![database(engine, "shop_db")]);
    // The source the verified copy came from, which the restart retires.
    let source = world.db("srv-1", "shop_db");
    match engine {
        DatabaseEngine::Postgres => pg_shop(&source, 10).await,
        DatabaseEngine::Mysql => my_shop(&source, 10),
    }
    world.client_and_transit(vec![shop.clone()]).await;
    let transfer = Uuid::now_v7();
    let at = chrono::Utc::now();
    world
        .append(
            AggregateType::Transfer,
            &transfer.to_string(),
            vec![
                TransferScheduled {
                    transfer_id: transfer,
                    kind: TransferKind::Cutover,
                    migration_id: Some(world.migration),
                    server_id: "srv-1".into(),
                    accounts: vec![shop],
                    source: transfer::Endpoint {
                        server_id: "srv-1".into(),
                        storage: world.storage("srv-1"),
                    },
                    destination: transfer::Endpoint {
                        server_id: "tr-1".into(),
                        storage: world.storage("tr-1"),
                    },
                }
                .into(),
                TransferStarted {}.into(),
                AccountFrozen {
                    account_id: "acc-1".into(),
                    frozen_at: at,
                }
                .into(),
                TransferVerified {
                    files_checked: 1,
                    databases: vec![],
                }
                .into(),
            ],
        )
        .await;
    transfer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_killed_after_its_verification_completes_at_the_restart() {
    let mut world = World::new().await;
    let transfer = verified_then_killed(&world, DatabaseEngine::Postgres).await;
    world.start(MoverSettings::default());
    let events = world.ended(transfer, 60).await;
    assert!(completed(&events).is_some(), "{:?}", types(&events));
    assert!(completed(&events).and_then(|c| c.downtime_ms).is_some());
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_killed_after_verification_with_a_mariadb_source_completes_at_the_restart() {
    // The verification is the point of no return: the network switches the traffic
    // of every verified cutover, so the restart completes it whatever the engine.
    let mut world = World::new().await;
    let transfer = verified_then_killed(&world, DatabaseEngine::Mysql).await;
    world.start(MoverSettings::default());
    let events = world.ended(transfer, 60).await;
    assert!(completed(&events).is_some(), "{:?}", types(&events));
    world.stop().await;
    world.cleanup().await;
}

/// Changes the account's files and mails (creations, writes, deletions, renames, new
/// directories filled at once, names with a newline) until `stop` exists, then
/// creates `stopped` and returns how many changes it made: the freeze command waits
/// for that, so that nothing changes once the sources are frozen.
fn file_writer(
    files: std::path::PathBuf,
    mail: std::path::PathBuf,
    stop: std::path::PathBuf,
    stopped: std::path::PathBuf,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut changes = 0u64;
        while !stop.exists() {
            let i = changes;
            match i % 6 {
                0 => write(&files.join(format!("www/new-{i}.php")), b"<?php // new"),
                // A new size each time: a rewrite at the same size within the same
                // second escapes rsync's quick check of a whole-tree sync.
                1 => write(
                    &files.join(format!("www/page-{}.html", i % 40)),
                    &vec![b'p'; usize::try_from(i).expect("small") + 10],
                ),
                2 => {
                    let _ = std::fs::remove_file(files.join(format!("www/new-{}.php", i - 2)));
                    let _ = std::fs::remove_file(mail.join(format!("Maildir/cur/{}", i % 200)));
                }
                3 => {
                    let from = mail.join(format!("Maildir/new/{i}"));
                    write(&from, b"Subject: delivered");
                    let to = mail.join(format!("Maildir/cur/{i}:2,S"));
                    std::fs::rename(&from, &to).expect("renamed");
                }
                4 => write(
                    &files.join(format!("up/{i}/a/b/file")),
                    b"in a new directory",
                ),
                _ => write(&files.join(format!("odd\nname-{i}")), b"a newline"),
            }
            changes += 1;
            std::thread::sleep(Duration::from_millis(3));
        }
        write(&stopped, b"");
        changes
    })
}

/// A cutover of an account whose files keep changing until the freeze: every change
/// is at the destination, equal by content, and the verification counted every file.
async fn cutover_while_files_change(watch_max_changes: usize) {
    let mut world = World::new().await;
    let files = world.path("srv-1", "files/shop");
    let mail = world.path("srv-1", "mail/shop");
    for i in 0..40 {
        write(&files.join(format!("www/page-{i}.html")), b"page");
    }
    for i in 0..200 {
        write(&mail.join(format!("Maildir/cur/{i}")), b"Subject: old mail");
    }
    world
        .client_and_transit(vec![account("acc-1", "shop", vec![])])
        .await;
    let (stop, stopped) = (
        world.root.join("writer-stop"),
        world.root.join("writer-stopped"),
    );
    let freeze_command = format!(
        "if [ \"$FERRY_FREEZE_ACTION\" = freeze ]; then touch '{}'; \
         for _ in $(seq 1000); do [ -e '{}' ] && exit 0; sleep 0.01; done; exit 1; fi",
        stop.display(),
        stopped.display()
    );
    world.start(MoverSettings {
        freeze_command: Some(freeze_command),
        watch_max_changes,
        ..MoverSettings::default()
    });
    let writer = file_writer(files.clone(), mail.clone(), stop, stopped);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    let events = world.ended(moving, 120).await;
    assert!(
        completed(&events).is_some(),
        "{:?} {:?}",
        types(&events),
        failed(&events)
    );
    let changes = writer.join().expect("joined");
    assert!(changes > 20, "the writer kept writing: {changes} changes");
    let mut files_total = 0;
    for tree in ["files/shop", "mail/shop"] {
        let (source, destination) = (
            world.path("srv-1", tree).display().to_string(),
            world.path("tr-1", tree).display().to_string(),
        );
        let check = ferry_data_mover::files::verify(
            &source,
            &destination,
            &ferry_data_mover::files::VerifyOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{tree} equal by content: {e}"));
        files_total += check.files;
    }
    let verified = events
        .iter()
        .find_map(|e| match e {
            Event::Transfer(TransferEvent::TransferVerified(v)) => Some(v.files_checked),
            _ => None,
        })
        .expect("verified");
    assert_eq!(verified, files_total, "every file counted as verified");
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_changing_until_the_freeze_are_synced_and_checked_by_their_changes() {
    cutover_while_files_change(ferry_data_mover::files::DEFAULT_MAX_CHANGES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_changing_past_what_a_watch_records_are_synced_and_checked_whole() {
    // Three paths at most: the watches are untrusted, the trees synced whole.
    cutover_while_files_change(3).await;
}
