//! Step 2, the transit request: the customer asks for a transit server once every
//! account is ready; support removes the language versions the target lacks, which
//! hands the request to the transit pool, or gives them back, which returns the
//! migration to step 1.

use super::Decision;
use super::guards::{account, before_any_move, in_phases, listed};
use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{MigrationState, Phase};
use ferry_events::{
    AccountLanguages, ObsoleteLanguagesRemoved, ObsoleteLanguagesRestored, TransitServerRequested,
    validate_aggregate_id,
};

pub(super) fn request(state: &MigrationState, configuration: &str) -> Decision {
    if state.phase() == Phase::TransitRequested {
        return Ok(vec![]);
    }
    in_phases(
        state,
        &[Phase::Preparing],
        "a transit server is requested at the end of step 1",
    )?;
    let not_ready = listed(state, |a| !a.ready, false);
    if !not_ready.is_empty() {
        return Err(Refused::AccountsNotReady(not_ready));
    }
    validate_aggregate_id(configuration)
        .map_err(|e| Refused::Invalid(format!("configuration: {e}")))?;
    Ok(vec![
        TransitServerRequested {
            configuration: configuration.to_owned(),
        }
        .into(),
    ])
}

pub(super) fn remove_obsolete_languages(
    state: &MigrationState,
    removals: &[AccountLanguages],
) -> Decision {
    if state.obsolete_removed.is_some() {
        return Ok(vec![]);
    }
    in_phases(
        state,
        &[Phase::TransitRequested],
        "obsolete language versions are removed in step 2, once the customer has requested the transit server",
    )?;
    for removal in removals {
        account(state, &removal.account_id)?;
    }
    Ok(vec![
        ObsoleteLanguagesRemoved {
            removals: removals.to_vec(),
        }
        .into(),
    ])
}

pub(super) fn restore_obsolete_languages(state: &MigrationState) -> Decision {
    let Some(removals) = &state.obsolete_removed else {
        return Err(Refused::WrongStep(
            "no language versions were removed: nothing to restore".into(),
        ));
    };
    before_any_move(state)?;
    Ok(vec![
        ObsoleteLanguagesRestored {
            restorations: removals.clone(),
        }
        .into(),
    ])
}
