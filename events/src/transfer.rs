//! Events of a transfer: one copy of accounts' data from one server to another
//! (aggregate `transfer`, written by the data-mover service). Aggregate id: the
//! transfer uuid, hyphenated lowercase.
//!
//! The source is never deleted or changed before the destination is verified
//! ([`TransferVerified`] comes before [`TransferCompleted`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::server::AccountSpec;
use crate::values::{DatabaseEngine, ServerStorage};

/// What a transfer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// Files and mails copied while the accounts stay live, to shorten the later
    /// cutover (transit installation, step 3; reinstallation, step 6).
    PreCopy,
    /// An account's move to the transit server: freeze, final sync, databases,
    /// verification (step 4).
    Cutover,
    /// An account's move back to the reinstalled client server (step 7).
    Relocation,
    /// An account's return to the not yet reinstalled client server (step 5).
    Rollback,
    /// A copy of an account to a test server, the original untouched (step 1).
    TestCopy,
    /// One service's data moved to a new version of it (optional migration).
    ServiceMigration,
    /// Not a copy: a transit server's data erased once its loan ends (every account's
    /// files, mails and databases, with what copies leave beside them), verified
    /// gone before the server is lent again. Source and destination are the transit
    /// server; its accounts are those ferry copied there since its last wipe.
    Wipe,
}

/// One end of a transfer: a server and where its data lives. On the wire the storage
/// fields sit beside `server_id`, as they always have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The server (client, transit or test server).
    pub server_id: String,
    /// Where its accounts' files, mails and databases live.
    #[serde(flatten)]
    pub storage: ServerStorage,
}

/// What a transfer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferPhase {
    /// Copying files.
    Files,
    /// Copying mailboxes.
    Mails,
    /// Copying databases.
    Databases,
    /// Copying what changed since the pre-copy, the accounts being frozen.
    FinalSync,
    /// Checking the destination against the source.
    Verifying,
    /// Erasing a transit server's data, and checking it gone ([`TransferKind::Wipe`]).
    Erasing,
    /// Verified, the accounts still frozen: waiting for the network service to
    /// switch their traffic to the destination (a cutover, rollback or relocation).
    Switching,
}

/// How a database was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseMethod {
    /// The engine's dump and restore tools (`pg_dump`/`pg_restore`,
    /// `mysqldump`/`mysql`), while frozen.
    DumpRestore,
    /// PostgreSQL logical replication, caught up before a short freeze.
    LogicalReplication,
    /// MySQL/MariaDB binary log replication, caught up before a short freeze.
    BinlogReplication,
}

/// A database's check at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseCheck {
    /// The engine serving it.
    pub engine: DatabaseEngine,
    /// The database name.
    pub name: String,
    /// Number of tables, equal at both ends.
    pub tables: u64,
    /// Total number of rows, equal at both ends.
    pub rows: u64,
    /// Checksum of the contents, equal at both ends (hex).
    pub checksum: String,
}

/// How one database was copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseMethodUsed {
    /// The database name.
    pub database: String,
    /// The engine serving it.
    pub engine: DatabaseEngine,
    /// The method used.
    pub method: DatabaseMethod,
}

/// A transfer was planned. Carries everything needed to perform it, but the
/// passwords of its ends' database logins: their references, resolved from the
/// secret store when the data mover connects (schema version 2; see
/// [`crate::credential`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferScheduled {
    /// The transfer id (the aggregate id).
    pub transfer_id: Uuid,
    /// What it is for.
    pub kind: TransferKind,
    /// The migration it belongs to (required or optional); `None` outside any.
    pub migration_id: Option<Uuid>,
    /// The client server whose accounts are copied.
    pub server_id: String,
    /// The accounts copied, as known when scheduled (paths, databases).
    pub accounts: Vec<AccountSpec>,
    /// Where the data is copied from.
    pub source: Endpoint,
    /// Where the data is copied to.
    pub destination: Endpoint,
}

/// Copying began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStarted {}

