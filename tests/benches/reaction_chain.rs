//! Speed of the reaction chain, against the real local NATS and PostgreSQL, with the
//! CPU seconds each process group used meanwhile (to say where the time goes):
//!
//! 1. **hop**: one hop of a reaction chain on the durable server (fsync per write). A
//!    view defined here (accounts marked ready, per migration) is kept by
//!    `ViewProjection`, and a policy defined here issues one command per event (remove
//!    an account's traffic redirect: load, decide, append), all run by
//!    `ferry_infra::policy::run` (in lanes: one per migration, 1,000 of them). A steady 500 events/s for `BENCH_LATENCY_SECS` (20)
//!    seconds; per event, from the start of its append: appended, view committed,
//!    policy's command issued, the command's event appended (acknowledged: in the log),
//!    p50/p90/p99/max. Then the same at 20 events/s (a hop without a queue), and the
//!    pieces of a reaction alone, one at a time.
//! 2. **rebuild**: on the kept 1M-event stream of the scratch server (no fsync;
//!    `BENCH_REBUILD_EVENTS`), raw replay and decoding beside the rebuild of the log
//!    index (default batches, its `apply` timed) and of a projection that writes
//!    nothing, three rounds; the rebuild's share of the replay rate.
//! 3. **batches**: on the scratch server, appends of 3-event commands (one message
//!    each, 1,000 aggregates in parallel, `BENCH_BATCH_EVENTS`) beside raw publishing
//!    and 1-event appends, in events/s; then 3-event commands from 1 and 32 writers,
//!    and raw 3-message atomic batches (how ferry wrote such commands before) on a
//!    file and on a memory stream.
//!
//! `BENCH_PARTS` (`hop,rebuild,batches`) picks parts. Run: `scripts/bench reaction_chain`.

mod common;

use async_nats::jetstream::stream::{DirectGetErrorKind, StorageType};
use bytes::Bytes;
use common::{CpuMeter, drop_log, env_or, fresh_log, occ_append, percentiles, raw_publish};
use ferry_core::policy::{Entries, Missing, Policy, View};
use ferry_events::{
    AccountTrafficEvent, Actor, AggregateType, Envelope, Event, MigrationEvent, RedirectRemoved,
};
use ferry_infra::command::{Command, CommandHandler, Decider};
use ferry_infra::event_log::{AggregateRef, EventLog, headers};
use ferry_infra::policy::Execute;
use ferry_infra::policy::view::ViewReader;
use ferry_infra::projection::log_index::LogIndex;
use ferry_infra::projection::{ApplyError, Projection, RunnerSettings, rebuild};
use ferry_infra::reactor::{Effect, ReactionError, command_outcome, reaction_id};
use ferry_infra::testkit::TestStack;
use ferry_tests::bench_event;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

// ---------------------------------------------------------------- 1. one hop

/// Events per second driven through the chain.
const RATE: u64 = 500;
/// Source aggregates (migrations), appended to in turn.
const CHAIN_AGGREGATES: usize = 1000;
/// Events sent through the chain before measuring (connections, consumers, caches).
const WARMUP: usize = 50;
/// Serial samples of each piece of a reaction.
const PIECES: usize = 300;
/// Events per second of the gentle pass, which the chain keeps up with.
const SLOW_RATE: u64 = 20;
/// Seconds of the gentle pass.
const SLOW_SECS: u64 = 10;

/// The benchmark's view: per migration, how many accounts were marked ready.
struct ReadyAccounts;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ready {
    count: u64,
    last_account: String,
}

fn ready_key(migration: &str) -> String {
    format!("migration/{migration}")
}

impl View for ReadyAccounts {
    const NAME: &'static str = "bench_ready_accounts";
    const AGGREGATES: &'static [AggregateType] = &[AggregateType::Migration];
    type Entry = Ready;

    fn keys(event: &Envelope) -> Vec<String> {
        match &event.event {
            Event::Migration(MigrationEvent::AccountMarkedReady(_)) => {
                vec![ready_key(&event.aggregate_id)]
            }
            _ => Vec::new(),
        }
    }

    fn evolve(_key: &str, entry: Option<Ready>, event: &Envelope) -> Option<Ready> {
        match &event.event {
            Event::Migration(MigrationEvent::AccountMarkedReady(ready)) => Some(Ready {
                count: entry.map_or(0, |e| e.count) + 1,
                last_account: ready.account_id.clone(),
            }),
            _ => entry,
        }
    }
}

