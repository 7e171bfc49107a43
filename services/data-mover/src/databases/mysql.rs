//! MySQL/MariaDB copies with the `mariadb-dump` and `mariadb` tools.
//!
//! MariaDB cannot rename a schema, and tables carrying triggers, views, routines and
//! events cannot move between schemas; so a copy runs in two parts:
//!
//! 1. the data: `mariadb-dump --single-transaction --skip-triggers` (views left out)
//!    piped into `mariadb` on the staging schema `<name>__ferry_incoming`, then
//!    verified against the source;
//! 2. the switch: a marker table `__ferry_switching` is created in the staging
//!    schema, the final schema is created, every table and sequence moves there in **one atomic**
//!    `RENAME TABLE`, then triggers, routines, events and views (dumped from the source
//!    with `--no-data`) are created in it, and the staging schema is dropped.
//!
//! A kill before the switch leaves only the staging schema; a kill during the switch
//! leaves the marker, which tells the next attempt that the final schema is its own
//! unfinished work: it drops both and starts again. Any other existing final schema is
//! refused ([`DbError::AlreadyExists`]), unless [`CopySpec::replace_existing`]: it is
//! then kept aside under [`replaced_name`] by the switch, in one atomic rename with the
//! new tables (see `switch`).
//!
//! The switch is shared with the binary-log catch-up copy ([`super::mysql_binlog`]).
//! This module also owns the **freeze** of a schema for a cutover ([`freeze`],
//! [`MysqlFreeze`]): its writes stopped by a session holding its tables' read lock.

use std::time::Instant;

use ferry_events::transfer::{DatabaseCheck, DatabaseMethod};
use ferry_events::values::DatabaseEngine;
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::verify::{self, TableCheck};
use super::{
    CopyPhase, CopyReport, CopySpec, DbError, check_name, process, replaced_name, staging_name,
};

/// Longest MySQL/MariaDB schema name, in characters.
pub(crate) const MAX_NAME: usize = 64;

/// The table marking a staging schema whose switch has begun.
pub(crate) const MARKER: &str = "__ferry_switching";

/// The table marking a final schema whose replacing switch has begun: created in the
/// staging schema, it moves into the final schema with the atomic rename, so that its
/// presence there tells a retry that the final schema holds the copy's own unfinished
/// switch (and the replaced one is safe under [`replaced_name`]).
pub(crate) const REPLACING_MARKER: &str = "__ferry_replacing";

/// The table of a kept-aside (replaced) schema holding the SQL of its triggers,
/// routines, events and views, which are not re-created there (see [`switch`]).
pub(crate) const KEPT_OBJECTS: &str = "__ferry_objects";

/// `` `name` `` with inner backticks doubled.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'`, escaped.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Runs SQL through `mariadb -N -B` (statements on stdin); returns the output rows,
/// tab-separated fields.
pub(crate) async fn sql(
    endpoint: &Endpoint,
    statements: String,
    cancel: &CancellationToken,
) -> Result<Vec<Vec<String>>, DbError> {
    let mut cmd = process::command("mariadb");
    endpoint.mysql_args(&mut cmd);
    cmd.args(["-N", "-B"]);
    let out = process::run("mariadb", cmd, Some(statements.into_bytes()), cancel)
        .await
        .map_err(|e| match e {
            DbError::Tool { stderr, .. }
                if stderr.contains("ERROR 2002")
                    || stderr.contains("ERROR 2003")
                    || stderr.contains("ERROR 1045") =>
            {
                DbError::Connection {
                    endpoint: endpoint.display(),
                    reason: stderr,
                }
            }
            DbError::Tool { stderr, .. } => DbError::Query {
                endpoint: endpoint.display(),
                context: "mariadb".to_owned(),
                reason: stderr,
            },
            other => other,
        })?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect())
}

/// Runs SQL through `mariadb` for its effect (see [`sql`]); its output is ignored.
pub(crate) async fn execute(
    endpoint: &Endpoint,
    statements: String,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    sql(endpoint, statements, cancel).await.map(|_| ())
}

/// The names of `database`'s objects of these types (`BASE TABLE`, `VIEW`, `SEQUENCE`).
pub(crate) async fn tables_of(
    endpoint: &Endpoint,
    database: &str,
    types: &[&str],
    cancel: &CancellationToken,
) -> Result<Vec<String>, DbError> {
    let types: Vec<String> = types.iter().map(|t| literal(t)).collect();
    let rows = sql(
        endpoint,
        format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = {} AND TABLE_TYPE IN ({}) ORDER BY TABLE_NAME;",
            literal(database),
            types.join(", ")
        ),
        cancel,
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect())
}