/// Copying advanced.
///
/// A transfer interrupted (the data mover crashed or stopped) is run again, resuming
/// where it was: each run reports under its own id what it copied, so that the
/// transfer's total counts every run, not only the last (schema version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferProgressed {
    /// The phase under way.
    pub phase: TransferPhase,
    /// The account being copied, if the phase handles one account at a time.
    pub account_id: Option<String>,
    /// Bytes of this phase up to date at the destination so far (unchanged files
    /// count), for a progress bar.
    pub bytes_done: u64,
    /// Bytes to copy in this phase (an estimate until the phase ends).
    pub bytes_total: u64,
    /// The run reporting: one per time the data mover ran the transfer. `None` in
    /// events of schema version 1, which did not tell runs apart.
    pub run_id: Option<Uuid>,
    /// Bytes this run has actually copied so far, every phase together (0 in
    /// version 1).
    pub run_bytes_copied: u64,
    /// Bytes the transfer has actually copied so far, its runs together: the earlier
    /// runs' last reports and this run's (0 in version 1).
    pub bytes_copied: u64,
}

/// `TransferProgressed` v1 → v2: v1 told neither the run nor the bytes copied; they
/// read as unknown (no run, nothing counted).
pub(crate) fn progressed_v1_to_v2(
    mut payload: serde_json::Value,
) -> Result<serde_json::Value, crate::upcast::UpcastError> {
    let object = payload.as_object_mut().ok_or_else(|| {
        crate::upcast::UpcastError::new("the TransferProgressed v1 payload is not a JSON object")
    })?;
    object.insert("run_id".to_owned(), serde_json::Value::Null);
    object.insert("run_bytes_copied".to_owned(), serde_json::Value::from(0));
    object.insert("bytes_copied".to_owned(), serde_json::Value::from(0));
    Ok(payload)
}

/// An account was stopped for the cutover: its downtime starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFrozen {
    /// The account.
    pub account_id: String,
    /// When it stopped serving.
    pub frozen_at: DateTime<Utc>,
}

/// An account serves again (at the destination, or at the source after a failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUnfrozen {
    /// The account.
    pub account_id: String,
    /// When it served again.
    pub unfrozen_at: DateTime<Utc>,
}

/// The data mover's estimate of an account's downtime, as the move starts: fitted on
/// the downtimes measured on the fleet's earlier cutovers and the account's own
/// sizes and database methods (what `GET /servers/{id}/downtime-estimates` answers).
/// It replaces the rule of thumb `AccountMoveStarted` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DowntimeEstimated {
    /// The account.
    pub account_id: String,
    /// The expected downtime, in milliseconds.
    pub estimated_downtime_ms: u64,
    /// How many measured cutovers the fit used (0: the priors alone).
    pub measured_cutovers: u64,
}

/// The destination was checked equal to the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferVerified {
    /// Number of files (and mail files) compared.
    pub files_checked: u64,
    /// Each database's check.
    pub databases: Vec<DatabaseCheck>,
}

/// The transfer finished, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCompleted {
    /// Bytes actually copied (files, mails and databases), by every run of the
    /// transfer: a run interrupted counts what its last progress event reported.
    pub bytes_copied: u64,
    /// Time from start to completion, in milliseconds.
    pub duration_ms: u64,
    /// Time the accounts were frozen, in milliseconds; `None` when nothing was
    /// frozen (pre-copy, test copy).
    pub downtime_ms: Option<u64>,
    /// How each database was copied.
    pub database_methods: Vec<DatabaseMethodUsed>,
    /// Where a test copy can be reached; only for [`TransferKind::TestCopy`].
    pub test_address: Option<String>,
}

/// The transfer stopped on an error; the source is intact and serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFailed {
    /// The phase that failed.
    pub phase: TransferPhase,
    /// Why, for support.
    pub reason: String,
    /// Whether trying again may succeed (e.g. a timeout, not a missing database).
    pub retryable: bool,
}

/// The transfer was called off; the source is intact and serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCancelled {
    /// Why.
    pub reason: String,
}

aggregate_events! {
    /// An event of a transfer (aggregate `transfer`).
    pub enum TransferEvent for Transfer {
        TransferScheduled = 2,
        TransferStarted = 1,
        TransferProgressed = 2,
        AccountFrozen = 1,
        AccountUnfrozen = 1,
        TransferVerified = 1,
        TransferCompleted = 1,
        TransferFailed = 1,
        TransferCancelled = 1,
        DowntimeEstimated = 1,
    }
}
