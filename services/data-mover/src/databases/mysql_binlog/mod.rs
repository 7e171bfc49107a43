//! MySQL/MariaDB copies with little downtime: a consistent dump taken while the source
//! stays live, then caught up from the source's **binary log** until the cutover
//! ([`DatabaseMethod::BinlogReplication`]).
//!
//! 1. [`start`]: `mariadb-dump --single-transaction --master-data=2` piped into
//!    `mariadb` on the staging schema `<name>__ferry_incoming` at the destination. The
//!    dump's binlog file and position (MariaDB reads them from `Binlog_snapshot_*`,
//!    consistent with the dump's snapshot, without a global lock; a MySQL source gets a
//!    brief `FLUSH TABLES WITH READ LOCK` from the tool) are recorded at the
//!    destination in `ferry_mover.binlog_copies` (staging name → source, file,
//!    position, state), never inside the staging schema, which verification compares.
//!    A staging copy recorded as ready, from the same source server, whose binlog file
//!    is still on the source, is reused (a pre-copy days ago, a crashed process).
//! 2. [`BinlogCopy::catch_up`], repeatedly while the source is live:
//!    `mariadb-binlog --read-from-remote-server --database=<src>
//!    --rewrite-db=<src>-><staging>` from the recorded position to the source's current
//!    one, filtered by ferry (`BinlogFilter`) and piped into `mariadb` at the
//!    destination. With 10.11's tool the `--database` filter applies to the name
//!    *before* the rewrite and, with ROW format, to the tables of row events (their
//!    table maps); so other schemas' events (other tests, other accounts) are skipped
//!    and, when both ends are one server, the staging schema's own events never count
//!    as the source's. Ferry checks every applied row event targets the staging schema
//!    and refuses anything that is not a row change (DDL, a statement-logged write, XA:
//!    [`DbError::CatchUpImpossible`]), because a statement is not rewritten (`ALTER
//!    TABLE src.t` would run against the source on a shared server). GTID settings are
//!    dropped (the destination logs the changes as its own transactions), empty
//!    transactions (other schemas') are skipped. When both ends are one server the
//!    applying session runs with `sql_log_bin=0`, so nothing loops through the binlog.
//!    Row events carry explicit AUTO_INCREMENT values; the counters themselves are
//!    aligned with the source at [`BinlogCopy::finish`].
//! 3. [`BinlogCopy::check_live`], caught up, the account live: every table hashed in
//!    key-range chunks at both ends ([`super::mysql::chunks`]); from then on the
//!    catch-ups read the row images (`--verbose`) for the chunks they touch.
//! 4. [`BinlogCopy::finish`], with the source frozen ([`super::mysql::freeze`]; the
//!    binlog dump thread is not blocked by the table locks): a last catch-up,
//!    verification table by table (after a live check, only the chunks touched
//!    since, or that differed, hashed again), the switch to the final name (as
//!    [`super::mysql::copy`] does, honouring [`CopySpec::replace_existing`]), and the
//!    bookkeeping row removed.
//!
//! A catch-up is not idempotent (rows re-applied would collide): the row is marked
//! `applying` while it runs, so a catch-up that fails or is cancelled (its tools are
//! killed: [`DbError::Interrupted`]) leaves the staging copy discarded, and the next
//! [`start`] dumps again. [`abort`] removes the staging schema and its row.
//!
//! Privileges: at the source `REPLICATION SLAVE` (remote binlog reading) and
//! `BINLOG MONITOR` (positions); at the destination `BINLOG REPLAY` and the session
//! variables mysqlbinlog sets (in practice an administrative user).
//!
//! [`DatabaseMethod::BinlogReplication`]: super::DatabaseMethod::BinlogReplication

use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::mysql::{self, MAX_NAME, drop_schema, schema};
use super::{CopyPhase, CopySpec, DbError, check_name, staging_name};
use bookkeeping::{ensure_bookkeeping, forget};
use eligibility::obstacles;
use server::identity;

mod bookkeeping;
mod catch_up;
mod dump;
mod eligibility;
mod filter;
mod finish;
mod live;
mod relay;
mod server;
mod statements;

pub use eligibility::eligibility;

/// Whether a database can be copied by binary-log catch-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// It can.
    Eligible,
    /// It cannot; why, in words (copy it with [`mysql::copy`] instead).
    NotEligible(String),
}

