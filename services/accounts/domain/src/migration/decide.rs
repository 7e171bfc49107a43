//! The rules of the eight steps.

use super::command::{Action, MigrationCommand};
use super::estimated_downtime_ms;
use super::refusal::MigrationRefusal as Refused;
use super::state::{AccountProgress, MigrationState, Phase, Place, TestCopy};
use crate::access::{Allowed, check};
use crate::compatibility;
use ferry_events::*;

type Decision = Result<Vec<MigrationEvent>, Refused>;

/// The events `command` causes in `state`, or why it is refused.
pub(super) fn decide(state: &MigrationState, command: &MigrationCommand) -> Decision {
    let actor = &command.actor;
    if let Action::Open {
        migration_id,
        server_id,
        customer_id,
        from_version,
        accounts,
        target,
    } = &command.action
    {
        allow(actor, Allowed::OwnerOrSupport, customer_id)?;
        if state.phase != Phase::NotOpened {
            return Err(Refused::AlreadyOpened);
        }
        return open(
            *migration_id,
            server_id,
            customer_id,
            from_version,
            accounts,
            target,
        );
    }
    if state.phase == Phase::NotOpened {
        return Err(Refused::NotOpened);
    }
    let owner = state.customer_id.as_str();
    match &command.action {
        Action::Open { .. } => Err(Refused::AlreadyOpened),
        Action::CheckCompatibility { accounts, target } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            in_phases(
                state,
                &[Phase::Preparing, Phase::TransitRequested],
                "compatibility checks belong to steps 1 and 2",
            )?;
            Ok(accounts
                .iter()
                .filter_map(|account| {
                    let progress = state.accounts.get(&account.account_id)?;
                    let issues = compatibility::check(account, target);
                    (progress.issues != issues).then(|| {
                        AccountCompatibilityChecked {
                            account_id: account.account_id.clone(),
                            issues,
                        }
                        .into()
                    })
                })
                .collect())
        }
        Action::RequestTest {
            account_id,
            transfer_id,
        } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            in_phases(
                state,
                &[Phase::Preparing],
                "test migrations belong to step 1 (preparation)",
            )?;
            let account = account(state, account_id)?;
            let requested = TestMigrationRequested {
                account_id: account_id.clone(),
                transfer_id: *transfer_id,
            };
            match &account.test {
                TestCopy::Requested { .. } => Err(Refused::WrongStep(format!(
                    "a test migration of {account_id} is being prepared; wait for it or discard it"
                ))),
                // Refreshing an available copy replaces it.
                TestCopy::Available {
                    transfer_id: old, ..
                } => Ok(vec![
                    TestMigrationDiscarded {
                        account_id: account_id.clone(),
                        transfer_id: *old,
                    }
                    .into(),
                    requested.into(),
                ]),
                TestCopy::None | TestCopy::Failed { .. } => Ok(vec![requested.into()]),
            }
        }
        Action::DiscardTest { account_id } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            let account = account(state, account_id)?;
            match account.test.transfer_id() {
                None => Err(Refused::WrongStep(format!(
                    "{account_id} has no test migration to discard"
                ))),
                Some(transfer_id) => Ok(vec![
                    TestMigrationDiscarded {
                        account_id: account_id.clone(),
                        transfer_id,
                    }
                    .into(),
                ]),
            }
        }
        Action::RecordTestCopy {
            transfer_id,
            outcome,
        } => {
            allow(actor, Allowed::System, owner)?;
            let waiting = state.accounts.iter().find(|(_, a)| {
                a.test
                    == TestCopy::Requested {
                        transfer_id: *transfer_id,
                    }
            });
            // A copy discarded meanwhile, or already recorded: nothing to do.
            let Some((account_id, _)) = waiting else {
                return Ok(vec![]);
            };
            let account_id = account_id.clone();
            Ok(vec![match outcome {
                Ok(address) => TestMigrationAvailable {
                    account_id,
                    transfer_id: *transfer_id,
                    test_address: address.clone(),
                }
                .into(),
                Err(reason) => TestMigrationFailed {
                    account_id,
                    transfer_id: *transfer_id,
                    reason: reason.clone(),
                }
                .into(),
            }])
        }
        Action::MarkReady { account_id } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            in_phases(
                state,
                &[Phase::Preparing],
                "accounts are marked ready in step 1",
            )?;
            if account(state, account_id)?.ready {
                return Ok(vec![]);
            }
            Ok(vec![
                AccountMarkedReady {
                    account_id: account_id.clone(),
                }
                .into(),
            ])
        }
        Action::WithdrawReadiness { account_id } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            if state.phase == Phase::TransitRequested && state.obsolete_removed.is_some() {
                return Err(Refused::WrongStep(
                    "support has prepared the transit request: ask support to restore the removed language versions to return to step 1".into(),
                ));
            }
            in_phases(
                state,
                &[Phase::Preparing, Phase::TransitRequested],
                "readiness can be withdrawn in steps 1 and 2 only",
            )?;
            if !account(state, account_id)?.ready {
                return Ok(vec![]);
            }
            Ok(vec![
                AccountReadinessWithdrawn {
                    account_id: account_id.clone(),
                }
                .into(),
            ])
        }
        Action::RequestTransit { configuration } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            if state.phase == Phase::TransitRequested {
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
                    configuration: configuration.clone(),
                }
                .into(),
            ])
        }
        Action::RemoveObsoleteLanguages { removals } => {
            allow(actor, Allowed::Support, owner)?;
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
                    removals: removals.clone(),
                }
                .into(),
            ])
        }
        Action::RestoreObsoleteLanguages => {
            allow(actor, Allowed::Support, owner)?;
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
        Action::RecordQueued {
            configuration,
            position,
        } => {
            allow(actor, Allowed::System, owner)?;
            if state.phase != Phase::TransitRequested {
                return Ok(vec![]);
            }
            Ok(vec![
                TransitServerQueued {
                    configuration: configuration.clone(),
                    position: *position,
                }
                .into(),
            ])
        }
        Action::RecordTransitAssigned { transit_server_id } => {
            allow(actor, Allowed::System, owner)?;
            match state.phase {
                Phase::TransitRequested | Phase::TransitWaiting => Ok(vec![
                    TransitServerAssigned {
                        transit_server_id: transit_server_id.clone(),
                    }
                    .into(),
                ]),
                _ if state.transit_server_id.as_ref() == Some(transit_server_id) => Ok(vec![]),
                _ => Err(Refused::WrongStep(format!(
                    "the migration is {} and waits for no transit server",
                    state.state_name()
                ))),
            }
        }
        Action::RecordTransitReady {
            transit_server_id,
            ready_at,
        } => {
            allow(actor, Allowed::System, owner)?;
            if state.transit_server_id.as_ref() != Some(transit_server_id) {
                return Err(Refused::WrongStep(format!(
                    "transit server {transit_server_id} is not the one assigned to this migration"
                )));
            }
            if state.phase != Phase::TransitInstalling {
                return Ok(vec![]);
            }
            Ok(vec![
                TransitServerReady {
                    transit_server_id: transit_server_id.clone(),
                    ready_at: *ready_at,
                }
                .into(),
            ])
        }
        Action::StartMove {
            account_id,
            transfer_id,
            database_bytes,
        } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
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
                    account_id: account_id.clone(),
                    transfer_id: *transfer_id,
                    estimated_downtime_ms: estimated_downtime_ms(*database_bytes),
                }
                .into(),
            ])
        }
        Action::Verify { account_id } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
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
                    account_id: account_id.clone(),
                }
                .into(),
            ])
        }
        Action::StartRollback {
            account_id,
            transfer_id,
            database_bytes,
        } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            in_phases(
                state,
                &[Phase::OnTransit],
                "a moved account can go back to the client server only until its reinstall starts",
            )?;
            on_transit(state, account_id)?;
            one_at_a_time(state)?;
            Ok(vec![
                AccountRollbackStarted {
                    account_id: account_id.clone(),
                    transfer_id: *transfer_id,
                    estimated_downtime_ms: estimated_downtime_ms(*database_bytes),
                }
                .into(),
            ])
        }
        Action::RecordCutover {
            transfer_id,
            outcome,
        } => {
            allow(actor, Allowed::System, owner)?;
            record_cutover(state, *transfer_id, outcome)
        }
        Action::RequestReinstall => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
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
        Action::StartReinstall => {
            allow(actor, Allowed::Support, owner)?;
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
            let transit = state.transit_server_id.clone().ok_or_else(|| {
                Refused::WrongStep("no transit server to reroute the IPs to".into())
            })?;
            Ok(vec![
                ReinstallStarted {
                    ips_rerouted_to: transit,
                }
                .into(),
            ])
        }
        Action::RecordReinstalled {
            infrastructure_version,
        } => {
            allow(actor, Allowed::Support, owner)?;
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
                    infrastructure_version: infrastructure_version.clone(),
                }
                .into(),
            ])
        }
        Action::Relocate {
            account_id,
            transfer_id,
            database_bytes,
            now,
            calendar,
        } => {
            allow(actor, Allowed::Support, owner)?;
            in_phases(
                state,
                &[Phase::Relocating],
                "accounts move back in step 7, once the server is reinstalled",
            )?;
            on_transit(state, account_id)?;
            one_at_a_time(state)?;
            match calendar.next_open(*now) {
                Some(next) if next == *now => {}
                Some(next) => return Err(Refused::OutsideWorkingHours { next }),
                None => {
                    return Err(Refused::WrongStep(
                        "the working calendar has no working day in the coming year".into(),
                    ));
                }
            }
            Ok(vec![
                AccountRelocationStarted {
                    account_id: account_id.clone(),
                    transfer_id: *transfer_id,
                    estimated_downtime_ms: estimated_downtime_ms(*database_bytes),
                }
                .into(),
            ])
        }
        Action::Cancel { reason } => {
            allow(actor, Allowed::OwnerOrSupport, owner)?;
            if reason.trim().is_empty() {
                return Err(Refused::Invalid(
                    "say why the migration is cancelled".into(),
                ));
            }
            before_any_move(state)?;
            Ok(vec![
                MigrationCancelled {
                    reason: reason.clone(),
                }
                .into(),
            ])
        }
    }
}

