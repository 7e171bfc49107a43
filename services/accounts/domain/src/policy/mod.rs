//! The accounts service's reactions, as a pure policy over its local view.
//!
//! The view (`accounts_view`) folds what the service needs from other services'
//! events (and a few of its own):
//! - `migration/<id>`: the server a migration moves (`MigrationOpened`), and when its
//!   failed pre-copy is retried (`PreCopyFailed` with a retry time, until
//!   `PreCopyRetried` or the migration moves on): these entries are timers too;
//! - `queue/<configuration>`: the migrations waiting for a transit server, in order
//!   (`TransitRequestQueued`, `…Served`, `…Withdrawn`);
//! - `transfer/<id>`: a transfer's kind, migration, accounts and ends
//!   (`TransferScheduled`) and its outcome (`TransferCompleted`, `TransferFailed`);
//! - `account/<id>`: the account's latest cutover, rollback or relocation;
//! - `traffic/<id>`: the server the network last switched the account's traffic to
//!   (`AccountTrafficSwitched`);
//! - `optional/<id>`: an optional migration's target version and, while it waits
//!   for its time, when it is due: these entries are the scheduler's timers.
//!
//! | event | command |
//! |---|---|
//! | `ObsoleteLanguagesRemoved`, `…Restored`, `ServerReinstalled`, `MigrationCompleted`, `MigrationCancelled` (migration) | the matching change of the migration's server |
//! | `TransitRequestQueued` | `RecordQueued` with the position in the queue |
//! | `TransitServerReserved`, `TransitServerLent` | `RecordTransitAssigned`, `RecordTransitReady` |
//! | `TransferCompleted` / `…Failed` of a test copy | `RecordTestCopy` |
//! | `TransferCompleted` / `…Failed` of a service migration | the server's `MoveDatabaseService` (when done), then the optional migration's `RecordResult` |
//! | `TransferCompleted` of a cutover once the traffic is on its destination, or `AccountTrafficSwitched` once the cutover is done | `RecordCutover` (one command id per transfer: whichever comes last records it) |
//! | `TransferFailed` of a cutover | `RecordCutover` with the reason |
//! | `TransferFailed` of a pre-copy | the migration's `RecordPreCopyFailed` (ferry retries it after a backoff when it may pass) |
//! | a failed pre-copy's retry due | the migration's `RetryPreCopy` as the system actor |
//! | an optional migration due | `Apply` as the system actor |
//! | `RequiredMigrationOpened` (server: the server claimed for a migration) | the migration's `Open`, as the actor who claimed it (the edge adds the server's accounts and the target's support) |
//! | `ServiceMigrationClaimed` (server: a service claimed for an optional migration) | the optional migration's `Schedule`, as the actor who claimed it |
//! | `OptionalMigrationApplied`, `OptionalMigrationCancelled` | the server's `ReleaseService` (a failed one keeps its service: a person retries it) |

mod facts;
#[cfg(test)]
mod tests;

pub use facts::{AccountsFact, AccountsView, PreCopyRetry, TransferFacts, TransferOutcome};

use crate::migration::{Action, MigrationCommand};
use crate::optional_migration::{OptionalAction, OptionalCommand};
use crate::server::ServerCommand;
use facts::{account_key, migration_key, optional_key, queue_key, traffic_key, transfer_key};
use ferry_core::policy::{Entries, Missing, Policy, reaction_id};
use ferry_events::{
    AccountTrafficEvent, Actor, DatabaseEngine, Envelope, Event, Grants, MigrationEvent,
    MigrationOutcome, OptionalMigrationEvent, PreCopyDestination, ServerEvent, TransferEvent,
    TransferKind, TransitQueueEvent, TransitServerEvent,
};
use uuid::Uuid;

/// The reactor's name: its durable consumer and the namespace of its command ids.
pub const NAME: &str = "accounts";

/// A command of the accounts policy, with its id and correlation.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountsCommand {
    /// The command id, derived from its cause.
    pub id: Uuid,
    /// The migration (or optional migration) it belongs to.
    pub correlation_id: Uuid,
    /// To which aggregate, what.
    pub target: Target,
}

/// The id of the command opening migration `migration_id` once its server is
/// claimed: the API waits for the events it caused.
pub fn open_command_id(migration_id: Uuid) -> Uuid {
    reaction_id(NAME, migration_id, "open")
}

