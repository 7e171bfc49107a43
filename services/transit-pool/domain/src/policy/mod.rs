//! The transit pool's reactions, as a pure policy over its local view.
//!
//! The view (`transit_pool_view`) folds what the pool needs from the log:
//! - `migration/<id>`: the client server, target version and configuration of a
//!   migration (`MigrationOpened`, `TransitServerRequested`);
//! - `transit/<id>`: each transit server's configuration and where it is in its life
//!   (from its own events), with the due time of its installation: these entries are
//!   the pool's durable timers;
//! - `precopy/<transfer id>`: a migration's pre-copy and the server it copies to
//!   (`TransferScheduled` of kind `pre_copy`), to lend the transit server once done;
//! - `wipe/<transfer id>`: the data mover's wipe of a transit server
//!   (`TransferScheduled` of kind `wipe`), to free it or take it out of service.
//!
//! | event (aggregate) | command |
//! |---|---|
//! | `ObsoleteLanguagesRemoved` (migration) | queue `Request` in the migration's configuration |
//! | `ObsoleteLanguagesRestored`, `MigrationCancelled`, `MigrationCompleted` (migration) | queue `ReleaseRequest` |
//! | `TransitRequestServed` (transit_queue) | transit server `Reserve` |
//! | `TransitAssignmentEnded` (transit_queue) | transit server `Release` (wipe starts); a server never reserved goes back to its queue (`ServerAvailable`) |
//! | `TransitServerWithdrawn` (transit_queue) | transit server `TakeOutOfService` |
//! | `TransitServerAdded`, `TransitServerWiped`, `TransitServerReturnedToService` | queue `ServerAvailable` |
//! | `TransferCompleted` of the migration's pre-copy to its installed transit server | transit server `Lend` |
//! | `TransferCompleted` / `TransferFailed` of a transit server's wipe | transit server `CompleteWipe` / `FailWipe` (out of service, with the reason) |
//! | an installation due | transit server `CompleteInstallation` |
//!
//! Command ids derive from the event (or, for timers, from the event that started
//! them), the correlation is the migration: a redelivered event changes nothing.
//!
//! Its reactions run in one lane (the default [`Policy::lane`]): they decide on the
//! pool's shared facts, which its other reactions change (a reservation must be seen
//! by the release that follows it, whichever migration each event names).

use chrono::{DateTime, Utc};
use ferry_core::policy::{Entries, Missing, Policy, View, reaction_id};
use ferry_events::{
    AggregateType, Envelope, Event, MigrationEvent, TransferEvent, TransferKind, TransitQueueEvent,
    TransitServerEvent,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The reactor's name: its durable consumer and the namespace of its command ids.
pub const NAME: &str = "transit_pool";

/// One entry of the pool's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
pub enum PoolFact {
    /// A migration, as far as the pool is concerned.
    Migration {
        /// Its client server.
        server_id: String,
        /// The version it migrates to.
        target_version: String,
        /// The configuration of the transit server it asked for, once it asked.
        configuration: Option<String>,
    },
    /// A transit server.
    Transit {
        /// Its configuration (its queue).
        configuration: String,
        /// Where it is in its life.
        stage: Stage,
    },
    /// A migration's pre-copy of files and mails.
    PreCopy {
        /// The migration.
        migration_id: Uuid,
        /// The server it copies to.
        destination: String,
    },
    /// The data mover's wipe of a transit server.
    Wipe {
        /// The transit server.
        transit_server_id: String,
    },
}

/// Where a transit server is in its life, as the pool's reactions need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage")]
pub enum Stage {
    /// Free in its queue (or never reserved).
    Available,
    /// Reserved, installing for a migration; the installation completes at `due`.
    Installing {
        /// The migration.
        migration_id: Uuid,
        /// When the installation is expected to be done.
        due: DateTime<Utc>,
        /// The `TransitInstallationStarted` event (its completion's command id).
        started_by: Uuid,
    },
    /// Held by a migration: reserved, installed or lent.
    Held {
        /// The migration.
        migration_id: Uuid,
    },
    /// Being wiped by the data mover, which reports how it ended.
    Wiping {
        /// The migration that held it (the wipe's correlation).
        correlation_id: Uuid,
    },
    /// Out of service.
    OutOfService,
}

/// A command the pool's policy issues, with its id and correlation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCommand {
    /// The command id, derived from its cause.
    pub id: Uuid,
    /// The migration it belongs to (or its cause's correlation).
    pub correlation_id: Uuid,
    /// What to do.
    pub action: PoolAction,
}

