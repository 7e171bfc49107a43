//! A required migration through the eight steps: its state and step exactly as
//! docs/process.md defines them, every account's state, the transit server it holds
//! and its wait in the queue, its transfers, downtimes and outcome.
//!
//! Folded from the `migration` aggregate's events ([`MigrationView::apply`]) and from
//! the events of other aggregates about it: its transit server
//! ([`MigrationView::apply_transit`]), its queue ([`MigrationView::apply_queue`]) and
//! its transfers ([`MigrationView::apply_transfer`]).

use chrono::{DateTime, Utc};
use ferry_events::{AccountLanguages, MigrationEvent, MigrationOpened};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;
use super::account::{AccountState, MigrationAccount, OperationKind, TestStatus};
use super::transfer::TransferView;
use super::transit::{QueueWait, TransitAssignment};

mod related;
mod status;

pub use status::{MigrationStatus, StateChange};

/// The customer's request for a transit server (step 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransitRequest {
    /// The configuration asked for (the client server's).
    pub configuration: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// When support removed the obsolete language versions (hands the request to the
    /// transit pool).
    pub languages_removed_at: Option<DateTime<Utc>>,
}

/// The client server's reinstallation (steps 5 to 7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Reinstall {
    /// When the customer asked for it.
    pub requested_at: Option<DateTime<Utc>>,
    /// When support started it.
    pub started_at: Option<DateTime<Utc>>,
    /// The transit server the client server's IPs were rerouted to meanwhile.
    pub ips_rerouted_to: Option<String>,
    /// When it was done.
    pub reinstalled_at: Option<DateTime<Utc>>,
    /// The version the client server runs since.
    pub infrastructure_version: Option<String>,
}

/// How a migration completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Completion {
    /// When.
    pub at: DateTime<Utc>,
    /// The total downtime the accounts service reported, in milliseconds.
    pub reported_downtime_ms: u64,
}

/// A pre-copy of files and mails that failed and was not retried yet: the
/// migration waits on it (step 3), or the copy back does (steps 6 and 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PreCopyFailure {
    /// The failed pre-copy transfer.
    pub transfer_id: Uuid,
    /// Where it copied to.
    #[schema(value_type = String, example = "transit_server")]
    pub destination: ferry_events::PreCopyDestination,
    /// Why.
    pub reason: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// Which attempt failed (1 for the first).
    pub attempt: u32,
    /// When ferry tries again by itself; `None`: support must
    /// (`POST /migrations/{id}/pre-copy/retry`).
    pub retry_at: Option<DateTime<Utc>>,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// How a migration was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Cancellation {
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// A required migration of one client server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MigrationView {
    /// The migration id.
    pub migration_id: Uuid,
    /// The client server migrated.
    pub server_id: String,
    /// The customer owning it.
    pub customer_id: String,
    /// The version the server ran when the migration opened.
    pub from_version: String,
    /// The version it migrates to.
    pub target_version: String,
    /// Its state.
    pub state: MigrationStatus,
    /// Its step (1 to 8; `None` once cancelled).
    pub step: Option<u8>,
    /// Since when it is in that state.
    pub state_since: DateTime<Utc>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// The stream sequence of its opening.
    pub opened_sequence: u64,
    /// Its accounts, in the order the migration listed them.
    pub accounts: Vec<MigrationAccount>,
    /// The request for a transit server (step 2).
    pub transit_request: Option<TransitRequest>,
    /// The language versions support removed, per account (step 2).
    #[schema(value_type = Vec<Object>)]
    pub languages_removed: Vec<AccountLanguages>,
    /// Its wait in the queue, if it had to wait.
    pub queue: Option<QueueWait>,
    /// The transit server it holds (or held).
    pub transit: Option<TransitAssignment>,
    /// The reinstallation of the client server.
    pub reinstall: Reinstall,
    /// Every transfer of the migration, in the order they were first known.
    pub transfers: Vec<TransferView>,
    /// Sum of the downtimes of every account, in milliseconds.
    pub downtime_ms: u64,
    /// How it completed.
    pub completed: Option<Completion>,
    /// How it was cancelled.
    pub cancelled: Option<Cancellation>,
    /// Its pre-copy's failure, while not retried.
    #[serde(default)]
    pub pre_copy_failure: Option<PreCopyFailure>,
    /// Every state entered, in order.
    pub history: Vec<StateChange>,
    /// What the network did for it: MX advice, TTLs, traffic switches, IP routes.
    #[serde(default)]
    pub network: super::network::MigrationNetwork,
    /// The loan of its transit server, as billing recorded it.
    #[serde(default)]
    pub loan: Option<super::billing::LoanRecord>,
}

