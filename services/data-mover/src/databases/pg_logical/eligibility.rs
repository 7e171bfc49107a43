//! Eligibility: whether a database can be copied by logical replication, in words if not.

use super::Eligibility;
use super::names::Names;
use super::session::{Session, with_session};
use crate::databases::postgres;
use crate::databases::{CopySpec, DbError};

/// Free replication slots (and senders) a new replication needs at the source: its
/// own, and one for the initial copy of a table at a time.
const NEEDED_SLOTS: i32 = 2;

/// Whether `spec` can be copied by logical replication: server 10 or later at both
/// ends, `wal_level = logical` and free replication slots and senders at the source,
/// a replication-capable login at the source and a superuser at the destination,
/// every table logged and identifiable (primary key, or `REPLICA IDENTITY FULL` or
/// `USING INDEX`), no large objects (not replicated). Only reads.
pub async fn eligibility(spec: &CopySpec) -> Result<Eligibility, DbError> {
    let names = Names::of(spec)?;
    ensure_source_exists(spec).await?;
    let mut problems = with_session(Session::source(spec).await?, async |s| {
        source_problems(s, &names.object).await
    })
    .await?;
    problems.extend(
        with_session(
            Session::open(&spec.destination_url, None).await?,
            async |s| destination_problems(s).await,
        )
        .await?,
    );
    Ok(if problems.is_empty() {
        Eligibility::Eligible
    } else {
        Eligibility::NotEligible(problems.join("; "))
    })
}

async fn ensure_source_exists(spec: &CopySpec) -> Result<(), DbError> {
    let admin = Session::open(&spec.source_url, None).await?;
    let exists = postgres::database_exists(&admin.endpoint, &admin.client, &spec.database).await;
    admin.close().await;
    if exists? {
        Ok(())
    } else {
        Err(DbError::NotFound {
            name: spec.database.clone(),
        })
    }
}

/// What prevents replicating from this source database, in words.
async fn source_problems(source: &Session, slot: &str) -> Result<Vec<String>, DbError> {
    let row = source
        .row(
            "checking the source for replication",
            "SELECT current_setting('server_version_num')::int,
                    current_setting('wal_level'),
                    EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1),
                    current_setting('max_replication_slots')::int
                      - (SELECT count(*) FROM pg_replication_slots)::int,
                    current_setting('max_wal_senders')::int
                      - (SELECT count(*) FROM pg_stat_replication)::int,
                    (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user),
                    EXISTS (SELECT 1 FROM pg_largeobject_metadata)",
            &[&slot],
        )
        .await?;
    let mut problems = Vec::new();
    let version: i32 = row.get(0);
    if version < 100_000 {
        problems.push(format!(
            "the source runs PostgreSQL {version}, logical replication needs 10 or later"
        ));
        return Ok(problems);
    }
    let wal_level: String = row.get(1);
    if wal_level != "logical" {
        problems.push(format!(
            "the source has wal_level = {wal_level}, logical replication needs logical"
        ));
    }
    let (ours, free_slots, free_senders): (bool, i32, i32) = (row.get(2), row.get(3), row.get(4));
    if !ours && free_slots < NEEDED_SLOTS {
        problems.push(format!(
            "the source has {free_slots} free replication slot(s) (max_replication_slots), \
             {NEEDED_SLOTS} are needed"
        ));
    }
    if !ours && free_senders < NEEDED_SLOTS {
        problems.push(format!(
            "the source has {free_senders} free WAL sender(s) (max_wal_senders), \
             {NEEDED_SLOTS} are needed"
        ));
    }
    if !row.get::<_, Option<bool>>(5).unwrap_or(false) {
        problems
            .push("the source login may not replicate (neither superuser nor REPLICATION)".into());
    }
    if row.get::<_, bool>(6) {
        problems.push("the database has large objects, which are not replicated".into());
    }
    problems.extend(table_problems(source).await?);
    Ok(problems)
}

/// Tables that logical replication cannot carry: unlogged ones (never published) and
/// ones without a replica identity (their UPDATEs and DELETEs would fail at the
/// source once published).
async fn table_problems(source: &Session) -> Result<Vec<String>, DbError> {
    let rows = source
        .rows(
            "checking the tables' replica identities",
            "SELECT n.nspname || '.' || c.relname,
                    c.relpersistence = 'u',
                    CASE c.relreplident
                      WHEN 'f' THEN true
                      WHEN 'n' THEN false
                      WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i
                                             WHERE i.indrelid = c.oid AND i.indisreplident)
                      ELSE EXISTS (SELECT 1 FROM pg_index i
                                    WHERE i.indrelid = c.oid AND i.indisprimary)
                    END
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND c.relpersistence <> 't'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
              ORDER BY 1",
            &[],
        )
        .await?;
    let mut problems = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        if row.get::<_, bool>(1) {
            problems.push(format!("table {table} is unlogged, hence not replicated"));
        } else if !row.get::<_, bool>(2) {
            problems.push(format!(
                "table {table} has no primary key nor replica identity (its UPDATEs and \
                 DELETEs would fail at the source once published)"
            ));
        }
    }
    Ok(problems)
}

/// What prevents subscribing at this destination server, in words.
async fn destination_problems(destination: &Session) -> Result<Vec<String>, DbError> {
    let row = destination
        .row(
            "checking the destination for replication",
            "SELECT current_setting('server_version_num')::int,
                    coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
                    OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'pg_create_subscription'
                                                         AND pg_has_role(r.oid, 'member')),
                    coalesce(current_setting('max_logical_replication_workers', true), '0')::int",
            &[],
        )
        .await?;
    let version: i32 = row.get(0);
    if version < 100_000 {
        return Ok(vec![format!(
            "the destination runs PostgreSQL {version}, logical replication needs 10 or later"
        )]);
    }
    let mut problems = Vec::new();
    if !row.get::<_, bool>(1) {
        problems.push("the destination login may not create subscriptions".to_owned());
    }
    if row.get::<_, i32>(2) < 1 {
        problems.push("the destination has max_logical_replication_workers = 0".to_owned());
    }
    Ok(problems)
}
