//! PostgreSQL copies: `pg_dump -Fd -j` into a work directory, `pg_restore -j
//! --no-owner --exit-on-error` into the staging database `<name>__ferry_incoming`
//! (created like the source: encoding and locale), verification against the source,
//! then `ALTER DATABASE … RENAME` — atomic, so a kill leaves at most the staging
//! database, dropped (`WITH (FORCE)`) by the next attempt.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferry_events::transfer::DatabaseMethod;
use ferry_events::values::DatabaseEngine;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::endpoint::Endpoint;
use super::verify::{self, TableCheck};
use super::{CopyPhase, CopyReport, CopySpec, DbError, check_name, process, staging_name};

/// Longest PostgreSQL identifier, in bytes.
const MAX_NAME: usize = 63;

/// `"name"` with inner quotes doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A session on `database` (or the URL's own database), and its connection task.
async fn connect(
    endpoint: &Endpoint,
    config: &Config,
    database: Option<&str>,
) -> Result<(Client, JoinHandle<()>), DbError> {
    let mut config = config.clone();
    if let Some(database) = database {
        config.dbname(database);
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| DbError::Connection {
            endpoint: endpoint.display(),
            reason: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        })?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    Ok((client, task))
}

/// Closes a session and waits until its connection is gone.
async fn close(client: Client, task: JoinHandle<()>) {
    drop(client);
    let _ = task.await;
}

fn query_error(endpoint: &Endpoint, context: &str, e: &tokio_postgres::Error) -> DbError {
    DbError::Query {
        endpoint: endpoint.display(),
        context: context.to_owned(),
        reason: e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
    }
}

/// Row counts and content checksums of every table of `database` (schema-qualified
/// names). Only reads; rows are rendered with fixed session settings.
pub async fn checksum(url: &str, database: &str) -> Result<Vec<TableCheck>, DbError> {
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (client, task) = connect(&endpoint, &config, Some(database)).await?;
    let result = table_checks(&endpoint, &client).await;
    close(client, task).await;
    result
}

async fn table_checks(endpoint: &Endpoint, client: &Client) -> Result<Vec<TableCheck>, DbError> {
    let err = |context: &str, e: tokio_postgres::Error| query_error(endpoint, context, &e);
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
             SET extra_float_digits = 1; SET bytea_output = 'hex';
             SET default_transaction_read_only = on;
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await
        .map_err(|e| err("session settings", e))?;
    let tables = client
        .query(
            "SELECT n.nspname, c.relname FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
              ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(|e| err("listing tables", e))?;
    let mut checks = Vec::with_capacity(tables.len());
    for row in tables {
        let schema: String = row.get(0);
        let table: String = row.get(1);
        let sql = format!(
            "SELECT count(*)::bigint,
                    coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text
                    || ':' ||
                    coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
               FROM (SELECT md5(t::text) AS h FROM ONLY {}.{} t) q",
            ident(&schema),
            ident(&table)
        );
        let name = format!("{schema}.{table}");
        let row = client
            .query_one(&sql, &[])
            .await
            .map_err(|e| err(&format!("checksum of {name}"), e))?;
        let rows: i64 = row.get(0);
        checks.push(TableCheck {
            table: name,
            rows: u64::try_from(rows).unwrap_or_default(),
            checksum: row.get(1),
        });
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| err("end of checksums", e))?;
    Ok(checks)
}

/// The `CREATE DATABASE` options reproducing the source's encoding and locale.
async fn source_options(
    endpoint: &Endpoint,
    config: &Config,
    database: &str,
) -> Result<String, DbError> {
    let (client, task) = connect(endpoint, config, None).await?;
    let row = client
        .query_opt(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype,
                    datlocprovider::text, daticulocale
               FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|e| query_error(endpoint, "reading the source database", &e));
    close(client, task).await;
    let row = row?.ok_or_else(|| DbError::NotFound {
        name: database.to_owned(),
    })?;
    let encoding: String = row.get(0);
    let collate: String = row.get(1);
    let ctype: String = row.get(2);
    let provider: String = row.get(3);
    let icu: Option<String> = row.get(4);
    let mut options = format!(
        "TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        literal(&encoding),
        literal(&collate),
        literal(&ctype)
    );
    if let ("i", Some(icu)) = (provider.as_str(), icu) {
        options.push_str(&format!(
            " LOCALE_PROVIDER icu ICU_LOCALE {}",
            literal(&icu)
        ));
    }
    Ok(options)
}

async fn database_exists(
    endpoint: &Endpoint,
    client: &Client,
    name: &str,
) -> Result<bool, DbError> {
    client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map(|row| row.is_some())
        .map_err(|e| query_error(endpoint, "looking for a database", &e))
}

async fn drop_database(endpoint: &Endpoint, client: &Client, name: &str) -> Result<(), DbError> {
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(name)
        ))
        .await
        .map_err(|e| query_error(endpoint, &format!("dropping {name}"), &e))
}

