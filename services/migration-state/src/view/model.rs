//! [`ReadModel`]: the views of a batch, and the routing of each event to the views it
//! changes — its own aggregate's view, and the migration (and server summary) it is
//! about: a transit server's events by their `migration_id`, a queue's by theirs, a
//! transfer's through the migration its `TransferScheduled` named.
//!
//! The projection fills a `ReadModel` with the rows a batch needs ([`Needs`]), folds
//! the batch and writes back what [`ReadModel::changed`] lists; the unit tests fold
//! whole histories into one `ReadModel` in memory.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use ferry_events::{
    Envelope, Event, MigrationEvent, OptionalMigrationEvent, ServerEvent,
    TargetInfrastructureEvent, TransferEvent, TransferKind, TransitQueueEvent, TransitServerEvent,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::At;
use super::billing::LoanRecord;
use super::migration::MigrationView;
use super::optional::OptionalMigrationView;
use super::server::ServerView;
use super::target::TargetInfrastructureView;
use super::transit::TransitServerView;

/// Which (required or optional) migration a transfer belongs to, from its
/// `TransferScheduled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLink {
    /// The transfer.
    pub transfer_id: Uuid,
    /// The migration it belongs to.
    pub migration_id: Uuid,
    /// What it is for.
    pub kind: TransferKind,
}

/// A migration waiting in a configuration's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The configuration (the queue).
    pub configuration: String,
    /// The waiting migration.
    pub migration_id: Uuid,
    /// Stream sequence of its `TransitRequestQueued`: the order of service.
    pub queued_sequence: u64,
    /// Its client server.
    pub client_server_id: String,
    /// When the transit server was requested.
    pub requested_at: DateTime<Utc>,
}

/// The keys of every view a batch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Servers.
    pub servers: BTreeSet<String>,
    /// Migrations.
    pub migrations: BTreeSet<Uuid>,
    /// Transit servers.
    pub transit_servers: BTreeSet<String>,
    /// Target infrastructures.
    pub targets: BTreeSet<String>,
    /// Optional migrations.
    pub optional_migrations: BTreeSet<Uuid>,
    /// Transfer links.
    pub transfers: BTreeSet<Uuid>,
}

/// The rows a batch of events reads (and may change), by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Servers.
    pub servers: BTreeSet<String>,
    /// Migrations.
    pub migrations: BTreeSet<Uuid>,
    /// Transit servers.
    pub transit_servers: BTreeSet<String>,
    /// Target infrastructures.
    pub targets: BTreeSet<String>,
    /// Optional migrations.
    pub optional_migrations: BTreeSet<Uuid>,
    /// Transfer links.
    pub transfers: BTreeSet<Uuid>,
}

impl Needs {
    /// What the events name directly. The projection adds what the loaded rows name
    /// in turn: the migrations of the transfers, the servers of the migrations.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Self {
        let mut needs = Needs::default();
        for envelope in events {
            let id = envelope.aggregate_id.as_str();
            match &envelope.event {
                Event::Server(_) => {
                    needs.servers.insert(id.to_owned());
                }
                Event::TargetInfrastructure(_) => {
                    needs.targets.insert(id.to_owned());
                }
                Event::Migration(event) => {
                    if let MigrationEvent::MigrationOpened(e) = event {
                        needs.migrations.insert(e.migration_id);
                        needs.servers.insert(e.server_id.clone());
                    }
                    needs.migrations.extend(Uuid::parse_str(id).ok());
                }
                Event::OptionalMigration(event) => {
                    if let OptionalMigrationEvent::OptionalMigrationScheduled(e) = event {
                        needs.optional_migrations.insert(e.optional_migration_id);
                    }
                    needs.optional_migrations.extend(Uuid::parse_str(id).ok());
                }
                Event::TransitServer(event) => {
                    needs.transit_servers.insert(id.to_owned());
                    needs.migrations.extend(transit_migration(event));
                }
                Event::TransitQueue(event) => {
                    let (migration, transit) = queue_subjects(event);
                    needs.migrations.extend(migration);
                    needs.transit_servers.extend(transit.map(str::to_owned));
                }
                Event::DnsZone(_) | Event::AccountTraffic(_) | Event::IpRoute(_) => {
                    needs.migrations.insert(envelope.correlation_id);
                }
                Event::Loan(_) => {
                    needs.migrations.extend(Uuid::parse_str(id).ok());
                }
                Event::Transfer(event) => {
                    needs.transfers.extend(Uuid::parse_str(id).ok());
                    if let TransferEvent::TransferScheduled(e) = event {
                        needs.migrations.extend(e.migration_id);
                        needs.optional_migrations.extend(e.migration_id);
                    }
                }
                _ => {}
            }
        }
        needs
    }
}

