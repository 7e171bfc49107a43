//! A transfer as the read side shows it: what it copies, where it stands (phase,
//! bytes), and how it ended, folded from the `transfer` aggregate's events.

use chrono::{DateTime, Utc};
use ferry_events::{TransferEvent, TransferKind, TransferPhase, TransferScheduled};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// Asked for by the migration (a move, rollback, relocation or test started);
    /// the data mover has not planned it yet.
    Requested,
    /// Planned by the data mover.
    Scheduled,
    /// Copying.
    Running,
    /// The destination was checked equal to the source.
    Verified,
    /// Finished, verified.
    Completed,
    /// Stopped on an error; the source is intact.
    Failed,
    /// Called off; the source is intact.
    Cancelled,
}

/// One transfer of a migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    /// The transfer id.
    pub transfer_id: Uuid,
    /// What it is for: `pre_copy`, `cutover`, `relocation`, `rollback`, `test_copy` or
    /// `service_migration`.
    #[schema(value_type = String)]
    pub kind: TransferKind,
    /// The accounts it copies (empty for a service migration).
    pub accounts: Vec<String>,
    /// The server copied from, once planned.
    pub source_server_id: Option<String>,
    /// The server copied to, once planned.
    pub destination_server_id: Option<String>,
    /// Where it stands.
    pub status: TransferStatus,
    /// The phase under way (or the phase that failed): `files`, `mails`,
    /// `databases`, `final_sync` or `verifying`.
    #[schema(value_type = Option<String>)]
    pub phase: Option<TransferPhase>,
    /// The account the phase handles, when it handles one at a time.
    pub phase_account_id: Option<String>,
    /// Bytes copied so far in the phase.
    pub bytes_done: u64,
    /// Bytes to copy in the phase (an estimate until it ends).
    pub bytes_total: u64,
    /// When the accounts were frozen (downtime starts).
    pub frozen_at: Option<DateTime<Utc>>,
    /// When the accounts served again.
    pub unfrozen_at: Option<DateTime<Utc>>,
    /// Bytes actually copied so far by every run of the transfer (a transfer
    /// interrupted by a crash runs again), as its progress tells; in all once
    /// completed. `None` before the data mover reports it.
    pub bytes_copied: Option<u64>,
    /// Time from start to completion, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Time the accounts were frozen, in milliseconds, once completed.
    pub downtime_ms: Option<u64>,
    /// The data mover's expected downtime, fitted on the measured cutovers, once it
    /// has estimated it (a cutover, rollback or relocation, as it starts).
    #[serde(default)]
    pub estimated_downtime_ms: Option<u64>,
    /// Why it failed or was cancelled.
    pub failure: Option<String>,
    /// Whether trying again may succeed, for a failed transfer.
    pub retryable: Option<bool>,
    /// When it was first known.
    pub requested_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl TransferView {
    /// A transfer the migration asked for, not yet planned by the data mover.
    pub fn requested(transfer_id: Uuid, kind: TransferKind, accounts: Vec<String>, at: At) -> Self {
        Self {
            transfer_id,
            kind,
            accounts,
            source_server_id: None,
            destination_server_id: None,
            status: TransferStatus::Requested,
            phase: None,
            phase_account_id: None,
            bytes_done: 0,
            bytes_total: 0,
            frozen_at: None,
            unfrozen_at: None,
            bytes_copied: None,
            duration_ms: None,
            downtime_ms: None,
            estimated_downtime_ms: None,
            failure: None,
            retryable: None,
            requested_at: at.occurred_at,
            updated_at: at.occurred_at,
        }
    }

    /// A transfer planned by the data mover.
    pub fn scheduled(event: &TransferScheduled, at: At) -> Self {
        let mut view = Self::requested(event.transfer_id, event.kind, Vec::new(), at);
        view.plan(event, at);
        view
    }

    /// Records the data mover's plan on a transfer known so far only as requested.
    pub fn plan(&mut self, event: &TransferScheduled, at: At) {
        self.kind = event.kind;
        self.accounts = event
            .accounts
            .iter()
            .map(|a| a.account_id.clone())
            .collect();
        self.source_server_id = Some(event.source.server_id.clone());
        self.destination_server_id = Some(event.destination.server_id.clone());
        if self.status == TransferStatus::Requested {
            self.status = TransferStatus::Scheduled;
        }
        self.updated_at = at.occurred_at;
    }

    /// True once the transfer ended, one way or the other.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status,
            TransferStatus::Completed | TransferStatus::Failed | TransferStatus::Cancelled
        )
    }

    /// Folds one event of the transfer.
    pub fn apply(&mut self, event: &TransferEvent, at: At) {
        self.updated_at = at.occurred_at;
        match event {
            TransferEvent::TransferScheduled(e) => self.plan(e, at),
            TransferEvent::TransferStarted(_) => self.status = TransferStatus::Running,
            TransferEvent::DowntimeEstimated(e) => {
                self.estimated_downtime_ms = Some(e.estimated_downtime_ms);
            }
            TransferEvent::TransferProgressed(e) => {
                self.status = TransferStatus::Running;
                self.phase = Some(e.phase);
                self.phase_account_id = e.account_id.clone();
                self.bytes_done = e.bytes_done;
                self.bytes_total = e.bytes_total;
                // Progress of schema version 1 did not count the bytes copied.
                if e.run_id.is_some() {
                    self.bytes_copied = Some(e.bytes_copied);
                }
            }
            TransferEvent::AccountFrozen(e) => self.frozen_at = Some(e.frozen_at),
            TransferEvent::AccountUnfrozen(e) => self.unfrozen_at = Some(e.unfrozen_at),
            TransferEvent::TransferVerified(_) => {
                self.status = TransferStatus::Verified;
                self.phase = Some(TransferPhase::Verifying);
            }
            TransferEvent::TransferCompleted(e) => {
                self.status = TransferStatus::Completed;
                self.bytes_copied = Some(e.bytes_copied);
                self.duration_ms = Some(e.duration_ms);
                self.downtime_ms = e.downtime_ms;
                self.bytes_done = self.bytes_total.max(self.bytes_done);
            }
            TransferEvent::TransferFailed(e) => {
                self.status = TransferStatus::Failed;
                self.phase = Some(e.phase);
                self.failure = Some(e.reason.clone());
                self.retryable = Some(e.retryable);
            }
            TransferEvent::TransferCancelled(e) => {
                self.status = TransferStatus::Cancelled;
                self.failure = Some(e.reason.clone());
            }
        }
    }
}
