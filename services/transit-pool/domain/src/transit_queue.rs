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
                if reason.trim().is_empty() {
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
mod tests {
    use super::TransitQueueCommand as C;
    use super::*;
    use chrono::TimeZone;
    use ferry_core::scenario::given;

    type Q = TransitQueueDecider;

    fn m(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, minute, 0)
            .single()
            .unwrap_or_default()
    }

    fn request(n: u128) -> C {
        C::Request {
            migration_id: m(n),
            client_server_id: format!("srv-{n}"),
            requested_at: at(n as u32),
        }
    }

    fn queued(n: u128) -> TransitQueueEvent {
        TransitRequestQueued {
            migration_id: m(n),
            client_server_id: format!("srv-{n}"),
            requested_at: at(n as u32),
        }
        .into()
    }

    fn served(n: u128, server: &str) -> TransitQueueEvent {
        TransitRequestServed {
            migration_id: m(n),
            transit_server_id: server.into(),
        }
        .into()
    }

    fn available(server: &str) -> TransitQueueEvent {
        TransitServerAvailable {
            transit_server_id: server.into(),
        }
        .into()
    }

    fn withdrawn(server: &str) -> TransitQueueEvent {
        TransitServerWithdrawn {
            transit_server_id: server.into(),
            reason: "disk fault".into(),
        }
        .into()
    }

    fn ended(n: u128, server: &str) -> TransitQueueEvent {
        TransitAssignmentEnded {
            migration_id: m(n),
            transit_server_id: server.into(),
        }
        .into()
    }

    fn server_available(server: &str) -> C {
        C::ServerAvailable {
            transit_server_id: server.into(),
        }
    }

    fn withdraw(server: &str) -> C {
        C::WithdrawServer {
            transit_server_id: server.into(),
            reason: "disk fault".into(),
        }
    }

    fn release(n: u128) -> C {
        C::Release {
            migration_id: m(n),
            reason: "migration completed".into(),
        }
    }

    // Request

    #[test]
    fn a_request_is_served_at_once_by_the_first_free_server() {
        let state = given::<Q>([available("tr-1"), available("tr-2")])
            .when(request(1))
            .then(vec![served(1, "tr-1")]);
        assert_eq!(state.free, vec!["tr-2".to_owned()]);
        assert_eq!(state.assignments.get(&m(1)), Some(&"tr-1".to_owned()));
    }

    #[test]
    fn a_request_waits_when_no_server_is_free() {
        let state = given::<Q>([available("tr-1"), served(1, "tr-1")])
            .when(request(2))
            .then(vec![queued(2)]);
        assert_eq!(state.position_of(m(2)), Some(1));
    }

    #[test]
    fn a_request_joins_the_end_of_the_line() {
        let state = given::<Q>([queued(1), queued(2)])
            .when(request(3))
            .then(vec![queued(3)]);
        let order: Vec<Uuid> = state.waiting.iter().map(|w| w.migration_id).collect();
        assert_eq!(order, vec![m(1), m(2), m(3)]);
    }

    #[test]
    fn a_new_request_never_overtakes_the_line() {
        // A state where a server is free while requests wait cannot arise from the
        // decider; should it, the line keeps its order.
        given::<Q>([queued(1), available("tr-1")])
            .when(request(2))
            .then(vec![queued(2)]);
    }

    #[test]
    fn a_request_already_waiting_changes_nothing() {
        given::<Q>([queued(1)]).when(request(1)).then_nothing();
    }

    #[test]
    fn a_migration_already_served_never_gets_a_second_server() {
        given::<Q>([available("tr-1"), served(1, "tr-1"), available("tr-2")])
            .when(request(1))
            .then_nothing();
    }

    #[test]
    fn a_migration_whose_assignment_ended_may_ask_again() {
        given::<Q>([available("tr-1"), served(1, "tr-1"), ended(1, "tr-1")])
            .when(request(1))
            .then(vec![queued(1)]);
    }

    #[test]
    fn a_request_without_client_server_is_invalid() {
        given::<Q>([])
            .when(C::Request {
                migration_id: m(1),
                client_server_id: " ".into(),
                requested_at: at(1),
            })
            .then_refused(RefusalKind::Invalid);
    }

    // ServerAvailable

    #[test]
    fn a_free_server_with_nobody_waiting_joins_the_free_list() {
        let state = given::<Q>([available("tr-1")])
            .when(server_available("tr-2"))
            .then(vec![available("tr-2")]);
        assert_eq!(state.free, vec!["tr-1".to_owned(), "tr-2".to_owned()]);
    }

    #[test]
    fn a_free_server_serves_the_head_of_the_line_at_once() {
        let state = given::<Q>([queued(1), queued(2)])
            .when(server_available("tr-1"))
            .then(vec![available("tr-1"), served(1, "tr-1")]);
        assert!(state.free.is_empty());
        assert_eq!(state.position_of(m(2)), Some(1));
    }

    #[test]
    fn a_server_already_free_changes_nothing() {
        given::<Q>([available("tr-1")])
            .when(server_available("tr-1"))
            .then_nothing();
    }

    #[test]
    fn a_server_still_assigned_cannot_be_free() {
        let refusal = given::<Q>([available("tr-1"), served(1, "tr-1")])
            .when(server_available("tr-1"))
            .then_refused(RefusalKind::Conflict);
        assert!(refusal.to_string().contains("still assigned"), "{refusal}");
    }

    #[test]
    fn a_server_back_from_a_loan_is_free_again() {
        given::<Q>([available("tr-1"), served(1, "tr-1"), ended(1, "tr-1")])
            .when(server_available("tr-1"))
            .then(vec![available("tr-1")]);
    }

    #[test]
    fn a_withdrawn_server_back_in_service_is_free_again() {
        let state = given::<Q>([available("tr-1"), withdrawn("tr-1")])
            .when(server_available("tr-1"))
            .then(vec![available("tr-1")]);
        assert!(state.withdrawn.is_empty());
    }

    #[test]
    fn a_server_id_that_is_no_aggregate_id_is_invalid() {
        given::<Q>([])
            .when(server_available("tr 1"))
            .then_refused(RefusalKind::Invalid);
    }

    // WithdrawServer

    #[test]
    fn a_free_server_can_be_withdrawn() {
        let state = given::<Q>([available("tr-1"), available("tr-2")])
            .when(withdraw("tr-1"))
            .then(vec![withdrawn("tr-1")]);
        assert_eq!(state.free, vec!["tr-2".to_owned()]);
    }

    #[test]
    fn a_withdrawn_server_is_never_lent() {
        given::<Q>([available("tr-1"), withdrawn("tr-1")])
            .when(request(1))
            .then(vec![queued(1)]);
    }

    #[test]
    fn an_assigned_server_cannot_be_withdrawn() {
        let refusal = given::<Q>([available("tr-1"), served(1, "tr-1")])
            .when(withdraw("tr-1"))
            .then_refused(RefusalKind::Conflict);
        assert!(refusal.to_string().contains("only a free"), "{refusal}");
    }

    #[test]
    fn a_server_being_wiped_cannot_be_withdrawn() {
        given::<Q>([available("tr-1"), served(1, "tr-1"), ended(1, "tr-1")])
            .when(withdraw("tr-1"))
            .then_refused(RefusalKind::Conflict);
    }

    #[test]
    fn an_unknown_server_cannot_be_withdrawn() {
        given::<Q>([])
            .when(withdraw("tr-9"))
            .then_refused(RefusalKind::Conflict);
    }

    #[test]
    fn a_withdrawn_server_cannot_be_withdrawn_again() {
        let refusal = given::<Q>([available("tr-1"), withdrawn("tr-1")])
            .when(withdraw("tr-1"))
            .then_refused(RefusalKind::Conflict);
        assert!(
            refusal.to_string().contains("already withdrawn"),
            "{refusal}"
        );
    }

    #[test]
    fn a_withdrawal_needs_a_reason() {
        given::<Q>([available("tr-1")])
            .when(C::WithdrawServer {
                transit_server_id: "tr-1".into(),
                reason: "".into(),
            })
            .then_refused(RefusalKind::Invalid);
    }

    // Release

    #[test]
    fn releasing_a_waiting_request_withdraws_it() {
        let state = given::<Q>([queued(1), queued(2)])
            .when(release(1))
            .then(vec![
                TransitRequestWithdrawn {
                    migration_id: m(1),
                    reason: "migration completed".into(),
                }
                .into(),
            ]);
        assert_eq!(state.position_of(m(2)), Some(1));
    }

    #[test]
    fn releasing_a_served_migration_ends_its_assignment() {
        let state = given::<Q>([available("tr-1"), served(1, "tr-1")])
            .when(release(1))
            .then(vec![ended(1, "tr-1")]);
        assert!(state.assignments.is_empty());
        assert!(state.free.is_empty(), "free only once wiped");
    }

    #[test]
    fn releasing_an_unknown_migration_changes_nothing() {
        given::<Q>([queued(2)]).when(release(1)).then_nothing();
    }

    #[test]
    fn releasing_twice_changes_nothing_the_second_time() {
        given::<Q>([available("tr-1"), served(1, "tr-1"), ended(1, "tr-1")])
            .when(release(1))
            .then_nothing();
    }

    // Invariants over a longer story.

    #[test]
    fn waiting_requests_are_served_first_come_first_served() {
        let mut state = given::<Q>([queued(1), queued(2), queued(3)]).into_state();
        let mut served_order = Vec::new();
        for server in ["tr-1", "tr-2", "tr-3"] {
            let events = Q::decide(&state, &server_available(server)).unwrap_or_default();
            for e in &events {
                if let TransitQueueEvent::TransitRequestServed(s) = e {
                    served_order.push(s.migration_id);
                }
                state = Q::evolve(state, e);
            }
        }
        assert_eq!(served_order, vec![m(1), m(2), m(3)]);
        assert!(state.waiting.is_empty());
    }
}
