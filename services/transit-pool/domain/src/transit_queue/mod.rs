//! The transit queue of one configuration (aggregate `transit_queue`, id = the
//! configuration, e.g. `vps-4c-8g`): the FIFO line of migrations waiting for a transit
//! server, and the allocator of that configuration's transit servers.
//!
//! Every allocation decision (a request, a server becoming free, a server withdrawn, an
//! assignment ending) is one optimistic append to this one aggregate, so whatever the
//! concurrency:
//! - a transit server is never assigned to two migrations;
//! - a migration never holds two transit servers;
//! - waiting requests are served first come, first served (queue order).
//!
//! Emits [`TransitRequestQueued`], [`TransitRequestServed`], [`TransitRequestWithdrawn`],
//! [`TransitServerAvailable`], [`TransitServerWithdrawn`] and [`TransitAssignmentEnded`].

use chrono::{DateTime, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    AggregateType, Event, TransitAssignmentEnded, TransitQueueEvent, TransitRequestQueued,
    TransitRequestServed, TransitRequestWithdrawn, TransitServerAvailable, TransitServerWithdrawn,
    validate_aggregate_id,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The decider of the `transit_queue` aggregate.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransitQueueDecider;

/// A migration waiting for a transit server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRequest {
    /// The waiting migration.
    pub migration_id: Uuid,
    /// Its client server.
    pub client_server_id: String,
    /// When the transit server was requested.
    pub requested_at: DateTime<Utc>,
}

/// The state of one configuration's queue, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransitQueue {
    /// Free transit servers, in the order they became free (the first is lent first).
    pub free: Vec<String>,
    /// Waiting requests, in queue order (the first is served first).
    pub waiting: Vec<WaitingRequest>,
    /// Which transit server each served migration holds.
    pub assignments: BTreeMap<Uuid, String>,
    /// Transit servers withdrawn from service (not lendable until available again).
    pub withdrawn: BTreeSet<String>,
}

impl TransitQueue {
    /// The migration holding `transit_server_id`, if any.
    pub fn holder_of(&self, transit_server_id: &str) -> Option<Uuid> {
        self.assignments
            .iter()
            .find(|(_, server)| server.as_str() == transit_server_id)
            .map(|(migration, _)| *migration)
    }

    /// The 1-based position of a waiting migration, if it waits.
    pub fn position_of(&self, migration_id: Uuid) -> Option<usize> {
        self.waiting
            .iter()
            .position(|w| w.migration_id == migration_id)
            .map(|i| i + 1)
    }

    /// Whether `transit_server_id` is free in this queue.
    pub fn is_free(&self, transit_server_id: &str) -> bool {
        self.free.iter().any(|s| s == transit_server_id)
    }
}

/// What can be asked of a transit queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitQueueCommand {
    /// A migration needs a transit server of this configuration.
    Request {
        /// The migration.
        migration_id: Uuid,
        /// Its client server.
        client_server_id: String,
        /// When the transit server was requested.
        requested_at: DateTime<Utc>,
    },
    /// A transit server of this configuration is free (added, wiped, back in service).
    ServerAvailable {
        /// The transit server.
        transit_server_id: String,
    },
    /// A free transit server must stop being lent (support takes it out of service).
    WithdrawServer {
        /// The transit server.
        transit_server_id: String,
        /// Why, for support.
        reason: String,
    },
    /// A migration no longer needs its request or its transit server (cancelled,
    /// completed, back to step 1).
    Release {
        /// The migration.
        migration_id: Uuid,
        /// Why.
        reason: String,
    },
}

/// Why a transit queue refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitQueueRejection {
    /// The command names something impossible.
    #[error("invalid transit queue command: {0}")]
    Invalid(String),
    /// A server said to be free is still held by a migration.
    #[error(
        "transit server {transit_server_id} is still assigned to migration {migration_id}: \
         it becomes available again only once that assignment ended and it is wiped"
    )]
    StillAssigned {
        /// The transit server.
        transit_server_id: String,
        /// The migration holding it.
        migration_id: Uuid,
    },
    /// Only a free server can be withdrawn; this one is lent.
    #[error(
        "transit server {transit_server_id} is assigned to migration {migration_id}: only a \
         free transit server can be taken out of service; wait until the migration gives it back"
    )]
    WithdrawAssigned {
        /// The transit server.
        transit_server_id: String,
        /// The migration holding it.
        migration_id: Uuid,
    },
    /// The server is already withdrawn.
    #[error("transit server {0} is already withdrawn from service")]
    AlreadyWithdrawn(String),
    /// Only a free server can be withdrawn; this one is not free here.
    #[error(
        "transit server {0} is not free in this queue (not yet available, still being wiped, \
         or of another configuration): only a free transit server can be taken out of service"
    )]
    NotFree(String),
}

impl Refusal for TransitQueueRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            TransitQueueRejection::Invalid(_) => RefusalKind::Invalid,
            TransitQueueRejection::StillAssigned { .. }
            | TransitQueueRejection::WithdrawAssigned { .. }
            | TransitQueueRejection::AlreadyWithdrawn(_)
            | TransitQueueRejection::NotFree(_) => RefusalKind::Conflict,
        }
    }
}

fn check_server_id(transit_server_id: &str) -> Result<(), TransitQueueRejection> {
    validate_aggregate_id(transit_server_id)
        .map_err(|e| TransitQueueRejection::Invalid(format!("transit server id: {e}")))
}

