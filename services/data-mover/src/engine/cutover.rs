//! Cutovers: one account moved for good (to the transit server, back before the
//! reinstall, or onto the reinstalled server), and service migrations (every account
//! using a service moved to its new version's server at once).
//!
//! 1. Live, the accounts serving: a sync of files and mails, then every tree compared
//!    by content (what differs is synced again by checksums), and each database
//!    prepared (replication started and caught up where the database allows it).
//! 2. `AccountFrozen` recorded, then the sources frozen (databases read-only or locked,
//!    the freeze command run): the downtime starts.
//! 3. At once: the final sync of what changed, then the files verified (every tree by
//!    listing, size and time, and by content every file sent since the live content
//!    check); and each database finished (replication drained and detached, or dumped
//!    and restored), verified table by table, then switched to its final name.
//! 5. `TransferVerified`, the sources retired (writers still waiting there are cut off,
//!    so nothing lands on the old copy), `AccountUnfrozen`: the downtime ends, measured
//!    between the two recorded instants. Then `TransferCompleted`.
//!
//! Any failure after the freeze thaws the sources and tears down replication before
//! the failure is recorded (with `AccountUnfrozen` on the source): the account serves
//! from where it was, and a new cutover starts clean.

use super::databases::{self, Move, Purpose};
use super::freeze;
use super::progress::Reporter;
use super::trees::{self, Depth, SyncMode, Synced};
use super::{Mover, Step, StepFailure, millis};
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
    // 1. Live. A cutover resumed after a crash while frozen goes straight on.
    let live = if state.frozen_at.is_none() {
        let synced = match trees::sync(&trees, SyncMode::Live, &reporter, stop).await {
            Ok(synced) => synced,
            Err(failure) => return Ok(Err(failure)),
        };
        reporter.report(TransferPhase::Verifying, None, 0, 0);
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
    let switched = switch(&trees, live, resumed, moves, &reporter, stop).await;
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
            frozen.retire().await;
            tracing::info!(transfer_id = %scheduled.transfer_id, ms = millis(frozen_since), "sources retired");
            let at = Utc::now();
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
        let final_sync = trees::sync(trees, SyncMode::Final, reporter, stop).await?;
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

/// A cutover interrupted after its switch was verified. PostgreSQL sources stay
/// read-only across a restart: the accounts are unfrozen at the destination and the
/// transfer completed (with what its runs' progress events counted, and no methods:
/// those were not kept across the restart). A MariaDB source's lock died with the process, so
/// writes may have reached the old copy since: the cutover fails instead, the
/// PostgreSQL sources are thawed, and the account serves from its source, to be moved
/// again (the destination's copies are replaced then). Nothing written is lost.
pub(crate) async fn complete_after_restart(
    mover: &Mover,
    scheduled: &TransferScheduled,
    state: &TransferState,
) -> Result<(), super::EngineError> {
    let at = Utc::now();
    let mysql = scheduled
        .accounts
        .iter()
        .flat_map(|a| &a.databases)
        .any(|d| d.engine == ferry_events::DatabaseEngine::Mysql);
    if mysql {
        freeze::thaw_sources(mover.settings(), scheduled).await;
        let fail = TransferCommand::Fail {
            phase: TransferPhase::Verifying,
            reason: "interrupted after verification: a MariaDB source's lock does not survive \
                     a restart, so writes may have reached it since; the account stays on \
                     its source, move it again"
                .into(),
            retryable: true,
            at,
        };
        return mover.record(scheduled, "fail", fail).await;
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
