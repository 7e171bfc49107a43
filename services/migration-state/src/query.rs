//! Reading the read model: the rows and documents the routes serve, from the live
//! schema `proj_migration_state`. Queue positions are computed here, with
//! `row_number()` over the sequence of the event that queued each migration.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ferry_events::AggregateType;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::QueryError;
use crate::view::{
    MigrationStatus, MigrationView, OptionalMigrationView, ServerView, TargetInfrastructureView,
    TransitServerView,
};

/// A server as listed: its key columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRow {
    /// The server.
    pub server_id: String,
    /// Its host name.
    pub name: String,
    /// The owning customer.
    pub customer_id: String,
    /// Its configuration.
    pub configuration: String,
    /// The infrastructure version it runs.
    pub infrastructure_version: String,
    /// Its current migration.
    pub migration_id: Option<Uuid>,
    /// That migration's state.
    pub state: Option<MigrationStatus>,
    /// That migration's step.
    pub step: Option<u8>,
}

/// A migration waiting in a queue, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    /// The configuration (the queue).
    pub configuration: String,
    /// Its place, 1 being the next served.
    pub position: u32,
    /// The waiting migration.
    pub migration_id: Uuid,
    /// Its client server.
    pub client_server_id: String,
    /// When it asked for a transit server.
    pub requested_at: DateTime<Utc>,
    /// The stream sequence of its queuing.
    pub queued_sequence: u64,
}

fn parse<T: DeserializeOwned>(
    what: &'static str,
    value: serde_json::Value,
) -> Result<T, QueryError> {
    serde_json::from_value(value).map_err(|e| QueryError::Document {
        what,
        reason: e.to_string(),
    })
}

fn status(name: Option<String>) -> Result<Option<MigrationStatus>, QueryError> {
    name.map(|n| parse("migration state", serde_json::Value::String(n)))
        .transpose()
}

/// Servers, all or one customer's, optionally only those whose migration is at `step`.
pub async fn servers(
    pool: &Pool,
    customer: Option<&str>,
    servers: Option<&[String]>,
    step: Option<u8>,
) -> Result<Vec<ServerRow>, QueryError> {
    let client = pool.get().await?;
    let step = step.map(i16::from);
    let rows = client
        .query(
            "SELECT server_id, name, customer_id, configuration, infrastructure_version, migration_id, state, step
             FROM proj_migration_state.servers
             WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::int2 IS NULL OR step = $2)
               AND ($3::text[] IS NULL OR server_id = ANY($3))
             ORDER BY server_id",
            &[&customer, &step, &servers],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(ServerRow {
                server_id: row.get(0),
                name: row.get(1),
                customer_id: row.get(2),
                configuration: row.get(3),
                infrastructure_version: row.get(4),
                migration_id: row.get(5),
                state: status(row.get(6))?,
                step: row
                    .get::<_, Option<i16>>(7)
                    .and_then(|s| u8::try_from(s).ok()),
            })
        })
        .collect()
}

