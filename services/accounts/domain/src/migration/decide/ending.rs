//! How a migration ends: cancelled by the customer or support while nothing
//! irreversible has happened, or completed when its last account is back on the
//! reinstalled server.

use super::Decision;
use super::guards::before_any_move;
use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{MigrationState, Place};
use ferry_events::{AccountRelocated, MigrationCancelled, MigrationCompleted, MigrationEvent};

pub(super) fn cancel(state: &MigrationState, reason: &str) -> Decision {
    if ferry_events::is_blank(reason) {
        return Err(Refused::Invalid(
            "say why the migration is cancelled".into(),
        ));
    }
    before_any_move(state)?;
    Ok(vec![
        MigrationCancelled {
            reason: reason.to_owned(),
        }
        .into(),
    ])
}

/// `account_id` is back on the reinstalled server after `downtime_ms`: if every
/// other account already is, the migration is completed.
pub(super) fn relocated(
    state: &MigrationState,
    account_id: String,
    transfer_id: uuid::Uuid,
    downtime_ms: u64,
) -> Vec<MigrationEvent> {
    let relocated = AccountRelocated {
        account_id: account_id.clone(),
        transfer_id,
        downtime_ms,
    };
    let others_back = state
        .accounts
        .iter()
        .all(|(id, a)| *id == account_id || a.place == Place::Relocated);
    if others_back {
        return vec![
            relocated.into(),
            MigrationCompleted {
                total_downtime_ms: state.total_downtime_ms + downtime_ms,
            }
            .into(),
        ];
    }
    vec![relocated.into()]
}