/// The aggregate a command goes to, and the command.
#[derive(Debug, Clone, PartialEq)]
// Short-lived values matched by the edge, as events are (see `aggregate_events!`).
#[allow(clippy::large_enum_variant)]
pub enum Target {
    /// Open a migration whose server was just claimed for it. The edge loads the
    /// server's accounts and the target's support (the accounts service's own
    /// aggregates) and decides `Action::Open`; if the opening is refused now, the
    /// claim is given back, so that no server stays held by a migration that does
    /// not exist.
    OpenMigration {
        /// The migration.
        migration_id: Uuid,
        /// The server claimed.
        server_id: String,
        /// The version it migrates to.
        target_version: String,
        /// Who opened it (the claim's actor).
        actor: Actor,
    },
    /// A migration.
    Migration(Uuid, MigrationCommand),
    /// A server.
    Server(String, ServerCommand),
    /// An optional migration.
    Optional(Uuid, OptionalCommand),
}

fn system() -> Actor {
    Actor::system(NAME)
}

fn to_migration(id: Uuid, migration_id: Uuid, action: Action) -> AccountsCommand {
    AccountsCommand {
        id,
        correlation_id: migration_id,
        target: Target::Migration(
            migration_id,
            MigrationCommand {
                actor: system(),
                grants: Grants::none(),
                action,
            },
        ),
    }
}

fn to_server(
    id: Uuid,
    correlation_id: Uuid,
    server_id: &str,
    command: ServerCommand,
) -> AccountsCommand {
    AccountsCommand {
        id,
        correlation_id,
        target: Target::Server(server_id.to_owned(), command),
    }
}

fn to_optional(id: Uuid, optional_id: Uuid, action: OptionalAction) -> AccountsCommand {
    AccountsCommand {
        id,
        correlation_id: optional_id,
        target: Target::Optional(
            optional_id,
            OptionalCommand {
                actor: system(),
                grants: Grants::none(),
                action,
            },
        ),
    }
}

/// The accounts service's policy.
#[derive(Debug)]
pub struct AccountsPolicy;

impl Policy for AccountsPolicy {
    type View = AccountsView;
    type Command = AccountsCommand;
    const NAME: &'static str = NAME;

    /// One lane per migration: a reaction decides on its own migration's facts; what
    /// migrations share (a server, a transit server) is guarded by the deciders.
    fn lane(event: &Envelope) -> String {
        ferry_core::policy::process_lane(event)
    }

    fn reads(event: &Envelope, known: &Entries<AccountsFact>) -> Vec<String> {
        match &event.event {
            Event::Migration(_) => vec![migration_key(&event.aggregate_id)],
            Event::TransitQueue(TransitQueueEvent::TransitRequestQueued(_)) => {
                vec![queue_key(&event.aggregate_id)]
            }
            Event::Transfer(_) => {
                let key = transfer_key(&event.aggregate_id);
                let mut keys = vec![key.clone()];
                if let Some(AccountsFact::Transfer(t)) = known.get(&key) {
                    keys.extend(t.accounts.first().map(|a| traffic_key(a)));
                    keys.extend(t.migration_id.map(optional_key));
                }
                keys
            }
            Event::OptionalMigration(
                OptionalMigrationEvent::OptionalMigrationApplied(_)
                | OptionalMigrationEvent::OptionalMigrationCancelled(_),
            ) => event
                .aggregate_id
                .parse::<Uuid>()
                .map(optional_key)
                .into_iter()
                .collect(),
            Event::AccountTraffic(_) => {
                let key = account_key(&event.aggregate_id);
                let mut keys = vec![key.clone(), traffic_key(&event.aggregate_id)];
                if let Some(AccountsFact::AccountTransfer { transfer_id }) = known.get(&key) {
                    keys.push(transfer_key(&transfer_id.to_string()));
                }
                keys
            }
            _ => Vec::new(),
        }
    }

