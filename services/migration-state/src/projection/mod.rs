//! The `migration_state` projection: the read model of every server, migration,
//! transit server, queue, target infrastructure and optional migration, in the
//! PostgreSQL schema `proj_migration_state`.
//!
//! Each table keeps the keys that queries filter on as columns and the whole view as
//! a `jsonb` document. A batch loads the rows its events touch ([`Needs`]), folds the
//! events in log order through a [`ReadModel`] and upserts what changed; the queue's
//! waiting entries are rows of their own, ordered by the sequence of the event that
//! queued them (positions are computed when queried). Nothing depends on anything
//! but the events, so a rebuild equals the live tables.
//!
//! [`Needs`]: crate::view::Needs

mod load;
mod write;

use ferry_events::AggregateType;
use ferry_infra::event_log::Recorded;
use ferry_infra::projection::{ApplyError, Projection};

use crate::view::ReadModel;

/// The name of the projection; its live schema is `proj_migration_state`.
pub const NAME: &str = "migration_state";

/// The live schema holding the tables, for queries.
pub const SCHEMA_NAME: &str = "proj_migration_state";

/// The aggregate types whose events the read model consumes.
pub const AGGREGATE_TYPES: &[AggregateType] = &[
    AggregateType::Server,
    AggregateType::TargetInfrastructure,
    AggregateType::Migration,
    AggregateType::OptionalMigration,
    AggregateType::TransitServer,
    AggregateType::TransitQueue,
    AggregateType::Transfer,
    AggregateType::DnsZone,
    AggregateType::AccountTraffic,
    AggregateType::IpRoute,
    AggregateType::Loan,
];

// The definition (this text) changing rebuilds the projection from the log: the
// comment names what the views fold, so that folding more rebuilds them too.
const SCHEMA: &str = "
-- views fold server, target_infrastructure, migration, optional_migration,
-- transit_server, transit_queue, transfer, dns_zone, account_traffic, ip_route events
-- (database URLs kept with their passwords masked)
CREATE TABLE servers (
    server_id text PRIMARY KEY,
    customer_id text NOT NULL,
    name text NOT NULL,
    configuration text NOT NULL,
    infrastructure_version text NOT NULL,
    migration_id uuid,
    state text,
    step smallint,
    doc jsonb NOT NULL
);
CREATE INDEX servers_by_customer ON servers (customer_id, server_id);
CREATE TABLE migrations (
    migration_id uuid PRIMARY KEY,
    server_id text NOT NULL,
    customer_id text NOT NULL,
    state text NOT NULL,
    step smallint,
    opened_sequence bigint NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX migrations_by_server ON migrations (server_id, opened_sequence);
CREATE TABLE transfers (
    transfer_id uuid PRIMARY KEY,
    migration_id uuid NOT NULL,
    kind text NOT NULL
);
CREATE TABLE transit_servers (
    transit_server_id text PRIMARY KEY,
    configuration text NOT NULL,
    state text NOT NULL,
    migration_id uuid,
    since timestamptz NOT NULL,
    doc jsonb NOT NULL
);
CREATE TABLE queue_entries (
    configuration text NOT NULL,
    migration_id uuid NOT NULL,
    queued_seq bigint NOT NULL,
    client_server_id text NOT NULL,
    requested_at timestamptz NOT NULL,
    PRIMARY KEY (configuration, migration_id)
);
CREATE INDEX queue_entries_in_order ON queue_entries (configuration, queued_seq);
CREATE TABLE target_infrastructures (
    version text PRIMARY KEY,
    doc jsonb NOT NULL
);
CREATE TABLE optional_migrations (
    optional_migration_id uuid PRIMARY KEY,
    server_id text NOT NULL,
    customer_id text NOT NULL,
    state text NOT NULL,
    scheduled_sequence bigint NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX optional_migrations_by_server ON optional_migrations (server_id, scheduled_sequence);
";

/// The read side's projection (`migration_state`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrationState;

impl Projection for MigrationState {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        AGGREGATE_TYPES
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        let mut model: ReadModel = load::rows_for(tx, events).await?;
        for event in events {
            model.apply(event.sequence, &event.envelope);
        }
        write::changes(tx, &model).await
    }
}
