//! One transit server of the pool (aggregate `transit_server`, id e.g. `tr-0007`): its
//! details and its life cycle.
//!
//! ```text
//! available → reserved → installing → installed → lent → (released) wiping → available
//!                          ↓    ↑ retry                                 ↓ failed
//!                   installation_failed            available ⇄ out_of_service
//!                                                   wiping ← out_of_service (wipe failed)
//! ```
//!
//! The wipe is the data mover's: it erases what ferry copied to the server and checks
//! it empty. A failed wipe takes the server out of service with the reason, and its
//! return to service is a new wipe, never a loan of a server still holding a
//! customer's data.
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
    /// Not to be lent (maintenance, hardware fault, a failed wipe).
    OutOfService {
        /// Why, for support.
        reason: String,
        /// Its wipe failed: it may still hold a customer's data, and returns to
        /// service through a new wipe.
        wipe_pending: bool,
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
            Status::OutOfService { reason, .. } => write!(f, "out of service ({reason})"),
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
    /// The wipe failed: out of service, until support returns it (a new wipe).
    FailWipe {
        /// Why, for support.
        reason: String,
    },
    /// Take a free server out of service (support, through its queue).
    TakeOutOfService {
        /// Why, for support.
        reason: String,
    },
    /// Support puts a server out of service back into service; after a failed wipe,
    /// through a new wipe.
    ReturnToService {
        /// How long that wipe is expected to take, in milliseconds.
        wipe_duration_ms: u64,
    },
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
            TransitServerAction::FailWipe { .. } => "fail the wipe of",
            TransitServerAction::TakeOutOfService { .. } => "take out of service",
            TransitServerAction::ReturnToService { .. } => "return to service",
        }
    }

    /// The roles that may ask for this action (customers never may).
    fn allowed(&self) -> &'static [ActorRole] {
        match self {
            TransitServerAction::Add { .. }
            | TransitServerAction::RetryInstallation
            | TransitServerAction::ReturnToService { .. } => &[ActorRole::Support],
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
    if let Some(customer) = actor.customer_id() {
        return Err(TransitServerRejection::CustomerForbidden {
            customer: customer.to_owned(),
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
    if ferry_events::is_blank(&details.name) {
        return invalid("the name is empty".into());
    }
    if let Err(e) = validate_aggregate_id(&details.configuration) {
        return invalid(format!("configuration: {e}"));
    }
    if let Err(e) = validate_aggregate_id(&details.infrastructure_version) {
        return invalid(format!("infrastructure_version: {e}"));
    }
    if let Err(reason) = ferry_events::validate_addresses(&details.ipv4, &details.ipv6) {
        return invalid(reason);
    }
    if ferry_events::is_blank(&details.storage.files_root)
        || ferry_events::is_blank(&details.storage.mail_root)
    {
        return invalid("the files root and the mail root are required".into());
    }
    check_storage(&details.storage).map_err(TransitServerRejection::Invalid)
}

/// The roots and database URLs of a transit server, as [`ferry_events::input`] wants
/// them: the data mover syncs into `<root>/<account name>/` with `rsync --delete`,
/// and erases those directories when the loan ends.
fn check_storage(storage: &ServerStorage) -> Result<(), String> {
    use ferry_events::input::{check_recorded_databases, check_storage_root};
    check_storage_root("storage.files_root", &storage.files_root).map_err(|e| e.to_string())?;
    check_storage_root("storage.mail_root", &storage.mail_root).map_err(|e| e.to_string())?;
    // Recorded: no password in a URL, only credential references.
    check_recorded_databases("storage", storage)
        .map(|_| ())
        .map_err(|e| e.to_string())
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
                wipe_pending: matches!(
                    state.status,
                    Status::Wiping
                        | Status::OutOfService {
                            wipe_pending: true,
                            ..
                        }
                ),
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
        TransitServerAction::FailWipe { reason } => match status {
            Status::Wiping => Ok(vec![
                TransitServerTakenOutOfService {
                    reason: format!(
                        "its wipe failed, it may still hold a customer's data: {reason}; \
                         returning it to service wipes it again"
                    ),
                }
                .into(),
            ]),
            Status::OutOfService {
                wipe_pending: true, ..
            } => Ok(Vec::new()),
            _ => Err(TransitServerRejection::NotWiping {
                status: described(),
            }),
        },
        TransitServerAction::TakeOutOfService { reason } => {
            if ferry_events::is_blank(reason) {
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
        TransitServerAction::ReturnToService { wipe_duration_ms } => match status {
            Status::OutOfService {
                wipe_pending: true, ..
            } => Ok(vec![
                TransitServerWipeStarted {
                    expected_duration_ms: *wipe_duration_ms,
                }
                .into(),
            ]),
            Status::OutOfService { .. } => Ok(vec![TransitServerReturnedToService {}.into()]),
            _ => Ok(Vec::new()),
        },
    }
}

#[cfg(test)]
mod tests;
