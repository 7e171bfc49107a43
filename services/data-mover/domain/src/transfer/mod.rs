//! The `transfer` aggregate: one copy of accounts' data from one server to another.
//!
//! The rules that keep data safe are here, where no engine can skip them: a transfer
//! completes only once its destination is verified; a cutover completes only once the
//! account was frozen and unfrozen again, and its downtime is measured from those two
//! events, not reported by anyone (from the first freeze to the last unfreeze when a
//! service migration freezes several accounts at once); a transfer that fails or is cancelled while its
//! account is frozen unfreezes it on its source first, so no failure leaves an account
//! unreachable. What a transfer copied is counted over all its runs (a transfer
//! interrupted by a crash or a stop runs again): each run's progress events report its
//! own bytes, and the totals recorded (progress, completion) add the other runs'.

use chrono::{DateTime, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    AccountFrozen, AccountUnfrozen, AggregateType, DatabaseMethodUsed, DowntimeEstimated,
    TransferCancelled, TransferCompleted, TransferEvent, TransferFailed, TransferKind,
    TransferPhase, TransferProgressed, TransferScheduled, TransferStarted, TransferVerified,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Where a transfer is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Not scheduled.
    #[default]
    NotScheduled,
    /// Scheduled, not started.
    Scheduled,
    /// Copying.
    Running,
    /// The destination is verified.
    Verified,
    /// Done.
    Completed,
    /// Failed; the account is where it was.
    Failed,
    /// Called off.
    Cancelled,
}

/// A transfer as its events tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferState {
    /// Where it is.
    pub stage: Stage,
    /// What it was scheduled to do.
    pub scheduled: Option<TransferScheduled>,
    /// When the first account was frozen, while any is.
    pub frozen_at: Option<DateTime<Utc>>,
    /// The accounts frozen now.
    pub frozen: BTreeSet<String>,
    /// Measured downtime, once frozen and unfrozen.
    pub downtime_ms: Option<u64>,
    /// The accounts whose downtime was estimated as the transfer started.
    pub estimated: BTreeSet<String>,
    /// The last phase reported.
    pub phase: Option<TransferPhase>,
    /// Bytes copied by each run, as far as its progress events told.
    pub copied_by_run: BTreeMap<Uuid, u64>,
}

impl TransferState {
    /// Whether this transfer moves an account for good (its account is frozen).
    pub fn is_cutover(&self) -> bool {
        self.scheduled.as_ref().is_some_and(|s| {
            matches!(
                s.kind,
                TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation
            )
        })
    }

    /// Whether this transfer freezes its accounts while it switches them: a cutover,
    /// or a service migration (every account using the service, at once).
    pub fn freezes(&self) -> bool {
        self.is_cutover()
            || self
                .scheduled
                .as_ref()
                .is_some_and(|s| s.kind == TransferKind::ServiceMigration)
    }

    /// Whether the cutover is past its point of no return: verified, the network
    /// switching (or having switched) its traffic to the destination. It can then only
    /// complete: neither failed nor called off, which would unfreeze it on a source
    /// that no longer receives its traffic.
    pub fn past_no_return(&self) -> bool {
        self.stage == Stage::Verified && self.is_cutover()
    }

    /// Whether `account_id`'s downtime is still to be estimated: once, while the
    /// cutover runs and before anything is frozen (after that it is measured).
    pub fn awaits_estimate(&self, account_id: &str) -> bool {
        self.stage == Stage::Running
            && self.frozen_at.is_none()
            && self.downtime_ms.is_none()
            && !self.estimated.contains(account_id)
    }

    /// Bytes copied by the runs other than `run`, as their progress events told.
    pub fn copied_besides(&self, run: Option<Uuid>) -> u64 {
        self.copied_by_run
            .iter()
            .filter(|(id, _)| Some(**id) != run)
            .map(|(_, bytes)| *bytes)
            .fold(0, u64::saturating_add)
    }

    fn is_over(&self) -> bool {
        matches!(
            self.stage,
            Stage::Completed | Stage::Failed | Stage::Cancelled
        )
    }
}

