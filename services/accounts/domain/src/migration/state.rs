//! A migration's state, folded from its events.

use chrono::{DateTime, Utc};
use ferry_events::{
    AccountLanguages, Incompatibility, MigrationEvent, MigrationStatus, PreCopyDestination,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Where the migration is in the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// No `MigrationOpened` yet.
    #[default]
    NotOpened,
    /// Step 1.
    Preparing,
    /// Step 2.
    TransitRequested,
    /// Step 3, in line for a transit server.
    TransitWaiting,
    /// Step 3, transit server reserved, installing and pre-copying.
    TransitInstalling,
    /// Steps 4 and 5: the transit server is lent; accounts move to it and are verified.
    OnTransit,
    /// Step 6.
    Reinstalling,
    /// Step 7.
    Relocating,
    /// Step 8.
    Completed,
    /// Abandoned.
    Cancelled,
}

/// Where an account is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Place {
    /// On the client server (not moved, rolled back, or a move failed).
    #[default]
    Client,
    /// Moving to the transit server.
    MovingToTransit {
        /// The cutover's transfer.
        transfer_id: Uuid,
    },
    /// On the transit server.
    Transit,
    /// Moving back to the client server before the reinstall.
    RollingBack {
        /// The rollback's transfer.
        transfer_id: Uuid,
    },
    /// Moving back to the reinstalled client server.
    Relocating {
        /// The relocation's transfer.
        transfer_id: Uuid,
    },
    /// Back on the reinstalled client server.
    Relocated,
}

/// An account's test migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TestCopy {
    /// None asked for, or discarded.
    #[default]
    None,
    /// Being prepared.
    Requested {
        /// Its transfer.
        transfer_id: Uuid,
    },
    /// Ready to try.
    Available {
        /// Its transfer.
        transfer_id: Uuid,
        /// Where the customer reaches it.
        address: String,
    },
    /// Could not be prepared.
    Failed {
        /// Its transfer.
        transfer_id: Uuid,
        /// Why.
        reason: String,
    },
}

impl TestCopy {
    /// The transfer of the current test copy, if any.
    pub fn transfer_id(&self) -> Option<Uuid> {
        match self {
            TestCopy::None => None,
            TestCopy::Requested { transfer_id }
            | TestCopy::Available { transfer_id, .. }
            | TestCopy::Failed { transfer_id, .. } => Some(*transfer_id),
        }
    }
}

/// One account's progress in the migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountProgress {
    /// Declared ready by the customer.
    pub ready: bool,
    /// Where it is.
    pub place: Place,
    /// Confirmed working on the transit server by the customer.
    pub verified: bool,
    /// Its test migration.
    pub test: TestCopy,
    /// What the last compatibility check found.
    pub issues: Vec<Incompatibility>,
    /// Downtime of its moves so far, in milliseconds.
    pub downtime_ms: u64,
}

impl AccountProgress {
    /// Whether a cutover of this account is under way.
    pub fn in_motion(&self) -> bool {
        matches!(
            self.place,
            Place::MovingToTransit { .. } | Place::RollingBack { .. } | Place::Relocating { .. }
        )
    }
}

/// A migration as its events tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// Its state, by the one state machine of the contract (`None` before opening).
    pub status: Option<MigrationStatus>,
    /// Its id.
    pub migration_id: Uuid,
    /// The client server.
    pub server_id: String,
    /// Its owner.
    pub customer_id: String,
    /// The version the server ran when opened.
    pub from_version: String,
    /// The version it migrates to.
    pub target_version: String,
    /// The configuration a transit server must have, once requested.
    pub configuration: Option<String>,
    /// Every account of the server, by id.
    pub accounts: BTreeMap<String, AccountProgress>,
    /// What support removed in step 2 (the request then went to the transit pool).
    pub obsolete_removed: Option<Vec<AccountLanguages>>,
    /// Place in the transit queue while waiting.
    pub queue_position: Option<u32>,
    /// The transit server, once assigned.
    pub transit_server_id: Option<String>,
    /// When the transit server was lent.
    pub transit_ready_at: Option<DateTime<Utc>>,
    /// The customer asked for the reinstall (and no account has rolled back since).
    pub reinstall_requested: bool,
    /// Some account has moved at least once: cancelling is no longer possible.
    pub any_account_moved: bool,
    /// Sum of every measured downtime, in milliseconds.
    pub total_downtime_ms: u64,
    /// The pre-copy of files and mails under way (step 3, or back in step 6).
    pub pre_copy: PreCopy,
}