impl MigrationView {
    /// A migration opening (step 1).
    pub fn open(event: &MigrationOpened, at: At) -> Self {
        let state = MigrationStatus::Preparing;
        Self {
            migration_id: event.migration_id,
            server_id: event.server_id.clone(),
            customer_id: event.customer_id.clone(),
            from_version: event.from_version.clone(),
            target_version: event.target_version.clone(),
            state,
            step: state.step(),
            state_since: at.occurred_at,
            opened_at: at.occurred_at,
            opened_sequence: at.sequence,
            accounts: event
                .accounts
                .iter()
                .map(|id| MigrationAccount::new(id.clone(), at))
                .collect(),
            transit_request: None,
            languages_removed: Vec::new(),
            queue: None,
            transit: None,
            reinstall: Reinstall::default(),
            transfers: Vec::new(),
            downtime_ms: 0,
            completed: None,
            cancelled: None,
            pre_copy_failure: None,
            history: vec![StateChange {
                state,
                step: state.step(),
                at: at.occurred_at,
                sequence: at.sequence,
            }],
            network: super::network::MigrationNetwork::default(),
            loan: None,
        }
    }

    /// The account `account_id`, if the migration has it.
    pub fn account(&self, account_id: &str) -> Option<&MigrationAccount> {
        self.accounts.iter().find(|a| a.account_id == account_id)
    }

    /// The account `account_id`, added (being prepared) if the migration did not list it.
    fn account_mut(&mut self, account_id: &str, at: At) -> &mut MigrationAccount {
        let index = match self
            .accounts
            .iter()
            .position(|a| a.account_id == account_id)
        {
            Some(index) => index,
            None => {
                self.accounts.push(MigrationAccount::new(account_id, at));
                self.accounts.len() - 1
            }
        };
        &mut self.accounts[index]
    }

    /// Enters `state` (recorded in the history when it changes).
    fn enter(&mut self, state: MigrationStatus, at: At) {
        if self.state == state {
            return;
        }
        self.state = state;
        self.step = state.step();
        self.state_since = at.occurred_at;
        self.history.push(StateChange {
            state,
            step: state.step(),
            at: at.occurred_at,
            sequence: at.sequence,
        });
    }

    fn recount_downtime(&mut self) {
        self.downtime_ms = self
            .accounts
            .iter()
            .fold(0u64, |sum, a| sum.saturating_add(a.downtime_ms));
    }

    /// Records a transfer the migration asked for, unless already known.
    fn request_transfer(&mut self, transfer: TransferView) {
        if !self
            .transfers
            .iter()
            .any(|t| t.transfer_id == transfer.transfer_id)
        {
            self.transfers.push(transfer);
        }
    }

    /// Folds one event of the migration aggregate: its facts, then its state by the
    /// contract's one state machine ([`MigrationStatus::after`]).
    pub fn apply(&mut self, event: &MigrationEvent, at: At) {
        self.apply_facts(event, at);
        let all_on_transit = self.accounts.iter().all(|a| a.state.on_transit());
        if let Some(next) = MigrationStatus::after(Some(self.state), event, all_on_transit) {
            self.enter(next, at);
        }
    }