/// The benchmark's command: stop redirecting the traffic of the migration's accounts
/// (`account` names the event that caused it, to find its timings).
#[derive(Debug, Clone, PartialEq)]
struct RemoveRedirect {
    id: Uuid,
    traffic: String,
    correlation_id: Uuid,
    account: String,
}

/// The benchmark's policy: one command per account marked ready, once the view has it.
struct Chain;

impl Policy for Chain {
    type View = ReadyAccounts;
    type Command = RemoveRedirect;
    const NAME: &'static str = "bench_chain";

    /// One lane per migration: a reaction decides on its own migration's facts; what
    /// migrations share (a server, a transit server) is guarded by the deciders.
    fn lane(event: &Envelope) -> String {
        ferry_core::policy::process_lane(event)
    }

    fn reads(event: &Envelope, _known: &Entries<Ready>) -> Vec<String> {
        ReadyAccounts::keys(event)
    }

    fn react(event: &Envelope, view: &Entries<Ready>) -> Result<Vec<RemoveRedirect>, Missing> {
        let Event::Migration(MigrationEvent::AccountMarkedReady(ready)) = &event.event else {
            return Ok(Vec::new());
        };
        let key = ready_key(&event.aggregate_id);
        if !view.contains_key(&key) {
            return Err(Missing(format!("{key} is not in the view")));
        }
        Ok(vec![RemoveRedirect {
            id: reaction_id(Self::NAME, event.event_id, "remove-redirect"),
            traffic: event.aggregate_id.clone(),
            correlation_id: event.correlation_id,
            account: ready.account_id.clone(),
        }])
    }
}

/// The decider of the command's aggregate (an account's traffic): always accepts.
struct Traffic;

impl Decider for Traffic {
    type State = u64;
    type Command = String;
    type Event = AccountTrafficEvent;
    type Rejection = std::convert::Infallible;
    const AGGREGATE: AggregateType = AggregateType::AccountTraffic;

    fn decide(_state: &u64, from: &String) -> Result<Vec<AccountTrafficEvent>, Self::Rejection> {
        Ok(vec![AccountTrafficEvent::RedirectRemoved(
            RedirectRemoved {
                from_server_id: from.clone(),
            },
        )])
    }

    fn evolve(state: u64, _event: &AccountTrafficEvent) -> u64 {
        state + 1
    }

    fn select(event: &Event) -> Option<&AccountTrafficEvent> {
        match event {
            Event::AccountTraffic(event) => Some(event),
            _ => None,
        }
    }
}

/// When each step of one event's hop happened.
#[derive(Debug, Default, Clone)]
struct Stamp {
    start: Option<Instant>,
    sequence: u64,
    appended: Option<Instant>,
    issued: Option<Instant>,
    done: Option<Instant>,
}

type Stamps = Arc<Mutex<Vec<Stamp>>>;

fn stamp(stamps: &Stamps, index: usize, change: impl FnOnce(&mut Stamp)) {
    if let Ok(mut stamps) = stamps.lock()
        && let Some(stamp) = stamps.get_mut(index)
    {
        change(stamp);
    }
}

/// The index of the event behind `account` (`account-000123`, see `bench_event`).
fn event_index(account: &str) -> Option<usize> {
    account.strip_prefix("account-")?.parse().ok()
}

/// Runs the policy's commands through a command handler, noting when each began and
/// when its event was in the log.
#[derive(Clone)]
struct ChainExecutor {
    handler: CommandHandler,
    stamps: Stamps,
}

impl Execute<RemoveRedirect> for ChainExecutor {
    async fn execute(&self, command: &RemoveRedirect) -> Result<Vec<Effect>, ReactionError> {
        let issued = Instant::now();
        let outcome = self
            .handler
            .handle::<Traffic>(&Command {
                id: command.id,
                aggregate_id: command.traffic.clone(),
                correlation_id: command.correlation_id,
                actor: Actor::system("bench"),
                payload: command.account.clone(),
            })
            .await;
        let done = Instant::now();
        if let Some(index) = event_index(&command.account) {
            stamp(&self.stamps, index, |s| {
                s.issued.get_or_insert(issued);
                if outcome.is_ok() {
                    s.done.get_or_insert(done);
                }
            });
        }
        command_outcome(outcome)
    }
}

