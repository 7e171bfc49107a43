//! An optional migration: one service of a server upgraded in place, with no test
//! phase, and the transfer that moves its data.

use chrono::{DateTime, Utc};
use ferry_events::{
    OptionalMigrationEvent, OptionalMigrationScheduled, ServiceKind, TransferEvent,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;
use super::transfer::TransferView;

/// Where an optional migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptionalMigrationState {
    /// Offered and scheduled.
    Scheduled,
    /// Being applied.
    Started,
    /// The service runs the new version.
    Applied,
    /// Applying failed; the service runs the old version.
    Failed,
    /// Called off before being applied.
    Cancelled,
}

impl OptionalMigrationState {
    /// Snake-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionalMigrationState::Scheduled => "scheduled",
            OptionalMigrationState::Started => "started",
            OptionalMigrationState::Applied => "applied",
            OptionalMigrationState::Failed => "failed",
            OptionalMigrationState::Cancelled => "cancelled",
        }
    }
}

/// An optional migration of one service of a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OptionalMigrationView {
    /// Its id.
    pub optional_migration_id: Uuid,
    /// The server whose service is migrated.
    pub server_id: String,
    /// The customer owning it.
    pub customer_id: String,
    /// The service: `postgresql`, `mysql`, `redis`, `memcached`, `elasticsearch` or
    /// `rabbitmq`.
    #[schema(value_type = String)]
    pub service: ServiceKind,
    /// The version it ran.
    pub from_version: String,
    /// The version it migrates to.
    pub to_version: String,
    /// When it is to be applied (`None`: as soon as possible).
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Where it stands.
    pub state: OptionalMigrationState,
    /// Since when.
    pub state_since: DateTime<Utc>,
    /// When it was scheduled.
    pub scheduled_at: DateTime<Utc>,
    /// The stream sequence of its scheduling.
    pub scheduled_sequence: u64,
    /// The transfer moving the service's data, with its progress.
    pub transfer: Option<TransferView>,
    /// The service's measured unavailability, in milliseconds, once applied.
    pub downtime_ms: Option<u64>,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
}

impl OptionalMigrationView {
    /// An optional migration scheduled.
    pub fn scheduled(event: &OptionalMigrationScheduled, at: At) -> Self {
        Self {
            optional_migration_id: event.optional_migration_id,
            server_id: event.server_id.clone(),
            customer_id: event.customer_id.clone(),
            service: event.service,
            from_version: event.from_version.clone(),
            to_version: event.to_version.clone(),
            scheduled_for: event.scheduled_for,
            state: OptionalMigrationState::Scheduled,
            state_since: at.occurred_at,
            scheduled_at: at.occurred_at,
            scheduled_sequence: at.sequence,
            transfer: None,
            downtime_ms: None,
            reason: None,
        }
    }

    fn enter(&mut self, state: OptionalMigrationState, at: At) {
        if self.state != state {
            self.state = state;
            self.state_since = at.occurred_at;
        }
    }

    /// Folds one event of the optional migration.
    pub fn apply(&mut self, event: &OptionalMigrationEvent, at: At) {
        use OptionalMigrationEvent as E;
        match event {
            E::OptionalMigrationScheduled(e) => *self = Self::scheduled(e, at),
            E::OptionalMigrationStarted(e) => {
                self.transfer = Some(TransferView::requested(
                    e.transfer_id,
                    ferry_events::TransferKind::ServiceMigration,
                    Vec::new(),
                    at,
                ));
                self.reason = None;
                self.enter(OptionalMigrationState::Started, at);
            }
            E::OptionalMigrationApplied(e) => {
                self.downtime_ms = Some(e.downtime_ms);
                self.enter(OptionalMigrationState::Applied, at);
            }
            E::OptionalMigrationFailed(e) => {
                self.reason = Some(e.reason.clone());
                self.enter(OptionalMigrationState::Failed, at);
            }
            E::OptionalMigrationCancelled(e) => {
                self.reason = Some(e.reason.clone());
                self.enter(OptionalMigrationState::Cancelled, at);
            }
        }
    }

    /// Folds an event of its transfer `transfer_id`.
    pub fn apply_transfer(&mut self, transfer_id: Uuid, event: &TransferEvent, at: At) {
        match (&mut self.transfer, event) {
            (Some(transfer), _) if transfer.transfer_id == transfer_id => transfer.apply(event, at),
            (_, TransferEvent::TransferScheduled(e)) => {
                self.transfer = Some(TransferView::scheduled(e, at));
            }
            _ => {}
        }
    }
}
