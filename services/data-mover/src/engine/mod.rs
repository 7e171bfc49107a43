//! The transfer engine: carries out a scheduled transfer with the real tools and
//! records every step as an event of its `transfer` aggregate, through the decider.
//!
//! Every step's command id derives from the transfer and the step, so running a
//! transfer again after a crash neither repeats recorded steps nor records them
//! twice; rsync only sends what is still missing, database copies restart from a
//! clean staging database, and replication is picked up where it is.
//!
//! - [`pre_copy`]: files and mails while the accounts stay live.
//! - [`cutover`]: one account frozen, final sync, databases, verification, unfrozen
//!   at the destination (move, rollback, relocation); and a service migration, every
//!   account using the service frozen at once.
//! - [`test_copy`]: an account's databases copied to the test servers.
//! - [`wipe`]: a transit server's data erased after its loan, and checked gone.
//! - [`trees`], [`databases`], [`freeze`], [`progress`]: the parts they share.
//! - `abort`: support calling a running or stuck transfer off; `sources`: a
//!   pre-copy's sources checked there before it copies.

mod abort;
pub mod cutover;
pub mod databases;
pub mod freeze;
pub mod pre_copy;
pub mod progress;
mod sources;
mod switch_wait;
pub mod test_copy;
pub mod trees;
pub mod wipe;

