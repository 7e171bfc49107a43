//! Writing back what a batch changed: one `UNNEST` upsert per table, whatever the
//! number of rows, and the queue entries that left the queue deleted.

use ferry_infra::projection::ApplyError;
use serde::Serialize;
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::view::ReadModel;

/// Upserts every changed row of `model`.
pub(super) async fn changes(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    servers(tx, model).await?;
    migrations(tx, model).await?;
    transfers(tx, model).await?;
    transit_servers(tx, model).await?;
    queue(tx, model).await?;
    targets(tx, model).await?;
    optional_migrations(tx, model).await
}

fn doc<T: Serialize>(value: &T) -> Result<serde_json::Value, ApplyError> {
    serde_json::to_value(value)
        .map_err(|e| ApplyError::Invalid(format!("cannot store a view: {e}")))
}

fn sequence(value: u64) -> Result<i64, ApplyError> {
    i64::try_from(value).map_err(|_| ApplyError::Invalid(format!("sequence {value} past i64")))
}

async fn servers(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let changed: Vec<_> = model
        .changed
        .servers
        .iter()
        .filter_map(|id| model.servers.get(id))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut customers = Vec::new();
    let mut names = Vec::new();
    let mut configurations = Vec::new();
    let mut versions = Vec::new();
    let mut migration_ids: Vec<Option<Uuid>> = Vec::new();
    let mut states: Vec<Option<&str>> = Vec::new();
    let mut steps: Vec<Option<i16>> = Vec::new();
    let mut docs = Vec::new();
    for server in changed {
        ids.push(server.server_id.as_str());
        customers.push(server.customer_id.as_str());
        names.push(server.name.as_str());
        configurations.push(server.configuration.as_str());
        versions.push(server.infrastructure_version.as_str());
        migration_ids.push(server.migration.as_ref().map(|m| m.migration_id));
        states.push(server.migration.as_ref().map(|m| m.state.as_str()));
        steps.push(
            server
                .migration
                .as_ref()
                .and_then(|m| m.step)
                .map(i16::from),
        );
        docs.push(doc(server)?);
    }
    tx.execute(
        "INSERT INTO servers (server_id, customer_id, name, configuration, infrastructure_version, migration_id, state, step, doc)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::int2[], $9::jsonb[])
         ON CONFLICT (server_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, name = EXCLUDED.name,
             configuration = EXCLUDED.configuration,
             infrastructure_version = EXCLUDED.infrastructure_version,
             migration_id = EXCLUDED.migration_id, state = EXCLUDED.state,
             step = EXCLUDED.step, doc = EXCLUDED.doc",
        &[&ids, &customers, &names, &configurations, &versions, &migration_ids, &states, &steps, &docs],
    )
    .await?;
    Ok(())
}

async fn migrations(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let changed: Vec<_> = model
        .changed
        .migrations
        .iter()
        .filter_map(|id| model.migrations.get(id))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut servers = Vec::new();
    let mut customers = Vec::new();
    let mut states = Vec::new();
    let mut steps: Vec<Option<i16>> = Vec::new();
    let mut opened = Vec::new();
    let mut docs = Vec::new();
    for migration in changed {
        ids.push(migration.migration_id);
        servers.push(migration.server_id.as_str());
        customers.push(migration.customer_id.as_str());
        states.push(migration.state.as_str());
        steps.push(migration.step.map(i16::from));
        opened.push(sequence(migration.opened_sequence)?);
        docs.push(doc(migration)?);
    }
    tx.execute(
        "INSERT INTO migrations (migration_id, server_id, customer_id, state, step, opened_sequence, doc)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int2[], $6::int8[], $7::jsonb[])
         ON CONFLICT (migration_id) DO UPDATE SET
             server_id = EXCLUDED.server_id, customer_id = EXCLUDED.customer_id,
             state = EXCLUDED.state, step = EXCLUDED.step,
             opened_sequence = EXCLUDED.opened_sequence, doc = EXCLUDED.doc",
        &[&ids, &servers, &customers, &states, &steps, &opened, &docs],
    )
    .await?;
    Ok(())
}

async fn transfers(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let changed: Vec<_> = model
        .changed
        .transfers
        .iter()
        .filter_map(|id| model.transfers.get(id))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut migrations = Vec::new();
    let mut kinds = Vec::new();
    for link in changed {
        ids.push(link.transfer_id);
        migrations.push(link.migration_id);
        kinds.push(match doc(&link.kind)? {
            serde_json::Value::String(kind) => kind,
            other => other.to_string(),
        });
    }
    tx.execute(
        "INSERT INTO transfers (transfer_id, migration_id, kind)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[])
         ON CONFLICT (transfer_id) DO UPDATE SET
             migration_id = EXCLUDED.migration_id, kind = EXCLUDED.kind",
        &[&ids, &migrations, &kinds],
    )
    .await?;
    Ok(())
}

async fn transit_servers(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let changed: Vec<_> = model
        .changed
        .transit_servers
        .iter()
        .filter_map(|id| model.transit_servers.get(id))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut configurations = Vec::new();
    let mut states = Vec::new();
    let mut migrations: Vec<Option<Uuid>> = Vec::new();
    let mut since = Vec::new();
    let mut docs = Vec::new();
    for transit in changed {
        ids.push(transit.transit_server_id.as_str());
        configurations.push(transit.configuration.as_str());
        states.push(transit.state.as_str());
        migrations.push(transit.migration_id);
        since.push(transit.since);
        docs.push(doc(transit)?);
    }
    tx.execute(
        "INSERT INTO transit_servers (transit_server_id, configuration, state, migration_id, since, doc)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::jsonb[])
         ON CONFLICT (transit_server_id) DO UPDATE SET
             configuration = EXCLUDED.configuration, state = EXCLUDED.state,
             migration_id = EXCLUDED.migration_id, since = EXCLUDED.since, doc = EXCLUDED.doc",
        &[&ids, &configurations, &states, &migrations, &since, &docs],
    )
    .await?;
    Ok(())
}

async fn queue(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let (mut gone_configurations, mut gone_migrations) = (Vec::new(), Vec::new());
    let mut configurations = Vec::new();
    let mut migrations = Vec::new();
    let mut sequences = Vec::new();
    let mut clients = Vec::new();
    let mut requested = Vec::new();
    for ((configuration, migration_id), entry) in &model.queue {
        match entry {
            None => {
                gone_configurations.push(configuration.as_str());
                gone_migrations.push(*migration_id);
            }
            Some(entry) => {
                configurations.push(entry.configuration.as_str());
                migrations.push(entry.migration_id);
                sequences.push(sequence(entry.queued_sequence)?);
                clients.push(entry.client_server_id.as_str());
                requested.push(entry.requested_at);
            }
        }
    }
    if !gone_configurations.is_empty() {
        tx.execute(
            "DELETE FROM queue_entries q USING UNNEST($1::text[], $2::uuid[]) AS gone (configuration, migration_id)
             WHERE q.configuration = gone.configuration AND q.migration_id = gone.migration_id",
            &[&gone_configurations, &gone_migrations],
        )
        .await?;
    }
    if !configurations.is_empty() {
        tx.execute(
            "INSERT INTO queue_entries (configuration, migration_id, queued_seq, client_server_id, requested_at)
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::int8[], $4::text[], $5::timestamptz[])
             ON CONFLICT (configuration, migration_id) DO UPDATE SET
                 queued_seq = EXCLUDED.queued_seq, client_server_id = EXCLUDED.client_server_id,
                 requested_at = EXCLUDED.requested_at",
            &[&configurations, &migrations, &sequences, &clients, &requested],
        )
        .await?;
    }
    Ok(())
}

