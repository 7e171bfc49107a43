//! The data mover's reactions. Two durable consumers:
//!
//! - `data_mover` (in log order) turns the process's events into scheduled transfers
//!   (`TransferScheduled`), reading where data lives from the log:
//!
//! | event (aggregate) | transfer scheduled |
//! |---|---|
//! | `TransitInstallationCompleted` (transit_server) | pre-copy, client server → transit server, every account (files, mails, and database replication set up where possible) |
//! | `ServerReinstalled` (migration) | pre-copy, transit server → reinstalled client server |
//! | `AccountMoveStarted` (migration) | cutover of the account, client → transit |
//! | `AccountRollbackStarted` (migration) | rollback, transit → client (its older copy kept aside) |
//! | `AccountRelocationStarted` (migration) | relocation, transit → reinstalled client |
//! | `TestMigrationRequested` (migration) | test copy of the account's databases to the test servers |
//! | `OptionalMigrationStarted` (optional_migration) | service migration: the service's databases to its new version's server |
//!
//!   on `TestMigrationDiscarded` (migration) it drops the test copy's databases, and on
//!   `MigrationCancelled` (migration) it tears down the replications its pre-copies
//!   set up.
//! - `data_mover_worker` runs each `TransferScheduled` (transfer) through the engine,
//!   many at once within the limits (`run_concurrently`), acknowledging each when it
//!   ended: a transfer interrupted by a crash or a stop is redelivered and resumed.

use crate::engine::{Mover, test_copy};
use crate::inventory::Inventory;
use ferry_events::{
    AggregateType, Event, MigrationEvent, OptionalMigrationEvent, ServiceKind, TransferEvent,
    TransferKind, TransferScheduled, TransitServerEvent, transfer::Endpoint,
};
use ferry_infra::event_log::{EventLog, Recorded};
use ferry_infra::reactor::{ReactionError, Reactor, reaction_id};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const NAME: &str = "data_mover";
const WORKER: &str = "data_mover_worker";

/// Schedules transfers on the process's events (consumer `data_mover`).
#[derive(Debug, Clone)]
pub struct DataMoverReactor {
    mover: Mover,
    inventory: Inventory,
}

/// Which way a migration's transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    ToTransit,
    ToClient,
}

impl DataMoverReactor {
    /// A reactor scheduling through `mover`, reading where data lives with `inventory`.
    pub fn new(mover: Mover, inventory: Inventory) -> Self {
        Self { mover, inventory }
    }

    /// The two ends of a migration's transfer, and the server's accounts.
    async fn migration_ends(
        &self,
        migration_id: Uuid,
        way: Way,
    ) -> Result<(String, Vec<ferry_events::AccountSpec>, Endpoint, Endpoint), ReactionError> {
        let facts = self.inventory.migration(migration_id).await?;
        let (Some(server_id), Some(transit_id)) = (facts.server_id, facts.transit_server_id) else {
            return Err(ReactionError::Failed(format!(
                "migration {migration_id} has no server or no transit server"
            )));
        };
        let server = self.inventory.server(&server_id).await?;
        let (Some(client), Some(transit)) = (
            server.storage,
            self.inventory.transit_storage(&transit_id).await?,
        ) else {
            return Err(ReactionError::Failed(format!(
                "no storage known for {server_id} or {transit_id}"
            )));
        };
        let client = Endpoint {
            server_id: server_id.clone(),
            storage: client,
        };
        let transit = Endpoint {
            server_id: transit_id,
            storage: transit,
        };
        let accounts = server.accounts.into_values().collect();
        Ok(match way {
            Way::ToTransit => (server_id, accounts, client, transit),
            Way::ToClient => (server_id, accounts, transit, client),
        })
    }

    async fn schedule(&self, scheduled: TransferScheduled) -> Result<(), ReactionError> {
        self.mover
            .schedule(&scheduled)
            .await
            .map_err(|e| ReactionError::Transient(e.to_string()))
    }

    /// A pre-copy of every account of the migration's server.
    async fn pre_copy(
        &self,
        recorded: &Recorded,
        migration_id: Uuid,
        way: Way,
    ) -> Result<(), ReactionError> {
        let (server_id, accounts, source, destination) =
            self.migration_ends(migration_id, way).await?;
        if accounts.is_empty() {
            tracing::info!(%server_id, "no account to pre-copy");
            return Ok(());
        }
        self.schedule(TransferScheduled {
            transfer_id: reaction_id(NAME, recorded.envelope.event_id, "pre-copy"),
            kind: TransferKind::PreCopy,
            migration_id: Some(migration_id),
            server_id,
            accounts,
            source,
            destination,
        })
        .await
    }