/// The pre-copy under way: its attempt, and its last failure while not retried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreCopy {
    /// The attempt under way or failed (0 before any failure or retry: the first).
    pub attempt: u32,
    /// Its failure, while not retried.
    pub failure: Option<PreCopyFailure>,
}

/// A pre-copy's failure, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreCopyFailure {
    /// The failed transfer.
    pub transfer_id: Uuid,
    /// Where it copied to.
    pub destination: PreCopyDestination,
    /// Why.
    pub reason: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// When ferry retries by itself, if it does.
    pub retry_at: Option<DateTime<Utc>>,
}

impl MigrationState {
    /// Where it is, as the decisions group the states (steps 4 and 5 are one phase:
    /// accounts move and are verified on the transit server).
    pub fn phase(&self) -> Phase {
        use MigrationStatus as S;
        match self.status {
            None => Phase::NotOpened,
            Some(S::Preparing) => Phase::Preparing,
            Some(S::TransitRequested) => Phase::TransitRequested,
            Some(S::TransitWaiting) => Phase::TransitWaiting,
            Some(S::TransitInstalling) => Phase::TransitInstalling,
            Some(S::MigratingAccounts | S::Verifying) => Phase::OnTransit,
            Some(S::Reinstalling) => Phase::Reinstalling,
            Some(S::Relocating) => Phase::Relocating,
            Some(S::Completed) => Phase::Completed,
            Some(S::Cancelled) => Phase::Cancelled,
        }
    }

    /// The step (1 to 8), 0 before opening or once cancelled.
    pub fn step(&self) -> u8 {
        self.status.and_then(MigrationStatus::step).unwrap_or(0)
    }