/// What the pool's policy asks of the pool's aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolAction {
    /// Queue a migration's request in its configuration.
    Request {
        /// The configuration (the queue).
        configuration: String,
        /// The migration.
        migration_id: Uuid,
        /// Its client server.
        client_server_id: String,
        /// When it asked.
        requested_at: DateTime<Utc>,
    },
    /// Withdraw a request, or end its assignment.
    ReleaseRequest {
        /// The configuration (the queue).
        configuration: String,
        /// The migration.
        migration_id: Uuid,
        /// Why.
        reason: String,
    },
    /// A server is free in its queue.
    ServerAvailable {
        /// The configuration (the queue).
        configuration: String,
        /// The transit server.
        transit_server_id: String,
    },
    /// Reserve a transit server for a migration (its installation starts).
    Reserve {
        /// The transit server.
        transit_server_id: String,
        /// The migration.
        migration_id: Uuid,
        /// Its client server.
        client_server_id: String,
        /// The version to install.
        target_version: String,
    },
    /// The installation is done.
    CompleteInstallation {
        /// The transit server.
        transit_server_id: String,
        /// The migration it was installed for.
        migration_id: Uuid,
    },
    /// Lend the installed server (the pre-copy is done).
    Lend {
        /// The transit server.
        transit_server_id: String,
        /// The migration.
        migration_id: Uuid,
        /// When.
        lent_at: DateTime<Utc>,
    },
    /// The migration gives the server back (its wipe starts).
    ReleaseServer {
        /// The transit server.
        transit_server_id: String,
        /// The migration.
        migration_id: Uuid,
    },
    /// The wipe is done.
    CompleteWipe {
        /// The transit server.
        transit_server_id: String,
    },
    /// The wipe failed: out of service, with the reason.
    FailWipe {
        /// The transit server.
        transit_server_id: String,
        /// The data mover's reason.
        reason: String,
    },
    /// Take a withdrawn server out of service.
    TakeOutOfService {
        /// The transit server.
        transit_server_id: String,
        /// Why.
        reason: String,
    },
}

/// The pool's view.
#[derive(Debug)]
pub struct PoolView;

fn migration_key(id: impl std::fmt::Display) -> String {
    format!("migration/{id}")
}

fn transit_key(id: &str) -> String {
    format!("transit/{id}")
}

fn precopy_key(id: &str) -> String {
    format!("precopy/{id}")
}

fn wipe_key(id: &str) -> String {
    format!("wipe/{id}")
}

fn due_after(at: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    at.checked_add_signed(chrono::Duration::milliseconds(
        i64::try_from(ms).unwrap_or(i64::MAX),
    ))
    .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl View for PoolView {
    const NAME: &'static str = "transit_pool_view";
    const AGGREGATES: &'static [AggregateType] = &[
        AggregateType::Migration,
        AggregateType::TransitQueue,
        AggregateType::TransitServer,
        AggregateType::Transfer,
    ];
    type Entry = PoolFact;

    fn keys(event: &Envelope) -> Vec<String> {
        match &event.event {
            Event::Migration(
                MigrationEvent::MigrationOpened(_) | MigrationEvent::TransitServerRequested(_),
            ) => vec![migration_key(&event.aggregate_id)],
            Event::TransitServer(_) => vec![transit_key(&event.aggregate_id)],
            Event::Transfer(TransferEvent::TransferScheduled(s))
                if s.kind == TransferKind::PreCopy && s.migration_id.is_some() =>
            {
                vec![precopy_key(&event.aggregate_id)]
            }
            Event::Transfer(TransferEvent::TransferScheduled(s))
                if s.kind == TransferKind::Wipe =>
            {
                vec![wipe_key(&event.aggregate_id)]
            }
            _ => Vec::new(),
        }
    }

    fn evolve(_key: &str, entry: Option<PoolFact>, event: &Envelope) -> Option<PoolFact> {
        match &event.event {
            Event::Migration(MigrationEvent::MigrationOpened(e)) => Some(PoolFact::Migration {
                server_id: e.server_id.clone(),
                target_version: e.target_version.clone(),
                configuration: None,
            }),
            Event::Migration(MigrationEvent::TransitServerRequested(e)) => match entry {
                Some(PoolFact::Migration {
                    server_id,
                    target_version,
                    ..
                }) => Some(PoolFact::Migration {
                    server_id,
                    target_version,
                    configuration: Some(e.configuration.clone()),
                }),
                other => other,
            },
            Event::TransitServer(e) => evolve_transit(entry, e, event),
            Event::Transfer(TransferEvent::TransferScheduled(s))
                if s.kind == TransferKind::Wipe =>
            {
                Some(PoolFact::Wipe {
                    transit_server_id: s.destination.server_id.clone(),
                })
            }
            Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                s.migration_id.map(|migration_id| PoolFact::PreCopy {
                    migration_id,
                    destination: s.destination.server_id.clone(),
                })
            }
            _ => entry,
        }
    }

    fn due(entry: &PoolFact) -> Option<DateTime<Utc>> {
        match entry {
            PoolFact::Transit {
                stage: Stage::Installing { due, .. },
                ..
            } => Some(*due),
            _ => None,
        }
    }
}

