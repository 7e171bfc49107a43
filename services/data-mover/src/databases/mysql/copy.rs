//! The dump copy: `mariadb-dump --single-transaction --skip-triggers` (views left
//! out) piped into `mariadb` on the staging schema, verified against the source, then
//! switched to the final name (see `switch`). Also the pieces the binary-log copy
//! shares: the copy's ends, the final schema's check, the data dump, the verification.

use std::time::Instant;

use ferry_events::transfer::{DatabaseCheck, DatabaseMethod};
use ferry_events::values::DatabaseEngine;
use tokio_util::sync::CancellationToken;

use super::objects::dump_objects;
use super::schema::{create_schema, drop_schema, schema, tables_of};
use super::switch::switch;
use super::{MARKER, MAX_NAME, REPLACING_MARKER};
use crate::databases::endpoint::Endpoint;
use crate::databases::{
    CopyPhase, CopyReport, CopySpec, DbError, check_name, process, staging_name, verify,
};

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
/// aside to [`replaced_name`](crate::databases::replaced_name) at the switch, see
/// `switch`). Drops what an earlier
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
    load.arg("--").arg(staging);
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
    // `--`: the database is a name, never an option.
    dump.arg("--").arg(database);
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
