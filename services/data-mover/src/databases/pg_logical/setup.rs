//! Start: the staging database, its schema, the publication, the slot and the
//! subscription; a healthy earlier replication reused, a broken one rebuilt.

use std::time::Instant;

use tokio_postgres::config::SslMode;
use tokio_util::sync::CancellationToken;

use super::health::{Health, health};
use super::names::Names;
use super::session::{Session, with_session};
use super::teardown::tear_down;
use super::{Eligibility, LogicalCopy, eligibility};
use crate::databases::endpoint::Endpoint;
use crate::databases::postgres::{self, ident, literal};
use crate::databases::{CopyPhase, CopySpec, DbError, process};

/// Starts (or finds again) the logical replication of `spec.database` into the
/// staging database at the destination, and returns once it is set up: the initial
/// copy then runs in the destination server ([`LogicalCopy::wait_synced`]).
///
/// Refuses a database that is not eligible ([`DbError::NotEligible`], removing any
/// replication left for it) and an existing final name unless
/// [`CopySpec::replace_existing`] ([`DbError::AlreadyExists`]). A healthy replication
/// for this copy is reused; a broken one is removed and set up again. If the set-up
/// fails (or is cancelled: [`DbError::Interrupted`]) what it created is removed.
pub async fn start(spec: &CopySpec, cancel: &CancellationToken) -> Result<LogicalCopy, DbError> {
    let started = Instant::now();
    let names = Names::of(spec)?;
    spec.phase(CopyPhase::Preparing);
    refuse_existing(spec).await?;
    if let Eligibility::NotEligible(reason) = eligibility(spec).await? {
        tear_down(spec, &names).await?;
        return Err(DbError::NotEligible {
            name: spec.database.clone(),
            reason,
        });
    }
    match health(spec, &names).await? {
        Health::Healthy => {
            tracing::info!(database = %spec.database, replication = %names.object,
                "logical replication found running, reused");
        }
        Health::Absent => set_up_or_undo(spec, &names, cancel).await?,
        Health::Broken(why) => {
            tracing::warn!(database = %spec.database, replication = %names.object, %why,
                "logical replication broken, set up again");
            tear_down(spec, &names).await?;
            set_up_or_undo(spec, &names, cancel).await?;
        }
    }
    Ok(LogicalCopy {
        spec: spec.clone(),
        names,
        started,
        live: None,
    })
}

async fn refuse_existing(spec: &CopySpec) -> Result<(), DbError> {
    if spec.replace_existing {
        return Ok(());
    }
    let admin = Session::open(&spec.destination_url, None).await?;
    let exists =
        postgres::database_exists(&admin.endpoint, &admin.client, &spec.destination_name).await;
    admin.close().await;
    if exists? {
        return Err(DbError::AlreadyExists {
            name: spec.destination_name.clone(),
        });
    }
    Ok(())
}

/// The `CONNECTION` of the subscription: the source URL's host, port, login and SSL
/// mode, and the source database (libpq's `key='value'` form).
pub(super) fn conninfo(source_url: &str, database: &str) -> Result<String, DbError> {
    let (endpoint, config) = Endpoint::postgres(source_url)?;
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = vec![
        format!("host={}", quote(&endpoint.host)),
        format!("port={}", endpoint.port),
        format!("dbname={}", quote(database)),
    ];
    if let Some(user) = &endpoint.user {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(password) = &endpoint.password {
        parts.push(format!("password={}", quote(password)));
    }
    let sslmode = match config.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Require => "require",
        _ => "prefer",
    };
    parts.push(format!("sslmode={sslmode}"));
    Ok(parts.join(" "))
}

/// Sets the replication up; on failure removes what was created (best effort: the
/// next [`start`] or [`abort`](super::abort) finds the rest).
async fn set_up_or_undo(
    spec: &CopySpec,
    names: &Names,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let result = set_up(spec, names, cancel).await;
    if result.is_err()
        && let Err(e) = tear_down(spec, names).await
    {
        tracing::warn!(error = %e, "could not remove a failed logical replication set-up");
    }
    result
}

