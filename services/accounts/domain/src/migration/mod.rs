//! The `migration` aggregate: one required migration of one client server through
//! the eight steps of the process (see `docs/process.md` for the states and who
//! reacts to what).
//!
//! Commands come from the customer, from support, and from ferry itself when another
//! service reports its part done (transit server queued, assigned, ready; a transfer
//! completed; traffic switched). Emits the events of `ferry_events::migration`.

mod command;
mod decide;
mod refusal;
mod state;
#[cfg(test)]
mod tests;

pub use command::{Action, MigrationCommand};
pub use decide::{PRE_COPY_AUTOMATIC_ATTEMPTS, pre_copy_backoff};
pub use refusal::MigrationRefusal;
pub use state::{AccountProgress, MigrationState, Phase, Place, PreCopy, PreCopyFailure, TestCopy};

use ferry_core::Decider;
use ferry_events::{AggregateType, MigrationEvent};

/// Expected downtime of an account's move: the seeds' one minute per gigabyte of
/// databases, until the data mover measures better.
pub fn estimated_downtime_ms(database_bytes: u64) -> u64 {
    const MS_PER_GIGABYTE: u128 = 60_000;
    let ms = (u128::from(database_bytes) * MS_PER_GIGABYTE).div_ceil(1_000_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The migration decider.
#[derive(Debug)]
pub struct MigrationDecider;

impl Decider for MigrationDecider {
    type State = MigrationState;
    type Command = MigrationCommand;
    type Event = MigrationEvent;
    type Rejection = MigrationRefusal;
    const AGGREGATE: AggregateType = AggregateType::Migration;

    fn decide(
        state: &MigrationState,
        command: &MigrationCommand,
    ) -> Result<Vec<MigrationEvent>, MigrationRefusal> {
        decide::decide(state, command)
    }

    fn evolve(state: MigrationState, event: &MigrationEvent) -> MigrationState {
        state.evolve(event)
    }

    fn select(event: &ferry_events::Event) -> Option<&MigrationEvent> {
        match event {
            ferry_events::Event::Migration(e) => Some(e),
            _ => None,
        }
    }
}
