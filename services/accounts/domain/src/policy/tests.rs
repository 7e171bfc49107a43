//! Given/when/then for the accounts policy: events folded into its view, then one
//! event reacted to, with no server.

use super::*;
use chrono::TimeZone;
use ferry_core::scenario::given_view;
use ferry_events::{
    AccountSpec, AccountTrafficSwitched, Endpoint, MigrationOpened, OptionalMigrationScheduled,
    OptionalMigrationStarted, ServerStorage, TrafficSwitchMethod, TransferCompleted,
    TransferFailed, TransferPhase, TransferScheduled, TransitRequestQueued, TransitRequestServed,
};

fn m(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn at(minute: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 1, 10, minute, 0)
        .single()
        .expect("a time")
}

fn envelope(aggregate_id: &str, event: impl Into<Event>) -> Envelope {
    let mut envelope = Envelope::new(
        aggregate_id,
        event,
        m(1),
        Uuid::nil(),
        Actor::system("test"),
    );
    envelope.occurred_at = at(0);
    envelope
}

fn storage(pg: &str) -> ServerStorage {
    ServerStorage {
        files_root: "/srv/files".into(),
        mail_root: "/srv/mail".into(),
        postgres_url: Some(pg.into()),
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

fn account(id: &str) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: id.into(),
        files_bytes: 0,
        mail_bytes: 0,
        databases: vec![],
        domains: vec![],
        languages: vec![],
    }
}

fn scheduled(transfer: u128, kind: TransferKind, destination: &str) -> Envelope {
    envelope(
        &m(transfer).to_string(),
        TransferScheduled {
            transfer_id: m(transfer),
            kind,
            migration_id: Some(m(1)),
            server_id: "srv-1".into(),
            accounts: vec![account("acc-1")],
            source: Endpoint {
                server_id: "srv-1".into(),
                storage: storage("postgres://a/"),
            },
            destination: Endpoint {
                server_id: destination.into(),
                storage: storage("postgres://b/"),
            },
        },
    )
}

/// Migration m(1) of srv-1 (acc-1) opened.
fn opened() -> Envelope {
    envelope(
        &m(1).to_string(),
        MigrationOpened {
            migration_id: m(1),
            server_id: "srv-1".into(),
            customer_id: "c-1".into(),
            from_version: "v2019".into(),
            target_version: "v2026".into(),
            accounts: vec!["acc-1".into()],
        },
    )
}

fn completed(transfer: u128, downtime_ms: u64) -> Envelope {
    envelope(
        &m(transfer).to_string(),
        TransferCompleted {
            bytes_copied: 1,
            duration_ms: 1,
            downtime_ms: Some(downtime_ms),
            database_methods: vec![],
            test_address: None,
        },
    )
}

fn switched(to: &str) -> Envelope {
    envelope(
        "acc-1",
        AccountTrafficSwitched {
            to_server_id: to.into(),
            method: TrafficSwitchMethod::ProviderDns,
            switched_at: at(1),
            transfer_id: None,
        },
    )
}

fn cutover_recorded(transfer: u128, downtime_ms: u64) -> AccountsCommand {
    to_migration(
        reaction_id(NAME, m(transfer), "cutover"),
        m(1),
        Action::RecordCutover {
            transfer_id: m(transfer),
            outcome: Ok(downtime_ms),
        },
    )
}

#[test]
fn a_completed_cutover_waits_for_the_traffic_switch_then_either_order_records_it_once() {
    let history = vec![scheduled(7, TransferKind::Cutover, "tr-1")];
    // Completed first: nothing until the network switches.
    given_view::<AccountsPolicy>(&history)
        .when(&completed(7, 1200))
        .then_nothing();
    let mut done = history.clone();
    done.push(completed(7, 1200));
    given_view::<AccountsPolicy>(&done)
        .when(&switched("tr-1"))
        .then(vec![cutover_recorded(7, 1200)]);
    // Switched first: the completion records it, with the same command id.
    let mut switched_first = history;
    switched_first.push(switched("tr-1"));
    given_view::<AccountsPolicy>(&switched_first)
        .when(&completed(7, 1200))
        .then(vec![cutover_recorded(7, 1200)]);
}

#[test]
fn a_switch_to_another_server_does_not_complete_the_cutover() {
    let history = vec![
        scheduled(7, TransferKind::Cutover, "tr-1"),
        completed(7, 900),
    ];
    given_view::<AccountsPolicy>(&history)
        .when(&switched("srv-1"))
        .then_nothing();
}

