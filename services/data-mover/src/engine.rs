//! The transfer engine: carries out a scheduled transfer with the real tools and
//! records every step as an event of its `transfer` aggregate, through the decider.
//!
//! Every command's id derives from the transfer and the step, so running a transfer
//! again after a crash neither repeats recorded steps nor records them twice; rsync
//! only sends what is still missing. Implemented so far: the **pre-copy** of every
//! account's files and mails (sync, then verification by checksums).

use crate::domain::transfer::{Stage, TransferCommand, TransferDecider, TransferRefusal};
use crate::files::{self, FileError, SyncOptions, VerifyOptions};
use chrono::Utc;
use ferry_events::{Actor, TransferKind, TransferPhase, TransferProgressed, TransferScheduled};
use ferry_infra::command::{Command, CommandHandler, HandleError};
use std::time::Instant;
use uuid::Uuid;

/// A transfer could not be carried on (the log or the database was unavailable, or a
/// step was refused); it is safe to run it again.
#[derive(Debug, thiserror::Error)]
#[error("transfer {transfer_id}: {reason}")]
pub struct EngineError {
    /// The transfer.
    pub transfer_id: Uuid,
    /// Why.
    pub reason: String,
}

/// Carries out transfers.
#[derive(Debug, Clone)]
pub struct Mover {
    handler: CommandHandler,
}

/// One directory tree to copy: an account's files or mails.
struct Tree {
    account_id: String,
    phase: TransferPhase,
    source: String,
    destination: String,
}

impl Mover {
    /// A mover recording through `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }

    async fn record(
        &self,
        scheduled: &TransferScheduled,
        step: &str,
        command: TransferCommand,
    ) -> Result<(), EngineError> {
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
        handled.map(|_| ()).map_err(|e| EngineError {
            transfer_id,
            reason: format!("cannot record {step}: {e}"),
        })
    }

    /// Runs a pre-copy: every account's files and mails synced to the destination,
    /// then verified by checksums. A copy fault is recorded as the transfer's failure
    /// (the accounts stay live on their source: a pre-copy never freezes them).
    pub async fn pre_copy(&self, scheduled: &TransferScheduled) -> Result<(), EngineError> {
        let transfer_id = scheduled.transfer_id;
        if scheduled.kind != TransferKind::PreCopy {
            return Err(EngineError {
                transfer_id,
                reason: format!("{:?} transfers are not carried out yet", scheduled.kind),
            });
        }
        let (state, _) = self
            .handler
            .state::<TransferDecider>(&transfer_id.to_string())
            .await
            .map_err(|e: HandleError<TransferRefusal>| EngineError {
                transfer_id,
                reason: e.to_string(),
            })?;
        if matches!(
            state.stage,
            Stage::Completed | Stage::Failed | Stage::Cancelled
        ) {
            return Ok(());
        }
        self.record(
            scheduled,
            "schedule",
            TransferCommand::Schedule(Box::new(scheduled.clone())),
        )
        .await?;
        self.record(scheduled, "start", TransferCommand::Start)
            .await?;
        let started = Instant::now();
        match self.copy_trees(scheduled).await? {
            Ok((bytes_copied, files_checked)) => {
                self.record(
                    scheduled,
                    "verified",
                    TransferCommand::RecordVerified(ferry_events::TransferVerified {
                        files_checked,
                        databases: vec![],
                    }),
                )
                .await?;
                let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.record(
                    scheduled,
                    "complete",
                    TransferCommand::Complete {
                        bytes_copied,
                        duration_ms,
                        database_methods: vec![],
                        test_address: None,
                    },
                )
                .await
            }
            Err((phase, error)) => {
                tracing::warn!(%transfer_id, error = %error, "pre-copy failed");
                self.record(
                    scheduled,
                    "fail",
                    TransferCommand::Fail {
                        phase,
                        reason: error.to_string(),
                        retryable: error.is_retryable(),
                        at: Utc::now(),
                    },
                )
                .await
            }
        }
    }

    /// Syncs then verifies every tree. The outer error is the log; the inner one the
    /// copy, with the phase it failed in.
    async fn copy_trees(
        &self,
        scheduled: &TransferScheduled,
    ) -> Result<Result<(u64, u64), (TransferPhase, FileError)>, EngineError> {
        let trees = trees(scheduled);
        let total: u64 = scheduled
            .accounts
            .iter()
            .map(|a| a.files_bytes + a.mail_bytes)
            .sum();
        let (mut done, mut bytes_copied, mut files_checked) = (0u64, 0u64, 0u64);
        let mut copied = Vec::new();
        for (index, tree) in trees.iter().enumerate() {
            match files::sync(&tree.source, &tree.destination, &SyncOptions::default()).await {
                Ok(report) => {
                    bytes_copied += report.bytes_sent;
                    done += report.bytes_total;
                    copied.push(tree);
                }
                // An account without mail (or files) has no directory: nothing to copy.
                Err(FileError::SourceMissing { .. }) => {}
                Err(error) => return Ok(Err((tree.phase, error))),
            }
            let progress = TransferProgressed {
                phase: tree.phase,
                account_id: Some(tree.account_id.clone()),
                bytes_done: done,
                bytes_total: total.max(done),
            };
            self.record(
                scheduled,
                &format!("progress-{index}"),
                TransferCommand::Progress(progress),
            )
            .await?;
        }
        for tree in copied {
            match files::verify(&tree.source, &tree.destination, &VerifyOptions::default()).await {
                Ok(check) => files_checked += check.files,
                Err(error) => return Ok(Err((TransferPhase::Verifying, error))),
            }
        }
        Ok(Ok((bytes_copied, files_checked)))
    }
}

/// The trees of a transfer: each account's files and mail directories, named after the
/// account under the roots of both ends.
fn trees(scheduled: &TransferScheduled) -> Vec<Tree> {
    let join = |root: &str, name: &str| format!("{}/{name}", root.trim_end_matches('/'));
    let (from, to) = (&scheduled.source.storage, &scheduled.destination.storage);
    scheduled
        .accounts
        .iter()
        .flat_map(|account| {
            [
                Tree {
                    account_id: account.account_id.clone(),
                    phase: TransferPhase::Files,
                    source: join(&from.files_root, &account.name),
                    destination: join(&to.files_root, &account.name),
                },
                Tree {
                    account_id: account.account_id.clone(),
                    phase: TransferPhase::Mails,
                    source: join(&from.mail_root, &account.name),
                    destination: join(&to.mail_root, &account.name),
                },
            ]
        })
        .collect()
}
