//! One transit server of the pool (aggregate `transit_server`, id e.g. `tr-0007`): its
//! details and its life cycle.
//!
//! ```text
//! available → reserved → installing → installed → lent → (released) wiping → available
//!                          ↓    ↑ retry
//!                   installation_failed            available ⇄ out_of_service
//! ```
//!
//! A transit server follows the decisions of its configuration's queue: it is reserved
//! for the migration the queue served, and released when the queue ends that
//! assignment. Customers never command transit servers; support adds them, takes them
//! out of service and back, and retries a failed installation.
//!
//! Emits every event of [`ferry_events::transit_server`].

use chrono::{DateTime, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    Actor, ActorRole, AggregateType, Event, ServerStorage, TransitInstallationCompleted,
    TransitInstallationFailed, TransitInstallationStarted, TransitServerAdded, TransitServerEvent,
    TransitServerLent, TransitServerReleased, TransitServerReserved,
    TransitServerReturnedToService, TransitServerTakenOutOfService, TransitServerWipeStarted,
    TransitServerWiped, validate_aggregate_id,
};
use std::fmt;
use uuid::Uuid;

/// The decider of the `transit_server` aggregate.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransitServerDecider;

/// The state of one transit server, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransitServer {
    /// Its details as added; `None` while it is not in the pool.
    pub details: Option<TransitServerAdded>,
    /// Where it is in its life cycle.
    pub status: Status,
}

impl TransitServer {
    /// Its configuration, once added.
    pub fn configuration(&self) -> Option<&str> {
        self.details.as_ref().map(|d| d.configuration.as_str())
    }
}

/// Where a transit server is in its life cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Status {
    /// Not in the pool.
    #[default]
    Unknown,
    /// Free to be lent.
    Available,
    /// Set aside for a migration; its installation starts in the same command.
    Reserved {
        /// The migration.
        migration_id: Uuid,
        /// The client server being migrated.
        client_server_id: String,
    },
    /// Being installed for a migration (hours; files and mails pre-copied).
    Installing {
        /// The migration.
        migration_id: Uuid,
        /// The client server being migrated.
        client_server_id: String,
        /// The infrastructure version being installed.
        infrastructure_version: String,
        /// Expected duration, in milliseconds.
        expected_duration_ms: u64,
    },
    /// Installed for a migration, waiting for the data mover's pre-copy.
    Installed {
        /// The migration.
        migration_id: Uuid,
        /// The client server being migrated.
        client_server_id: String,
    },
    /// The installation failed; still reserved for the migration until retried or
    /// released.
    InstallationFailed {
        /// The migration.
        migration_id: Uuid,
        /// The client server being migrated.
        client_server_id: String,
        /// The infrastructure version that was being installed.
        infrastructure_version: String,
        /// The expected duration of that installation, in milliseconds.
        expected_duration_ms: u64,
        /// Why, for support.
        reason: String,
    },
    /// Lent to the migration's customer.
    Lent {
        /// The migration.
        migration_id: Uuid,
        /// The client server being migrated.
        client_server_id: String,
        /// When the loan started.
        since: DateTime<Utc>,
    },
    /// Released by its migration, its data being erased.
    Wiping,
    /// Not to be lent (maintenance, hardware fault).
    OutOfService {
        /// Why, for support.
        reason: String,
    },
}

impl Status {
    /// The migration holding the server, if one does.
    pub fn holder(&self) -> Option<Uuid> {
        match self {
            Status::Reserved { migration_id, .. }
            | Status::Installing { migration_id, .. }
            | Status::Installed { migration_id, .. }
            | Status::InstallationFailed { migration_id, .. }
            | Status::Lent { migration_id, .. } => Some(*migration_id),
            Status::Unknown | Status::Available | Status::Wiping | Status::OutOfService { .. } => {
                None
            }
        }
    }

    /// The client server of the migration holding the server, if one does.
    fn client_server(&self) -> Option<&str> {
        match self {
            Status::Reserved {
                client_server_id, ..
            }
            | Status::Installing {
                client_server_id, ..
            }
            | Status::Installed {
                client_server_id, ..
            }
            | Status::InstallationFailed {
                client_server_id, ..
            }
            | Status::Lent {
                client_server_id, ..
            } => Some(client_server_id),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Unknown => f.write_str("not in the pool"),
            Status::Available => f.write_str("available"),
            Status::Reserved { migration_id, .. } => {
                write!(f, "reserved for migration {migration_id}")
            }
            Status::Installing { migration_id, .. } => {
                write!(f, "being installed for migration {migration_id}")
            }
            Status::Installed { migration_id, .. } => {
                write!(f, "installed for migration {migration_id}")
            }
            Status::InstallationFailed { migration_id, .. } => {
                write!(f, "failed to install for migration {migration_id}")
            }
            Status::Lent { migration_id, .. } => write!(f, "lent to migration {migration_id}"),
            Status::Wiping => f.write_str("being wiped"),
            Status::OutOfService { reason } => write!(f, "out of service ({reason})"),
        }
    }
}

