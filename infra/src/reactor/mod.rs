//! Reactors: how a service turns events of the log (its own or other services') into
//! its own commands.
//!
//! A [`Reactor`] reads a durable consumer: its position survives restarts, and every
//! instance of the service competes for its messages. Within one instance the events
//! are handled one at a time, in log order ([`run`]), in lanes (one migration's in
//! order, migrations side by side: [`run_in_lanes`]) or all independently
//! ([`run_concurrently`]); each is acknowledged once handled. A
//! transient failure (the log unavailable, contention) is retried, with backoff, until
//! it succeeds or the process stops: an event is never skipped because a dependency
//! was down. A failure that retrying at once cannot fix is **parked**
//! ([`crate::policy::parked`]): recorded with its sequence, event and error, visible,
//! retried later or when support asks, and the later events of the same migration
//! (correlation) wait behind it; it is never passed over. An unacknowledged event is redelivered,
//! so reactions must be idempotent: derive command ids with [`reaction_id`] and let
//! the deciders turn stale commands into no-ops or refusals.
//!
//! Most reactors are a policy over a local view ([`crate::policy::PolicyReactor`]).
//!
//! This module emits and consumes no event type of its own.

use crate::backoff::{Backoff, sleep_or_stop};
use crate::command::{HandleError, Handled};
use crate::event_log::{EventLog, ReadError, Recorded};
use crate::policy::parked::{ParkedEvent, ParkedReactions};
use async_nats::jetstream::AckKind;
use deliveries::Deliveries;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod deliveries;
mod lanes;

pub use ferry_core::reaction_id;
pub use lanes::run_in_lanes;

/// A service's reaction to events of the log.
pub trait Reactor: Send + Sync + 'static {
    /// The durable consumer's name, unique in the stream, e.g. `accounts_reactor`.
    fn name(&self) -> &'static str;

    /// The subjects it reads (see [`EventLog::type_filter`]).
    fn filters(&self, log: &EventLog) -> Vec<String>;

    /// Handles one event. `Ok` once handled (or found not to concern it).
    fn react<'a>(
        &'a self,
        event: &'a Recorded,
    ) -> impl Future<Output = Result<(), ReactionError>> + Send + 'a;

    /// The lane of `event` when reacting in lanes ([`run_in_lanes`]): events of one
    /// lane are handled one at a time, in log order. By default, its process (its
    /// correlation).
    fn lane(&self, event: &Recorded) -> String {
        event.envelope.correlation_id.to_string()
    }

    /// The process of `event`: a parked reaction holds back the later events of its
    /// process, so that a process's order is kept. By default, its correlation (the
    /// migration).
    fn process(&self, event: &Recorded) -> String {
        event.envelope.correlation_id.to_string()
    }

    /// Handles a parked event again, later than it was appended: a reaction that
    /// reads a view first waits until the view has caught up with `log`, so that it
    /// sees what the retries before it caused.
    fn react_again<'a>(
        &'a self,
        event: &'a Recorded,
        log: &'a EventLog,
    ) -> impl Future<Output = Result<(), ReactionError>> + Send + 'a {
        let _ = log;
        self.react(event)
    }
}

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    /// Worth retrying: the log or a database was unavailable, or writers kept racing.
    #[error("{0}")]
    Transient(String),
    /// Retrying at once cannot help (a bug, a fact missing, a malformed event): the
    /// event is parked, recorded and retried later; never passed over.
    #[error("{0}")]
    Failed(String),
}

impl From<ReadError> for ReactionError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Decode { .. } | ReadError::Corrupt { .. } => {
                ReactionError::Failed(e.to_string())
            }
            other => ReactionError::Transient(other.to_string()),
        }
    }
}

/// What a command issued by a reaction left in the log: the aggregate type it
/// appended to and the aggregate's version after it. A policy whose view folds that
/// type waits for the version before its next reaction in the same lane, so that it
/// decides on a view that holds its own effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    /// The aggregate type the command's events belong to.
    pub aggregate_type: ferry_events::AggregateType,
    /// The aggregate's version once they are in the log.
    pub version: u64,
}

