//! Cutovers: one account moved for good (to the transit server, back before the
//! reinstall, or onto the reinstalled server), and service migrations (every account
//! using a service moved to its new version's server at once).
//!
//! 1. Live, the accounts serving: the local source trees watched for changes
//!    (inotify), a sync of files and mails, then every tree compared by content (what
//!    differs is synced again by checksums), and each database prepared (replication
//!    started and caught up where the database allows it); then every replicated
//!    database hashed live at both ends, all at once, last: the freeze hashes again
//!    only what was written since.
//! 2. `AccountFrozen` recorded: the downtime starts. The client server's redirect
//!    holds the accounts' new requests, lets those already forwarded finish and
//!    records `AccountTrafficHeld`; then the sources are frozen (databases locked
//!    durably, the freeze command run), so that the freeze fails no request.
//! 3. At once: the final sync of what changed, then the files verified (every tree by
//!    listing, size and time, and by content every file sent since the live content
//!    check). A tree whose watch is trusted is synced and checked by content only
//!    where it changed since the live content check, and compared whole by its counts:
//!    no walk of whole trees during the downtime. And each database finished (replication drained and detached, or dumped
//!    and restored), verified table by table, then switched to its final name.
//! 4. `TransferVerified`: the point of no return. For a cutover, rollback or
//!    relocation the network service now switches the accounts' traffic to the
//!    destination (DNS records, the client server's redirect) and records
//!    `AccountTrafficSwitched`; the data mover waits for it, the accounts frozen
//!    (phase `switching`).
//! 5. The sources retired (they stay frozen for good, so nothing lands on the old
//!    copy), `AccountUnfrozen` at the instant the traffic switched: the downtime is
//!    freeze → switch, as a client sees it. Then `TransferCompleted`.
//!
//! Any failure after the freeze thaws the sources and tears down replication before
//! the failure is recorded (with `AccountUnfrozen` on the source): the account serves
//! from where it was, and a new cutover starts clean.

