//! Transit servers: each server of the pool with its state and holder
//! ([`TransitServerView`]), and, seen from a migration, the transit server it holds
//! ([`TransitAssignment`]) and its wait in the queue ([`QueueWait`]).

use chrono::{DateTime, Utc};
use ferry_events::{ServerStorage, TransitQueueEvent, TransitServerAdded, TransitServerEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;

/// Where a transit server stands in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitState {
    /// Free to be lent.
    Free,
    /// Set aside for a migration.
    Reserved,
    /// Being installed for a migration (hours; pre-copies files and mails).
    Installing,
    /// Installed, not yet handed over.
    Installed,
    /// Its installation failed; still reserved.
    InstallationFailed,
    /// Lent to a migration's customer.
    Lent,
    /// Given back by its migration, not yet wiped.
    Released,
    /// Being erased.
    Wiping,
    /// Not to be lent (maintenance, fault).
    OutOfService,
}

impl TransitState {
    /// Snake-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitState::Free => "free",
            TransitState::Reserved => "reserved",
            TransitState::Installing => "installing",
            TransitState::Installed => "installed",
            TransitState::InstallationFailed => "installation_failed",
            TransitState::Lent => "lent",
            TransitState::Released => "released",
            TransitState::Wiping => "wiping",
            TransitState::OutOfService => "out_of_service",
        }
    }
}

/// A transit server of the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransitServerView {
    /// Its id, e.g. `tr-0007`.
    pub transit_server_id: String,
    /// Its host name.
    pub name: String,
    /// Its hardware configuration.
    pub configuration: String,
    /// The infrastructure version it runs (the last one installed).
    pub infrastructure_version: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<String>,
    /// Where accounts' data lives on it.
    #[schema(value_type = Object)]
    pub storage: ServerStorage,
    /// Its state.
    pub state: TransitState,
    /// Since when it is in that state.
    pub since: DateTime<Utc>,
    /// The migration holding it (reserved, installing, installed or lent).
    pub migration_id: Option<Uuid>,
    /// The client server of that migration.
    pub client_server_id: Option<String>,
    /// The migration that held it last.
    pub last_migration_id: Option<Uuid>,
    /// When the current loan started.
    pub lent_at: Option<DateTime<Utc>>,
    /// Expected duration of the installation under way, in milliseconds.
    pub expected_installation_ms: Option<u64>,
    /// Why the last installation failed, or why it is out of service.
    pub problem: Option<String>,
    /// Whether its configuration's queue counts it as free to lend.
    pub lendable: bool,
    /// Number of loans it made.
    pub loans: u32,
    /// When it joined the pool.
    pub added_at: DateTime<Utc>,
}

impl TransitServerView {
    /// A server joining the pool.
    pub fn added(transit_server_id: &str, event: &TransitServerAdded, at: At) -> Self {
        Self {
            transit_server_id: transit_server_id.to_owned(),
            name: event.name.clone(),
            configuration: event.configuration.clone(),
            infrastructure_version: event.infrastructure_version.clone(),
            ipv4: event.ipv4.clone(),
            ipv6: event.ipv6.clone(),
            // Answers and read models show no password: masked before it is kept.
            storage: event.storage.redacted(),
            state: TransitState::Free,
            since: at.occurred_at,
            migration_id: None,
            client_server_id: None,
            last_migration_id: None,
            lent_at: None,
            expected_installation_ms: None,
            problem: None,
            lendable: false,
            loans: 0,
            added_at: at.occurred_at,
        }
    }

    fn enter(&mut self, state: TransitState, at: At) {
        if self.state != state {
            self.state = state;
            self.since = at.occurred_at;
        }
    }

    fn free(&mut self, at: At) {
        self.enter(TransitState::Free, at);
        self.migration_id = None;
        self.client_server_id = None;
        self.lent_at = None;
        self.expected_installation_ms = None;
    }

    /// Folds one event of the transit server.
    pub fn apply(&mut self, event: &TransitServerEvent, at: At) {
        match event {
            TransitServerEvent::TransitServerAdded(e) => {
                *self = Self {
                    added_at: self.added_at,
                    loans: self.loans,
                    ..Self::added(&self.transit_server_id, e, at)
                };
            }
            TransitServerEvent::TransitServerReserved(e) => {
                self.migration_id = Some(e.migration_id);
                self.last_migration_id = Some(e.migration_id);
                self.client_server_id = Some(e.client_server_id.clone());
                self.problem = None;
                self.lendable = false;
                self.enter(TransitState::Reserved, at);
            }
            TransitServerEvent::TransitInstallationStarted(e) => {
                self.infrastructure_version = e.infrastructure_version.clone();
                self.expected_installation_ms = Some(e.expected_duration_ms);
                self.problem = None;
                self.enter(TransitState::Installing, at);
            }
            TransitServerEvent::TransitInstallationCompleted(_) => {
                self.enter(TransitState::Installed, at);
            }
            TransitServerEvent::TransitInstallationFailed(e) => {
                self.problem = Some(e.reason.clone());
                self.enter(TransitState::InstallationFailed, at);
            }
            TransitServerEvent::TransitServerLent(e) => {
                self.migration_id = Some(e.migration_id);
                self.last_migration_id = Some(e.migration_id);
                self.lent_at = Some(e.lent_at);
                self.loans = self.loans.saturating_add(1);
                self.enter(TransitState::Lent, at);
            }
            TransitServerEvent::TransitServerReleased(_) => {
                self.migration_id = None;
                self.client_server_id = None;
                self.lent_at = None;
                self.enter(TransitState::Released, at);
            }
            TransitServerEvent::TransitServerWipeStarted(_) => {
                self.enter(TransitState::Wiping, at);
            }
            TransitServerEvent::TransitServerWiped(_) => self.free(at),
            TransitServerEvent::TransitServerTakenOutOfService(e) => {
                self.problem = Some(e.reason.clone());
                self.lendable = false;
                self.enter(TransitState::OutOfService, at);
            }
            TransitServerEvent::TransitServerReturnedToService(_) => {
                self.problem = None;
                self.free(at);
            }
        }
    }