/// Turns the outcome of a command issued by a reactor into the reactor's outcome: a
/// refusal means the event asked for something no longer possible or already done,
/// which is logged and is not an error of the reaction. What the command appended (or
/// had appended on an earlier attempt) is its [`Effect`]: none when nothing was.
pub fn command_outcome<S, R>(
    outcome: Result<Handled<S>, HandleError<R>>,
) -> Result<Vec<Effect>, ReactionError>
where
    R: std::error::Error + 'static,
{
    match outcome {
        Ok(handled) => Ok(handled
            .events
            .first()
            .map(|event| Effect {
                aggregate_type: event.aggregate_type,
                version: handled.version,
            })
            .into_iter()
            .collect()),
        Err(HandleError::Rejected(refusal)) => {
            tracing::info!(%refusal, "reaction refused by the decider; nothing to do");
            Ok(Vec::new())
        }
        Err(HandleError::InvalidAggregate(e)) => Err(ReactionError::Failed(e.to_string())),
        // The service's NATS user may not write there: parked with the reason (retried
        // slowly, shown to support), not retried as an outage.
        Err(HandleError::Append(e @ crate::event_log::AppendError::Forbidden { .. })) => {
            Err(ReactionError::Failed(e.to_string()))
        }
        Err(e) => Err(ReactionError::Transient(e.to_string())),
    }
}

/// How a reactor reads.
#[derive(Debug, Clone)]
pub struct ReactorSettings {
    /// Messages fetched at once.
    pub batch: usize,
    /// How long an unacknowledged message waits before redelivery. A message in hand
    /// is kept by heartbeats however long its handling takes, so this is how soon the
    /// messages a process held come back once it died.
    pub ack_wait: Duration,
    /// Delays between retries of a transient failure.
    pub backoff: Backoff,
    /// Longest wait between two retries of a parked reaction without being asked
    /// (the wait starts at a second and doubles with each attempt).
    pub parked_retry: Duration,
}

impl Default for ReactorSettings {
    fn default() -> Self {
        Self {
            batch: 100,
            ack_wait: Duration::from_secs(60),
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(10)),
            parked_retry: Duration::from_secs(300),
        }
    }
}

/// The reactor could not run at all.
#[derive(Debug, thiserror::Error)]
#[error("reactor {name}: {reason}")]
pub struct ReactorError {
    /// The reactor.
    pub name: &'static str,
    /// Why.
    pub reason: String,
}

/// Where a reactor parks what it cannot handle, and the lock that keeps its retries
/// of parked events from running beside its handling of new ones.
#[derive(Debug, Clone)]
pub struct Parking {
    parked: ParkedReactions,
    /// Handling new events takes it shared (lanes handle theirs side by side);
    /// retrying parked ones takes it alone.
    turn: Arc<tokio::sync::RwLock<()>>,
}

impl Parking {
    /// Parking in `parked`.
    pub fn new(parked: ParkedReactions) -> Self {
        Self {
            parked,
            turn: Arc::default(),
        }
    }
}

/// Runs `reactor` until `shutdown`; an event in progress is finished or, if it is
/// being retried, left unacknowledged for redelivery. Parked events are retried
/// beside it, never at the same time as a new event is handled.
pub async fn run<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parked: ParkedReactions,
    settings: ReactorSettings,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let retries = (
        reactor.clone(),
        log.clone(),
        settings.clone(),
        shutdown.clone(),
    );
    with_retries(retries, parked, |parking| {
        consume(reactor, log, parking, settings, shutdown)
    })
    .await
}

/// Runs a reactor's consumption (given its parking) beside the retries of its
/// parked events, until both stop.
async fn with_retries<R: Reactor, F>(
    (reactor, log, settings, shutdown): (Arc<R>, EventLog, ReactorSettings, CancellationToken),
    parked: ParkedReactions,
    consume: impl FnOnce(Parking) -> F,
) -> Result<(), ReactorError>
where
    F: Future<Output = Result<(), ReactorError>>,
{
    let parking = Parking::new(parked);
    let retries = retry_parked(reactor, log, parking.clone(), settings, shutdown);
    let (consumed, ()) = tokio::join!(consume(parking), retries);
    consumed
}

