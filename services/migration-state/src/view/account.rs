//! One account within a migration: its state (`preparing` → `ready` → `moving` →
//! `on_transit` (→ `verified`) → `relocating` → `relocated`, with rollbacks back to
//! `ready`), its compatibility, its test migration, the operation under way with its
//! transfer, and every measured downtime.

use chrono::{DateTime, Utc};
use ferry_events::{Incompatibility, TransferKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;
use super::transfer::TransferView;

/// The state of an account within a migration (docs/process.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// On the client server, being prepared (step 1).
    Preparing,
    /// Declared ready to move; on the client server.
    Ready,
    /// Moving to the transit server.
    Moving,
    /// Runs on the transit server.
    OnTransit,
    /// Runs on the transit server, checked by the customer.
    Verified,
    /// Going back to the client server (not yet reinstalled).
    RollingBack,
    /// Moving back to the reinstalled client server.
    Relocating,
    /// Runs on the reinstalled client server: done.
    Relocated,
}

impl AccountState {
    /// True when the account runs on the transit server.
    pub fn on_transit(self) -> bool {
        matches!(self, AccountState::OnTransit | AccountState::Verified)
    }
}

/// The status of an account's test migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// No test migration (never asked, or discarded).
    None,
    /// Asked for; the copy is being prepared.
    Requested,
    /// Ready to be tried at its test address.
    Available,
    /// Could not be prepared.
    Failed,
}

/// An account's test migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestMigration {
    /// Its status.
    pub status: TestStatus,
    /// The test copy's transfer.
    pub transfer_id: Option<Uuid>,
    /// Where the copy is reached, when available.
    pub test_address: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for TestMigration {
    fn default() -> Self {
        Self {
            status: TestStatus::None,
            transfer_id: None,
            test_address: None,
            failure: None,
            updated_at: None,
        }
    }
}

/// An account's compatibility with the target infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Compatibility {
    /// When it was last checked; `None`: never.
    pub checked_at: Option<DateTime<Utc>>,
    /// Everything the last check found (empty: compatible).
    #[schema(value_type = Vec<Object>)]
    pub issues: Vec<Incompatibility>,
}

/// What moves an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// To the transit server (step 4).
    Move,
    /// Back to the not yet reinstalled client server (step 5).
    Rollback,
    /// Back to the reinstalled client server (step 7).
    Relocation,
}

impl OperationKind {
    /// The kind of transfer performing it.
    pub fn transfer_kind(self) -> TransferKind {
        match self {
            OperationKind::Move => TransferKind::Cutover,
            OperationKind::Rollback => TransferKind::Rollback,
            OperationKind::Relocation => TransferKind::Relocation,
        }
    }

    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Move => "move",
            OperationKind::Rollback => "rollback",
            OperationKind::Relocation => "relocation",
        }
    }
}

/// A move, rollback or relocation under way, with its transfer's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Operation {
    /// What it is.
    pub kind: OperationKind,
    /// Expected downtime, in milliseconds.
    pub estimated_downtime_ms: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its transfer, as far as the data mover has reported.
    pub transfer: TransferView,
}

/// A measured downtime of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Downtime {
    /// The operation that caused it.
    pub kind: OperationKind,
    /// Its transfer.
    pub transfer_id: Uuid,
    /// The downtime, in milliseconds.
    pub downtime_ms: u64,
    /// When the operation ended.
    pub at: DateTime<Utc>,
}

/// A failed move, rollback or relocation (the account stayed where it was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationFailure {
    /// The operation that failed.
    pub kind: OperationKind,
    /// Its transfer.
    pub transfer_id: Uuid,
    /// Why.
    pub reason: String,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// One account of a migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MigrationAccount {
    /// The account id.
    pub account_id: String,
    /// Its state.
    pub state: AccountState,
    /// Since when it is in that state.
    pub state_since: DateTime<Utc>,
    /// When the customer last declared it ready (`None`: not ready).
    pub marked_ready_at: Option<DateTime<Utc>>,
    /// When the customer confirmed it works on the transit server.
    pub verified_at: Option<DateTime<Utc>>,
    /// Its compatibility with the target.
    pub compatibility: Compatibility,
    /// Its test migration.
    pub test: TestMigration,
    /// The move, rollback or relocation under way, with its transfer.
    pub operation: Option<Operation>,
    /// Every measured downtime, in order.
    pub downtimes: Vec<Downtime>,
    /// Sum of its downtimes, in milliseconds.
    pub downtime_ms: u64,
    /// The last failed operation.
    pub last_failure: Option<OperationFailure>,
}

impl MigrationAccount {
    /// An account entering a migration, being prepared.
    pub fn new(account_id: impl Into<String>, at: At) -> Self {
        Self {
            account_id: account_id.into(),
            state: AccountState::Preparing,
            state_since: at.occurred_at,
            marked_ready_at: None,
            verified_at: None,
            compatibility: Compatibility::default(),
            test: TestMigration::default(),
            operation: None,
            downtimes: Vec::new(),
            downtime_ms: 0,
            last_failure: None,
        }
    }

    /// Moves the account to `state` (keeps `state_since` when it does not change).
    pub fn enter(&mut self, state: AccountState, at: At) {
        if self.state != state {
            self.state = state;
            self.state_since = at.occurred_at;
        }
    }

    /// An operation starts: the account enters `state`, the transfer is requested.
    pub fn start(
        &mut self,
        kind: OperationKind,
        transfer_id: Uuid,
        estimated_downtime_ms: u64,
        state: AccountState,
        at: At,
    ) {
        let transfer = TransferView::requested(
            transfer_id,
            kind.transfer_kind(),
            vec![self.account_id.clone()],
            at,
        );
        self.operation = Some(Operation {
            kind,
            estimated_downtime_ms,
            started_at: at.occurred_at,
            transfer,
        });
        self.enter(state, at);
    }

    /// An operation succeeded with `downtime_ms`: the account enters `state`.
    pub fn succeed(
        &mut self,
        kind: OperationKind,
        transfer_id: Uuid,
        downtime_ms: u64,
        state: AccountState,
        at: At,
    ) {
        self.downtimes.push(Downtime {
            kind,
            transfer_id,
            downtime_ms,
            at: at.occurred_at,
        });
        self.downtime_ms = self.downtime_ms.saturating_add(downtime_ms);
        self.operation = None;
        self.enter(state, at);
    }

    /// An operation failed: the account enters `state` (where it was).
    pub fn fail(
        &mut self,
        kind: OperationKind,
        transfer_id: Uuid,
        reason: &str,
        state: AccountState,
        at: At,
    ) {
        self.last_failure = Some(OperationFailure {
            kind,
            transfer_id,
            reason: reason.to_owned(),
            at: at.occurred_at,
        });
        self.operation = None;
        self.enter(state, at);
    }

    /// The state a failed rollback leaves the account in: where it was before.
    pub fn on_transit_state(&self) -> AccountState {
        if self.verified_at.is_some() {
            AccountState::Verified
        } else {
            AccountState::OnTransit
        }
    }
}