    /// Folds an event of its configuration's queue that names it.
    pub fn apply_queue(&mut self, event: &TransitQueueEvent) {
        match event {
            TransitQueueEvent::TransitServerAvailable(_) => self.lendable = true,
            TransitQueueEvent::TransitServerWithdrawn(_)
            | TransitQueueEvent::TransitRequestServed(_) => self.lendable = false,
            _ => {}
        }
    }
}

/// The transit server a migration holds, seen from the migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransitAssignment {
    /// The transit server.
    pub transit_server_id: String,
    /// When the pool reserved it for the migration.
    pub reserved_at: Option<DateTime<Utc>>,
    /// When the migration recorded it as assigned (step 3).
    pub assigned_at: Option<DateTime<Utc>>,
    /// When its installation started.
    pub installation_started_at: Option<DateTime<Utc>>,
    /// Expected installation duration, in milliseconds.
    pub expected_installation_ms: Option<u64>,
    /// When its installation completed.
    pub installed_at: Option<DateTime<Utc>>,
    /// Why its installation failed.
    pub installation_failure: Option<String>,
    /// When the loan started.
    pub lent_at: Option<DateTime<Utc>>,
    /// When the migration recorded it as ready (step 4).
    pub ready_at: Option<DateTime<Utc>>,
    /// When the client server's IPs were rerouted to it (step 6).
    pub ips_rerouted_at: Option<DateTime<Utc>>,
    /// When the queue recorded the end of the assignment.
    pub assignment_ended_at: Option<DateTime<Utc>>,
    /// When it was given back (the loan ends).
    pub released_at: Option<DateTime<Utc>>,
}

impl TransitAssignment {
    /// A transit server newly bound to the migration.
    pub fn new(transit_server_id: &str) -> Self {
        Self {
            transit_server_id: transit_server_id.to_owned(),
            reserved_at: None,
            assigned_at: None,
            installation_started_at: None,
            expected_installation_ms: None,
            installed_at: None,
            installation_failure: None,
            lent_at: None,
            ready_at: None,
            ips_rerouted_at: None,
            assignment_ended_at: None,
            released_at: None,
        }
    }

    /// When the loan started: the lending time, or the ready time when the pool's
    /// lending was not seen.
    pub fn loan_started_at(&self) -> Option<DateTime<Utc>> {
        self.lent_at.or(self.ready_at)
    }

    /// Folds an event of the transit server about this migration.
    pub fn apply(&mut self, event: &TransitServerEvent, at: At) {
        match event {
            TransitServerEvent::TransitServerReserved(_) => self.reserved_at = Some(at.occurred_at),
            TransitServerEvent::TransitInstallationStarted(e) => {
                self.installation_started_at = Some(at.occurred_at);
                self.expected_installation_ms = Some(e.expected_duration_ms);
                self.installation_failure = None;
            }
            TransitServerEvent::TransitInstallationCompleted(_) => {
                self.installed_at = Some(at.occurred_at);
            }
            TransitServerEvent::TransitInstallationFailed(e) => {
                self.installation_failure = Some(e.reason.clone());
            }
            TransitServerEvent::TransitServerLent(e) => self.lent_at = Some(e.lent_at),
            TransitServerEvent::TransitServerReleased(_) => self.released_at = Some(at.occurred_at),
            _ => {}
        }
    }
}

/// A migration's wait in its configuration's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueueWait {
    /// The configuration waited for (the queue).
    pub configuration: String,
    /// When the transit server was requested (the order of service).
    pub requested_at: Option<DateTime<Utc>>,
    /// When the queue recorded the request.
    pub queued_at: Option<DateTime<Utc>>,
    /// Place in the queue when queued, 1 being the next served.
    pub position_when_queued: Option<u32>,
    /// When a transit server was found for it.
    pub served_at: Option<DateTime<Utc>>,
    /// The transit server it was served.
    pub served_with: Option<String>,
    /// When it left the queue unserved.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Why it left the queue unserved.
    pub withdrawn_reason: Option<String>,
}

impl QueueWait {
    /// A wait in the queue of `configuration`.
    pub fn new(configuration: &str) -> Self {
        Self {
            configuration: configuration.to_owned(),
            requested_at: None,
            queued_at: None,
            position_when_queued: None,
            served_at: None,
            served_with: None,
            withdrawn_at: None,
            withdrawn_reason: None,
        }
    }

    /// True while the migration waits in line.
    pub fn is_waiting(&self) -> bool {
        self.queued_at.is_some() && self.served_at.is_none() && self.withdrawn_at.is_none()
    }
}