async fn consume<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parking: Parking,
    settings: ReactorSettings,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let name = reactor.name();
    let mut deliveries =
        Deliveries::open(reactor.as_ref(), &log, settings.batch, &settings, &shutdown).await?;
    tracing::info!(reactor = name, "reacting");
    while let Some(message) = deliveries.next().await {
        let handled = {
            let _turn = parking.turn.read().await;
            let events = Recorded::from_message(&message);
            handle(
                reactor.as_ref(),
                &message,
                events,
                &parking,
                &settings,
                &shutdown,
            )
            .await
        };
        settle(name, &message, handled).await;
        if !handled {
            deliveries.give_back().await;
            break;
        }
    }
    tracing::info!(reactor = name, "stopped");
    Ok(())
}

/// Runs `reactor` until `shutdown` like [`run`], but handles up to `max_in_flight`
/// events at once, in no particular order: for reactions that are long and
/// independent of each other (a data copy per event), where one must not wait for
/// another. Each event is acknowledged once its own reaction is done; on `shutdown` no
/// new event is taken, and the reactions in progress are awaited (they see the same
/// token and give their event back unhandled for redelivery). A failed reaction is
/// parked as with [`run`]; its retries do not wait for the reactions in progress
/// (they are independent of each other by nature).
pub async fn run_concurrently<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parked: ParkedReactions,
    settings: ReactorSettings,
    max_in_flight: usize,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let retries = (
        reactor.clone(),
        log.clone(),
        settings.clone(),
        shutdown.clone(),
    );
    with_retries(retries, parked, |parking| {
        consume_concurrently(reactor, log, parking, settings, max_in_flight, shutdown)
    })
    .await
}

async fn consume_concurrently<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parking: Parking,
    settings: ReactorSettings,
    max_in_flight: usize,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let name = reactor.name();
    // One message per fetch, taken only once a slot is free: nothing waits in hand.
    let mut deliveries = Deliveries::open(reactor.as_ref(), &log, 1, &settings, &shutdown).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let mut in_flight = tokio::task::JoinSet::new();
    tracing::info!(reactor = name, max_in_flight, "reacting concurrently");
    loop {
        while in_flight.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let Some(message) = deliveries.next().await else {
            break;
        };
        let (reactor, settings, shutdown) = (reactor.clone(), settings.clone(), shutdown.clone());
        let parking = parking.clone();
        in_flight.spawn(async move {
            let _slot = slot;
            let events = Recorded::from_message(&message);
            let handled = handle(
                reactor.as_ref(),
                &message,
                events,
                &parking,
                &settings,
                &shutdown,
            )
            .await;
            settle(reactor.name(), &message, handled).await;
        });
    }
    while in_flight.join_next().await.is_some() {}
    tracing::info!(reactor = name, "stopped");
    Ok(())
}

/// Acknowledges a handled message, gives back one that was not (stopping).
async fn settle(name: &str, message: &async_nats::jetstream::Message, handled: bool) {
    if !handled {
        message.ack_with(AckKind::Nak(None)).await.ok();
    } else if let Err(e) = message.ack().await {
        // Redelivered later; reactions are idempotent.
        tracing::warn!(reactor = name, error = %e, "cannot acknowledge");
    }
}

/// Handles one message, retrying transient failures and parking the others. False
/// when stopped meanwhile (the message is then given back).
///
/// A message carries the events of one command, handled in order. When one of them
/// is parked, the message is (under its sequence) and the rest of its events wait
/// with it: a retry reacts to the whole message again, in order, the events already
/// handled being idempotent.
///
/// The message is kept in hand ([`keeping_message`]) for the whole handling,
/// reactions, retries and their backoff, and parking alike: only a process that died
/// stops telling the server, so a short `ack_wait` brings a dead process's messages
/// back soon without taking a live one's work away.
async fn handle<R: Reactor>(
    reactor: &R,
    message: &async_nats::jetstream::Message,
    events: Result<Vec<Recorded>, ReadError>,
    parking: &Parking,
    settings: &ReactorSettings,
    shutdown: &CancellationToken,
) -> bool {
    let handled = handle_in_hand(reactor, message, events, parking, settings, shutdown);
    keeping_message(handled, message, settings.ack_wait).await
}

