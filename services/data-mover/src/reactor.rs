//! The data mover's reactions (durable consumer `data_mover`).
//!
//! | event (aggregate) | what it does |
//! |---|---|
//! | `TransitInstallationCompleted` (transit_server) | pre-copies every account's files and mails from the client server to the installed transit server (`TransferScheduled` kind `pre_copy` … `TransferCompleted`) |
//!
//! Cutovers, test copies and service migrations follow in later work.

use crate::engine::Mover;
use crate::inventory::Inventory;
use ferry_events::{
    AggregateType, Event, TransferKind, TransferScheduled, TransitServerEvent, transfer::Endpoint,
};
use ferry_infra::event_log::{EventLog, Recorded};
use ferry_infra::reactor::{ReactionError, Reactor, reaction_id};

const NAME: &str = "data_mover";

/// The data mover's reactor.
#[derive(Debug, Clone)]
pub struct DataMoverReactor {
    mover: Mover,
    inventory: Inventory,
}

impl DataMoverReactor {
    /// A reactor moving data with `mover`, reading where it lives with `inventory`.
    pub fn new(mover: Mover, inventory: Inventory) -> Self {
        Self { mover, inventory }
    }

    async fn pre_copy(
        &self,
        recorded: &Recorded,
        migration_id: uuid::Uuid,
    ) -> Result<(), ReactionError> {
        let transit_server_id = recorded.envelope.aggregate_id.clone();
        let Some(server_id) = self.inventory.migrated_server(migration_id).await? else {
            return Err(ReactionError::Failed(format!(
                "migration {migration_id} was never opened"
            )));
        };
        let server = self.inventory.server(&server_id).await?;
        let (Some(source), Some(destination)) = (
            server.storage,
            self.inventory.transit_storage(&transit_server_id).await?,
        ) else {
            return Err(ReactionError::Failed(format!(
                "no storage known for {server_id} or {transit_server_id}"
            )));
        };
        let scheduled = TransferScheduled {
            transfer_id: reaction_id(NAME, recorded.envelope.event_id, "pre-copy"),
            kind: TransferKind::PreCopy,
            migration_id: Some(migration_id),
            server_id: server_id.clone(),
            accounts: server.accounts.into_values().collect(),
            source: Endpoint {
                server_id,
                storage: source,
            },
            destination: Endpoint {
                server_id: transit_server_id,
                storage: destination,
            },
        };
        self.mover
            .pre_copy(&scheduled)
            .await
            .map_err(|e| ReactionError::Transient(e.to_string()))
    }
}

impl Reactor for DataMoverReactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::TransitServer)]
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        match &recorded.envelope.event {
            Event::TransitServer(TransitServerEvent::TransitInstallationCompleted(e)) => {
                self.pre_copy(recorded, e.migration_id).await
            }
            _ => Ok(()),
        }
    }
}
