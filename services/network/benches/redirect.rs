//! Throughput and latency of the transparent redirect beside going straight to the
//! backend, in the same run, then a cutover under load.
//!
//! - direct: `BENCH_REDIRECT_CONNECTIONS` (64) keep-alive clients send GETs to a
//!   backend for `BENCH_REDIRECT_SECS` (10) seconds;
//! - proxied: the same clients through the redirect to the same backend;
//!
//! the two cases alternate in `BENCH_REDIRECT_ROUNDS` (5) slices after a warm-up, so
//! other load on the machine weighs on both alike;
//! - cutover: the same clients (one request in three a POST with a 1-16 KiB body)
//!   through the redirect while the account is held, given
//!   `BENCH_REDIRECT_SYNC_MS` (500) of "final sync", relocated and released:
//!   failed requests (goal 0), requests that reached the old server after the
//!   hold, and the longest hold.
//!
//! Clients, proxy and backends share this process and the machine's cores, so the
//! figures are a floor for the proxy, not its capacity on a dedicated server.
//! Run: `scripts/bench redirect` (a release build).

#[path = "../tests/redirect_support.rs"]
mod support;

use std::time::Duration;

use ferry_network::redirect::{RedirectSettings, RedirectTable};
use support::{Backend, Load, Outcome, RunningProxy, generate_load, hold_and_switch};
use tokio_util::sync::CancellationToken;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Load on `target` for `duration`.
async fn measure(target: std::net::SocketAddr, clients: usize, duration: Duration) -> Vec<Outcome> {
    let load = Load {
        target,
        host: "shop.example".into(),
        clients,
        post_every: 0,
    };
    let stop = CancellationToken::new();
    let running = tokio::spawn(generate_load(load, stop.clone()));
    tokio::time::sleep(duration).await;
    stop.cancel();
    running.await.expect("load")
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn print_figures(label: &str, outcomes: &[Outcome], duration: Duration) {
    let failed = outcomes.iter().filter(|o| o.answered_by.is_none()).count();
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort_unstable();
    println!(
        "  {label:<8} {:>9.0} requests/s   p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   failed {failed}",
        outcomes.len() as f64 / duration.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_REDIRECT_CONNECTIONS", 64) as usize;
    let duration = Duration::from_secs(env_or("BENCH_REDIRECT_SECS", 10));
    let final_sync = Duration::from_millis(env_or("BENCH_REDIRECT_SYNC_MS", 500));
    let rounds = env_or("BENCH_REDIRECT_ROUNDS", 5).max(1) as u32;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let backend = Backend::start("old").await;
    let table = RedirectTable::new();
    table.route_host("shop.example", "acc-shop");
    table.locate("acc-shop", backend.addr);
    let proxy = RunningProxy::start(&table, RedirectSettings::default()).await;

    println!(
        "redirect: GET, {clients} keep-alive connections, {}s per case in {rounds} alternating slices, {cores} cores shared by clients, proxy and backend",
        duration.as_secs()
    );
    // Warm both paths (connections, pools), then alternate short slices so that
    // the load of other processes on the machine weighs on both cases alike.
    measure(backend.addr, clients, Duration::from_secs(1)).await;
    measure(proxy.addr, clients, Duration::from_secs(1)).await;
    let slice = duration / rounds;
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        direct.extend(measure(backend.addr, clients, slice).await);
        proxied.extend(measure(proxy.addr, clients, slice).await);
    }
    print_figures("direct", &direct, slice * rounds);
    print_figures("proxied", &proxied, slice * rounds);
    proxy.shutdown.cancel();
    let _ = proxy.served.await;

    let run = hold_and_switch(clients, final_sync, RedirectSettings::default()).await;
    let old_after_hold = run
        .old_last_arrival
        .is_some_and(|arrival| arrival >= run.hold_returned_at);
    println!(
        "cutover under load ({clients} clients, 1 request in 3 a POST, {} ms final sync): {} requests, {} failed, {} sent after the hold not answered by the new server, old server reached after the hold: {}",
        final_sync.as_millis(),
        run.outcomes.len(),
        run.failed(),
        run.misrouted_after_hold(),
        if old_after_hold { "YES" } else { "no" },
    );
    println!(
        "  longest hold {:.1} ms; hold waited {:.3} ms for {} requests in flight ({} aborted)",
        run.longest_hold.as_secs_f64() * 1e3,
        run.hold_report.waited.as_secs_f64() * 1e3,
        run.hold_report.in_flight_at_hold,
        run.hold_report.aborted,
    );
}
