//! Progress events at a sensible rate: a copy reports as often as it likes (rsync's
//! progress lines, phase changes); at most one `TransferProgressed` is recorded per
//! interval, plus one whenever the phase or the account changes, so that the CLI and
//! panel can draw a bar and an estimate without flooding the log.

use super::Mover;
use crate::domain::transfer::TransferCommand;
use ferry_events::{TransferPhase, TransferProgressed, TransferScheduled};
use std::sync::Arc;
use tokio::sync::watch;

/// Reports a transfer's progress; records in the background until every clone is
/// dropped (a last report may then land after the transfer ended: the decider
/// ignores it).
#[derive(Clone)]
pub(crate) struct Reporter {
    latest: Arc<watch::Sender<Option<TransferProgressed>>>,
}

impl Reporter {
    /// Starts recording `scheduled`'s progress through `mover`.
    pub(crate) fn start(mover: &Mover, scheduled: &TransferScheduled) -> Self {
        let (latest, mut seen) = watch::channel(None::<TransferProgressed>);
        let (mover, scheduled) = (mover.clone(), scheduled.clone());
        let every = mover.settings().progress_every;
        tokio::spawn(async move {
            let run = uuid::Uuid::now_v7();
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
            latest: Arc::new(latest),
        }
    }

    /// Reports where the transfer is.
    pub(crate) fn report(
        &self,
        phase: TransferPhase,
        account_id: Option<&str>,
        done: u64,
        total: u64,
    ) {
        let progress = TransferProgressed {
            phase,
            account_id: account_id.map(str::to_owned),
            bytes_done: done,
            bytes_total: total.max(done),
        };
        self.latest.send_replace(Some(progress));
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
        Arc::new(move |done, _| reporter.report(phase, Some(&account_id), offset + done, total))
    }
}