#[test]
fn a_failed_cutover_is_recorded_with_its_reason() {
    let failed = envelope(
        &m(7).to_string(),
        TransferFailed {
            phase: TransferPhase::FinalSync,
            reason: "disk full".into(),
            retryable: false,
        },
    );
    let commands = given_view::<AccountsPolicy>(&[scheduled(7, TransferKind::Cutover, "tr-1")])
        .when(&failed)
        .commands();
    assert_eq!(
        commands,
        vec![to_migration(
            reaction_id(NAME, failed.event_id, "cutover-failed"),
            m(1),
            Action::RecordCutover {
                transfer_id: m(7),
                outcome: Err("disk full".into()),
            },
        )]
    );
}

#[test]
fn a_completed_pre_copy_is_the_transit_pools_business() {
    given_view::<AccountsPolicy>(&[scheduled(7, TransferKind::PreCopy, "tr-1")])
        .when(&completed(7, 0))
        .then_nothing();
}

#[test]
fn a_failed_pre_copy_reaches_the_migration_with_where_it_went_and_whether_it_may_pass() {
    let failed = envelope(
        &m(7).to_string(),
        TransferFailed {
            phase: TransferPhase::Files,
            reason: "files of acc-1 missing".into(),
            retryable: false,
        },
    );
    for (destination, expected) in [
        ("tr-1", PreCopyDestination::TransitServer),
        ("srv-1", PreCopyDestination::ClientServer),
    ] {
        let commands =
            given_view::<AccountsPolicy>(&[scheduled(7, TransferKind::PreCopy, destination)])
                .when(&failed)
                .commands();
        assert_eq!(
            commands,
            vec![to_migration(
                reaction_id(NAME, failed.event_id, "pre-copy-failed"),
                m(1),
                Action::RecordPreCopyFailed {
                    transfer_id: m(7),
                    destination: expected,
                    reason: "files of acc-1 missing".into(),
                    retryable: false,
                    at: at(0),
                },
            )]
        );
    }
}

#[test]
fn a_failed_pre_copy_is_retried_when_its_retry_is_due_and_no_longer_once_retried() {
    let opened = opened();
    let failed = envelope(
        &m(1).to_string(),
        ferry_events::PreCopyFailed {
            transfer_id: m(7),
            destination: PreCopyDestination::TransitServer,
            reason: "timeout".into(),
            retryable: true,
            attempt: 1,
            retry_at: Some(at(5)),
        },
    );
    given_view::<AccountsPolicy>(&[opened.clone(), failed.clone()])
        .when_due(at(4))
        .then_nothing();
    let commands = given_view::<AccountsPolicy>(&[opened.clone(), failed.clone()])
        .when_due(at(5))
        .commands();
    assert_eq!(
        commands,
        vec![to_migration(
            Uuid::new_v5(&m(7), b"scheduled-pre-copy-retry"),
            m(1),
            Action::RetryPreCopy {
                failed_transfer_id: Some(m(7)),
            },
        )]
    );
    let retried = envelope(
        &m(1).to_string(),
        ferry_events::PreCopyRetried {
            transfer_id: m(8),
            destination: PreCopyDestination::TransitServer,
            attempt: 2,
        },
    );
    given_view::<AccountsPolicy>(&[opened, failed, retried])
        .when_due(at(59))
        .then_nothing();
}

#[test]
fn a_queued_request_records_its_position_behind_those_still_waiting() {
    let queued = |n: u128| {
        envelope(
            "vps-4c",
            TransitRequestQueued {
                migration_id: m(n),
                client_server_id: format!("srv-{n}"),
                requested_at: at(0),
            },
        )
    };
    let history = vec![
        queued(10),
        queued(11),
        envelope(
            "vps-4c",
            TransitRequestServed {
                migration_id: m(10),
                transit_server_id: "tr-1".into(),
            },
        ),
    ];
    let third = queued(12);
    let commands = given_view::<AccountsPolicy>(&history)
        .when(&third)
        .commands();
    assert_eq!(
        commands,
        vec![to_migration(
            reaction_id(NAME, third.event_id, "queued"),
            m(12),
            Action::RecordQueued {
                configuration: "vps-4c".into(),
                position: 2,
            },
        )]
    );
}