use crate::domain::transfer::{
    Stage, TransferCommand, TransferDecider, TransferRefusal, TransferState,
};
use crate::limits::Limits;
use crate::settings::MoverSettings;
use chrono::Utc;
use ferry_events::{Actor, TransferKind, TransferPhase, TransferScheduled, TransferVerified};
use ferry_infra::command::{Command, CommandHandler, HandleError};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A transfer could not be carried on (the log was unavailable, a step was refused,
/// or the process is stopping); it is safe to run it again.
#[derive(Debug, thiserror::Error)]
#[error("transfer {transfer_id}: {reason}")]
pub struct EngineError {
    /// The transfer.
    pub transfer_id: Uuid,
    /// Why.
    pub reason: String,
}

/// Why a copy step failed: recorded as the transfer's failure.
#[derive(Debug, Clone)]
pub(crate) struct StepFailure {
    pub phase: TransferPhase,
    pub reason: String,
    pub retryable: bool,
}

impl StepFailure {
    pub(crate) fn new(phase: TransferPhase, reason: impl Into<String>, retryable: bool) -> Self {
        Self {
            phase,
            reason: reason.into(),
            retryable,
        }
    }
}

/// What a step gives: the log failed (`Err`), or the copy succeeded or failed.
pub(crate) type Step<T> = Result<Result<T, StepFailure>, EngineError>;

/// Carries out transfers.
#[derive(Debug, Clone)]
pub struct Mover {
    handler: CommandHandler,
    settings: Arc<MoverSettings>,
    limits: Limits,
    running: abort::Running,
    estimates: Option<crate::estimates::Estimates>,
}

impl Mover {
    /// A mover recording through `handler`, with `settings`.
    pub fn new(handler: CommandHandler, settings: MoverSettings) -> Self {
        let limits = Limits::new(settings.transfers_total, settings.transfers_per_server);
        Self {
            handler,
            settings: Arc::new(settings),
            limits,
            running: abort::Running::default(),
            estimates: None,
        }
    }

    /// The same mover, announcing each cutover's expected downtime from `estimates`
    /// as it starts (`DowntimeEstimated`), as `ferry up` runs it.
    pub fn with_estimates(mut self, estimates: crate::estimates::Estimates) -> Self {
        self.estimates = Some(estimates);
        self
    }

    /// Records the fitted downtime estimate of each account a started cutover moves
    /// (once per account: a resumed run finds them recorded). An estimate that
    /// cannot be made (the log unreadable) is logged and the cutover goes on: it is
    /// a forecast, and the downtime is measured anyway.
    async fn estimate(
        &self,
        scheduled: &TransferScheduled,
        state: &TransferState,
    ) -> Result<(), EngineError> {
        let Some(estimates) = &self.estimates else {
            return Ok(());
        };
        for account in &scheduled.accounts {
            // A resumed run (frozen, verified, estimated) does not read the log again.
            if !state.awaits_estimate(&account.account_id) {
                continue;
            }
            match estimates
                .of_account(account, &scheduled.source.storage)
                .await
            {
                Ok((estimate, measured)) => {
                    let estimated = ferry_events::DowntimeEstimated {
                        account_id: account.account_id.clone(),
                        estimated_downtime_ms: estimate.estimated_downtime_ms,
                        measured_cutovers: u64::try_from(measured).unwrap_or(u64::MAX),
                    };
                    let step = format!("estimate/{}", account.account_id);
                    self.record(scheduled, &step, TransferCommand::Estimate(estimated))
                        .await?;
                }
                Err(e) => tracing::warn!(transfer_id = %scheduled.transfer_id,
                    account_id = %account.account_id, error = %e,
                    "no downtime estimate: the measured cutovers could not be read"),
            }
        }
        Ok(())
    }

    /// Its settings.
    pub fn settings(&self) -> &MoverSettings {
        &self.settings
    }

    /// Records one step of `scheduled`'s transfer; `step` names it uniquely.
    pub(crate) async fn record(
        &self,
        scheduled: &TransferScheduled,
        step: &str,
        command: TransferCommand,
    ) -> Result<(), EngineError> {
        self.record_at(scheduled, step, command).await.map(|_| ())
    }

    /// Like [`Mover::record`], giving the transfer's version after the step.
    async fn record_at(
        &self,
        scheduled: &TransferScheduled,
        step: &str,
        command: TransferCommand,
    ) -> Result<u64, EngineError> {
        let transfer_id = scheduled.transfer_id;
        let command = Command {
            id: Uuid::new_v5(&transfer_id, step.as_bytes()),
            aggregate_id: transfer_id.to_string(),
            correlation_id: scheduled.migration_id.unwrap_or(transfer_id),
            actor: Actor::system("data-mover"),
            payload: command,
        };
        let handled: Result<_, HandleError<TransferRefusal>> =
            self.handler.handle::<TransferDecider>(&command).await;
        handled
            .map(|handled| handled.version)
            .map_err(|e| EngineError {
                transfer_id,
                reason: format!("cannot record {step}: {e}"),
            })
    }

    /// The event log it records in.
    pub(crate) fn log(&self) -> &ferry_infra::event_log::EventLog {
        self.handler.log()
    }

    /// The transfer's state as recorded.
    pub(crate) async fn state(&self, transfer_id: Uuid) -> Result<TransferState, EngineError> {
        self.handler
            .state::<TransferDecider>(&transfer_id.to_string())
            .await
            .map(|(state, _)| state)
            .map_err(|e: HandleError<TransferRefusal>| EngineError {
                transfer_id,
                reason: e.to_string(),
            })
    }

    /// Records the destination verified, then the transfer completed: the end of
    /// every transfer that freezes nothing.
    pub(crate) async fn verified_and_completed(
        &self,
        scheduled: &TransferScheduled,
        verified: TransferVerified,
        complete: TransferCommand,
    ) -> Result<(), EngineError> {
        self.record(
            scheduled,
            "verified",
            TransferCommand::RecordVerified(verified),
        )
        .await?;
        self.record(scheduled, "complete", complete).await
    }

    /// Schedules the transfer (a no-op if it is), unless it already ended.
    /// Gives the transfer's version once scheduled.
    pub async fn schedule(&self, scheduled: &TransferScheduled) -> Result<u64, EngineError> {
        self.record_at(
            scheduled,
            "schedule",
            TransferCommand::Schedule(Box::new(scheduled.clone())),
        )
        .await
    }

    /// Runs a scheduled transfer to its end (completed or failed), within the
    /// concurrency limits; resumes one that a crash interrupted. `stop` interrupts it
    /// (the process is stopping): it is then left as it is, to be resumed.
    pub async fn run(
        &self,
        scheduled: &TransferScheduled,
        stop: &CancellationToken,
    ) -> Result<(), EngineError> {
        let state = self.state(scheduled.transfer_id).await?;
        if matches!(
            state.stage,
            Stage::Completed | Stage::Failed | Stage::Cancelled
        ) {
            return Ok(());
        }
        let accounts: Vec<&str> = scheduled
            .accounts
            .iter()
            .map(|a| a.account_id.as_str())
            .collect();
        let _slot = tokio::select! {
            slot = self.limits.acquire(
                &accounts,
                &scheduled.source.server_id,
                &scheduled.destination.server_id,
            ) => slot,
            _ = stop.cancelled() => return Err(self.stopped(scheduled)),
        };
        // As it is now that it has its slot (and its accounts).
        let state = self.state(scheduled.transfer_id).await?;
        if matches!(
            state.stage,
            Stage::Completed | Stage::Failed | Stage::Cancelled
        ) {
            return Ok(());
        }
        self.schedule(scheduled).await?;
        self.record(scheduled, "start", TransferCommand::Start)
            .await?;
        if state.is_cutover() {
            // As it is once started: a fresh run estimates, a resumed one has.
            let started = self.state(scheduled.transfer_id).await?;
            self.estimate(scheduled, &started).await?;
        }
        if state.stage == Stage::Verified && state.freezes() {
            // Interrupted after the switch was verified: only its end is left.
            return cutover::complete_after_restart(self, scheduled, &state, stop).await;
        }
        // Stopped with the process, or by support calling it off (`abort`).
        let process_stop = stop;
        let running = self.running.register(scheduled.transfer_id, process_stop);
        let stop = &running.token;
        // Scheduled before its values were checked (a root of `/etc`, an account
        // named `-rf`): it fails for good with the reason, nothing touched.
        let unsafe_to_run = crate::domain::transfer::safe_to_touch(scheduled).err();
        let outcome = match (unsafe_to_run, scheduled.kind) {
            (Some(reason), kind) => Ok(Err(StepFailure::new(
                if kind == TransferKind::Wipe {
                    TransferPhase::Erasing
                } else {
                    TransferPhase::Files
                },
                format!("not run: {reason}"),
                false,
            ))),
            (None, TransferKind::PreCopy) => pre_copy::run(self, scheduled, stop).await,
            (
                None,
                TransferKind::Cutover
                | TransferKind::Rollback
                | TransferKind::Relocation
                | TransferKind::ServiceMigration,
            ) => cutover::run(self, scheduled, &state, stop).await,
            (None, TransferKind::TestCopy) => test_copy::run(self, scheduled, stop).await,
            (None, TransferKind::Wipe) => wipe::run(self, scheduled, stop).await,
        }?;
        if let Err(failure) = outcome {
            if running.aborted(process_stop) {
                // Support's abort records how it ended, once this run has stopped.
                return Ok(());
            }
            if stop.is_cancelled() {
                return Err(self.stopped(scheduled));
            }
            tracing::warn!(transfer_id = %scheduled.transfer_id, kind = ?scheduled.kind,
                phase = ?failure.phase, reason = %failure.reason, "transfer failed");
            self.record(
                scheduled,
                "fail",
                TransferCommand::Fail {
                    phase: failure.phase,
                    reason: failure.reason,
                    retryable: failure.retryable,
                    at: Utc::now(),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Tears down the database replications a pre-copy like `scheduled` set up (its
    /// migration was cancelled): no slot or staging copy is left behind.
    pub async fn tear_down_replications(&self, scheduled: &TransferScheduled) {
        databases::abort_planned(&self.settings, scheduled).await;
    }

    pub(crate) fn stopped(&self, scheduled: &TransferScheduled) -> EngineError {
        EngineError {
            transfer_id: scheduled.transfer_id,
            reason: "interrupted: the data mover is stopping; the transfer resumes at its restart"
                .into(),
        }
    }
}

/// Milliseconds since `started`.
pub(crate) fn millis(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