/// A command to a transit server, with who gives it (the role decides what is allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitServerCommand {
    /// Who asks.
    pub actor: Actor,
    /// What is asked.
    pub action: TransitServerAction,
}

/// What can be asked of a transit server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitServerAction {
    /// Support adds a server to the pool (again: an identical re-add changes nothing).
    Add {
        /// Its host name.
        name: String,
        /// Its hardware configuration (a valid aggregate id: it names its queue).
        configuration: String,
        /// The infrastructure version it runs now.
        infrastructure_version: String,
        /// Its IPv4 addresses.
        ipv4: Vec<String>,
        /// Its IPv6 addresses.
        ipv6: Vec<String>,
        /// Where accounts' data lives on it.
        storage: ServerStorage,
    },
    /// Set it aside for the migration its queue served, and start installing it.
    Reserve {
        /// The migration.
        migration_id: Uuid,
        /// The client server being migrated.
        client_server_id: String,
        /// The infrastructure version to install (the migration's target).
        infrastructure_version: String,
        /// Expected installation duration, in milliseconds.
        install_duration_ms: u64,
    },
    /// The installation for the migration finished.
    CompleteInstallation {
        /// The migration.
        migration_id: Uuid,
    },
    /// The installation for the migration failed.
    FailInstallation {
        /// The migration.
        migration_id: Uuid,
        /// Why, for support.
        reason: String,
    },
    /// Support starts a failed installation again.
    RetryInstallation,
    /// Hand the installed server over to the migration's customer (the loan starts).
    Lend {
        /// The migration.
        migration_id: Uuid,
        /// When the loan starts.
        at: DateTime<Utc>,
    },
    /// The migration gives the server back: it is released and its wipe starts.
    Release {
        /// The migration.
        migration_id: Uuid,
        /// How long the wipe that starts is expected to take, in milliseconds.
        wipe_duration_ms: u64,
    },
    /// The wipe finished: the server is free again.
    CompleteWipe,
    /// Take a free server out of service (support, through its queue).
    TakeOutOfService {
        /// Why, for support.
        reason: String,
    },
    /// Support puts a server out of service back into service.
    ReturnToService,
}

impl TransitServerAction {
    /// A short name of the action, for refusals.
    pub fn name(&self) -> &'static str {
        match self {
            TransitServerAction::Add { .. } => "add",
            TransitServerAction::Reserve { .. } => "reserve",
            TransitServerAction::CompleteInstallation { .. } => "complete the installation of",
            TransitServerAction::FailInstallation { .. } => "fail the installation of",
            TransitServerAction::RetryInstallation => "retry the installation of",
            TransitServerAction::Lend { .. } => "lend",
            TransitServerAction::Release { .. } => "release",
            TransitServerAction::CompleteWipe => "complete the wipe of",
            TransitServerAction::TakeOutOfService { .. } => "take out of service",
            TransitServerAction::ReturnToService => "return to service",
        }
    }

    /// The roles that may ask for this action (customers never may).
    fn allowed(&self) -> &'static [ActorRole] {
        match self {
            TransitServerAction::Add { .. }
            | TransitServerAction::RetryInstallation
            | TransitServerAction::ReturnToService => &[ActorRole::Support],
            _ => &[ActorRole::Support, ActorRole::System],
        }
    }
}

/// Why a transit server refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitServerRejection {
    /// Customers never command transit servers.
    #[error(
        "customer {customer} may not {action} a transit server: transit servers are managed by \
         support and the transit pool"
    )]
    CustomerForbidden {
        /// The customer.
        customer: String,
        /// What was asked.
        action: &'static str,
    },
    /// Only support may do this.
    #[error("only support may {action} a transit server; {actor} may not")]
    SupportOnly {
        /// Who asked.
        actor: String,
        /// What was asked.
        action: &'static str,
    },
    /// The command's content is impossible.
    #[error("invalid transit server: {0}")]
    Invalid(String),
    /// The server is not in the pool.
    #[error("this transit server is not in the pool: support must add it first")]
    NotFound,
    /// A re-add with details other than those recorded.
    #[error(
        "this transit server is already in the pool with other details ({differences}); \
         an identical re-add is accepted, a change is not"
    )]
    DetailsDiffer {
        /// Which details differ.
        differences: String,
    },
    /// Only an available server can be reserved.
    #[error("the transit server is {status}: it cannot be reserved for migration {migration_id}")]
    NotAvailable {
        /// The migration asking.
        migration_id: Uuid,
        /// What the server is doing.
        status: String,
    },
    /// The installation named is not under way.
    #[error(
        "no installation for migration {migration_id} is under way: the transit server is {status}"
    )]
    NotInstalling {
        /// The migration named.
        migration_id: Uuid,
        /// What the server is doing.
        status: String,
    },
    /// Only a failed installation can be retried.
    #[error("the transit server is {status}: only a failed installation can be retried")]
    NotFailed {
        /// What the server is doing.
        status: String,
    },
    /// Only a server installed for the migration can be lent to it.
    #[error(
        "the transit server is {status}: it can be lent to migration {migration_id} only once \
         installed for it"
    )]
    NotInstalled {
        /// The migration named.
        migration_id: Uuid,
        /// What the server is doing.
        status: String,
    },
    /// The migration named does not hold the server.
    #[error(
        "the transit server is {status}, not held by migration {migration_id}: nothing to release"
    )]
    NotHeld {
        /// The migration named.
        migration_id: Uuid,
        /// What the server is doing.
        status: String,
    },
    /// No wipe is under way.
    #[error("the transit server is {status}, not being wiped")]
    NotWiping {
        /// What the server is doing.
        status: String,
    },
    /// Only a free server can be taken out of service.
    #[error(
        "the transit server is {status}: only an available transit server can be taken out of \
         service"
    )]
    InUse {
        /// What the server is doing.
        status: String,
    },
}