fn open(
    migration_id: uuid::Uuid,
    server_id: &str,
    customer_id: &str,
    from_version: &str,
    accounts: &[AccountSpec],
    target: &compatibility::TargetSupport,
) -> Decision {
    if accounts.is_empty() {
        return Err(Refused::Invalid(
            "the server has no account: reinstall it directly, there is nothing to migrate".into(),
        ));
    }
    if from_version == target.version {
        return Err(Refused::Invalid(format!(
            "the server already runs {from_version}"
        )));
    }
    let mut events: Vec<MigrationEvent> = vec![
        MigrationOpened {
            migration_id,
            server_id: server_id.to_owned(),
            customer_id: customer_id.to_owned(),
            from_version: from_version.to_owned(),
            target_version: target.version.clone(),
            accounts: accounts.iter().map(|a| a.account_id.clone()).collect(),
        }
        .into(),
    ];
    events.extend(accounts.iter().map(|account| {
        AccountCompatibilityChecked {
            account_id: account.account_id.clone(),
            issues: compatibility::check(account, target),
        }
        .into()
    }));
    Ok(events)
}

fn record_cutover(
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
            let relocated = AccountRelocated {
                account_id: account_id.clone(),
                transfer_id,
                downtime_ms: *downtime_ms,
            };
            let others_back = state
                .accounts
                .iter()
                .all(|(id, a)| *id == account_id || a.place == Place::Relocated);
            if others_back {
                return Ok(vec![
                    relocated.into(),
                    MigrationCompleted {
                        total_downtime_ms: state.total_downtime_ms + downtime_ms,
                    }
                    .into(),
                ]);
            }
            relocated.into()
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

fn allow(actor: &Actor, allowed: Allowed, owner: &str) -> Result<(), Refused> {
    check(actor, allowed, owner).map_err(Refused::Forbidden)
}

fn in_phases(state: &MigrationState, phases: &[Phase], rule: &str) -> Result<(), Refused> {
    if phases.contains(&state.phase) {
        return Ok(());
    }
    Err(Refused::WrongStep(format!(
        "the migration is {} (step {}): {rule}",
        state.state_name(),
        state.step()
    )))
}

fn account<'a>(state: &'a MigrationState, id: &str) -> Result<&'a AccountProgress, Refused> {
    state
        .accounts
        .get(id)
        .ok_or_else(|| Refused::UnknownAccount(id.to_owned()))
}