/// The migration a transit server's event is about, if any.
pub fn transit_migration(event: &TransitServerEvent) -> Option<Uuid> {
    use TransitServerEvent as E;
    match event {
        E::TransitServerReserved(e) => Some(e.migration_id),
        E::TransitInstallationStarted(e) => Some(e.migration_id),
        E::TransitInstallationCompleted(e) => Some(e.migration_id),
        E::TransitInstallationFailed(e) => Some(e.migration_id),
        E::TransitServerLent(e) => Some(e.migration_id),
        E::TransitServerReleased(e) => Some(e.migration_id),
        E::TransitServerAdded(_)
        | E::TransitServerWipeStarted(_)
        | E::TransitServerWiped(_)
        | E::TransitServerTakenOutOfService(_)
        | E::TransitServerReturnedToService(_) => None,
    }
}

/// The migration and the transit server a queue's event names.
pub fn queue_subjects(event: &TransitQueueEvent) -> (Option<Uuid>, Option<&str>) {
    use TransitQueueEvent as E;
    match event {
        E::TransitRequestQueued(e) => (Some(e.migration_id), None),
        E::TransitRequestServed(e) => (Some(e.migration_id), Some(&e.transit_server_id)),
        E::TransitRequestWithdrawn(e) => (Some(e.migration_id), None),
        E::TransitServerAvailable(e) => (None, Some(&e.transit_server_id)),
        E::TransitServerWithdrawn(e) => (None, Some(&e.transit_server_id)),
        E::TransitAssignmentEnded(e) => (Some(e.migration_id), Some(&e.transit_server_id)),
    }
}

/// The views of a batch (or, in tests, of a whole history).
#[derive(Debug, Clone, Default)]
pub struct ReadModel {
    /// Servers by id.
    pub servers: BTreeMap<String, ServerView>,
    /// Migrations by id.
    pub migrations: BTreeMap<Uuid, MigrationView>,
    /// Transit servers by id.
    pub transit_servers: BTreeMap<String, TransitServerView>,
    /// Target infrastructures by version.
    pub targets: BTreeMap<String, TargetInfrastructureView>,
    /// Optional migrations by id.
    pub optional_migrations: BTreeMap<Uuid, OptionalMigrationView>,
    /// Transfer links by transfer id.
    pub transfers: BTreeMap<Uuid, TransferLink>,
    /// Queue entries by (configuration, migration) changed in this batch: `Some` waits,
    /// `None` left the queue. Folding a whole history, the `Some` entries are the queue.
    pub queue: BTreeMap<(String, Uuid), Option<QueueEntry>>,
    /// What changed.
    pub changed: Changed,
}

impl ReadModel {
    /// Folds one event, at `sequence` in the log.
    pub fn apply(&mut self, sequence: u64, envelope: &Envelope) {
        let at = At {
            sequence,
            occurred_at: envelope.occurred_at,
        };
        let id = envelope.aggregate_id.as_str();
        match &envelope.event {
            Event::Server(event) => self.apply_server(id, event, at),
            Event::TargetInfrastructure(event) => self.apply_target(id, event, at),
            Event::Migration(event) => self.apply_migration(id, event, at),
            Event::OptionalMigration(event) => self.apply_optional(id, event, at),
            Event::TransitServer(event) => self.apply_transit(id, event, at),
            Event::TransitQueue(event) => self.apply_queue(id, event, at),
            Event::Transfer(event) => self.apply_transfer(id, event, at),
            Event::DnsZone(_) | Event::AccountTraffic(_) | Event::IpRoute(_) => {
                self.apply_network(envelope, at);
            }
            Event::Loan(event) => self.apply_loan(id, event),
            _ => {}
        }
    }

