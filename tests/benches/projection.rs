//! Projection figures, against real NATS and PostgreSQL:
//!
//! - rebuild rate: the log index rebuilt from sequence 1 over 1M events (10,000
//!   aggregates, interleaved as a real log is) into a fresh database;
//! - live latency: from the moment an event is appended to the moment the projection
//!   has committed it, at 500 events/s, p50/p90/p99/max.
//!
//! The 1M-event stream is written once and kept (`FERRY_BENCH_1M_V2`) so later runs only
//! rebuild; it is written through `BENCH_SCRATCH_NATS_URL` when set (a server without
//! fsync: writing 1M events with fsync per write takes minutes and says nothing about
//! rebuilds, which only read). Latency uses the durable server `FERRY_NATS_URL`.
//! `BENCH_REBUILD_EVENTS` and `BENCH_LATENCY_SECS` scale the cases.
//! Run: `scripts/bench projection`.

mod common;

use common::env_or;
use ferry_events::AggregateType;
use ferry_infra::event_log::AggregateRef;
use ferry_infra::projection::log_index::LogIndex;
use ferry_infra::projection::rebuild;
use ferry_infra::projection::{ProjectionRunner, RunnerSettings, StatusBoard};
use ferry_infra::testkit::TestStack;
use ferry_tests::bench_event;
use futures::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn rebuild_rate(stack: &TestStack, url: &str) -> anyhow::Result<()> {
    let total = env_or("BENCH_REBUILD_EVENTS", 1_000_000);
    let log = common::kept_log(url, total).await?;
    let started = Instant::now();
    let mut replay = log.replay(1).await?;
    let mut replayed = 0u64;
    while let Some(event) = replay.next().await {
        event?;
        replayed += 1;
    }
    println!(
        "replay and decode alone: {replayed} events at {:.0} events/s",
        replayed as f64 / started.elapsed().as_secs_f64()
    );
    let default = RunnerSettings::default().rebuild_batch_size;
    for batch in [5_000, 20_000, default] {
        let report = rebuild::rebuild(&LogIndex, &log, &stack.pool, batch).await?;
        let pool = stack.pool.get().await?;
        let aggregates: i64 = pool
            .query_one("SELECT count(*) FROM proj_log_index.aggregates", &[])
            .await?
            .get(0);
        println!(
            "rebuild of the log index, batches of {batch:>6}: {} events in {:.2} s = {:>7.0} events/s ({aggregates} aggregates)",
            report.events,
            report.elapsed.as_secs_f64(),
            report.rate()
        );
    }
    Ok(())
}

async fn live_latency(stack: &TestStack) -> anyhow::Result<()> {
    let seconds = env_or("BENCH_LATENCY_SECS", 20);
    let rate = 500u64;
    let board = StatusBoard::default();
    let shutdown = CancellationToken::new();
    let runner = ProjectionRunner::new(
        Arc::new(LogIndex),
        stack.log.clone(),
        stack.pool.clone(),
        RunnerSettings::default(),
        board.clone(),
    );
    let running = tokio::spawn(runner.run(shutdown.clone()));
    // Wait until the runner is consuming.
    let mut changes = board.watch();
    while !board
        .get("log_index")
        .is_some_and(|s| matches!(s.state, ferry_infra::projection::ProjectionState::Running))
    {
        changes.changed().await?;
    }

    // Appended events (sequence, when the append started), in order; the observer pops
    // them as the projection's checkpoint passes them.
    let pending: Arc<tokio::sync::Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
    let done = CancellationToken::new();
    let observer = {
        let (pending, board, done) = (pending.clone(), board.clone(), done.clone());
        let mut changes = board.watch();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { break },
                    _ = done.cancelled() => break,
                }
                let now = Instant::now();
                let checkpoint = board.get("log_index").map_or(0, |s| s.checkpoint);
                let mut pending = pending.lock().await;
                while pending.front().is_some_and(|(seq, _)| *seq <= checkpoint) {
                    if let Some((_, started)) = pending.pop_front() {
                        latencies.push(now - started);
                    }
                }
            }
            latencies
        })
    };

    let aggregates: Vec<_> = (0..1000)
        .map(|_| AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()))
        .collect::<Result<_, _>>()?;
    let mut versions = vec![0u64; aggregates.len()];
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let total = seconds * rate;
    for i in 0..total {
        tick.tick().await;
        let k = i as usize % aggregates.len();
        let started = Instant::now();
        // Recorded before the ack comes back: the projection may be faster than the ack.
        let mut queue = pending.lock().await;
        let appended = stack
            .log
            .append(
                &aggregates[k],
                versions[k],
                &[bench_event(&aggregates[k], i)],
                &Uuid::now_v7().to_string(),
            )
            .await?;
        queue.push_back((appended.version, started));
        drop(queue);
        versions[k] = appended.version;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pending.lock().await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await??;
    done.cancel();
    let mut latencies = observer.await?;
    println!(
        "event -> projection latency at {rate} events/s over {seconds} s ({} events): {}",
        latencies.len(),
        common::percentiles(&mut latencies)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let durable = ferry_infra::testkit::nats_url();
    let scratch = std::env::var("BENCH_SCRATCH_NATS_URL").unwrap_or_else(|_| durable.clone());
    {
        let stack = TestStack::new().await;
        rebuild_rate(&stack, &scratch).await?;
    }
    {
        let stack = TestStack::new().await;
        live_latency(&stack).await?;
    }
    Ok(())
}
