//! The one shape of every command handler: load the aggregate, decide (pure), append;
//! on a conflict, reload and decide again, a bounded number of times.
//!
//! Commands carry an id. The events they cause carry it as their causation id, and it
//! is the append's idempotency key: a command handled again (a client retry, a
//! redelivered event turned into the same command) finds its events already in the
//! aggregate's history and returns them instead of appending twice.

use crate::event_log::{AggregateRef, AppendError, EventLog, ReadError};
pub use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{Actor, Envelope};
use std::time::Duration;
use uuid::Uuid;

/// A command addressed to one aggregate, with who asks and why.
#[derive(Debug, Clone)]
pub struct Command<C> {
    /// Unique per intent: the same id is never applied twice.
    pub id: Uuid,
    /// The aggregate it is addressed to.
    pub aggregate_id: String,
    /// The migration it belongs to (or the command's own id outside a migration).
    pub correlation_id: Uuid,
    /// Who asks.
    pub actor: Actor,
    /// What is asked.
    pub payload: C,
}

/// What handling a command did.
#[derive(Debug)]
pub struct Handled<S> {
    /// The events the command caused (those already in the log if it was handled before).
    pub events: Vec<Envelope>,
    /// The aggregate's version after them.
    pub version: u64,
    /// The aggregate's state after them.
    pub state: S,
    /// True when the command had already been handled: nothing was appended now.
    pub already_handled: bool,
}

/// A command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum HandleError<R: std::error::Error + 'static> {
    /// The decider refused it; nothing changed.
    #[error(transparent)]
    Rejected(R),
    /// Other writers kept changing the aggregate; nothing changed.
    #[error("{aggregate} kept changing under this command ({attempts} attempts); try again")]
    Contention {
        /// The aggregate.
        aggregate: AggregateRef,
        /// How many times it was decided.
        attempts: u32,
    },
    /// The aggregate id is not usable.
    #[error(transparent)]
    InvalidAggregate(#[from] ferry_events::InvalidAggregateId),
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The log refused or did not answer the append.
    #[error(transparent)]
    Append(AppendError),
}

/// Handles commands against the event log.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    log: EventLog,
    max_attempts: u32,
}

impl CommandHandler {
    /// A handler deciding at most `max_attempts` times per command.
    pub fn new(log: EventLog, max_attempts: u32) -> Self {
        Self {
            log,
            max_attempts: max_attempts.max(1),
        }
    }

    /// The log it appends to.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Loads, decides and appends; retries on conflict.
    #[tracing::instrument(name = "command.handle", skip_all, fields(aggregate_type = %D::AGGREGATE, aggregate_id = %command.aggregate_id, command_id = %command.id))]
    pub async fn handle<D: Decider>(
        &self,
        command: &Command<D::Command>,
    ) -> Result<Handled<D::State>, HandleError<D::Rejection>> {
        let aggregate = AggregateRef::new(D::AGGREGATE, command.aggregate_id.clone())?;
        for attempt in 1..=self.max_attempts {
            let loaded = self.log.load(&aggregate).await?;
            let history: Vec<Envelope> = loaded.events.into_iter().map(|r| r.envelope).collect();
            let state = D::fold(history.iter().map(|e| &e.event));
            if history.iter().any(|e| e.causation_id == command.id) {
                crate::metrics::global()
                    .commands
                    .record(D::AGGREGATE, "duplicate");
                return Ok(already_handled(history, command.id, loaded.version, state));
            }
            let decided = match D::decide(&state, &command.payload) {
                Ok(decided) => decided,
                Err(rejection) => {
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "rejected");
                    return Err(HandleError::Rejected(rejection));
                }
            };
            let state = decided.iter().fold(state, |s, e| D::evolve(s, e));
            if decided.is_empty() {
                crate::metrics::global()
                    .commands
                    .record(D::AGGREGATE, "no_change");
                return Ok(Handled {
                    events: Vec::new(),
                    version: loaded.version,
                    state,
                    already_handled: false,
                });
            }
            let envelopes: Vec<Envelope> = decided
                .into_iter()
                .map(|e| {
                    Envelope::new(
                        aggregate.id.clone(),
                        e,
                        command.correlation_id,
                        command.id,
                        command.actor.clone(),
                    )
                })
                .collect();
            match self
                .log
                .append(
                    &aggregate,
                    loaded.version,
                    &envelopes,
                    &command.id.to_string(),
                )
                .await
            {
                Ok(appended) if appended.duplicate => {
                    // An earlier attempt of this command landed; answer with what it stored.
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "duplicate");
                    let loaded = self.log.load(&aggregate).await?;
                    let history: Vec<Envelope> =
                        loaded.events.into_iter().map(|r| r.envelope).collect();
                    let state = D::fold(history.iter().map(|e| &e.event));
                    return Ok(already_handled(history, command.id, loaded.version, state));
                }
                Ok(appended) => {
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "accepted");
                    return Ok(Handled {
                        events: envelopes,
                        version: appended.version,
                        state,
                        already_handled: false,
                    });
                }
                Err(AppendError::Conflict { .. }) if attempt < self.max_attempts => {
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "conflict");
                    // Spread racing writers apart a little before they reload.
                    let jitter = u64::from(Uuid::now_v7().as_bytes()[15] % 8);
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2 + jitter))
                        .await;
                }
                Err(AppendError::Conflict { .. }) => break,
                Err(e) => return Err(HandleError::Append(e)),
            }
        }
        crate::metrics::global()
            .commands
            .record(D::AGGREGATE, "contention");
        Err(HandleError::Contention {
            aggregate,
            attempts: self.max_attempts,
        })
    }
}

impl CommandHandler {
    /// The current state of one aggregate, folded from its events, and its version.
    pub async fn state<D: Decider>(
        &self,
        aggregate_id: &str,
    ) -> Result<(D::State, u64), HandleError<D::Rejection>> {
        let aggregate = AggregateRef::new(D::AGGREGATE, aggregate_id)?;
        let loaded = self.log.load(&aggregate).await?;
        let state = D::fold(loaded.events.iter().map(|r| &r.envelope.event));
        Ok((state, loaded.version))
    }
}

/// The outcome of a command found in the history: its events, and the state now.
fn already_handled<S>(
    history: Vec<Envelope>,
    command_id: Uuid,
    version: u64,
    state: S,
) -> Handled<S> {
    let events = history
        .into_iter()
        .filter(|e| e.causation_id == command_id)
        .collect();
    Handled {
        events,
        version,
        state,
        already_handled: true,
    }
}
