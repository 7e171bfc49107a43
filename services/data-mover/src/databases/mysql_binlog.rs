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
//! 3. [`BinlogCopy::finish`], with the source frozen ([`super::mysql::freeze`]; the
//!    binlog dump thread is not blocked by the table locks): a last catch-up,
//!    verification table by table, the switch to the final name (as
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

use std::process::Stdio;
use std::time::Instant;

use ferry_events::transfer::DatabaseMethod;
use ferry_events::values::DatabaseEngine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::mysql::{
    self, MARKER, MAX_NAME, REPLACING_MARKER, drop_schema, execute, ident, literal, schema, sql,
    tables_of,
};
use super::{CopyPhase, CopyReport, CopySpec, DbError, check_name, process, staging_name};

/// The destination's bookkeeping schema.
const BOOKKEEPING: &str = "ferry_mover";
/// Its table of binlog copies.
const COPIES: &str = "binlog_copies";
/// How many leading dump lines may hold the `CHANGE MASTER` comment.
const POSITION_LINES: usize = 500;

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

/// Whether `spec` can be copied by binlog catch-up: the binary log is on at the source
/// in ROW format, the source user may read it and its positions, the destination user
/// may apply row events, and every table is InnoDB (for a consistent
/// `--single-transaction` dump). Privileges are read from `SHOW GRANTS` (global
/// grants; those held through a role are not seen). Fails only if the servers cannot
/// be asked.
pub async fn eligibility(spec: &CopySpec) -> Result<Eligibility, DbError> {
    check_name(&spec.database, MAX_NAME)?;
    check_name(&spec.destination_name, MAX_NAME)?;
    let src = Endpoint::mysql(&spec.source_url)?;
    let dst = Endpoint::mysql(&spec.destination_url)?;
    let cancel = CancellationToken::new();
    if schema(&src, &spec.database, &cancel).await?.is_none() {
        return Err(DbError::NotFound {
            name: spec.database.clone(),
        });
    }
    let reasons = obstacles(&src, &dst, &spec.database, &cancel).await?;
    Ok(if reasons.is_empty() {
        Eligibility::Eligible
    } else {
        Eligibility::NotEligible(reasons.join("; "))
    })
}