/// The account, which must be on the transit server.
fn on_transit<'a>(state: &'a MigrationState, id: &str) -> Result<&'a AccountProgress, Refused> {
    let progress = account(state, id)?;
    if progress.place != Place::Transit {
        return Err(Refused::WrongStep(format!(
            "{id} is not on the transit server ({})",
            place_name(&progress.place)
        )));
    }
    Ok(progress)
}

fn one_at_a_time(state: &MigrationState) -> Result<(), Refused> {
    match state.account_in_motion() {
        Some(moving) => Err(Refused::AnotherAccountMoving(moving.to_owned())),
        None => Ok(()),
    }
}

fn all_on_transit(state: &MigrationState) -> Result<(), Refused> {
    let elsewhere = listed(state, |a| a.place != Place::Transit, true);
    if elsewhere.is_empty() {
        return Ok(());
    }
    Err(Refused::AccountsNotOnTransit(elsewhere))
}

/// Nothing irreversible has happened: no account has ever moved or is moving.
fn before_any_move(state: &MigrationState) -> Result<(), Refused> {
    match state.phase {
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
fn listed(
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

fn place_name(place: &Place) -> &'static str {
    match place {
        Place::Client => "on the client server",
        Place::MovingToTransit { .. } => "moving to the transit server",
        Place::Transit => "on the transit server",
        Place::RollingBack { .. } => "moving back to the client server",
        Place::Relocating { .. } => "moving back to the reinstalled server",
        Place::Relocated => "back on the reinstalled server",
    }
}