async fn targets(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let changed: Vec<_> = model
        .changed
        .targets
        .iter()
        .filter_map(|id| model.targets.get(id))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut versions = Vec::new();
    let mut docs = Vec::new();
    for target in changed {
        versions.push(target.version.as_str());
        docs.push(doc(target)?);
    }
    tx.execute(
        "INSERT INTO target_infrastructures (version, doc)
         SELECT * FROM UNNEST($1::text[], $2::jsonb[])
         ON CONFLICT (version) DO UPDATE SET doc = EXCLUDED.doc",
        &[&versions, &docs],
    )
    .await?;
    Ok(())
}

async fn optional_migrations(tx: &Transaction<'_>, model: &ReadModel) -> Result<(), ApplyError> {
    let changed: Vec<_> = model
        .changed
        .optional_migrations
        .iter()
        .filter_map(|id| model.optional_migrations.get(id))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut servers = Vec::new();
    let mut customers = Vec::new();
    let mut states = Vec::new();
    let mut sequences = Vec::new();
    let mut docs = Vec::new();
    for optional in changed {
        ids.push(optional.optional_migration_id);
        servers.push(optional.server_id.as_str());
        customers.push(optional.customer_id.as_str());
        states.push(optional.state.as_str());
        sequences.push(sequence(optional.scheduled_sequence)?);
        docs.push(doc(optional)?);
    }
    tx.execute(
        "INSERT INTO optional_migrations (optional_migration_id, server_id, customer_id, state, scheduled_sequence, doc)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::jsonb[])
         ON CONFLICT (optional_migration_id) DO UPDATE SET
             server_id = EXCLUDED.server_id, customer_id = EXCLUDED.customer_id,
             state = EXCLUDED.state, scheduled_sequence = EXCLUDED.scheduled_sequence,
             doc = EXCLUDED.doc",
        &[&ids, &servers, &customers, &states, &sequences, &docs],
    )
    .await?;
    Ok(())
}
