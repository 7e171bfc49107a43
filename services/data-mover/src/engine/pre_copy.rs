//! The pre-copy: every account's files and mails synced to the destination while the
//! accounts stay live (after a transit installation, and back to the client server
//! after its reinstall), then verified by listing, sizes and times (rsync checks every
//! file it sends against a whole-file checksum; the content of whole trees is compared
//! before the switch, by the cutover). Repeated pre-copies only send what changed. A
//! pre-copy never freezes anything: a fault fails it, nothing else. It starts by
//! checking the declared sources are there ([`super::sources`]): a missing or much
//! smaller source fails it for good, with the reason.

use super::databases::{self, Move, Purpose};
use super::progress::Reporter;
use super::trees::{self, Depth, SyncMode, Tracked};
use super::{Mover, Step, millis, sources};
use crate::domain::transfer::TransferCommand;
use ferry_events::{DatabaseMethodUsed, TransferPhase, TransferScheduled, TransferVerified};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs a started pre-copy to its verification and completion.
pub(crate) async fn run(
    mover: &Mover,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Step<()> {
    let started = Instant::now();
    if let Err(failure) = sources::check(mover.settings(), scheduled).await {
        return Ok(Err(failure));
    }
    let reporter = Reporter::start(mover, scheduled);
    let trees = trees::trees(scheduled);
    let synced = match trees::sync(&trees, SyncMode::Live, &Tracked::new(), &reporter, stop).await {
        Ok(synced) => synced,
        Err(failure) => return Ok(Err(failure)),
    };
    let files_checked = match trees::verify(&synced, Depth::Listing, stop).await {
        Ok(files) => files,
        Err(failure) => return Ok(Err(failure)),
    };
    let prepared = prepare_databases(mover, scheduled, &reporter, stop).await;
    let run_id = reporter.run_id();
    drop(reporter);
    let verified = TransferVerified {
        files_checked,
        databases: vec![],
    };
    let complete = TransferCommand::Complete {
        run_id: Some(run_id),
        bytes_copied: synced.bytes_sent,
        duration_ms: millis(started),
        database_methods: prepared,
        test_address: None,
    };
    mover
        .verified_and_completed(scheduled, verified, complete)
        .await?;
    Ok(Ok(()))
}

/// With low-downtime methods on, sets up each database's replication to the
/// destination and lets it run: the accounts' cutovers, days later maybe, then only
/// wait for the last changes. Returns the methods set up. A database that cannot be
/// replicated, or fails to, is left for a dump at its cutover (logged): the pre-copy
/// of files does not depend on it.
async fn prepare_databases(
    mover: &Mover,
    scheduled: &TransferScheduled,
    reporter: &Reporter,
    stop: &CancellationToken,
) -> Vec<DatabaseMethodUsed> {
    if !mover.settings().low_downtime {
        return vec![];
    }
    let planned = match databases::plan(mover.settings(), scheduled, Purpose::Move) {
        Ok(planned) => planned,
        Err(failure) => {
            tracing::info!(reason = %failure.reason, "databases left for the cutovers");
            return vec![];
        }
    };
    let total: u64 = ferry_events::input::total_bytes(planned.iter().map(|p| p.size_bytes));
    let mut done = 0;
    let mut prepared = Vec::new();
    for p in planned {
        reporter.report(TransferPhase::Databases, None, done, total);
        done = done.saturating_add(p.size_bytes);
        let (engine, database) = (p.engine, p.spec.destination_name.clone());
        match Move::prepare(p, mover.settings(), stop).await {
            Ok(m) => {
                if let Some(method) = m.method() {
                    prepared.push(DatabaseMethodUsed {
                        database,
                        engine,
                        method,
                    });
                }
                // Dropped, not finished: the replication keeps running.
            }
            Err(failure) => {
                tracing::warn!(%database, reason = %failure.reason,
                    "replication not set up; the cutover will set it up or dump");
            }
        }
    }
    prepared
}
