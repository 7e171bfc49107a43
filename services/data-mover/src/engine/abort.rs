//! Support calls a transfer off (`AccountTransferAborted`): a move, rollback or
//! relocation that cannot finish. If it runs in this process, its tools are stopped
//! and its own failure path thaws the sources and tears its replication down; if it
//! does not (it waits for a slot, or the process that ran it died while frozen), its
//! sources are thawed and its replication torn down here. Then it is recorded
//! cancelled, which unfreezes its accounts on their source: the account serves from
//! where it was. A transfer already over is left as it is.

use super::{EngineError, Mover, databases, freeze};
use crate::domain::transfer::{Stage, TransferCommand};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a running transfer is given to stop once called off.
const STOP_WAIT: Duration = Duration::from_secs(60);

/// The transfers running in this process, each with the token that stops it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Running(Arc<Mutex<HashMap<Uuid, CancellationToken>>>);

impl Running {
    /// Registers a transfer; it stays registered until the guard drops.
    pub(crate) fn register(&self, transfer_id: Uuid, stop: &CancellationToken) -> RunningGuard {
        let token = stop.child_token();
        if let Ok(mut running) = self.0.lock() {
            running.insert(transfer_id, token.clone());
        }
        RunningGuard {
            running: self.clone(),
            transfer_id,
            token,
        }
    }

    /// Stops `transfer_id` if it runs here; whether it did.
    fn stop(&self, transfer_id: Uuid) -> bool {
        let token = self
            .0
            .lock()
            .ok()
            .and_then(|running| running.get(&transfer_id).cloned());
        token.inspect(CancellationToken::cancel).is_some()
    }

    fn runs(&self, transfer_id: Uuid) -> bool {
        self.0
            .lock()
            .is_ok_and(|running| running.contains_key(&transfer_id))
    }
}

/// A registered transfer: its token, cancelled when the process stops or support calls
/// it off.
pub(crate) struct RunningGuard {
    running: Running,
    transfer_id: Uuid,
    pub(crate) token: CancellationToken,
}

impl RunningGuard {
    /// Whether support called it off (the token fired, the process is not stopping).
    pub(crate) fn aborted(&self, stop: &CancellationToken) -> bool {
        self.token.is_cancelled() && !stop.is_cancelled()
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.0.lock() {
            running.remove(&self.transfer_id);
        }
    }
}

impl Mover {
    /// Calls `transfer_id` off for `reason` (see the module).
    pub async fn abort(&self, transfer_id: Uuid, reason: &str) -> Result<(), EngineError> {
        let state = self.state(transfer_id).await?;
        let Some(scheduled) = state.scheduled.clone() else {
            // Never scheduled: nothing runs, nothing is frozen.
            return Ok(());
        };
        if matches!(
            state.stage,
            Stage::Completed | Stage::Failed | Stage::Cancelled
        ) {
            return Ok(());
        }
        if state.past_no_return() {
            // The network switches its traffic to the destination: thawing the source
            // now would split the account in two. It completes.
            tracing::warn!(%transfer_id, %reason,
                "not called off: the cutover is verified and its traffic switching");
            return Ok(());
        }
        if self.running.stop(transfer_id) {
            let deadline = tokio::time::Instant::now() + STOP_WAIT;
            while self.running.runs(transfer_id) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            if state.frozen_at.is_some() || !state.frozen.is_empty() {
                freeze::thaw_sources(&self.settings, &scheduled).await;
            }
            databases::abort_planned(&self.settings, &scheduled).await;
        }
        let cancel = TransferCommand::Cancel {
            reason: format!("called off by support: {reason}"),
            at: Utc::now(),
        };
        let recorded = self.record(&scheduled, "abort", cancel).await;
        match recorded {
            Ok(()) => Ok(()),
            // It ended meanwhile (the decider refuses to cancel what is over).
            Err(_)
                if self.state(transfer_id).await.is_ok_and(|s| {
                    matches!(s.stage, Stage::Completed | Stage::Failed | Stage::Cancelled)
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