/// Appends the events `indices` at `rate` per second, each on its own task (so that a
/// slow append does not slow the rate), over `aggregates` in turn. Returns the failed
/// appends.
async fn drive(
    log: &EventLog,
    aggregates: &[AggregateRef],
    versions: &Arc<Vec<AtomicU64>>,
    stamps: &Stamps,
    indices: Range<usize>,
    rate: u64,
) -> anyhow::Result<usize> {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut appends = Vec::with_capacity(indices.len());
    for i in indices {
        tick.tick().await;
        let k = i % aggregates.len();
        let (log, aggregate, versions, stamps) = (
            log.clone(),
            aggregates[k].clone(),
            versions.clone(),
            stamps.clone(),
        );
        let event = bench_event(&aggregate, i as u64);
        appends.push(tokio::spawn(async move {
            stamp(&stamps, i, |s| s.start = Some(Instant::now()));
            let expected = versions[k].load(Ordering::SeqCst);
            let appended = log
                .append(&aggregate, expected, &[event], &Uuid::now_v7().to_string())
                .await;
            let at = Instant::now();
            match appended {
                Ok(appended) => {
                    versions[k].store(appended.version, Ordering::SeqCst);
                    stamp(&stamps, i, |s| {
                        s.sequence = appended.version;
                        s.appended = Some(at);
                    });
                    true
                }
                Err(e) => {
                    eprintln!("append {i} failed: {e}");
                    false
                }
            }
        }));
    }
    let mut failed = 0;
    for append in appends {
        if !append.await? {
            failed += 1;
        }
    }
    Ok(failed)
}