/// What prevents a binlog copy of `database`, in words (empty: nothing).
async fn obstacles(
    src: &Endpoint,
    dst: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<Vec<String>, DbError> {
    let mut reasons = Vec::new();
    let vars = sql(src, "SELECT @@log_bin, @@binlog_format;".into(), cancel).await?;
    match vars.first().map(Vec::as_slice) {
        Some([log_bin, format]) => {
            if log_bin != "1" {
                reasons.push("the binary log is off at the source (log_bin)".to_owned());
            }
            if format != "ROW" {
                reasons.push(format!(
                    "the source logs in {format} format (binlog_format), ROW is needed"
                ));
            }
        }
        _ => reasons.push("cannot read log_bin and binlog_format at the source".to_owned()),
    }
    if let Err(e) = sql(src, "SHOW MASTER STATUS;".into(), cancel).await {
        reasons.push(format!(
            "the source user cannot read binlog positions (BINLOG MONITOR): {e}"
        ));
    }
    if !granted(src, &["REPLICATION SLAVE", "REPLICATION REPLICA"], cancel).await? {
        reasons.push("the source user may not read the binary log (REPLICATION SLAVE)".into());
    }
    if !granted(dst, &["BINLOG REPLAY", "SUPER"], cancel).await? {
        reasons.push("the destination user may not apply binlog events (BINLOG REPLAY)".into());
    }
    let others = sql(
        src,
        format!(
            "SELECT CONCAT(TABLE_NAME, ' (', IFNULL(ENGINE, '?'), ')') FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' AND IFNULL(ENGINE, '') <> 'InnoDB'
             ORDER BY TABLE_NAME;",
            literal(database)
        ),
        cancel,
    )
    .await?;
    if !others.is_empty() {
        let names: Vec<String> = others
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect();
        reasons.push(format!(
            "tables not in InnoDB cannot be dumped consistently while live: {}",
            names.join(", ")
        ));
    }
    Ok(reasons)
}

/// Whether the current user holds one of `privileges` (or all privileges) globally.
async fn granted(
    endpoint: &Endpoint,
    privileges: &[&str],
    cancel: &CancellationToken,
) -> Result<bool, DbError> {
    let grants = sql(endpoint, "SHOW GRANTS;".into(), cancel).await?;
    Ok(grants.iter().flatten().any(|grant| {
        let grant = grant.to_ascii_uppercase();
        grant.contains(" ON *.* ")
            && (grant.contains("ALL PRIVILEGES") || privileges.iter().any(|p| grant.contains(p)))
    }))
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
}

/// Starts (or resumes) a binlog copy of `spec`: reuses a ready staging copy recorded
/// for it if its binlog file is still on the source, else dumps the live source into
/// a new staging schema and records the dump's binlog position.
///
/// Fails with [`DbError::NotEligible`] (see [`eligibility`]), [`DbError::NotFound`],
/// [`DbError::AlreadyExists`] (final schema present, no [`CopySpec::replace_existing`]),
/// or the dump's errors (the staging schema is then dropped).
pub async fn start(spec: &CopySpec, cancel: &CancellationToken) -> Result<BinlogCopy, DbError> {
    check_name(&spec.database, MAX_NAME)?;
    check_name(&spec.destination_name, MAX_NAME)?;
    let src = Endpoint::mysql(&spec.source_url)?;
    let dst = Endpoint::mysql(&spec.destination_url)?;
    let staging = staging_name(&spec.destination_name);
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

    /// Applies the source's binlog events for this schema from the recorded position
    /// up to the source's current one, then records the new position. Returns the
    /// bytes of row events applied (base64 text; 0 when the schema did not change).
    /// Call it repeatedly while the source is live to shrink what remains.
    ///
    /// The range is first scanned for statements changing the schema (DDL, a
    /// statement-logged write): if there is one, nothing is applied and the copy is
    /// refused ([`DbError::CatchUpImpossible`]). A failure or cancellation while
    /// applying leaves the staging copy in an unknown state: it is discarded too. In
    /// both cases later calls fail the same way and [`start`] dumps again; any other
    /// failure (before applying) leaves the copy usable.
    pub async fn catch_up(&mut self, cancel: &CancellationToken) -> Result<u64, DbError> {
        if self.broken {
            return Err(self.impossible("an earlier catch-up failed or was cancelled"));
        }
        let began = Instant::now();
        let target = master_status(&self.src, cancel).await?;
        if target == self.position {
            return Ok(0);
        }
        let files = self.files_to(&target, cancel).await?;
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "binlog catch-up: range known"
        );
        // Before anything is applied. A refused range leaves the staging copy as it
        // was, but it can never be finished: marked so, [`start`] dumps again.
        if let Err(e) = self.scan(&files, &target, cancel).await {
            if matches!(e, DbError::CatchUpImpossible { .. }) {
                self.broken = true;
                if let Err(e) = self.set_state("stale", cancel).await {
                    tracing::warn!(error = %e, "could not mark the staging copy stale");
                }
            }
            return Err(e);
        }
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "binlog catch-up: range scanned"
        );
        self.set_state("applying", cancel).await?;
        let applied = self.apply(&files, &target, cancel).await;
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "binlog catch-up: applied"
        );
        let recorded = match applied {
            Ok(bytes) => self
                .record(Some(&target), "ready", cancel)
                .await
                .map(|()| bytes),
            Err(e) => Err(e),
        };
        match recorded {
            Ok(bytes) => {
                tracing::debug!(staging = %self.staging, ?target, bytes, "binlog caught up");
                self.position = target;
                self.applied_bytes += bytes;
                Ok(bytes)
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    /// With the source frozen: a last catch-up, the AUTO_INCREMENT counters aligned
    /// with the source's, verification table by table, the switch to the final name
    /// (replacing an existing schema if [`CopySpec::replace_existing`]) and the
    /// bookkeeping removed. The report's `duration` is this call's (the frozen part);
    /// its `dump_bytes` the dump's (0 if reused) plus the row events applied.
    pub async fn finish(mut self, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
        let started = Instant::now();
        self.catch_up(cancel).await?;
        let views = tables_of(&self.src, &self.spec.database, &["VIEW"], cancel).await?;
        let objects = mysql::dump_objects(&self.src, &self.spec.database, &views, cancel).await?;
        self.align_auto_increments(cancel).await?;
        let verified = mysql::verify_staging(&self.spec, &self.staging, cancel).await;
        if let Err(DbError::Mismatch { .. }) = &verified {
            // The staging copy is wrong: never reuse it.
            self.forget_quietly().await;
        }
        let (verify_duration, check) = verified?;
        let charset = (self.charset.0.as_str(), self.charset.1.as_str());
        let switched = mysql::switch(
            &self.spec,
            &self.dst,
            &self.staging,
            charset,
            objects,
            cancel,
        )
        .await;
        if switched.is_err() {
            // A failed switch leaves a marker: the staging copy cannot be reused.
            let cleanup = CancellationToken::new();
            if let Err(e) = drop_schema(&self.dst, &self.staging, &cleanup).await {
                tracing::warn!(error = %e, "could not drop the staging schema; the next attempt will");
            }
        }
        self.forget_quietly().await;
        switched?;
        self.spec.phase(CopyPhase::Done);
        tracing::info!(
            database = %self.spec.database,
            destination = %self.spec.destination_name,
            applied = self.applied_bytes,
            "mysql database copied by binlog catch-up and verified"
        );
        Ok(CopyReport {
            engine: DatabaseEngine::Mysql,
            source_database: self.spec.database.clone(),
            database: self.spec.destination_name.clone(),
            method: DatabaseMethod::BinlogReplication,
            dump_bytes: self.dump_bytes + self.applied_bytes,
            duration: started.elapsed(),
            verify_duration,
            check,
        })
    }

    fn impossible(&self, reason: impl Into<String>) -> DbError {
        DbError::CatchUpImpossible {
            name: self.spec.database.clone(),
            reason: reason.into(),
        }
    }

    /// The recorded position, if the staging copy can be reused.
    async fn reusable(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Option<BinlogPosition>, DbError> {
        let rows = sql(
            &self.dst,
            format!(
                "SELECT source, source_database, state, IFNULL(binlog_file, ''), IFNULL(binlog_pos, 0)
                 FROM {}.{} WHERE staging = {};",
                ident(BOOKKEEPING),
                ident(COPIES),
                literal(&self.staging)
            ),
            cancel,
        )
        .await?;
        let Some([source, database, state, file, pos]) = rows.first().map(Vec::as_slice) else {
            return Ok(None);
        };
        let position = match pos.parse::<u64>() {
            Ok(position) if !file.is_empty() => BinlogPosition {
                file: file.clone(),
                position,
            },
            _ => return Ok(None),
        };
        if *source != self.source || *database != self.spec.database || state != "ready" {
            tracing::info!(staging = %self.staging, %state, "recorded staging copy not reusable");
            return Ok(None);
        }
        let tables = tables_of(&self.dst, &self.staging, &["BASE TABLE"], cancel).await?;
        if schema(&self.dst, &self.staging, cancel).await?.is_none()
            || tables.iter().any(|t| t == MARKER || t == REPLACING_MARKER)
        {
            return Ok(None);
        }
        let logs = binary_logs(&self.src, cancel).await?;
        let present = logs
            .iter()
            .any(|(name, size)| *name == position.file && *size >= position.position);
        Ok(present.then_some(position))
    }

    /// A new staging copy: the dump piped into it, its position recorded.
    async fn dump(&mut self, cancel: &CancellationToken) -> Result<(), DbError> {
        drop_schema(&self.dst, &self.staging, cancel).await?;
        let charset = (self.charset.0.as_str(), self.charset.1.as_str());
        mysql::create_schema(&self.dst, &self.staging, charset, cancel).await?;
        let dumped = self.dump_into_staging(cancel).await;
        if dumped.is_err() {
            let cleanup = CancellationToken::new();
            if let Err(e) = drop_schema(&self.dst, &self.staging, &cleanup).await {
                tracing::warn!(error = %e, "could not drop the staging schema; the next attempt will");
            }
            self.forget_quietly().await;
        }
        dumped
    }

    async fn dump_into_staging(&mut self, cancel: &CancellationToken) -> Result<(), DbError> {
        // Recorded first: a crash during the load leaves a row that is not `ready`.
        self.record(None, "loading", cancel).await?;
        self.spec.phase(CopyPhase::Restoring);
        let views = tables_of(&self.src, &self.spec.database, &["VIEW"], cancel).await?;
        let dump = mysql::data_dump(&self.src, &self.spec.database, &views, &["--master-data=2"]);
        let load = self.loader(Some(&self.staging));
        let mut found: Option<BinlogPosition> = None;
        let mut lines = 0_usize;
        let mut scan = |line: &[u8], out: &mut Vec<u8>| {
            if found.is_none() && lines < POSITION_LINES {
                lines += 1;
                found = dump_position(line);
            }
            out.extend_from_slice(line);
            Ok(())
        };
        let bytes = relay(
            ("mariadb-dump", dump),
            Some(("mariadb", load)),
            &mut scan,
            cancel,
        )
        .await?;
        let position = found.ok_or_else(|| {
            self.impossible("mariadb-dump did not report the binary log position")
        })?;
        self.record(Some(&position), "ready", cancel).await?;
        tracing::info!(staging = %self.staging, ?position, bytes, "staging copy dumped");
        self.position = position;
        self.dump_bytes = bytes;
        Ok(())
    }

    /// `mariadb` at the destination (on `database` if given), not logging when both
    /// ends are one server.
    fn loader(&self, database: Option<&str>) -> Command {
        let mut load = process::command("mariadb");
        self.dst.mysql_args(&mut load);
        if self.same_server {
            load.arg("--init-command=SET SESSION sql_log_bin = 0");
        }
        if let Some(database) = database {
            load.arg(database);
        }
        load
    }

    /// The binlog files from the recorded position's to `target`'s, in order.
    async fn files_to(
        &self,
        target: &BinlogPosition,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, DbError> {
        let logs: Vec<String> = binary_logs(&self.src, cancel)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let first = logs.iter().position(|l| *l == self.position.file);
        let last = logs.iter().position(|l| *l == target.file);
        match (first, last) {
            (Some(first), Some(last)) if first <= last => Ok(logs[first..=last].to_vec()),
            _ => Err(self.impossible(format!(
                "binary log {} is no longer on the source (purged?)",
                self.position.file
            ))),
        }
    }

    /// `mariadb-binlog` reading the source's `files` remotely, from the recorded
    /// position to `target`.
    fn reader(&self, files: &[String], target: &BinlogPosition) -> Command {
        let mut read = process::command("mariadb-binlog");
        self.src.mysql_args(&mut read);
        // Not `--skip-annotate-row-events`: read remotely without them, the tool
        // miscounts offsets and reads past `--stop-position` (seen with 10.11).
        read.arg("--read-from-remote-server")
            .arg(format!("--start-position={}", self.position.position))
            .arg(format!("--stop-position={}", target.position))
            .args(files);
        read
    }

    /// Refuses the range if a statement (not a row event) changes the schema: the
    /// whole server's statements, read first, so that nothing is applied then.
    async fn scan(
        &self,
        files: &[String],
        target: &BinlogPosition,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let mut read = self.reader(files, target);
        read.arg("--short-form");
        let mut scan = DdlScan::new(&self.spec.database);
        let mut lines = |line: &[u8], _: &mut Vec<u8>| scan.line(line);
        relay(("mariadb-binlog", read), None, &mut lines, cancel)
            .await
            .map(|_| ())
    }

    /// `mariadb-binlog` from the source, filtered, into `mariadb` at the destination.
    async fn apply(
        &self,
        files: &[String],
        target: &BinlogPosition,
        cancel: &CancellationToken,
    ) -> Result<u64, DbError> {
        let database = &self.spec.database;
        let mut read = self.reader(files, target);
        read.arg(format!("--database={database}"))
            .arg(format!("--rewrite-db={database}->{}", self.staging));
        let mut filter = BinlogFilter::new(database, &self.staging);
        if let [_single] = files {
            filter.stop = Some(target.position);
        }
        let mut lines = |line: &[u8], out: &mut Vec<u8>| filter.line(line, out);
        let apply = self.loader(None);
        relay(
            ("mariadb-binlog", read),
            Some(("mariadb", apply)),
            &mut lines,
            cancel,
        )
        .await?;
        Ok(filter.row_bytes)
    }

    /// Raises the staging tables' AUTO_INCREMENT counters to the source's (inserts
    /// rolled back at the source consume values that no row event shows).
    async fn align_auto_increments(&self, cancel: &CancellationToken) -> Result<(), DbError> {
        let source = auto_increments(&self.src, &self.spec.database, cancel).await?;
        let staging = auto_increments(&self.dst, &self.staging, cancel).await?;
        let mut statements = String::new();
        for (table, value) in &source {
            let behind = staging.iter().any(|(t, v)| t == table && v < value);
            if behind {
                statements.push_str(&format!(
                    "ALTER TABLE {}.{} AUTO_INCREMENT = {value};\n",
                    ident(&self.staging),
                    ident(table)
                ));
            }
        }
        if statements.is_empty() {
            return Ok(());
        }
        execute(&self.dst, statements, cancel).await
    }

    /// Records the copy's position and state at the destination.
    async fn record(
        &self,
        position: Option<&BinlogPosition>,
        state: &str,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let (file, pos) = match position {
            Some(p) => (literal(&p.file), p.position.to_string()),
            None => ("NULL".to_owned(), "NULL".to_owned()),
        };
        execute(
            &self.dst,
            format!(
                "REPLACE INTO {}.{} (staging, source, source_database, binlog_file, binlog_pos, state)
                 VALUES ({}, {}, {}, {file}, {pos}, {});",
                ident(BOOKKEEPING),
                ident(COPIES),
                literal(&self.staging),
                literal(&self.source),
                literal(&self.spec.database),
                literal(state)
            ),
            cancel,
        ).await
    }

    async fn set_state(&self, state: &str, cancel: &CancellationToken) -> Result<(), DbError> {
        execute(
            &self.dst,
            format!(
                "UPDATE {}.{} SET state = {} WHERE staging = {};",
                ident(BOOKKEEPING),
                ident(COPIES),
                literal(state),
                literal(&self.staging)
            ),
            cancel,
        )
        .await
    }

    async fn forget_quietly(&self) {
        if let Err(e) = forget(&self.dst, &self.staging, &CancellationToken::new()).await {
            tracing::warn!(error = %e, staging = %self.staging, "could not remove the binlog copy's bookkeeping");
        }
    }
}

/// Creates the bookkeeping schema and table at the destination if needed.
async fn ensure_bookkeeping(dst: &Endpoint, cancel: &CancellationToken) -> Result<(), DbError> {
    execute(
        dst,
        format!(
            "CREATE DATABASE IF NOT EXISTS {db};
             CREATE TABLE IF NOT EXISTS {db}.{t} (
               staging VARCHAR(64) NOT NULL PRIMARY KEY,
               source VARCHAR(512) NOT NULL,
               source_database VARCHAR(64) NOT NULL,
               binlog_file VARCHAR(255) NULL,
               binlog_pos BIGINT UNSIGNED NULL,
               state VARCHAR(16) NOT NULL,
               updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
             ) ENGINE=InnoDB;",
            db = ident(BOOKKEEPING),
            t = ident(COPIES)
        ),
        cancel,
    )
    .await
}

/// Removes `staging`'s bookkeeping row, if the table exists.
async fn forget(dst: &Endpoint, staging: &str, cancel: &CancellationToken) -> Result<(), DbError> {
    let tables = tables_of(dst, BOOKKEEPING, &["BASE TABLE"], cancel).await?;
    if !tables.iter().any(|t| t == COPIES) {
        return Ok(());
    }
    execute(
        dst,
        format!(
            "DELETE FROM {}.{} WHERE staging = {};",
            ident(BOOKKEEPING),
            ident(COPIES),
            literal(staging)
        ),
        cancel,
    )
    .await
}

/// A server's identity, to tell whether two URLs reach the same server and whether a
/// recorded position belongs to this source.
async fn identity(endpoint: &Endpoint, cancel: &CancellationToken) -> Result<String, DbError> {
    let rows = sql(
        endpoint,
        "SELECT CONCAT_WS(':', @@server_id, @@hostname, @@port, IFNULL(@@log_bin_basename, ''));"
            .into(),
        cancel,
    )
    .await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .unwrap_or_default())
}

/// The source's current binlog position (`SHOW MASTER STATUS`).
async fn master_status(
    src: &Endpoint,
    cancel: &CancellationToken,
) -> Result<BinlogPosition, DbError> {
    let rows = sql(src, "SHOW MASTER STATUS;".into(), cancel).await?;
    match rows.first().map(Vec::as_slice) {
        Some([file, position, ..]) => match position.parse() {
            Ok(position) => Ok(BinlogPosition {
                file: file.clone(),
                position,
            }),
            Err(_) => Err(status_error(src, format!("position {position:?}"))),
        },
        _ => Err(status_error(src, "no binary log (log_bin off?)".to_owned())),
    }
}

fn status_error(src: &Endpoint, reason: String) -> DbError {
    DbError::Query {
        endpoint: src.display(),
        context: "SHOW MASTER STATUS".to_owned(),
        reason,
    }
}

/// The source's binlog files and sizes, oldest first (`SHOW BINARY LOGS`).
async fn binary_logs(
    src: &Endpoint,
    cancel: &CancellationToken,
) -> Result<Vec<(String, u64)>, DbError> {
    let rows = sql(src, "SHOW BINARY LOGS;".into(), cancel).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [name, size, ..] => size.parse().ok().map(|size| (name.clone(), size)),
            _ => None,
        })
        .collect())
}