async fn set_up(spec: &CopySpec, names: &Names, cancel: &CancellationToken) -> Result<(), DbError> {
    create_staging(spec, names).await?;
    spec.phase(CopyPhase::Restoring);
    restore_schema(spec, names, cancel).await?;
    let tables = with_session(
        Session::open(&spec.destination_url, Some(&names.staging)).await?,
        async |s| s.relations("r").await,
    )
    .await?;
    with_session(Session::source(spec).await?, async |s| {
        publish(s, &names.object, &tables, cancel).await
    })
    .await?;
    let sql = create_subscription_sql(spec, names)?;
    with_session(
        Session::open(&spec.destination_url, Some(&names.staging)).await?,
        async |s| {
            s.execute_cancellable("creating the subscription", &sql, cancel)
                .await
        },
    )
    .await?;
    tracing::info!(database = %spec.database, replication = %names.object,
        tables = tables.len(), "logical replication set up");
    Ok(())
}

/// The staging database, created like the source (encoding, locale).
async fn create_staging(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
    let (source, source_config) = Endpoint::postgres(&spec.source_url)?;
    let options = postgres::source_options(&source, &source_config, &spec.database).await?;
    with_session(
        Session::open(&spec.destination_url, None).await?,
        async |admin| {
            postgres::drop_database(&admin.endpoint, &admin.client, &names.staging).await?;
            admin
                .execute(
                    &format!("creating {}", names.staging),
                    &format!("CREATE DATABASE {} {options}", ident(&names.staging)),
                )
                .await
        },
    )
    .await
}

/// `pg_dump --schema-only | pg_restore --no-owner` into the staging database.
async fn restore_schema(
    spec: &CopySpec,
    names: &Names,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let (source, _) = Endpoint::postgres(&spec.source_url)?;
    let (destination, _) = Endpoint::postgres(&spec.destination_url)?;
    let mut dump = process::command("pg_dump");
    dump.args(["-Fc", "--schema-only"]);
    source.postgres_args(&mut dump);
    dump.arg("-d").arg(&spec.database);
    let mut restore = process::command("pg_restore");
    restore.args(["--no-owner", "--exit-on-error"]);
    destination.postgres_args(&mut restore);
    restore.arg("-d").arg(&names.staging);
    process::pipe(("pg_dump", dump), ("pg_restore", restore), cancel).await?;
    Ok(())
}

/// The publication of `tables` and the slot, at the source. The publication comes
/// first: the slot's decoding looks it up as of each change.
async fn publish(
    source: &Session,
    object: &str,
    tables: &[(String, String)],
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let list: Vec<String> = tables
        .iter()
        .map(|(s, t)| format!("{}.{}", ident(s), ident(t)))
        .collect();
    let target = if list.is_empty() {
        String::new()
    } else {
        format!(" FOR TABLE {}", list.join(", "))
    };
    source
        .execute(
            "creating the publication",
            &format!("CREATE PUBLICATION {}{target}", ident(object)),
        )
        .await?;
    source
        .execute_cancellable(
            "creating the replication slot",
            &format!(
                "SELECT pg_create_logical_replication_slot({}, 'pgoutput')",
                literal(object)
            ),
            cancel,
        )
        .await
}

/// The subscription commits what it applies synchronously (not `off`, its
/// default): the position it confirms to the source is then what it applied, at
/// once, rather than once the destination's WAL writer flushed it (up to 200 ms)
/// and the idle apply worker woke up to say so (up to a second): the frozen drain
/// waits for that confirmation, and all of it is downtime.
fn create_subscription_sql(spec: &CopySpec, names: &Names) -> Result<String, DbError> {
    let object = ident(&names.object);
    Ok(format!(
        "CREATE SUBSCRIPTION {object} CONNECTION {} PUBLICATION {object}
           WITH (create_slot = false, slot_name = {}, copy_data = true, enabled = true,
                 synchronous_commit = on)",
        literal(&conninfo(&spec.source_url, &spec.database)?),
        literal(&names.object)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_string_quotes_its_values() -> Result<(), DbError> {
        let info = conninfo("postgres://ferry:it%27s@db-7:5433/postgres", "shop")?;
        assert_eq!(
            info,
            "host='db-7' port=5433 dbname='shop' user='ferry' password='it\\'s' sslmode=prefer"
        );
        Ok(())
    }
}
