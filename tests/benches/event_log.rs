//! Append throughput of the event log beside raw JetStream publishing, on the same
//! server in the same run.
//!
//! - raw: JetStream publish with a message id, up to 4096 acks in flight, over 1,000
//!   subjects (what the server can take);
//! - append: `EventLog::append` with optimistic concurrency over 1,000 aggregates in
//!   parallel, each writer appending after the version it last saw (what ferry does);
//! - append ×3: the same with three events per command (one atomic batch each).
//!
//! Runs against `FERRY_NATS_URL` (the local stack, fsync on every write) and, when
//! `BENCH_SCRATCH_NATS_URL` is set, against that server too (no fsync), so the cost of
//! durability shows. `BENCH_EVENTS` sets the events per case (default 50,000).
//! Run: `scripts/bench event_log`.

use bytes::Bytes;
use ferry_events::{AggregateType, Envelope};
use ferry_infra::event_log::{AggregateRef, EventLog, LogSettings};
use ferry_tests::bench_event;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::time::{Duration, Instant};
use uuid::Uuid;

const AGGREGATES: usize = 1000;
const IN_FLIGHT: usize = 4096;

fn events_per_case() -> usize {
    std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

async fn fresh_log(url: &str) -> anyhow::Result<EventLog> {
    let id = Uuid::now_v7().simple().to_string();
    let settings = LogSettings {
        stream: format!("BENCH_{id}"),
        subject_prefix: format!("b{id}"),
        duplicate_window: Duration::from_secs(120),
    };
    Ok(EventLog::connect(url, settings).await?)
}

async fn drop_log(log: &EventLog) {
    let _ = log.jetstream().delete_stream(&log.settings().stream).await;
}

/// Raw JetStream publishes with message ids, a bounded window of acks in flight.
async fn raw_publish(
    log: &EventLog,
    aggregates: &[AggregateRef],
    total: usize,
) -> anyhow::Result<f64> {
    let bodies: Vec<(String, Bytes)> = (0..total)
        .map(|i| {
            let aggregate = &aggregates[i % aggregates.len()];
            (
                log.subject(aggregate),
                Bytes::from(
                    ferry_events::encode(&bench_event(aggregate, i as u64)).unwrap_or_default(),
                ),
            )
        })
        .collect();
    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for (i, (subject, body)) in bodies.into_iter().enumerate() {
        if acks.len() >= IN_FLIGHT {
            acks.next().await.transpose()?;
        }
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(body)
            .message_id(format!("raw-{i}"));
        acks.push(
            log.jetstream()
                .send_publish(subject, message)
                .await?
                .into_future(),
        );
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// One writer per aggregate, each appending `per_command` events per command after the
/// version it last saw; all writers at once.
async fn occ_append(
    log: &EventLog,
    aggregates: &[AggregateRef],
    total: usize,
    per_command: usize,
) -> anyhow::Result<f64> {
    let commands_per_aggregate = (total / per_command).div_ceil(aggregates.len());
    // Built before the clock starts, as the raw case's bodies are; encoding is timed.
    let commands: Vec<Vec<(String, Vec<Envelope>)>> = aggregates
        .iter()
        .map(|aggregate| {
            (0..commands_per_aggregate)
                .map(|c| {
                    let events = (0..per_command)
                        .map(|i| bench_event(aggregate, (c * per_command + i) as u64))
                        .collect();
                    (Uuid::now_v7().to_string(), events)
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let writers = aggregates
        .iter()
        .zip(commands)
        .map(|(aggregate, commands)| {
            let log = log.clone();
            let aggregate = aggregate.clone();
            tokio::spawn(async move {
                let mut version = 0;
                for (key, events) in commands {
                    version = log
                        .append(&aggregate, version, &events, &key)
                        .await?
                        .version;
                }
                anyhow::Ok(())
            })
        });
    let mut writers: FuturesUnordered<_> = writers.collect();
    while let Some(done) = writers.next().await {
        done??;
    }
    let appended = commands_per_aggregate * aggregates.len() * per_command;
    Ok(appended as f64 / started.elapsed().as_secs_f64())
}

async fn bench_server(label: &str, url: &str, total: usize) -> anyhow::Result<()> {
    let aggregates: Vec<_> = (0..AGGREGATES)
        .map(|_| AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()))
        .collect::<Result<_, _>>()?;
    let log = fresh_log(url).await?;
    let raw = raw_publish(&log, &aggregates, total).await;
    drop_log(&log).await;
    let log = fresh_log(url).await?;
    let append = occ_append(&log, &aggregates, total, 1).await;
    drop_log(&log).await;
    let log = fresh_log(url).await?;
    let batch = occ_append(&log, &aggregates, total, 3).await;
    drop_log(&log).await;
    let (raw, append, batch) = (raw?, append?, batch?);
    println!("{label} ({url}), {total} events per case, {AGGREGATES} aggregates");
    println!("  raw JetStream publish with message id, {IN_FLIGHT} in flight: {raw:>9.0} events/s");
    println!(
        "  append, optimistic concurrency, 1 event per command:  {append:>9.0} events/s  ({:.0} % of raw)",
        100.0 * append / raw
    );
    println!(
        "  append, optimistic concurrency, 3 events per command: {batch:>9.0} events/s  ({:.0} % of raw)",
        100.0 * batch / raw
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total = events_per_case();
    let durable = ferry_infra::testkit::nats_url();
    bench_server("durable server (fsync every write)", &durable, total).await?;
    if let Ok(scratch) = std::env::var("BENCH_SCRATCH_NATS_URL") {
        bench_server("scratch server (no fsync)", &scratch, total).await?;
    }
    Ok(())
}
