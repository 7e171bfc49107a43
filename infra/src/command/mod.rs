//! The one shape of every command handler: load the aggregate, decide (pure), append;
//! on a conflict, reload and decide again, a bounded number of times. The state of an
//! aggregate this process wrote to last is kept ([`cache`]): the next command on it
//! is decided without a load, the append's version check catching any staleness.
//!
//! Commands carry an id. The events they cause carry it as their causation id, and it
//! is the append's idempotency key: a command handled again (a client retry, a
//! redelivered event turned into the same command) finds its events already in the
//! aggregate's history and returns them instead of appending twice.

mod cache;

use crate::event_log::{AggregateRef, AppendError, EventLog, ReadError};
use cache::{Lookup, StateCache};
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
    kept: StateCache,
}

impl CommandHandler {
    /// A handler trying at most `max_attempts` appends per command (one per conflict).
    pub fn new(log: EventLog, max_attempts: u32) -> Self {
        Self {
            log,
            max_attempts: max_attempts.max(1),
            kept: StateCache::new(cache::DEFAULT_CAPACITY),
        }
    }

    /// The log it appends to.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Loads (or takes the kept state), decides and appends; retries on conflict.
    #[tracing::instrument(name = "command.handle", skip_all, fields(aggregate_type = %D::AGGREGATE, aggregate_id = %command.aggregate_id, command_id = %command.id))]
    pub async fn handle<D: Decider>(
        &self,
        command: &Command<D::Command>,
    ) -> Result<Handled<D::State>, HandleError<D::Rejection>>
    where
        D::Rejection: Refusal,
    {
        let aggregate = AggregateRef::new(D::AGGREGATE, command.aggregate_id.clone())?;
        let mut use_kept = true;
        // Appends tried: each conflict costs one, up to `max_attempts`.
        let mut attempt = 0;
        loop {
            // A kept state is trusted only to append: a refusal, no change or a
            // duplicate decided on it is checked against the log.
            let (state, version, kept) =
                match use_kept.then(|| self.kept.lookup::<D>(&aggregate, command.id)) {
                    Some(Lookup::Hit { state, version }) => (state, version, true),
                    Some(Lookup::AlreadyHandled) | Some(Lookup::Miss) | None => {
                        let loaded = self.log.load(&aggregate).await?;
                        let history: Vec<Envelope> =
                            loaded.events.into_iter().map(|r| r.envelope).collect();
                        let state = D::fold(history.iter().map(|e| &e.event));
                        self.kept.keep::<D>(
                            &aggregate,
                            &state,
                            loaded.version,
                            history.iter().map(|e| e.causation_id).collect(),
                        );
                        if history.iter().any(|e| e.causation_id == command.id) {
                            crate::metrics::global()
                                .commands
                                .record(D::AGGREGATE, "duplicate");
                            return already_handled::<D>(history, command, loaded.version, state);
                        }
                        (state, loaded.version, false)
                    }
                };
            let decided = match D::decide(&state, &command.payload) {
                Ok(decided) if decided.is_empty() && kept => {
                    use_kept = false;
                    continue;
                }
                Ok(decided) => decided,
                Err(_) if kept => {
                    use_kept = false;
                    continue;
                }
                Err(rejection) => {
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "rejected");
                    return Err(HandleError::Rejected(rejection));
                }
            };
            let decided_at = version;
            let state = decided.iter().fold(state, |s, e| D::evolve(s, e));
            if decided.is_empty() {
                crate::metrics::global()
                    .commands
                    .record(D::AGGREGATE, "no_change");
                return Ok(Handled {
                    events: Vec::new(),
                    version,
                    state,
                    already_handled: false,
                });
            }
            let envelopes: Vec<Envelope> = decided
                .into_iter()
                .map(|e| {
                    let mut envelope = Envelope::new(
                        aggregate.id.clone(),
                        e,
                        command.correlation_id,
                        command.id,
                        command.actor.clone(),
                    );
                    envelope.occurred_at = self.log.clock().now();
                    envelope
                })
                .collect();
            match self
                .log
                .append(&aggregate, version, &envelopes, &command.id.to_string())
                .await
            {
                Ok(appended) if appended.duplicate => {
                    // An earlier attempt of this command landed; answer with what it stored.
                    self.kept.forget::<D>(&aggregate);
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "duplicate");
                    let loaded = self.log.load(&aggregate).await?;
                    let history: Vec<Envelope> =
                        loaded.events.into_iter().map(|r| r.envelope).collect();
                    let state = D::fold(history.iter().map(|e| &e.event));
                    return already_handled::<D>(history, command, loaded.version, state);
                }
                Ok(appended) => {
                    self.kept.advance::<D>(
                        &aggregate,
                        decided_at,
                        &state,
                        appended.version,
                        command.id,
                    );
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
                Err(AppendError::Conflict { .. }) => {
                    self.kept.forget::<D>(&aggregate);
                    use_kept = false;
                    crate::metrics::global()
                        .commands
                        .record(D::AGGREGATE, "conflict");
                    attempt += 1;
                    if attempt >= self.max_attempts {
                        break;
                    }
                    if kept {
                        // Somebody else wrote since this process did: load, no wait.
                        continue;
                    }
                    // Spread racing writers apart a little before they reload.
                    let jitter = u64::from(Uuid::now_v7().as_bytes()[15] % 8);
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2 + jitter))
                        .await;
                }
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
///
/// A key sent again with a malformed request, or by someone who may not send that
/// command, is refused rather than answered with the first request's outcome: the
/// command is decided again on the state the first one met, and an `Invalid` or
/// `Forbidden` refusal stands. (Other refusals can depend on the time of the retry,
/// which must not undo a command that was carried out.)
fn already_handled<D: Decider>(
    history: Vec<Envelope>,
    command: &Command<D::Command>,
    version: u64,
    state: D::State,
) -> Result<Handled<D::State>, HandleError<D::Rejection>>
where
    D::Rejection: Refusal,
{
    let first = history
        .iter()
        .position(|e| e.causation_id == command.id)
        .unwrap_or(history.len());
    let met = D::fold(history[..first].iter().map(|e| &e.event));
    if let Err(rejection) = D::decide(&met, &command.payload)
        && matches!(
            rejection.kind(),
            RefusalKind::Invalid | RefusalKind::Forbidden
        )
    {
        return Err(HandleError::Rejected(rejection));
    }
    let events = history
        .into_iter()
        .filter(|e| e.causation_id == command.id)
        .collect();
    Ok(Handled {
        events,
        version,
        state,
        already_handled: true,
    })
}
