//! Cutover and pre-copy benchmark (`scripts/bench cutover`): one account with
//! `BENCH_PG_MB` (1024) of PostgreSQL, `BENCH_MY_MB` (1024) of MariaDB and
//! `BENCH_FILES_MB` (2048) of files and mails, generated, with writers running on
//! both databases until the freeze. Prints, from the same run:
//!
//! - the pre-copy of the tree by ferry beside a raw `rsync -a` of it;
//! - the cutover downtime with plain dump and restore while frozen (ferry with its
//!   low-downtime methods off: `FERRY_LOW_DOWNTIME=false`) beside ferry's best
//!   (logical replication and binary-log catch-up, hashed live), `BENCH_RUNS` (3)
//!   times and their median, each measured by ferry itself from `AccountFrozen` to
//!   `AccountUnfrozen`: the hold at the redirect, the freeze, the final sync and
//!   verification, and the wait for the traffic switch (recorded at once by a
//!   stand-in of the network service: the redirect's own hold and release under
//!   load is `scripts/bench redirect`). `BENCH_LOG` shows each phase's time.
//!
//! Every transfer runs through the engine with its events in a scratch stream, as in
//! production; the generated data is dropped at the end.

#[path = "../tests/support/mod.rs"]
mod support;

use ferry_data_mover::MoverSettings;
use ferry_data_mover::engine::Mover;
use ferry_events::transfer::Endpoint;
use ferry_events::*;
use ferry_infra::command::CommandHandler;
use ferry_infra::testkit::bulk::{self, Writers};
use std::time::{Duration, Instant};
use support::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn mb(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Makes the account's source databases writable again after a cutover retired
/// them, for the next run.
async fn serve_again(pg_name: &str, my_name: &str) {
    ferry_data_mover::databases::postgres::unretire(pg_url(), pg_name)
        .await
        .expect("PostgreSQL source unretired");
    let admin = pg("postgres").await.expect("connects");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{pg_name}\" RESET default_transaction_read_only"
        ))
        .await
        .expect("thawed");
    ferry_data_mover::databases::mysql::unretire(my_url(), my_name)
        .await
        .expect("MariaDB source unretired");
}

fn endpoint(world: &World, server: &str) -> Endpoint {
    Endpoint {
        server_id: server.into(),
        storage: world.storage(server),
    }
}

async fn run(mover: &Mover, world: &World, scheduled: &TransferScheduled) -> Vec<Event> {
    // The network's part of the handshake: a verified cutover's traffic switched as
    // soon as it is recorded (the redirect and DNS themselves are the network's
    // benchmarks), so that the downtime counts the wait for the switch.
    let network = CancellationToken::new();
    let switching = tokio::spawn(support::network::switch_verified_transfers(
        world.log.clone(),
        network.clone(),
        Duration::ZERO,
    ));
    mover
        .run(scheduled, &CancellationToken::new())
        .await
        .expect("the transfer runs");
    network.cancel();
    let _ = switching.await;
    world.ended(scheduled.transfer_id, 5).await
}