/// Total size of the files of a directory-format dump.
async fn dump_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            if let Ok(meta) = entry.metadata().await {
                total += meta.len();
            }
        }
    }
    total
}

/// The dump directory of one copy: stable across attempts, so that a crash's
/// leftover is removed by the next one.
fn dump_dir(spec: &CopySpec) -> PathBuf {
    let key = format!(
        "{}\n{}\n{}\n{}",
        spec.source_url, spec.database, spec.destination_url, spec.destination_name
    );
    let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()).simple();
    spec.work_dir
        .join(format!("ferry-pgdump-{}-{id}", spec.destination_name))
}

async fn remove_dir(dir: &Path) -> Result<(), DbError> {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DbError::Io {
            context: format!("removing {}", dir.display()),
            source: e,
        }),
    }
}

/// Copies `spec.database` from the source server to `spec.destination_name` on the
/// destination server with `pg_dump`/`pg_restore`, verified before the switch.
///
/// Refuses ([`DbError::AlreadyExists`]) if the final name exists at the destination;
/// drops the staging database an earlier attempt left. On any failure the staging
/// database is dropped (best effort) and the final name never appears.
pub async fn copy(spec: &CopySpec, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
    let started = Instant::now();
    check_name(&spec.database, MAX_NAME)?;
    check_name(&spec.destination_name, MAX_NAME)?;
    let (src, src_config) = Endpoint::postgres(&spec.source_url)?;
    let (dst, dst_config) = Endpoint::postgres(&spec.destination_url)?;
    let staging = staging_name(&spec.destination_name);
    spec.phase(CopyPhase::Preparing);

    let options = source_options(&src, &src_config, &spec.database).await?;
    let (admin, admin_task) = connect(&dst, &dst_config, None).await?;
    let prepared = async {
        if database_exists(&dst, &admin, &spec.destination_name).await? {
            return Err(DbError::AlreadyExists {
                name: spec.destination_name.clone(),
            });
        }
        drop_database(&dst, &admin, &staging).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {} {options}", ident(&staging)))
            .await
            .map_err(|e| query_error(&dst, &format!("creating {staging}"), &e))
    }
    .await;
    if let Err(e) = prepared {
        close(admin, admin_task).await;
        return Err(e);
    }

    let dir = dump_dir(spec);
    let result = transfer(spec, cancel, &src, &dst, &staging, &dir, &admin).await;
    let removed = remove_dir(&dir).await;
    if result.is_err()
        && let Err(e) = drop_database(&dst, &admin, &staging).await
    {
        tracing::warn!(error = %e, "could not drop the staging database; the next attempt will");
    }
    close(admin, admin_task).await;
    let (dump_bytes, verify_duration, check) = result?;
    removed?;
    spec.phase(CopyPhase::Done);
    Ok(CopyReport {
        engine: DatabaseEngine::Postgres,
        source_database: spec.database.clone(),
        database: spec.destination_name.clone(),
        method: DatabaseMethod::DumpRestore,
        dump_bytes,
        duration: started.elapsed(),
        verify_duration,
        check,
    })
}

/// Dump, restore, verify, rename.
async fn transfer(
    spec: &CopySpec,
    cancel: &CancellationToken,
    src: &Endpoint,
    dst: &Endpoint,
    staging: &str,
    dir: &Path,
    admin: &Client,
) -> Result<
    (
        u64,
        std::time::Duration,
        ferry_events::transfer::DatabaseCheck,
    ),
    DbError,
> {
    let jobs = spec.jobs.max(1).to_string();
    remove_dir(dir).await?;
    tokio::fs::create_dir_all(&spec.work_dir)
        .await
        .map_err(|e| DbError::Io {
            context: format!("creating {}", spec.work_dir.display()),
            source: e,
        })?;

    spec.phase(CopyPhase::Dumping);
    let mut dump = process::command("pg_dump");
    dump.args(["-Fd", "-j", &jobs, "-f"]).arg(dir);
    src.postgres_args(&mut dump);
    dump.arg("-d").arg(&spec.database);
    process::run("pg_dump", dump, None, cancel).await?;
    let dump_bytes = dump_size(dir).await;

    spec.phase(CopyPhase::Restoring);
    let mut restore = process::command("pg_restore");
    restore.args(["-j", &jobs, "--no-owner", "--exit-on-error"]);
    dst.postgres_args(&mut restore);
    restore.arg("-d").arg(staging).arg(dir);
    process::run("pg_restore", restore, None, cancel).await?;

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
    if cancel.is_cancelled() {
        return Err(DbError::Interrupted);
    }

    spec.phase(CopyPhase::Switching);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(staging),
            ident(&spec.destination_name)
        ))
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::DUPLICATE_DATABASE) {
                DbError::AlreadyExists {
                    name: spec.destination_name.clone(),
                }
            } else {
                query_error(dst, "renaming the staging database", &e)
            }
        })?;
    tracing::info!(
        database = %spec.database,
        destination = %spec.destination_name,
        dump_bytes,
        "postgres database copied and verified"
    );
    Ok((dump_bytes, verify_duration, check))
}