    fn react(
        event: &Envelope,
        view: &Entries<AccountsFact>,
    ) -> Result<Vec<AccountsCommand>, Missing> {
        Ok(match &event.event {
            Event::Migration(e) => on_migration(event, e, view)?,
            Event::TransitQueue(TransitQueueEvent::TransitRequestQueued(queued)) => {
                let Some(AccountsFact::Queue { waiting }) =
                    view.get(&queue_key(&event.aggregate_id))
                else {
                    return Ok(Vec::new());
                };
                // Already served (the view is newer than the event): nothing to record.
                let Some(index) = waiting.iter().position(|m| *m == queued.migration_id) else {
                    return Ok(Vec::new());
                };
                let position = u32::try_from(index + 1).unwrap_or(u32::MAX);
                vec![to_migration(
                    reaction_id(NAME, event.event_id, "queued"),
                    queued.migration_id,
                    Action::RecordQueued {
                        configuration: event.aggregate_id.clone(),
                        position,
                    },
                )]
            }
            Event::TransitServer(TransitServerEvent::TransitServerReserved(e)) => {
                vec![to_migration(
                    reaction_id(NAME, event.event_id, "assigned"),
                    e.migration_id,
                    Action::RecordTransitAssigned {
                        transit_server_id: event.aggregate_id.clone(),
                    },
                )]
            }
            Event::TransitServer(TransitServerEvent::TransitServerLent(e)) => {
                vec![to_migration(
                    reaction_id(NAME, event.event_id, "ready"),
                    e.migration_id,
                    Action::RecordTransitReady {
                        transit_server_id: event.aggregate_id.clone(),
                        ready_at: e.lent_at,
                    },
                )]
            }
            Event::Transfer(
                TransferEvent::TransferCompleted(_) | TransferEvent::TransferFailed(_),
            ) => on_transfer_ended(event, view)?,
            Event::Server(ServerEvent::RequiredMigrationOpened(claim)) => vec![AccountsCommand {
                id: open_command_id(claim.migration_id),
                correlation_id: claim.migration_id,
                target: Target::OpenMigration {
                    migration_id: claim.migration_id,
                    server_id: event.aggregate_id.clone(),
                    target_version: claim.target_version.clone(),
                    actor: event.actor.clone(),
                },
            }],
            Event::Server(ServerEvent::ServiceMigrationClaimed(claim)) => {
                let optional_id = claim.schedule.optional_migration_id;
                vec![AccountsCommand {
                    id: reaction_id(NAME, event.event_id, "schedule"),
                    correlation_id: optional_id,
                    target: Target::Optional(
                        optional_id,
                        OptionalCommand {
                            actor: event.actor.clone(),
                            grants: Grants::none(),
                            action: OptionalAction::Schedule(claim.schedule.clone()),
                        },
                    ),
                }]
            }
            Event::OptionalMigration(
                OptionalMigrationEvent::OptionalMigrationApplied(_)
                | OptionalMigrationEvent::OptionalMigrationCancelled(_),
            ) => release_service(event, view)?.into_iter().collect(),
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(_)) => {
                let Some(AccountsFact::AccountTransfer { transfer_id }) =
                    view.get(&account_key(&event.aggregate_id))
                else {
                    return Ok(Vec::new());
                };
                cutover_done(*transfer_id, view)?.into_iter().collect()
            }
            _ => Vec::new(),
        })
    }

    fn on_due(key: &str, entry: &AccountsFact) -> Vec<AccountsCommand> {
        if let (
            Some(migration_id),
            AccountsFact::Migration {
                pre_copy_retry: Some(retry),
                ..
            },
        ) = (
            key.strip_prefix("migration/")
                .and_then(|id| id.parse::<Uuid>().ok()),
            entry,
        ) {
            // One command per failure: firing twice is recognised.
            return vec![to_migration(
                Uuid::new_v5(&retry.failed, b"scheduled-pre-copy-retry"),
                migration_id,
                Action::RetryPreCopy {
                    failed_transfer_id: Some(retry.failed),
                },
            )];
        }
        let (Some(id), AccountsFact::Optional { due: Some(at), .. }) = (
            key.strip_prefix("optional/")
                .and_then(|id| id.parse::<Uuid>().ok()),
            entry,
        ) else {
            return Vec::new();
        };
        // One command per optional migration: applying twice is recognised.
        let command_id = Uuid::new_v5(&id, b"scheduled-application");
        vec![to_optional(
            command_id,
            id,
            OptionalAction::Apply {
                transfer_id: Uuid::new_v5(&command_id, b"transfer"),
                now: *at,
            },
        )]
    }
}

