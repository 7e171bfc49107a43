//! Given/when/then of the transit server aggregate, state by state.

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
        postgres_credential: None,
        mysql_credential: None,
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
        A::ReturnToService {
            wipe_duration_ms: WIPE_MS,
        },
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
    for action in [
        add_action(),
        A::RetryInstallation,
        A::ReturnToService {
            wipe_duration_ms: WIPE_MS,
        },
    ] {
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

/// Issue 14's probe: a transit server whose mail root is `/etc` would have the
/// pre-copy of an account named `ssl` sync into `/etc/ssl/` with `--delete`. Refused
/// at the door, with the reason; so are the other hostile roots and URLs.
#[test]
fn an_add_with_hostile_storage_is_refused_with_the_reason() {
    let with = |spoil: &dyn Fn(&mut ServerStorage)| {
        let mut action = add_action();
        if let A::Add { storage, .. } = &mut action {
            spoil(storage);
        }
        action
    };
    type Spoil = Box<dyn Fn(&mut ServerStorage)>;
    let cases: Vec<(Spoil, &str)> = vec![
        (
            Box::new(|s| s.mail_root = "/etc".into()),
            "storage.mail_root: \"/etc\" is a system directory",
        ),
        (
            Box::new(|s| s.files_root = "/".into()),
            "file system's root",
        ),
        (
            Box::new(|s| s.files_root = "/usr/lib".into()),
            "system directory",
        ),
        (
            Box::new(|s| s.files_root = "files".into()),
            "not an absolute path",
        ),
        (
            Box::new(|s| s.files_root = "-oProxyCommand=sh".into()),
            "'-'",
        ),
        (
            Box::new(|s| s.files_root = "/srv/./files".into()),
            "normalised",
        ),
        (
            Box::new(|s| s.postgres_url = Some("postgres://u@h/x?options=-c%20a%3Db".into())),
            "options",
        ),
        (
            Box::new(|s| s.mysql_url = Some("mysql://root@h;id".into())),
            "shell metacharacter",
        ),
    ];
    for (spoil, reason) in cases {
        given::<S>([])
            .when(support(with(&*spoil)))
            .then_refused_because(RefusalKind::Invalid, reason);
    }
}

#[test]
fn commands_to_a_server_not_in_the_pool_are_not_found() {
    for action in [
        reserve(1),
        A::CompleteWipe,
        A::ReturnToService {
            wipe_duration_ms: WIPE_MS,
        },
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
fn a_failed_wipe_takes_the_server_out_of_service_and_its_return_wipes_it_again() {
    let mut wiping = on_loan(1);
    wiping.extend([released(1), wipe_started()]);
    let state = given::<S>(wiping.clone())
        .when(system(A::FailWipe {
            reason: "files root still holds: bakery".into(),
        }))
        .then(vec![
            TransitServerTakenOutOfService {
                reason: "its wipe failed, it may still hold a customer's data: files root still \
                         holds: bakery; returning it to service wipes it again"
                    .into(),
            }
            .into(),
        ]);
    assert!(matches!(
        state.status,
        Status::OutOfService {
            wipe_pending: true,
            ..
        }
    ));
    // Reported twice (a redelivery): nothing more.
    let failed = given::<S>(wiping.clone())
        .when(system(A::FailWipe { reason: "x".into() }))
        .events();
    let mut history = wiping;
    history.extend(failed);
    given::<S>(history.clone())
        .when(system(A::FailWipe { reason: "x".into() }))
        .then_nothing();
    // Support's return is a new wipe, not a loan of a server that may hold data; a
    // new failure keeps it pending.
    let state = given::<S>(history.clone())
        .when(support(A::ReturnToService {
            wipe_duration_ms: WIPE_MS,
        }))
        .then(vec![wipe_started()]);
    assert_eq!(state.status, Status::Wiping);
}

#[test]
fn a_wipe_that_is_not_under_way_cannot_fail() {
    given::<S>([added()])
        .when(system(A::FailWipe { reason: "x".into() }))
        .then_refused(RefusalKind::Conflict);
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
        .when(support(A::ReturnToService {
            wipe_duration_ms: WIPE_MS,
        }))
        .then(vec![TransitServerReturnedToService {}.into()]);
    assert_eq!(state.status, Status::Available);
}

#[test]
fn returning_a_server_in_service_changes_nothing() {
    given::<S>([added()])
        .when(support(A::ReturnToService {
            wipe_duration_ms: WIPE_MS,
        }))
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