/// The default character set and collation of a schema, if it exists.
pub(crate) async fn schema(
    endpoint: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<Option<(String, String)>, DbError> {
    let rows = sql(
        endpoint,
        format!(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {};",
            literal(database)
        ),
        cancel,
    )
    .await?;
    Ok(rows.into_iter().next().and_then(|r| match r.as_slice() {
        [charset, collation] => Some((charset.clone(), collation.clone())),
        _ => None,
    }))
}

/// Row counts (`COUNT(*)`) and `CHECKSUM TABLE` of every base table of `database`.
pub async fn checksum(url: &str, database: &str) -> Result<Vec<TableCheck>, DbError> {
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    let tables = tables_of(&endpoint, database, &["BASE TABLE"], &cancel).await?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let mut statements = String::new();
    for table in &tables {
        let name = format!("{}.{}", ident(database), ident(table));
        statements.push_str(&format!(
            "SELECT COUNT(*) FROM {name}; CHECKSUM TABLE {name};\n"
        ));
    }
    let rows = sql(&endpoint, statements, &cancel).await?;
    if rows.len() != 2 * tables.len() {
        return Err(DbError::Query {
            endpoint: endpoint.display(),
            context: format!("checksums of {database}"),
            reason: format!("{} output rows for {} tables", rows.len(), tables.len()),
        });
    }
    let mut checks = Vec::with_capacity(tables.len());
    for (table, pair) in tables.into_iter().zip(rows.chunks(2)) {
        let count = pair[0].first().and_then(|c| c.parse::<u64>().ok());
        let sum = pair[1].last().cloned();
        match (count, sum) {
            (Some(rows), Some(checksum)) => checks.push(TableCheck {
                table,
                rows,
                checksum,
            }),
            _ => {
                return Err(DbError::Query {
                    endpoint: endpoint.display(),
                    context: format!("checksum of {table}"),
                    reason: format!("unexpected output {pair:?}"),
                });
            }
        }
    }
    Ok(checks)
}

/// Kills the sessions using `database` (an orphaned loader of an earlier attempt),
/// then drops it.
pub(crate) async fn drop_schema(
    endpoint: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let sessions = sql(
        endpoint,
        format!(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = {} AND ID <> CONNECTION_ID();",
            literal(database)
        ),
        cancel,
    )
    .await?;
    let mut statements = String::new();
    for id in sessions.iter().filter_map(|r| r.first()) {
        if id.chars().all(|c| c.is_ascii_digit()) {
            statements.push_str(&format!("KILL {id};\n"));
        }
    }
    if !statements.is_empty() {
        // A session may end by itself meanwhile: its KILL failing is harmless.
        let _ = sql(endpoint, statements, cancel).await;
    }
    execute(
        endpoint,
        format!("DROP DATABASE IF EXISTS {};", ident(database)),
        cancel,
    )
    .await
}

/// Dumps `database`'s triggers, routines and events, then its views (no data).
pub(crate) async fn dump_objects(
    src: &Endpoint,
    database: &str,
    views: &[String],
    cancel: &CancellationToken,
) -> Result<Vec<u8>, DbError> {
    let dump = |args: &[&str], views: &[String]| {
        let mut cmd = process::command("mariadb-dump");
        src.mysql_args(&mut cmd);
        cmd.args(args).arg(database).args(views);
        process::run("mariadb-dump", cmd, None, cancel)
    };
    // No LOCK TABLES: it would wait behind writers queued on a frozen schema (and
    // briefly block a live one); definitions need no lock.
    let mut objects = dump(
        &[
            "--skip-lock-tables",
            "--no-data",
            "--no-create-info",
            "--skip-comments",
            "--routines",
            "--events",
            "--triggers",
        ],
        &[],
    )
    .await?;
    if !views.is_empty() {
        let args = [
            "--skip-lock-tables",
            "--no-data",
            "--skip-comments",
            "--skip-triggers",
        ];
        objects.extend(dump(&args, views).await?);
    }
    Ok(objects)
}

/// A copy's two servers and its staging schema, its names checked first.
pub(crate) fn ends(spec: &CopySpec) -> Result<(Endpoint, Endpoint, String), DbError> {
    check_name(&spec.database, MAX_NAME)?;
    check_name(&spec.destination_name, MAX_NAME)?;
    Ok((
        Endpoint::mysql(&spec.source_url)?,
        Endpoint::mysql(&spec.destination_url)?,
        staging_name(&spec.destination_name),
    ))
}

/// Copies `spec.database` from the source server to `spec.destination_name` on the
/// destination server with `mariadb-dump | mariadb`, verified before the switch.
///
/// Refuses ([`DbError::AlreadyExists`]) if the final schema exists at the destination,
/// unless it is an earlier attempt's unfinished switch (dropped and redone) or
/// [`CopySpec::replace_existing`] is set (the existing schema's tables are then moved
/// aside to [`replaced_name`] at the switch, see `switch`). Drops what an earlier
/// attempt left. On any failure the staging schema is dropped (best effort).
pub async fn copy(spec: &CopySpec, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
    let started = Instant::now();
    let (src, dst, staging) = ends(spec)?;
    spec.phase(CopyPhase::Preparing);

    let (charset, collation) =
        schema(&src, &spec.database, cancel)
            .await?
            .ok_or_else(|| DbError::NotFound {
                name: spec.database.clone(),
            })?;
    prepare_final(spec, &dst, &staging, cancel).await?;
    drop_schema(&dst, &staging, cancel).await?;
    create_schema(&dst, &staging, (&charset, &collation), cancel).await?;

    let result = transfer(spec, cancel, &src, &dst, &staging, (&charset, &collation)).await;
    if result.is_err() {
        // Never touch the final schema here: it may be someone else's (AlreadyExists).
        let cleanup = CancellationToken::new();
        if let Err(e) = drop_schema(&dst, &staging, &cleanup).await {
            tracing::warn!(error = %e, "could not drop the staging schema; the next attempt will");
        }
    }
    let (dump_bytes, verify_duration, check) = result?;
    spec.phase(CopyPhase::Done);
    Ok(CopyReport {
        engine: DatabaseEngine::Mysql,
        source_database: spec.database.clone(),
        database: spec.destination_name.clone(),
        method: DatabaseMethod::DumpRestore,
        dump_bytes,
        duration: started.elapsed(),
        verify_duration,
        check,
    })
}

/// `CREATE DATABASE` with the source's default character set and collation.
pub(crate) async fn create_schema(
    endpoint: &Endpoint,
    database: &str,
    (charset, collation): (&str, &str),
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    execute(
        endpoint,
        format!(
            "CREATE DATABASE {} CHARACTER SET {} COLLATE {};",
            ident(database),
            literal(charset),
            literal(collation)
        ),
        cancel,
    )
    .await
}

/// Checks the final schema before a copy into `staging` begins: absent is fine; the
/// copy's own unfinished switch (a marker in the staging schema, or the replacing
/// marker in the final one) is dropped; any other existing schema is refused unless
/// `spec.replace_existing` (it is then replaced at the switch, once the copy is verified).
pub(crate) async fn prepare_final(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let fin = &spec.destination_name;
    if schema(dst, fin, cancel).await?.is_none() {
        return Ok(());
    }
    let staging_tables = tables_of(dst, staging, &["BASE TABLE"], cancel).await?;
    let final_tables = tables_of(dst, fin, &["BASE TABLE"], cancel).await?;
    if staging_tables.iter().any(|t| t == MARKER)
        || final_tables.iter().any(|t| t == REPLACING_MARKER)
    {
        tracing::warn!(database = %fin, "dropping an unfinished switch of an earlier attempt");
        return drop_schema(dst, fin, cancel).await;
    }
    if spec.replace_existing {
        return Ok(());
    }
    Err(DbError::AlreadyExists { name: fin.clone() })
}

/// Dump and restore, verify, switch.
async fn transfer(
    spec: &CopySpec,
    cancel: &CancellationToken,
    src: &Endpoint,
    dst: &Endpoint,
    staging: &str,
    charset: (&str, &str),
) -> Result<(u64, std::time::Duration, DatabaseCheck), DbError> {
    let views = tables_of(src, &spec.database, &["VIEW"], cancel).await?;
    let objects = dump_objects(src, &spec.database, &views, cancel).await?;

    spec.phase(CopyPhase::Restoring);
    let dump = data_dump(src, &spec.database, &views, &[]);
    let mut load = process::command("mariadb");
    dst.mysql_args(&mut load);
    load.arg(staging);
    let dump_bytes = process::pipe(("mariadb-dump", dump), ("mariadb", load), cancel).await?;

    let (verify_duration, check) = verify_staging(spec, staging, cancel).await?;
    switch(spec, dst, staging, charset, objects, cancel).await?;
    tracing::info!(
        database = %spec.database,
        destination = %spec.destination_name,
        dump_bytes,
        "mysql database copied and verified"
    );
    Ok((dump_bytes, verify_duration, check))
}

/// The `mariadb-dump` of `database`'s tables and data, in one consistent transaction,
/// without triggers, routines, events and views (they follow at the switch).
pub(crate) fn data_dump(
    src: &Endpoint,
    database: &str,
    views: &[String],
    extra: &[&str],
) -> tokio::process::Command {
    let mut dump = process::command("mariadb-dump");
    src.mysql_args(&mut dump);
    dump.args([
        "--single-transaction",
        "--skip-triggers",
        "--skip-routines",
        "--skip-events",
    ])
    .args(extra);
    for view in views {
        dump.arg(format!("--ignore-table={database}.{view}"));
    }
    dump.arg(database);
    dump
}

/// Compares the staging schema with the source table by table; returns the time it
/// took and the check, named after the final schema.
pub(crate) async fn verify_staging(
    spec: &CopySpec,
    staging: &str,
    cancel: &CancellationToken,
) -> Result<(std::time::Duration, DatabaseCheck), DbError> {
    verify::staging_against_source(spec, staging, cancel).await
}

/// Gives the verified staging schema the final name, with the source's `objects`
/// (triggers, routines, events, views).
///
/// - No final schema: the marker goes into the staging schema, the final schema is
///   created, every table moves there in one atomic `RENAME TABLE`, the objects are
///   created, the staging schema is dropped.
/// - A final schema exists and `spec.replace_existing`: an older [`replaced_name`]
///   schema is dropped; the existing schema's triggers, routines, events and views
///   are saved as SQL (table `__ferry_objects` of the kept schema) and dropped, since
///   MariaDB cannot move tables with triggers across schemas, views would point at the
///   new copy and events would run in the kept one; then **one atomic** `RENAME TABLE`
///   moves the existing tables to [`replaced_name`] and the staging tables (with the
///   replacing marker) to the final name; the new objects are created, the staging
///   schema and the marker dropped. A crash before the rename leaves the existing
///   schema's tables in place (its objects possibly dropped, saved in the kept schema);
///   after it, the marker in the final schema tells the retry to drop and redo it,
///   the replaced tables being safe under [`replaced_name`].
/// - A final schema exists otherwise: [`DbError::AlreadyExists`].
pub(crate) async fn switch(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    charset: (&str, &str),
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    spec.phase(CopyPhase::Switching);
    match schema(dst, &spec.destination_name, cancel).await? {
        None => switch_new(spec, dst, staging, charset, objects, cancel).await,
        Some(old) if spec.replace_existing => {
            let old = (old.0.as_str(), old.1.as_str());
            switch_replacing(spec, dst, staging, (charset, old), objects, cancel).await
        }
        Some(_) => Err(DbError::AlreadyExists {
            name: spec.destination_name.clone(),
        }),
    }
}

/// `RENAME TABLE a TO b, …` for `(from schema, to schema, table)` moves.
fn renames<'a>(moves: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> String {
    let pairs: Vec<String> = moves
        .into_iter()
        .map(|(from, to, t)| format!("{}.{} TO {}.{}", ident(from), ident(t), ident(to), ident(t)))
        .collect();
    format!("RENAME TABLE {};", pairs.join(", "))
}