    /// Billing's record of a migration's loan (aggregate id: the migration).
    fn apply_loan(&mut self, id: &str, event: &ferry_events::LoanEvent) {
        let Ok(migration_id) = Uuid::parse_str(id) else {
            return;
        };
        let Some(migration) = self.migrations.get_mut(&migration_id) else {
            return;
        };
        let before = migration.loan.take();
        migration.loan = LoanRecord::fold(before, event);
        self.changed.migrations.insert(migration_id);
    }

    /// The network's events recorded as part of a migration (their correlation).
    fn apply_network(&mut self, envelope: &Envelope, at: At) {
        let migration_id = envelope.correlation_id;
        let Some(migration) = self.migrations.get_mut(&migration_id) else {
            return;
        };
        match &envelope.event {
            Event::DnsZone(event) => migration.network.apply_dns(event, at),
            Event::AccountTraffic(event) => {
                migration
                    .network
                    .apply_traffic(&envelope.aggregate_id, event);
            }
            Event::IpRoute(event) => migration.network.apply_route(event, at),
            _ => return,
        }
        self.changed.migrations.insert(migration_id);
    }

    /// The migrations waiting for `configuration`, first served first (meaningful when
    /// the model folded the whole history).
    pub fn waiting(&self, configuration: &str) -> Vec<&QueueEntry> {
        let mut entries: Vec<&QueueEntry> = self
            .queue
            .values()
            .flatten()
            .filter(|e| e.configuration == configuration)
            .collect();
        entries.sort_by_key(|e| e.queued_sequence);
        entries
    }

    fn apply_server(&mut self, id: &str, event: &ServerEvent, at: At) {
        match (self.servers.get_mut(id), event) {
            (Some(server), _) => server.apply(event, at),
            (None, ServerEvent::ServerRegistered(e)) => {
                self.servers
                    .insert(id.to_owned(), ServerView::registered(e, at));
            }
            (None, _) => return,
        }
        self.changed.servers.insert(id.to_owned());
    }

    fn apply_target(&mut self, id: &str, event: &TargetInfrastructureEvent, at: At) {
        match (self.targets.get_mut(id), event) {
            (Some(target), _) => target.apply(event, at),
            (None, TargetInfrastructureEvent::InfrastructureVersionPublished(e)) => {
                self.targets
                    .insert(id.to_owned(), TargetInfrastructureView::published(e, at));
            }
            (None, _) => return,
        }
        self.changed.targets.insert(id.to_owned());
    }

    fn apply_migration(&mut self, id: &str, event: &MigrationEvent, at: At) {
        let (migration_id, opened) = match event {
            MigrationEvent::MigrationOpened(e) => (e.migration_id, true),
            _ => match Uuid::parse_str(id) {
                Ok(migration_id) => (migration_id, false),
                Err(_) => return,
            },
        };
        let migration = match (self.migrations.get_mut(&migration_id), event) {
            (Some(migration), _) => {
                migration.apply(event, at);
                migration
            }
            (None, MigrationEvent::MigrationOpened(e)) => self
                .migrations
                .entry(migration_id)
                .or_insert(MigrationView::open(e, at)),
            (None, _) => return,
        };
        self.changed.migrations.insert(migration_id);
        if let Some(server) = self.servers.get_mut(&migration.server_id) {
            let before = server.migration.clone();
            server.follow(migration, opened);
            if server.migration != before {
                self.changed.servers.insert(server.server_id.clone());
            }
        }
    }

