//! PostgreSQL copies: `pg_dump -Fd -j` into a work directory, `pg_restore -j
//! --no-owner --exit-on-error` into the staging database `<name>__ferry_incoming`
//! (created like the source: encoding and locale), verification against the source,
//! then `ALTER DATABASE … RENAME` — atomic, so a kill leaves at most the staging
//! database, dropped (`WITH (FORCE)`) by the next attempt. With
//! [`CopySpec::replace_existing`] an existing database under the final name is kept
//! aside under [`replaced_name`] once the staging one is verified.
//!
//! Also the freeze of an account's database at its source (`lockout`: [`freeze`],
//! [`thaw`], [`retire`], [`unretire`]): its non-superuser logins locked out durably,
//! its sessions ended.

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
use super::{
    CopyPhase, CopyReport, CopySpec, DbError, check_name, process, replaced_name, staging_name,
};

mod capture;
mod chunks;
mod lockout;

pub use chunks::{LiveCheck, Side, frozen_check, live_check};
pub use lockout::{freeze, retire, thaw, unretire};

/// Longest PostgreSQL identifier, in bytes.
pub(crate) const MAX_NAME: usize = 63;

/// `"name"` with inner quotes doubled.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A session on `database` (or the URL's own database), and its connection task.
pub(crate) async fn connect(
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
pub(crate) async fn close(client: Client, task: JoinHandle<()>) {
    drop(client);
    let _ = task.await;
}

/// A failed statement as a [`DbError::Query`], with the server's message.
pub(crate) fn query_error(
    endpoint: &Endpoint,
    context: &str,
    e: &tokio_postgres::Error,
) -> DbError {
    DbError::Query {
        endpoint: endpoint.display(),
        context: context.to_owned(),
        reason: e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
    }
}

/// Row counts and content checksums of every table of `database` (schema-qualified
/// names). Only reads; rows are rendered with fixed session settings. With `binary`,
/// each table's rows are hashed from their binary
/// values (`hash_record_extended`, PostgreSQL 14+), several times faster than through
/// their text form, which stays the fallback for a table with a column type that has
/// no hash function. Both ends of a comparison must use the same `binary`.
pub async fn checksum_in(
    url: &str,
    database: &str,
    binary: bool,
) -> Result<Vec<TableCheck>, DbError> {
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (client, task) = connect(&endpoint, &config, Some(database)).await?;
    let result = table_checks(&endpoint, &client, binary).await;
    close(client, task).await;
    result
}

/// Whether both servers can hash rows from their binary values (version 14 or later).
pub(crate) async fn row_hashes_at_both(
    source_url: &str,
    destination_url: &str,
) -> Result<bool, DbError> {
    for url in [source_url, destination_url] {
        let (endpoint, config) = Endpoint::postgres(url)?;
        let (client, task) = connect(&endpoint, &config, None).await?;
        let version = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|e| query_error(&endpoint, "reading the server version", &e));
        close(client, task).await;
        let version: i32 = version?.get(0);
        if version < 140_000 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Starts a checking transaction: output settings both servers render rows alike
/// with, read only, repeatable read (one snapshot for every table).
// No parallel workers: both ends (and other databases) are checked at once, often on
// the same cores; workers would only add their own overhead to the freeze.
pub(crate) async fn start_checks(endpoint: &Endpoint, client: &Client) -> Result<(), DbError> {
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres';
             SET extra_float_digits = 1; SET bytea_output = 'hex';
             SET default_transaction_read_only = on;
             SET max_parallel_workers_per_gather = 0;
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .await
        .map_err(|e| query_error(endpoint, "session settings", &e))
}

/// The tables of the session's database (ordinary tables, not the system's), as
/// (schema, name), sorted.
pub(crate) async fn list_tables(
    endpoint: &Endpoint,
    client: &Client,
) -> Result<Vec<(String, String)>, DbError> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
              ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(|e| query_error(endpoint, "listing tables", &e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn table_checks(
    endpoint: &Endpoint,
    client: &Client,
    binary: bool,
) -> Result<Vec<TableCheck>, DbError> {
    let err = |context: &str, e: tokio_postgres::Error| query_error(endpoint, context, &e);
    start_checks(endpoint, client).await?;
    let tables = list_tables(endpoint, client).await?;
    let mut checks = Vec::with_capacity(tables.len());
    for (schema, table) in tables {
        let relation = format!("{}.{}", ident(&schema), ident(&table));
        let name = format!("{schema}.{table}");
        let hashed = if binary {
            binary_check(client, &relation).await
        } else {
            None
        };
        let row = match hashed {
            Some(row) => row,
            None => {
                let sql = format!(
                    "SELECT count(*)::bigint, 't:' ||
                            coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text
                            || ':' ||
                            coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
                       FROM (SELECT md5(t::text) AS h FROM ONLY {relation} t) q"
                );
                client
                    .query_one(&sql, &[])
                    .await
                    .map_err(|e| err(&format!("checksum of {name}"), e))?
            }
        };
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

/// A table's row count and the sum of its rows' binary hashes, or `None` if a column
/// type has no hash function (the transaction is then as it was, thanks to the
/// savepoint).
async fn binary_check(client: &Client, relation: &str) -> Option<tokio_postgres::Row> {
    client.batch_execute("SAVEPOINT ferry_check").await.ok()?;
    let sql = format!(
        "SELECT count(*)::bigint,
                'b:' || coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text
           FROM ONLY {relation} t"
    );
    match client.query_one(&sql, &[]).await {
        Ok(row) => {
            client
                .batch_execute("RELEASE SAVEPOINT ferry_check")
                .await
                .ok()?;
            Some(row)
        }
        Err(e) => {
            tracing::debug!(%relation, error = %e, "no binary row hash: text checksum");
            client
                .batch_execute("ROLLBACK TO SAVEPOINT ferry_check")
                .await
                .ok()?;
            None
        }
    }
}

/// The `CREATE DATABASE` options reproducing the source's encoding and locale.
pub(crate) async fn source_options(
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

/// Whether the server of `client` has a database `name`.
pub(crate) async fn database_exists(
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

/// Drops `name` if it exists, ending its sessions.
pub(crate) async fn drop_database(
    endpoint: &Endpoint,
    client: &Client,
    name: &str,
) -> Result<(), DbError> {
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
/// Refuses ([`DbError::AlreadyExists`]) if the final name exists at the destination,
/// unless [`CopySpec::replace_existing`] is set: the existing database is then kept
/// under [`replaced_name`] once the copy is verified. Drops the staging database an
/// earlier attempt left. On any failure the staging
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
        if !spec.replace_existing && database_exists(&dst, &admin, &spec.destination_name).await? {
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
    // `--`: the dump's directory is a path, never an option.
    restore.arg("-d").arg(staging).arg("--").arg(dir);
    process::run("pg_restore", restore, None, cancel).await?;

    let (verify_duration, check) = verify::staging_against_source(spec, staging, cancel).await?;

    spec.phase(CopyPhase::Switching);
    switch_in(
        dst,
        admin,
        staging,
        &spec.destination_name,
        spec.replace_existing,
    )
    .await?;
    tracing::info!(
        database = %spec.database,
        destination = %spec.destination_name,
        dump_bytes,
        "postgres database copied and verified"
    );
    Ok((dump_bytes, verify_duration, check))
}

/// Gives the verified `staging` database its `final_name`. An existing database under
/// that name is refused ([`DbError::AlreadyExists`]) or, with `replace_existing`, kept
/// aside under [`replaced_name`] (an older one kept there is dropped first).
///
/// The staging database loses any `default_transaction_read_only` first: the setting
/// belongs to the database, not its name, and a database switched in must be writable.
pub(crate) async fn switch_in(
    dst: &Endpoint,
    admin: &Client,
    staging: &str,
    final_name: &str,
    replace_existing: bool,
) -> Result<(), DbError> {
    reset_read_only(dst, admin, staging).await?;
    if replace_existing && database_exists(dst, admin, final_name).await? {
        let kept = replaced_name(final_name);
        drop_database(dst, admin, &kept).await?;
        rename_database(dst, admin, final_name, &kept).await?;
        tracing::info!(database = %final_name, kept = %kept, "existing database kept aside");
    }
    rename_database(dst, admin, staging, final_name).await
}

/// How many times a rename is tried while sessions keep (re)connecting to the database.
const RENAME_ATTEMPTS: u32 = 5;

/// `ALTER DATABASE from RENAME TO to`, ending `from`'s sessions first (a database in
/// use cannot be renamed). A taken name is [`DbError::AlreadyExists`].
async fn rename_database(
    endpoint: &Endpoint,
    admin: &Client,
    from: &str,
    to: &str,
) -> Result<(), DbError> {
    let sql = format!("ALTER DATABASE {} RENAME TO {}", ident(from), ident(to));
    let mut attempt = 1;
    loop {
        terminate_sessions(endpoint, admin, from, false).await?;
        match admin.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => {
                return Err(DbError::AlreadyExists {
                    name: to.to_owned(),
                });
            }
            // A client reconnected between the termination and the rename: again.
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempt < RENAME_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => {
                return Err(query_error(
                    endpoint,
                    &format!("renaming {from} to {to}"),
                    &e,
                ));
            }
        }
    }
}

/// How long ended sessions are waited for, so that none still commits afterwards.
pub(super) const TERMINATION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends the sessions on `database` other than this one (only client backends if
/// `clients_only`: replication senders and workers are left alone) and waits until
/// they are gone: a session being ended may still be committing.
pub(super) async fn terminate_sessions(
    endpoint: &Endpoint,
    admin: &Client,
    database: &str,
    clients_only: bool,
) -> Result<(), DbError> {
    let rows = admin
        .query(
            // `OFFSET 0` keeps the filter apart: the planner may not reorder it after
            // the termination.
            "SELECT pid FROM (SELECT pid FROM pg_stat_activity
                               WHERE datname = $1 AND pid <> pg_backend_pid()
                                 AND (NOT $2 OR backend_type = 'client backend')
                              OFFSET 0) v
              WHERE pg_terminate_backend(pid)",
            &[&database, &clients_only],
        )
        .await
        .map_err(|e| query_error(endpoint, &format!("ending the sessions on {database}"), &e))?;
    let pids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    wait_until_ended(admin, endpoint, &pids).await?;
    Ok(())
}

/// Waits until the backends `pids` are gone (at most [`TERMINATION_WAIT`]): a session
/// being ended may still be committing.
pub(super) async fn wait_until_ended(
    admin: &Client,
    endpoint: &Endpoint,
    pids: &[i32],
) -> Result<(), DbError> {
    let deadline = Instant::now() + TERMINATION_WAIT;
    while !pids.is_empty() && Instant::now() < deadline {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .await
            .map_err(|e| query_error(endpoint, "waiting for ended sessions", &e))?
            .get(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `ALTER DATABASE … RESET default_transaction_read_only`, an unknown database being
/// [`DbError::NotFound`].
async fn reset_read_only(
    endpoint: &Endpoint,
    admin: &Client,
    database: &str,
) -> Result<(), DbError> {
    alter_database(
        endpoint,
        admin,
        database,
        "RESET default_transaction_read_only",
    )
    .await
}

async fn alter_database(
    endpoint: &Endpoint,
    admin: &Client,
    database: &str,
    change: &str,
) -> Result<(), DbError> {
    admin
        .batch_execute(&format!("ALTER DATABASE {} {change}", ident(database)))
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::UNDEFINED_DATABASE) {
                DbError::NotFound {
                    name: database.to_owned(),
                }
            } else {
                query_error(endpoint, &format!("altering {database}"), &e)
            }
        })
}
