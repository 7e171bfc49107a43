//! The data mover's reactions, as a pure policy over its view ([`MoverView`]): which
//! event schedules which transfer, with where the data lives.
//!
//! | event (aggregate) | command |
//! |---|---|
//! | `TransitInstallationCompleted` (transit_server) | schedule a pre-copy, client server → transit server, every account |
//! | `ServerReinstalled` (migration) | schedule a pre-copy, transit server → reinstalled client server |
//! | `AccountMoveStarted` / `AccountRollbackStarted` / `AccountRelocationStarted` (migration) | schedule the account's cutover / rollback / relocation |
//! | `TestMigrationRequested` (migration) | schedule a test copy of the account (the edge adds the test servers) |
//! | `TestMigrationDiscarded` (migration) | drop that test copy |
//! | `MigrationCancelled`, `ObsoleteLanguagesRestored`, `MigrationCompleted` (migration) | tear down the replications its pre-copies set up, both ways |
//! | `OptionalMigrationStarted` (optional_migration) | schedule a service migration (the edge adds the new version's server) |
//! | `PreCopyRetried` (migration) | schedule the pre-copy again, as the new transfer it names, to where the failed one went |
//! | `AccountTransferAborted` (migration) | call the account's transfer off (its tools stopped, its sources thawed) |
//! | `TransitServerWipeStarted` (transit_server) | schedule its wipe: the accounts copied to it since its last wipe erased, the server checked empty |
//!
//! Transfer ids come from the events (the migration's decisions), or derive from
//! the event for pre-copies: a redelivered event schedules nothing twice.

mod facts;
#[cfg(test)]
mod tests;

pub use facts::{MoverFact, MoverView, server_key};

use facts::{migration_key, optional_key, test_copy_key, transit_key};
use ferry_core::policy::{Entries, Missing, Policy, reaction_id};
use ferry_events::transfer::Endpoint;
use ferry_events::{
    AccountSpec, DatabaseEngine, Envelope, Event, MigrationEvent, OptionalMigrationEvent,
    PreCopyDestination, ServiceKind, TransferKind, TransferScheduled, TransitServerEvent,
};
use uuid::Uuid;

/// The reactor's name: its durable consumer and the namespace of its ids.
pub const NAME: &str = "data_mover";

/// What the data mover's policy asks of its edge.
#[derive(Debug, Clone, PartialEq)]
pub enum MoverCommand {
    /// Schedule this transfer.
    Schedule(TransferScheduled),
    /// Schedule this test copy; the edge sets its destination: the test servers.
    ScheduleTestCopy(TransferScheduled),
    /// Schedule this service migration; the edge sets the destination's URL for the
    /// service's engine: the server running `to_version` (unknown: the transfer fails
    /// saying so).
    ScheduleServiceMigration {
        /// The transfer, its destination still the source's storage.
        transfer: TransferScheduled,
        /// The service moved.
        service: ServiceKind,
        /// Its new version.
        to_version: String,
    },
    /// Tear down the replications these ends' pre-copies set up.
    TearDownReplications(TransferScheduled),
    /// Drop this test copy's databases.
    DiscardTestCopy(TransferScheduled),
    /// Call this transfer off: support aborted it.
    AbortTransfer {
        /// The transfer.
        transfer_id: Uuid,
        /// Why.
        reason: String,
    },
}

/// The database engine a service's data lives in, if ferry moves it.
pub fn engine_of(service: ServiceKind) -> Option<DatabaseEngine> {
    match service {
        ServiceKind::Postgresql => Some(DatabaseEngine::Postgres),
        ServiceKind::Mysql => Some(DatabaseEngine::Mysql),
        _ => None,
    }
}

/// The data mover's policy.
#[derive(Debug)]
pub struct MoverPolicy;

/// Which way a migration's transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    ToTransit,
    ToClient,
}

/// The migration an event concerns (a migration event's aggregate, or the migration
/// a transit server's installation was for).
fn migration_of(event: &Envelope) -> Option<String> {
    match &event.event {
        Event::TransitServer(TransitServerEvent::TransitInstallationCompleted(e)) => {
            Some(e.migration_id.to_string())
        }
        Event::Migration(_) => Some(event.aggregate_id.clone()),
        _ => None,
    }
}

impl Policy for MoverPolicy {
    type View = MoverView;
    type Command = MoverCommand;
    const NAME: &'static str = NAME;