use super::databases::{self, Move, Purpose};
use super::freeze;
use super::progress::Reporter;
use super::trees::{self, Depth, SyncMode, Synced, Tracked, Watches};
use super::{Mover, Step, StepFailure, millis, switch_wait};
use crate::domain::transfer::{TransferCommand, TransferState};
use chrono::Utc;
use ferry_events::{
    DatabaseCheck, DatabaseMethodUsed, TransferKind, TransferPhase, TransferScheduled,
    TransferVerified,
};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs a started cutover or service migration to its completion.
pub(crate) async fn run(
    mover: &Mover,
    scheduled: &TransferScheduled,
    state: &TransferState,
    stop: &CancellationToken,
) -> Step<()> {
    let started = Instant::now();
    let reporter = Reporter::start(mover, scheduled);
    let planned = match databases::plan(mover.settings(), scheduled, Purpose::Move) {
        Ok(planned) => planned,
        Err(failure) => return Ok(Err(failure)),
    };
    // A service migration moves databases only: its files stay where they are.
    let trees = if scheduled.kind == TransferKind::ServiceMigration {
        Vec::new()
    } else {
        trees::trees(scheduled)
    };
    // 1. Live. A cutover resumed after a crash while frozen goes straight on, with
    // no watch: its trees are synced and checked whole.
    let mut watches = Watches::default();
    let live = if state.frozen_at.is_none() {
        // Watching from before the first copy: no change can fall between the two.
        watches = trees::watch(&trees, mover.settings().watch_max_changes).await;
        let synced =
            match trees::sync(&trees, SyncMode::Live, &Tracked::new(), &reporter, stop).await {
                Ok(synced) => synced,
                Err(failure) => return Ok(Err(failure)),
            };
        reporter.report(TransferPhase::Verifying, None, 0, 0);
        // The content check compares every file from here on: what changed before is
        // covered by it, what changes after by the watch.
        watches.mark().await;
        match trees::verify_live(synced, stop).await {
            Ok(checked) => checked,
            Err(failure) => return Ok(Err(failure)),
        }
    } else {
        Synced::default()
    };
    let mut moves = Vec::with_capacity(planned.len());
    for planned in planned {
        reporter.report(TransferPhase::Databases, None, 0, planned.size_bytes);
        match Move::prepare(planned, mover.settings(), stop).await {
            Ok(prepared) => moves.push(prepared),
            Err(failure) => {
                databases::abort_all(&moves).await;
                return Ok(Err(failure));
            }
        }
    }
    if let Err(failure) = databases::check_all_live(&mut moves, stop).await {
        databases::abort_all(&moves).await;
        return Ok(Err(failure));
    }
    // 2. Freeze: recorded first, so that no freeze ever goes unrecorded.
    let at = Utc::now();
    for account in &scheduled.accounts {
        let freeze = TransferCommand::Freeze {
            account_id: account.account_id.clone(),
            at,
        };
        mover
            .record(scheduled, &format!("freeze-{}", account.account_id), freeze)
            .await?;
    }
    let frozen_since = Instant::now();
    let bound = mover.settings().hold_wait;
    match switch_wait::traffic_held(mover, scheduled, bound, stop).await? {
        switch_wait::Waited::Done(_) => {}
        switch_wait::Waited::Stopped => return Err(mover.stopped(scheduled)),
        switch_wait::Waited::TimedOut => {
            databases::abort_all(&moves).await;
            let reason = format!(
                "the network service did not hold the accounts' requests within {} s \
                 (is it running?); nothing was frozen",
                bound.as_secs()
            );
            return Ok(Err(StepFailure::new(
                TransferPhase::FinalSync,
                reason,
                true,
            )));
        }
    }
    tracing::info!(transfer_id = %scheduled.transfer_id, ms = millis(frozen_since), "requests held");
    let frozen = match freeze::freeze(mover.settings(), scheduled, &moves).await {
        Ok(frozen) => frozen,
        Err(failure) => {
            databases::abort_all(&moves).await;
            return Ok(Err(failure));
        }
    };
    // 3-4. Final sync, databases, verification; undone on any failure.
    tracing::info!(transfer_id = %scheduled.transfer_id, ms = millis(frozen_since), "sources frozen");
    let resumed = state.frozen_at.is_some();
    let switched = switch(&trees, live, watches, resumed, moves, &reporter, stop).await;
    tracing::info!(transfer_id = %scheduled.transfer_id, ms = millis(frozen_since), "switched");
    match switched {
        Ok((synced, checks, methods, db_bytes)) => {
            let verified = TransferVerified {
                files_checked: synced.1,
                databases: checks,
            };
            mover
                .record(
                    scheduled,
                    "verified",
                    TransferCommand::RecordVerified(verified),
                )
                .await?;
            let at = if switch_wait::awaits_switch(scheduled.kind) {
                reporter.report(TransferPhase::Switching, None, 0, 0);
                match switch_wait::traffic_switched(mover, scheduled, stop).await? {
                    Some(at) => at,
                    // Stopping: the sources stay frozen, the run resumes at the wait.
                    None => return Err(mover.stopped(scheduled)),
                }
            } else {
                Utc::now()
            };
            tracing::info!(transfer_id = %scheduled.transfer_id, ms = millis(frozen_since), "traffic switched");
            frozen.retire().await;
            tracing::info!(transfer_id = %scheduled.transfer_id, ms = millis(frozen_since), "sources retired");
            for account in &scheduled.accounts {
                let unfreeze = TransferCommand::Unfreeze {
                    account_id: account.account_id.clone(),
                    at,
                };
                mover
                    .record(
                        scheduled,
                        &format!("unfreeze-{}", account.account_id),
                        unfreeze,
                    )
                    .await?;
            }
            let complete = TransferCommand::Complete {
                run_id: Some(reporter.run_id()),
                bytes_copied: synced.0.bytes_sent + db_bytes,
                duration_ms: millis(started),
                database_methods: methods,
                test_address: None,
            };
            mover.record(scheduled, "complete", complete).await?;
            Ok(Ok(()))
        }
        Err(failure) => {
            frozen.thaw().await;
            Ok(Err(failure))
        }
    }
}