impl Refusal for TransitServerRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            TransitServerRejection::CustomerForbidden { .. }
            | TransitServerRejection::SupportOnly { .. } => RefusalKind::Forbidden,
            TransitServerRejection::Invalid(_) => RefusalKind::Invalid,
            TransitServerRejection::NotFound => RefusalKind::NotFound,
            TransitServerRejection::DetailsDiffer { .. }
            | TransitServerRejection::NotAvailable { .. }
            | TransitServerRejection::NotInstalling { .. }
            | TransitServerRejection::NotFailed { .. }
            | TransitServerRejection::NotInstalled { .. }
            | TransitServerRejection::NotHeld { .. }
            | TransitServerRejection::NotWiping { .. }
            | TransitServerRejection::InUse { .. } => RefusalKind::Conflict,
        }
    }
}

type Decided = Result<Vec<TransitServerEvent>, TransitServerRejection>;

fn authorize(command: &TransitServerCommand) -> Result<(), TransitServerRejection> {
    let action = command.action.name();
    let actor = &command.actor;
    if actor.role == ActorRole::Customer {
        return Err(TransitServerRejection::CustomerForbidden {
            customer: actor.id.clone(),
            action,
        });
    }
    if !command.action.allowed().contains(&actor.role) {
        return Err(TransitServerRejection::SupportOnly {
            actor: actor.to_string(),
            action,
        });
    }
    Ok(())
}

fn check_details(details: &TransitServerAdded) -> Result<(), TransitServerRejection> {
    let invalid = |reason: String| Err(TransitServerRejection::Invalid(reason));
    if details.name.trim().is_empty() {
        return invalid("the name is empty".into());
    }
    if let Err(e) = validate_aggregate_id(&details.configuration) {
        return invalid(format!("configuration: {e}"));
    }
    if details.infrastructure_version.trim().is_empty() {
        return invalid("the infrastructure version is empty".into());
    }
    if let Err(reason) = ferry_events::validate_addresses(&details.ipv4, &details.ipv6) {
        return invalid(reason);
    }
    if details.storage.files_root.trim().is_empty() || details.storage.mail_root.trim().is_empty() {
        return invalid("the files root and the mail root are required".into());
    }
    Ok(())
}

fn differences(recorded: &TransitServerAdded, asked: &TransitServerAdded) -> String {
    let mut differ = Vec::new();
    if recorded.name != asked.name {
        differ.push("name");
    }
    if recorded.configuration != asked.configuration {
        differ.push("configuration");
    }
    if recorded.infrastructure_version != asked.infrastructure_version {
        differ.push("infrastructure version");
    }
    if recorded.ipv4 != asked.ipv4 {
        differ.push("IPv4 addresses");
    }
    if recorded.ipv6 != asked.ipv6 {
        differ.push("IPv6 addresses");
    }
    if recorded.storage != asked.storage {
        differ.push("storage");
    }
    differ.join(", ")
}

impl Decider for TransitServerDecider {
    type State = TransitServer;
    type Command = TransitServerCommand;
    type Event = TransitServerEvent;
    type Rejection = TransitServerRejection;

    const AGGREGATE: AggregateType = AggregateType::TransitServer;