/// One document, by key.
async fn doc<T: DeserializeOwned>(
    pool: &Pool,
    what: &'static str,
    sql: &str,
    key: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Option<T>, QueryError> {
    let client = pool.get().await?;
    client
        .query_opt(sql, &[key])
        .await?
        .map(|row| parse(what, row.get(0)))
        .transpose()
}

/// Documents of a query.
async fn docs<T: DeserializeOwned>(
    pool: &Pool,
    what: &'static str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<T>, QueryError> {
    let client = pool.get().await?;
    client
        .query(sql, params)
        .await?
        .into_iter()
        .map(|row| parse(what, row.get(0)))
        .collect()
}

/// The server `server_id`.
pub async fn server(pool: &Pool, server_id: &str) -> Result<Option<ServerView>, QueryError> {
    doc(
        pool,
        "server",
        "SELECT doc FROM proj_migration_state.servers WHERE server_id = $1",
        &server_id,
    )
    .await
}

/// The migration `migration_id`.
pub async fn migration(
    pool: &Pool,
    migration_id: Uuid,
) -> Result<Option<MigrationView>, QueryError> {
    doc(
        pool,
        "migration",
        "SELECT doc FROM proj_migration_state.migrations WHERE migration_id = $1",
        &migration_id,
    )
    .await
}

/// Every required migration of `server_id`, oldest first.
pub async fn migrations_of(pool: &Pool, server_id: &str) -> Result<Vec<MigrationView>, QueryError> {
    docs(
        pool,
        "migration",
        "SELECT doc FROM proj_migration_state.migrations WHERE server_id = $1 ORDER BY opened_sequence",
        &[&server_id],
    )
    .await
}

/// The migrations not completed nor cancelled with a failed transfer, oldest
/// first (what [`crate::failed::needing_a_person`] looks through).
pub async fn migrations_with_failed_transfers(
    pool: &Pool,
) -> Result<Vec<MigrationView>, QueryError> {
    docs(
        pool,
        "migration",
        "SELECT doc FROM proj_migration_state.migrations
         WHERE state NOT IN ('completed', 'cancelled')
           AND doc->'transfers' @> '[{\"status\": \"failed\"}]'::jsonb
         ORDER BY opened_sequence",
        &[],
    )
    .await
}

/// Every transit server, by id.
pub async fn transit_servers(pool: &Pool) -> Result<Vec<TransitServerView>, QueryError> {
    docs(
        pool,
        "transit server",
        "SELECT doc FROM proj_migration_state.transit_servers ORDER BY transit_server_id",
        &[],
    )
    .await
}

/// Every target infrastructure, by version.
pub async fn targets(pool: &Pool) -> Result<Vec<TargetInfrastructureView>, QueryError> {
    docs(
        pool,
        "target infrastructure",
        "SELECT doc FROM proj_migration_state.target_infrastructures ORDER BY version",
        &[],
    )
    .await
}

/// Optional migrations, of one server and/or one customer, oldest first.
pub async fn optional_migrations(
    pool: &Pool,
    server_id: Option<&str>,
    customer: Option<&str>,
    servers: Option<&[String]>,
) -> Result<Vec<OptionalMigrationView>, QueryError> {
    docs(
        pool,
        "optional migration",
        "SELECT doc FROM proj_migration_state.optional_migrations
         WHERE ($1::text IS NULL OR server_id = $1) AND ($2::text IS NULL OR customer_id = $2)
           AND ($3::text[] IS NULL OR server_id = ANY($3))
         ORDER BY scheduled_sequence, optional_migration_id",
        &[&server_id, &customer, &servers],
    )
    .await
}

/// The migrations waiting in line, with their positions; only `configuration`'s when
/// given.
pub async fn queue(pool: &Pool, configuration: Option<&str>) -> Result<Vec<QueueRow>, QueryError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT configuration, row_number() OVER (PARTITION BY configuration ORDER BY queued_seq),
                    migration_id, client_server_id, requested_at, queued_seq
             FROM proj_migration_state.queue_entries
             WHERE $1::text IS NULL OR configuration = $1
             ORDER BY configuration, queued_seq",
            &[&configuration],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| QueueRow {
            configuration: row.get(0),
            position: u32::try_from(row.get::<_, i64>(1)).unwrap_or(u32::MAX),
            migration_id: row.get(2),
            client_server_id: row.get(3),
            requested_at: row.get(4),
            queued_sequence: u64::try_from(row.get::<_, i64>(5)).unwrap_or(0),
        })
        .collect())
}

/// The aggregates that took part in these correlations, from the log index read model
/// (`proj_log_index.correlations`); `None` when this database has no log index.
pub async fn correlated_aggregates(
    pool: &Pool,
    correlations: &[Uuid],
) -> Result<Option<Vec<(AggregateType, String)>>, QueryError> {
    let client = pool.get().await?;
    let indexed: bool = client
        .query_one(
            "SELECT to_regclass('proj_log_index.correlations') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !indexed {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT DISTINCT aggregate_type, aggregate_id FROM proj_log_index.correlations
             WHERE correlation_id = ANY($1) ORDER BY 1, 2",
            &[&correlations],
        )
        .await?;
    Ok(Some(
        rows.into_iter()
            .filter_map(|row| {
                let kind: String = row.get(0);
                AggregateType::parse(&kind).map(|kind| (kind, row.get(1)))
            })
            .collect(),
    ))
}