/// Each table's AUTO_INCREMENT counter in `database`.
async fn auto_increments(
    endpoint: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<Vec<(String, u64)>, DbError> {
    let rows = sql(
        endpoint,
        format!(
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL;",
            literal(database)
        ),
        cancel,
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [table, value] => value.parse().ok().map(|v| (table.clone(), v)),
            _ => None,
        })
        .collect())
}

/// The position in a dump's `-- CHANGE MASTER TO MASTER_LOG_FILE='f', MASTER_LOG_POS=n;`
/// comment line (`--master-data=2`).
fn dump_position(line: &[u8]) -> Option<BinlogPosition> {
    let line = std::str::from_utf8(line).ok()?.trim();
    let rest = line.strip_prefix("-- CHANGE MASTER TO MASTER_LOG_FILE='")?;
    let (file, rest) = rest.split_once('\'')?;
    let digits: String = rest
        .split_once("MASTER_LOG_POS=")?
        .1
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(BinlogPosition {
        file: file.to_owned(),
        position: digits.parse().ok()?,
    })
}

/// What one statement of `mariadb-binlog`'s output is.
#[derive(Debug, PartialEq, Eq)]
enum Statement {
    /// `BINLOG '…'`: row events (or the format description).
    Rows,
    /// `START TRANSACTION` / `BEGIN`.
    Begin,
    /// `COMMIT` / `ROLLBACK`.
    End,
    /// A session setting the tool emits (`SET …`, `/*!… SET …*/`, `/*!\C …*/`).
    Setting,
    /// A GTID setting, dropped: the destination numbers its own transactions.
    Gtid,
    /// `use <db>`.
    Use(String),
    /// Nothing (an empty statement).
    Empty,
    /// Anything else: DDL, a statement-logged write, XA, a savepoint.
    Other,
}

