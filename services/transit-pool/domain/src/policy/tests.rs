//! Given/when/then for the pool's policy: events folded into its view, then one
//! event reacted to, with no server.

use super::*;
use chrono::TimeZone;
use ferry_core::scenario::given_view;
use ferry_events::{
    Actor, Endpoint, MigrationCancelled, MigrationOpened, ObsoleteLanguagesRemoved, ServerStorage,
    TransferCompleted, TransferScheduled, TransitAssignmentEnded, TransitInstallationCompleted,
    TransitInstallationStarted, TransitRequestServed, TransitServerAdded, TransitServerRequested,
    TransitServerReserved, TransitServerWipeStarted,
};

fn m() -> Uuid {
    Uuid::from_u128(42)
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0)
        .single()
        .expect("a time")
}

fn envelope(aggregate_id: &str, event: impl Into<Event>, minute: u32) -> Envelope {
    let mut envelope = Envelope::new(aggregate_id, event, m(), Uuid::nil(), Actor::system("test"));
    envelope.occurred_at = at(minute);
    envelope
}

fn storage() -> ServerStorage {
    ServerStorage {
        files_root: "/srv/files".into(),
        mail_root: "/srv/mail".into(),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

fn opened_and_requested() -> Vec<Envelope> {
    vec![
        envelope(
            &m().to_string(),
            MigrationOpened {
                migration_id: m(),
                server_id: "srv-1".into(),
                customer_id: "c-1".into(),
                from_version: "v2019".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1".into()],
            },
            0,
        ),
        envelope(
            &m().to_string(),
            TransitServerRequested {
                configuration: "vps-4c".into(),
            },
            1,
        ),
    ]
}

fn transit_added() -> Envelope {
    envelope(
        "tr-1",
        TransitServerAdded {
            name: "transit-1".into(),
            configuration: "vps-4c".into(),
            infrastructure_version: "v2026".into(),
            ipv4: vec![],
            ipv6: vec![],
            storage: storage(),
        },
        0,
    )
}

fn installing() -> Vec<Envelope> {
    vec![
        transit_added(),
        envelope(
            "tr-1",
            TransitServerReserved {
                migration_id: m(),
                client_server_id: "srv-1".into(),
            },
            2,
        ),
        envelope(
            "tr-1",
            TransitInstallationStarted {
                migration_id: m(),
                infrastructure_version: "v2026".into(),
                expected_duration_ms: 60_000,
            },
            2,
        ),
    ]
}

fn pre_copy_to(destination: &str) -> Envelope {
    envelope(
        "t-1",
        TransferScheduled {
            transfer_id: Uuid::from_u128(7),
            kind: TransferKind::PreCopy,
            migration_id: Some(m()),
            server_id: "srv-1".into(),
            accounts: vec![],
            source: Endpoint {
                server_id: "srv-1".into(),
                storage: storage(),
            },
            destination: Endpoint {
                server_id: destination.into(),
                storage: storage(),
            },
        },
        4,
    )
}

fn completed() -> Envelope {
    envelope(
        "t-1",
        TransferCompleted {
            bytes_copied: 1,
            duration_ms: 1,
            downtime_ms: None,
            database_methods: vec![],
            test_address: None,
        },
        5,
    )
}

fn actions(commands: Vec<PoolCommand>) -> Vec<PoolAction> {
    commands.into_iter().map(|c| c.action).collect()
}

#[test]
fn removing_the_languages_queues_the_request_in_the_configuration_asked_for() {
    let removed = envelope(
        &m().to_string(),
        ObsoleteLanguagesRemoved { removals: vec![] },
        3,
    );
    let commands = given_view::<PoolPolicy>(&opened_and_requested())
        .when(&removed)
        .commands();
    assert_eq!(
        actions(commands.clone()),
        vec![PoolAction::Request {
            configuration: "vps-4c".into(),
            migration_id: m(),
            client_server_id: "srv-1".into(),
            requested_at: at(3),
        }]
    );
    assert_eq!(
        commands[0].id,
        reaction_id(NAME, removed.event_id, "request")
    );
    assert_eq!(commands[0].correlation_id, m());
}

#[test]
fn a_migration_that_never_asked_for_a_transit_server_releases_nothing() {
    let opened_only = &opened_and_requested()[..1];
    given_view::<PoolPolicy>(opened_only)
        .when(&envelope(
            &m().to_string(),
            MigrationCancelled {
                reason: "changed my mind".into(),
            },
            3,
        ))
        .then_nothing();
}

#[test]
fn a_cancelled_migration_gives_its_request_back() {
    let commands = given_view::<PoolPolicy>(&opened_and_requested())
        .when(&envelope(
            &m().to_string(),
            MigrationCancelled {
                reason: "changed my mind".into(),
            },
            3,
        ))
        .commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::ReleaseRequest {
            configuration: "vps-4c".into(),
            migration_id: m(),
            reason: "migration cancelled: changed my mind".into(),
        }]
    );
}