#[test]
fn the_migrations_own_completion_closes_it_on_its_server() {
    let opened = opened();
    let completed = envelope(
        &m(1).to_string(),
        ferry_events::MigrationCompleted {
            total_downtime_ms: 10,
        },
    );
    let commands = given_view::<AccountsPolicy>(&[opened])
        .when(&completed)
        .commands();
    assert_eq!(
        commands,
        vec![to_server(
            reaction_id(NAME, completed.event_id, "close"),
            m(1),
            "srv-1",
            ServerCommand::CloseMigration {
                migration_id: m(1),
                outcome: MigrationOutcome::Completed,
            },
        )]
    );
}

#[test]
fn an_optional_migration_is_applied_when_due_until_it_starts() {
    let id = m(30);
    let history = vec![envelope(
        &id.to_string(),
        OptionalMigrationScheduled {
            optional_migration_id: id,
            server_id: "srv-1".into(),
            customer_id: "c-1".into(),
            service: ferry_events::ServiceKind::Postgresql,
            from_version: "13".into(),
            to_version: "16".into(),
            scheduled_for: Some(at(30)),
        },
    )];
    given_view::<AccountsPolicy>(&history)
        .when_due(at(29))
        .then_nothing();
    let commands = given_view::<AccountsPolicy>(&history)
        .when_due(at(31))
        .commands();
    let command_id = Uuid::new_v5(&id, b"scheduled-application");
    assert_eq!(
        commands,
        vec![to_optional(
            command_id,
            id,
            OptionalAction::Apply {
                transfer_id: Uuid::new_v5(&command_id, b"transfer"),
                now: at(30),
            },
        )]
    );
    let mut started = history;
    started.push(envelope(
        &id.to_string(),
        OptionalMigrationStarted { transfer_id: m(31) },
    ));
    given_view::<AccountsPolicy>(&started)
        .when_due(at(59))
        .then_nothing();
}

#[test]
fn a_claimed_server_opens_its_migration_as_the_actor_who_claimed_it() {
    let mut claim = envelope(
        "srv-1",
        ferry_events::RequiredMigrationOpened {
            migration_id: m(1),
            target_version: "v2026".into(),
        },
    );
    claim.actor = Actor::customer("c-1");
    let commands = given_view::<AccountsPolicy>(&[]).when(&claim).commands();
    assert_eq!(
        commands,
        vec![AccountsCommand {
            id: open_command_id(m(1)),
            correlation_id: m(1),
            target: Target::OpenMigration {
                migration_id: m(1),
                server_id: "srv-1".into(),
                target_version: "v2026".into(),
                actor: Actor::customer("c-1"),
            },
        }]
    );
}

#[test]
fn a_transfer_ending_unscheduled_is_a_missing_fact_not_a_silent_no() {
    given_view::<AccountsPolicy>(&[])
        .when(&completed(7, 100))
        .then_missing("without having been scheduled");
}

/// A completion as the data mover might wrongly send it: no downtime, maybe an address.
fn completed_without(transfer: u128, test_address: Option<&str>) -> Envelope {
    envelope(
        &m(transfer).to_string(),
        TransferCompleted {
            bytes_copied: 1,
            duration_ms: 1,
            downtime_ms: None,
            database_methods: vec![],
            test_address: test_address.map(str::to_owned),
        },
    )
}

#[test]
fn facts_missing_from_the_data_mover_are_errors_not_zeros() {
    // A cutover completed and switched, without the downtime it measured.
    let mut history = vec![scheduled(7, TransferKind::Cutover, "tr-1")];
    history.push(switched("tr-1"));
    given_view::<AccountsPolicy>(&history)
        .when(&completed_without(7, None))
        .then_missing("without the downtime it measured");
    // A service migration likewise.
    given_view::<AccountsPolicy>(&[scheduled(8, TransferKind::ServiceMigration, "pg16")])
        .when(&completed_without(8, None))
        .then_missing("without the downtime it measured");
    // A test copy without the address customers would be given.
    given_view::<AccountsPolicy>(&[scheduled(9, TransferKind::TestCopy, "test")])
        .when(&completed_without(9, None))
        .then_missing("without the address");
    // A cutover that names no account: its traffic cannot be taken as switched.
    let mut no_account = scheduled(10, TransferKind::Cutover, "tr-1");
    if let Event::Transfer(TransferEvent::TransferScheduled(s)) = &mut no_account.event {
        s.accounts.clear();
    }
    given_view::<AccountsPolicy>(&[no_account])
        .when(&completed(10, 100))
        .then_missing("names no account");
}