/// What can be asked of a transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferCommand {
    /// Schedules it (boxed: it carries every account's description).
    Schedule(Box<TransferScheduled>),
    /// Starts copying.
    Start,
    /// Records the expected downtime of a cutover's account (once per account).
    Estimate(DowntimeEstimated),
    /// Reports progress: its `run_id` and `run_bytes_copied` (the decider sets
    /// `bytes_copied`, the transfer's total).
    Progress(TransferProgressed),
    /// Freezes the account (writes stopped) for the final sync of a cutover.
    Freeze {
        /// The account.
        account_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Unfreezes the account at its destination, the cutover being verified.
    Unfreeze {
        /// The account.
        account_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Records the destination verified.
    RecordVerified(TransferVerified),
    /// Completes it.
    Complete {
        /// The run completing it (`None`: one that reported no progress).
        run_id: Option<Uuid>,
        /// Bytes this run copied; the completion adds what the other runs reported.
        bytes_copied: u64,
        /// Time from start to completion, in milliseconds.
        duration_ms: u64,
        /// How each database was moved.
        database_methods: Vec<DatabaseMethodUsed>,
        /// Where a test copy is reached.
        test_address: Option<String>,
    },
    /// Records a failure; the account stays (or is unfrozen) on its source.
    Fail {
        /// Where it failed.
        phase: TransferPhase,
        /// Why.
        reason: String,
        /// Whether starting it again may succeed.
        retryable: bool,
        /// When (to unfreeze the account if frozen).
        at: DateTime<Utc>,
    },
    /// Calls it off; a frozen account is unfrozen on its source.
    Cancel {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a transfer command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferRefusal {
    /// Not scheduled.
    #[error("no such transfer")]
    NotScheduled,
    /// Scheduled twice with other details.
    #[error("this transfer is already scheduled with other details")]
    AlreadyScheduled,
    /// Malformed.
    #[error("{0}")]
    Invalid(String),
    /// Not possible now.
    #[error("{0}")]
    WrongStage(String),
    /// The safety rule.
    #[error("the destination is not verified: a transfer completes only once it is")]
    NotVerified,
}

impl Refusal for TransferRefusal {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotScheduled => RefusalKind::NotFound,
            Self::Invalid(_) => RefusalKind::Invalid,
            Self::AlreadyScheduled | Self::WrongStage(_) | Self::NotVerified => {
                RefusalKind::Conflict
            }
        }
    }
}

/// The transfer decider.
#[derive(Debug)]
pub struct TransferDecider;

type Decision = Result<Vec<TransferEvent>, TransferRefusal>;

impl Decider for TransferDecider {
    type State = TransferState;
    type Command = TransferCommand;
    type Event = TransferEvent;
    type Rejection = TransferRefusal;
    const AGGREGATE: AggregateType = AggregateType::Transfer;

    fn decide(state: &TransferState, command: &TransferCommand) -> Decision {
        if let TransferCommand::Schedule(scheduled) = command {
            return schedule(state, scheduled);
        }
        if state.stage == Stage::NotScheduled {
            return Err(TransferRefusal::NotScheduled);
        }
        match command {
            TransferCommand::Schedule(_) => Err(TransferRefusal::AlreadyScheduled),
            TransferCommand::Start => match state.stage {
                Stage::Scheduled => Ok(vec![TransferStarted {}.into()]),
                // Resumed after a restart: it goes on where it was.
                Stage::Running | Stage::Verified => Ok(vec![]),
                _ => Err(over(state)),
            },
            TransferCommand::Estimate(estimate) => {
                if !state.is_cutover() {
                    return Err(TransferRefusal::WrongStage(
                        "only a cutover, a rollback or a relocation has a downtime to estimate"
                            .into(),
                    ));
                }
                of_transfer(state, &estimate.account_id)?;
                if !state.awaits_estimate(&estimate.account_id) {
                    return Ok(vec![]);
                }
                Ok(vec![estimate.clone().into()])
            }
            TransferCommand::Progress(progress) => match state.stage {
                Stage::Running => {
                    let mut progress = progress.clone();
                    progress.bytes_copied = state
                        .copied_besides(progress.run_id)
                        .saturating_add(progress.run_bytes_copied);
                    Ok(vec![progress.into()])
                }
                // A late report changes nothing.
                _ => Ok(vec![]),
            },
            TransferCommand::Freeze { account_id, at } => {
                running(state)?;
                if !state.freezes() {
                    return Err(TransferRefusal::WrongStage(
                        "only a cutover or a service migration freezes accounts".into(),
                    ));
                }
                of_transfer(state, account_id)?;
                if state.frozen.contains(account_id) || state.downtime_ms.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![
                    AccountFrozen {
                        account_id: account_id.clone(),
                        frozen_at: *at,
                    }
                    .into(),
                ])
            }
            TransferCommand::Unfreeze { account_id, at } => {
                if state.stage != Stage::Verified {
                    return Err(TransferRefusal::NotVerified);
                }
                of_transfer(state, account_id)?;
                if !state.frozen.contains(account_id) {
                    return Ok(vec![]);
                }
                Ok(vec![
                    AccountUnfrozen {
                        account_id: account_id.clone(),
                        unfrozen_at: *at,
                    }
                    .into(),
                ])
            }
            TransferCommand::RecordVerified(verified) => match state.stage {
                Stage::Running => {
                    if state.freezes() && state.frozen_at.is_none() {
                        return Err(TransferRefusal::WrongStage(
                            "a cutover is verified after the final sync, with its account frozen"
                                .into(),
                        ));
                    }
                    Ok(vec![verified.clone().into()])
                }
                Stage::Verified => Ok(vec![]),
                _ => Err(over(state)),
            },
            TransferCommand::Complete {
                run_id,
                bytes_copied,
                duration_ms,
                database_methods,
                test_address,
            } => {
                match state.stage {
                    Stage::Verified => {}
                    Stage::Completed => return Ok(vec![]),
                    Stage::Scheduled | Stage::Running => return Err(TransferRefusal::NotVerified),
                    _ => return Err(over(state)),
                }
                if state.freezes() && (state.downtime_ms.is_none() || !state.frozen.is_empty()) {
                    return Err(TransferRefusal::WrongStage(
                        "a cutover completes once its account is unfrozen at the destination"
                            .into(),
                    ));
                }
                Ok(vec![
                    TransferCompleted {
                        bytes_copied: state.copied_besides(*run_id).saturating_add(*bytes_copied),
                        duration_ms: *duration_ms,
                        downtime_ms: state.downtime_ms,
                        database_methods: database_methods.clone(),
                        test_address: test_address.clone(),
                    }
                    .into(),
                ])
            }
            TransferCommand::Fail {
                phase,
                reason,
                retryable,
                at,
            } => {
                if state.is_over() {
                    return Ok(vec![]);
                }
                if state.past_no_return() {
                    return Err(TransferRefusal::WrongStage(
                        "the cutover is verified and its traffic switching: it can only complete"
                            .into(),
                    ));
                }
                let mut events = unfreeze_on_source(state, *at);
                events.push(
                    TransferFailed {
                        phase: *phase,
                        reason: reason.clone(),
                        retryable: *retryable,
                    }
                    .into(),
                );
                Ok(events)
            }
            TransferCommand::Cancel { reason, at } => {
                if state.is_over() {
                    return Err(over(state));
                }
                if state.past_no_return() {
                    return Err(TransferRefusal::WrongStage(
                        "the cutover is verified and its traffic switching: it can no longer \
                         be called off"
                            .into(),
                    ));
                }
                let mut events = unfreeze_on_source(state, *at);
                events.push(
                    TransferCancelled {
                        reason: reason.clone(),
                    }
                    .into(),
                );
                Ok(events)
            }
        }
    }

    fn evolve(mut state: TransferState, event: &TransferEvent) -> TransferState {
        match event {
            TransferEvent::TransferScheduled(e) => {
                state.stage = Stage::Scheduled;
                state.scheduled = Some(e.clone());
            }
            TransferEvent::TransferStarted(_) => state.stage = Stage::Running,
            TransferEvent::TransferProgressed(e) => {
                state.phase = Some(e.phase);
                if let Some(run) = e.run_id {
                    let copied = state.copied_by_run.entry(run).or_default();
                    *copied = (*copied).max(e.run_bytes_copied);
                }
            }
            TransferEvent::AccountFrozen(e) => {
                state.frozen_at.get_or_insert(e.frozen_at);
                state.frozen.insert(e.account_id.clone());
            }
            TransferEvent::AccountUnfrozen(e) => {
                state.frozen.remove(&e.account_id);
                // The downtime runs from the first freeze to the last unfreeze.
                if state.frozen.is_empty()
                    && let Some(frozen_at) = state.frozen_at.take()
                {
                    let ms = (e.unfrozen_at - frozen_at).num_milliseconds().max(0);
                    state.downtime_ms = Some(u64::try_from(ms).unwrap_or(0));
                }
            }
            TransferEvent::DowntimeEstimated(e) => {
                state.estimated.insert(e.account_id.clone());
            }
            TransferEvent::TransferVerified(_) => state.stage = Stage::Verified,
            TransferEvent::TransferCompleted(_) => state.stage = Stage::Completed,
            TransferEvent::TransferFailed(_) => state.stage = Stage::Failed,
            TransferEvent::TransferCancelled(_) => state.stage = Stage::Cancelled,
        }
        state
    }

    fn select(event: &ferry_events::Event) -> Option<&TransferEvent> {
        match event {
            ferry_events::Event::Transfer(e) => Some(e),
            _ => None,
        }
    }
}

