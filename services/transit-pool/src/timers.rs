//! Timers of the transit pool: an installation completes, and a wipe finishes, after
//! their duration.
//!
//! Timers live in memory but survive restarts: at start, [`run_timers`] replays the
//! `transit_server` events and schedules every installation and wipe still in
//! progress (due at their start plus their duration; an overdue one fires at once).
//! The reactor adds the timers of new installations and wipes. A timer's command id is
//! derived from the event that started it, so a timer scheduled twice (by the replay
//! and by a redelivered event) completes once.
//!
//! Emits `TransitInstallationCompleted` and `TransitServerWiped` (through
//! [`TransitPool`]); reads `transit_server` events at start.

use crate::reactor::REACTOR_NAME;
use crate::service::{CommandMeta, TransitPool};
use chrono::{DateTime, Utc};
use ferry_events::{Actor, AggregateType, Envelope, Event, TransitServerEvent};
use ferry_infra::command::HandleError;
use ferry_infra::event_log::ReadError;
use ferry_infra::reactor::reaction_id;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a timer does when due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerJob {
    /// Complete the installation of `transit_server_id` for `migration_id`.
    CompleteInstallation {
        /// The transit server.
        transit_server_id: String,
        /// The migration it is installed for.
        migration_id: Uuid,
    },
    /// Complete the wipe of `transit_server_id`.
    CompleteWipe {
        /// The transit server.
        transit_server_id: String,
        /// The migration that held it (the correlation of the wipe).
        correlation_id: Uuid,
    },
}

/// A job due at a given time, issued as one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The id of the command it issues (derived from the event that started it).
    pub command_id: Uuid,
    /// When it is due.
    pub due: DateTime<Utc>,
    /// What it does.
    pub job: TimerJob,
}

impl Timer {
    /// The timer completing the installation started by `started` (a
    /// `TransitInstallationStarted` envelope), if it is one.
    pub fn for_installation(started: &Envelope) -> Option<Timer> {
        let Event::TransitServer(TransitServerEvent::TransitInstallationStarted(e)) =
            &started.event
        else {
            return None;
        };
        let duration = chrono::Duration::milliseconds(
            i64::try_from(e.expected_duration_ms).unwrap_or(i64::MAX),
        );
        Some(Timer {
            command_id: reaction_id(REACTOR_NAME, started.event_id, "complete-installation"),
            due: started
                .occurred_at
                .checked_add_signed(duration)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            job: TimerJob::CompleteInstallation {
                transit_server_id: started.aggregate_id.clone(),
                migration_id: e.migration_id,
            },
        })
    }

    /// The timer completing the wipe started by `started` (a `TransitServerWipeStarted`
    /// envelope) after `wipe_duration`, if it is one.
    pub fn for_wipe(started: &Envelope, wipe_duration: Duration) -> Option<Timer> {
        let Event::TransitServer(TransitServerEvent::TransitServerWipeStarted(_)) = &started.event
        else {
            return None;
        };
        let duration = chrono::Duration::from_std(wipe_duration).unwrap_or(chrono::Duration::MAX);
        Some(Timer {
            command_id: reaction_id(REACTOR_NAME, started.event_id, "complete-wipe"),
            due: started
                .occurred_at
                .checked_add_signed(duration)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            job: TimerJob::CompleteWipe {
                transit_server_id: started.aggregate_id.clone(),
                correlation_id: started.correlation_id,
            },
        })
    }
}

/// Where timers are scheduled. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Timers {
    sender: mpsc::UnboundedSender<Timer>,
}

impl Timers {
    /// Schedules `timer` (a timer with the same command id already pending is kept).
    /// After [`run_timers`] stopped, scheduling does nothing: the next start finds the
    /// timer again in the log.
    pub fn schedule(&self, timer: Timer) {
        if self.sender.send(timer).is_err() {
            tracing::debug!("timers stopped; the timer is recovered from the log at next start");
        }
    }
}

/// The receiving end of [`Timers`], consumed by [`run_timers`].
#[derive(Debug)]
pub struct TimerQueue {
    receiver: mpsc::UnboundedReceiver<Timer>,
}

/// A new timer channel.
pub fn channel() -> (Timers, TimerQueue) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (Timers { sender }, TimerQueue { receiver })
}

/// The timers could not run.
#[derive(Debug, thiserror::Error)]
#[error("transit pool timers: {0}")]
pub struct TimerError(String);

/// Every installation and wipe still in progress in the log, as timers.
pub async fn pending_timers(pool: &TransitPool) -> Result<Vec<Timer>, ReadError> {
    let log = pool.log();
    let mut events = log
        .replay_filtered(1, vec![log.type_filter(AggregateType::TransitServer)])
        .await?;
    let mut in_progress: HashMap<String, Timer> = HashMap::new();
    while let Some(recorded) = events.next().await {
        let envelope = recorded?.envelope;
        let timer = Timer::for_installation(&envelope)
            .or_else(|| Timer::for_wipe(&envelope, pool.settings().wipe_duration));
        match timer {
            Some(timer) => {
                in_progress.insert(envelope.aggregate_id.clone(), timer);
            }
            // Any other event ends the installation or wipe under way.
            None => {
                in_progress.remove(&envelope.aggregate_id);
            }
        }
    }
    Ok(in_progress.into_values().collect())
}

