//! Reactors: how a service turns events of the log (its own or other services') into
//! its own commands.
//!
//! A [`Reactor`] reads a durable consumer: its position survives restarts, and every
//! instance of the service competes for its messages. Within one instance the events
//! are handled one at a time, in log order; each is acknowledged once handled. A
//! transient failure (the log unavailable, contention) is retried, with backoff, until
//! it succeeds or the process stops: an event is never skipped because a dependency
//! was down. An unacknowledged event is redelivered, so reactions must be idempotent:
//! derive command ids with [`reaction_id`] and let the deciders turn stale commands
//! into no-ops or refusals.
//!
//! This module emits and consumes no event type of its own.

use crate::command::{HandleError, Handled};
use crate::event_log::{EventLog, ReadError, Recorded};
use async_nats::jetstream::AckKind;
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

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
}

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum ReactionError {
    /// Worth retrying: the log or a database was unavailable, or writers kept racing.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (a bug or a malformed event): logged, counted, and passed.
    #[error("{0}")]
    Failed(String),
}

impl From<ReadError> for ReactionError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Decode { .. } => ReactionError::Failed(e.to_string()),
            other => ReactionError::Transient(other.to_string()),
        }
    }
}

/// The id of the command a reactor issues in response to an event: the same event
/// always gives the same command id, so a redelivered event is not acted on twice.
pub fn reaction_id(reactor: &str, event_id: Uuid, purpose: &str) -> Uuid {
    Uuid::new_v5(&event_id, format!("{reactor}/{purpose}").as_bytes())
}

/// Turns the outcome of a command issued by a reactor into the reactor's outcome: a
/// refusal means the event asked for something no longer possible or already done,
/// which is logged and is not an error of the reaction.
pub fn command_outcome<S, R>(
    outcome: Result<Handled<S>, HandleError<R>>,
) -> Result<(), ReactionError>
where
    R: std::error::Error + 'static,
{
    match outcome {
        Ok(_) => Ok(()),
        Err(HandleError::Rejected(refusal)) => {
            tracing::info!(%refusal, "reaction refused by the decider; nothing to do");
            Ok(())
        }
        Err(HandleError::InvalidAggregate(e)) => Err(ReactionError::Failed(e.to_string())),
        Err(e) => Err(ReactionError::Transient(e.to_string())),
    }
}

/// How a reactor reads.
#[derive(Debug, Clone)]
pub struct ReactorSettings {
    /// Messages fetched at once.
    pub batch: usize,
    /// How long an unacknowledged message waits before redelivery.
    pub ack_wait: Duration,
    /// First delay before retrying a transient failure; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest delay between retries.
    pub max_backoff: Duration,
}

