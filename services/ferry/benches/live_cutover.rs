//! End-to-end cutover benchmark (`scripts/bench live-cutover`): `ferry up` on the
//! stack with every service (the data mover, the network's redirect and switch),
//! the example fleet's srv-0042 with its bakery grown to `BENCH_PG_MB` (1024) of
//! PostgreSQL, `BENCH_MY_MB` (1024) of MariaDB and `BENCH_FILES_MB` (2048) of files
//! and mails, and the bakery's site behind ferry's redirect: each server's web front
//! is a small HTTP server on its own loopback address (srv-0042 on 127.0.0.42, the
//! transit server tr-0001 on 127.0.0.11) answering its name, and
//! `BENCH_CLIENTS` (32) keep-alive clients send requests for `bakery.example`
//! through the redirect without pause, while writers write to both databases until
//! the freeze.
//!
//! The customer moves the bakery to the transit server, rolls it back and moves it
//! again, through the API: three cutovers, each measured by ferry itself (from
//! `AccountFrozen` to the account unfrozen once the network switched its traffic).
//! Prints each one's downtime with the requests sent meanwhile, failed ones (goal
//! 0), the longest request, and requests answered by the old server after the
//! switch; then the median beside a plain dump and restore of the same databases
//! (`pg_dump | pg_restore` and `mariadb-dump | mariadb`, at once) and an rsync of
//! the same files, timed in the same run. `BENCH_LOG` shows each phase's time on
//! stderr.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../../network/tests/redirect_support.rs"]
mod redirect_support;

use ferry_data_mover::databases::{CopySpec, mysql, postgres};
use ferry_events::{DatabaseEngine, DatabaseSpec, TransferCompleted};
use ferry_infra::testkit::bulk::{self, Writers};
use ferry_infra::testkit::{self, TestStack};
use redirect_support::{AnsweredBy, Backend, Load, Outcome, generate_load};
use reqwest::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Long enough for a pre-copy or a replication's initial copy of the whole account.
const STEP_SECS: u64 = 1800;

fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bytes under `path` (`du -sb`).
fn disk_bytes(path: &Path) -> u64 {
    let out = std::process::Command::new("du")
        .arg("-sb")
        .arg(path)
        .output()
        .expect("du runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The two web fronts on one port of their own addresses: the client server's
/// ("old") and the transit server's ("new").
async fn web_fronts() -> (Backend, Backend, u16) {
    loop {
        let old = Backend::start_on("old", "127.0.0.42:0".parse().expect("an address")).await;
        let port = old.addr.port();
        let addr: SocketAddr = format!("127.0.0.11:{port}").parse().expect("an address");
        if std::net::TcpListener::bind(addr).is_ok() {
            let new = Backend::start_on("new", addr).await;
            return (old, new, port);
        }
    }
}

/// The example fleet with srv-0042 and tr-0001 on their loopback addresses and the
/// bakery's inventory as generated: its files, mails and both databases.
fn fleet(demo: &Demo, pg_bytes: u64, my_bytes: u64) -> ferry::fleet::Fleet {
    let mut fleet = demo.fleet().expect("the example fleet");
    for server in &mut fleet.servers {
        server.registration.ipv4 = vec!["127.0.0.42".into()];
        server.registration.ipv6 = vec![];
        for account in &mut server.registration.accounts {
            if account.name != "bakery" {
                continue;
            }
            let root = demo.path("srv-0042", "");
            account.files_bytes = disk_bytes(&root.join("files/bakery"));
            account.mail_bytes = disk_bytes(&root.join("mail/bakery"));
            account.databases[0].size_bytes = pg_bytes;
            account.databases.push(DatabaseSpec {
                engine: DatabaseEngine::Mysql,
                name: "bakery_stats".into(),
                size_bytes: my_bytes,
                version: "10.6".into(),
            });
        }
    }
    for transit in &mut fleet.transit_servers {
        if transit.transit_server_id == "tr-0001" {
            transit.details.insert("ipv4".into(), json!(["127.0.0.11"]));
            transit.details.insert("ipv6".into(), json!([]));
        }
    }
    fleet
}

/// One cutover of the bakery, with writers on its databases where it lives.
struct Cutover {
    label: &'static str,
    completed: TransferCompleted,
    started: tokio::time::Instant,
    ended: tokio::time::Instant,
    writes: (u64, u64),
}

async fn cutover(
    customer: &ferry::client::Api,
    stack: &TestStack,
    demo: &Demo,
    m: Uuid,
    action: &str,
    (label, from): (&'static str, &str),
) -> Cutover {
    let writers = Writers::start(demo.db(from, "bakery_shop"), demo.db(from, "bakery_stats"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = tokio::time::Instant::now();
    customer
        .command(
            Method::POST,
            &format!("/migrations/{m}/accounts/acc-1207/{action}"),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"));
    let state = migration(&stack.log, m).await;
    let transfer = match state.accounts["acc-1207"].place {
        ferry_accounts::domain::migration::Place::MovingToTransit { transfer_id }
        | ferry_accounts::domain::migration::Place::RollingBack { transfer_id } => transfer_id,
        ref other => panic!("the bakery is not moving: {other:?}"),
    };
    let completed = wait_for_transfer(&stack.log, transfer, STEP_SECS).await;
    let ended = tokio::time::Instant::now();
    let writes = writers.stop().await;
    // The next step needs the move recorded (the traffic switched).
    tokio::time::sleep(Duration::from_secs(2)).await;
    Cutover {
        label,
        completed,
        started,
        ended,
        writes,
    }
}

/// What the load saw during one cutover.
fn report(c: &Cutover, outcomes: &[Outcome], new_home: AnsweredBy) -> f64 {
    let during: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_at >= c.started && o.sent_at <= c.ended)
        .collect();
    let failed = during.iter().filter(|o| o.answered_by.is_none()).count();
    let longest = during.iter().map(|o| o.latency).max().unwrap_or_default();
    // Once the cutover completed, every request goes to the new home.
    let misrouted = outcomes
        .iter()
        .filter(|o| o.sent_at > c.ended && o.sent_at <= c.ended + Duration::from_secs(2))
        .filter(|o| o.answered_by.is_some_and(|b| b != new_home))
        .count();
    let downtime = c.completed.downtime_ms.unwrap_or(0) as f64 / 1000.0;
    let methods: Vec<String> = c
        .completed
        .database_methods
        .iter()
        .map(|m| format!("{:?}", m.method))
        .collect();
    println!(
        "{}: downtime {downtime:.2} s ({}); {} requests through the redirect meanwhile, \
         {failed} failed, longest {:.2} s, {misrouted} answered by the old server after; \
         {} + {} writes before the freeze",
        c.label,
        methods.join(" + "),
        during.len(),
        longest.as_secs_f64(),
        c.writes.0,
        c.writes.1
    );
    downtime
}

/// The same databases and files copied by plain dump and restore and rsync, in
/// parallel as a plain cutover would while frozen; seconds.
async fn plain_copy(demo: &Demo) -> f64 {
    let scratch = |name: &str| format!("{}plain_{name}", demo.tag);
    let pg_spec = CopySpec::new(
        testkit::admin_database_url(),
        testkit::admin_database_url(),
        demo.db("srv-0042", "bakery_shop"),
    )
    .renamed(scratch("shop"));
    let my_spec = CopySpec::new(
        testkit::admin_mysql_url(),
        testkit::admin_mysql_url(),
        demo.db("srv-0042", "bakery_stats"),
    )
    .renamed(scratch("stats"));
    let target = demo.root.join("plain");
    let source = demo.path("srv-0042", "");
    let sync = tokio::task::spawn_blocking(move || {
        for tree in ["files/bakery", "mail/bakery"] {
            std::fs::create_dir_all(target.join(tree)).expect("a directory");
            let status = std::process::Command::new("rsync")
                .args(["-aH", "--numeric-ids", "--delete"])
                .arg(format!("{}/", source.join(tree).display()))
                .arg(format!("{}/", target.join(tree).display()))
                .status()
                .expect("rsync runs");
            assert!(status.success(), "rsync");
        }
    });
    let t = Instant::now();
    let cancel = CancellationToken::new();
    let (pg, my, files) = tokio::join!(
        postgres::copy(&pg_spec, &cancel),
        mysql::copy(&my_spec, &cancel),
        sync
    );
    let secs = t.elapsed().as_secs_f64();
    pg.expect("pg_dump | pg_restore");
    my.expect("mariadb-dump | mariadb");
    files.expect("rsync");
    secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (pg_mb, my_mb, files_mb) = (
        env_or("BENCH_PG_MB", 1024),
        env_or("BENCH_MY_MB", 1024),
        env_or("BENCH_FILES_MB", 2048),
    );
    let clients = usize::try_from(env_or("BENCH_CLIENTS", 32)).unwrap_or(32);
    println!(
        "end-to-end cutover benchmark: {pg_mb} MB PostgreSQL + {my_mb} MB MariaDB + \
         {files_mb} MB files and mails, {clients} clients through the redirect"
    );
    let stack = TestStack::new().await;
    let demo = Demo::new();
    demo.client_data().await.expect("the example data");
    let t = Instant::now();
    let shop = demo.db("srv-0042", "bakery_shop");
    bulk::pg_items(&shop, pg_mb << 20).await;
    let stats = demo.db("srv-0042", "bakery_stats");
    tokio::task::spawn_blocking(move || bulk::my_orders(&stats, my_mb << 20))
        .await
        .expect("generated");
    let (site, maildir) = (
        demo.path("srv-0042", "files/bakery/www"),
        demo.path("srv-0042", "mail/bakery/Maildir"),
    );
    tokio::task::spawn_blocking(move || bulk::files(&site, &maildir, files_mb << 20))
        .await
        .expect("generated");
    println!("  generated in {:.0} s", t.elapsed().as_secs_f64());

    let (old, new, port) = web_fronts().await;
    let redirect_port = free_port();
    let mut env = demo.ferry_env();
    env.push(("FERRY_REDIRECT_ADDR", format!("127.0.0.1:{redirect_port}")));
    env.push(("FERRY_REDIRECT_UPSTREAM_PORT", port.to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ferry = start_with(&stack, &env).await;
    let support = ferry.api("support:bench").await;
    let customer = ferry.api("customer:c-42").await;

    // Up to the accounts' moves: imported, opened, ready, a transit server lent
    // and the files pre-copied to it.
    let shop_bytes: i64 = pg(&shop)
        .await
        .expect("connects")
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await
        .expect("size")
        .get(0);
    let fleet = fleet(&demo, u64::try_from(shop_bytes).unwrap_or(0), my_mb << 20);
    ferry::fleet::import(&support, &fleet)
        .await
        .expect("imported");
    let opened = customer
        .command(
            Method::POST,
            "/servers/srv-0042/migrations",
            Some(json!({ "target_version": "v2026" })),
        )
        .await
        .expect("opened");
    let m: Uuid = opened["migration_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a migration id");
    wait_for_state(&stack.log, m, "preparing").await;
    for account in ["acc-1207", "acc-1208"] {
        customer
            .command(
                Method::POST,
                &format!("/migrations/{m}/accounts/{account}/ready"),
                None,
            )
            .await
            .expect("ready");
    }
    customer
        .command(
            Method::POST,
            &format!("/migrations/{m}/transit-request"),
            None,
        )
        .await
        .expect("transit requested");
    support
        .command(
            Method::POST,
            &format!("/migrations/{m}/obsolete-languages/removal"),
            None,
        )
        .await
        .expect("languages removed");
    let t = Instant::now();
    let lent = testkit::eventually(STEP_SECS, || async {
        migration(&stack.log, m).await.state_name() == "migrating_accounts"
    })
    .await;
    assert!(
        lent,
        "the transit server is lent once the files are pre-copied"
    );
    println!(
        "  transit server lent, files pre-copied in {:.0} s",
        t.elapsed().as_secs_f64()
    );

    // The load, from now to the end.
    let stop = CancellationToken::new();
    let load = tokio::spawn(generate_load(
        Load {
            target: format!("127.0.0.1:{redirect_port}")
                .parse()
                .expect("an address"),
            host: "bakery.example".into(),
            clients,
            post_every: 0,
        },
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = cutover(
        &customer,
        &stack,
        &demo,
        m,
        "move",
        ("cutover 1, to the transit server", "srv-0042"),
    )
    .await;
    // The blog follows (small), so that the bakery may be rolled back.
    customer
        .command(
            Method::POST,
            &format!("/migrations/{m}/accounts/acc-1208/move"),
            None,
        )
        .await
        .expect("blog moved");
    wait_for_state(&stack.log, m, "verifying").await;
    let second = cutover(
        &customer,
        &stack,
        &demo,
        m,
        "rollback",
        ("cutover 2, rolled back to the client server", "tr-0001"),
    )
    .await;
    let third = cutover(
        &customer,
        &stack,
        &demo,
        m,
        "move",
        ("cutover 3, to the transit server again", "srv-0042"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let outcomes = load.await.expect("the load");
    println!(
        "load: {} requests in all, {} failed; the client server's front answered {}, \
         the transit server's {}",
        outcomes.len(),
        outcomes.iter().filter(|o| o.answered_by.is_none()).count(),
        old.requests(),
        new.requests()
    );
    let mut downtimes = [
        report(&first, &outcomes, AnsweredBy::New),
        report(&second, &outcomes, AnsweredBy::Old),
        report(&third, &outcomes, AnsweredBy::New),
    ];
    ferry.stop().await;

    let plain = plain_copy(&demo).await;
    downtimes.sort_by(f64::total_cmp);
    let median = downtimes[1];
    println!(
        "downtime: ferry median {median:.2} s of 3 cutovers vs plain dump, restore and rsync \
         {plain:.2} s = {:.1}x less (targets: <= 2 s, >= 20x, 0 failed requests)",
        plain / median.max(0.001)
    );
}
