//! Append throughput of the event log beside raw JetStream publishing, on the same
//! server in the same run.
//!
//! - raw: JetStream publish with a message id, up to 4096 acks in flight, over 1,000
//!   subjects (what the server can take);
//! - append: `EventLog::append` with optimistic concurrency over 1,000 aggregates in
//!   parallel, each writer appending after the version it last saw (what ferry does);
//! - append ×3: the same with three events per command (one message each).
//!
//! Runs against `FERRY_NATS_URL` (the local stack, fsync on every write) and, when
//! `BENCH_SCRATCH_NATS_URL` is set, against that server too (no fsync), so the cost of
//! durability shows. `BENCH_EVENTS` sets the events per case (default 50,000).
//! Run: `scripts/bench event_log`.

mod common;

use common::{IN_FLIGHT, drop_log, fresh_log, occ_append, raw_publish};
use ferry_events::AggregateType;
use ferry_infra::event_log::AggregateRef;
use uuid::Uuid;

const AGGREGATES: usize = 1000;

fn events_per_case() -> usize {
    common::env_or("BENCH_EVENTS", 50_000) as usize
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