type Switched = (
    (Synced, u64),
    Vec<DatabaseCheck>,
    Vec<DatabaseMethodUsed>,
    u64,
);

/// The frozen part: final sync, databases, verification. Replication left over by a
/// failure is torn down here.
async fn switch(
    trees: &[trees::Tree],
    live: Synced,
    watches: Watches,
    resumed: bool,
    moves: Vec<Move>,
    reporter: &Reporter,
    stop: &CancellationToken,
) -> Result<Switched, StepFailure> {
    let since = Instant::now();
    // Files and databases at once: they are independent, and the freeze lasts as long
    // as the longer of the two, not their sum. A database switched at its destination
    // before the files failed is replaced by the next attempt (the destination is the
    // account's own server, or its lent transit server).
    let files = async {
        // The sources are frozen: every change is in the watches' queues now.
        let tracked = watches.finish().await;
        let final_sync = trees::sync(trees, SyncMode::Final, &tracked, reporter, stop).await?;
        tracing::info!(ms = millis(since), "final sync done");
        let mut synced = live.then(final_sync);
        if resumed {
            // The live content check ran before the interruption, and what was sent
            // since is not known: compare every tree by content.
            for (_, sent) in &mut synced.copied {
                *sent = None;
            }
        }
        reporter.report(TransferPhase::Verifying, None, 0, 0);
        let files_checked = trees::verify(&synced, Depth::Switch, stop).await?;
        tracing::info!(ms = millis(since), "files verified");
        Ok::<_, StepFailure>((synced, files_checked))
    };
    let databases = async {
        let finished = databases::finish_all(moves, reporter, stop).await;
        tracing::info!(ms = millis(since), "databases finished");
        finished
    };
    let (files, databases) = tokio::join!(files, databases);
    let (checks, methods, db_bytes) = databases?;
    Ok((files?, checks, methods, db_bytes))
}

/// A cutover interrupted after its destination was verified: the verification was the
/// point of no return, so it goes on from there. It waits for the traffic switch (a
/// cutover, rollback or relocation), keeps the sources frozen for good, unfreezes the
/// accounts at the switch and completes the transfer (with what its runs' progress
/// events counted, and no methods: those were not kept across the restart).
pub(crate) async fn complete_after_restart(
    mover: &Mover,
    scheduled: &TransferScheduled,
    state: &TransferState,
    stop: &CancellationToken,
) -> Result<(), super::EngineError> {
    let at = if switch_wait::awaits_switch(scheduled.kind) {
        match switch_wait::traffic_switched(mover, scheduled, stop).await? {
            Some(at) => at,
            None => return Err(mover.stopped(scheduled)),
        }
    } else {
        Utc::now()
    };
    // An old copy that may still take writes is never left behind a completed cutover:
    // the transfer waits (and is retried) until every source is retired.
    if let Err(not_retired) = freeze::retire_sources(mover.settings(), scheduled).await {
        return Err(super::EngineError {
            transfer_id: scheduled.transfer_id,
            reason: not_retired.to_string(),
        });
    }
    for account_id in &state.frozen {
        let unfreeze = TransferCommand::Unfreeze {
            account_id: account_id.clone(),
            at,
        };
        mover
            .record(scheduled, &format!("unfreeze-{account_id}"), unfreeze)
            .await?;
    }
    let complete = TransferCommand::Complete {
        run_id: None,
        bytes_copied: 0,
        duration_ms: 0,
        database_methods: vec![],
        test_address: None,
    };
    mover.record(scheduled, "complete", complete).await
}
