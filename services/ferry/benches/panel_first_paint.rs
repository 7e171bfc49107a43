//! The web panel's speed with a thousand servers (issue 15: "first paint of a
//! server page under 200 ms with 1,000 servers in the read model"), run by
//! `scripts/bench panel` (`cargo bench -p ferry --bench panel_first_paint`).
//!
//! `ferry up` on the stack; `BENCH_PANEL_SERVERS` (1000) client servers imported
//! as a fleet file is (each its own customer, two accounts with two domains each, a
//! PostgreSQL database per account), a migration opened on every one and, on every
//! other one, an account marked ready, all through the API as people would; then,
//! once the read model serves every migration:
//!
//! - the panel's answer as a program sees it: `BENCH_PANEL_REQUESTS` (200) GETs of
//!   a server page (its customer signed in) and of support's console, p50/p95/max;
//! - the first paint in headless Chromium (`tests/browser/first_paint.mjs`):
//!   `BENCH_PANEL_LOADS` (30) navigations of the server page, of the console and of
//!   a console search, each with its first byte, last byte of HTML and
//!   `first-contentful-paint` from the page's own Performance timeline.
//!
//! Prints `target: first paint p95 under 200 ms: met|MISSED`. Needs
//! `scripts/browser-setup` (Chromium, node, playwright-core), which
//! `scripts/bench panel` runs.

#[path = "../tests/support/mod.rs"]
mod support;

use ferry_infra::testkit::{self, TestStack};
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::panel_browser::Browser;

/// Commands in flight at once while seeding (the API takes them in parallel).
const SEED_CONCURRENCY: usize = 16;