/// Classifies a statement, its delimiter removed.
fn classify(body: &str) -> Statement {
    let upper = body.to_ascii_uppercase();
    let word = |w: &str| {
        upper == w
            || upper
                .strip_prefix(w)
                .is_some_and(|rest| rest.starts_with([' ', '\n', '\t', '/']))
    };
    if body.is_empty() {
        Statement::Empty
    } else if upper.starts_with("BINLOG '") {
        Statement::Rows
    } else if word("START TRANSACTION") || word("BEGIN") {
        Statement::Begin
    } else if (word("COMMIT") || word("ROLLBACK")) && !upper.starts_with("ROLLBACK TO") {
        Statement::End
    } else if let Some(db) = upper.strip_prefix("USE ") {
        let db = body[body.len() - db.len()..].trim().trim_matches('`');
        Statement::Use(db.to_owned())
    } else if let Some(setting) = setting(&upper) {
        if setting.contains("GTID_SEQ_NO")
            || setting.contains("GTID_DOMAIN_ID")
            || setting.contains("@@SESSION.SERVER_ID")
        {
            Statement::Gtid
        } else {
            Statement::Setting
        }
    } else {
        Statement::Other
    }
}

/// The text of a session setting (`SET …` other than `SET STATEMENT … FOR`, possibly in
/// a versioned comment, or a `\C` charset command), upper-cased; `None` otherwise.
fn setting(upper: &str) -> Option<&str> {
    let inner = match upper.strip_prefix("/*") {
        Some(rest) => rest
            .trim_start_matches('M')
            .trim_start_matches('!')
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start(),
        None => upper,
    };
    let is_set = inner.starts_with("SET ") && !inner.starts_with("SET STATEMENT");
    (is_set || inner.starts_with("\\C ")).then_some(inner)
}

