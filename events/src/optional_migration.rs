//! Events of an optional migration: one service of a server (e.g. its database
//! server) upgraded in place, with no preparation and no test phase (aggregate
//! `optional_migration`, written by the accounts service). Aggregate id: the optional
//! migration uuid, hyphenated lowercase.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A service of a server that can be migrated on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ServiceKind {
    /// The PostgreSQL database server.
    Postgresql,
    /// The MySQL/MariaDB database server.
    Mysql,
    /// The Redis server.
    Redis,
    /// The Memcached server.
    Memcached,
    /// The Elasticsearch server.
    Elasticsearch,
    /// The RabbitMQ server.
    #[serde(rename = "rabbitmq")]
    RabbitMq,
}

/// An optional migration of one service of a server was offered and scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalMigrationScheduled {
    /// The optional migration id (the aggregate id).
    pub optional_migration_id: Uuid,
    /// The server whose service is migrated.
    pub server_id: String,
    /// The customer owning it.
    pub customer_id: String,
    /// The service migrated.
    pub service: ServiceKind,
    /// The version it runs now, e.g. `"13"`.
    pub from_version: String,
    /// The version it will run, e.g. `"16"`.
    pub to_version: String,
    /// When it is to be applied; `None` for as soon as possible.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// The migration is being applied directly on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalMigrationStarted {
    /// The transfer moving the service's data to the new version.
    pub transfer_id: Uuid,
}

/// The service runs the new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalMigrationApplied {
    /// Measured unavailability of the service, in milliseconds.
    pub downtime_ms: u64,
}

/// Applying the migration failed; the service still runs the old version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalMigrationFailed {
    /// Why, for the customer and support.
    pub reason: String,
}

/// The optional migration was called off before being applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionalMigrationCancelled {
    /// Why, for the customer and support.
    pub reason: String,
}

aggregate_events! {
    /// An event of an optional migration (aggregate `optional_migration`).
    pub enum OptionalMigrationEvent for OptionalMigration {
        OptionalMigrationScheduled = 1,
        OptionalMigrationStarted = 1,
        OptionalMigrationApplied = 1,
        OptionalMigrationFailed = 1,
        OptionalMigrationCancelled = 1,
    }
}
