//! Databases: PostgreSQL and MySQL/MariaDB copies, verified table by table.
//!
//! A copy ([`postgres::copy`], [`mysql::copy`]) uses the engine's own dump and restore
//! tools ([`DatabaseMethod::DumpRestore`]) and never writes to the source. It restores
//! into a **staging** database named [`staging_name`] (`<name>__ferry_incoming`) at the
//! destination, compares it with the source ([`verify`]), and only then gives it its
//! final name. A crash or kill at any point leaves at most the staging database, which
//! the next attempt drops: a failed copy is restarted from scratch without any manual
//! cleanup. A database already present at the destination under the final name is
//! never overwritten ([`DbError::AlreadyExists`]).
//!
//! Cancelling the [`CancellationToken`] kills the tools (with their parallel workers)
//! and the copy returns [`DbError::Interrupted`].
//!
//! - [`postgres`]: `pg_dump -Fd -j` / `pg_restore -j`, then `ALTER DATABASE … RENAME`;
//!   and the freeze of a source database (non-superusers locked out durably,
//!   recorded for an exact thaw; sessions ended).
//! - [`pg_logical`]: the low-downtime PostgreSQL copy by logical replication, set up
//!   live, finished frozen ([`DatabaseMethod::LogicalReplication`]).
//! - [`mysql`]: `mariadb-dump | mariadb`, then an atomic `RENAME TABLE` of every table;
//!   and the freeze of a source schema (its accounts locked durably, their sessions
//!   killed, its tables read-locked while ferry runs). Its
//!   queries go through the `mysql_async` driver, its data through the tools.
//! - [`mysql_binlog`]: the low-downtime MariaDB copy, a dump caught up from the binary
//!   log ([`DatabaseMethod::BinlogReplication`]).
//! - [`verify`]: row counts and content checksums per table, compared.
//! - [`discard`]: dropping a copy ferry made (a discarded test copy).
//! - `erase`: dropping every database ferry put on a server (a transit server's
//!   wipe), subscriptions first, and listing what is left.

use std::path::PathBuf;
use std::time::Duration;

use ferry_events::transfer::{DatabaseCheck, DatabaseMethod, DatabaseMethodUsed};
use ferry_events::values::DatabaseEngine;
use tokio::sync::watch;
pub use tokio_util::sync::CancellationToken;

pub(crate) mod chunks;
pub mod discard;
pub(crate) mod endpoint;
pub(crate) mod erase;
pub mod mysql;
pub mod mysql_binlog;
pub mod pg_logical;
pub mod postgres;
mod process;
pub mod verify;

pub use verify::{DatabaseChecksums, TableCheck, checksum, compare};

/// Suffix of the staging database a copy restores into before renaming it.
pub const STAGING_SUFFIX: &str = "__ferry_incoming";

/// The staging database (or schema) a copy to `destination_name` restores into.
pub fn staging_name(destination_name: &str) -> String {
    format!("{destination_name}{STAGING_SUFFIX}")
}

/// Suffix under which a replaced destination database is kept aside.
pub const REPLACED_SUFFIX: &str = "__ferry_replaced";

/// The name an existing destination database is kept under when a copy replaces it.
pub fn replaced_name(destination_name: &str) -> String {
    format!("{destination_name}{REPLACED_SUFFIX}")
}