fn schedule(state: &TransferState, scheduled: &TransferScheduled) -> Decision {
    if let Some(existing) = &state.scheduled {
        return if existing == scheduled {
            Ok(vec![])
        } else {
            Err(TransferRefusal::AlreadyScheduled)
        };
    }
    safe_to_touch(scheduled).map_err(TransferRefusal::Invalid)?;
    let same_place = scheduled.source.server_id == scheduled.destination.server_id
        && scheduled.source.storage == scheduled.destination.storage;
    if scheduled.kind == TransferKind::Wipe {
        // A wipe erases one server, even one that held no account ferry knows of
        // (it then only checks that nothing is left).
        return if same_place {
            Ok(vec![scheduled.clone().into()])
        } else {
            Err(TransferRefusal::Invalid(
                "a wipe erases one server: its source and destination are that server".into(),
            ))
        };
    }
    if scheduled.accounts.is_empty() {
        return Err(TransferRefusal::Invalid(
            "a transfer moves at least one account".into(),
        ));
    }
    if same_place {
        return Err(TransferRefusal::Invalid(
            "source and destination are the same place".into(),
        ));
    }
    let cutover = matches!(
        scheduled.kind,
        TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation
    );
    if cutover && scheduled.accounts.len() != 1 {
        return Err(TransferRefusal::Invalid(
            "a cutover moves exactly one account: accounts move one at a time".into(),
        ));
    }
    Ok(vec![scheduled.clone().into()])
}

