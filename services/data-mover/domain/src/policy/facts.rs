//! The data mover's view: where data lives, folded from other services' events
//! (`data_mover_view`).
//!
//! - `server/<id>`: a client server's storage and accounts (`server` events);
//! - `transit/<id>`: a transit server's storage (`TransitServerAdded`), and the
//!   accounts copied to it since its last wipe (`TransferScheduled` of pre-copies and
//!   cutovers to it; emptied by `TransitServerWiped`): what its next wipe erases;
//! - `migration/<id>`: the server a migration moves and its transit server
//!   (`MigrationOpened`, `TransitServerAssigned`);
//! - `optional/<id>`: an optional migration as scheduled;
//! - `test_copy/<transfer id>`: a test copy as scheduled, to discard it later.

use ferry_core::policy::View;
use ferry_events::{
    AccountSpec, AggregateType, Envelope, Event, MigrationEvent, OptionalMigrationEvent,
    OptionalMigrationScheduled, ServerEvent, ServerStorage, TransferEvent, TransferKind,
    TransferScheduled, TransitServerEvent,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key of a client server's entry in the view.
pub fn server_key(id: &str) -> String {
    format!("server/{id}")
}
pub(super) fn transit_key(id: &str) -> String {
    format!("transit/{id}")
}
pub(super) fn migration_key(id: &str) -> String {
    format!("migration/{id}")
}
pub(super) fn optional_key(id: &str) -> String {
    format!("optional/{id}")
}
pub(super) fn test_copy_key(id: &str) -> String {
    format!("test_copy/{id}")
}

/// One entry of the data mover's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
// Entries are read and written one at a time: boxing a storage would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum MoverFact {
    /// A client server.
    Server {
        /// The customer owning it, once registered.
        customer_id: Option<String>,
        /// Where its accounts' data lives, once registered.
        storage: Option<ServerStorage>,
        /// Its accounts by id.
        accounts: BTreeMap<String, AccountSpec>,
    },
    /// A transit server.
    Transit {
        /// Where accounts' data lives on it.
        storage: ServerStorage,
        /// The accounts copied to it since its last wipe, by id.
        #[serde(default)]
        accounts: BTreeMap<String, AccountSpec>,
    },
    /// A migration.
    Migration {
        /// The client server it moves.
        server_id: Option<String>,
        /// Its transit server, once assigned.
        transit_server_id: Option<String>,
    },
    /// An optional migration, as scheduled.
    Optional(OptionalMigrationScheduled),
    /// A test copy, as scheduled.
    TestCopy(TransferScheduled),
}

/// The data mover's view.
#[derive(Debug)]
pub struct MoverView;

impl View for MoverView {
    const NAME: &'static str = "data_mover_view";
    const AGGREGATES: &'static [AggregateType] = &[
        AggregateType::Server,
        AggregateType::TransitServer,
        AggregateType::Migration,
        AggregateType::OptionalMigration,
        AggregateType::Transfer,
    ];
    type Entry = MoverFact;

    fn keys(event: &Envelope) -> Vec<String> {
        let id = &event.aggregate_id;
        match &event.event {
            Event::Server(_) => vec![server_key(id)],
            Event::TransitServer(
                TransitServerEvent::TransitServerAdded(_)
                | TransitServerEvent::TransitServerWiped(_),
            ) => vec![transit_key(id)],
            Event::Migration(
                MigrationEvent::MigrationOpened(_) | MigrationEvent::TransitServerAssigned(_),
            ) => vec![migration_key(id)],
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationScheduled(_)) => {
                vec![optional_key(id)]
            }
            Event::Transfer(TransferEvent::TransferScheduled(s))
                if s.kind == TransferKind::TestCopy =>
            {
                vec![test_copy_key(id)]
            }
            Event::Transfer(TransferEvent::TransferScheduled(s)) if copies_to_transit(s) => {
                vec![transit_key(&s.destination.server_id)]
            }
            _ => Vec::new(),
        }
    }

    fn evolve(_key: &str, entry: Option<MoverFact>, event: &Envelope) -> Option<MoverFact> {
        match &event.event {
            Event::Server(e) => Some(evolve_server(entry, e)),
            Event::TransitServer(TransitServerEvent::TransitServerAdded(added)) => {
                Some(MoverFact::Transit {
                    storage: added.storage.clone(),
                    accounts: BTreeMap::new(),
                })
            }
            Event::TransitServer(TransitServerEvent::TransitServerWiped(_)) => match entry {
                Some(MoverFact::Transit { storage, .. }) => Some(MoverFact::Transit {
                    storage,
                    accounts: BTreeMap::new(),
                }),
                other => other,
            },
            Event::Migration(e) => {
                let (mut server_id, mut transit_server_id) = match entry {
                    Some(MoverFact::Migration {
                        server_id,
                        transit_server_id,
                    }) => (server_id, transit_server_id),
                    _ => (None, None),
                };
                match e {
                    MigrationEvent::MigrationOpened(opened) => {
                        server_id = Some(opened.server_id.clone())
                    }
                    MigrationEvent::TransitServerAssigned(assigned) => {
                        transit_server_id = Some(assigned.transit_server_id.clone())
                    }
                    _ => {}
                }
                Some(MoverFact::Migration {
                    server_id,
                    transit_server_id,
                })
            }
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationScheduled(s)) => {
                Some(MoverFact::Optional(s.clone()))
            }
            Event::Transfer(TransferEvent::TransferScheduled(s)) if copies_to_transit(s) => {
                match entry {
                    Some(MoverFact::Transit {
                        storage,
                        mut accounts,
                    }) => {
                        for account in &s.accounts {
                            accounts.insert(account.account_id.clone(), account.clone());
                        }
                        Some(MoverFact::Transit { storage, accounts })
                    }
                    other => other,
                }
            }
            Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                Some(MoverFact::TestCopy(s.clone()))
            }
            _ => entry,
        }
    }
}

/// A pre-copy or a cutover to a transit server: its accounts' data lands there
/// (a pre-copy back to the client server has the client server as destination).
fn copies_to_transit(scheduled: &TransferScheduled) -> bool {
    matches!(
        scheduled.kind,
        TransferKind::PreCopy | TransferKind::Cutover
    ) && scheduled.destination.server_id != scheduled.server_id
}

fn evolve_server(entry: Option<MoverFact>, event: &ServerEvent) -> MoverFact {
    let (mut customer_id, mut storage, mut accounts) = match entry {
        Some(MoverFact::Server {
            customer_id,
            storage,
            accounts,
        }) => (customer_id, storage, accounts),
        _ => (None, None, BTreeMap::new()),
    };
    match event {
        ServerEvent::ServerRegistered(e) => {
            storage = Some(e.storage.clone());
            customer_id = Some(e.customer_id.clone());
        }
        ServerEvent::ServerDetailsChanged(e) => {
            storage = Some(e.storage.clone());
            customer_id = Some(e.customer_id.clone());
        }
        ServerEvent::AccountAdded(e) => {
            accounts.insert(e.account.account_id.clone(), e.account.clone());
        }
        ServerEvent::AccountChanged(e) => {
            accounts.insert(e.account.account_id.clone(), e.account.clone());
        }
        ServerEvent::AccountRemoved(e) => {
            accounts.remove(&e.account_id);
        }
        _ => {}
    }
    MoverFact::Server {
        customer_id,
        storage,
        accounts,
    }
}
