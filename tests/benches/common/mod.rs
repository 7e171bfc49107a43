//! Pieces shared by the benchmarks of `ferry-tests`: scaling from the environment,
//! latency percentiles, benchmark streams (a fresh one per case, and the kept 1M-event
//! stream), raw publishing beside `EventLog::append`, and CPU accounting per process
//! group (read from `/proc`), so that a figure can say where the time went.
//!
//! Each bench binary includes this module (`mod common;`) and uses a part of it.

// Each bench binary uses a part of this module only.
#![allow(dead_code)]

use bytes::Bytes;
use ferry_events::{AggregateType, Envelope};
use ferry_infra::event_log::{AggregateRef, EventLog, LogSettings};
use ferry_infra::nats_users::{NatsIdentity, NatsUser};
use ferry_tests::bench_event;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Acks in flight for raw publishing (below the ~5000 at which the JetStream context
/// stops taking publishes).
pub const IN_FLIGHT: usize = 4096;

/// `name` from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `p50 …, p90 …, p99 …, max …` of `latencies` (sorted here), in milliseconds.
pub fn percentiles(latencies: &mut [Duration]) -> String {
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

/// The setup NATS user of the local stack (`FERRY_NATS_CREDENTIALS_DIR`): the
/// benchmarks make and fill streams of their own, on the durable server and on the
/// scratch one (`scripts/bench` starts it with the same users).
pub fn setup_identity() -> NatsIdentity {
    ferry_infra::testkit::nats_identity(NatsUser::Setup)
}

/// A raw NATS connection as the setup user to the server at `url`.
pub async fn setup_client(url: &str) -> anyhow::Result<async_nats::Client> {
    let identity = setup_identity();
    let seed = std::fs::read_to_string(identity.file())?;
    Ok(
        async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
            .connect(url)
            .await?,
    )
}

/// A fresh stream of its own on the server at `url`.
pub async fn fresh_log(url: &str) -> anyhow::Result<EventLog> {
    let id = Uuid::now_v7().simple().to_string();
    let settings = LogSettings {
        stream: format!("BENCH_{id}"),
        subject_prefix: format!("b{id}"),
        duplicate_window: Duration::from_secs(120),
        ..LogSettings::default()
    };
    Ok(EventLog::set_up(url, &setup_identity(), settings).await?)
}

/// Deletes a stream made by [`fresh_log`].
pub async fn drop_log(log: &EventLog) {
    let _ = log.jetstream().delete_stream(&log.settings().stream).await;
}

/// Aggregates of the 1M-event stream.
pub const KEPT_AGGREGATES: usize = 10_000;

/// The kept benchmark stream (`FERRY_BENCH_1M_V2`: 10,000 aggregates interleaved as a
/// real log is), filled up to `total` events if it has fewer. Written once and kept,
/// so later runs only read it.
pub async fn kept_log(url: &str, total: u64) -> anyhow::Result<EventLog> {
    let settings = LogSettings {
        stream: "FERRY_BENCH_1M_V2".into(),
        subject_prefix: "ferrybench2".into(),
        duplicate_window: Duration::from_secs(120),
        ..LogSettings::default()
    };
    let log = EventLog::set_up(url, &setup_identity(), settings).await?;
    let have = log.last_sequence().await?;
    if have >= total {
        return Ok(log);
    }
    println!(
        "writing {} events to {} (once; kept for later runs)...",
        total - have,
        log.settings().stream
    );
    let aggregates: Vec<_> = (0..KEPT_AGGREGATES)
        .map(|i| AggregateRef::new(AggregateType::Migration, format!("bench-{i:05}")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for i in have..total {
        if acks.len() >= IN_FLIGHT {
            acks.next().await.transpose()?;
        }
        let aggregate = &aggregates[(i as usize * 7919) % KEPT_AGGREGATES];
        let body = ferry_events::encode(&bench_event(aggregate, i))?;
        acks.push(
            log.jetstream()
                .publish(log.subject(aggregate), body.into())
                .await?
                .into_future(),
        );
    }
    while let Some(ack) = acks.next().await {
        ack?;
    }
    println!(
        "  written at {:.0} events/s",
        (total - have) as f64 / started.elapsed().as_secs_f64()
    );
    Ok(log)
}

/// Raw JetStream publishes with message ids over `aggregates`' subjects, a bounded
/// window of acks in flight: what the server can take. Events per second.
pub async fn raw_publish(
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

/// One writer per aggregate, each appending `per_command` events per command (one
/// message each) after the version it last saw; all writers at
/// once: what ferry does. Events per second.
pub async fn occ_append(
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

/// Which processes a CPU figure adds up.
#[derive(Debug, Clone)]
pub enum Processes {
    /// This benchmark.
    This,
    /// One process, by id (a nats-server: `BENCH_NATS_PID`, `BENCH_SCRATCH_NATS_PID`).
    Pid(u32),
    /// Every process whose command line contains one of these (PostgreSQL backends
    /// show their database in it, background workers their role).
    CommandLine(Vec<String>),
}

/// CPU accounting of named process groups and of the whole machine, from `/proc`
/// (Linux; figures are left out where `/proc` cannot be read).
#[derive(Debug, Clone)]
pub struct CpuMeter {
    groups: Vec<(String, Processes)>,
}

/// The CPU time counters at one moment.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    at: Instant,
    machine_busy: u64,
    groups: Vec<u64>,
}

/// Clock ticks per second of `/proc`'s CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

impl CpuMeter {
    /// A meter of this benchmark, the nats-server whose pid is in `nats_pid_var` (if
    /// set), the PostgreSQL backends of `database` (if any) and PostgreSQL's WAL writer
    /// and checkpointer.
    pub fn new(nats_pid_var: &str, database: Option<&str>) -> Self {
        let mut groups = vec![("bench".to_owned(), Processes::This)];
        if let Some(pid) = std::env::var(nats_pid_var)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            groups.push(("nats-server".to_owned(), Processes::Pid(pid)));
        }
        if let Some(database) = database {
            groups.push((
                "postgres backends".to_owned(),
                Processes::CommandLine(vec![format!(" {database} ")]),
            ));
        }
        groups.push((
            "postgres wal/checkpoint".to_owned(),
            Processes::CommandLine(vec![
                "walwriter".into(),
                "checkpointer".into(),
                "background writer".into(),
            ]),
        ));
        Self { groups }
    }

    /// The counters now.
    pub fn snapshot(&self) -> CpuSnapshot {
        let mut groups = vec![0u64; self.groups.len()];
        let wanted_lines = self
            .groups
            .iter()
            .any(|(_, p)| matches!(p, Processes::CommandLine(_)));
        let pids: Vec<u32> = if wanted_lines {
            std::fs::read_dir("/proc")
                .map(|dir| {
                    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        for (slot, (_, processes)) in groups.iter_mut().zip(&self.groups) {
            *slot = match processes {
                Processes::This => process_ticks("self"),
                Processes::Pid(pid) => process_ticks(&pid.to_string()),
                Processes::CommandLine(needles) => pids
                    .iter()
                    .filter(|pid| {
                        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| {
                            let line = String::from_utf8_lossy(&line).replace('\0', " ");
                            needles.iter().any(|n| line.contains(n.as_str()))
                        })
                    })
                    .map(|pid| process_ticks(&pid.to_string()))
                    .sum(),
            };
        }
        CpuSnapshot {
            at: Instant::now(),
            machine_busy: machine_busy_ticks(),
            groups,
        }
    }

    /// CPU seconds used by each group since `since`, by the rest of the machine, and
    /// by the whole machine out of what it had: `cpu s: bench 4.02, nats-server 3.10,
    /// …, others 2.50 (machine 11.9 of 12.4)`.
    pub fn since(&self, since: &CpuSnapshot) -> String {
        let now = self.snapshot();
        let wall = (now.at - since.at).as_secs_f64();
        let seconds = |ticks: u64| ticks as f64 / TICKS;
        let mut ours = 0;
        let mut parts = Vec::new();
        for (((name, _), after), before) in self.groups.iter().zip(&now.groups).zip(&since.groups) {
            let used = after.saturating_sub(*before);
            ours += used;
            parts.push(format!("{name} {:.2}", seconds(used)));
        }
        let busy = now.machine_busy.saturating_sub(since.machine_busy);
        parts.push(format!("others {:.2}", seconds(busy.saturating_sub(ours))));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        format!(
            "cpu s: {} (machine {:.1} of {:.1})",
            parts.join(", "),
            seconds(busy),
            wall * cores as f64
        )
    }
}

/// User + system ticks of one process (all its threads), 0 when unreadable.
fn process_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name, in parentheses, may hold spaces: fields start after it.
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = fields.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime); the first after ')' is field 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Busy ticks of the whole machine (every state but idle and iowait).
fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is within user).
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum()
}