    /// One lane per migration: a reaction decides on its own migration's facts; what
    /// migrations share (a server, a transit server) is guarded by the deciders.
    fn lane(event: &Envelope) -> String {
        ferry_core::policy::process_lane(event)
    }

    fn reads(event: &Envelope, known: &Entries<MoverFact>) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(migration) = migration_of(event) {
            let key = migration_key(&migration);
            if let Some(MoverFact::Migration {
                server_id,
                transit_server_id,
            }) = known.get(&key)
            {
                keys.extend(server_id.as_deref().map(server_key));
                keys.extend(transit_server_id.as_deref().map(transit_key));
            }
            keys.push(key);
        }
        match &event.event {
            Event::TransitServer(
                TransitServerEvent::TransitInstallationCompleted(_)
                | TransitServerEvent::TransitServerWipeStarted(_),
            ) => {
                keys.push(transit_key(&event.aggregate_id));
            }
            Event::Migration(MigrationEvent::TestMigrationDiscarded(e)) => {
                keys.push(test_copy_key(&e.transfer_id.to_string()));
            }
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationStarted(_)) => {
                let key = optional_key(&event.aggregate_id);
                if let Some(MoverFact::Optional(scheduled)) = known.get(&key) {
                    keys.push(server_key(&scheduled.server_id));
                }
                keys.push(key);
            }
            _ => {}
        }
        keys
    }

    fn react(event: &Envelope, view: &Entries<MoverFact>) -> Result<Vec<MoverCommand>, Missing> {
        let migration_id = || {
            Uuid::parse_str(&event.aggregate_id)
                .map_err(|e| Missing(format!("aggregate id {}: {e}", event.aggregate_id)))
        };
        match &event.event {
            Event::TransitServer(TransitServerEvent::TransitInstallationCompleted(e)) => {
                // The transit server is this event's aggregate: the accounts service
                // may not have recorded the assignment on the migration yet.
                let transfer_id = reaction_id(NAME, event.event_id, "pre-copy");
                pre_copy(
                    view,
                    e.migration_id,
                    Some(&event.aggregate_id),
                    transfer_id,
                    Way::ToTransit,
                )
            }
            Event::Migration(e) => match e {
                MigrationEvent::ServerReinstalled(_) => {
                    let transfer_id = reaction_id(NAME, event.event_id, "pre-copy");
                    pre_copy(view, migration_id()?, None, transfer_id, Way::ToClient)
                }
                MigrationEvent::PreCopyRetried(e) => {
                    let way = match e.destination {
                        PreCopyDestination::TransitServer => Way::ToTransit,
                        PreCopyDestination::ClientServer => Way::ToClient,
                    };
                    pre_copy(view, migration_id()?, None, e.transfer_id, way)
                }
                MigrationEvent::AccountTransferAborted(e) => {
                    Ok(vec![MoverCommand::AbortTransfer {
                        transfer_id: e.transfer_id,
                        reason: e.reason.clone(),
                    }])
                }
                MigrationEvent::AccountMoveStarted(e) => account_transfer(
                    view,
                    migration_id()?,
                    &e.account_id,
                    e.transfer_id,
                    TransferKind::Cutover,
                ),
                MigrationEvent::AccountRollbackStarted(e) => account_transfer(
                    view,
                    migration_id()?,
                    &e.account_id,
                    e.transfer_id,
                    TransferKind::Rollback,
                ),
                MigrationEvent::AccountRelocationStarted(e) => account_transfer(
                    view,
                    migration_id()?,
                    &e.account_id,
                    e.transfer_id,
                    TransferKind::Relocation,
                ),
                MigrationEvent::TestMigrationRequested(e) => {
                    test_copy(view, migration_id()?, &e.account_id, e.transfer_id)
                }
                MigrationEvent::TestMigrationDiscarded(e) => Ok(view
                    .get(&test_copy_key(&e.transfer_id.to_string()))
                    .and_then(|fact| match fact {
                        MoverFact::TestCopy(scheduled) => {
                            Some(MoverCommand::DiscardTestCopy(scheduled.clone()))
                        }
                        _ => None,
                    })
                    .into_iter()
                    .collect()),
                // Every way a migration stops using its pre-copies: cancelled, back to
                // step 1 with its transit server given up, or completed.
                MigrationEvent::MigrationCancelled(_)
                | MigrationEvent::ObsoleteLanguagesRestored(_)
                | MigrationEvent::MigrationCompleted(_) => {
                    tear_down_pre_copies(view, migration_id()?)
                }
                _ => Ok(Vec::new()),
            },
            Event::OptionalMigration(OptionalMigrationEvent::OptionalMigrationStarted(e)) => {
                service_migration(view, migration_id()?, e.transfer_id)
            }
            Event::TransitServer(TransitServerEvent::TransitServerWipeStarted(_)) => wipe(
                view,
                &event.aggregate_id,
                reaction_id(NAME, event.event_id, "wipe"),
            ),
            _ => Ok(Vec::new()),
        }
    }
}

