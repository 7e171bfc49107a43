//! Steps 6 and 7: the customer asks for the reinstall once every account is on the
//! transit server, support starts it (the IPs rerouted to the transit server) and
//! records the server reinstalled on the target version, then moves the accounts
//! back one at a time, inside working hours.

use super::Decision;
use super::guards::{all_on_transit, in_phases, on_transit, one_at_a_time};
use crate::calendar::WorkingCalendar;
use crate::migration::estimated_downtime_ms;
use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{MigrationState, Phase};
use chrono::{DateTime, Utc};
use ferry_events::{
    AccountRelocationStarted, ReinstallRequested, ReinstallStarted, ServerReinstalled,
};

pub(super) fn request(state: &MigrationState) -> Decision {
    in_phases(
        state,
        &[Phase::OnTransit],
        "the reinstall is requested at the end of step 5",
    )?;
    if state.reinstall_requested {
        return Ok(vec![]);
    }
    all_on_transit(state)?;
    Ok(vec![ReinstallRequested {}.into()])
}

pub(super) fn start(state: &MigrationState) -> Decision {
    in_phases(
        state,
        &[Phase::OnTransit],
        "the reinstall starts after step 5",
    )?;
    all_on_transit(state)?;
    if !state.reinstall_requested {
        return Err(Refused::WrongStep(
            "the customer has not requested the reinstall yet".into(),
        ));
    }
    let transit = state
        .transit_server_id
        .clone()
        .ok_or_else(|| Refused::WrongStep("no transit server to reroute the IPs to".into()))?;
    Ok(vec![
        ReinstallStarted {
            ips_rerouted_to: transit,
        }
        .into(),
    ])
}

pub(super) fn record_reinstalled(state: &MigrationState, infrastructure_version: &str) -> Decision {
    in_phases(
        state,
        &[Phase::Reinstalling],
        "only a server being reinstalled (step 6) can be recorded reinstalled",
    )?;
    if *infrastructure_version != state.target_version {
        return Err(Refused::Invalid(format!(
            "the migration targets {}, not {infrastructure_version}",
            state.target_version
        )));
    }
    Ok(vec![
        ServerReinstalled {
            infrastructure_version: infrastructure_version.to_owned(),
        }
        .into(),
    ])
}

pub(super) fn relocate(
    state: &MigrationState,
    account_id: &str,
    transfer_id: uuid::Uuid,
    database_bytes: u64,
    now: DateTime<Utc>,
    calendar: &WorkingCalendar,
) -> Decision {
    in_phases(
        state,
        &[Phase::Relocating],
        "accounts move back in step 7, once the server is reinstalled",
    )?;
    on_transit(state, account_id)?;
    one_at_a_time(state)?;
    match calendar.next_open(now) {
        Some(next) if next == now => {}
        Some(next) => return Err(Refused::OutsideWorkingHours { next }),
        None => {
            return Err(Refused::WrongStep(
                "the working calendar has no working day in the coming year".into(),
            ));
        }
    }
    Ok(vec![
        AccountRelocationStarted {
            account_id: account_id.to_owned(),
            transfer_id,
            estimated_downtime_ms: estimated_downtime_ms(database_bytes),
        }
        .into(),
    ])
}