    /// One account's cutover, rollback or relocation.
    async fn account_transfer(
        &self,
        migration_id: Uuid,
        account_id: &str,
        transfer_id: Uuid,
        kind: TransferKind,
    ) -> Result<(), ReactionError> {
        let way = if kind == TransferKind::Cutover {
            Way::ToTransit
        } else {
            Way::ToClient
        };
        let (server_id, accounts, source, destination) =
            self.migration_ends(migration_id, way).await?;
        let Some(account) = accounts.into_iter().find(|a| a.account_id == account_id) else {
            return Err(ReactionError::Failed(format!(
                "account {account_id} is not on server {server_id}"
            )));
        };
        self.schedule(TransferScheduled {
            transfer_id,
            kind,
            migration_id: Some(migration_id),
            server_id,
            accounts: vec![account],
            source,
            destination,
        })
        .await
    }

    async fn test_copy(
        &self,
        migration_id: Uuid,
        account_id: &str,
        transfer_id: Uuid,
    ) -> Result<(), ReactionError> {
        let facts = self.inventory.migration(migration_id).await?;
        let Some(server_id) = facts.server_id else {
            return Err(ReactionError::Failed(format!(
                "migration {migration_id} was never opened"
            )));
        };
        let server = self.inventory.server(&server_id).await?;
        let (Some(storage), Some(account)) = (server.storage, server.accounts.get(account_id))
        else {
            return Err(ReactionError::Failed(format!(
                "no storage or no account {account_id} known on {server_id}"
            )));
        };
        self.schedule(TransferScheduled {
            transfer_id,
            kind: TransferKind::TestCopy,
            migration_id: Some(migration_id),
            server_id: server_id.clone(),
            accounts: vec![account.clone()],
            source: Endpoint { server_id, storage },
            destination: test_copy::test_endpoint(self.mover.settings()),
        })
        .await
    }

    /// A cancelled migration keeps no replication running for its pre-copies, in
    /// either direction.
    async fn cancelled(&self, migration_id: Uuid) -> Result<(), ReactionError> {
        let facts = self.inventory.migration(migration_id).await?;
        if facts.transit_server_id.is_none() {
            return Ok(());
        }
        for way in [Way::ToTransit, Way::ToClient] {
            let (server_id, accounts, source, destination) =
                self.migration_ends(migration_id, way).await?;
            let scheduled = TransferScheduled {
                transfer_id: migration_id,
                kind: TransferKind::PreCopy,
                migration_id: Some(migration_id),
                server_id,
                accounts,
                source,
                destination,
            };
            self.mover.tear_down_replications(&scheduled).await;
        }
        Ok(())
    }

    async fn service_migration(
        &self,
        optional_id: Uuid,
        transfer_id: Uuid,
    ) -> Result<(), ReactionError> {
        let Some(optional) = self.inventory.optional_migration(optional_id).await? else {
            return Err(ReactionError::Failed(format!(
                "optional migration {optional_id} was never scheduled"
            )));
        };
        let server = self.inventory.server(&optional.server_id).await?;
        let Some(storage) = server.storage else {
            return Err(ReactionError::Failed(format!(
                "no storage known for {}",
                optional.server_id
            )));
        };
        let mut destination = storage.clone();
        let engine = match optional.service {
            ServiceKind::Postgresql => Some(ferry_events::DatabaseEngine::Postgres),
            ServiceKind::Mysql => Some(ferry_events::DatabaseEngine::Mysql),
            _ => None,
        };
        // Where the new version runs: unknown means the transfer fails, saying so.
        let new_server = self
            .mover
            .settings()
            .service_servers
            .iter()
            .find(|s| s.service == optional.service && s.version == optional.to_version)
            .map(|s| s.url.clone());
        match engine {
            Some(ferry_events::DatabaseEngine::Postgres) => destination.postgres_url = new_server,
            Some(ferry_events::DatabaseEngine::Mysql) => destination.mysql_url = new_server,
            None => {}
        }
        let all: Vec<_> = server.accounts.into_values().collect();
        let users: Vec<_> = all
            .iter()
            .filter(|a| engine.is_some_and(|e| a.databases.iter().any(|d| d.engine == e)))
            .cloned()
            .collect();
        // Nobody uses the service: the transfer still runs (and says what it found),
        // so that the optional migration gets its outcome.
        let accounts = if users.is_empty() { all } else { users };
        self.schedule(TransferScheduled {
            transfer_id,
            kind: TransferKind::ServiceMigration,
            migration_id: Some(optional_id),
            server_id: optional.server_id.clone(),
            accounts,
            source: Endpoint {
                server_id: optional.server_id.clone(),
                storage,
            },
            destination: Endpoint {
                server_id: format!("{:?}-{}", optional.service, optional.to_version).to_lowercase(),
                storage: destination,
            },
        })
        .await
    }
}