/// The two ends of a migration's transfer, and the server's accounts. The transit
/// server is the one recorded on the migration, unless the caller knows it.
fn migration_ends(
    view: &Entries<MoverFact>,
    migration_id: Uuid,
    transit: Option<&str>,
    way: Way,
) -> Result<(String, Vec<AccountSpec>, Endpoint, Endpoint), Missing> {
    let (Some(server_id), Some(transit_id)) =
        (match view.get(&migration_key(&migration_id.to_string())) {
            Some(MoverFact::Migration {
                server_id,
                transit_server_id,
            }) => (server_id.as_ref(), transit.or(transit_server_id.as_deref())),
            _ => (None, transit),
        })
    else {
        return Err(Missing(format!(
            "migration {migration_id} has no server or no transit server"
        )));
    };
    let (
        Some(MoverFact::Server {
            storage: Some(client),
            accounts,
            ..
        }),
        Some(MoverFact::Transit {
            storage: transit, ..
        }),
    ) = (
        view.get(&server_key(server_id)),
        view.get(&transit_key(transit_id)),
    )
    else {
        return Err(Missing(format!(
            "no storage known for {server_id} or {transit_id}"
        )));
    };
    let client = Endpoint {
        server_id: server_id.clone(),
        storage: client.clone(),
    };
    let transit = Endpoint {
        server_id: transit_id.to_owned(),
        storage: transit.clone(),
    };
    let accounts = accounts.values().cloned().collect();
    Ok(match way {
        Way::ToTransit => (server_id.clone(), accounts, client, transit),
        Way::ToClient => (server_id.clone(), accounts, transit, client),
    })
}

/// A pre-copy of every account of the migration's server (none without accounts).
fn pre_copy(
    view: &Entries<MoverFact>,
    migration_id: Uuid,
    transit: Option<&str>,
    transfer_id: Uuid,
    way: Way,
) -> Result<Vec<MoverCommand>, Missing> {
    let (server_id, accounts, source, destination) =
        migration_ends(view, migration_id, transit, way)?;
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![MoverCommand::Schedule(TransferScheduled {
        transfer_id,
        kind: TransferKind::PreCopy,
        migration_id: Some(migration_id),
        server_id,
        accounts,
        source,
        destination,
    })])
}

/// One account's cutover, rollback or relocation.
fn account_transfer(
    view: &Entries<MoverFact>,
    migration_id: Uuid,
    account_id: &str,
    transfer_id: Uuid,
    kind: TransferKind,
) -> Result<Vec<MoverCommand>, Missing> {
    let way = if kind == TransferKind::Cutover {
        Way::ToTransit
    } else {
        Way::ToClient
    };
    let (server_id, accounts, source, destination) = migration_ends(view, migration_id, None, way)?;
    let Some(account) = accounts.into_iter().find(|a| a.account_id == account_id) else {
        return Err(Missing(format!(
            "account {account_id} is not on server {server_id}"
        )));
    };
    Ok(vec![MoverCommand::Schedule(TransferScheduled {
        transfer_id,
        kind,
        migration_id: Some(migration_id),
        server_id,
        accounts: vec![account],
        source,
        destination,
    })])
}