#[test]
fn a_served_request_reserves_the_server_for_the_migrations_client_server() {
    let commands = given_view::<PoolPolicy>(&opened_and_requested())
        .when(&envelope(
            "vps-4c",
            TransitRequestServed {
                migration_id: m(),
                transit_server_id: "tr-1".into(),
            },
            2,
        ))
        .commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::Reserve {
            transit_server_id: "tr-1".into(),
            migration_id: m(),
            client_server_id: "srv-1".into(),
            target_version: "v2026".into(),
        }]
    );
}

#[test]
fn an_assignment_ended_on_a_server_never_reserved_makes_it_available_at_once() {
    let ended = envelope(
        "vps-4c",
        TransitAssignmentEnded {
            migration_id: m(),
            transit_server_id: "tr-1".into(),
        },
        3,
    );
    let commands = given_view::<PoolPolicy>(&[transit_added()])
        .when(&ended)
        .commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::ServerAvailable {
            configuration: "vps-4c".into(),
            transit_server_id: "tr-1".into(),
        }]
    );
    let commands = given_view::<PoolPolicy>(&installing())
        .when(&ended)
        .commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::ReleaseServer {
            transit_server_id: "tr-1".into(),
            migration_id: m(),
        }]
    );
}

#[test]
fn the_pre_copy_to_the_installed_transit_server_lends_it() {
    let mut history = installing();
    history.push(envelope(
        "tr-1",
        TransitInstallationCompleted { migration_id: m() },
        3,
    ));
    history.push(pre_copy_to("tr-1"));
    let commands = given_view::<PoolPolicy>(&history)
        .when(&completed())
        .commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::Lend {
            transit_server_id: "tr-1".into(),
            migration_id: m(),
            lent_at: at(5),
        }]
    );
}

#[test]
fn the_pre_copy_back_to_the_client_server_lends_nothing() {
    let mut history = installing();
    history.push(pre_copy_to("srv-1"));
    given_view::<PoolPolicy>(&history)
        .when(&completed())
        .then_nothing();
}

#[test]
fn an_installation_fires_when_due_and_not_before() {
    let history = installing();
    given_view::<PoolPolicy>(&history)
        .when_due(at(2))
        .then_nothing();
    let commands = given_view::<PoolPolicy>(&history)
        .when_due(at(3))
        .commands();
    assert_eq!(commands.len(), 1);
    assert_eq!(
        commands[0].action,
        PoolAction::CompleteInstallation {
            transit_server_id: "tr-1".into(),
            migration_id: m(),
        }
    );
    // The same id however often it fires: derived from the start of the installation.
    assert_eq!(
        commands[0].id,
        reaction_id(NAME, history[2].event_id, "complete-installation")
    );
}

/// `installing()`, then the server lent, released and its wipe started, and the data
/// mover's wipe `w-1` scheduled.
fn wiping() -> Vec<Envelope> {
    let mut history = installing();
    history.push(envelope(
        "tr-1",
        TransitServerWipeStarted {
            expected_duration_ms: 10 * 60_000,
        },
        20,
    ));
    let mut wipe = pre_copy_to("tr-1");
    wipe.aggregate_id = "w-1".into();
    if let Event::Transfer(TransferEvent::TransferScheduled(s)) = &mut wipe.event {
        s.kind = TransferKind::Wipe;
        s.migration_id = None;
        s.server_id = "tr-1".into();
        s.source = s.destination.clone();
    }
    history.push(wipe);
    history
}

#[test]
fn a_wipe_ends_when_the_data_mover_says_so_never_on_a_timer() {
    let history = wiping();
    given_view::<PoolPolicy>(&history)
        .when_due(at(59))
        .then_nothing();
    let mut done = completed();
    done.aggregate_id = "w-1".into();
    let commands = given_view::<PoolPolicy>(&history).when(&done).commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::CompleteWipe {
            transit_server_id: "tr-1".into()
        }]
    );
}

#[test]
fn a_failed_wipe_takes_the_server_out_of_service_with_the_reason() {
    let mut failed = envelope(
        "w-1",
        ferry_events::TransferFailed {
            phase: ferry_events::TransferPhase::Erasing,
            reason: "the files root still holds: bakery".into(),
            retryable: false,
        },
        21,
    );
    let commands = given_view::<PoolPolicy>(&wiping()).when(&failed).commands();
    assert_eq!(
        actions(commands),
        vec![PoolAction::FailWipe {
            transit_server_id: "tr-1".into(),
            reason: "the files root still holds: bakery".into(),
        }]
    );
    // Any other transfer's failure is none of the pool's business.
    failed.aggregate_id = "t-9".into();
    given_view::<PoolPolicy>(&wiping())
        .when(&failed)
        .then_nothing();
}

#[test]
fn languages_removed_by_a_migration_the_view_never_saw_is_a_missing_fact() {
    given_view::<PoolPolicy>(&[])
        .when(&envelope(
            &m().to_string(),
            ObsoleteLanguagesRemoved { removals: vec![] },
            3,
        ))
        .then_missing("without having been opened");
}
