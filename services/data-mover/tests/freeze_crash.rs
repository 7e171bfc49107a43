//! A cutover's worker killed (SIGKILL) while its account is frozen: with no process
//! of ferry alive, the account's own users (not superusers) keep trying to write to
//! its PostgreSQL and MariaDB sources, on new connections and in sessions asking for
//! read-write transactions, and not one write lands; a new worker then completes the
//! cutover, and the retired sources go on refusing them.

mod support;

use ferry_events::*;
use ferry_infra::testkit::eventually;
use support::freeze::{my_locked, shop_writers};
use support::worker_process::{WorkerOptions, run_if_asked};
use support::*;

/// Not a test of its own: the body of the worker processes the tests start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process() {
    run_if_asked().await;
}

/// How many more attempts every writer must make in each stage.
const TRIES: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_while_frozen_lets_no_write_of_the_accounts_users_through()
-> Result<(), String> {
    let mut world = World::new().await;
    world.start_network();
    let shop = shop_with_both_databases();
    let (app, src_pg, src_my) = support::freeze::shop_owned_by_its_users(&world).await;
    world.client_and_transit(vec![shop.clone()]).await;

    // While the marker exists (the freeze command made it) the final sync's rsync
    // says so and waits: the kill lands in the frozen phase, once the freeze is
    // complete (the final sync starts after it). The freeze command also changes a
    // file of the account, so that the final sync (of what changed) runs rsync.
    let (marker, syncing) = (world.root.join("frozen"), world.root.join("syncing"));
    let bin = world.root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let rsync = bin.join("rsync");
    std::fs::write(
        &rsync,
        format!(
            "#!/bin/sh\nif [ -e {m} ]; then touch {s}; sleep 5; fi\nexec /usr/bin/rsync \"$@\"\n",
            m = marker.display(),
            s = syncing.display()
        ),
    )
    .expect("the rsync wrapper");
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&rsync)
        .status()
        .expect("chmod");
    let options = WorkerOptions {
        freeze_command: Some(format!(
            "if [ \"$FERRY_FREEZE_ACTION\" = freeze ]; then touch {}; \
             echo frozen > {}/$FERRY_ACCOUNT_NAME/frozen.txt; fi",
            marker.display(),
            world.storage("srv-1").files_root
        )),
        path_first: Some(bin),
    };

    let (pg_writers, my_writers) = shop_writers(&app, &src_pg, &src_my).await;

    let mut first = world.worker_process(1, &options);
    let transfer = world.schedule(TransferKind::Cutover, vec![shop]).await;
    let frozen = eventually(120, || async { syncing.exists() }).await;
    assert!(frozen, "frozen; the worker said:\n{}", first.logs());
    assert_eq!(my_locked(&[&app])?, [true], "the MariaDB account is locked");
    pg_writers.set_frozen(true);
    my_writers.set_frozen(true);
    first.crash().await;
    let left = types(&world.transfer(transfer).await);
    assert!(
        !left.contains(&"AccountUnfrozen"),
        "the kill lands while the account is frozen: {left:?}"
    );
    let (pg_rows, my_rows) = (pg_count(&src_pg).await, my_count(&src_my));

    // No ferry alive: nothing gets through.
    assert!(pg_writers.keep_trying(TRIES).await && my_writers.keep_trying(TRIES).await);
    assert_eq!(
        pg_count(&src_pg).await,
        pg_rows,
        "PostgreSQL rows while dead"
    );
    assert_eq!(my_count(&src_my), my_rows, "MariaDB rows while dead");

    // A new worker completes the cutover; the sources stay frozen for good.
    std::fs::remove_file(&marker).expect("the marker");
    let second = world.worker_process(2, &options);
    let events = world.ended(transfer, 180).await;
    assert!(
        completed(&events).is_some(),
        "{:?} {:?}\nfirst worker:\n{}\nsecond worker:\n{}",
        types(&events),
        failed(&events),
        first.logs(),
        second.logs()
    );
    assert!(pg_writers.keep_trying(TRIES).await && my_writers.keep_trying(TRIES).await);
    let (dst_pg, dst_my) = (world.db("tr-1", "shop_pg"), world.db("tr-1", "shop_my"));
    assert_eq!(pg_count(&src_pg).await, pg_rows, "PostgreSQL rows after");
    assert_eq!(my_count(&src_my), my_rows, "MariaDB rows after");
    assert_eq!(
        pg_count(&dst_pg).await,
        pg_rows,
        "every PostgreSQL row moved"
    );
    assert_eq!(my_count(&dst_my), my_rows, "every MariaDB row moved");
    let through = pg_writers.through_freeze() + my_writers.through_freeze();
    assert_eq!(through, 0, "writes through the freeze");
    println!(
        "killed while frozen: 0 writes through the freeze out of {} attempts",
        pg_writers.frozen_attempts() + my_writers.frozen_attempts()
    );

    pg_writers.stop().await;
    my_writers.stop().await;
    drop(second);
    let _ = ferry_data_mover::databases::postgres::unretire(pg_url(), &src_pg).await;
    let _ = ferry_data_mover::databases::mysql::unretire(my_url(), &src_my).await;
    world.stop().await;
    world.cleanup().await;
    let _ = pg("postgres")
        .await
        .expect("connects")
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{app}\""))
        .await;
    let _ = my(&format!("DROP USER IF EXISTS '{app}'@'%'"));
    Ok(())
}
