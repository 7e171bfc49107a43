//! The checks the rules share: the phase a migration must be in, the account asked
//! about and where it is, one account moving at a time, nothing irreversible done
//! yet; and how accounts and their places are named in refusals.

use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{AccountProgress, MigrationState, Phase, Place};

pub(super) fn in_phases(
    state: &MigrationState,
    phases: &[Phase],
    rule: &str,
) -> Result<(), Refused> {
    if phases.contains(&state.phase()) {
        return Ok(());
    }
    Err(Refused::WrongStep(format!(
        "the migration is {} (step {}): {rule}",
        state.state_name(),
        state.step()
    )))
}

pub(super) fn account<'a>(
    state: &'a MigrationState,
    id: &str,
) -> Result<&'a AccountProgress, Refused> {
    state
        .accounts
        .get(id)
        .ok_or_else(|| Refused::UnknownAccount(id.to_owned()))
}

/// The account, which must be on the transit server.
pub(super) fn on_transit<'a>(
    state: &'a MigrationState,
    id: &str,
) -> Result<&'a AccountProgress, Refused> {
    let progress = account(state, id)?;
    if progress.place != Place::Transit {
        return Err(Refused::WrongStep(format!(
            "{id} is not on the transit server ({})",
            place_name(&progress.place)
        )));
    }
    Ok(progress)
}

pub(super) fn one_at_a_time(state: &MigrationState) -> Result<(), Refused> {
    match state.account_in_motion() {
        Some(moving) => Err(Refused::AnotherAccountMoving(moving.to_owned())),
        None => Ok(()),
    }
}

pub(super) fn all_on_transit(state: &MigrationState) -> Result<(), Refused> {
    let elsewhere = listed(state, |a| a.place != Place::Transit, true);
    if elsewhere.is_empty() {
        return Ok(());
    }
    Err(Refused::AccountsNotOnTransit(elsewhere))
}

/// Nothing irreversible has happened: no account has ever moved or is moving.
pub(super) fn before_any_move(state: &MigrationState) -> Result<(), Refused> {
    match state.phase() {
        Phase::Completed | Phase::Cancelled => Err(Refused::WrongStep(format!(
            "the migration is {}",
            state.state_name()
        ))),
        Phase::Reinstalling | Phase::Relocating => Err(Refused::TooLateToCancel),
        _ if state.any_account_moved => Err(Refused::TooLateToCancel),
        _ => match state.account_in_motion() {
            Some(moving) => Err(Refused::AnotherAccountMoving(moving.to_owned())),
            None => Ok(()),
        },
    }
}

/// The accounts `pick` selects, comma-separated, with where they are if `with_place`.
pub(super) fn listed(
    state: &MigrationState,
    pick: impl Fn(&AccountProgress) -> bool,
    with_place: bool,
) -> String {
    state
        .accounts
        .iter()
        .filter(|(_, a)| pick(a))
        .map(|(id, a)| match with_place {
            true => format!("{id} ({})", place_name(&a.place)),
            false => id.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn place_name(place: &Place) -> &'static str {
    match place {
        Place::Client => "on the client server",
        Place::MovingToTransit { .. } => "moving to the transit server",
        Place::Transit => "on the transit server",
        Place::RollingBack { .. } => "moving back to the client server",
        Place::Relocating { .. } => "moving back to the reinstalled server",
        Place::Relocated => "back on the reinstalled server",
    }
}