/// A position in the source's binary log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogPosition {
    /// The binlog file, e.g. `mysql-bin.000042`.
    pub file: String,
    /// The offset of the next event in it.
    pub position: u64,
}

/// A staging copy at the destination that the source's binary log keeps up to date.
#[derive(Debug)]
pub struct BinlogCopy {
    spec: CopySpec,
    src: Endpoint,
    dst: Endpoint,
    staging: String,
    charset: (String, String),
    /// The source server's identity (`server_id:hostname:port:binlog base`).
    source: String,
    /// Both ends are one server: the applying sessions do not log.
    same_server: bool,
    position: BinlogPosition,
    reused: bool,
    dump_bytes: u64,
    applied_bytes: u64,
    /// A catch-up failed half-way: the staging copy is in an unknown state.
    broken: bool,
    /// Each table's key column position, for the chunks row events touch.
    keys: std::collections::HashMap<String, usize>,
    /// The chunks row events touched since the live check began.
    touched: filter::Touched,
    /// The chunks hashed live, if [`BinlogCopy::check_live`] ran.
    live: Option<live::LiveCheck>,
}

/// Starts (or resumes) a binlog copy of `spec`: reuses a ready staging copy recorded
/// for it if its binlog file is still on the source, else dumps the live source into
/// a new staging schema and records the dump's binlog position.
///
/// Fails with [`DbError::NotEligible`] (see [`eligibility`]), [`DbError::NotFound`],
/// [`DbError::AlreadyExists`] (final schema present, no [`CopySpec::replace_existing`]),
/// or the dump's errors (the staging schema is then dropped).
///
/// [`eligibility`]: fn@eligibility
pub async fn start(spec: &CopySpec, cancel: &CancellationToken) -> Result<BinlogCopy, DbError> {
    let (src, dst, staging) = mysql::ends(spec)?;
    spec.phase(CopyPhase::Preparing);
    let charset = schema(&src, &spec.database, cancel)
        .await?
        .ok_or_else(|| DbError::NotFound {
            name: spec.database.clone(),
        })?;
    let reasons = obstacles(&src, &dst, &spec.database, cancel).await?;
    if !reasons.is_empty() {
        return Err(DbError::NotEligible {
            name: spec.database.clone(),
            reason: reasons.join("; "),
        });
    }
    mysql::prepare_final(spec, &dst, &staging, cancel).await?;
    ensure_bookkeeping(&dst, cancel).await?;
    let source = identity(&src, cancel).await?;
    let same_server = identity(&dst, cancel).await? == source;
    let mut copy = BinlogCopy {
        spec: spec.clone(),
        src,
        dst,
        staging,
        charset,
        source,
        same_server,
        position: BinlogPosition {
            file: String::new(),
            position: 0,
        },
        reused: false,
        dump_bytes: 0,
        applied_bytes: 0,
        broken: false,
        keys: std::collections::HashMap::new(),
        touched: filter::Touched::new(),
        live: None,
    };
    if let Some(position) = copy.reusable(cancel).await? {
        tracing::info!(staging = %copy.staging, ?position, "reusing a staging copy");
        copy.position = position;
        copy.reused = true;
        return Ok(copy);
    }
    copy.dump(cancel).await?;
    Ok(copy)
}

/// Removes the staging schema and bookkeeping of `spec`'s binlog copy; the source and
/// the final schema are untouched. Idempotent.
pub async fn abort(spec: &CopySpec) -> Result<(), DbError> {
    check_name(&spec.destination_name, MAX_NAME)?;
    let dst = Endpoint::mysql(&spec.destination_url)?;
    let staging = staging_name(&spec.destination_name);
    let cancel = CancellationToken::new();
    drop_schema(&dst, &staging, &cancel).await?;
    forget(&dst, &staging, &cancel).await
}

impl BinlogCopy {
    /// The source position the staging copy is up to date with.
    pub fn position(&self) -> &BinlogPosition {
        &self.position
    }

    /// Whether [`start`] reused an existing staging copy instead of dumping.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// The staging schema at the destination.
    pub fn staging(&self) -> &str {
        &self.staging
    }

    fn impossible(&self, reason: impl Into<String>) -> DbError {
        DbError::CatchUpImpossible {
            name: self.spec.database.clone(),
            reason: reason.into(),
        }
    }
}