fn evolve_transit(
    entry: Option<PoolFact>,
    event: &TransitServerEvent,
    envelope: &Envelope,
) -> Option<PoolFact> {
    if let TransitServerEvent::TransitServerAdded(e) = event {
        return Some(PoolFact::Transit {
            configuration: e.configuration.clone(),
            stage: Stage::Available,
        });
    }
    let Some(PoolFact::Transit {
        configuration,
        stage,
    }) = entry
    else {
        return entry;
    };
    let stage = match event {
        TransitServerEvent::TransitServerReserved(e) => Stage::Held {
            migration_id: e.migration_id,
        },
        TransitServerEvent::TransitInstallationStarted(e) => Stage::Installing {
            migration_id: e.migration_id,
            due: due_after(envelope.occurred_at, e.expected_duration_ms),
            started_by: envelope.event_id,
        },
        TransitServerEvent::TransitInstallationCompleted(e) => Stage::Held {
            migration_id: e.migration_id,
        },
        TransitServerEvent::TransitInstallationFailed(e) => Stage::Held {
            migration_id: e.migration_id,
        },
        TransitServerEvent::TransitServerLent(e) => Stage::Held {
            migration_id: e.migration_id,
        },
        TransitServerEvent::TransitServerReleased(_) => stage,
        TransitServerEvent::TransitServerWipeStarted(_) => Stage::Wiping {
            correlation_id: envelope.correlation_id,
        },
        TransitServerEvent::TransitServerWiped(_)
        | TransitServerEvent::TransitServerReturnedToService(_) => Stage::Available,
        TransitServerEvent::TransitServerTakenOutOfService(_) => Stage::OutOfService,
        TransitServerEvent::TransitServerAdded(_) => stage,
    };
    Some(PoolFact::Transit {
        configuration,
        stage,
    })
}

/// The pool's policy.
#[derive(Debug)]
pub struct PoolPolicy;

impl PoolPolicy {
    fn command(
        event: &Envelope,
        purpose: &str,
        correlation_id: Uuid,
        action: PoolAction,
    ) -> PoolCommand {
        PoolCommand {
            id: reaction_id(NAME, event.event_id, purpose),
            correlation_id,
            action,
        }
    }
}

/// The migration an event of the `migration` aggregate belongs to.
fn migration_of(event: &Envelope) -> Option<Uuid> {
    event.aggregate_id.parse().ok()
}

impl Policy for PoolPolicy {
    type View = PoolView;
    type Command = PoolCommand;
    const NAME: &'static str = NAME;

    fn reads(event: &Envelope, known: &Entries<PoolFact>) -> Vec<String> {
        match &event.event {
            Event::Migration(_) => vec![migration_key(&event.aggregate_id)],
            Event::TransitQueue(TransitQueueEvent::TransitRequestServed(e)) => {
                vec![migration_key(e.migration_id)]
            }
            Event::TransitQueue(TransitQueueEvent::TransitAssignmentEnded(e)) => {
                vec![transit_key(&e.transit_server_id)]
            }
            Event::TransitServer(_) => vec![transit_key(&event.aggregate_id)],
            Event::Transfer(
                TransferEvent::TransferCompleted(_) | TransferEvent::TransferFailed(_),
            ) => {
                let (precopy, wipe) = (
                    precopy_key(&event.aggregate_id),
                    wipe_key(&event.aggregate_id),
                );
                let transit = match (known.get(&precopy), known.get(&wipe)) {
                    (Some(PoolFact::PreCopy { destination, .. }), _) => Some(destination),
                    (_, Some(PoolFact::Wipe { transit_server_id })) => Some(transit_server_id),
                    _ => None,
                };
                let mut keys = vec![precopy, wipe];
                keys.extend(transit.map(|id| transit_key(id)));
                keys
            }
            _ => Vec::new(),
        }
    }

