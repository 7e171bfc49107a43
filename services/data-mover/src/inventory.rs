//! What the data mover reads from the log to know where data lives: a client server's
//! storage and accounts (from `server` events), a transit server's storage (from its
//! `TransitServerAdded`), the server a migration moves and its transit server
//! (`MigrationOpened`, `TransitServerAssigned`), an optional migration's service
//! (`OptionalMigrationScheduled`) and a transfer's plan (`TransferScheduled`). Folded
//! here from the events themselves: the data mover depends on no other service.

use ferry_events::{
    AccountSpec, AggregateType, Event, MigrationEvent, OptionalMigrationEvent,
    OptionalMigrationScheduled, ServerEvent, ServerStorage, TransferEvent, TransferScheduled,
    TransitServerEvent,
};
use ferry_infra::event_log::{AggregateRef, EventLog, ReadError};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A server's storage and accounts, as the log says now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerData {
    /// Where its accounts' data lives.
    pub storage: Option<ServerStorage>,
    /// Its accounts by id.
    pub accounts: BTreeMap<String, AccountSpec>,
    /// The customer owning it.
    pub customer_id: Option<String>,
}

/// Folds a client server's events.
pub fn fold_server<'a>(events: impl IntoIterator<Item = &'a Event>) -> ServerData {
    let mut data = ServerData::default();
    for event in events {
        let Event::Server(event) = event else {
            continue;
        };
        match event {
            ServerEvent::ServerRegistered(e) => {
                data.storage = Some(e.storage.clone());
                data.customer_id = Some(e.customer_id.clone());
            }
            ServerEvent::ServerDetailsChanged(e) => {
                data.storage = Some(e.storage.clone());
                data.customer_id = Some(e.customer_id.clone());
            }
            ServerEvent::AccountAdded(e) => {
                data.accounts
                    .insert(e.account.account_id.clone(), e.account.clone());
            }
            ServerEvent::AccountChanged(e) => {
                data.accounts
                    .insert(e.account.account_id.clone(), e.account.clone());
            }
            ServerEvent::AccountRemoved(e) => {
                data.accounts.remove(&e.account_id);
            }
            _ => {}
        }
    }
    data
}

/// Reads what the data mover needs from the log.
#[derive(Debug, Clone)]
pub struct Inventory {
    log: EventLog,
}

impl Inventory {
    /// An inventory over `log`.
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }

    async fn events(&self, kind: AggregateType, id: &str) -> Result<Vec<Event>, ReadError> {
        let aggregate =
            AggregateRef::new(kind, id).map_err(|e| ReadError::Unavailable(e.to_string()))?;
        let loaded = self.log.load(&aggregate).await?;
        Ok(loaded
            .events
            .into_iter()
            .map(|r| r.envelope.event)
            .collect())
    }

    /// A client server's storage and accounts.
    pub async fn server(&self, server_id: &str) -> Result<ServerData, ReadError> {
        Ok(fold_server(
            &self.events(AggregateType::Server, server_id).await?,
        ))
    }

    /// A transit server's storage.
    pub async fn transit_storage(
        &self,
        transit_server_id: &str,
    ) -> Result<Option<ServerStorage>, ReadError> {
        let events = self
            .events(AggregateType::TransitServer, transit_server_id)
            .await?;
        Ok(events.into_iter().find_map(|e| match e {
            Event::TransitServer(TransitServerEvent::TransitServerAdded(added)) => {
                Some(added.storage)
            }
            _ => None,
        }))
    }

    /// The client server a migration moves.
    pub async fn migrated_server(&self, migration_id: Uuid) -> Result<Option<String>, ReadError> {
        Ok(self.migration(migration_id).await?.server_id)
    }

    /// What a migration's events say about where its accounts are.
    pub async fn migration(&self, migration_id: Uuid) -> Result<MigrationFacts, ReadError> {
        let events = self
            .events(AggregateType::Migration, &migration_id.to_string())
            .await?;
        let mut facts = MigrationFacts::default();
        for event in events {
            match event {
                Event::Migration(MigrationEvent::MigrationOpened(opened)) => {
                    facts.server_id = Some(opened.server_id);
                }
                Event::Migration(MigrationEvent::TransitServerAssigned(assigned)) => {
                    facts.transit_server_id = Some(assigned.transit_server_id);
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// An optional migration as scheduled.
    pub async fn optional_migration(
        &self,
        optional_migration_id: Uuid,
    ) -> Result<Option<OptionalMigrationScheduled>, ReadError> {
        let events = self
            .events(
                AggregateType::OptionalMigration,
                &optional_migration_id.to_string(),
            )
            .await?;
        Ok(events.into_iter().find_map(|e| match e {
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationScheduled(s)) => {
                Some(s)
            }
            _ => None,
        }))
    }

    /// A transfer as scheduled.
    pub async fn transfer(
        &self,
        transfer_id: Uuid,
    ) -> Result<Option<TransferScheduled>, ReadError> {
        let events = self
            .events(AggregateType::Transfer, &transfer_id.to_string())
            .await?;
        Ok(events.into_iter().find_map(|e| match e {
            Event::Transfer(TransferEvent::TransferScheduled(s)) => Some(s),
            _ => None,
        }))
    }
}

/// A migration's server and transit server, as far as its events tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationFacts {
    /// The client server migrated.
    pub server_id: Option<String>,
    /// The transit server lent to it, once assigned.
    pub transit_server_id: Option<String>,
}
