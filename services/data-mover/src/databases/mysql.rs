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
//! refused ([`DbError::AlreadyExists`]).

use std::time::Instant;

use ferry_events::transfer::{DatabaseCheck, DatabaseMethod};
use ferry_events::values::DatabaseEngine;
use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::verify::{self, TableCheck};
use super::{CopyPhase, CopyReport, CopySpec, DbError, check_name, process, staging_name};

/// Longest MySQL/MariaDB schema name, in characters.
const MAX_NAME: usize = 64;

/// The table marking a staging schema whose switch has begun.
const MARKER: &str = "__ferry_switching";

/// `` `name` `` with inner backticks doubled.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'`, escaped.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Runs SQL through `mariadb -N -B` (statements on stdin); returns the output rows,
/// tab-separated fields.
async fn sql(
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

/// The names of `database`'s objects of these types (`BASE TABLE`, `VIEW`, `SEQUENCE`).
async fn tables_of(
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
async fn schema(
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
async fn drop_schema(
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
    sql(
        endpoint,
        format!("DROP DATABASE IF EXISTS {};", ident(database)),
        cancel,
    )
    .await
    .map(|_| ())
}

/// Dumps `database`'s triggers, routines and events, then its views (no data).
async fn dump_objects(
    src: &Endpoint,
    database: &str,
    views: &[String],
    cancel: &CancellationToken,
) -> Result<Vec<u8>, DbError> {
    let mut cmd = process::command("mariadb-dump");
    src.mysql_args(&mut cmd);
    cmd.args([
        "--no-data",
        "--no-create-info",
        "--skip-comments",
        "--routines",
        "--events",
        "--triggers",
    ])
    .arg(database);
    let mut objects = process::run("mariadb-dump", cmd, None, cancel).await?;
    if !views.is_empty() {
        let mut cmd = process::command("mariadb-dump");
        src.mysql_args(&mut cmd);
        cmd.args(["--no-data", "--skip-comments", "--skip-triggers"])
            .arg(database)
            .args(views);
        objects.extend(process::run("mariadb-dump", cmd, None, cancel).await?);
    }
    Ok(objects)
}

/// Copies `spec.database` from the source server to `spec.destination_name` on the
/// destination server with `mariadb-dump | mariadb`, verified before the switch.
///
/// Refuses ([`DbError::AlreadyExists`]) if the final schema exists at the destination
/// (unless it is an earlier attempt's unfinished switch); drops what an earlier attempt
/// left. On any failure the staging schema is dropped (best effort).
pub async fn copy(spec: &CopySpec, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
    let started = Instant::now();
    check_name(&spec.database, MAX_NAME)?;
    check_name(&spec.destination_name, MAX_NAME)?;
    let src = Endpoint::mysql(&spec.source_url)?;
    let dst = Endpoint::mysql(&spec.destination_url)?;
    let staging = staging_name(&spec.destination_name);
    spec.phase(CopyPhase::Preparing);

    let (charset, collation) =
        schema(&src, &spec.database, cancel)
            .await?
            .ok_or_else(|| DbError::NotFound {
                name: spec.database.clone(),
            })?;
    if schema(&dst, &spec.destination_name, cancel)
        .await?
        .is_some()
    {
        let staging_tables = tables_of(&dst, &staging, &["BASE TABLE"], cancel).await?;
        if !staging_tables.iter().any(|t| t == MARKER) {
            return Err(DbError::AlreadyExists {
                name: spec.destination_name.clone(),
            });
        }
        tracing::warn!(database = %spec.destination_name, "dropping an unfinished switch of an earlier attempt");
        drop_schema(&dst, &spec.destination_name, cancel).await?;
    }
    drop_schema(&dst, &staging, cancel).await?;
    sql(
        &dst,
        format!(
            "CREATE DATABASE {} CHARACTER SET {} COLLATE {};",
            ident(&staging),
            literal(&charset),
            literal(&collation)
        ),
        cancel,
    )
    .await?;

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

/// Dump and restore, verify, switch.
async fn transfer(
    spec: &CopySpec,
    cancel: &CancellationToken,
    src: &Endpoint,
    dst: &Endpoint,
    staging: &str,
    (charset, collation): (&str, &str),
) -> Result<(u64, std::time::Duration, DatabaseCheck), DbError> {
    let views = tables_of(src, &spec.database, &["VIEW"], cancel).await?;
    let objects = dump_objects(src, &spec.database, &views, cancel).await?;

    spec.phase(CopyPhase::Restoring);
    let mut dump = process::command("mariadb-dump");
    src.mysql_args(&mut dump);
    dump.args([
        "--single-transaction",
        "--skip-triggers",
        "--skip-routines",
        "--skip-events",
    ]);
    for view in &views {
        dump.arg(format!("--ignore-table={}.{view}", spec.database));
    }
    dump.arg(&spec.database);
    let mut load = process::command("mariadb");
    dst.mysql_args(&mut load);
    load.arg(staging);
    let dump_bytes = process::pipe(("mariadb-dump", dump), ("mariadb", load), cancel).await?;

    spec.phase(CopyPhase::Verifying);
    let verify_started = Instant::now();
    let (source, destination) = tokio::select! {
        pair = async {
            tokio::join!(
                verify::checksum(&spec.source_url, &spec.database),
                verify::checksum(&spec.destination_url, staging),
            )
        } => pair,
        () = cancel.cancelled() => return Err(DbError::Interrupted),
    };
    let mut destination = destination?;
    destination.name = spec.destination_name.clone();
    let check = verify::compare(&source?, &destination)?;
    let verify_duration = verify_started.elapsed();

    spec.phase(CopyPhase::Switching);
    let tables = tables_of(dst, staging, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let fin = ident(&spec.destination_name);
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
    sql(
        dst,
        format!(
            "CREATE DATABASE {fin} CHARACTER SET {} COLLATE {};",
            literal(charset),
            literal(collation)
        ),
        cancel,
    )
    .await
    .map_err(|e| match e {
        DbError::Query { reason, .. } if reason.contains("ERROR 1007") => DbError::AlreadyExists {
            name: spec.destination_name.clone(),
        },
        other => other,
    })?;
    // The final schema is ours from here (the marker says so to a retry): no more
    // cancellation, and on failure it is dropped with the staging schema.
    let finish = CancellationToken::new();
    let switched = async {
        if !tables.is_empty() {
            let renames: Vec<String> = tables
                .iter()
                .map(|t| format!("{}.{} TO {fin}.{}", ident(staging), ident(t), ident(t)))
                .collect();
            sql(
                dst,
                format!("RENAME TABLE {};", renames.join(", ")),
                &finish,
            )
            .await?;
        }
        let mut load = process::command("mariadb");
        dst.mysql_args(&mut load);
        load.arg(&spec.destination_name);
        process::run("mariadb", load, Some(objects), &finish).await?;
        sql(dst, format!("DROP DATABASE {};", ident(staging)), &finish).await
    }
    .await;
    if let Err(e) = switched {
        if let Err(e) = drop_schema(dst, &spec.destination_name, &finish).await {
            tracing::warn!(error = %e, "could not drop the unfinished final schema; the next attempt will");
        }
        return Err(e);
    }
    tracing::info!(
        database = %spec.database,
        destination = %spec.destination_name,
        dump_bytes,
        "mysql database copied and verified"
    );
    Ok((dump_bytes, verify_duration, check))
}
