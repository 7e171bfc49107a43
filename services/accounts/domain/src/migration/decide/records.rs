//! What the other services report, recorded by ferry itself: a test copy made or
//! failed (data mover), the transit request queued, a transit server assigned and
//! ready (transit pool), and a cutover over (data mover), which moves an account.
//! A report already recorded, or no longer awaited, is recorded once.

use super::Decision;
use super::ending;
use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{MigrationState, Phase, Place, TestCopy};
use chrono::{DateTime, Utc};
use ferry_events::{
    AccountMoveFailed, AccountMoved, AccountRelocationFailed, AccountRollbackFailed,
    AccountRolledBack, MigrationEvent, PreCopyDestination, PreCopyFailed, PreCopyRetried,
    TestMigrationAvailable, TestMigrationFailed, TransitServerAssigned, TransitServerQueued,
    TransitServerReady,
};

pub(super) fn test_copy(
    state: &MigrationState,
    transfer_id: uuid::Uuid,
    outcome: &Result<String, String>,
) -> Decision {
    let waiting = state
        .accounts
        .iter()
        .find(|(_, a)| a.test == TestCopy::Requested { transfer_id });
    // A copy discarded meanwhile, or already recorded: nothing to do.
    let Some((account_id, _)) = waiting else {
        return Ok(vec![]);
    };
    let account_id = account_id.clone();
    Ok(vec![match outcome {
        Ok(address) => TestMigrationAvailable {
            account_id,
            transfer_id,
            test_address: address.clone(),
        }
        .into(),
        Err(reason) => TestMigrationFailed {
            account_id,
            transfer_id,
            reason: reason.clone(),
        }
        .into(),
    }])
}

pub(super) fn queued(state: &MigrationState, configuration: &str, position: u32) -> Decision {
    if state.phase() != Phase::TransitRequested {
        return Ok(vec![]);
    }
    Ok(vec![
        TransitServerQueued {
            configuration: configuration.to_owned(),
            position,
        }
        .into(),
    ])
}

pub(super) fn transit_assigned(state: &MigrationState, transit_server_id: &str) -> Decision {
    match state.phase() {
        Phase::TransitRequested | Phase::TransitWaiting => Ok(vec![
            TransitServerAssigned {
                transit_server_id: transit_server_id.to_owned(),
            }
            .into(),
        ]),
        _ if state.transit_server_id.as_deref() == Some(transit_server_id) => Ok(vec![]),
        _ => Err(Refused::WrongStep(format!(
            "the migration is {} and waits for no transit server",
            state.state_name()
        ))),
    }
}

pub(super) fn transit_ready(
    state: &MigrationState,
    transit_server_id: &str,
    ready_at: DateTime<Utc>,
) -> Decision {
    if state.transit_server_id.as_deref() != Some(transit_server_id) {
        return Err(Refused::WrongStep(format!(
            "transit server {transit_server_id} is not the one assigned to this migration"
        )));
    }
    if state.phase() != Phase::TransitInstalling {
        return Ok(vec![]);
    }
    Ok(vec![
        TransitServerReady {
            transit_server_id: transit_server_id.to_owned(),
            ready_at,
        }
        .into(),
    ])
}