fn downtime(events: &[Event]) -> (f64, String) {
    let done = completed(events).unwrap_or_else(|| panic!("completed: {:?}", failed(events)));
    let methods: Vec<String> = done
        .database_methods
        .iter()
        .map(|m| format!("{:?}", m.method))
        .collect();
    (
        done.downtime_ms.unwrap_or(0) as f64 / 1000.0,
        methods.join(" + "),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
                .unwrap_or_else(|_| "ferry_data_mover=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (pg_mb, my_mb, files_mb) = (
        mb("BENCH_PG_MB", 1024),
        mb("BENCH_MY_MB", 1024),
        mb("BENCH_FILES_MB", 2048),
    );
    let world = World::new().await;
    let shop = AccountSpec {
        account_id: "acc-1".into(),
        name: "shop".into(),
        files_bytes: files_mb << 20,
        mail_bytes: 0,
        databases: vec![
            DatabaseSpec {
                engine: DatabaseEngine::Postgres,
                name: "shop_pg".into(),
                size_bytes: pg_mb << 20,
                version: "15".into(),
            },
            DatabaseSpec {
                engine: DatabaseEngine::Mysql,
                name: "shop_my".into(),
                size_bytes: my_mb << 20,
                version: "10.11".into(),
            },
        ],
        domains: vec![],
        languages: vec![],
    };
    let (pg_name, my_name) = (world.db("srv-1", "shop_pg"), world.db("srv-1", "shop_my"));
    println!(
        "cutover benchmark: {pg_mb} MB PostgreSQL + {my_mb} MB MariaDB + {files_mb} MB files and mails"
    );
    let started = Instant::now();
    bulk::pg_items(&pg_name, pg_mb << 20).await;
    let my_name_gen = my_name.clone();
    tokio::task::spawn_blocking(move || bulk::my_orders(&my_name_gen, my_mb << 20))
        .await
        .expect("generated");
    let root = world.root.join("srv-1");
    let files = tokio::task::spawn_blocking(move || {
        bulk::files(
            &root.join("files/shop/www"),
            &root.join("mail/shop/Maildir"),
            files_mb << 20,
        )
    })
    .await
    .expect("generated");
    println!(
        "  generated in {:.0} s ({} MB of files)",
        started.elapsed().as_secs_f64(),
        files >> 20
    );

    let handler = || CommandHandler::new(world.log.clone(), 20);
    let plain = Mover::new(
        handler(),
        MoverSettings {
            low_downtime: false,
            ..MoverSettings::default()
        },
    );
    let best = Mover::new(handler(), MoverSettings::default());
    let scheduled = |kind, to: &str| TransferScheduled {
        transfer_id: Uuid::now_v7(),
        kind,
        migration_id: Some(world.migration),
        server_id: "srv-1".into(),
        accounts: vec![shop.clone()],
        source: endpoint(&world, "srv-1"),
        destination: endpoint(&world, to),
    };

    // Pre-copy: raw rsync, ferry, raw rsync again, of the same tree, each after the
    // previous copy's writes reached the disk (so that none pays for another's
    // writeback); ferry's time beside the mean of the two raw ones.
    let flush = || {
        let synced = std::process::Command::new("sync").status();
        assert!(synced.is_ok_and(|s| s.success()), "sync runs");
    };
    let raw_copy = |name: &str| {
        let raw = world.root.join(name);
        std::fs::create_dir_all(&raw).expect("a directory");
        flush();
        let t = Instant::now();
        for tree in ["files", "mail"] {
            let status = std::process::Command::new("rsync")
                .args(["-aH", "--numeric-ids", "--delete"])
                .arg(format!(
                    "{}/",
                    world.root.join("srv-1").join(tree).display()
                ))
                .arg(format!("{}/", raw.join(tree).display()))
                .status()
                .expect("rsync runs");
            assert!(status.success());
        }
        let secs = t.elapsed().as_secs_f64();
        std::fs::remove_dir_all(&raw).ok();
        secs
    };
    let raw_before = raw_copy("raw-1");
    // Files and mails only (the plain mover sets up no replication), as rsync does.
    flush();
    let t = Instant::now();
    let pre = run(&plain, &world, &scheduled(TransferKind::PreCopy, "tr-1")).await;
    assert!(completed(&pre).is_some(), "{:?}", failed(&pre));
    let ferry_secs = t.elapsed().as_secs_f64();
    let raw_after = raw_copy("raw-2");
    let raw_secs = (raw_before + raw_after) / 2.0;
    println!(
        "pre-copy of {} MB: raw rsync {raw_before:.1} s and {raw_after:.1} s, ferry {ferry_secs:.1} s \
         ({:.2}x the mean; target <= 1.10x)",
        files >> 20,
        ferry_secs / raw_secs
    );
    // The plain cutover's destination gets the same head start.
    let pre2 = run(&plain, &world, &scheduled(TransferKind::PreCopy, "tr-2")).await;
    assert!(completed(&pre2).is_some());
    // ferry's own pre-copy also sets the databases' replication up, live.
    let t = Instant::now();
    let pre = run(&best, &world, &scheduled(TransferKind::PreCopy, "tr-1")).await;
    let done = completed(&pre).unwrap_or_else(|| panic!("{:?}", failed(&pre)));
    println!(
        "pre-copy again with the databases' replication set up: {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        done.database_methods
            .iter()
            .map(|m| format!("{:?}", m.method))
            .collect::<Vec<_>>()
            .join(" + ")
    );

    // Plain dump and restore while frozen, with writes until the freeze.
    let w = Writers::start(pg_name.clone(), my_name.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = Instant::now();
    let plain_events = run(&plain, &world, &scheduled(TransferKind::Cutover, "tr-2")).await;
    let plain_total = t.elapsed().as_secs_f64();
    let writes = w.stop().await;
    let (plain_down, plain_methods) = downtime(&plain_events);
    println!(
        "cutover, plain dump and restore: downtime {plain_down:.2} s ({plain_methods}), \
         {plain_total:.1} s in all; {} + {} writes before the freeze",
        writes.0, writes.1
    );

    // ferry's best methods, BENCH_RUNS times (the first onto the pre-copied transit
    // server, the next onto fresh ones, replication set up each time), writes
    // going on until each freeze.
    let runs = mb("BENCH_RUNS", 3).max(1);
    let mut downtimes = Vec::new();
    for run_no in 0..runs {
        // The account serves from its source again (the last cutover retired it).
        serve_again(&pg_name, &my_name).await;
        let to = if run_no == 0 {
            "tr-1".to_owned()
        } else {
            format!("tr-{}", run_no + 2)
        };
        let w = Writers::start(pg_name.clone(), my_name.clone());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let t = Instant::now();
        let best_events = run(&best, &world, &scheduled(TransferKind::Cutover, &to)).await;
        let best_total = t.elapsed().as_secs_f64();
        let writes = w.stop().await;
        let (best_down, best_methods) = downtime(&best_events);
        println!(
            "cutover {} of {runs}, ferry: downtime {best_down:.2} s ({best_methods}), \
             {best_total:.1} s in all; {} + {} writes before the freeze",
            run_no + 1,
            writes.0,
            writes.1
        );
        downtimes.push(best_down);
    }
    downtimes.sort_by(f64::total_cmp);
    let median = downtimes[downtimes.len() / 2];
    println!(
        "downtime: ferry median {median:.2} s of {runs} runs vs plain {plain_down:.2} s = \
         {:.1}x less (targets: <= 2 s, >= 20x)",
        plain_down / median.max(0.001)
    );
    world.cleanup().await;
}