impl Reactor for DataMoverReactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![
            log.type_filter(AggregateType::TransitServer),
            log.type_filter(AggregateType::Migration),
            log.type_filter(AggregateType::OptionalMigration),
        ]
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let aggregate_id = &recorded.envelope.aggregate_id;
        let own_id = || {
            Uuid::parse_str(aggregate_id)
                .map_err(|e| ReactionError::Failed(format!("aggregate id {aggregate_id}: {e}")))
        };
        match &recorded.envelope.event {
            Event::TransitServer(TransitServerEvent::TransitInstallationCompleted(e)) => {
                self.pre_copy(recorded, e.migration_id, Way::ToTransit)
                    .await
            }
            Event::Migration(event) => match event {
                MigrationEvent::ServerReinstalled(_) => {
                    self.pre_copy(recorded, own_id()?, Way::ToClient).await
                }
                MigrationEvent::AccountMoveStarted(_)
                | MigrationEvent::AccountRollbackStarted(_)
                | MigrationEvent::AccountRelocationStarted(_) => {
                    let Some((account_id, transfer_id, kind)) = account_transfer_of(event) else {
                        return Ok(());
                    };
                    self.account_transfer(own_id()?, account_id, transfer_id, kind)
                        .await
                }
                MigrationEvent::TestMigrationRequested(e) => {
                    self.test_copy(own_id()?, &e.account_id, e.transfer_id)
                        .await
                }
                MigrationEvent::MigrationCancelled(_) => self.cancelled(own_id()?).await,
                MigrationEvent::TestMigrationDiscarded(e) => {
                    let Some(scheduled) = self.inventory.transfer(e.transfer_id).await? else {
                        return Ok(());
                    };
                    test_copy::discard(&self.mover, &scheduled)
                        .await
                        .map_err(|e| ReactionError::Transient(e.to_string()))
                }
                _ => Ok(()),
            },
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationStarted(e)) => {
                self.service_migration(own_id()?, e.transfer_id).await
            }
            _ => Ok(()),
        }
    }
}

/// The account, transfer and kind of an account's move, rollback or relocation.
fn account_transfer_of(event: &MigrationEvent) -> Option<(&str, Uuid, TransferKind)> {
    match event {
        MigrationEvent::AccountMoveStarted(e) => {
            Some((&e.account_id, e.transfer_id, TransferKind::Cutover))
        }
        MigrationEvent::AccountRollbackStarted(e) => {
            Some((&e.account_id, e.transfer_id, TransferKind::Rollback))
        }
        MigrationEvent::AccountRelocationStarted(e) => {
            Some((&e.account_id, e.transfer_id, TransferKind::Relocation))
        }
        _ => None,
    }
}

/// Runs scheduled transfers (consumer `data_mover_worker`).
#[derive(Debug, Clone)]
pub struct TransferWorker {
    mover: Mover,
    stop: CancellationToken,
}

impl TransferWorker {
    /// A worker running transfers with `mover`, interrupted by `stop`.
    pub fn new(mover: Mover, stop: CancellationToken) -> Self {
        Self { mover, stop }
    }
}

impl Reactor for TransferWorker {
    fn name(&self) -> &'static str {
        WORKER
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Transfer)]
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let Event::Transfer(TransferEvent::TransferScheduled(scheduled)) = &recorded.envelope.event
        else {
            return Ok(());
        };
        self.mover
            .run(scheduled, &self.stop)
            .await
            .map_err(|e| ReactionError::Transient(e.to_string()))
    }
}
