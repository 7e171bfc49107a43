//! The pre-copy: every account's files and mails synced to the destination while the
//! accounts stay live (after a transit installation, and back to the client server
//! after its reinstall), then verified by listing, sizes and times (rsync checks every
//! file it sends against a whole-file checksum; the content of whole trees is compared
//! before the switch, by the cutover). Repeated pre-copies only send what changed. A
//! pre-copy never freezes anything: a fault fails it, nothing else.

use super::progress::Reporter;
use super::trees::{self, Depth, SyncMode};
use super::{Mover, Step, millis};
use crate::domain::transfer::TransferCommand;
use ferry_events::{TransferScheduled, TransferVerified};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs a started pre-copy to its verification and completion.
pub(crate) async fn run(
    mover: &Mover,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Step<()> {
    let started = Instant::now();
    let reporter = Reporter::start(mover, scheduled);
    let trees = trees::trees(scheduled);
    let synced = match trees::sync(&trees, SyncMode::Live, &reporter, stop).await {
        Ok(synced) => synced,
        Err(failure) => return Ok(Err(failure)),
    };
    let files_checked = match trees::verify(&synced, Depth::Listing, stop).await {
        Ok(files) => files,
        Err(failure) => return Ok(Err(failure)),
    };
    drop(reporter);
    let verified = TransferVerified {
        files_checked,
        databases: vec![],
    };
    mover
        .record(
            scheduled,
            "verified",
            TransferCommand::RecordVerified(verified),
        )
        .await?;
    let complete = TransferCommand::Complete {
        bytes_copied: synced.bytes_sent,
        duration_ms: millis(started),
        database_methods: vec![],
        test_address: None,
    };
    mover.record(scheduled, "complete", complete).await?;
    Ok(Ok(()))
}