/// The end of the cutover of `transfer_id`: the account it moved is where it went,
/// or back where it was.
pub(super) fn cutover(
    state: &MigrationState,
    transfer_id: uuid::Uuid,
    outcome: &Result<u64, String>,
) -> Decision {
    let found = state.accounts.iter().find(|(_, a)| match a.place {
        Place::MovingToTransit { transfer_id: t }
        | Place::RollingBack { transfer_id: t }
        | Place::Relocating { transfer_id: t } => t == transfer_id,
        _ => false,
    });
    // Already recorded, or not a cutover of this migration: nothing to do.
    let Some((account_id, progress)) = found else {
        return Ok(vec![]);
    };
    let account_id = account_id.clone();
    let event: MigrationEvent = match (&progress.place, outcome) {
        (Place::MovingToTransit { .. }, Ok(downtime_ms)) => AccountMoved {
            account_id,
            transfer_id,
            downtime_ms: *downtime_ms,
        }
        .into(),
        (Place::MovingToTransit { .. }, Err(reason)) => AccountMoveFailed {
            account_id,
            transfer_id,
            reason: reason.clone(),
        }
        .into(),
        (Place::RollingBack { .. }, Ok(downtime_ms)) => AccountRolledBack {
            account_id,
            transfer_id,
            downtime_ms: *downtime_ms,
        }
        .into(),
        (Place::RollingBack { .. }, Err(reason)) => AccountRollbackFailed {
            account_id,
            transfer_id,
            reason: reason.clone(),
        }
        .into(),
        (_, Ok(downtime_ms)) => {
            return Ok(ending::relocated(
                state,
                account_id,
                transfer_id,
                *downtime_ms,
            ));
        }
        (_, Err(reason)) => AccountRelocationFailed {
            account_id,
            transfer_id,
            reason: reason.clone(),
        }
        .into(),
    };
    Ok(vec![event])
}

/// Attempts of one pre-copy ferry makes by itself; support decides after that.
pub const PRE_COPY_AUTOMATIC_ATTEMPTS: u32 = 5;

/// How long ferry waits before trying attempt `failed + 1`: 30 s, doubling, at most
/// 16 minutes.
pub fn pre_copy_backoff(failed: u32) -> chrono::Duration {
    let doublings = failed.saturating_sub(1).min(5);
    chrono::Duration::seconds(30 << doublings)
}

/// The data mover reports the pre-copy `transfer_id` failed. Recorded while the
/// migration waits for that pre-copy (step 3 to the transit server, steps 6 and 7
/// back to the client server), once; retried by ferry after a backoff when the
/// failure may pass, a few times, and by support otherwise.
pub(super) fn pre_copy_failed(
    state: &MigrationState,
    transfer_id: uuid::Uuid,
    destination: PreCopyDestination,
    reason: &str,
    retryable: bool,
    at: DateTime<Utc>,
) -> Decision {
    let awaited = match destination {
        PreCopyDestination::TransitServer => state.phase() == Phase::TransitInstalling,
        PreCopyDestination::ClientServer => {
            matches!(state.phase(), Phase::Reinstalling | Phase::Relocating)
        }
    };
    let recorded = state
        .pre_copy
        .failure
        .as_ref()
        .is_some_and(|f| f.transfer_id == transfer_id);
    if !awaited || recorded {
        return Ok(vec![]);
    }
    let attempt = state.pre_copy.attempt.max(1);
    let retry_at = (retryable && attempt < PRE_COPY_AUTOMATIC_ATTEMPTS)
        .then(|| at + pre_copy_backoff(attempt));
    Ok(vec![
        PreCopyFailed {
            transfer_id,
            destination,
            reason: reason.to_owned(),
            retryable,
            attempt,
            retry_at,
        }
        .into(),
    ])
}

/// The failed pre-copy tried again, as a new transfer whose id derives from the
/// failed one. Ferry's timer names the failure it is for: a stale one changes
/// nothing. Support retries whatever failure is recorded.
pub(super) fn retry_pre_copy(
    state: &MigrationState,
    failed_transfer_id: Option<uuid::Uuid>,
) -> Decision {
    let Some(failure) = &state.pre_copy.failure else {
        return match failed_transfer_id {
            Some(_) => Ok(vec![]),
            None => Err(Refused::WrongStep(
                "no pre-copy of this migration failed: there is nothing to retry".into(),
            )),
        };
    };
    if failed_transfer_id.is_some_and(|id| id != failure.transfer_id) {
        return Ok(vec![]);
    }
    Ok(vec![
        PreCopyRetried {
            transfer_id: uuid::Uuid::new_v5(&failure.transfer_id, b"retry"),
            destination: failure.destination,
            attempt: state.pre_copy.attempt.max(1) + 1,
        }
        .into(),
    ])
}