    fn decide(state: &TransitServer, command: &TransitServerCommand) -> Decided {
        authorize(command)?;
        if let TransitServerAction::Add {
            name,
            configuration,
            infrastructure_version,
            ipv4,
            ipv6,
            storage,
        } = &command.action
        {
            let asked = TransitServerAdded {
                name: name.clone(),
                configuration: configuration.clone(),
                infrastructure_version: infrastructure_version.clone(),
                ipv4: ipv4.clone(),
                ipv6: ipv6.clone(),
                storage: storage.clone(),
            };
            check_details(&asked)?;
            return match &state.details {
                None => Ok(vec![asked.into()]),
                Some(recorded) if *recorded == asked => Ok(Vec::new()),
                Some(recorded) => Err(TransitServerRejection::DetailsDiffer {
                    differences: differences(recorded, &asked),
                }),
            };
        }
        if state.details.is_none() {
            return Err(TransitServerRejection::NotFound);
        }
        decide_in_pool(&state.status, &command.action)
    }

    fn evolve(mut state: TransitServer, event: &TransitServerEvent) -> TransitServer {
        let client_server = state.status.client_server().unwrap_or_default().to_owned();
        state.status = match event {
            TransitServerEvent::TransitServerAdded(e) => {
                state.details = Some(e.clone());
                Status::Available
            }
            TransitServerEvent::TransitServerReserved(e) => Status::Reserved {
                migration_id: e.migration_id,
                client_server_id: e.client_server_id.clone(),
            },
            TransitServerEvent::TransitInstallationStarted(e) => Status::Installing {
                migration_id: e.migration_id,
                client_server_id: client_server.clone(),
                infrastructure_version: e.infrastructure_version.clone(),
                expected_duration_ms: e.expected_duration_ms,
            },
            TransitServerEvent::TransitInstallationCompleted(e) => Status::Installed {
                migration_id: e.migration_id,
                client_server_id: client_server.clone(),
            },
            TransitServerEvent::TransitInstallationFailed(e) => {
                let (infrastructure_version, expected_duration_ms) = match &state.status {
                    Status::Installing {
                        infrastructure_version,
                        expected_duration_ms,
                        ..
                    } => (infrastructure_version.clone(), *expected_duration_ms),
                    _ => (String::new(), 0),
                };
                Status::InstallationFailed {
                    migration_id: e.migration_id,
                    client_server_id: client_server.clone(),
                    infrastructure_version,
                    expected_duration_ms,
                    reason: e.reason.clone(),
                }
            }
            TransitServerEvent::TransitServerLent(e) => Status::Lent {
                migration_id: e.migration_id,
                client_server_id: client_server.clone(),
                since: e.lent_at,
            },
            // The wipe starts with the release, in the same command.
            TransitServerEvent::TransitServerReleased(_)
            | TransitServerEvent::TransitServerWipeStarted(_) => Status::Wiping,
            TransitServerEvent::TransitServerWiped(_)
            | TransitServerEvent::TransitServerReturnedToService(_) => Status::Available,
            TransitServerEvent::TransitServerTakenOutOfService(e) => Status::OutOfService {
                reason: e.reason.clone(),
            },
        };
        state
    }

    fn select(event: &Event) -> Option<&TransitServerEvent> {
        match event {
            Event::TransitServer(e) => Some(e),
            _ => None,
        }
    }
}