/// Runs `objects` (SQL from [`dump_objects`]) in `database`.
async fn load_objects(
    dst: &Endpoint,
    database: &str,
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut load = process::command("mariadb");
    dst.mysql_args(&mut load);
    load.arg(database);
    process::run("mariadb", load, Some(objects), cancel)
        .await
        .map(|_| ())
}

/// The switch to a final schema that does not exist yet.
async fn switch_new(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    charset: (&str, &str),
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let tables = tables_of(dst, staging, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let fin = spec.destination_name.as_str();
    sql(
        dst,
        format!(
            "CREATE TABLE {}.{} (started TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);",
            ident(staging),
            ident(MARKER)
        ),
        cancel,
    )
    .await?;
    create_schema(dst, fin, charset, cancel)
        .await
        .map_err(|e| match e {
            DbError::Query { reason, .. } if reason.contains("ERROR 1007") => {
                DbError::AlreadyExists {
                    name: fin.to_owned(),
                }
            }
            other => other,
        })?;
    // The final schema is ours from here (the marker says so to a retry): no more
    // cancellation, and on failure it is dropped with the staging schema.
    let finish = CancellationToken::new();
    let switched = async {
        if !tables.is_empty() {
            let moves = tables.iter().map(|t| (staging, fin, t.as_str()));
            sql(dst, renames(moves), &finish).await?;
        }
        load_objects(dst, fin, objects, &finish).await?;
        sql(dst, format!("DROP DATABASE {};", ident(staging)), &finish).await
    }
    .await;
    if let Err(e) = switched {
        if let Err(e) = drop_schema(dst, fin, &finish).await {
            tracing::warn!(error = %e, "could not drop the unfinished final schema; the next attempt will");
        }
        return Err(e);
    }
    Ok(())
}

/// The switch over an existing final schema, kept aside (see [`switch`]).
async fn switch_replacing(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    (charset, old_charset): ((&str, &str), (&str, &str)),
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let fin = spec.destination_name.as_str();
    let kept = replaced_name(fin);
    let new_tables = tables_of(dst, staging, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let old_tables = tables_of(dst, fin, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let old_views = tables_of(dst, fin, &["VIEW"], cancel).await?;
    let old_objects = dump_objects(dst, fin, &old_views, cancel).await?;
    drop_schema(dst, &kept, cancel).await?;
    create_schema(dst, &kept, old_charset, cancel).await?;
    sql(
        dst,
        format!(
            "CREATE TABLE {k}.{o} (objects LONGBLOB NOT NULL) ENGINE=InnoDB;
             INSERT INTO {k}.{o} VALUES (UNHEX('{hex}'));
             CREATE TABLE {s}.{m} (started TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);",
            k = ident(&kept),
            o = ident(KEPT_OBJECTS),
            hex = hex(&old_objects),
            s = ident(staging),
            m = ident(REPLACING_MARKER),
        ),
        cancel,
    )
    .await?;
    tracing::info!(database = %fin, kept = %kept, "replacing an existing destination schema");
    // From here the existing schema is being changed: no more cancellation.
    let finish = CancellationToken::new();
    drop_objects(dst, fin, &finish).await?;
    let moves = old_tables
        .iter()
        .map(|t| (fin, kept.as_str(), t.as_str()))
        .chain(
            new_tables
                .iter()
                .map(String::as_str)
                .chain([REPLACING_MARKER])
                .map(|t| (staging, fin, t)),
        );
    if let Err(e) = sql(dst, renames(moves), &finish).await {
        // Nothing moved (the rename is atomic): give the existing schema its objects back.
        if let Err(e) = load_objects(dst, fin, old_objects, &finish).await {
            tracing::warn!(error = %e, database = %fin, "could not restore the objects of the existing schema; they are saved in {kept}.{KEPT_OBJECTS}");
        }
        return Err(e);
    }
    sql(
        dst,
        format!(
            "ALTER DATABASE {} CHARACTER SET {} COLLATE {};",
            ident(fin),
            literal(charset.0),
            literal(charset.1)
        ),
        &finish,
    )
    .await?;
    load_objects(dst, fin, objects, &finish).await?;
    // Staging first, marker last: a crash in between leaves the marker, and the retry
    // redoes the copy rather than replacing this one (and losing the kept schema).
    execute(
        dst,
        format!(
            "DROP DATABASE {}; DROP TABLE {}.{};",
            ident(staging),
            ident(fin),
            ident(REPLACING_MARKER)
        ),
        &finish,
    )
    .await
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Drops the triggers, routines, events and views of `database` (its tables stay).
async fn drop_objects(
    dst: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let db = literal(database);
    let rows = sql(
        dst,
        format!(
            "SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {db}
             UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {db}
             UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {db}
             UNION ALL SELECT 'VIEW', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {db};"
        ),
        cancel,
    )
    .await?;
    let drops: Vec<String> = rows
        .iter()
        .filter_map(|row| match row.as_slice() {
            [kind, name] => Some(format!(
                "DROP {kind} IF EXISTS {}.{};",
                ident(database),
                ident(name)
            )),
            _ => None,
        })
        .collect();
    if drops.is_empty() {
        return Ok(());
    }
    execute(dst, drops.join("\n"), cancel).await
}

/// How long the freeze waits for the schema's tables (open transactions of sessions it
/// could not kill) before giving up, in seconds.
const FREEZE_LOCK_WAIT_SECS: u32 = 60;

/// A MySQL/MariaDB schema whose writes are stopped, for the cutover of its account.
///
/// MariaDB 10.11 has no per-schema read-only switch, so the freeze is a `mariadb`
/// session (its stdin kept open) holding `FLUSH TABLES <every table and sequence of
/// the schema> WITH READ LOCK`, taken after the schema's other sessions (those whose
/// default database it is) were killed so that their open transactions cannot delay
/// it. Other sessions can still read; their writes **wait** (up to their own
/// `lock_wait_timeout`). The binary log is unaffected: reading it for the last catch-up
/// ([`super::mysql_binlog`]) and verifying the tables both work while frozen.
///
/// Limits, by design of the server:
/// - the lock lives as long as the session: a crash of ferry, a lost connection or an
///   administrator's `KILL` releases it (the account simply stays writable on the
///   source, the safe direction; [`MysqlFreeze::still_held`] tells);
/// - tables created after the freeze are not locked (a `CREATE TABLE` is DDL, which the
///   binlog catch-up refuses, so such a cutover fails rather than losing data);
/// - waiting writers proceed when the lock is released: [`MysqlFreeze::retire`] kills
///   them first, but a writer connecting after the release writes to the old copy; the
///   account's applications must already point at the destination by then.
///
/// Dropping it without [`thaw`](MysqlFreeze::thaw) or [`retire`](MysqlFreeze::retire)
/// kills the session, which releases the lock (like `thaw`).
pub struct MysqlFreeze {
    endpoint: Endpoint,
    database: String,
    session: Session,
}

impl std::fmt::Debug for MysqlFreeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlFreeze")
            .field("endpoint", &self.endpoint)
            .field("database", &self.database)
            .field("session", &self.session.id)
            .finish()
    }
}

/// Stops writes to `database` on the server at `url` (see [`MysqlFreeze`]): kills the
/// schema's other sessions, then locks every table and sequence of it for reading.
/// Fails ([`DbError::Query`]) if the lock is not granted within a minute.
pub async fn freeze(url: &str, database: &str) -> Result<MysqlFreeze, DbError> {
    check_name(database, MAX_NAME)?;
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    if schema(&endpoint, database, &cancel).await?.is_none() {
        return Err(DbError::NotFound {
            name: database.to_owned(),
        });
    }
    let tables = tables_of(&endpoint, database, &["BASE TABLE", "SEQUENCE"], &cancel).await?;
    let mut session = Session::open(&endpoint).await?;
    session
        .ask(&format!(
            "SET SESSION lock_wait_timeout = {FREEZE_LOCK_WAIT_SECS};"
        ))
        .await?;
    let killed = kill_sessions(&endpoint, database, session.id, false).await?;
    if !tables.is_empty() {
        let names: Vec<String> = tables
            .iter()
            .map(|t| format!("{}.{}", ident(database), ident(t)))
            .collect();
        session
            .ask(&format!(
                "FLUSH TABLES {} WITH READ LOCK;",
                names.join(", ")
            ))
            .await?;
    }
    tracing::info!(%database, tables = tables.len(), killed, "mysql schema frozen");
    Ok(MysqlFreeze {
        endpoint,
        database: database.to_owned(),
        session,
    })
}

impl MysqlFreeze {
    /// The frozen schema.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Whether the lock is still held: `Ok` if the session still answers, else the
    /// error (writes may have reached the schema since it was lost).
    pub async fn still_held(&mut self) -> Result<(), DbError> {
        self.session.ask("").await.map(|_| ())
    }

    /// Releases the lock (the cutover failed; the account stays on the source):
    /// waiting writers proceed.
    pub async fn thaw(self) -> Result<(), DbError> {
        tracing::info!(database = %self.database, "mysql schema thawed");
        self.session.close().await;
        Ok(())
    }

    /// The cutover succeeded: kills the sessions still using or waiting on the schema,
    /// so that their writes never land on this (now old) copy, then releases the lock.
    /// Returns how many sessions were killed; fails if the lock had been lost before
    /// (the sessions are killed all the same).
    pub async fn retire(mut self) -> Result<usize, DbError> {
        let held = self.still_held().await;
        let killed = kill_sessions(&self.endpoint, &self.database, self.session.id, true).await;
        tracing::info!(database = %self.database, killed = ?killed, "mysql schema retired");
        self.session.close().await;
        held?;
        killed
    }
}

/// Kills the sessions whose default database is `database` (except `own` and the
/// server's own threads); with `waiting`, also those waiting for a table lock whose
/// statement names the schema. Returns how many were killed.
async fn kill_sessions(
    endpoint: &Endpoint,
    database: &str,
    own: u64,
    waiting: bool,
) -> Result<usize, DbError> {
    let cancel = CancellationToken::new();
    let db = literal(database);
    let waiters = if waiting {
        format!(" OR (STATE LIKE 'Waiting for table%' AND LOCATE({db}, INFO) > 0)")
    } else {
        String::new()
    };
    let rows = sql(
        endpoint,
        format!(
            "SELECT ID FROM information_schema.PROCESSLIST
             WHERE ID <> {own} AND ID <> CONNECTION_ID() AND USER <> 'system user'
               AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID')
               AND (DB = {db}{waiters});"
        ),
        &cancel,
    )
    .await?;
    let ids: Vec<u64> = rows
        .iter()
        .filter_map(|r| r.first().and_then(|id| id.parse().ok()))
        .collect();
    for id in &ids {
        // A session may end by itself meanwhile: its KILL failing is harmless.
        let _ = sql(endpoint, format!("KILL CONNECTION {id};"), &cancel).await;
    }
    Ok(ids.len())
}

/// A `mariadb` session kept open, fed statements on stdin, answering on stdout.
struct Session {
    id: u64,
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    stderr: Option<tokio::process::ChildStderr>,
    endpoint: String,
}

impl Session {
    /// Starts `mariadb` (unbuffered, batch) and reads its connection id.
    async fn open(endpoint: &Endpoint) -> Result<Self, DbError> {
        use std::process::Stdio;
        use tokio::io::AsyncBufReadExt;
        let mut cmd = process::command("mariadb");
        endpoint.mysql_args(&mut cmd);
        cmd.args(["-N", "-B", "--unbuffered"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = process::spawn("mariadb", &mut cmd)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(DbError::Spawn {
                tool: "mariadb",
                reason: "no pipes".to_owned(),
            });
        };
        let mut session = Self {
            id: 0,
            stderr: child.stderr.take(),
            child,
            stdin: Some(stdin),
            stdout: tokio::io::BufReader::new(stdout).lines(),
            endpoint: endpoint.display(),
        };
        let rows = session.ask("SELECT CONNECTION_ID();").await?;
        session.id = rows
            .first()
            .and_then(|r| r.trim().parse().ok())
            .ok_or_else(|| session.failed(format!("unexpected connection id {rows:?}")))?;
        Ok(session)
    }

    fn failed(&self, reason: String) -> DbError {
        DbError::Query {
            endpoint: self.endpoint.clone(),
            context: "freeze session".to_owned(),
            reason,
        }
    }

    /// Runs `statements`, then a marker query; returns the output lines before the
    /// marker's. The session's end (an error, a kill) fails with its stderr.
    async fn ask(&mut self, statements: &str) -> Result<Vec<String>, DbError> {
        use tokio::io::AsyncWriteExt;
        const DONE: &str = "ferry:done";
        let input = format!("{statements}\nSELECT '{DONE}';\n");
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(input.as_bytes()).await.is_ok(),
            None => false,
        };
        let mut lines = Vec::new();
        if written {
            loop {
                match self.stdout.next_line().await {
                    Ok(Some(line)) if line == DONE => return Ok(lines),
                    Ok(Some(line)) => lines.push(line),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let reason = self.ended().await;
        Err(self.failed(reason))
    }

    /// Why the session ended: its stderr.
    async fn ended(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        self.stdin = None;
        let mut text = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let read = stderr.read_to_string(&mut text);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read).await;
        }
        let text = text.trim();
        if text.is_empty() {
            "the session ended".to_owned()
        } else {
            text.to_owned()
        }
    }

    /// Releases the lock (`UNLOCK TABLES`, end of input), killing the tool if it does
    /// not end promptly: either way the connection, hence the lock, is gone.
    async fn close(mut self) {
        use tokio::io::AsyncWriteExt;
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"UNLOCK TABLES;\n").await;
            let _ = stdin.shutdown().await;
        }
        let wait = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait());
        if wait.await.is_err() {
            process::kill(&mut self.child).await;
        }
    }
}
