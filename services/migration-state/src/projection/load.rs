//! Loading the rows a batch needs into a [`ReadModel`]: transfer links first (they
//! name migrations), then migrations (they name servers), then the rest.

use ferry_infra::event_log::Recorded;
use ferry_infra::projection::ApplyError;
use serde::de::DeserializeOwned;
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::view::{
    MigrationView, Needs, OptionalMigrationView, ReadModel, ServerView, TargetInfrastructureView,
    TransferLink, TransitServerView,
};

/// A read model holding every stored row the events of the batch may read or change.
pub(super) async fn rows_for(
    tx: &Transaction<'_>,
    events: &[Recorded],
) -> Result<ReadModel, ApplyError> {
    let mut needs = Needs::of(events.iter().map(|r| &r.envelope));
    let mut model = ReadModel::default();

    for link in transfer_links(tx, &ids(&needs.transfers)).await? {
        needs.migrations.insert(link.migration_id);
        needs.optional_migrations.insert(link.migration_id);
        model.transfers.insert(link.transfer_id, link);
    }
    let migrations: Vec<MigrationView> = docs(
        tx,
        "SELECT doc FROM migrations WHERE migration_id = ANY($1)",
        &ids(&needs.migrations),
    )
    .await?;
    for migration in migrations {
        needs.servers.insert(migration.server_id.clone());
        model.migrations.insert(migration.migration_id, migration);
    }
    let servers: Vec<ServerView> = docs(
        tx,
        "SELECT doc FROM servers WHERE server_id = ANY($1)",
        &ids(&needs.servers),
    )
    .await?;
    model.servers = servers
        .into_iter()
        .map(|s| (s.server_id.clone(), s))
        .collect();
    let transits: Vec<TransitServerView> = docs(
        tx,
        "SELECT doc FROM transit_servers WHERE transit_server_id = ANY($1)",
        &ids(&needs.transit_servers),
    )
    .await?;
    model.transit_servers = transits
        .into_iter()
        .map(|t| (t.transit_server_id.clone(), t))
        .collect();
    let targets: Vec<TargetInfrastructureView> = docs(
        tx,
        "SELECT doc FROM target_infrastructures WHERE version = ANY($1)",
        &ids(&needs.targets),
    )
    .await?;
    model.targets = targets
        .into_iter()
        .map(|t| (t.version.clone(), t))
        .collect();
    let optionals: Vec<OptionalMigrationView> = docs(
        tx,
        "SELECT doc FROM optional_migrations WHERE optional_migration_id = ANY($1)",
        &ids(&needs.optional_migrations),
    )
    .await?;
    model.optional_migrations = optionals
        .into_iter()
        .map(|o| (o.optional_migration_id, o))
        .collect();
    Ok(model)
}

fn ids<T: Clone>(set: &std::collections::BTreeSet<T>) -> Vec<T> {
    set.iter().cloned().collect()
}

async fn transfer_links(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<Vec<TransferLink>, ApplyError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx
        .query(
            "SELECT transfer_id, migration_id, kind FROM transfers WHERE transfer_id = ANY($1)",
            &[&ids],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.get(2);
            Ok(TransferLink {
                transfer_id: row.get(0),
                migration_id: row.get(1),
                kind: serde_json::from_value(serde_json::Value::String(kind.clone())).map_err(
                    |e| ApplyError::Invalid(format!("stored transfer kind {kind:?}: {e}")),
                )?,
            })
        })
        .collect()
}

/// The documents selected by `sql` (one `jsonb` column, keys as `$1`).
async fn docs<T, K>(tx: &Transaction<'_>, sql: &str, keys: &[K]) -> Result<Vec<T>, ApplyError>
where
    T: DeserializeOwned,
    K: ToSql + Sync,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tx.query(sql, &[&keys]).await?;
    rows.iter()
        .map(|row| {
            serde_json::from_value(row.get::<_, serde_json::Value>(0))
                .map_err(|e| ApplyError::Invalid(format!("stored document unreadable: {e}")))
        })
        .collect()
}
