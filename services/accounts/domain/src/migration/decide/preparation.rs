//! Step 1, preparation: opening a migration with every account's compatibility,
//! checking it again, test migrations (requested, refreshed, discarded) and the
//! readiness of each account, given or withdrawn.

use super::Decision;
use super::guards::{account, in_phases};
use crate::compatibility;
use crate::migration::refusal::MigrationRefusal as Refused;
use crate::migration::state::{MigrationState, Phase, TestCopy};
use ferry_events::{
    AccountCompatibilityChecked, AccountMarkedReady, AccountReadinessWithdrawn, AccountSpec,
    MigrationEvent, MigrationOpened, TestMigrationDiscarded, TestMigrationRequested,
};

pub(super) fn open(
    migration_id: uuid::Uuid,
    server_id: &str,
    customer_id: &str,
    from_version: &str,
    accounts: &[AccountSpec],
    target: &compatibility::TargetSupport,
) -> Decision {
    if accounts.is_empty() {
        return Err(Refused::NothingToMigrate(
            "the server has no account: reinstall it directly, there is nothing to migrate".into(),
        ));
    }
    if from_version == target.version {
        return Err(Refused::NothingToMigrate(format!(
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

pub(super) fn check_compatibility(
    state: &MigrationState,
    accounts: &[AccountSpec],
    target: &compatibility::TargetSupport,
) -> Decision {
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

pub(super) fn request_test(
    state: &MigrationState,
    account_id: &str,
    transfer_id: uuid::Uuid,
) -> Decision {
    in_phases(
        state,
        &[Phase::Preparing],
        "test migrations belong to step 1 (preparation)",
    )?;
    let account = account(state, account_id)?;
    let requested = TestMigrationRequested {
        account_id: account_id.to_owned(),
        transfer_id,
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
                account_id: account_id.to_owned(),
                transfer_id: *old,
            }
            .into(),
            requested.into(),
        ]),
        TestCopy::None | TestCopy::Failed { .. } => Ok(vec![requested.into()]),
    }
}

pub(super) fn discard_test(state: &MigrationState, account_id: &str) -> Decision {
    let account = account(state, account_id)?;
    match account.test.transfer_id() {
        None => Err(Refused::WrongStep(format!(
            "{account_id} has no test migration to discard"
        ))),
        Some(transfer_id) => Ok(vec![
            TestMigrationDiscarded {
                account_id: account_id.to_owned(),
                transfer_id,
            }
            .into(),
        ]),
    }
}

pub(super) fn mark_ready(state: &MigrationState, account_id: &str) -> Decision {
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
            account_id: account_id.to_owned(),
        }
        .into(),
    ])
}

pub(super) fn withdraw_readiness(state: &MigrationState, account_id: &str) -> Decision {
    if state.phase() == Phase::TransitRequested && state.obsolete_removed.is_some() {
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
            account_id: account_id.to_owned(),
        }
        .into(),
    ])
}
