//! The failed transfers needing a person (support's console): of every migration
//! still under way, each failed transfer that nothing has tried again since, with
//! its server, accounts, phase and reason. A pre-copy that ferry retries by itself
//! is left out until its last automatic attempt fails. Pure: decided from a
//! migration's view alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::view::{MigrationStatus, MigrationView, TransferStatus, TransferView};

/// A failed transfer that a person must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FailedTransfer {
    /// The transfer.
    pub transfer_id: Uuid,
    /// What it was for: `pre_copy`, `cutover`, `relocation`, `rollback`, `test_copy`.
    #[schema(value_type = String)]
    pub kind: ferry_events::TransferKind,
    /// The migration it belongs to.
    pub migration_id: Uuid,
    /// The client server.
    pub server_id: String,
    /// Its customer.
    pub customer_id: String,
    /// The migration's state now.
    pub state: MigrationStatus,
    /// Its step now.
    pub step: Option<u8>,
    /// The accounts it copied.
    pub accounts: Vec<String>,
    /// The phase that failed: `files`, `mails`, `databases`, `final_sync`,
    /// `verifying` (none when it failed before its first phase).
    #[schema(value_type = Option<String>)]
    pub phase: Option<ferry_events::TransferPhase>,
    /// Why.
    pub reason: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// When it failed.
    pub failed_at: DateTime<Utc>,
}

/// Whether `later` tries `failed` again: the same kind of transfer for one of its
/// accounts (or, for transfers of no account, of the same kind).
fn tried_again(failed: &TransferView, later: &TransferView) -> bool {
    later.kind == failed.kind
        && (failed.accounts.is_empty() && later.accounts.is_empty()
            || later.accounts.iter().any(|a| failed.accounts.contains(a)))
}

/// The failed transfers of `migration` needing a person, oldest first: none once
/// the migration is completed or cancelled.
pub fn needing_a_person(migration: &MigrationView) -> Vec<FailedTransfer> {
    if migration.completed.is_some() || migration.cancelled.is_some() {
        return Vec::new();
    }
    let transfers = &migration.transfers;
    transfers
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == TransferStatus::Failed)
        .filter(|(i, t)| !transfers[i + 1..].iter().any(|later| tried_again(t, later)))
        .filter(|(_, t)| match t.kind {
            // The migration's own record says whether ferry retries it by itself.
            ferry_events::TransferKind::PreCopy => migration
                .pre_copy_failure
                .as_ref()
                .is_some_and(|f| f.transfer_id == t.transfer_id && f.retry_at.is_none()),
            _ => true,
        })
        .map(|(_, t)| FailedTransfer {
            transfer_id: t.transfer_id,
            kind: t.kind,
            migration_id: migration.migration_id,
            server_id: migration.server_id.clone(),
            customer_id: migration.customer_id.clone(),
            state: migration.state,
            step: migration.step,
            accounts: t.accounts.clone(),
            phase: t.phase,
            reason: t
                .failure
                .clone()
                .unwrap_or_else(|| "failed without a reason recorded".to_owned()),
            retryable: t.retryable.unwrap_or(false),
            failed_at: t.updated_at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::At;
    use crate::view::migration::PreCopyFailure;
    use ferry_events::{MigrationOpened, TransferKind};

    fn at(sequence: u64) -> At {
        At {
            sequence,
            occurred_at: DateTime::from_timestamp(1_800_000_000 + sequence as i64, 0)
                .expect("a time"),
        }
    }

    fn migration() -> MigrationView {
        MigrationView::open(
            &MigrationOpened {
                migration_id: Uuid::nil(),
                server_id: "srv-1".into(),
                customer_id: "c-1".into(),
                from_version: "v1".into(),
                target_version: "v2".into(),
                accounts: vec!["acc-1".into(), "acc-2".into()],
            },
            at(1),
        )
    }

    fn transfer(kind: TransferKind, account: &str, failed: bool, seq: u64) -> TransferView {
        let mut t = TransferView::requested(Uuid::now_v7(), kind, vec![account.into()], at(seq));
        if failed {
            t.status = TransferStatus::Failed;
            t.failure = Some("disk full".into());
            t.retryable = Some(true);
        }
        t
    }

    #[test]
    fn a_failed_move_needs_a_person_until_it_is_tried_again() {
        let mut m = migration();
        m.transfers
            .push(transfer(TransferKind::Cutover, "acc-1", true, 2));
        m.transfers
            .push(transfer(TransferKind::Cutover, "acc-2", false, 3));
        let failed = needing_a_person(&m);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].accounts, ["acc-1"]);
        assert_eq!(failed[0].reason, "disk full");
        m.transfers
            .push(transfer(TransferKind::Cutover, "acc-1", false, 4));
        assert!(needing_a_person(&m).is_empty(), "moved again");
    }

    #[test]
    fn a_pre_copy_ferry_retries_itself_is_left_out_and_an_ended_migration_has_none() {
        let mut m = migration();
        let pre_copy = transfer(TransferKind::PreCopy, "acc-1", true, 2);
        let mut record = PreCopyFailure {
            transfer_id: pre_copy.transfer_id,
            destination: ferry_events::PreCopyDestination::TransitServer,
            reason: "disk full".into(),
            retryable: true,
            attempt: 1,
            retry_at: Some(at(100).occurred_at),
            at: at(2).occurred_at,
        };
        m.transfers.push(pre_copy);
        m.pre_copy_failure = Some(record.clone());
        assert!(needing_a_person(&m).is_empty(), "ferry retries it");
        record.retry_at = None;
        m.pre_copy_failure = Some(record);
        assert_eq!(needing_a_person(&m).len(), 1, "support must");
        m.cancelled = Some(crate::view::Cancellation {
            at: at(5).occurred_at,
            reason: "gave up".into(),
        });
        assert!(needing_a_person(&m).is_empty());
    }
}
