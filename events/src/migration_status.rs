//! The state of a migration and how its events move it: the one state machine of
//! the eight steps (`docs/process.md`, "Migration states"), read by the accounts
//! service's decisions and by the read side alike, so that they cannot disagree.
//!
//! Emits and consumes no event of its own; [`MigrationStatus::after`] reads
//! [`MigrationEvent`]s.

use crate::migration::MigrationEvent;
use serde::{Deserialize, Serialize};

/// The state of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

    /// The state after `event`, from `current` (`None` before the migration is
    /// opened), knowing whether every account is on the transit server once the
    /// event is applied (what separates step 4 from step 5).
    pub fn after(
        current: Option<MigrationStatus>,
        event: &MigrationEvent,
        all_on_transit: bool,
    ) -> Option<MigrationStatus> {
        use MigrationEvent as E;
        use MigrationStatus as S;
        let next = match event {
            E::MigrationOpened(_) => S::Preparing,
            // Step 2 needs every account ready: one less sends it back to step 1
            // (support has not yet removed the languages, or it would be refused).
            E::AccountReadinessWithdrawn(_) if current == Some(S::TransitRequested) => S::Preparing,
            E::TransitServerRequested(_) => S::TransitRequested,
            E::ObsoleteLanguagesRestored(_) => S::Preparing,
            E::TransitServerQueued(_) => S::TransitWaiting,
            E::TransitServerAssigned(_) => S::TransitInstalling,
            E::TransitServerReady(_) => S::MigratingAccounts,
            E::AccountMoved(_) if all_on_transit => S::Verifying,
            E::AccountRolledBack(_) => S::MigratingAccounts,
            E::ReinstallStarted(_) => S::Reinstalling,
            E::ServerReinstalled(_) => S::Relocating,
            E::MigrationCompleted(_) => S::Completed,
            E::MigrationCancelled(_) => S::Cancelled,
            _ => return current,
        };
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::{AccountMoved, AccountReadinessWithdrawn, TransitServerRequested};
    use uuid::Uuid;

    #[test]
    fn every_state_has_its_step_and_name() {
        let steps: Vec<Option<u8>> = MigrationStatus::ALL.iter().map(|s| s.step()).collect();
        assert_eq!(
            steps,
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(8),
                None
            ]
        );
        for status in MigrationStatus::ALL {
            let json = serde_json::to_value(status).expect("json");
            assert_eq!(json, status.as_str(), "served as named");
        }
    }

    #[test]
    fn withdrawing_a_readiness_after_the_request_goes_back_to_step_one() {
        let withdrawn = MigrationEvent::AccountReadinessWithdrawn(AccountReadinessWithdrawn {
            account_id: "acc-1".into(),
        });
        assert_eq!(
            MigrationStatus::after(Some(MigrationStatus::TransitRequested), &withdrawn, false),
            Some(MigrationStatus::Preparing)
        );
        assert_eq!(
            MigrationStatus::after(Some(MigrationStatus::Preparing), &withdrawn, false),
            Some(MigrationStatus::Preparing)
        );
        let requested = MigrationEvent::TransitServerRequested(TransitServerRequested {
            configuration: "vps".into(),
        });
        assert_eq!(
            MigrationStatus::after(Some(MigrationStatus::Preparing), &requested, false),
            Some(MigrationStatus::TransitRequested)
        );
    }

    #[test]
    fn the_last_account_moved_starts_step_five() {
        let moved = MigrationEvent::AccountMoved(AccountMoved {
            account_id: "acc-1".into(),
            transfer_id: Uuid::nil(),
            downtime_ms: 1,
        });
        let migrating = Some(MigrationStatus::MigratingAccounts);
        assert_eq!(MigrationStatus::after(migrating, &moved, false), migrating);
        assert_eq!(
            MigrationStatus::after(migrating, &moved, true),
            Some(MigrationStatus::Verifying)
        );
    }
}