    fn apply_optional(&mut self, id: &str, event: &OptionalMigrationEvent, at: At) {
        let optional_id = match event {
            OptionalMigrationEvent::OptionalMigrationScheduled(e) => e.optional_migration_id,
            _ => match Uuid::parse_str(id) {
                Ok(optional_id) => optional_id,
                Err(_) => return,
            },
        };
        match (self.optional_migrations.get_mut(&optional_id), event) {
            (Some(optional), _) => optional.apply(event, at),
            (None, OptionalMigrationEvent::OptionalMigrationScheduled(e)) => {
                self.optional_migrations
                    .insert(optional_id, OptionalMigrationView::scheduled(e, at));
            }
            (None, _) => return,
        }
        self.changed.optional_migrations.insert(optional_id);
    }

    fn apply_transit(&mut self, id: &str, event: &TransitServerEvent, at: At) {
        match (self.transit_servers.get_mut(id), event) {
            (Some(transit), _) => {
                transit.apply(event, at);
                self.changed.transit_servers.insert(id.to_owned());
            }
            (None, TransitServerEvent::TransitServerAdded(e)) => {
                self.transit_servers
                    .insert(id.to_owned(), TransitServerView::added(id, e, at));
                self.changed.transit_servers.insert(id.to_owned());
            }
            (None, _) => {}
        }
        if let Some(migration_id) = transit_migration(event)
            && let Some(migration) = self.migrations.get_mut(&migration_id)
        {
            migration.apply_transit(id, event, at);
            self.changed.migrations.insert(migration_id);
        }
    }

    fn apply_queue(&mut self, configuration: &str, event: &TransitQueueEvent, at: At) {
        let (migration_id, transit_id) = queue_subjects(event);
        match event {
            TransitQueueEvent::TransitRequestQueued(e) => {
                let entry = QueueEntry {
                    configuration: configuration.to_owned(),
                    migration_id: e.migration_id,
                    queued_sequence: at.sequence,
                    client_server_id: e.client_server_id.clone(),
                    requested_at: e.requested_at,
                };
                self.queue
                    .insert((configuration.to_owned(), e.migration_id), Some(entry));
            }
            TransitQueueEvent::TransitRequestServed(e) => {
                self.queue
                    .insert((configuration.to_owned(), e.migration_id), None);
            }
            TransitQueueEvent::TransitRequestWithdrawn(e) => {
                self.queue
                    .insert((configuration.to_owned(), e.migration_id), None);
            }
            _ => {}
        }
        if let Some(transit_id) = transit_id
            && let Some(transit) = self.transit_servers.get_mut(transit_id)
        {
            transit.apply_queue(event);
            self.changed.transit_servers.insert(transit_id.to_owned());
        }
        if let Some(migration_id) = migration_id
            && let Some(migration) = self.migrations.get_mut(&migration_id)
        {
            migration.apply_queue(configuration, event, at);
            self.changed.migrations.insert(migration_id);
        }
    }

    fn apply_transfer(&mut self, id: &str, event: &TransferEvent, at: At) {
        let Ok(transfer_id) = Uuid::parse_str(id) else {
            return;
        };
        if let TransferEvent::TransferScheduled(e) = event
            && let Some(migration_id) = e.migration_id
        {
            self.transfers.insert(
                transfer_id,
                TransferLink {
                    transfer_id,
                    migration_id,
                    kind: e.kind,
                },
            );
            self.changed.transfers.insert(transfer_id);
        }
        let Some(migration_id) = self.transfers.get(&transfer_id).map(|l| l.migration_id) else {
            return;
        };
        if let Some(migration) = self.migrations.get_mut(&migration_id) {
            migration.apply_transfer(transfer_id, event, at);
            self.changed.migrations.insert(migration_id);
        } else if let Some(optional) = self.optional_migrations.get_mut(&migration_id) {
            optional.apply_transfer(transfer_id, event, at);
            self.changed.optional_migrations.insert(migration_id);
        }
    }
}