impl Default for ReactorSettings {
    fn default() -> Self {
        Self {
            batch: 100,
            ack_wait: Duration::from_secs(60),
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(10),
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

/// Runs `reactor` until `shutdown`; an event in progress is finished or, if it is
/// being retried, left unacknowledged for redelivery.
pub async fn run<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    settings: ReactorSettings,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let name = reactor.name();
    let fail = |reason: String| ReactorError { name, reason };
    let consumer = log
        .durable_consumer(name, reactor.filters(&log), settings.ack_wait)
        .await
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(reactor = name, "reacting");
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let Some(mut messages) = fetch(
            name,
            &consumer,
            settings.batch,
            &settings,
            &mut failures,
            &shutdown,
        )
        .await
        else {
            continue;
        };
        while let Some(message) = tokio::select! {
            _ = shutdown.cancelled() => { give_back(&mut messages).await; None }
            next = messages.next() => next,
        } {
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(reactor = name, error = %e, "delivery interrupted");
                    break;
                }
            };
            if !handle(reactor.as_ref(), &message, &settings, &shutdown).await {
                message.ack_with(AckKind::Nak(None)).await.ok();
                give_back(&mut messages).await;
                break;
            }
            if let Err(e) = message.ack().await {
                // Redelivered later; reactions are idempotent.
                tracing::warn!(reactor = name, error = %e, "cannot acknowledge");
            }
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
/// token and give their event back unhandled for redelivery).
pub async fn run_concurrently<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    settings: ReactorSettings,
    max_in_flight: usize,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let name = reactor.name();
    let fail = |reason: String| ReactorError { name, reason };
    let consumer = log
        .durable_consumer(name, reactor.filters(&log), settings.ack_wait)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let mut in_flight = tokio::task::JoinSet::new();
    tracing::info!(reactor = name, max_in_flight, "reacting concurrently");
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        while in_flight.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let Some(mut messages) =
            fetch(name, &consumer, 1, &settings, &mut failures, &shutdown).await
        else {
            continue;
        };
        let message = tokio::select! {
            _ = shutdown.cancelled() => { give_back(&mut messages).await; break }
            next = messages.next() => next,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                tracing::warn!(reactor = name, error = %e, "delivery interrupted");
                continue;
            }
            None => continue,
        };
        let (reactor, settings, shutdown) = (reactor.clone(), settings.clone(), shutdown.clone());
        in_flight.spawn(async move {
            let _slot = slot;
            if handle(reactor.as_ref(), &message, &settings, &shutdown).await {
                if let Err(e) = message.ack().await {
                    tracing::warn!(reactor = reactor.name(), error = %e, "cannot acknowledge");
                }
            } else {
                message.ack_with(AckKind::Nak(None)).await.ok();
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
    tracing::info!(reactor = name, "stopped");
    Ok(())
}

/// Fetches up to `batch` messages (waiting a second at most). `None` when stopped, or
/// when the fetch failed: then after a backoff that grows with consecutive `failures`.
async fn fetch(
    name: &str,
    consumer: &async_nats::jetstream::consumer::PullConsumer,
    batch: usize,
    settings: &ReactorSettings,
    failures: &mut u32,
    shutdown: &CancellationToken,
) -> Option<async_nats::jetstream::consumer::pull::Batch> {
    let fetched = consumer
        .fetch()
        .max_messages(batch)
        .expires(Duration::from_secs(1))
        .messages();
    tokio::select! {
        _ = shutdown.cancelled() => None,
        fetched = fetched => match fetched {
            Ok(messages) => {
                *failures = 0;
                Some(messages)
            }
            Err(e) => {
                *failures += 1;
                tracing::warn!(reactor = name, error = %e, "cannot fetch; retrying");
                sleep_or_stop(backoff(settings, *failures), shutdown).await;
                None
            }
        },
    }
}

/// Gives back, unhandled, the messages of a batch still in hand when stopping, so that
/// the next instance gets them at once rather than after `ack_wait`.
async fn give_back(messages: &mut async_nats::jetstream::consumer::pull::Batch) {
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(50), messages.next()).await
    {
        message.ack_with(AckKind::Nak(None)).await.ok();
    }
}

/// Handles one message, retrying transient failures. False when stopped meanwhile.
async fn handle<R: Reactor>(
    reactor: &R,
    message: &async_nats::jetstream::Message,
    settings: &ReactorSettings,
    shutdown: &CancellationToken,
) -> bool {
    let name = reactor.name();
    let recorded = match Recorded::from_message(message) {
        Ok(recorded) => recorded,
        Err(e) => {
            crate::metrics::global().reactions.record(name, "failed");
            tracing::error!(reactor = name, error = %e, "undecodable event passed over");
            return true;
        }
    };
    let span = tracing::info_span!(
        "reaction",
        reactor = name,
        event_type = recorded.envelope.event_type(),
        aggregate_id = %recorded.envelope.aggregate_id,
        sequence = recorded.sequence,
    );
    recorded.link_span(&span);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match react_keeping_message(reactor, &recorded, message, settings)
            .instrument(span.clone())
            .await
        {
            Ok(()) => {
                crate::metrics::global().reactions.record(name, "handled");
                return true;
            }
            Err(ReactionError::Failed(reason)) => {
                crate::metrics::global().reactions.record(name, "failed");
                tracing::error!(parent: &span, %reason, "reaction failed; event passed over");
                return true;
            }
            Err(ReactionError::Transient(reason)) => {
                crate::metrics::global().reactions.record(name, "retried");
                tracing::warn!(parent: &span, %reason, attempt, "reaction failed; retrying");
                // Keep the message ours while retrying.
                message.ack_with(AckKind::Progress).await.ok();
                if !sleep_or_stop(backoff(settings, attempt), shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Reacts, telling the server every half `ack_wait` that the message is still being
/// worked on: a reaction may copy data for hours, and must not be redelivered meanwhile.
async fn react_keeping_message<R: Reactor>(
    reactor: &R,
    recorded: &Recorded,
    message: &async_nats::jetstream::Message,
    settings: &ReactorSettings,
) -> Result<(), ReactionError> {
    let reaction = reactor.react(recorded);
    tokio::pin!(reaction);
    let mut heartbeat =
        tokio::time::interval((settings.ack_wait / 2).max(Duration::from_millis(100)));
    heartbeat.tick().await;
    loop {
        tokio::select! {
            outcome = &mut reaction => return outcome,
            _ = heartbeat.tick() => {
                message.ack_with(AckKind::Progress).await.ok();
            }
        }
    }
}

fn backoff(settings: &ReactorSettings, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    settings
        .backoff
        .saturating_mul(factor)
        .min(settings.max_backoff)
}

/// Sleeps, unless stopped first. False when stopped.
async fn sleep_or_stop(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}