async fn handle_in_hand<R: Reactor>(
    reactor: &R,
    message: &async_nats::jetstream::Message,
    events: Result<Vec<Recorded>, ReadError>,
    parking: &Parking,
    settings: &ReactorSettings,
    shutdown: &CancellationToken,
) -> bool {
    let name = reactor.name();
    let subject = message.subject.to_string();
    let events = match events {
        Ok(events) => events,
        Err(e) => {
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let error = format!("cannot read the event: {e}");
            let at = ParkedEvent {
                sequence,
                subject: &subject,
                process: &subject,
                recorded: None,
            };
            return park(name, at, &error, false, parking, settings, shutdown).await;
        }
    };
    for recorded in &events {
        match handle_event(reactor, recorded, message, parking, settings, shutdown).await {
            EventOutcome::Handled => {}
            EventOutcome::Parked => return true,
            EventOutcome::Stopped => return false,
        }
    }
    true
}

/// What became of one event of a message.
enum EventOutcome {
    Handled,
    /// Parked with its message: the message's later events wait with it.
    Parked,
    /// Stopped before it was handled or parked.
    Stopped,
}

impl From<bool> for EventOutcome {
    /// The outcome of [`park`]: parked, or stopped first.
    fn from(parked: bool) -> Self {
        if parked { Self::Parked } else { Self::Stopped }
    }
}

/// Handles one event of `message`: waits behind an earlier parked event of its
/// process, retries transient failures, parks the others.
async fn handle_event<R: Reactor>(
    reactor: &R,
    recorded: &Recorded,
    message: &async_nats::jetstream::Message,
    parking: &Parking,
    settings: &ReactorSettings,
    shutdown: &CancellationToken,
) -> EventOutcome {
    let name = reactor.name();
    let subject = message.subject.as_str();
    let span = tracing::info_span!(
        "reaction",
        reactor = name,
        event_type = recorded.envelope.event_type(),
        aggregate_id = %recorded.envelope.aggregate_id,
        sequence = recorded.sequence,
    );
    recorded.link_span(&span);
    // Keep the process's order: behind an earlier parked event of the same migration,
    // this one waits too.
    let process = reactor.process(recorded);
    let at = ParkedEvent {
        sequence: recorded.sequence,
        subject,
        process: &process,
        recorded: Some(recorded),
    };
    let mut attempt = 0u32;
    let held = loop {
        match parking.parked.holds(name, &process).await {
            Ok(held) => break held,
            Err(e) => {
                attempt += 1;
                tracing::warn!(parent: &span, error = %e, "cannot read the parked reactions; retrying");
                if !settings.backoff.wait(attempt, shutdown).await {
                    return EventOutcome::Stopped;
                }
            }
        }
    };
    if let Some(first) = held {
        let error = format!("waits behind the parked event at sequence {first} of this migration");
        return park(name, at, &error, true, parking, settings, shutdown)
            .instrument(span)
            .await
            .into();
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match reactor.react(recorded).instrument(span.clone()).await {
            Ok(()) => {
                crate::metrics::global().reactions.record(name, "handled");
                return EventOutcome::Handled;
            }
            Err(ReactionError::Failed(reason)) => {
                return park(name, at, &reason, false, parking, settings, shutdown)
                    .instrument(span)
                    .await
                    .into();
            }
            Err(ReactionError::Transient(reason)) => {
                crate::metrics::global().reactions.record(name, "retried");
                tracing::warn!(parent: &span, %reason, attempt, "reaction failed; retrying");
                if !settings.backoff.wait(attempt, shutdown).await {
                    return EventOutcome::Stopped;
                }
            }
        }
    }
}

