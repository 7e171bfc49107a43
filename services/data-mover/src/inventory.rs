//! What the data mover reads from the log to know where data lives: a client server's
//! storage and accounts (from `server` events), a transit server's storage (from its
//! `TransitServerAdded`), and the server a migration moves (`MigrationOpened`). Folded
//! here from the events themselves: the data mover depends on no other service.

use ferry_events::{
    AccountSpec, AggregateType, Event, MigrationEvent, ServerEvent, ServerStorage,
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
}

/// Folds a client server's events.
pub fn fold_server<'a>(events: impl IntoIterator<Item = &'a Event>) -> ServerData {
    let mut data = ServerData::default();
    for event in events {
        let Event::Server(event) = event else {
            continue;
        };
        match event {
            ServerEvent::ServerRegistered(e) => data.storage = Some(e.storage.clone()),
            ServerEvent::ServerDetailsChanged(e) => data.storage = Some(e.storage.clone()),
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
        let events = self
            .events(AggregateType::Migration, &migration_id.to_string())
            .await?;
        Ok(events.into_iter().find_map(|e| match e {
            Event::Migration(MigrationEvent::MigrationOpened(opened)) => Some(opened.server_id),
            _ => None,
        }))
    }
}