fn env_or(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server ids of the bench: srv-10000, srv-10001, ...
fn server_id(i: usize) -> String {
    format!("srv-{}", 10_000 + i)
}

/// A fleet file of `servers` client servers under `root`, on the stack's PostgreSQL.
fn fleet(root: &Path, servers: usize) -> String {
    let root = root.display();
    let postgres = testkit::on_this_stack("postgres://postgres:postgres@127.0.0.1:15432/postgres");
    let mut text = String::from(
        r#"target_infrastructures:
  - version: v2026
    languages: [{ language: php, version: "8.3" }]
    databases: [{ engine: postgres, version: "16" }]
servers:
"#,
    );
    for i in 0..servers {
        let id = server_id(i);
        let n = 10_000 + i;
        let (a, b) = (i / 250, i % 250 + 1);
        text.push_str(&format!(
            r#"  - server_id: {id}
    name: s{n}.hosting.example
    kind: vps
    configuration: vps-4c-8g
    infrastructure_version: v2020
    ipv4: ["10.20.{a}.{b}"]
    monthly_price: {{ amount_cents: 4900, currency: EUR }}
    customer_id: c-{n}
    contact_email: owner@s{n}.example
    locale: en
    storage:
      files_root: {root}/{id}/files
      mail_root: {root}/{id}/mail
      postgres_url: {postgres}?prefix=s{n}_
    accounts:
"#
        ));
        for (k, name) in ["shop", "blog"].into_iter().enumerate() {
            text.push_str(&format!(
                r#"      - account_id: acc-{n}-{k}
        name: {name}
        files_bytes: 52000000
        mail_bytes: 8000000
        databases:
          - {{ engine: postgres, name: {name}_db, size_bytes: 31000000, version: "13" }}
        domains:
          - {{ name: {name}.s{n}.example, dns: hosted, mail: hosted }}
          - {{ name: www-{name}.s{n}.example, dns: external, mail: external }}
        languages:
          - {{ language: php, version: "8.3" }}
"#
            ));
        }
    }
    text
}

/// Imports `fleet` with the CLI, as support.
async fn import(ferry: &support::Ferry, dir: &Path, fleet: &str) {
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, fleet).expect("the fleet file is written");
    let token = support::token(&ferry.log, "support:bench").await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("import")
        .arg(&path)
        .env("FERRY_API_URL", &ferry.base)
        .env("FERRY_TOKEN", token)
        .env_remove("FERRY_AS")
        .env_remove("FERRY_TOKEN_FILE")
        .stdout(std::process::Stdio::null())
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "ferry import: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Opens a migration on every server and marks every other server's shop ready.
async fn open_migrations(ferry: &support::Ferry, servers: usize) {
    let api = ferry.api("support:bench").await;
    let api = &api;
    let failures: Vec<String> = futures::stream::iter(0..servers)
        .map(|i| async move {
            let id = server_id(i);
            let opened = api
                .send::<serde_json::Value>(
                    Method::POST,
                    &format!("/servers/{id}/migrations"),
                    Some(json!({ "target_version": "v2026" })),
                )
                .await
                .map_err(|e| format!("{id}: open: {e}"))?;
            if i % 2 == 0 {
                let migration = opened.json()["migration_id"]
                    .as_str()
                    .ok_or_else(|| format!("{id}: no migration id"))?
                    .to_owned();
                api.send::<serde_json::Value>(
                    Method::POST,
                    &format!(
                        "/migrations/{migration}/accounts/acc-{}-0/ready",
                        10_000 + i
                    ),
                    None,
                )
                .await
                .map_err(|e| format!("{id}: ready: {e}"))?;
            }
            Ok::<(), String>(())
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    assert!(failures.is_empty(), "seeding failed: {failures:?}");
}

/// Waits until support's `GET /servers?step=1` lists every server.
async fn wait_for_read_model(ferry: &support::Ferry, servers: usize) {
    let api = ferry.api("support:bench").await;
    let caught_up = testkit::eventually(600, || async {
        api.get("/servers?step=1")
            .await
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            == Some(servers)
    })
    .await;
    assert!(caught_up, "the read model serves {servers} migrations");
}

/// p50, p95 and max of `samples`, in ms.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort_unstable();
    let at = |p: usize| samples[(samples.len() * p).div_ceil(100).saturating_sub(1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50={:.1} p95={:.1} max={:.1} n={}",
        ms(at(50)),
        ms(at(95)),
        ms(at(100)),
        samples.len()
    )
}

/// `requests` GETs of `path` by `browser` (signed in): the times to the whole body.
async fn time_gets(browser: &mut Browser, path: &str, requests: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let page = browser.get(path).await;
        samples.push(started.elapsed());
        assert_eq!(page.status, reqwest::StatusCode::OK, "GET {path}");
    }
    samples
}

/// The repository's root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// Runs the first-paint spec in Chromium; returns its `FIGURE` lines.
async fn first_paint(env: &[(&str, String)]) -> Vec<String> {
    let root = repo_root();
    // Screenshots beside the browser tests' (`<target>/browser-artifacts/`).
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser-artifacts");
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/run.mjs"))
        .arg(root.join("tests/browser/first_paint.mjs"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("FERRY_BROWSER_ARTIFACTS", &artifacts)
        .output()
        .await
        .expect("node runs (scripts/browser-setup installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "first_paint.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("FIGURE ").map(str::to_owned))
        .collect()
}

/// The p95 of a `FIGURE` line (`... p95=<ms> ...`).
fn p95(line: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("p95="))
        .and_then(|v| v.parse().ok())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let servers = env_or("BENCH_PANEL_SERVERS", 1000);
    let requests = env_or("BENCH_PANEL_REQUESTS", 200);
    let loads = env_or("BENCH_PANEL_LOADS", 30);
    let stack = TestStack::new().await;
    let ferry = support::start(&stack).await;
    let dir = std::env::temp_dir().join(format!("ferry-bench-panel-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    let started = Instant::now();
    import(&ferry, &dir, &fleet(&dir, servers)).await;
    let imported = started.elapsed();
    open_migrations(&ferry, servers).await;
    wait_for_read_model(&ferry, servers).await;
    println!(
        "seeded {servers} servers ({} accounts) in {:.1?} (import {:.1?}), a migration open on each",
        servers * 2,
        started.elapsed(),
        imported
    );

    // The server in the middle, its customer signed in.
    let middle = server_id(servers / 2);
    let customer = format!("customer:c-{}", 10_000 + servers / 2);
    let customer_token = support::token(&ferry.log, &customer).await;
    let support_token = support::token(&ferry.log, "support:bench").await;
    let mut browser = Browser::new(&ferry.base);
    browser.sign_in(&customer_token).await;
    let page = format!("/panel/servers/{middle}");
    // One warm-up answer each (the first connection, the templates' first use).
    time_gets(&mut browser, &page, 1).await;
    println!(
        "server page {page} answered whole (HTTP, signed in): {}",
        summary(time_gets(&mut browser, &page, requests).await)
    );
    let mut support_browser = Browser::new(&ferry.base);
    support_browser.sign_in(&support_token).await;
    time_gets(&mut support_browser, "/panel/console", 1).await;
    println!(
        "support console /panel/console answered whole (HTTP): {}",
        summary(time_gets(&mut support_browser, "/panel/console", requests).await)
    );

    let figures = first_paint(&[
        ("FERRY_PANEL_URL", ferry.base.clone()),
        ("FERRY_TOKEN_CUSTOMER", customer_token),
        ("FERRY_TOKEN_SUPPORT", support_token),
        ("FERRY_FIRST_PAINT_SERVER", middle),
        ("FERRY_FIRST_PAINT_LOADS", loads.to_string()),
    ])
    .await;
    println!("in Chromium, ms since each navigation started:");
    for line in &figures {
        println!("  {line}");
    }
    let server_paint = figures
        .iter()
        .find(|l| l.starts_with("server-page firstPaint "))
        .and_then(|l| p95(l))
        .expect("the server page's first paint figure");
    println!(
        "target: first paint p95 under 200 ms with {servers} servers: {} ({server_paint:.1} ms)",
        if server_paint < 200.0 {
            "met"
        } else {
            "MISSED"
        }
    );

    ferry.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
