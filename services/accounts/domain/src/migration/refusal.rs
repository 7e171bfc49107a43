//! Why a migration command is refused: every reason says what is wrong and, where it
//! helps, what to do instead.

use chrono::{DateTime, Utc};
use ferry_core::{Refusal, RefusalKind};

/// A refused migration command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationRefusal {
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The migration does not exist.
    #[error("no such migration")]
    NotOpened,
    /// The migration exists already.
    #[error("this migration is already open")]
    AlreadyOpened,
    /// The command is malformed.
    #[error("{0}")]
    Invalid(String),
    /// No such account in the migration.
    #[error("account {0} is not part of this migration")]
    UnknownAccount(String),
    /// Not possible at this point of the process.
    #[error("{0}")]
    WrongStep(String),
    /// The server has nothing to migrate (no account, already on the target version):
    /// a fact of its current state, not of the request.
    #[error("{0}")]
    NothingToMigrate(String),
    /// Another account is moving: accounts move one at a time.
    #[error("account {0} is being moved; accounts move one at a time, try again once it is done")]
    AnotherAccountMoving(String),
    /// Some accounts are not ready.
    #[error("not every account is ready: {0} still in preparation")]
    AccountsNotReady(String),
    /// Some accounts are not on the transit server.
    #[error("not every account is on the transit server: {0}")]
    AccountsNotOnTransit(String),
    /// Relocations happen in support's working hours.
    #[error("relocations happen in working hours and days; the next opening is {next}")]
    OutsideWorkingHours {
        /// When working hours start next.
        next: DateTime<Utc>,
    },
    /// Accounts have moved: too late to cancel.
    #[error(
        "accounts have already moved to the transit server: the migration can no longer be cancelled"
    )]
    TooLateToCancel,
}

impl Refusal for MigrationRefusal {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::Forbidden(_) => RefusalKind::Forbidden,
            Self::NotOpened | Self::UnknownAccount(_) => RefusalKind::NotFound,
            Self::Invalid(_) => RefusalKind::Invalid,
            Self::AlreadyOpened
            | Self::WrongStep(_)
            | Self::AnotherAccountMoving(_)
            | Self::AccountsNotReady(_)
            | Self::AccountsNotOnTransit(_)
            | Self::OutsideWorkingHours { .. }
            | Self::NothingToMigrate(_)
            | Self::TooLateToCancel => RefusalKind::Conflict,
        }
    }
}