/// Why a database copy or check failed. The source is intact in every case.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A connection URL could not be understood.
    #[error("invalid connection URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it (the password is never shown).
        reason: String,
    },
    /// A database name ferry cannot handle safely.
    #[error("invalid database name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// A server could not be reached or refused the login.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connection {
        /// `host:port` (no credentials).
        endpoint: String,
        /// The driver's or tool's message.
        reason: String,
    },
    /// A statement failed on a server.
    #[error("query failed on {endpoint} ({context}): {reason}")]
    Query {
        /// `host:port` (no credentials).
        endpoint: String,
        /// What ferry was doing.
        context: String,
        /// The server's message.
        reason: String,
    },
    /// The database to copy does not exist at the source.
    #[error("database {name:?} does not exist at the source")]
    NotFound {
        /// The database name.
        name: String,
    },
    /// The destination already has a database with the final name: it is left as is.
    #[error("database {name:?} already exists at the destination; ferry does not overwrite it")]
    AlreadyExists {
        /// The database name.
        name: String,
    },
    /// The database cannot be copied by replication (it can still be dumped and
    /// restored); the reason says why, in words.
    #[error("database {name:?} cannot be copied by replication: {reason}")]
    NotEligible {
        /// The database at the source.
        name: String,
        /// What prevents it (e.g. a table without a primary key).
        reason: String,
    },
    /// The source changed in a way the binary-log catch-up cannot follow (DDL, a
    /// statement-logged write, its binary log purged, a failed or cancelled catch-up):
    /// the staging copy is discarded and the copy must start again from a new dump.
    #[error("database {name:?}: replication cannot catch up ({reason}); the copy must start again")]
    CatchUpImpossible {
        /// The database at the source.
        name: String,
        /// What happened, in words.
        reason: String,
    },
    /// A tool could not be started.
    #[error("cannot run {tool}: {reason}")]
    Spawn {
        /// The tool, e.g. `pg_restore`.
        tool: &'static str,
        /// The operating system's message.
        reason: String,
    },
    /// A tool failed.
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        /// The tool, e.g. `pg_restore`.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
    /// A tool or server ran out of disk space: the copy failed, nothing was switched.
    #[error("no space left while running {tool}: {stderr}")]
    DiskFull {
        /// The tool that reported it.
        tool: &'static str,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
    /// The destination differs from the source in these tables.
    #[error("destination differs from the source in {} table(s): {}", tables.len(), tables.join(", "))]
    Mismatch {
        /// The tables that differ (missing at one end, other row count or checksum).
        tables: Vec<String>,
    },
    /// The source database was retired (its account serves from elsewhere since a
    /// cutover): it stays frozen; only an operator's deliberate `unretire` thaws it.
    #[error(
        "database {name:?} is retired at its source: it stays frozen (an operator may unretire it)"
    )]
    Retired {
        /// The database name.
        name: String,
    },
    /// The copy was cancelled; its child processes were killed.
    #[error("interrupted: the copy was cancelled and its processes killed")]
    Interrupted,
    /// A local file operation failed (the dump's work directory).
    #[error("{context}: {source}")]
    Io {
        /// What ferry was doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl DbError {
    /// Whether trying the same copy again may succeed (e.g. after a lost connection or
    /// once space is freed), as opposed to a wrong name or an existing destination.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Connection { .. }
                | Self::Query { .. }
                | Self::Tool { .. }
                | Self::Spawn { .. }
                | Self::DiskFull { .. }
                | Self::Interrupted
                | Self::Io { .. }
                | Self::Mismatch { .. }
                | Self::CatchUpImpossible { .. }
        )
    }
}

/// Where a copy is in its work, published on [`CopySpec::phases`] for progress events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CopyPhase {
    /// Checking names, clearing what an earlier attempt left.
    Preparing,
    /// Dumping the source (PostgreSQL: into the work directory).
    Dumping,
    /// Restoring into the staging database (MySQL: dump and restore run together).
    Restoring,
    /// Comparing the staging database with the source.
    Verifying,
    /// Giving the staging database its final name.
    Switching,
    /// Done.
    Done,
}

