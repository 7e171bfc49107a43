//! The history of the states a migration entered. The states and how events move
//! them are the contract's ([`ferry_events::MigrationStatus`]), not this crate's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The state of a migration: the contract's one state machine, shared with the
/// accounts service's decisions.
pub use ferry_events::MigrationStatus;

/// One state the migration entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateChange {
    /// The state entered.
    pub state: MigrationStatus,
    /// Its step.
    pub step: Option<u8>,
    /// When.
    pub at: DateTime<Utc>,
    /// The stream sequence of the event that entered it.
    pub sequence: u64,
}
