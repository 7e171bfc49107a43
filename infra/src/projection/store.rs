//! A projection's schema in PostgreSQL: creating it, its checkpoint, its recorded
//! failures, and the lock that serialises writers of one projection.

use super::{Projection, ProjectionError};
use tokio_postgres::GenericClient;

/// Tables of the runner itself, present in every projection schema and left out of
/// comparisons.
pub(super) const RUNNER_TABLE_PREFIX: &str = "_ferry_";

const RUNNER_TABLES: &str = "
CREATE TABLE _ferry_checkpoint (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sequence bigint NOT NULL,
    definition_md5 text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE _ferry_failures (
    sequence bigint PRIMARY KEY,
    event_type text,
    error text NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now()
);";

/// Checks that a projection name makes a safe schema name.
pub(super) fn validate_name(name: &str) -> Result<(), ProjectionError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ProjectionError::InvalidName(name.to_owned()))
    }
}

/// Key of the transaction lock taken by every write to a projection's live schema (batches
/// and the rebuild's swap), so a swap never interleaves with a batch.
pub(super) fn write_lock_key(name: &str) -> String {
    format!("ferry.projection.write.{name}")
}

/// Key of the session lock held by the single active runner of a projection.
pub(super) fn leader_lock_key(name: &str) -> String {
    format!("ferry.projection.leader.{name}")
}

/// Creates `schema` afresh (dropping any previous one) with the projection's tables and a
/// checkpoint at 0.
pub(super) async fn create_schema<P: Projection>(
    client: &mut deadpool_postgres::Object,
    schema: &str,
    projection: &P,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}, public;"
    ))
    .await?;
    tx.batch_execute(projection.schema()).await?;
    tx.batch_execute(RUNNER_TABLES).await?;
    tx.execute(
        "INSERT INTO _ferry_checkpoint (sequence, definition_md5) VALUES (0, md5($1))",
        &[&projection.schema()],
    )
    .await?;
    tx.commit().await
}

/// What a schema holds: its checkpoint and whether it was built from the current definition.
pub(super) struct SchemaState {
    pub checkpoint: u64,
    pub current_definition: bool,
}

/// The state of `schema`, or None if it does not exist.
pub(super) async fn schema_state(
    client: &impl GenericClient,
    schema: &str,
    definition: &str,
) -> Result<Option<SchemaState>, tokio_postgres::Error> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = '_ferry_checkpoint'",
            &[&schema],
        )
        .await?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one(
            &format!("SELECT sequence, definition_md5 = md5($1) FROM {schema}._ferry_checkpoint"),
            &[&definition],
        )
        .await?;
    Ok(Some(SchemaState {
        checkpoint: to_sequence(row.get(0)),
        current_definition: row.get(1),
    }))
}

/// How a write's commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    /// Acknowledged once on disk.
    Synchronous,
    /// Acknowledged at once, on disk within a fraction of a second: a crash loses the
    /// last transactions whole, checkpoint included, which the runner then applies
    /// again from the log. For tables rebuilt from the log, never for facts of their own.
    Asynchronous,
}

/// Starts a write to a projection schema inside `tx`: takes the write lock, points
/// `search_path` at the schema and returns (and row-locks) the checkpoint. One round
/// trip (the schema and lock key are made of validated names): a live projection
/// writes a batch every few milliseconds, and each round trip adds to every event's
/// latency.
pub(super) async fn begin_write(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    lock_key: &str,
    commit: Commit,
) -> Result<u64, tokio_postgres::Error> {
    let synchronous = match commit {
        Commit::Synchronous => "on",
        Commit::Asynchronous => "off",
    };
    let messages = tx
        .simple_query(&format!(
            "SET LOCAL synchronous_commit = {synchronous};
             SELECT pg_advisory_xact_lock(hashtext('{lock_key}'));
             SET LOCAL search_path TO {schema}, public;
             SELECT sequence FROM _ferry_checkpoint FOR UPDATE"
        ))
        .await?;
    let sequence = messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .next_back()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(to_sequence(sequence))
}

/// Moves the checkpoint of the schema `tx` writes to.
pub(super) async fn set_checkpoint(
    tx: &tokio_postgres::Transaction<'_>,
    sequence: u64,
) -> Result<(), tokio_postgres::Error> {
    let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
    tx.batch_execute(&format!(
        "UPDATE _ferry_checkpoint SET sequence = {sequence}, updated_at = now()"
    ))
    .await?;
    Ok(())
}

/// Records that the event at `sequence` could not be applied.
pub(super) async fn record_failure(
    client: &impl GenericClient,
    schema: &str,
    sequence: u64,
    event_type: Option<&str>,
    error: &str,
) -> Result<(), tokio_postgres::Error> {
    let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
    client
        .execute(
            &format!(
                "INSERT INTO {schema}._ferry_failures (sequence, event_type, error) VALUES ($1, $2, $3)
                 ON CONFLICT (sequence) DO UPDATE SET error = EXCLUDED.error, attempts = {schema}._ferry_failures.attempts + 1,
                 last_failed_at = now()"
            ),
            &[&sequence, &event_type, &error],
        )
        .await?;
    Ok(())
}

/// The tables a projection owns in `schema` (the runner's own left out), sorted.
pub(super) async fn projection_tables(
    client: &impl GenericClient,
    schema: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND left(table_name, 7) <> $2 ORDER BY 1",
            &[&schema, &RUNNER_TABLE_PREFIX],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn to_sequence(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Switches every projection table of `schema` between unlogged and logged. A rebuild
/// writes unlogged (no WAL: a crash restarts the rebuild anyway) and turns logged before
/// it becomes live. A table that cannot switch (say, one referenced by a foreign key)
/// simply stays as it is.
pub(super) async fn set_logged(
    client: &impl GenericClient,
    schema: &str,
    logged: bool,
) -> Result<(), tokio_postgres::Error> {
    let mode = if logged { "LOGGED" } else { "UNLOGGED" };
    for table in projection_tables(client, schema).await? {
        if let Err(e) = client
            .batch_execute(&format!("ALTER TABLE {schema}.{table} SET {mode}"))
            .await
        {
            tracing::debug!(schema, table, error = %e, "table keeps its logging mode");
        }
    }
    Ok(())
}
