//! The read model as pure values: one view per server, migration, transit server,
//! target infrastructure and optional migration, each with fold functions that
//! apply one event at a time. No I/O here: the [`projection`](crate::projection)
//! loads views from PostgreSQL, folds a batch of events through a [`ReadModel`] and
//! writes the views back; the unit tests fold events in memory.
//!
//! Every view is deterministic: it depends only on the events folded into it (times
//! are the events' `occurred_at`, collections are ordered), so a rebuild from the log
//! produces exactly the same documents as the live projection.

pub mod account;
pub mod billing;
pub mod migration;
pub mod model;
pub mod network;
pub mod optional;
pub mod server;
pub mod target;
pub mod transfer;
pub mod transit;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use account::{
    AccountState, Compatibility, Downtime, MigrationAccount, Operation, OperationFailure,
    OperationKind, TestMigration, TestStatus,
};
pub use billing::{LoanEnd, LoanRecord};
pub use migration::{
    Cancellation, Completion, MigrationStatus, MigrationView, Reinstall, StateChange,
    TransitRequest,
};
pub use model::{Changed, Needs, QueueEntry, ReadModel, TransferLink};
pub use network::{IpRouteView, LoweredTtl, MigrationNetwork, MxAdvice, TrafficSwitch};
pub use optional::{OptionalMigrationState, OptionalMigrationView};
pub use server::{MigrationRecord, MigrationSummary, ServerAccount, ServerView, VersionChange};
pub use target::TargetInfrastructureView;
pub use transfer::{TransferStatus, TransferView};
pub use transit::{QueueWait, TransitAssignment, TransitServerView, TransitState};

/// Where an event sits in the log: what every fold function is given besides the
/// event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// The event's stream sequence.
    pub sequence: u64,
    /// When the event happened (its envelope's `occurred_at`).
    pub occurred_at: DateTime<Utc>,
}