impl Decider for TransitQueueDecider {
    type State = TransitQueue;
    type Command = TransitQueueCommand;
    type Event = TransitQueueEvent;
    type Rejection = TransitQueueRejection;

    const AGGREGATE: AggregateType = AggregateType::TransitQueue;

    fn decide(
        state: &TransitQueue,
        command: &TransitQueueCommand,
    ) -> Result<Vec<TransitQueueEvent>, TransitQueueRejection> {
        match command {
            TransitQueueCommand::Request {
                migration_id,
                client_server_id,
                requested_at,
            } => {
                if client_server_id.trim().is_empty() {
                    return Err(TransitQueueRejection::Invalid(
                        "the client server id is empty".into(),
                    ));
                }
                if state.position_of(*migration_id).is_some()
                    || state.assignments.contains_key(migration_id)
                {
                    return Ok(Vec::new());
                }
                // Free servers and waiting requests never coexist (a free server serves
                // the head at once); should they, the line keeps its order.
                let free = state.free.first().filter(|_| state.waiting.is_empty());
                Ok(vec![match free {
                    Some(server) => TransitRequestServed {
                        migration_id: *migration_id,
                        transit_server_id: server.clone(),
                    }
                    .into(),
                    None => TransitRequestQueued {
                        migration_id: *migration_id,
                        client_server_id: client_server_id.clone(),
                        requested_at: *requested_at,
                    }
                    .into(),
                }])
            }
            TransitQueueCommand::ServerAvailable { transit_server_id } => {
                check_server_id(transit_server_id)?;
                if state.is_free(transit_server_id) {
                    return Ok(Vec::new());
                }
                if let Some(migration_id) = state.holder_of(transit_server_id) {
                    return Err(TransitQueueRejection::StillAssigned {
                        transit_server_id: transit_server_id.clone(),
                        migration_id,
                    });
                }
                let mut events: Vec<TransitQueueEvent> = vec![
                    TransitServerAvailable {
                        transit_server_id: transit_server_id.clone(),
                    }
                    .into(),
                ];
                if let Some(head) = state.waiting.first() {
                    events.push(
                        TransitRequestServed {
                            migration_id: head.migration_id,
                            transit_server_id: transit_server_id.clone(),
                        }
                        .into(),
                    );
                }
                Ok(events)
            }
            TransitQueueCommand::WithdrawServer {
                transit_server_id,
                reason,
            } => {
                check_server_id(transit_server_id)?;
                if ferry_events::is_blank(reason) {
                    return Err(TransitQueueRejection::Invalid(
                        "say why the transit server is taken out of service".into(),
                    ));
                }
                if state.is_free(transit_server_id) {
                    return Ok(vec![
                        TransitServerWithdrawn {
                            transit_server_id: transit_server_id.clone(),
                            reason: reason.clone(),
                        }
                        .into(),
                    ]);
                }
                if let Some(migration_id) = state.holder_of(transit_server_id) {
                    return Err(TransitQueueRejection::WithdrawAssigned {
                        transit_server_id: transit_server_id.clone(),
                        migration_id,
                    });
                }
                if state.withdrawn.contains(transit_server_id) {
                    return Err(TransitQueueRejection::AlreadyWithdrawn(
                        transit_server_id.clone(),
                    ));
                }
                Err(TransitQueueRejection::NotFree(transit_server_id.clone()))
            }
            TransitQueueCommand::Release {
                migration_id,
                reason,
            } => {
                if state.position_of(*migration_id).is_some() {
                    return Ok(vec![
                        TransitRequestWithdrawn {
                            migration_id: *migration_id,
                            reason: reason.clone(),
                        }
                        .into(),
                    ]);
                }
                Ok(match state.assignments.get(migration_id) {
                    Some(server) => vec![
                        TransitAssignmentEnded {
                            migration_id: *migration_id,
                            transit_server_id: server.clone(),
                        }
                        .into(),
                    ],
                    None => Vec::new(),
                })
            }
        }
    }

    fn evolve(mut state: TransitQueue, event: &TransitQueueEvent) -> TransitQueue {
        match event {
            TransitQueueEvent::TransitRequestQueued(e) => {
                state.waiting.push(WaitingRequest {
                    migration_id: e.migration_id,
                    client_server_id: e.client_server_id.clone(),
                    requested_at: e.requested_at,
                });
            }
            TransitQueueEvent::TransitRequestServed(e) => {
                state.waiting.retain(|w| w.migration_id != e.migration_id);
                state.free.retain(|s| *s != e.transit_server_id);
                state
                    .assignments
                    .insert(e.migration_id, e.transit_server_id.clone());
            }
            TransitQueueEvent::TransitRequestWithdrawn(e) => {
                state.waiting.retain(|w| w.migration_id != e.migration_id);
            }
            TransitQueueEvent::TransitServerAvailable(e) => {
                state.withdrawn.remove(&e.transit_server_id);
                if !state.is_free(&e.transit_server_id) {
                    state.free.push(e.transit_server_id.clone());
                }
            }
            TransitQueueEvent::TransitServerWithdrawn(e) => {
                state.free.retain(|s| *s != e.transit_server_id);
                state.withdrawn.insert(e.transit_server_id.clone());
            }
            TransitQueueEvent::TransitAssignmentEnded(e) => {
                state.assignments.remove(&e.migration_id);
            }
        }
        state
    }

    fn select(event: &Event) -> Option<&TransitQueueEvent> {
        match event {
            Event::TransitQueue(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