/// Own migration events that change the server.
fn on_migration(
    event: &Envelope,
    e: &MigrationEvent,
    view: &Entries<AccountsFact>,
) -> Result<Vec<AccountsCommand>, Missing> {
    let Ok(migration_id) = event.aggregate_id.parse::<Uuid>() else {
        return Err(Missing(format!(
            "migration id {:?} is not a uuid",
            event.aggregate_id
        )));
    };
    let server_id = match view.get(&migration_key(&event.aggregate_id)) {
        Some(AccountsFact::Migration { server_id, .. }) => server_id.as_str(),
        _ => "",
    };
    let commands: Vec<(String, ServerCommand)> = match e {
        MigrationEvent::ObsoleteLanguagesRemoved(e) => e
            .removals
            .iter()
            .map(|r| {
                (
                    format!("remove/{}", r.account_id),
                    ServerCommand::RemoveLanguages {
                        account_id: r.account_id.clone(),
                        versions: r.versions.clone(),
                    },
                )
            })
            .collect(),
        MigrationEvent::ObsoleteLanguagesRestored(e) => e
            .restorations
            .iter()
            .map(|r| {
                (
                    format!("restore/{}", r.account_id),
                    ServerCommand::RestoreLanguages {
                        account_id: r.account_id.clone(),
                        versions: r.versions.clone(),
                    },
                )
            })
            .collect(),
        MigrationEvent::ServerReinstalled(e) => vec![(
            "reinstalled".into(),
            ServerCommand::ChangeInfrastructureVersion {
                to: e.infrastructure_version.clone(),
            },
        )],
        MigrationEvent::MigrationCompleted(_) => vec![(
            "close".into(),
            ServerCommand::CloseMigration {
                migration_id,
                outcome: MigrationOutcome::Completed,
            },
        )],
        MigrationEvent::MigrationCancelled(_) => vec![(
            "close".into(),
            ServerCommand::CloseMigration {
                migration_id,
                outcome: MigrationOutcome::Cancelled,
            },
        )],
        _ => Vec::new(),
    };
    if !commands.is_empty() && server_id.is_empty() {
        return Err(Missing(format!(
            "migration {migration_id} was never opened on a server"
        )));
    }
    Ok(commands
        .into_iter()
        .map(|(purpose, command)| {
            to_server(
                reaction_id(NAME, event.event_id, &purpose),
                migration_id,
                server_id,
                command,
            )
        })
        .collect())
}

/// A transfer ended: a test copy, a cutover (once the traffic is also switched), or
/// an optional migration's service move. A pre-copy concerns the transit pool.
fn on_transfer_ended(
    event: &Envelope,
    view: &Entries<AccountsFact>,
) -> Result<Vec<AccountsCommand>, Missing> {
    let Some(AccountsFact::Transfer(transfer)) = view.get(&transfer_key(&event.aggregate_id))
    else {
        return Err(Missing(format!(
            "transfer {} ended without having been scheduled",
            event.aggregate_id
        )));
    };
    let Some(outcome) = &transfer.outcome else {
        return Ok(Vec::new());
    };
    Ok(match transfer.kind {
        TransferKind::PreCopy => match (transfer.migration_id, outcome) {
            (
                Some(migration_id),
                TransferOutcome::Failed {
                    reason, retryable, ..
                },
            ) => vec![to_migration(
                reaction_id(NAME, event.event_id, "pre-copy-failed"),
                migration_id,
                Action::RecordPreCopyFailed {
                    transfer_id: transfer.transfer_id,
                    // The pre-copy back after the reinstall goes to the client server.
                    destination: if transfer.destination == transfer.server_id {
                        PreCopyDestination::ClientServer
                    } else {
                        PreCopyDestination::TransitServer
                    },
                    reason: reason.clone(),
                    retryable: *retryable,
                    at: event.occurred_at,
                },
            )],
            // A completed pre-copy to the transit server lends it (the transit pool).
            _ => Vec::new(),
        },
        // A transit server's wipe concerns the transit pool.
        TransferKind::Wipe => Vec::new(),
        TransferKind::TestCopy => {
            let Some(migration_id) = transfer.migration_id else {
                return Ok(Vec::new());
            };
            let outcome = match outcome {
                TransferOutcome::Completed { test_address, .. } => {
                    Ok(test_address.clone().ok_or_else(|| {
                        Missing(format!(
                            "test copy {} completed without the address customers reach it at",
                            transfer.transfer_id
                        ))
                    })?)
                }
                TransferOutcome::Failed { reason, .. } => Err(reason.clone()),
            };
            vec![to_migration(
                reaction_id(NAME, event.event_id, "test-copy"),
                migration_id,
                Action::RecordTestCopy {
                    transfer_id: transfer.transfer_id,
                    outcome,
                },
            )]
        }
        TransferKind::ServiceMigration => {
            let optional_id = transfer.migration_id.unwrap_or(event.correlation_id);
            let mut commands = Vec::new();
            let outcome = match outcome {
                TransferOutcome::Completed { downtime_ms, .. } => {
                    let downtime_ms = measured_downtime(transfer, *downtime_ms)?;
                    commands.extend(service_moved(event, optional_id, transfer, view));
                    Ok(downtime_ms)
                }
                TransferOutcome::Failed { reason, .. } => Err(reason.clone()),
            };
            commands.push(to_optional(
                reaction_id(NAME, event.event_id, "service-migrated"),
                optional_id,
                OptionalAction::RecordResult {
                    transfer_id: transfer.transfer_id,
                    outcome,
                },
            ));
            commands
        }
        TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation => {
            let Some(migration_id) = transfer.migration_id else {
                return Ok(Vec::new());
            };
            match outcome {
                TransferOutcome::Failed { reason, .. } => vec![to_migration(
                    reaction_id(NAME, event.event_id, "cutover-failed"),
                    migration_id,
                    Action::RecordCutover {
                        transfer_id: transfer.transfer_id,
                        outcome: Err(reason.clone()),
                    },
                )],
                // The network's switch completes it otherwise (`AccountTrafficSwitched`).
                TransferOutcome::Completed { .. } => cutover_done(transfer.transfer_id, view)?
                    .into_iter()
                    .collect(),
            }
        }
    })
}

