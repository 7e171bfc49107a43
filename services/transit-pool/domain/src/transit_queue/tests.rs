//! Given/when/then of the transit queue: requests, free servers, withdrawals, releases.

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
