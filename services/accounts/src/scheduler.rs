//! Applies optional migrations scheduled for a time once that time comes (seeds
//! 000/003: "applied directly on the server"). It follows the `optional_migration`
//! events of the log from where it last read, so a restart loses nothing: what was
//! due while it was down is applied at once.
//!
//! Consumes `OptionalMigrationScheduled`, `…Started`, `…Applied`, `…Failed`,
//! `…Cancelled`; emits `OptionalMigrationStarted` (as the system actor) through the
//! optional migration decider. A failed migration waits for a person to retry it.

use crate::domain::optional_migration::OptionalAction;
use crate::service::Accounts;
use chrono::{DateTime, Utc};
use ferry_events::{Actor, AggregateType, Event, OptionalMigrationEvent};
use ferry_infra::event_log::ReadError;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The scheduler of optional migrations.
#[derive(Debug, Clone)]
pub struct OptionalScheduler {
    accounts: Accounts,
    poll: Duration,
}

/// Optional migrations waiting for their time, read from the log.
#[derive(Debug, Default)]
struct Waiting {
    next_sequence: u64,
    due: BTreeMap<Uuid, DateTime<Utc>>,
}

impl OptionalScheduler {
    /// A scheduler looking every `poll` for what is due.
    pub fn new(accounts: Accounts, poll: Duration) -> Self {
        Self { accounts, poll }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), std::convert::Infallible> {
        let mut waiting = Waiting {
            next_sequence: 1,
            ..Waiting::default()
        };
        loop {
            if let Err(e) = self.catch_up(&mut waiting).await {
                tracing::warn!(error = %e, "cannot read scheduled optional migrations; retrying");
            }
            self.apply_due(&mut waiting, Utc::now()).await;
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    /// Reads the optional migration events appended since the last look.
    async fn catch_up(&self, waiting: &mut Waiting) -> Result<(), ReadError> {
        let log = self.accounts.handler().log();
        let filters = vec![log.type_filter(AggregateType::OptionalMigration)];
        let mut events = Box::pin(log.replay_filtered(waiting.next_sequence, filters).await?);
        while let Some(recorded) = events.next().await {
            let recorded = recorded?;
            waiting.next_sequence = recorded.sequence + 1;
            let Event::OptionalMigration(event) = &recorded.envelope.event else {
                continue;
            };
            let Ok(id) = Uuid::parse_str(&recorded.envelope.aggregate_id) else {
                continue;
            };
            match event {
                OptionalMigrationEvent::OptionalMigrationScheduled(e) => {
                    if let Some(at) = e.scheduled_for {
                        waiting.due.insert(id, at);
                    }
                }
                // Under way, done, failed (a person retries) or called off.
                _ => {
                    waiting.due.remove(&id);
                }
            }
        }
        Ok(())
    }

    async fn apply_due(&self, waiting: &mut Waiting, now: DateTime<Utc>) {
        let due: Vec<Uuid> = waiting
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            // One command per optional migration: applying twice is recognised.
            let command_id = Uuid::new_v5(&id, b"scheduled-application");
            let action = OptionalAction::Apply {
                transfer_id: Uuid::new_v5(&command_id, b"transfer"),
                now,
            };
            match self
                .accounts
                .optional_command(Actor::system("accounts"), command_id, id, action)
                .await
            {
                Ok(_) => {
                    tracing::info!(optional_migration = %id, "scheduled optional migration started");
                    waiting.due.remove(&id);
                }
                Err(e) if e.status.is_client_error() && e.status.as_u16() != 409 => {
                    tracing::warn!(optional_migration = %id, error = %e, "scheduled optional migration refused");
                    waiting.due.remove(&id);
                }
                // Unavailable or contended: tried again at the next look.
                Err(e) => {
                    tracing::warn!(optional_migration = %id, error = %e, "cannot start a due optional migration; retrying")
                }
            }
        }
    }
}