    fn apply_facts(&mut self, event: &MigrationEvent, at: At) {
        use MigrationEvent as E;
        match event {
            E::MigrationOpened(e) => *self = Self::open(e, at),
            E::AccountCompatibilityChecked(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.compatibility.checked_at = Some(at.occurred_at);
                account.compatibility.issues = e.issues.clone();
            }
            E::TestMigrationRequested(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.test.status = TestStatus::Requested;
                account.test.transfer_id = Some(e.transfer_id);
                account.test.test_address = None;
                account.test.failure = None;
                account.test.updated_at = Some(at.occurred_at);
                let transfer = TransferView::requested(
                    e.transfer_id,
                    ferry_events::TransferKind::TestCopy,
                    vec![e.account_id.clone()],
                    at,
                );
                self.request_transfer(transfer);
            }
            E::TestMigrationAvailable(e) => {
                let test = &mut self.account_mut(&e.account_id, at).test;
                test.status = TestStatus::Available;
                test.transfer_id = Some(e.transfer_id);
                test.test_address = Some(e.test_address.clone());
                test.updated_at = Some(at.occurred_at);
            }
            E::TestMigrationFailed(e) => {
                let test = &mut self.account_mut(&e.account_id, at).test;
                test.status = TestStatus::Failed;
                test.transfer_id = Some(e.transfer_id);
                test.failure = Some(e.reason.clone());
                test.updated_at = Some(at.occurred_at);
            }
            E::TestMigrationDiscarded(e) => {
                let test = &mut self.account_mut(&e.account_id, at).test;
                test.status = TestStatus::None;
                test.test_address = None;
                test.failure = None;
                test.updated_at = Some(at.occurred_at);
            }
            E::AccountMarkedReady(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.marked_ready_at = Some(at.occurred_at);
                if account.state == AccountState::Preparing {
                    account.enter(AccountState::Ready, at);
                }
            }
            E::AccountReadinessWithdrawn(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.marked_ready_at = None;
                if account.state == AccountState::Ready {
                    account.enter(AccountState::Preparing, at);
                }
            }
            E::TransitServerRequested(e) => {
                self.transit_request = Some(TransitRequest {
                    configuration: e.configuration.clone(),
                    requested_at: at.occurred_at,
                    languages_removed_at: None,
                });
                self.queue = None;
                self.transit = None;
            }
            E::ObsoleteLanguagesRemoved(e) => {
                if let Some(request) = &mut self.transit_request {
                    request.languages_removed_at = Some(at.occurred_at);
                }
                self.languages_removed.extend(e.removals.iter().cloned());
            }
            E::ObsoleteLanguagesRestored(e) => {
                for restored in &e.restorations {
                    forget_languages(&mut self.languages_removed, restored);
                }
                self.transit_request = None;
                self.queue = None;
                self.transit = None;
                self.pre_copy_failure = None;
            }
            E::TransitServerQueued(e) => {
                let queue = self.wait_in(&e.configuration);
                queue.position_when_queued = Some(e.position);
                queue.queued_at.get_or_insert(at.occurred_at);
            }
            E::TransitServerAssigned(e) => {
                self.assignment(&e.transit_server_id).assigned_at = Some(at.occurred_at);
            }
            E::TransitServerReady(e) => {
                self.assignment(&e.transit_server_id).ready_at = Some(e.ready_at);
                self.pre_copy_failure = None;
            }
            E::AccountMoveStarted(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.start(
                    OperationKind::Move,
                    e.transfer_id,
                    e.estimated_downtime_ms,
                    AccountState::Moving,
                    at,
                );
                let transfer = account.operation.as_ref().map(|o| o.transfer.clone());
                transfer.into_iter().for_each(|t| self.request_transfer(t));
            }
            E::AccountMoved(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.verified_at = None;
                account.succeed(
                    OperationKind::Move,
                    e.transfer_id,
                    e.downtime_ms,
                    AccountState::OnTransit,
                    at,
                );
                self.recount_downtime();
            }
            E::AccountMoveFailed(e) => {
                self.account_mut(&e.account_id, at).fail(
                    OperationKind::Move,
                    e.transfer_id,
                    &e.reason,
                    AccountState::Ready,
                    at,
                );
            }
            E::AccountVerified(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.verified_at = Some(at.occurred_at);
                if account.state == AccountState::OnTransit {
                    account.enter(AccountState::Verified, at);
                }
            }
            E::AccountRollbackStarted(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.start(
                    OperationKind::Rollback,
                    e.transfer_id,
                    e.estimated_downtime_ms,
                    AccountState::RollingBack,
                    at,
                );
                let transfer = account.operation.as_ref().map(|o| o.transfer.clone());
                transfer.into_iter().for_each(|t| self.request_transfer(t));
            }
            E::AccountRolledBack(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.verified_at = None;
                account.succeed(
                    OperationKind::Rollback,
                    e.transfer_id,
                    e.downtime_ms,
                    AccountState::Ready,
                    at,
                );
                self.recount_downtime();
            }
            E::AccountRollbackFailed(e) => {
                let account = self.account_mut(&e.account_id, at);
                let back = account.on_transit_state();
                account.fail(OperationKind::Rollback, e.transfer_id, &e.reason, back, at);
            }
            E::ReinstallRequested(_) => self.reinstall.requested_at = Some(at.occurred_at),
            E::ReinstallStarted(e) => {
                self.reinstall.started_at = Some(at.occurred_at);
                self.reinstall.ips_rerouted_to = Some(e.ips_rerouted_to.clone());
                if let Some(transit) = self
                    .transit
                    .as_mut()
                    .filter(|t| t.transit_server_id == e.ips_rerouted_to)
                {
                    transit.ips_rerouted_at = Some(at.occurred_at);
                }
            }
            E::ServerReinstalled(e) => {
                self.pre_copy_failure = None;
                self.reinstall.reinstalled_at = Some(at.occurred_at);
                self.reinstall.infrastructure_version = Some(e.infrastructure_version.clone());
            }
            E::AccountRelocationStarted(e) => {
                let account = self.account_mut(&e.account_id, at);
                account.start(
                    OperationKind::Relocation,
                    e.transfer_id,
                    e.estimated_downtime_ms,
                    AccountState::Relocating,
                    at,
                );
                let transfer = account.operation.as_ref().map(|o| o.transfer.clone());
                transfer.into_iter().for_each(|t| self.request_transfer(t));
            }
            E::AccountRelocated(e) => {
                self.account_mut(&e.account_id, at).succeed(
                    OperationKind::Relocation,
                    e.transfer_id,
                    e.downtime_ms,
                    AccountState::Relocated,
                    at,
                );
                self.recount_downtime();
            }
            E::AccountRelocationFailed(e) => {
                let account = self.account_mut(&e.account_id, at);
                let back = account.on_transit_state();
                account.fail(
                    OperationKind::Relocation,
                    e.transfer_id,
                    &e.reason,
                    back,
                    at,
                );
            }
            E::MigrationCompleted(e) => {
                self.completed = Some(Completion {
                    at: at.occurred_at,
                    reported_downtime_ms: e.total_downtime_ms,
                });
            }
            E::MigrationCancelled(e) => {
                self.cancelled = Some(Cancellation {
                    at: at.occurred_at,
                    reason: e.reason.clone(),
                });
            }
            E::PreCopyFailed(e) => {
                self.pre_copy_failure = Some(PreCopyFailure {
                    transfer_id: e.transfer_id,
                    destination: e.destination,
                    reason: e.reason.clone(),
                    retryable: e.retryable,
                    attempt: e.attempt,
                    retry_at: e.retry_at,
                    at: at.occurred_at,
                });
            }
            E::PreCopyRetried(_) => self.pre_copy_failure = None,
            E::AccountTransferAborted(e) => {
                let account = self.account_mut(&e.account_id, at);
                let (kind, back) = match account.state {
                    AccountState::RollingBack => {
                        (OperationKind::Rollback, account.on_transit_state())
                    }
                    AccountState::Relocating => {
                        (OperationKind::Relocation, account.on_transit_state())
                    }
                    _ => (OperationKind::Move, AccountState::Ready),
                };
                let reason = format!("called off by support: {}", e.reason);
                account.fail(kind, e.transfer_id, &reason, back, at);
            }
        }
    }

    /// The queue wait in `configuration`, started afresh unless one is under way there.
    fn wait_in(&mut self, configuration: &str) -> &mut QueueWait {
        let current = self
            .queue
            .take()
            .filter(|q| q.configuration == configuration && q.served_at.is_none());
        self.queue
            .insert(current.unwrap_or_else(|| QueueWait::new(configuration)))
    }

    /// The assignment of `transit_server_id`, replacing one of another server.
    fn assignment(&mut self, transit_server_id: &str) -> &mut TransitAssignment {
        let current = self
            .transit
            .take()
            .filter(|t| t.transit_server_id == transit_server_id);
        self.transit
            .insert(current.unwrap_or_else(|| TransitAssignment::new(transit_server_id)))
    }
}

/// Removes from `removed` the versions given back to `restored.account_id`.
fn forget_languages(removed: &mut Vec<AccountLanguages>, restored: &AccountLanguages) {
    for entry in removed
        .iter_mut()
        .filter(|r| r.account_id == restored.account_id)
    {
        entry.versions.retain(|v| !restored.versions.contains(v));
    }
    removed.retain(|r| !r.versions.is_empty());
}
