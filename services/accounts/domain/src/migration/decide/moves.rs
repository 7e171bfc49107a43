//! Steps 4 and 5, the moves: one account at a time goes from the client server to
//! the transit server, the customer verifies it there, or it goes back to the client
//! server until the reinstall starts.

use super::Decision;
use super::guards::{account, in_phases, on_transit, one_at_a_time, place_name};
use crate::migration::estimated_downtime_ms;
use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{MigrationState, Phase, Place};
use ferry_events::{
    AccountMoveStarted, AccountRollbackStarted, AccountTransferAborted, AccountVerified,
};

pub(super) fn start_move(
    state: &MigrationState,
    account_id: &str,
    transfer_id: uuid::Uuid,
    database_bytes: u64,
) -> Decision {
    in_phases(
        state,
        &[Phase::OnTransit],
        "accounts move to the transit server in step 4, once it is ready",
    )?;
    let progress = account(state, account_id)?;
    if progress.place != Place::Client {
        return Err(Refused::WrongStep(format!(
            "{account_id} is not on the client server ({})",
            place_name(&progress.place)
        )));
    }
    one_at_a_time(state)?;
    Ok(vec![
        AccountMoveStarted {
            account_id: account_id.to_owned(),
            transfer_id,
            estimated_downtime_ms: estimated_downtime_ms(database_bytes),
        }
        .into(),
    ])
}

pub(super) fn verify(state: &MigrationState, account_id: &str) -> Decision {
    in_phases(
        state,
        &[Phase::OnTransit, Phase::Reinstalling, Phase::Relocating],
        "accounts are verified once on the transit server",
    )?;
    let progress = on_transit(state, account_id)?;
    if progress.verified {
        return Ok(vec![]);
    }
    Ok(vec![
        AccountVerified {
            account_id: account_id.to_owned(),
        }
        .into(),
    ])
}

pub(super) fn start_rollback(
    state: &MigrationState,
    account_id: &str,
    transfer_id: uuid::Uuid,
    database_bytes: u64,
) -> Decision {
    in_phases(
        state,
        &[Phase::OnTransit],
        "a moved account can go back to the client server only until its reinstall starts",
    )?;
    on_transit(state, account_id)?;
    one_at_a_time(state)?;
    Ok(vec![
        AccountRollbackStarted {
            account_id: account_id.to_owned(),
            transfer_id,
            estimated_downtime_ms: estimated_downtime_ms(database_bytes),
        }
        .into(),
    ])
}

/// Support calls off the account's move, rollback or relocation: whatever its
/// transfer is doing, the account serves from where it was. The traffic switch has
/// not happened (it is what records the account moved), so nothing points at the
/// destination yet.
pub(super) fn abort_transfer(state: &MigrationState, account_id: &str, reason: &str) -> Decision {
    if ferry_events::is_blank(reason) {
        return Err(Refused::Invalid(
            "say why the transfer is called off: the customer reads it".into(),
        ));
    }
    let progress = account(state, account_id)?;
    let transfer_id = match progress.place {
        Place::MovingToTransit { transfer_id }
        | Place::RollingBack { transfer_id }
        | Place::Relocating { transfer_id } => transfer_id,
        _ => {
            return Err(Refused::WrongStep(format!(
                "{account_id} is not moving ({}): there is no transfer to call off",
                place_name(&progress.place)
            )));
        }
    };
    Ok(vec![
        AccountTransferAborted {
            account_id: account_id.to_owned(),
            transfer_id,
            reason: reason.trim().to_owned(),
        }
        .into(),
    ])
}
