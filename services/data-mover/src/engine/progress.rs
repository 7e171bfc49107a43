//! Progress events at a sensible rate: a copy reports as often as it likes (rsync's
//! progress lines, phase changes); at most one `TransferProgressed` is recorded per
//! interval, plus one whenever the phase or the account changes, so that the CLI and
//! panel can draw a bar and an estimate without flooding the log.
//!
//! Each run of a transfer (a transfer interrupted by a crash or a stop runs again) has
//! its own [`Reporter`], with its own id, which counts the bytes the run actually
//! copied: what its finished copies sent, plus what the rsync under way has sent so
//! far. Every progress event carries that count, so a run that dies still leaves
//! what it copied in the log (up to its last event), and the transfer's totals add
//! every run's (see the decider).

use super::Mover;
use crate::domain::transfer::TransferCommand;
use ferry_events::{TransferPhase, TransferProgressed, TransferScheduled};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;
use uuid::Uuid;

/// Reports a run's progress; records in the background until every clone is dropped
/// (a last report may then land after the transfer ended: the decider ignores it).
#[derive(Clone)]
pub(crate) struct Reporter {
    run: Uuid,
    latest: Arc<watch::Sender<Option<TransferProgressed>>>,
    copied: Arc<Copied>,
}

/// Bytes a run copied: its finished copies', and the rsync under way's so far (one at
/// a time: trees are synced in turn; databases count once finished).
#[derive(Debug, Default)]
struct Copied {
    finished: AtomicU64,
    current: AtomicU64,
}

impl Copied {
    fn total(&self) -> u64 {
        self.finished
            .load(Ordering::Relaxed)
            .saturating_add(self.current.load(Ordering::Relaxed))
    }
}

impl Reporter {
    /// Starts recording the progress of a new run of `scheduled` through `mover`.
    pub(crate) fn start(mover: &Mover, scheduled: &TransferScheduled) -> Self {
        let run = Uuid::now_v7();
        let (latest, mut seen) = watch::channel(None::<TransferProgressed>);
        let (mover, scheduled) = (mover.clone(), scheduled.clone());
        let every = mover.settings().progress_every;
        tokio::spawn(async move {
            let mut last: Option<TransferProgressed> = None;
            let mut count = 0u64;
            while seen.changed().await.is_ok() {
                let Some(progress) = seen.borrow_and_update().clone() else {
                    continue;
                };
                if last.as_ref() == Some(&progress) {
                    continue;
                }
                count += 1;
                let step = format!("progress-{run}-{count}");
                if let Err(e) = mover
                    .record(
                        &scheduled,
                        &step,
                        TransferCommand::Progress(progress.clone()),
                    )
                    .await
                {
                    // Progress is informative: a lost report is not worth stopping for.
                    tracing::debug!(error = %e, "progress not recorded");
                }
                last = Some(progress);
                tokio::time::sleep(every).await;
            }
            // The sender is gone: record the final state if it was not.
            let final_state = seen.borrow().clone();
            if let Some(progress) = final_state
                && last.as_ref() != Some(&progress)
            {
                let step = format!("progress-{run}-final");
                if let Err(e) = mover
                    .record(&scheduled, &step, TransferCommand::Progress(progress))
                    .await
                {
                    tracing::debug!(error = %e, "progress not recorded");
                }
            }
        });
        Self {
            run,
            latest: Arc::new(latest),
            copied: Arc::default(),
        }
    }

    /// The run's id, which its completion names.
    pub(crate) fn run_id(&self) -> Uuid {
        self.run
    }

    /// Reports where the transfer is.
    pub(crate) fn report(
        &self,
        phase: TransferPhase,
        account_id: Option<&str>,
        done: u64,
        total: u64,
    ) {
        let run_bytes_copied = self.copied.total();
        let progress = TransferProgressed {
            phase,
            account_id: account_id.map(str::to_owned),
            bytes_done: done,
            bytes_total: total.max(done),
            run_id: Some(self.run),
            run_bytes_copied,
            // The decider counts the other runs' in.
            bytes_copied: run_bytes_copied,
        };
        self.latest.send_replace(Some(progress));
    }

    /// A copy finished, having sent `bytes` (an rsync's, from its statistics, which
    /// replace what its progress lines said).
    pub(crate) fn copied(&self, bytes: u64) {
        self.copied.current.store(0, Ordering::Relaxed);
        self.copied.finished.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A callback for rsync's progress within one tree: `offset` bytes of the phase
    /// were done before this tree, `total` is the phase's total.
    pub(crate) fn rsync_callback(
        &self,
        phase: TransferPhase,
        account_id: &str,
        offset: u64,
        total: u64,
    ) -> crate::files::ProgressFn {
        let (reporter, account_id) = (self.clone(), account_id.to_owned());
        Arc::new(move |tree: crate::files::TreeProgress| {
            reporter.copied.current.store(tree.sent, Ordering::Relaxed);
            reporter.report(phase, Some(&account_id), offset + tree.done, total);
        })
    }
}