/// Runs the timers until `shutdown`: first those recovered from the log, then those
/// scheduled through `queue`'s [`Timers`].
pub async fn run_timers(
    pool: TransitPool,
    queue: TimerQueue,
    shutdown: CancellationToken,
) -> Result<(), TimerError> {
    let mut receiver = queue.receiver;
    let mut pending = Pending::default();
    let mut attempt = 0u32;
    loop {
        match pending_timers(&pool).await {
            Ok(recovered) => {
                tracing::info!(
                    recovered = recovered.len(),
                    "transit pool timers recovered from the log"
                );
                for timer in recovered {
                    pending.insert(timer, 0);
                }
                break;
            }
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "cannot replay transit servers; retrying");
                if !sleep_or_stop(backoff(attempt), &shutdown).await {
                    return Ok(());
                }
            }
        }
    }
    let mut open = true;
    loop {
        let wait = pending
            .next_due()
            .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            received = receiver.recv(), if open => match received {
                Some(timer) => pending.insert(timer, 0),
                None => open = false,
            },
            _ = sleep_for(wait) => {
                while let Some((timer, attempts)) = pending.pop_due(Utc::now()) {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    fire(&pool, &mut pending, timer, attempts).await;
                }
            }
        }
    }
    tracing::info!(pending = pending.len(), "transit pool timers stopped");
    Ok(())
}

/// Issues a due timer's command; a transient failure is tried again later.
async fn fire(pool: &TransitPool, pending: &mut Pending, timer: Timer, attempts: u32) {
    let system = Actor::system("transit-pool");
    let outcome = match &timer.job {
        TimerJob::CompleteInstallation {
            transit_server_id,
            migration_id,
        } => {
            let meta = CommandMeta::new(timer.command_id, system).correlated(*migration_id);
            pool.complete_installation(&meta, transit_server_id, *migration_id)
                .await
                .map(|_| ())
        }
        TimerJob::CompleteWipe {
            transit_server_id,
            correlation_id,
        } => {
            let meta = CommandMeta::new(timer.command_id, system).correlated(*correlation_id);
            pool.complete_wipe(&meta, transit_server_id)
                .await
                .map(|_| ())
        }
    };
    match outcome {
        Ok(()) => tracing::debug!(job = ?timer.job, "timer fired"),
        Err(HandleError::Rejected(refusal)) => {
            tracing::info!(job = ?timer.job, %refusal, "timer no longer applies");
        }
        Err(HandleError::InvalidAggregate(e)) => {
            tracing::error!(job = ?timer.job, error = %e, "timer names no valid transit server");
        }
        Err(e) => {
            let attempts = attempts + 1;
            tracing::warn!(job = ?timer.job, error = %e, attempts, "timer failed; retrying");
            let retry = chrono::Duration::from_std(backoff(attempts)).unwrap_or_default();
            let due = Utc::now() + retry;
            pending.insert(Timer { due, ..timer }, attempts);
        }
    }
}

/// Pending timers by due time, at most one per command id.
#[derive(Debug, Default)]
struct Pending {
    by_due: BTreeMap<(DateTime<Utc>, Uuid), (Timer, u32)>,
    due_of: HashMap<Uuid, DateTime<Utc>>,
}

impl Pending {
    fn insert(&mut self, timer: Timer, attempts: u32) {
        if self.due_of.contains_key(&timer.command_id) {
            return;
        }
        self.due_of.insert(timer.command_id, timer.due);
        self.by_due
            .insert((timer.due, timer.command_id), (timer, attempts));
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.by_due.first_key_value().map(|((due, _), _)| *due)
    }

    fn pop_due(&mut self, now: DateTime<Utc>) -> Option<(Timer, u32)> {
        if self.next_due()? > now {
            return None;
        }
        let (_, (timer, attempts)) = self.by_due.pop_first()?;
        self.due_of.remove(&timer.command_id);
        Some((timer, attempts))
    }

    fn len(&self) -> usize {
        self.by_due.len()
    }
}

fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(8));
    Duration::from_millis(100)
        .saturating_mul(factor)
        .min(Duration::from_secs(10))
}

/// Sleeps for `wait`, or forever when there is nothing to wait for.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Sleeps, unless stopped first. False when stopped.
async fn sleep_or_stop(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(n: u128, due_ms: i64) -> Timer {
        Timer {
            command_id: Uuid::from_u128(n),
            due: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(due_ms),
            job: TimerJob::CompleteWipe {
                transit_server_id: format!("tr-{n}"),
                correlation_id: Uuid::nil(),
            },
        }
    }

    #[test]
    fn timers_pop_in_due_order_once_due_and_once_per_command() {
        let mut pending = Pending::default();
        pending.insert(timer(1, 300), 0);
        pending.insert(timer(2, 100), 0);
        pending.insert(timer(1, 50), 0);
        assert_eq!(pending.len(), 2, "one timer per command id");
        let at = |ms| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms);
        assert!(pending.pop_due(at(99)).is_none());
        let popped: Vec<Uuid> = std::iter::from_fn(|| pending.pop_due(at(1_000)))
            .map(|(t, _)| t.command_id)
            .collect();
        assert_eq!(popped, vec![Uuid::from_u128(2), Uuid::from_u128(1)]);
    }
}