/// One piece of `mariadb-binlog` output.
enum Piece {
    /// Nothing complete yet (or a blank line).
    Nothing,
    /// A comment line (event headers).
    Comment(String),
    /// A `DELIMITER` command.
    Delimiter,
    /// A complete statement, as read, and its text without the delimiter.
    Statement(Vec<u8>, String),
}

/// Splits `mariadb-binlog` output into comments, delimiter commands and statements
/// (which end with the current delimiter, `/*!*/;` inside the event stream).
struct Splitter {
    delimiter: Vec<u8>,
    statement: Vec<u8>,
}

impl Splitter {
    fn new() -> Self {
        Self {
            delimiter: b";".to_vec(),
            statement: Vec::new(),
        }
    }

    /// Takes one line (with its newline; empty at the end of input).
    fn push(&mut self, line: &[u8]) -> Piece {
        let trimmed = line.trim_ascii();
        if self.statement.is_empty() {
            if trimmed.is_empty() {
                return Piece::Nothing;
            }
            if trimmed.starts_with(b"#") {
                return Piece::Comment(String::from_utf8_lossy(trimmed).into_owned());
            }
            if let Some(delimiter) = trimmed.strip_prefix(b"DELIMITER ") {
                self.delimiter = delimiter.trim_ascii().to_vec();
                return Piece::Delimiter;
            }
        }
        self.statement.extend_from_slice(line);
        // A statement left incomplete at the end is returned as is (and refused).
        if !trimmed.ends_with(&self.delimiter) && !line.is_empty() {
            return Piece::Nothing;
        }
        let statement = std::mem::take(&mut self.statement);
        let text = String::from_utf8_lossy(&statement);
        let text = text.trim();
        let body = text
            .strip_suffix(std::str::from_utf8(&self.delimiter).unwrap_or(";"))
            .unwrap_or(text)
            .trim()
            .to_owned();
        Piece::Statement(statement, body)
    }
}