    /// The state's name, as in `docs/process.md`.
    pub fn state_name(&self) -> &'static str {
        self.status.map_or("not_opened", MigrationStatus::as_str)
    }

    /// Whether every account is on the transit server.
    pub fn all_on_transit(&self) -> bool {
        self.accounts.values().all(|a| a.place == Place::Transit)
    }

    /// The account being moved, if any (accounts move one at a time).
    pub fn account_in_motion(&self) -> Option<&str> {
        self.accounts
            .iter()
            .find(|(_, a)| a.in_motion())
            .map(|(id, _)| id.as_str())
    }

    /// The state after `event`.
    pub fn evolve(mut self, event: &MigrationEvent) -> Self {
        use MigrationEvent as E;
        match event {
            E::MigrationOpened(e) => {
                self.migration_id = e.migration_id;
                self.server_id = e.server_id.clone();
                self.customer_id = e.customer_id.clone();
                self.from_version = e.from_version.clone();
                self.target_version = e.target_version.clone();
                self.accounts = e
                    .accounts
                    .iter()
                    .map(|id| (id.clone(), AccountProgress::default()))
                    .collect();
            }
            E::AccountCompatibilityChecked(e) => {
                self.account(&e.account_id, |a| a.issues = e.issues.clone())
            }
            E::TestMigrationRequested(e) => self.account(&e.account_id, |a| {
                a.test = TestCopy::Requested {
                    transfer_id: e.transfer_id,
                }
            }),
            E::TestMigrationAvailable(e) => self.account(&e.account_id, |a| {
                a.test = TestCopy::Available {
                    transfer_id: e.transfer_id,
                    address: e.test_address.clone(),
                }
            }),
            E::TestMigrationFailed(e) => self.account(&e.account_id, |a| {
                a.test = TestCopy::Failed {
                    transfer_id: e.transfer_id,
                    reason: e.reason.clone(),
                }
            }),
            E::TestMigrationDiscarded(e) => {
                self.account(&e.account_id, |a| a.test = TestCopy::None)
            }
            E::AccountMarkedReady(e) => self.account(&e.account_id, |a| a.ready = true),
            E::AccountReadinessWithdrawn(e) => {
                self.account(&e.account_id, |a| a.ready = false);
            }
            E::TransitServerRequested(e) => {
                self.configuration = Some(e.configuration.clone());
            }
            E::ObsoleteLanguagesRemoved(e) => self.obsolete_removed = Some(e.removals.clone()),
            E::ObsoleteLanguagesRestored(_) => {
                self.pre_copy = PreCopy::default();
                self.obsolete_removed = None;
                self.queue_position = None;
                self.transit_server_id = None;
                self.transit_ready_at = None;
            }
            E::TransitServerQueued(e) => {
                self.queue_position = Some(e.position);
            }
            E::TransitServerAssigned(e) => {
                self.queue_position = None;
                self.transit_server_id = Some(e.transit_server_id.clone());
            }
            E::TransitServerReady(e) => {
                self.transit_ready_at = Some(e.ready_at);
                self.pre_copy = PreCopy::default();
            }
            E::PreCopyFailed(e) => {
                self.pre_copy = PreCopy {
                    attempt: e.attempt,
                    failure: Some(PreCopyFailure {
                        transfer_id: e.transfer_id,
                        destination: e.destination,
                        reason: e.reason.clone(),
                        retryable: e.retryable,
                        retry_at: e.retry_at,
                    }),
                }
            }
            E::PreCopyRetried(e) => {
                self.pre_copy = PreCopy {
                    attempt: e.attempt,
                    failure: None,
                }
            }
            E::AccountTransferAborted(e) => self.account(&e.account_id, |a| {
                a.place = match a.place {
                    Place::MovingToTransit { .. } => Place::Client,
                    Place::RollingBack { .. } | Place::Relocating { .. } => Place::Transit,
                    ref other => other.clone(),
                }
            }),
            E::AccountMoveStarted(e) => self.account(&e.account_id, |a| {
                a.place = Place::MovingToTransit {
                    transfer_id: e.transfer_id,
                }
            }),
            E::AccountMoved(e) => {
                self.any_account_moved = true;
                self.total_downtime_ms += e.downtime_ms;
                self.account(&e.account_id, |a| {
                    a.place = Place::Transit;
                    a.downtime_ms += e.downtime_ms;
                });
            }
            E::AccountMoveFailed(e) => self.account(&e.account_id, |a| a.place = Place::Client),
            E::AccountVerified(e) => self.account(&e.account_id, |a| a.verified = true),
            E::AccountRollbackStarted(e) => {
                self.reinstall_requested = false;
                self.account(&e.account_id, |a| {
                    a.place = Place::RollingBack {
                        transfer_id: e.transfer_id,
                    }
                });
            }
            E::AccountRolledBack(e) => {
                self.total_downtime_ms += e.downtime_ms;
                self.account(&e.account_id, |a| {
                    a.place = Place::Client;
                    a.verified = false;
                    a.downtime_ms += e.downtime_ms;
                });
            }
            E::AccountRollbackFailed(e) => {
                self.account(&e.account_id, |a| a.place = Place::Transit)
            }
            E::ReinstallRequested(_) => self.reinstall_requested = true,
            E::ReinstallStarted(_) => {}
            // The pre-copy back starts: its attempts are counted afresh.
            E::ServerReinstalled(_) => self.pre_copy = PreCopy::default(),
            E::AccountRelocationStarted(e) => self.account(&e.account_id, |a| {
                a.place = Place::Relocating {
                    transfer_id: e.transfer_id,
                }
            }),
            E::AccountRelocated(e) => {
                self.total_downtime_ms += e.downtime_ms;
                self.account(&e.account_id, |a| {
                    a.place = Place::Relocated;
                    a.downtime_ms += e.downtime_ms;
                });
            }
            E::AccountRelocationFailed(e) => {
                self.account(&e.account_id, |a| a.place = Place::Transit)
            }
            E::MigrationCompleted(_) | E::MigrationCancelled(_) => {}
        }
        self.status = MigrationStatus::after(self.status, event, self.all_on_transit());
        self
    }

    fn account(&mut self, id: &str, change: impl FnOnce(&mut AccountProgress)) {
        if let Some(account) = self.accounts.get_mut(id) {
            change(account);
        }
    }
}