/// Waits until every event of `indices` has its command's event in the log, or
/// `patience` has passed. Returns how many have.
async fn wait_for_hops(stamps: &Stamps, indices: Range<usize>, patience: Duration) -> usize {
    let deadline = Instant::now() + patience;
    loop {
        let done = stamps
            .lock()
            .map(|s| {
                s[indices.clone()]
                    .iter()
                    .filter(|s| s.done.is_some())
                    .count()
            })
            .unwrap_or(0);
        if done == indices.len() || Instant::now() > deadline {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` serial runs of `f`: latency percentiles.
async fn serially<F, Fut>(n: usize, mut f: F) -> anyhow::Result<String>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        f(i).await?;
        latencies.push(started.elapsed());
    }
    Ok(percentiles(&mut latencies))
}

fn database_of(url: &str) -> String {
    let tail = url.rsplit('/').next().unwrap_or_default();
    tail.split('?').next().unwrap_or_default().to_owned()
}

/// Prints the hops of `stamps`, the view's `commits` telling when each was folded.
fn print_hops(stamps: &[Stamp], commits: &[(u64, Instant)]) {
    let committed = |sequence: u64| {
        let at = commits.partition_point(|(checkpoint, _)| *checkpoint < sequence);
        commits.get(at).map(|(_, when)| *when)
    };
    let mut in_log = Vec::new();
    let (mut appended, mut viewed, mut issued, mut hops, mut commands, mut pickups) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for s in stamps {
        let Some(start) = s.start else { continue };
        let view = s.appended.and_then(|_| committed(s.sequence));
        if let Some(at) = s.appended {
            appended.push(at - start);
        }
        if let Some(at) = view {
            viewed.push(at.saturating_duration_since(start));
        }
        if let Some(at) = s.issued {
            issued.push(at - start);
            if let Some(view) = view {
                pickups.push(at.saturating_duration_since(view));
            }
        }
        if let (Some(at), Some(from)) = (s.done, s.issued) {
            hops.push(at - start);
            commands.push(at - from);
            if let Some(appended) = s.appended {
                in_log.push(at.saturating_duration_since(appended));
            }
        }
    }
    println!("  from the start of the append to ({} hops):", hops.len());
    println!(
        "    event appended:             {}",
        percentiles(&mut appended)
    );
    println!(
        "    view committed:             {}",
        percentiles(&mut viewed)
    );
    println!(
        "    policy's command issued:    {}",
        percentiles(&mut issued)
    );
    println!("    command's event in the log: {}", percentiles(&mut hops));
    println!(
        "  from the event in the log (its append acknowledged) to the command's event in the log: {}  <- one hop (target p99 <= 10 ms)",
        percentiles(&mut in_log)
    );
    println!("  stages:");
    println!(
        "    view committed -> command issued (reactor: fetch, parked check, wait, view read): {}",
        percentiles(&mut pickups)
    );
    println!(
        "    command issued -> its event in the log (load, decide, append):                    {}",
        percentiles(&mut commands)
    );
}

async fn hop(scratch: &str) -> anyhow::Result<()> {
    let seconds = env_or("BENCH_LATENCY_SECS", 20);
    let total = (seconds * RATE) as usize;
    let slow = (SLOW_SECS * SLOW_RATE) as usize;
    let stack = TestStack::new().await;
    let meter = CpuMeter::new("BENCH_NATS_PID", Some(&database_of(&stack.database_url)));
    let context = stack.policy_context().await;
    let (board, parked, pool) = (
        context.board.clone(),
        context.parked.clone(),
        context.pool.clone(),
    );
    let stamps: Stamps = Arc::new(Mutex::new(vec![Stamp::default(); total + WARMUP + slow]));
    let executor = ChainExecutor {
        handler: CommandHandler::new(stack.log.clone(), 5),
        stamps: stamps.clone(),
    };
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(ferry_infra::policy::run::<Chain, _>(
        context,
        executor,
        shutdown.clone(),
    ));

    // Every commit of the view, as its runner reports it: (checkpoint, when).
    let done = CancellationToken::new();
    let observer = {
        let (board, done) = (board.clone(), done.clone());
        let mut changes = board.watch();
        tokio::spawn(async move {
            let mut commits: Vec<(u64, Instant)> = Vec::new();
            loop {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { break },
                    _ = done.cancelled() => break,
                }
                let now = Instant::now();
                let checkpoint = board.get(ReadyAccounts::NAME).map_or(0, |s| s.checkpoint);
                if commits.last().is_none_or(|(last, _)| checkpoint > *last) {
                    commits.push((checkpoint, now));
                }
            }
            commits
        })
    };

    let aggregates: Vec<_> = (0..CHAIN_AGGREGATES)
        .map(|_| AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()))
        .collect::<Result<_, _>>()?;
    let versions: Arc<Vec<AtomicU64>> =
        Arc::new((0..CHAIN_AGGREGATES).map(|_| AtomicU64::new(0)).collect());
    let log = &stack.log;
    let warmup = total..total + WARMUP;
    drive(log, &aggregates, &versions, &stamps, warmup.clone(), RATE).await?;
    let warmed = wait_for_hops(&stamps, warmup, Duration::from_secs(30)).await;
    anyhow::ensure!(
        warmed == WARMUP,
        "the chain did not warm up ({warmed}/{WARMUP})"
    );

    let cpu = meter.snapshot();
    let started = Instant::now();
    let failed = drive(log, &aggregates, &versions, &stamps, 0..total, RATE).await?;
    let sent_in = started.elapsed();
    let completed = wait_for_hops(&stamps, 0..total, Duration::from_secs(120)).await;
    let drained_in = started.elapsed();
    let cpu = meter.since(&cpu);

    // The same chain at a rate it keeps up with: a hop without a queue.
    let gentle = total + WARMUP..total + WARMUP + slow;
    let slow_failed = drive(
        log,
        &aggregates,
        &versions,
        &stamps,
        gentle.clone(),
        SLOW_RATE,
    )
    .await?;
    let slow_completed = wait_for_hops(&stamps, gentle.clone(), Duration::from_secs(60)).await;

    shutdown.cancel();
    running.await??;
    done.cancel();
    let commits = observer.await?;
    let stamps = stamps.lock().map(|s| s.clone()).unwrap_or_default();

    println!(
        "one hop at {RATE} events/s for {seconds} s on the durable server: {total} events sent in {:.1} s ({failed} appends failed); {completed} hops completed in {:.1} s = {:.0} hops/s",
        sent_in.as_secs_f64(),
        drained_in.as_secs_f64(),
        completed as f64 / drained_in.as_secs_f64()
    );
    print_hops(&stamps[..total], &commits);
    println!("  {cpu}");
    println!(
        "the same chain at {SLOW_RATE} events/s for {SLOW_SECS} s: {slow_completed} of {slow} hops completed ({slow_failed} appends failed)"
    );
    print_hops(&stamps[gentle], &commits);

    // The pieces of a reaction, one at a time, the chain stopped.
    let view = ViewReader::<ReadyAccounts>::new(pool.clone(), board);
    let keys: Vec<String> = aggregates.iter().map(|a| ready_key(&a.id)).collect();
    let traffic: Vec<AggregateRef> = aggregates
        .iter()
        .map(|a| AggregateRef::new(AggregateType::AccountTraffic, a.id.clone()))
        .collect::<Result<_, _>>()?;
    let subjects: Vec<String> = aggregates.iter().map(|a| log.subject(a)).collect();
    let history = log.load(&traffic[0]).await?.events.len();
    println!("  pieces of a reaction, {PIECES} one at a time, the chain stopped:");
    let parked_check = serially(PIECES, |i| {
        let (parked, subject) = (parked.clone(), subjects[i].clone());
        async move {
            parked.holds(Chain::NAME, &subject).await?;
            Ok(())
        }
    })
    .await?;
    println!("    parked check (PostgreSQL):         {parked_check}");
    let view_read = serially(PIECES, |i| {
        let (view, key) = (view.clone(), keys[i].clone());
        async move {
            view.entries(&[key]).await?;
            Ok(())
        }
    })
    .await?;
    println!("    view read (PostgreSQL):            {view_read}");
    let load = serially(PIECES, |i| {
        let (log, aggregate) = (log.clone(), traffic[i].clone());
        async move {
            log.load(&aggregate).await?;
            Ok(())
        }
    })
    .await?;
    println!("    load of the command's aggregate ({history} events, batched direct get): {load}");
    let stream = log
        .jetstream()
        .get_stream_no_info(&log.settings().stream)
        .await?;
    let direct = serially(PIECES, |i| {
        let (stream, subject) = (stream.clone(), log.subject(&traffic[i]));
        async move {
            let mut from = 1;
            loop {
                match stream
                    .direct_get_next_for_subject(subject.clone(), Some(from))
                    .await
                {
                    Ok(message) => from = message.sequence + 1,
                    Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    })
    .await?;
    println!("    the same events read by direct gets, one request per event: {direct}");
    let scratch_log = fresh_log(scratch).await?;
    let scratch_traffic: Vec<AggregateRef> = (0..PIECES)
        .map(|_| AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()))
        .collect::<Result<_, _>>()?;
    for aggregate in &scratch_traffic {
        let mut version = 0;
        for i in 0..history {
            version = scratch_log
                .append(
                    aggregate,
                    version,
                    &[bench_event(aggregate, i as u64)],
                    &i.to_string(),
                )
                .await?
                .version;
        }
    }
    let scratch_load = serially(PIECES, |i| {
        let (log, aggregate) = (scratch_log.clone(), scratch_traffic[i].clone());
        async move {
            log.load(&aggregate).await?;
            Ok(())
        }
    })
    .await;
    drop_log(&scratch_log).await;
    println!(
        "    the same load on the scratch server (no fsync): {}",
        scratch_load?
    );
    let append = serially(PIECES, |_| {
        let log = log.clone();
        async move {
            let aggregate = ferry_tests::new_migration();
            log.append(&aggregate, 0, &[bench_event(&aggregate, 0)], "piece")
                .await?;
            Ok(())
        }
    })
    .await?;
    println!("    append of one event (fsync):       {append}");
    Ok(())
}

// ---------------------------------------------------------------- 2. rebuild

/// A projection timed: how long its `apply` took in all, and over how many batches.
struct Timed<P> {
    inner: P,
    nanos: AtomicU64,
    batches: AtomicU64,
}

impl<P> Timed<P> {
    fn new(inner: P) -> Self {
        Self {
            inner,
            nanos: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    fn applying(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.nanos.load(Ordering::SeqCst)),
            self.batches.load(Ordering::SeqCst),
        )
    }
}

impl<P: Projection> Projection for Timed<P> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        self.inner.aggregate_types()
    }

    fn schema(&self) -> &'static str {
        self.inner.schema()
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [ferry_infra::event_log::Recorded],
    ) -> Result<(), ApplyError> {
        let started = Instant::now();
        let applied = self.inner.apply(tx, events).await;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
        self.batches.fetch_add(1, Ordering::SeqCst);
        applied
    }
}

/// A projection that writes nothing: a rebuild of it is the rebuild's own cost (replay,
/// decoding, one transaction and checkpoint per batch).
struct Nothing;

impl Projection for Nothing {
    fn name(&self) -> &'static str {
        "bench_nothing"
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[]
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE nothing (x int);"
    }

    async fn apply<'a>(
        &'a self,
        _tx: &'a tokio_postgres::Transaction<'a>,
        _events: &'a [ferry_infra::event_log::Recorded],
    ) -> Result<(), ApplyError> {
        Ok(())
    }
}

async fn rebuild_vs_replay(url: &str) -> anyhow::Result<()> {
    let total = env_or("BENCH_REBUILD_EVENTS", 1_000_000);
    let log = common::kept_log(url, total).await?;
    let stack = TestStack::new().await;
    let meter = CpuMeter::new(
        "BENCH_SCRATCH_NATS_PID",
        Some(&database_of(&stack.database_url)),
    );
    let batch = env_or(
        "BENCH_REBUILD_BATCH",
        RunnerSettings::default().rebuild_batch_size as u64,
    ) as usize;
    println!(
        "rebuild vs raw replay on {} ({url}, {} events), batches of {batch}:",
        log.settings().stream,
        log.last_sequence().await?
    );
    let mut ratios = Vec::new();
    for round in 1..=3 {
        let cpu = meter.snapshot();
        let started = Instant::now();
        let mut replay = log.replay(1).await?;
        let mut replayed = 0u64;
        while let Some(event) = replay.next().await {
            event?;
            replayed += 1;
        }
        let replay_rate = replayed as f64 / started.elapsed().as_secs_f64();
        println!(
            "  round {round}: replay and decode: {replayed} events at {replay_rate:>7.0} events/s; {}",
            meter.since(&cpu)
        );

        let cpu = meter.snapshot();
        let nothing = rebuild::rebuild(&Nothing, &log, &stack.pool, batch).await?;
        println!(
            "           rebuild writing nothing:       {:>7.0} events/s ({:.0} % of replay); {}",
            nothing.rate(),
            100.0 * nothing.rate() / replay_rate,
            meter.since(&cpu)
        );

        let index = Timed::new(LogIndex);
        let cpu = meter.snapshot();
        let report = rebuild::rebuild(&index, &log, &stack.pool, batch).await?;
        let (applying, batches) = index.applying();
        let ratio = report.rate() / replay_rate;
        ratios.push(ratio);
        println!(
            "           rebuild of the log index:      {:>7.0} events/s ({:.0} % of replay) in {:.2} s, of which {:.2} s in the projection's apply ({batches} batches); {}",
            report.rate(),
            100.0 * ratio,
            report.elapsed.as_secs_f64(),
            applying.as_secs_f64(),
            meter.since(&cpu)
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  rebuild / replay, median of 3 rounds: {:.0} % (target >= 80 %)",
        100.0 * ratios[ratios.len() / 2]
    );
    Ok(())
}

// ---------------------------------------------------------------- 3. batches

/// `commands` 3-event appends spread over `writers` writers, each on an aggregate of
/// its own: events per second, and the latency of one command.
async fn batch_appends(
    log: &EventLog,
    writers: usize,
    commands: usize,
) -> anyhow::Result<(f64, String)> {
    let per_writer = commands.div_ceil(writers);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                let aggregate = ferry_tests::new_migration();
                let mut version = 0;
                let mut latencies = Vec::with_capacity(per_writer);
                for c in 0..per_writer {
                    let events: Vec<Envelope> = (0..3)
                        .map(|i| bench_event(&aggregate, (c * 3 + i) as u64))
                        .collect();
                    let began = Instant::now();
                    version = log
                        .append(&aggregate, version, &events, &Uuid::now_v7().to_string())
                        .await?
                        .version;
                    latencies.push(began.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = (latencies.len() * 3) as f64 / started.elapsed().as_secs_f64();
    Ok((rate, percentiles(&mut latencies)))
}

/// `batches` 3-message atomic batches published without ferry's code, one at a time,
/// over 100 subjects of a fresh stream stored in `storage` on the server at `url`:
/// the server's own cost of a batch. Events per second, and the latency of one batch.
async fn raw_batches(
    url: &str,
    storage: StorageType,
    batches: usize,
) -> anyhow::Result<(f64, String)> {
    let client = common::setup_client(url).await?;
    let js = async_nats::jetstream::new(client.clone());
    let id = Uuid::now_v7().simple().to_string();
    let name = format!("BENCH_RAW_{id}");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![format!("r{id}.>")],
        storage,
        allow_atomic_publish: true,
        ..Default::default()
    })
    .await?;
    let aggregate = ferry_tests::new_migration();
    let body = Bytes::from(ferry_events::encode(&bench_event(&aggregate, 0))?);
    let mut latencies = Vec::with_capacity(batches);
    let started = Instant::now();
    let published: anyhow::Result<()> = async {
        for b in 0..batches {
            let subject = format!("r{id}.s{}", b % 100);
            let batch = Uuid::now_v7().simple().to_string();
            let began = Instant::now();
            for i in 1..=3 {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(headers::NATS_BATCH_ID, batch.as_str());
                headers.insert(headers::NATS_BATCH_SEQUENCE, i.to_string().as_str());
                if i == 2 {
                    client
                        .publish_with_headers(subject.clone(), headers, body.clone())
                        .await?;
                    continue;
                }
                if i == 3 {
                    headers.insert(headers::NATS_BATCH_COMMIT, "1");
                }
                let reply = client
                    .request_with_headers(subject.clone(), headers, body.clone())
                    .await?;
                let reply = String::from_utf8_lossy(&reply.payload);
                anyhow::ensure!(!reply.contains("\"error\""), "batch refused: {reply}");
            }
            latencies.push(began.elapsed());
        }
        Ok(())
    }
    .await;
    let rate = (latencies.len() * 3) as f64 / started.elapsed().as_secs_f64();
    let _ = js.delete_stream(&name).await;
    published?;
    Ok((rate, percentiles(&mut latencies)))
}

async fn batches(url: &str) -> anyhow::Result<()> {
    let total = env_or("BENCH_EVENTS", 50_000) as usize;
    let batch_total = env_or("BENCH_BATCH_EVENTS", 50_000) as usize;
    let meter = CpuMeter::new("BENCH_SCRATCH_NATS_PID", None);
    let aggregates: Vec<_> = (0..1000)
        .map(|_| AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()))
        .collect::<Result<_, _>>()?;
    println!("multi-event commands on the scratch server ({url}), 1,000 aggregates:");

    let log = fresh_log(url).await?;
    let cpu = meter.snapshot();
    let raw = raw_publish(&log, &aggregates, total).await;
    let raw_cpu = meter.since(&cpu);
    drop_log(&log).await;
    let raw = raw?;
    println!(
        "  raw JetStream publish with message id, {total} events: {raw:>7.0} events/s; {raw_cpu}"
    );

    let log = fresh_log(url).await?;
    let cpu = meter.snapshot();
    let one = occ_append(&log, &aggregates, total, 1).await;
    let one_cpu = meter.since(&cpu);
    drop_log(&log).await;
    let one = one?;
    println!(
        "  append, 1 event per command, {total} events: {one:>7.0} events/s ({:.0} % of raw); {one_cpu}",
        100.0 * one / raw
    );

    let log = fresh_log(url).await?;
    let cpu = meter.snapshot();
    let three = occ_append(&log, &aggregates, batch_total, 3).await;
    let three_cpu = meter.since(&cpu);
    drop_log(&log).await;
    let three = three?;
    println!(
        "  append, 3 events per command (one message each), {batch_total} events: {three:>7.0} events/s ({:.1} % of raw, target >= 30 %); {three_cpu}",
        100.0 * three / raw
    );

    for writers in [1, 32] {
        let log = fresh_log(url).await?;
        let cpu = meter.snapshot();
        let measured = batch_appends(&log, writers, 300).await;
        let cpu = meter.since(&cpu);
        drop_log(&log).await;
        let (rate, latency) = measured?;
        println!(
            "  3-event commands from {writers:>2} writer(s): {rate:>6.0} events/s, one command {latency}; {cpu}"
        );
    }
    for (storage, label) in [(StorageType::File, "file"), (StorageType::Memory, "memory")] {
        let cpu = meter.snapshot();
        let (rate, latency) = raw_batches(url, storage, 300).await?;
        println!(
            "  raw 3-message atomic batches (no ferry code), one at a time, {label} stream: {rate:>6.0} events/s, one batch {latency}; {}",
            meter.since(&cpu)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "hop,rebuild,batches".into());
    let scratch = std::env::var("BENCH_SCRATCH_NATS_URL")
        .map_err(|_| anyhow::anyhow!("BENCH_SCRATCH_NATS_URL unset: run through scripts/bench"))?;
    for part in parts.split(',').map(str::trim) {
        match part {
            "hop" => hop(&scratch).await?,
            "rebuild" => rebuild_vs_replay(&scratch).await?,
            "batches" => batches(&scratch).await?,
            other => anyhow::bail!("unknown part {other}: hop, rebuild or batches"),
        }
    }
    Ok(())
}