/// A test copy of an account's databases, from the client server.
fn test_copy(
    view: &Entries<MoverFact>,
    migration_id: Uuid,
    account_id: &str,
    transfer_id: Uuid,
) -> Result<Vec<MoverCommand>, Missing> {
    let Some(MoverFact::Migration {
        server_id: Some(server_id),
        ..
    }) = view.get(&migration_key(&migration_id.to_string()))
    else {
        return Err(Missing(format!(
            "migration {migration_id} was never opened"
        )));
    };
    let Some(MoverFact::Server {
        storage: Some(storage),
        accounts,
        ..
    }) = view.get(&server_key(server_id))
    else {
        return Err(Missing(format!("no storage known on {server_id}")));
    };
    let Some(account) = accounts.get(account_id) else {
        return Err(Missing(format!(
            "no account {account_id} known on {server_id}"
        )));
    };
    let source = Endpoint {
        server_id: server_id.clone(),
        storage: storage.clone(),
    };
    Ok(vec![MoverCommand::ScheduleTestCopy(TransferScheduled {
        transfer_id,
        kind: TransferKind::TestCopy,
        migration_id: Some(migration_id),
        server_id: server_id.clone(),
        accounts: vec![account.clone()],
        destination: source.clone(),
        source,
    })])
}

/// A migration that stops using its pre-copies keeps no replication running for them,
/// in either direction. Never given a transit server: nothing was set up.
fn tear_down_pre_copies(
    view: &Entries<MoverFact>,
    migration_id: Uuid,
) -> Result<Vec<MoverCommand>, Missing> {
    let assigned = matches!(
        view.get(&migration_key(&migration_id.to_string())),
        Some(MoverFact::Migration {
            transit_server_id: Some(_),
            ..
        })
    );
    if !assigned {
        return Ok(Vec::new());
    }
    [Way::ToTransit, Way::ToClient]
        .into_iter()
        .map(|way| {
            let (server_id, accounts, source, destination) =
                migration_ends(view, migration_id, None, way)?;
            Ok(MoverCommand::TearDownReplications(TransferScheduled {
                transfer_id: migration_id,
                kind: TransferKind::PreCopy,
                migration_id: Some(migration_id),
                server_id,
                accounts,
                source,
                destination,
            }))
        })
        .collect()
}

/// A transit server's wipe: what ferry copied there since its last wipe, erased.
fn wipe(
    view: &Entries<MoverFact>,
    transit_server_id: &str,
    transfer_id: Uuid,
) -> Result<Vec<MoverCommand>, Missing> {
    let Some(MoverFact::Transit { storage, accounts }) = view.get(&transit_key(transit_server_id))
    else {
        return Err(Missing(format!(
            "transit server {transit_server_id} is wiped but its storage is unknown"
        )));
    };
    let server = Endpoint {
        server_id: transit_server_id.to_owned(),
        storage: storage.clone(),
    };
    Ok(vec![MoverCommand::Schedule(TransferScheduled {
        transfer_id,
        kind: TransferKind::Wipe,
        migration_id: None,
        server_id: transit_server_id.to_owned(),
        accounts: accounts.values().cloned().collect(),
        source: server.clone(),
        destination: server,
    })])
}

/// The service's databases to its new version's server: the accounts using it (all
/// of them when none does, so that the optional migration still gets its outcome).
fn service_migration(
    view: &Entries<MoverFact>,
    optional_id: Uuid,
    transfer_id: Uuid,
) -> Result<Vec<MoverCommand>, Missing> {
    let Some(MoverFact::Optional(optional)) = view.get(&optional_key(&optional_id.to_string()))
    else {
        return Err(Missing(format!(
            "optional migration {optional_id} was never scheduled"
        )));
    };
    let Some(MoverFact::Server {
        storage: Some(storage),
        accounts,
        ..
    }) = view.get(&server_key(&optional.server_id))
    else {
        return Err(Missing(format!(
            "no storage known for {}",
            optional.server_id
        )));
    };
    let engine = engine_of(optional.service);
    let all: Vec<AccountSpec> = accounts.values().cloned().collect();
    let users: Vec<AccountSpec> = all
        .iter()
        .filter(|a| engine.is_some_and(|e| a.databases.iter().any(|d| d.engine == e)))
        .cloned()
        .collect();
    let accounts = if users.is_empty() { all } else { users };
    Ok(vec![MoverCommand::ScheduleServiceMigration {
        transfer: TransferScheduled {
            transfer_id,
            kind: TransferKind::ServiceMigration,
            migration_id: Some(optional_id),
            server_id: optional.server_id.clone(),
            accounts,
            source: Endpoint {
                server_id: optional.server_id.clone(),
                storage: storage.clone(),
            },
            destination: Endpoint {
                server_id: format!("{:?}-{}", optional.service, optional.to_version).to_lowercase(),
                storage: storage.clone(),
            },
        },
        service: optional.service,
        to_version: optional.to_version.clone(),
    }])
}