/// Decides an action other than `Add` for a server in the pool.
fn decide_in_pool(status: &Status, action: &TransitServerAction) -> Decided {
    let described = || status.to_string();
    match action {
        TransitServerAction::Add { .. } => Ok(Vec::new()),
        TransitServerAction::Reserve {
            migration_id,
            client_server_id,
            infrastructure_version,
            install_duration_ms,
        } => {
            if client_server_id.trim().is_empty() || infrastructure_version.trim().is_empty() {
                return Err(TransitServerRejection::Invalid(
                    "a reservation names the client server and the version to install".into(),
                ));
            }
            match status {
                Status::Available => Ok(vec![
                    TransitServerReserved {
                        migration_id: *migration_id,
                        client_server_id: client_server_id.clone(),
                    }
                    .into(),
                    TransitInstallationStarted {
                        migration_id: *migration_id,
                        infrastructure_version: infrastructure_version.clone(),
                        expected_duration_ms: *install_duration_ms,
                    }
                    .into(),
                ]),
                _ if status.holder() == Some(*migration_id) => Ok(Vec::new()),
                _ => Err(TransitServerRejection::NotAvailable {
                    migration_id: *migration_id,
                    status: described(),
                }),
            }
        }
        TransitServerAction::CompleteInstallation { migration_id } => match status {
            Status::Installing {
                migration_id: m, ..
            } if m == migration_id => Ok(vec![
                TransitInstallationCompleted {
                    migration_id: *migration_id,
                }
                .into(),
            ]),
            Status::Installed {
                migration_id: m, ..
            }
            | Status::Lent {
                migration_id: m, ..
            } if m == migration_id => Ok(Vec::new()),
            _ => Err(TransitServerRejection::NotInstalling {
                migration_id: *migration_id,
                status: described(),
            }),
        },
        TransitServerAction::FailInstallation {
            migration_id,
            reason,
        } => match status {
            Status::Installing {
                migration_id: m, ..
            } if m == migration_id => Ok(vec![
                TransitInstallationFailed {
                    migration_id: *migration_id,
                    reason: reason.clone(),
                }
                .into(),
            ]),
            Status::InstallationFailed {
                migration_id: m, ..
            } if m == migration_id => Ok(Vec::new()),
            _ => Err(TransitServerRejection::NotInstalling {
                migration_id: *migration_id,
                status: described(),
            }),
        },
        TransitServerAction::RetryInstallation => match status {
            Status::InstallationFailed {
                migration_id,
                infrastructure_version,
                expected_duration_ms,
                ..
            } => Ok(vec![
                TransitInstallationStarted {
                    migration_id: *migration_id,
                    infrastructure_version: infrastructure_version.clone(),
                    expected_duration_ms: *expected_duration_ms,
                }
                .into(),
            ]),
            _ => Err(TransitServerRejection::NotFailed {
                status: described(),
            }),
        },
        TransitServerAction::Lend { migration_id, at } => match status {
            Status::Installed {
                migration_id: m, ..
            } if m == migration_id => Ok(vec![
                TransitServerLent {
                    migration_id: *migration_id,
                    lent_at: *at,
                }
                .into(),
            ]),
            Status::Lent {
                migration_id: m, ..
            } if m == migration_id => Ok(Vec::new()),
            _ => Err(TransitServerRejection::NotInstalled {
                migration_id: *migration_id,
                status: described(),
            }),
        },
        TransitServerAction::Release {
            migration_id,
            wipe_duration_ms,
        } => {
            if status.holder() == Some(*migration_id) {
                Ok(vec![
                    TransitServerReleased {
                        migration_id: *migration_id,
                    }
                    .into(),
                    TransitServerWipeStarted {
                        expected_duration_ms: *wipe_duration_ms,
                    }
                    .into(),
                ])
            } else {
                Err(TransitServerRejection::NotHeld {
                    migration_id: *migration_id,
                    status: described(),
                })
            }
        }
        TransitServerAction::CompleteWipe => match status {
            Status::Wiping => Ok(vec![TransitServerWiped {}.into()]),
            _ => Err(TransitServerRejection::NotWiping {
                status: described(),
            }),
        },
        TransitServerAction::TakeOutOfService { reason } => {
            if reason.trim().is_empty() {
                return Err(TransitServerRejection::Invalid(
                    "say why the transit server is taken out of service".into(),
                ));
            }
            match status {
                Status::Available => Ok(vec![
                    TransitServerTakenOutOfService {
                        reason: reason.clone(),
                    }
                    .into(),
                ]),
                Status::OutOfService { .. } => Ok(Vec::new()),
                _ => Err(TransitServerRejection::InUse {
                    status: described(),
                }),
            }
        }
        TransitServerAction::ReturnToService => match status {
            Status::OutOfService { .. } => Ok(vec![TransitServerReturnedToService {}.into()]),
            _ => Ok(Vec::new()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::TransitServerAction as A;
    use super::*;
    use chrono::TimeZone;
    use ferry_core::scenario::given;

    type S = TransitServerDecider;

    fn m(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn storage() -> ServerStorage {
        ServerStorage {
            files_root: "/srv/ferry/tr-1/files".into(),
            mail_root: "/srv/ferry/tr-1/mail".into(),
            postgres_url: None,
            mysql_url: None,
        }
    }

    fn add_action() -> A {
        A::Add {
            name: "transit-01.hosting.example".into(),
            configuration: "vps-4c-8g".into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec!["192.0.2.10".into()],
            ipv6: vec!["2001:db8::10".into()],
            storage: storage(),
        }
    }

    fn support(action: A) -> TransitServerCommand {
        TransitServerCommand {
            actor: Actor::support("alice"),
            action,
        }
    }

    fn system(action: A) -> TransitServerCommand {
        TransitServerCommand {
            actor: Actor::system("transit-pool"),
            action,
        }
    }

    fn customer(action: A) -> TransitServerCommand {
        TransitServerCommand {
            actor: Actor::customer("c-42"),
            action,
        }
    }

    fn added() -> TransitServerEvent {
        TransitServerAdded {
            name: "transit-01.hosting.example".into(),
            configuration: "vps-4c-8g".into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec!["192.0.2.10".into()],
            ipv6: vec!["2001:db8::10".into()],
            storage: storage(),
        }
        .into()
    }

    fn reserve(n: u128) -> A {
        A::Reserve {
            migration_id: m(n),
            client_server_id: format!("srv-{n}"),
            infrastructure_version: "v2026".into(),
            install_duration_ms: 10_800_000,
        }
    }

    fn reserved(n: u128) -> TransitServerEvent {
        TransitServerReserved {
            migration_id: m(n),
            client_server_id: format!("srv-{n}"),
        }
        .into()
    }

    fn started(n: u128) -> TransitServerEvent {
        TransitInstallationStarted {
            migration_id: m(n),
            infrastructure_version: "v2026".into(),
            expected_duration_ms: 10_800_000,
        }
        .into()
    }

    fn completed(n: u128) -> TransitServerEvent {
        TransitInstallationCompleted { migration_id: m(n) }.into()
    }

    fn failed(n: u128) -> TransitServerEvent {
        TransitInstallationFailed {
            migration_id: m(n),
            reason: "disk full".into(),
        }
        .into()
    }

    fn lent(n: u128) -> TransitServerEvent {
        TransitServerLent {
            migration_id: m(n),
            lent_at: noon(),
        }
        .into()
    }

    fn released(n: u128) -> TransitServerEvent {
        TransitServerReleased { migration_id: m(n) }.into()
    }

    const WIPE_MS: u64 = 600_000;

    fn wipe_started() -> TransitServerEvent {
        TransitServerWipeStarted {
            expected_duration_ms: WIPE_MS,
        }
        .into()
    }

    fn wiped() -> TransitServerEvent {
        TransitServerWiped {}.into()
    }

    fn out_of_service() -> TransitServerEvent {
        TransitServerTakenOutOfService {
            reason: "disk fault".into(),
        }
        .into()
    }

    fn installing(n: u128) -> Vec<TransitServerEvent> {
        vec![added(), reserved(n), started(n)]
    }

    fn installed(n: u128) -> Vec<TransitServerEvent> {
        vec![added(), reserved(n), started(n), completed(n)]
    }

    fn on_loan(n: u128) -> Vec<TransitServerEvent> {
        vec![added(), reserved(n), started(n), completed(n), lent(n)]
    }

    // Who may command.

    #[test]
    fn customers_may_never_command_a_transit_server() {
        let every_action = [
            add_action(),
            reserve(1),
            A::CompleteInstallation { migration_id: m(1) },
            A::FailInstallation {
                migration_id: m(1),
                reason: "x".into(),
            },
            A::RetryInstallation,
            A::Lend {
                migration_id: m(1),
                at: noon(),
            },
            A::Release {
                migration_id: m(1),
                wipe_duration_ms: WIPE_MS,
            },
            A::CompleteWipe,
            A::TakeOutOfService { reason: "x".into() },
            A::ReturnToService,
        ];
        for action in every_action {
            let refusal = given::<S>(installing(1))
                .when(customer(action))
                .then_refused(RefusalKind::Forbidden);
            assert!(refusal.to_string().contains("customer c-42"), "{refusal}");
        }
    }

    #[test]
    fn only_support_adds_retries_and_returns_to_service() {
        for action in [add_action(), A::RetryInstallation, A::ReturnToService] {
            let refusal = given::<S>([added(), out_of_service()])
                .when(system(action))
                .then_refused(RefusalKind::Forbidden);
            assert!(refusal.to_string().contains("only support"), "{refusal}");
        }
    }

    // Add

    #[test]
    fn support_adds_a_server_available_at_once() {
        let state = given::<S>([])
            .when(support(add_action()))
            .then(vec![added()]);
        assert_eq!(state.status, Status::Available);
        assert_eq!(state.configuration(), Some("vps-4c-8g"));
    }

    #[test]
    fn an_identical_re_add_changes_nothing_whatever_the_state() {
        given::<S>([added()])
            .when(support(add_action()))
            .then_nothing();
        given::<S>(on_loan(1))
            .when(support(add_action()))
            .then_nothing();
    }

    #[test]
    fn a_re_add_with_other_details_is_a_conflict_naming_them() {
        let mut action = add_action();
        if let A::Add {
            configuration,
            ipv4,
            ..
        } = &mut action
        {
            *configuration = "vps-8c-16g".into();
            ipv4.push("192.0.2.11".into());
        }
        let refusal = given::<S>([added()])
            .when(support(action))
            .then_refused(RefusalKind::Conflict);
        assert!(
            refusal
                .to_string()
                .contains("configuration, IPv4 addresses"),
            "{refusal}"
        );
    }

    #[test]
    fn an_add_with_impossible_details_is_invalid() {
        let variants: Vec<fn(&mut A)> = vec![
            |a| {
                if let A::Add { name, .. } = a {
                    name.clear()
                }
            },
            |a| {
                if let A::Add { configuration, .. } = a {
                    *configuration = "vps 4c".into()
                }
            },
            |a| {
                if let A::Add {
                    infrastructure_version,
                    ..
                } = a
                {
                    infrastructure_version.clear()
                }
            },
            |a| {
                if let A::Add { ipv4, .. } = a {
                    *ipv4 = vec!["192.0.2.300".into()]
                }
            },
            |a| {
                if let A::Add { ipv6, .. } = a {
                    *ipv6 = vec!["2001:db8::zz".into()]
                }
            },
            |a| {
                if let A::Add { ipv4, ipv6, .. } = a {
                    ipv4.clear();
                    ipv6.clear();
                }
            },
            |a| {
                if let A::Add { storage, .. } = a {
                    storage.files_root.clear()
                }
            },
        ];
        for spoil in variants {
            let mut action = add_action();
            spoil(&mut action);
            given::<S>([])
                .when(support(action))
                .then_refused(RefusalKind::Invalid);
        }
    }

    #[test]
    fn commands_to_a_server_not_in_the_pool_are_not_found() {
        for action in [
            reserve(1),
            A::CompleteWipe,
            A::ReturnToService,
            A::TakeOutOfService { reason: "x".into() },
        ] {
            given::<S>([])
                .when(support(action))
                .then_refused(RefusalKind::NotFound);
        }
    }

    // Reserve

    #[test]
    fn reserving_an_available_server_starts_its_installation() {
        let state = given::<S>([added()])
            .when(system(reserve(1)))
            .then(vec![reserved(1), started(1)]);
        assert!(matches!(
            state.status,
            Status::Installing { migration_id, ref client_server_id, .. }
                if migration_id == m(1) && client_server_id == "srv-1"
        ));
    }

    #[test]
    fn reserving_again_for_the_same_migration_changes_nothing() {
        given::<S>(installing(1))
            .when(system(reserve(1)))
            .then_nothing();
        given::<S>(on_loan(1))
            .when(system(reserve(1)))
            .then_nothing();
    }

    #[test]
    fn a_server_held_by_another_migration_cannot_be_reserved() {
        let refusal = given::<S>(installing(1))
            .when(system(reserve(2)))
            .then_refused(RefusalKind::Conflict);
        assert!(refusal.to_string().contains("being installed"), "{refusal}");
    }

    #[test]
    fn a_server_out_of_service_or_being_wiped_cannot_be_reserved() {
        given::<S>([added(), out_of_service()])
            .when(system(reserve(1)))
            .then_refused(RefusalKind::Conflict);
        let mut wiping = on_loan(1);
        wiping.extend([released(1), wipe_started()]);
        given::<S>(wiping)
            .when(system(reserve(2)))
            .then_refused(RefusalKind::Conflict);
    }

    #[test]
    fn a_reservation_without_client_server_or_version_is_invalid() {
        given::<S>([added()])
            .when(system(A::Reserve {
                migration_id: m(1),
                client_server_id: "".into(),
                infrastructure_version: "v2026".into(),
                install_duration_ms: 1,
            }))
            .then_refused(RefusalKind::Invalid);
    }

    // Installation

    #[test]
    fn an_installation_under_way_completes() {
        let state = given::<S>(installing(1))
            .when(system(A::CompleteInstallation { migration_id: m(1) }))
            .then(vec![completed(1)]);
        assert!(matches!(state.status, Status::Installed { .. }));
    }

    #[test]
    fn completing_a_finished_installation_changes_nothing() {
        given::<S>(installed(1))
            .when(system(A::CompleteInstallation { migration_id: m(1) }))
            .then_nothing();
    }

    #[test]
    fn completing_an_installation_that_is_not_under_way_is_refused() {
        given::<S>([added()])
            .when(system(A::CompleteInstallation { migration_id: m(1) }))
            .then_refused(RefusalKind::Conflict);
        given::<S>(installing(2))
            .when(system(A::CompleteInstallation { migration_id: m(1) }))
            .then_refused(RefusalKind::Conflict);
    }

    #[test]
    fn an_installation_under_way_can_fail() {
        let state = given::<S>(installing(1))
            .when(system(A::FailInstallation {
                migration_id: m(1),
                reason: "disk full".into(),
            }))
            .then(vec![failed(1)]);
        assert_eq!(state.status.holder(), Some(m(1)), "still reserved");
    }

    #[test]
    fn failing_twice_changes_nothing_and_failing_no_installation_is_refused() {
        let mut failed_once = installing(1);
        failed_once.push(failed(1));
        given::<S>(failed_once)
            .when(system(A::FailInstallation {
                migration_id: m(1),
                reason: "again".into(),
            }))
            .then_nothing();
        given::<S>(installed(1))
            .when(system(A::FailInstallation {
                migration_id: m(1),
                reason: "late".into(),
            }))
            .then_refused(RefusalKind::Conflict);
    }

    #[test]
    fn support_retries_a_failed_installation_with_the_same_version() {
        let mut failed_once = installing(1);
        failed_once.push(failed(1));
        given::<S>(failed_once)
            .when(support(A::RetryInstallation))
            .then(vec![started(1)]);
    }

    #[test]
    fn only_a_failed_installation_can_be_retried() {
        let refusal = given::<S>(installing(1))
            .when(support(A::RetryInstallation))
            .then_refused(RefusalKind::Conflict);
        assert!(refusal.to_string().contains("only a failed"), "{refusal}");
    }

    // Lend

    #[test]
    fn an_installed_server_is_lent_to_its_migration() {
        let state = given::<S>(installed(1))
            .when(system(A::Lend {
                migration_id: m(1),
                at: noon(),
            }))
            .then(vec![lent(1)]);
        assert!(matches!(state.status, Status::Lent { since, .. } if since == noon()));
    }

    #[test]
    fn lending_twice_changes_nothing() {
        given::<S>(on_loan(1))
            .when(system(A::Lend {
                migration_id: m(1),
                at: noon(),
            }))
            .then_nothing();
    }

    #[test]
    fn a_server_not_installed_for_the_migration_is_not_lent() {
        for (history, migration) in [(installing(1), 1), (installed(2), 1), (vec![added()], 1)] {
            given::<S>(history)
                .when(system(A::Lend {
                    migration_id: m(migration),
                    at: noon(),
                }))
                .then_refused(RefusalKind::Conflict);
        }
    }

    // Release and wipe

    #[test]
    fn the_holding_migration_releases_the_server_and_its_wipe_starts() {
        for history in [installing(1), installed(1), on_loan(1)] {
            let state = given::<S>(history)
                .when(system(A::Release {
                    migration_id: m(1),
                    wipe_duration_ms: WIPE_MS,
                }))
                .then(vec![released(1), wipe_started()]);
            assert_eq!(state.status, Status::Wiping);
        }
    }

    #[test]
    fn a_failed_installation_can_be_released() {
        let mut failed_once = installing(1);
        failed_once.push(failed(1));
        given::<S>(failed_once)
            .when(system(A::Release {
                migration_id: m(1),
                wipe_duration_ms: WIPE_MS,
            }))
            .then(vec![released(1), wipe_started()]);
    }

    #[test]
    fn only_the_holding_migration_releases_the_server() {
        given::<S>(on_loan(1))
            .when(system(A::Release {
                migration_id: m(2),
                wipe_duration_ms: WIPE_MS,
            }))
            .then_refused(RefusalKind::Conflict);
        given::<S>([added()])
            .when(system(A::Release {
                migration_id: m(1),
                wipe_duration_ms: WIPE_MS,
            }))
            .then_refused(RefusalKind::Conflict);
    }

    #[test]
    fn a_completed_wipe_makes_the_server_available_again() {
        let mut wiping = on_loan(1);
        wiping.extend([released(1), wipe_started()]);
        let state = given::<S>(wiping)
            .when(system(A::CompleteWipe))
            .then(vec![wiped()]);
        assert_eq!(state.status, Status::Available);
    }

    #[test]
    fn completing_a_wipe_that_is_not_under_way_is_refused() {
        given::<S>([added()])
            .when(system(A::CompleteWipe))
            .then_refused(RefusalKind::Conflict);
    }

    // Out of service

    #[test]
    fn an_available_server_is_taken_out_of_service() {
        let state = given::<S>([added()])
            .when(system(A::TakeOutOfService {
                reason: "disk fault".into(),
            }))
            .then(vec![out_of_service()]);
        assert!(matches!(state.status, Status::OutOfService { .. }));
    }

    #[test]
    fn taking_out_of_service_twice_changes_nothing() {
        given::<S>([added(), out_of_service()])
            .when(support(A::TakeOutOfService {
                reason: "still broken".into(),
            }))
            .then_nothing();
    }

    #[test]
    fn a_server_in_use_cannot_be_taken_out_of_service() {
        let refusal = given::<S>(on_loan(1))
            .when(support(A::TakeOutOfService {
                reason: "disk fault".into(),
            }))
            .then_refused(RefusalKind::Conflict);
        assert!(
            refusal.to_string().contains("lent to migration"),
            "{refusal}"
        );
    }

    #[test]
    fn taking_out_of_service_needs_a_reason() {
        given::<S>([added()])
            .when(support(A::TakeOutOfService { reason: " ".into() }))
            .then_refused(RefusalKind::Invalid);
    }

    #[test]
    fn support_returns_a_server_to_service() {
        let state = given::<S>([added(), out_of_service()])
            .when(support(A::ReturnToService))
            .then(vec![TransitServerReturnedToService {}.into()]);
        assert_eq!(state.status, Status::Available);
    }

    #[test]
    fn returning_a_server_in_service_changes_nothing() {
        given::<S>([added()])
            .when(support(A::ReturnToService))
            .then_nothing();
    }

    // A whole loan.

    #[test]
    fn a_whole_loan_goes_round_to_available() {
        let mut history = on_loan(1);
        history.extend([released(1), wipe_started(), wiped()]);
        given::<S>(history.clone())
            .when(system(reserve(2)))
            .then(vec![reserved(2), started(2)]);
        assert_eq!(given::<S>(history).state().status, Status::Available);
    }
}