/// Whether `text` names the schema `database` as an identifier (`` `db` ``, `db.t`),
/// not as part of another name.
fn mentions(text: &str, database: &str) -> bool {
    let ident =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    text.match_indices(database).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + database.len()..].chars().next();
        !ident(before) && !ident(after)
    })
}

/// Finds, in `mariadb-binlog --short-form` output of the whole server (statements
/// only, no row events), a statement that changes `database` other than by row
/// events: DDL or a statement-logged write run in it (its `use`) or naming it. The
/// `--database` filter of the applying pass would miss those run from another default
/// database, and apply the others unrewritten.
struct DdlScan {
    database: String,
    split: Splitter,
    current: Option<String>,
}

impl DdlScan {
    fn new(database: &str) -> Self {
        Self {
            database: database.to_owned(),
            split: Splitter::new(),
            current: None,
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<(), DbError> {
        let Piece::Statement(_, body) = self.split.push(line) else {
            return Ok(());
        };
        match classify(&body) {
            Statement::Use(db) => self.current = Some(db),
            Statement::Other
                if self.current.as_deref() == Some(self.database.as_str())
                    || mentions(&body, &self.database) =>
            {
                let excerpt: String = body.chars().take(200).collect();
                return Err(DbError::CatchUpImpossible {
                    name: self.database.clone(),
                    reason: format!(
                        "the schema changed other than by row events (DDL or a statement-logged write): {excerpt}"
                    ),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Turns `mariadb-binlog` output into what may be applied to the staging schema: row
/// events of the staging schema only (checked on each table map), the tool's session
/// settings, transaction boundaries (empty transactions left out); anything else is
/// refused.
struct BinlogFilter {
    database: String,
    staging: String,
    split: Splitter,
    /// The `START TRANSACTION` of a transaction with no row events yet.
    held_begin: Option<Vec<u8>>,
    in_transaction: bool,
    row_bytes: u64,
    /// The stop position, when the range is within one binlog file: an event ending
    /// beyond it means the tool read too far (the next catch-up would apply it again).
    stop: Option<u64>,
}

impl BinlogFilter {
    fn new(database: &str, staging: &str) -> Self {
        Self {
            database: database.to_owned(),
            staging: staging.to_owned(),
            split: Splitter::new(),
            held_begin: None,
            in_transaction: false,
            row_bytes: 0,
            stop: None,
        }
    }

    fn refuse(&self, reason: String) -> DbError {
        DbError::CatchUpImpossible {
            name: self.database.clone(),
            reason,
        }
    }

    /// Takes one line (with its newline; empty at the end of input), appends what is
    /// to be applied to `out`.
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), DbError> {
        match self.split.push(line) {
            Piece::Nothing => Ok(()),
            Piece::Comment(text) => self.comment(&text),
            Piece::Delimiter => {
                out.extend_from_slice(line);
                Ok(())
            }
            Piece::Statement(statement, body) => self.statement(statement, &body, out),
        }
    }

    /// Event headers are comments: an event must end by the stop position, a table
    /// map must name the staging schema.
    fn comment(&self, text: &str) -> Result<(), DbError> {
        let end = text
            .split_once("end_log_pos ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(end), Some(stop)) = (end, self.stop)
            && end > stop
        {
            return Err(self.refuse(format!(
                "mariadb-binlog read past the stop position {stop} (an event ends at {end})"
            )));
        }
        let Some((_, rest)) = text.split_once("Table_map: `") else {
            return Ok(());
        };
        let db = rest.split_once("`.`").map(|(db, _)| db).unwrap_or(rest);
        if db == self.staging {
            return Ok(());
        }
        Err(self.refuse(format!(
            "a row event for schema {db:?} would have been applied; only {:?} may be written",
            self.staging
        )))
    }

    fn statement(
        &mut self,
        statement: Vec<u8>,
        body: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), DbError> {
        match classify(body) {
            Statement::Rows => {
                if self.in_transaction {
                    if let Some(begin) = self.held_begin.take() {
                        out.extend_from_slice(&begin);
                    }
                    self.row_bytes += statement.len() as u64;
                }
                out.extend_from_slice(&statement);
            }
            Statement::Begin => {
                self.in_transaction = true;
                self.held_begin = Some(statement);
            }
            Statement::End => {
                // A transaction whose row events were all other schemas': skipped.
                if self.held_begin.take().is_none() {
                    out.extend_from_slice(&statement);
                }
                self.in_transaction = false;
            }
            Statement::Setting => out.extend_from_slice(&statement),
            Statement::Use(db) if db == self.staging => out.extend_from_slice(&statement),
            Statement::Gtid | Statement::Use(_) | Statement::Empty => {}
            Statement::Other => {
                let excerpt: String = body.chars().take(200).collect();
                return Err(self.refuse(format!(
                    "a change that is not a row event (DDL or statement-logged): {excerpt}"
                )));
            }
        }
        Ok(())
    }
}

/// A line filter of [`relay`]: one input line (empty at the end) to the output.
type LineFilter<'a> = &'a mut (dyn FnMut(&[u8], &mut Vec<u8>) -> Result<(), DbError> + Send);

/// Runs `producer | filter | consumer` (or `producer | filter` with the output
/// dropped), line by line; returns the bytes given to the consumer. The tools must
/// succeed (the consumer's failure is reported first); the filter's error or
/// cancelling kills them.
async fn relay(
    producer: (&'static str, Command),
    consumer: Option<(&'static str, Command)>,
    filter: LineFilter<'_>,
    cancel: &CancellationToken,
) -> Result<u64, DbError> {
    if cancel.is_cancelled() {
        return Err(DbError::Interrupted);
    }
    let (ptool, mut pcmd) = producer;
    pcmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut pchild = process::spawn(ptool, &mut pcmd)?;
    let mut consumer = match consumer.map(start_consumer).transpose() {
        Ok(consumer) => consumer,
        Err(e) => {
            process::kill(&mut pchild).await;
            return Err(e);
        }
    };
    let pstderr = process::read_stderr(pchild.stderr.take());
    let to: Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>> = match consumer.as_mut() {
        Some((_, child, _)) => child.stdin.take().map(|stdin| Box::new(stdin) as _),
        None => Some(Box::new(tokio::io::sink())),
    };
    let pumped = match (pchild.stdout.take(), to) {
        (Some(from), Some(to)) => tokio::select! {
            pumped = pump(from, to, filter) => pumped,
            () = cancel.cancelled() => Err(DbError::Interrupted),
        },
        _ => Err(DbError::Spawn {
            tool: ptool,
            reason: "no pipes".to_owned(),
        }),
    };
    let waited = match pumped {
        Ok(bytes) => tokio::select! {
            waited = wait_all(&mut pchild, consumer.as_mut()) => waited.map(|s| (bytes, s)),
            () = cancel.cancelled() => Err(DbError::Interrupted),
        },
        Err(e) => Err(e),
    };
    let (bytes, (pstatus, cstatus)) = match waited {
        Ok(waited) => waited,
        Err(e) => {
            process::kill(&mut pchild).await;
            if let Some((_, child, _)) = consumer.as_mut() {
                process::kill(child).await;
            }
            return Err(e);
        }
    };
    if let (Some((ctool, _, cstderr)), Some(cstatus)) = (consumer, cstatus) {
        process::check(ctool, cstatus, cstderr.await.unwrap_or_default())?;
    }
    process::check(ptool, pstatus, pstderr.await.unwrap_or_default())?;
    Ok(bytes)
}

/// A started consumer: its tool, process, and stderr tail.
type Consumer = (&'static str, Child, JoinHandle<process::Stderr>);

fn start_consumer((tool, mut cmd): (&'static str, Command)) -> Result<Consumer, DbError> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = process::spawn(tool, &mut cmd)?;
    let stderr = process::read_stderr(child.stderr.take());
    Ok((tool, child, stderr))
}

/// Waits for the producer and the consumer (if any) to end.
async fn wait_all(
    producer: &mut Child,
    consumer: Option<&mut Consumer>,
) -> Result<(std::process::ExitStatus, Option<std::process::ExitStatus>), DbError> {
    let failed = |e: std::io::Error| DbError::Io {
        context: "waiting for a tool".to_owned(),
        source: e,
    };
    match consumer {
        Some((_, child, _)) => {
            let (p, c) = tokio::join!(producer.wait(), child.wait());
            Ok((p.map_err(failed)?, Some(c.map_err(failed)?)))
        }
        None => Ok((producer.wait().await.map_err(failed)?, None)),
    }
}

/// Copies `from` to `to` through `filter`, line by line. Stops early (without error)
/// if the consumer stops reading: its exit status tells why.
async fn pump(
    from: ChildStdout,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    filter: LineFilter<'_>,
) -> Result<u64, DbError> {
    let mut reader = BufReader::with_capacity(1 << 16, from);
    let mut line = Vec::new();
    let mut out = Vec::new();
    let mut bytes = 0_u64;
    loop {
        line.clear();
        out.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|source| DbError::Io {
                context: "reading a tool's output".to_owned(),
                source,
            })?;
        filter(&line[..n], &mut out)?;
        if !out.is_empty() {
            if to.write_all(&out).await.is_err() {
                return Ok(bytes);
            }
            bytes += out.len() as u64;
        }
        if n == 0 {
            break;
        }
    }
    let _ = to.shutdown().await;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: &mut BinlogFilter, input: &str) -> Result<String, DbError> {
        let mut out = Vec::new();
        for line in input.split_inclusive('\n') {
            filter.line(line.as_bytes(), &mut out)?;
        }
        filter.line(b"", &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn reads_the_dump_position() {
        let line =
            b"-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=3325;\n";
        assert_eq!(
            dump_position(line),
            Some(BinlogPosition {
                file: "mysql-bin.000003".into(),
                position: 3325
            })
        );
        assert_eq!(dump_position(b"-- MariaDB dump 10.19\n"), None);
    }

    #[test]
    fn keeps_row_events_and_drops_gtids_and_empty_transactions() -> Result<(), DbError> {
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        let out = run(
            &mut filter,
            "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;\nDELIMITER /*!*/;\n# at 4\n\
             /*M!100001 SET @@session.gtid_seq_no=10*//*!*/;\nSTART TRANSACTION\n/*!*/;\n\
             COMMIT/*!*/;\n\
             /*M!100001 SET @@session.server_id=1*//*!*/;\nSTART TRANSACTION\n/*!*/;\n\
             #261121 Table_map: `src__ferry_incoming`.`t` mapped to number 18\n\
             BINLOG '\nAAAA\nBBBB\n'/*!*/;\nCOMMIT/*!*/;\nDELIMITER ;\n\
             ROLLBACK /* added by mysqlbinlog */;\n",
        )?;
        assert!(
            !out.contains("gtid_seq_no") && !out.contains("server_id"),
            "{out}"
        );
        assert_eq!(out.matches("START TRANSACTION").count(), 1, "{out}");
        assert_eq!(out.matches("COMMIT").count(), 1, "{out}");
        assert!(out.contains("BINLOG '\nAAAA\nBBBB\n'/*!*/;"), "{out}");
        assert!(
            out.contains("PSEUDO_SLAVE_MODE") && out.contains("ROLLBACK /*"),
            "{out}"
        );
        assert!(filter.row_bytes > 0);
        Ok(())
    }

    #[test]
    fn scans_for_statements_changing_the_schema() {
        let scan = |input: &str| {
            let mut scan = DdlScan::new("shop");
            input
                .split_inclusive('\n')
                .chain([""])
                .try_for_each(|line| scan.line(line.as_bytes()))
        };
        let header =
            "DELIMITER /*!*/;\nSET TIMESTAMP=1/*!*/;\nSTART TRANSACTION\n/*!*/;\nCOMMIT/*!*/;\n";
        assert!(scan(header).is_ok());
        assert!(scan(&format!("{header}alter table `shop`.t add c int\n/*!*/;\n")).is_err());
        assert!(scan(&format!("{header}alter table shop.t add c int\n/*!*/;\n")).is_err());
        assert!(
            scan(&format!(
                "{header}use `shop`/*!*/;\ncreate index i on t (c)\n/*!*/;\n"
            ))
            .is_err()
        );
        assert!(
            scan(&format!(
                "{header}use `other`/*!*/;\ncreate index i on t (c)\n/*!*/;\n"
            ))
            .is_ok()
        );
        assert!(
            scan(&format!(
                "{header}alter table shopping.t add c int\n/*!*/;\n"
            ))
            .is_ok()
        );
        assert!(scan(&format!("{header}alter table myshop.t add c int\n/*!*/;\n")).is_ok());
    }

    #[test]
    fn refuses_events_past_the_stop_position() {
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        filter.stop = Some(1000);
        let ok = "#261121 17:25:12 server id 1  end_log_pos 1000 CRC32 0x1  Xid = 33\n";
        assert!(run(&mut filter, ok).is_ok());
        let late = "#261121 17:25:12 server id 1  end_log_pos 1042 CRC32 0x1  Xid = 34\n";
        assert!(run(&mut filter, late).is_err());
    }

    #[test]
    fn refuses_ddl_and_foreign_row_events() {
        let ddl = "DELIMITER /*!*/;\nuse `src__ferry_incoming`/*!*/;\nSET TIMESTAMP=1/*!*/;\n\
                   alter table src.t add column w int\n/*!*/;\n";
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        assert!(matches!(
            run(&mut filter, ddl),
            Err(DbError::CatchUpImpossible { .. })
        ));
        let foreign = "#2611 Table_map: `src`.`t` mapped to number 18\n";
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        assert!(run(&mut filter, foreign).is_err());
        let mut filter = BinlogFilter::new("src", "src__ferry_incoming");
        let statement =
            "DELIMITER /*!*/;\nSET STATEMENT max_statement_time=1 FOR DROP TABLE t/*!*/;\n";
        assert!(run(&mut filter, statement).is_err());
    }
}
