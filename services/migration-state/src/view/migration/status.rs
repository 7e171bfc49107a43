//! The state of a migration and its step, exactly as docs/process.md's table of
//! migration states defines them, and the history of the states entered.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The state of a migration (docs/process.md, "Migration states").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MigrationStatus {
    /// Step 1: accounts are prepared.
    Preparing,
    /// Step 2: a transit server was requested.
    TransitRequested,
    /// Step 3: waiting in line for a transit server.
    TransitWaiting,
    /// Step 3: the transit server is being installed.
    TransitInstalling,
    /// Step 4: accounts move to the transit server.
    MigratingAccounts,
    /// Step 5: every account is on the transit server.
    Verifying,
    /// Step 6: the client server is being reinstalled.
    Reinstalling,
    /// Step 7: accounts move back to the reinstalled client server.
    Relocating,
    /// Step 8: done.
    Completed,
    /// Abandoned before anything irreversible happened.
    Cancelled,
}

impl MigrationStatus {
    /// Every state, in process order.
    pub const ALL: [MigrationStatus; 10] = [
        MigrationStatus::Preparing,
        MigrationStatus::TransitRequested,
        MigrationStatus::TransitWaiting,
        MigrationStatus::TransitInstalling,
        MigrationStatus::MigratingAccounts,
        MigrationStatus::Verifying,
        MigrationStatus::Reinstalling,
        MigrationStatus::Relocating,
        MigrationStatus::Completed,
        MigrationStatus::Cancelled,
    ];

    /// The step (1 to 8) of the state; `None` for a cancelled migration.
    pub fn step(self) -> Option<u8> {
        match self {
            MigrationStatus::Preparing => Some(1),
            MigrationStatus::TransitRequested => Some(2),
            MigrationStatus::TransitWaiting | MigrationStatus::TransitInstalling => Some(3),
            MigrationStatus::MigratingAccounts => Some(4),
            MigrationStatus::Verifying => Some(5),
            MigrationStatus::Reinstalling => Some(6),
            MigrationStatus::Relocating => Some(7),
            MigrationStatus::Completed => Some(8),
            MigrationStatus::Cancelled => None,
        }
    }

    /// Snake-case name, as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStatus::Preparing => "preparing",
            MigrationStatus::TransitRequested => "transit_requested",
            MigrationStatus::TransitWaiting => "transit_waiting",
            MigrationStatus::TransitInstalling => "transit_installing",
            MigrationStatus::MigratingAccounts => "migrating_accounts",
            MigrationStatus::Verifying => "verifying",
            MigrationStatus::Reinstalling => "reinstalling",
            MigrationStatus::Relocating => "relocating",
            MigrationStatus::Completed => "completed",
            MigrationStatus::Cancelled => "cancelled",
        }
    }

    /// True once the migration is over (completed or cancelled).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MigrationStatus::Completed | MigrationStatus::Cancelled
        )
    }
}

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