/// What to copy, from where to where. A clone shares the phases' receiver.
#[derive(Debug, Clone)]
pub struct CopySpec {
    /// Source server, e.g. `postgres://postgres:postgres@127.0.0.1:5432/postgres` or
    /// `mysql://root@127.0.0.1:3306`. Only read.
    pub source_url: String,
    /// Destination server, same form.
    pub destination_url: String,
    /// The database to copy, at the source.
    pub database: String,
    /// Its name at the destination (usually the same; different when both ends are
    /// the same server, e.g. a test copy).
    pub destination_name: String,
    /// Parallel jobs of `pg_dump`/`pg_restore` (at least 1; ignored for MySQL).
    pub jobs: u16,
    /// Directory under which the PostgreSQL dump is written (and removed afterwards).
    pub work_dir: PathBuf,
    /// Receives the phase as the copy advances, if set.
    pub phases: Option<watch::Sender<CopyPhase>>,
    /// What to do with a database already at the destination under the final name:
    /// refuse ([`DbError::AlreadyExists`], the default) or, for a rollback onto a
    /// server still holding the account's older copy, keep that copy aside under
    /// [`replaced_name`] (dropping an older one kept there) once the new one is
    /// verified, and switch the new one in. Nothing is ever dropped unverified.
    pub replace_existing: bool,
}

impl CopySpec {
    /// A copy of `database` under the same name, 2 jobs, in the system's temp dir.
    pub fn new(
        source_url: impl Into<String>,
        destination_url: impl Into<String>,
        database: impl Into<String>,
    ) -> Self {
        let database = database.into();
        Self {
            source_url: source_url.into(),
            destination_url: destination_url.into(),
            destination_name: database.clone(),
            database,
            jobs: 2,
            work_dir: std::env::temp_dir(),
            phases: None,
            replace_existing: false,
        }
    }

    /// The same copy under another name at the destination.
    pub fn renamed(mut self, destination_name: impl Into<String>) -> Self {
        self.destination_name = destination_name.into();
        self
    }

    /// The same copy with `jobs` parallel jobs.
    pub fn jobs(mut self, jobs: u16) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// The same copy, keeping an existing destination database aside instead of
    /// refusing it (see [`CopySpec::replace_existing`]).
    pub fn replacing_existing(mut self) -> Self {
        self.replace_existing = true;
        self
    }

    /// The same copy, publishing its phases on `phases`.
    pub fn with_phases(mut self, phases: watch::Sender<CopyPhase>) -> Self {
        self.phases = Some(phases);
        self
    }

    pub(crate) fn phase(&self, phase: CopyPhase) {
        tracing::debug!(database = %self.database, ?phase, "database copy");
        if let Some(phases) = &self.phases {
            phases.send_replace(phase);
        }
    }
}

/// What a finished, verified copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The engine.
    pub engine: DatabaseEngine,
    /// The database at the source.
    pub source_database: String,
    /// The database at the destination.
    pub database: String,
    /// How it was copied.
    pub method: DatabaseMethod,
    /// Size of the dump, in bytes (PostgreSQL: the directory-format dump as written,
    /// compressed; MySQL: the SQL piped into the destination).
    pub dump_bytes: u64,
    /// Time from start to the switch, verification included.
    pub duration: Duration,
    /// Time spent verifying.
    pub verify_duration: Duration,
    /// The destination's check, equal to the source's.
    pub check: DatabaseCheck,
}

impl CopyReport {
    /// The method used, as recorded in `TransferCompleted`.
    pub fn method_used(&self) -> DatabaseMethodUsed {
        DatabaseMethodUsed {
            database: self.database.clone(),
            engine: self.engine,
            method: self.method,
        }
    }
}

/// Checks a database name before it is used in statements and file names: non-empty,
/// ASCII letters, digits, `_`, `-` and `$`, at most `max` bytes with the staging suffix.
pub(crate) fn check_name(name: &str, max: usize) -> Result<(), DbError> {
    let invalid = |reason: String| DbError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$')))
    {
        return Err(invalid(format!("character {c:?} not allowed")));
    }
    if name.len() + STAGING_SUFFIX.len() > max {
        return Err(invalid(format!(
            "longer than {} bytes (the staging name adds {STAGING_SUFFIX})",
            max - STAGING_SUFFIX.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("bakery_shop", 63).is_ok());
        assert!(check_name("", 63).is_err());
        assert!(check_name("a\"; drop", 63).is_err());
        assert!(check_name(&"a".repeat(48), 63).is_err());
        assert!(check_name(&"a".repeat(47), 63).is_ok());
        assert_eq!(staging_name("shop"), "shop__ferry_incoming");
    }
}