    fn react(event: &Envelope, view: &Entries<PoolFact>) -> Result<Vec<PoolCommand>, Missing> {
        match &event.event {
            Event::Migration(e) => on_migration(event, e, view),
            Event::TransitQueue(e) => on_queue(event, e, view),
            Event::TransitServer(e) => on_transit_server(event, e, view),
            Event::Transfer(TransferEvent::TransferCompleted(_)) => {
                let mut commands = on_transfer_completed(event, view);
                commands.extend(on_wipe_ended(event, None, view));
                Ok(commands)
            }
            Event::Transfer(TransferEvent::TransferFailed(failed)) => {
                Ok(on_wipe_ended(event, Some(&failed.reason), view))
            }
            _ => Ok(Vec::new()),
        }
    }

    fn on_due(key: &str, entry: &PoolFact) -> Vec<PoolCommand> {
        let Some(transit_server_id) = key.strip_prefix("transit/") else {
            return Vec::new();
        };
        let transit_server_id = transit_server_id.to_owned();
        match entry {
            PoolFact::Transit {
                stage:
                    Stage::Installing {
                        migration_id,
                        started_by,
                        ..
                    },
                ..
            } => vec![PoolCommand {
                id: reaction_id(NAME, *started_by, "complete-installation"),
                correlation_id: *migration_id,
                action: PoolAction::CompleteInstallation {
                    transit_server_id,
                    migration_id: *migration_id,
                },
            }],
            _ => Vec::new(),
        }
    }
}

fn on_migration(
    event: &Envelope,
    e: &MigrationEvent,
    view: &Entries<PoolFact>,
) -> Result<Vec<PoolCommand>, Missing> {
    let Some(migration_id) = migration_of(event) else {
        return Err(Missing(format!(
            "migration id {:?} is not a uuid",
            event.aggregate_id
        )));
    };
    let (server_id, configuration) = match view.get(&migration_key(migration_id)) {
        Some(PoolFact::Migration {
            server_id,
            configuration,
            ..
        }) => (server_id.as_str(), configuration.clone()),
        _ => ("", None),
    };
    let reason = match e {
        MigrationEvent::ObsoleteLanguagesRemoved(_) => {
            let (Some(configuration), false) = (configuration, server_id.is_empty()) else {
                return Err(Missing(format!(
                    "migration {migration_id} removed its obsolete languages without having \
                     been opened and requested a transit server"
                )));
            };
            return Ok(vec![PoolPolicy::command(
                event,
                "request",
                migration_id,
                PoolAction::Request {
                    configuration,
                    migration_id,
                    client_server_id: server_id.to_owned(),
                    requested_at: event.occurred_at,
                },
            )]);
        }
        MigrationEvent::ObsoleteLanguagesRestored(_) => {
            "obsolete languages restored: the migration is back to step 1".to_owned()
        }
        MigrationEvent::MigrationCancelled(c) => format!("migration cancelled: {}", c.reason),
        MigrationEvent::MigrationCompleted(_) => "migration completed".to_owned(),
        _ => return Ok(Vec::new()),
    };
    // Never asked for a transit server: nothing to give back.
    let Some(configuration) = configuration else {
        return Ok(Vec::new());
    };
    Ok(vec![PoolPolicy::command(
        event,
        "release",
        migration_id,
        PoolAction::ReleaseRequest {
            configuration,
            migration_id,
            reason,
        },
    )])
}