/// `RecordCutover` once the cutover `transfer_id` is copied and verified **and** its
/// account's traffic is on its destination; its id derives from the transfer, so
/// the completion and the switch, whichever is handled last, record it once. A
/// completed cutover without its measured downtime or without an account is a fact
/// missing, never a zero or a switch taken for granted.
fn cutover_done(
    transfer_id: Uuid,
    view: &Entries<AccountsFact>,
) -> Result<Option<AccountsCommand>, Missing> {
    let Some(AccountsFact::Transfer(transfer)) = view.get(&transfer_key(&transfer_id.to_string()))
    else {
        return Ok(None);
    };
    let (Some(migration_id), Some(TransferOutcome::Completed { downtime_ms, .. })) =
        (transfer.migration_id, &transfer.outcome)
    else {
        return Ok(None);
    };
    let Some(account) = transfer.accounts.first() else {
        return Err(Missing(format!(
            "cutover {transfer_id} names no account whose traffic would follow it"
        )));
    };
    let switched_there = matches!(
        view.get(&traffic_key(account)),
        Some(AccountsFact::Traffic { to_server_id }) if *to_server_id == transfer.destination
    );
    if !switched_there {
        return Ok(None);
    }
    let downtime_ms = measured_downtime(transfer, *downtime_ms)?;
    Ok(Some(to_migration(
        reaction_id(NAME, transfer_id, "cutover"),
        migration_id,
        Action::RecordCutover {
            transfer_id,
            outcome: Ok(downtime_ms),
        },
    )))
}

/// The downtime a completed transfer that freezes its accounts measured.
fn measured_downtime(
    transfer: &facts::TransferFacts,
    downtime_ms: Option<u64>,
) -> Result<u64, Missing> {
    downtime_ms.ok_or_else(|| {
        Missing(format!(
            "transfer {} completed without the downtime it measured",
            transfer.transfer_id
        ))
    })
}

/// An optional migration applied or cancelled gives its service back to the server,
/// so that another one can be scheduled.
fn release_service(
    event: &Envelope,
    view: &Entries<AccountsFact>,
) -> Result<Option<AccountsCommand>, Missing> {
    let Ok(optional_id) = event.aggregate_id.parse::<Uuid>() else {
        return Ok(None);
    };
    match view.get(&optional_key(optional_id)) {
        Some(AccountsFact::Optional {
            server_id,
            service: Some(service),
            ..
        }) if !server_id.is_empty() => Ok(Some(to_server(
            reaction_id(NAME, event.event_id, "release-service"),
            optional_id,
            server_id,
            ServerCommand::ReleaseService {
                optional_migration_id: optional_id,
                service: *service,
            },
        ))),
        _ => Err(Missing(format!(
            "optional migration {optional_id}: its server and service are not known"
        ))),
    }
}

/// A service's databases moved to its new version's server: the server says so
/// (where they live, the version they run) before the optional migration is
/// recorded applied, so that no later transfer copies from the old server.
fn service_moved(
    event: &Envelope,
    optional_id: Uuid,
    transfer: &facts::TransferFacts,
    view: &Entries<AccountsFact>,
) -> Option<AccountsCommand> {
    let (from, to) = (&transfer.source_storage, &transfer.destination_storage);
    let (engine, url, credential) = if from.postgres_url != to.postgres_url {
        (
            DatabaseEngine::Postgres,
            to.postgres_url.clone()?,
            to.postgres_credential.clone(),
        )
    } else if from.mysql_url != to.mysql_url {
        (
            DatabaseEngine::Mysql,
            to.mysql_url.clone()?,
            to.mysql_credential.clone(),
        )
    } else {
        return None;
    };
    let Some(AccountsFact::Optional { to_version, .. }) = view.get(&optional_key(optional_id))
    else {
        return None;
    };
    Some(to_server(
        reaction_id(NAME, event.event_id, "service-moved"),
        optional_id,
        &transfer.server_id,
        ServerCommand::MoveDatabaseService {
            engine,
            url,
            credential,
            version: to_version.clone(),
        },
    ))
}