/// Parks an event (retrying while the database is down). True once parked, so
/// that the message can be acknowledged; false when stopped first.
async fn park(
    name: &str,
    at: ParkedEvent<'_>,
    error: &str,
    held: bool,
    parking: &Parking,
    settings: &ReactorSettings,
    shutdown: &CancellationToken,
) -> bool {
    let ParkedEvent {
        sequence, subject, ..
    } = at;
    let mut attempt = 0u32;
    loop {
        match parking.parked.park(name, at, error, held).await {
            Ok(()) => {
                crate::metrics::global().reactions.record_parked(name);
                if held {
                    tracing::warn!(reactor = name, sequence, subject, %error, "reaction parked behind an earlier one");
                } else {
                    tracing::error!(reactor = name, sequence, subject, %error, "reaction failed; parked, to be retried");
                }
                return true;
            }
            Err(e) => {
                attempt += 1;
                tracing::warn!(reactor = name, sequence, error = %e, "cannot park the reaction; retrying");
                if !settings.backoff.wait(attempt, shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Retries `reactor`'s parked events, per process (migration) in log order, stopping at the
/// first that fails again: the head of each aggregate after a backoff that grows
/// with its attempts (1 s, 2 s, 4 s... up to `parked_retry`: a fact that was missing
/// often arrives within seconds), or at once when support asks; the events held
/// behind it right after it succeeds.
async fn retry_parked<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parking: Parking,
    settings: ReactorSettings,
    shutdown: CancellationToken,
) {
    let name = reactor.name();
    let tick = Duration::from_secs(1).min(settings.parked_retry);
    let backoff = Backoff::new(tick, settings.parked_retry);
    loop {
        if !sleep_or_stop(tick, &shutdown).await {
            return;
        }
        let asked = parking
            .parked
            .take_retry_request(name)
            .await
            .unwrap_or(false);
        let parked = match parking.parked.list(Some(name)).await {
            Ok(parked) => parked,
            Err(e) => {
                tracing::warn!(reactor = name, error = %e, "cannot list the parked reactions");
                continue;
            }
        };
        if parked.is_empty() {
            continue;
        }
        let _turn = parking.turn.write().await;
        let now = chrono::Utc::now();
        let mut stuck: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut heads: std::collections::HashSet<String> = std::collections::HashSet::new();
        for entry in parked {
            if shutdown.is_cancelled() {
                return;
            }
            if stuck.contains(&entry.process) {
                continue;
            }
            if heads.insert(entry.process.clone()) && !asked {
                let wait = chrono::Duration::from_std(backoff.delay(entry.attempts))
                    .unwrap_or(chrono::Duration::MAX);
                if now < entry.last_attempt_at + wait {
                    stuck.insert(entry.process);
                    continue;
                }
            }
            match retry_one(reactor.as_ref(), &log, &entry.subject, entry.sequence).await {
                Ok(()) => {
                    tracing::info!(
                        reactor = name,
                        sequence = entry.sequence,
                        "parked reaction handled on retry"
                    );
                    crate::metrics::global().reactions.record(name, "handled");
                    if let Err(e) = parking.parked.resolved(name, entry.sequence).await {
                        tracing::warn!(reactor = name, error = %e, "cannot unpark a handled reaction; it will be retried (idempotent)");
                        stuck.insert(entry.process);
                    }
                }
                Err(error) => {
                    let error = error.to_string();
                    if let Err(e) = parking
                        .parked
                        .park(
                            name,
                            ParkedEvent {
                                sequence: entry.sequence,
                                subject: &entry.subject,
                                process: &entry.process,
                                recorded: None,
                            },
                            &error,
                            false,
                        )
                        .await
                    {
                        tracing::warn!(reactor = name, error = %e, "cannot record a failed retry");
                    }
                    stuck.insert(entry.process);
                }
            }
        }
    }
}

/// Reads the message at `sequence` again and reacts to its events, in order.
async fn retry_one<R: Reactor>(
    reactor: &R,
    log: &EventLog,
    subject: &str,
    sequence: u64,
) -> Result<(), ReactionError> {
    let events = log
        .replay_filtered(sequence, vec![subject.to_owned()])
        .await?;
    let mut events = std::pin::pin!(events);
    let mut found = false;
    while let Some(recorded) = events.next().await {
        let recorded = recorded?;
        if recorded.sequence != sequence {
            break;
        }
        found = true;
        reactor.react_again(&recorded, log).await?;
    }
    if found {
        Ok(())
    } else {
        Err(ReactionError::Failed(format!(
            "the event at sequence {sequence} is no longer in the log"
        )))
    }
}

/// Awaits `work`, telling the server every third of `ack_wait` that `message` is still
/// in hand (`AckProgress` restarts its `ack_wait`): a reaction may copy data for hours,
/// and a message may wait its turn in its lane; neither must be redelivered meanwhile.
/// A third, not a half: one lost or late heartbeat does not hand the message over.
async fn keeping_message<T>(
    work: impl Future<Output = T>,
    message: &async_nats::jetstream::Message,
    ack_wait: Duration,
) -> T {
    tokio::pin!(work);
    let mut heartbeat = tokio::time::interval((ack_wait / 3).max(Duration::from_millis(100)));
    heartbeat.tick().await;
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            _ = heartbeat.tick() => {
                message.ack_with(AckKind::Progress).await.ok();
            }
        }
    }
}