fn on_queue(
    event: &Envelope,
    e: &TransitQueueEvent,
    view: &Entries<PoolFact>,
) -> Result<Vec<PoolCommand>, Missing> {
    Ok(match e {
        TransitQueueEvent::TransitRequestServed(served) => {
            let Some(PoolFact::Migration {
                server_id,
                target_version,
                ..
            }) = view.get(&migration_key(served.migration_id))
            else {
                return Err(Missing(format!(
                    "migration {} was served a transit server but was never opened",
                    served.migration_id
                )));
            };
            vec![PoolPolicy::command(
                event,
                "reserve",
                served.migration_id,
                PoolAction::Reserve {
                    transit_server_id: served.transit_server_id.clone(),
                    migration_id: served.migration_id,
                    client_server_id: server_id.clone(),
                    target_version: target_version.clone(),
                },
            )]
        }
        TransitQueueEvent::TransitAssignmentEnded(ended) => {
            let never_reserved = matches!(
                view.get(&transit_key(&ended.transit_server_id)),
                Some(PoolFact::Transit {
                    stage: Stage::Available,
                    ..
                })
            );
            if never_reserved {
                // Its reservation never happened (refused): nothing to wipe, it is
                // free in its queue (this event's aggregate) again at once.
                return Ok(vec![PoolPolicy::command(
                    event,
                    "available-unreserved",
                    ended.migration_id,
                    PoolAction::ServerAvailable {
                        configuration: event.aggregate_id.clone(),
                        transit_server_id: ended.transit_server_id.clone(),
                    },
                )]);
            }
            vec![PoolPolicy::command(
                event,
                "release-server",
                ended.migration_id,
                PoolAction::ReleaseServer {
                    transit_server_id: ended.transit_server_id.clone(),
                    migration_id: ended.migration_id,
                },
            )]
        }
        TransitQueueEvent::TransitServerWithdrawn(withdrawn) => vec![PoolPolicy::command(
            event,
            "out-of-service",
            event.correlation_id,
            PoolAction::TakeOutOfService {
                transit_server_id: withdrawn.transit_server_id.clone(),
                reason: withdrawn.reason.clone(),
            },
        )],
        _ => Vec::new(),
    })
}

fn on_transit_server(
    event: &Envelope,
    e: &TransitServerEvent,
    view: &Entries<PoolFact>,
) -> Result<Vec<PoolCommand>, Missing> {
    match e {
        TransitServerEvent::TransitServerAdded(_)
        | TransitServerEvent::TransitServerWiped(_)
        | TransitServerEvent::TransitServerReturnedToService(_) => {
            let Some(PoolFact::Transit { configuration, .. }) =
                view.get(&transit_key(&event.aggregate_id))
            else {
                return Err(Missing(format!(
                    "transit server {} has no TransitServerAdded",
                    event.aggregate_id
                )));
            };
            Ok(vec![PoolPolicy::command(
                event,
                "available",
                event.correlation_id,
                PoolAction::ServerAvailable {
                    configuration: configuration.clone(),
                    transit_server_id: event.aggregate_id.clone(),
                },
            )])
        }
        _ => Ok(Vec::new()),
    }
}

/// A transit server's wipe ended: it is free again, or out of service with the
/// reason it failed (`failure`). Only while it is being wiped: a report of an older
/// wipe changes nothing.
fn on_wipe_ended(
    event: &Envelope,
    failure: Option<&str>,
    view: &Entries<PoolFact>,
) -> Vec<PoolCommand> {
    let Some(PoolFact::Wipe { transit_server_id }) = view.get(&wipe_key(&event.aggregate_id))
    else {
        return Vec::new();
    };
    let Some(PoolFact::Transit {
        stage: Stage::Wiping { correlation_id },
        ..
    }) = view.get(&transit_key(transit_server_id))
    else {
        return Vec::new();
    };
    let transit_server_id = transit_server_id.clone();
    let (purpose, action) = match failure {
        None => ("wiped", PoolAction::CompleteWipe { transit_server_id }),
        Some(reason) => (
            "wipe-failed",
            PoolAction::FailWipe {
                transit_server_id,
                reason: reason.to_owned(),
            },
        ),
    };
    vec![PoolPolicy::command(event, purpose, *correlation_id, action)]
}

/// A completed transfer lends the transit server when it is the migration's
/// pre-copy to the transit server installed for it (not, say, the pre-copy back to
/// the reinstalled client server).
fn on_transfer_completed(event: &Envelope, view: &Entries<PoolFact>) -> Vec<PoolCommand> {
    let Some(PoolFact::PreCopy {
        migration_id,
        destination,
    }) = view.get(&precopy_key(&event.aggregate_id))
    else {
        return Vec::new();
    };
    let held_for_it = matches!(
        view.get(&transit_key(destination)),
        Some(PoolFact::Transit { stage: Stage::Held { migration_id: m }, .. }) if m == migration_id
    );
    if !held_for_it {
        return Vec::new();
    }
    vec![PoolPolicy::command(
        event,
        "lend",
        *migration_id,
        PoolAction::Lend {
            transit_server_id: destination.clone(),
            migration_id: *migration_id,
            lent_at: event.occurred_at,
        },
    )]
}

#[cfg(test)]
mod tests;
