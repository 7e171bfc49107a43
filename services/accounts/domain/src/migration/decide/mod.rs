//! The rules of the eight steps: who may ask for what, then the rule of each action.
//!
//! This module only dispatches. It checks the actor against the action (the owner of
//! the server, support, or ferry itself) and hands the command to the rules of its
//! part of the process:
//!
//! - [`preparation`]: step 1, opening, compatibility, test migrations, readiness;
//! - [`transit`]: step 2, the transit server's request and the obsolete language
//!   versions;
//! - [`moves`]: steps 4 and 5, the moves to the transit server, their verification
//!   and rollbacks;
//! - [`reinstall`]: steps 6 and 7, the reinstall and the relocation of the accounts;
//! - [`ending`]: how a migration ends, cancelled or completed;
//! - [`records`]: what the other services report (test copies, the transit server's
//!   queue, assignment and readiness, cutovers);
//! - [`guards`]: the checks those rules share.

mod ending;
mod guards;
mod moves;
mod preparation;
mod records;
mod reinstall;
mod transit;

pub use records::{PRE_COPY_AUTOMATIC_ATTEMPTS, pre_copy_backoff};

use super::command::{Action, MigrationCommand};
use super::refusal::MigrationRefusal as Refused;
use super::state::{MigrationState, Phase};
use crate::access::{Allowed, Target, check};
use ferry_events::MigrationEvent;

type Decision = Result<Vec<MigrationEvent>, Refused>;

/// The events `command` causes in `state`, or why it is refused.
pub(super) fn decide(state: &MigrationState, command: &MigrationCommand) -> Decision {
    let (owner, server) = match &command.action {
        Action::Open {
            customer_id,
            server_id,
            ..
        } => (customer_id.as_str(), server_id.as_str()),
        _ if state.phase() == Phase::NotOpened => return Err(Refused::NotOpened),
        _ => (state.customer_id.as_str(), state.server_id.as_str()),
    };
    let target = match account_of(&command.action) {
        Some(account) => Target::Account(server, account),
        None => Target::Server(server),
    };
    check(
        &command.actor,
        &command.grants,
        who_may(&command.action),
        owner,
        target,
    )
    .map_err(Refused::Forbidden)?;
    match &command.action {
        Action::Open { .. } if state.phase() != Phase::NotOpened => Err(Refused::AlreadyOpened),
        Action::Open {
            migration_id,
            server_id,
            customer_id,
            from_version,
            accounts,
            target,
        } => preparation::open(
            *migration_id,
            server_id,
            customer_id,
            from_version,
            accounts,
            target,
        ),
        Action::CheckCompatibility { accounts, target } => {
            preparation::check_compatibility(state, accounts, target)
        }
        Action::RequestTest {
            account_id,
            transfer_id,
        } => preparation::request_test(state, account_id, *transfer_id),
        Action::DiscardTest { account_id } => preparation::discard_test(state, account_id),
        Action::MarkReady { account_id } => preparation::mark_ready(state, account_id),
        Action::WithdrawReadiness { account_id } => {
            preparation::withdraw_readiness(state, account_id)
        }
        Action::RequestTransit { configuration } => transit::request(state, configuration),
        Action::RemoveObsoleteLanguages { removals } => {
            transit::remove_obsolete_languages(state, removals)
        }
        Action::RestoreObsoleteLanguages => transit::restore_obsolete_languages(state),
        Action::StartMove {
            account_id,
            transfer_id,
            database_bytes,
        } => moves::start_move(state, account_id, *transfer_id, *database_bytes),
        Action::Verify { account_id } => moves::verify(state, account_id),
        Action::StartRollback {
            account_id,
            transfer_id,
            database_bytes,
        } => moves::start_rollback(state, account_id, *transfer_id, *database_bytes),
        Action::RequestReinstall => reinstall::request(state),
        Action::StartReinstall => reinstall::start(state),
        Action::RecordReinstalled {
            infrastructure_version,
        } => reinstall::record_reinstalled(state, infrastructure_version),
        Action::Relocate {
            account_id,
            transfer_id,
            database_bytes,
            now,
            calendar,
        } => reinstall::relocate(
            state,
            account_id,
            *transfer_id,
            *database_bytes,
            *now,
            calendar,
        ),
        Action::Cancel { reason } => ending::cancel(state, reason),
        Action::RecordTestCopy {
            transfer_id,
            outcome,
        } => records::test_copy(state, *transfer_id, outcome),
        Action::RecordQueued {
            configuration,
            position,
        } => records::queued(state, configuration, *position),
        Action::RecordTransitAssigned { transit_server_id } => {
            records::transit_assigned(state, transit_server_id)
        }
        Action::RecordTransitReady {
            transit_server_id,
            ready_at,
        } => records::transit_ready(state, transit_server_id, *ready_at),
        Action::RecordCutover {
            transfer_id,
            outcome,
        } => records::cutover(state, *transfer_id, outcome),
        Action::RecordPreCopyFailed {
            transfer_id,
            destination,
            reason,
            retryable,
            at,
        } => records::pre_copy_failed(state, *transfer_id, *destination, reason, *retryable, *at),
        Action::RetryPreCopy { failed_transfer_id } => {
            records::retry_pre_copy(state, *failed_transfer_id)
        }
        Action::AbortTransfer { account_id, reason } => {
            moves::abort_transfer(state, account_id, reason)
        }
    }
}

/// The one account `action` is about, if it is about one (a user granted that
/// account may ask for it); `None`: the whole server.
fn account_of(action: &Action) -> Option<&str> {
    match action {
        Action::RequestTest { account_id, .. }
        | Action::DiscardTest { account_id }
        | Action::MarkReady { account_id }
        | Action::WithdrawReadiness { account_id }
        | Action::StartMove { account_id, .. }
        | Action::Verify { account_id }
        | Action::StartRollback { account_id, .. }
        | Action::Relocate { account_id, .. }
        | Action::AbortTransfer { account_id, .. } => Some(account_id),
        _ => None,
    }
}

/// Who may ask for `action`: the owner of the server (the customer the command names
/// for [`Action::Open`]) or support, support alone, or ferry itself recording what
/// another service reports.
fn who_may(action: &Action) -> Allowed {
    match action {
        Action::Open { .. }
        | Action::CheckCompatibility { .. }
        | Action::RequestTest { .. }
        | Action::DiscardTest { .. }
        | Action::MarkReady { .. }
        | Action::WithdrawReadiness { .. }
        | Action::RequestTransit { .. }
        | Action::StartMove { .. }
        | Action::Verify { .. }
        | Action::StartRollback { .. }
        | Action::RequestReinstall
        | Action::Cancel { .. } => Allowed::OwnerOrSupport,
        Action::RemoveObsoleteLanguages { .. }
        | Action::RestoreObsoleteLanguages
        | Action::StartReinstall
        | Action::RecordReinstalled { .. }
        | Action::Relocate { .. }
        | Action::AbortTransfer { .. } => Allowed::Support,
        Action::RetryPreCopy { .. } => Allowed::SupportOrSystem,
        Action::RecordTestCopy { .. }
        | Action::RecordQueued { .. }
        | Action::RecordTransitAssigned { .. }
        | Action::RecordTransitReady { .. }
        | Action::RecordCutover { .. }
        | Action::RecordPreCopyFailed { .. } => Allowed::System,
    }
}