/// What a transfer would hand to rsync, the database tools and the file system,
/// checked as a registration is ([`ferry_events::input`]): a transfer scheduled from
/// facts recorded before those checks existed (a root of `/etc`, an account named
/// `-rf`) is refused here, with the reason, rather than run.
pub fn safe_to_touch(scheduled: &TransferScheduled) -> Result<(), String> {
    use ferry_events::input::{
        check_account_name, check_database_name, check_recorded_databases, check_storage_root,
    };
    let text = |e: ferry_events::input::InvalidInput| e.to_string();
    for (end, endpoint) in [
        ("source", &scheduled.source),
        ("destination", &scheduled.destination),
    ] {
        let storage = &endpoint.storage;
        // A test server has no roots: only databases are copied there.
        for (field, root) in [
            ("files_root", &storage.files_root),
            ("mail_root", &storage.mail_root),
        ] {
            if !root.is_empty() {
                check_storage_root(&format!("{end}.{field}"), root).map_err(text)?;
            }
        }
        // Passwords are resolved from the secret store, never carried.
        check_recorded_databases(end, storage).map_err(text)?;
    }
    for account in &scheduled.accounts {
        let id = &account.account_id;
        check_account_name(&format!("account {id}: name"), &account.name).map_err(text)?;
        for database in &account.databases {
            check_database_name(&format!("account {id}: database"), &database.name)
                .map_err(text)?;
        }
    }
    Ok(())
}

fn running(state: &TransferState) -> Result<(), TransferRefusal> {
    match state.stage {
        Stage::Running => Ok(()),
        Stage::Scheduled => Err(TransferRefusal::WrongStage(
            "the transfer has not started".into(),
        )),
        _ => Err(over(state)),
    }
}

fn over(state: &TransferState) -> TransferRefusal {
    TransferRefusal::WrongStage(format!("the transfer is {:?}", state.stage).to_lowercase())
}

fn of_transfer(state: &TransferState, account_id: &str) -> Result<(), TransferRefusal> {
    let moved = state
        .scheduled
        .as_ref()
        .is_some_and(|s| s.accounts.iter().any(|a| a.account_id == account_id));
    if moved {
        return Ok(());
    }
    Err(TransferRefusal::Invalid(format!(
        "account {account_id} is not moved by this transfer"
    )))
}

/// A frozen account is unfrozen where it was: on its source.
fn unfreeze_on_source(state: &TransferState, at: DateTime<Utc>) -> Vec<TransferEvent> {
    state
        .frozen
        .iter()
        .map(|account_id| {
            AccountUnfrozen {
                account_id: account_id.clone(),
                unfrozen_at: at,
            }
            .into()
        })
        .collect()
}

#[cfg(test)]
mod tests;
