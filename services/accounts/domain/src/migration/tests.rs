//! Given/when/then: every rule and every refusal of the eight steps.

use super::*;
use crate::calendar::WorkingCalendar;
use crate::compatibility::TargetSupport;
use chrono::{DateTime, Utc};
use ferry_core::RefusalKind::{Conflict, Forbidden, Invalid, NotFound};
use ferry_core::scenario::given;
use ferry_events::*;
use uuid::Uuid;

const MIGRATION: Uuid = Uuid::from_u128(0x0193_a5c2_0000_7000_8000_0000_0000_0001);
const T1: Uuid = Uuid::from_u128(0xa1);
const T2: Uuid = Uuid::from_u128(0xa2);
const T3: Uuid = Uuid::from_u128(0xa3);

fn customer() -> Actor {
    Actor::customer("c-42")
}
fn other_customer() -> Actor {
    Actor::customer("c-99")
}
fn support() -> Actor {
    Actor::support("jdoe")
}
fn system() -> Actor {
    Actor::system("accounts")
}

fn by(actor: Actor, action: Action) -> MigrationCommand {
    MigrationCommand {
        actor,
        grants: Grants::none(),
        action,
    }
}

/// `alice`, a user of c-42, granted `scopes`.
fn by_alice(scopes: &[GrantScope], action: Action) -> MigrationCommand {
    MigrationCommand {
        actor: Actor::user("c-42", "alice"),
        grants: scopes.iter().cloned().collect(),
        action,
    }
}

fn lang(language: &str, version: &str) -> LanguageVersion {
    LanguageVersion {
        language: language.into(),
        version: version.into(),
    }
}

fn spec(id: &str, languages: Vec<LanguageVersion>) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: id.replace("acc-", "site"),
        files_bytes: 1_000,
        mail_bytes: 1_000,
        databases: vec![],
        domains: vec![],
        languages,
    }
}

fn target() -> TargetSupport {
    TargetSupport {
        version: "v2026".into(),
        languages: vec![lang("php", "8.3")],
        databases: vec![],
    }
}

fn open_action() -> Action {
    Action::Open {
        migration_id: MIGRATION,
        server_id: "srv-42".into(),
        customer_id: "c-42".into(),
        from_version: "v2020".into(),
        accounts: vec![
            spec("acc-1", vec![lang("php", "7.4")]),
            spec("acc-2", vec![lang("php", "8.3")]),
        ],
        target: target(),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid instant")
        .with_timezone(&Utc)
}

fn calendar() -> WorkingCalendar {
    WorkingCalendar::parse("mon-fri", "09:00-18:00", "Europe/Paris", "").expect("valid calendar")
}

// Histories, step by step.

fn opened() -> Vec<MigrationEvent> {
    vec![
        MigrationOpened {
            migration_id: MIGRATION,
            server_id: "srv-42".into(),
            customer_id: "c-42".into(),
            from_version: "v2020".into(),
            target_version: "v2026".into(),
            accounts: vec!["acc-1".into(), "acc-2".into()],
        }
        .into(),
    ]
}

fn with(
    mut history: Vec<MigrationEvent>,
    more: impl IntoIterator<Item = MigrationEvent>,
) -> Vec<MigrationEvent> {
    history.extend(more);
    history
}

fn ready(id: &str) -> MigrationEvent {
    AccountMarkedReady {
        account_id: id.into(),
    }
    .into()
}

fn all_ready() -> Vec<MigrationEvent> {
    with(opened(), [ready("acc-1"), ready("acc-2")])
}

fn removals() -> Vec<AccountLanguages> {
    vec![AccountLanguages {
        account_id: "acc-1".into(),
        versions: vec![lang("php", "7.4")],
    }]
}

fn transit_requested() -> Vec<MigrationEvent> {
    with(
        all_ready(),
        [TransitServerRequested {
            configuration: "vps-4c-8g".into(),
        }
        .into()],
    )
}

fn handed_to_pool() -> Vec<MigrationEvent> {
    with(
        transit_requested(),
        [ObsoleteLanguagesRemoved {
            removals: removals(),
        }
        .into()],
    )
}

fn installing() -> Vec<MigrationEvent> {
    with(
        handed_to_pool(),
        [TransitServerAssigned {
            transit_server_id: "tr-7".into(),
        }
        .into()],
    )
}

fn on_transit() -> Vec<MigrationEvent> {
    with(
        installing(),
        [TransitServerReady {
            transit_server_id: "tr-7".into(),
            ready_at: at("2026-11-23T10:00:00Z"),
        }
        .into()],
    )
}

fn moving(id: &str, transfer_id: Uuid) -> MigrationEvent {
    AccountMoveStarted {
        account_id: id.into(),
        transfer_id,
        estimated_downtime_ms: 0,
    }
    .into()
}

fn moved(id: &str, transfer_id: Uuid, downtime_ms: u64) -> MigrationEvent {
    AccountMoved {
        account_id: id.into(),
        transfer_id,
        downtime_ms,
    }
    .into()
}

fn one_moved() -> Vec<MigrationEvent> {
    with(
        on_transit(),
        [moving("acc-1", T1), moved("acc-1", T1, 2_000)],
    )
}

fn all_moved() -> Vec<MigrationEvent> {
    with(
        one_moved(),
        [moving("acc-2", T2), moved("acc-2", T2, 3_000)],
    )
}

fn reinstalling() -> Vec<MigrationEvent> {
    with(
        all_moved(),
        [
            ReinstallRequested {}.into(),
            ReinstallStarted {
                ips_rerouted_to: "tr-7".into(),
            }
            .into(),
        ],
    )
}

fn relocating() -> Vec<MigrationEvent> {
    with(
        reinstalling(),
        [ServerReinstalled {
            infrastructure_version: "v2026".into(),
        }
        .into()],
    )
}

fn relocation(id: &str, transfer_id: Uuid) -> Action {
    Action::Relocate {
        account_id: id.into(),
        transfer_id,
        database_bytes: 0,
        // Monday 23 November 2026, 11:00 in Paris.
        now: at("2026-11-23T10:00:00Z"),
        calendar: calendar(),
    }
}

fn cutover(transfer_id: Uuid, outcome: Result<u64, String>) -> MigrationCommand {
    by(
        system(),
        Action::RecordCutover {
            transfer_id,
            outcome,
        },
    )
}

// Step 1.

#[test]
fn opening_checks_every_account_against_the_target() {
    let events = given::<MigrationDecider>([])
        .when(by(customer(), open_action()))
        .events();
    assert_eq!(events[0], opened()[0]);
    let MigrationEvent::AccountCompatibilityChecked(acc1) = &events[1] else {
        panic!("expected a compatibility check, got {:?}", events[1]);
    };
    assert_eq!(
        acc1.issues[0].kind,
        IncompatibilityKind::LanguageVersionRemoved
    );
    assert_eq!(
        events[2],
        AccountCompatibilityChecked {
            account_id: "acc-2".into(),
            issues: vec![]
        }
        .into()
    );
}

#[test]
fn another_customer_cannot_open_a_migration_of_my_server() {
    given::<MigrationDecider>([])
        .when(by(other_customer(), open_action()))
        .then_refused_because(Forbidden, "c-99 does not own");
}

#[test]
fn a_migration_opens_once() {
    given::<MigrationDecider>(opened())
        .when(by(customer(), open_action()))
        .then_refused_because(Conflict, "already open");
}

#[test]
fn a_server_without_accounts_or_already_on_the_target_has_nothing_to_migrate() {
    let Action::Open {
        migration_id,
        server_id,
        customer_id,
        from_version,
        target,
        ..
    } = open_action()
    else {
        unreachable!()
    };
    let empty = Action::Open {
        migration_id,
        server_id: server_id.clone(),
        customer_id: customer_id.clone(),
        from_version,
        accounts: vec![],
        target: target.clone(),
    };
    given::<MigrationDecider>([])
        .when(by(customer(), empty))
        .then_refused_because(Conflict, "no account");
    let same = Action::Open {
        migration_id,
        server_id,
        customer_id,
        from_version: "v2026".into(),
        accounts: vec![spec("acc-1", vec![])],
        target,
    };
    given::<MigrationDecider>([])
        .when(by(customer(), same))
        .then_refused_because(Conflict, "already runs v2026");
}

#[test]
fn commands_to_a_migration_never_opened_are_refused() {
    given::<MigrationDecider>([])
        .when(by(
            customer(),
            Action::MarkReady {
                account_id: "acc-1".into(),
            },
        ))
        .then_refused_because(NotFound, "no such migration");
}

#[test]
fn a_recheck_records_only_what_changed() {
    let fixed = Action::CheckCompatibility {
        accounts: vec![
            spec("acc-1", vec![lang("php", "8.3")]),
            spec("acc-2", vec![lang("php", "8.3")]),
        ],
        target: target(),
    };
    let history = with(
        opened(),
        [AccountCompatibilityChecked {
            account_id: "acc-1".into(),
            issues: vec![Incompatibility {
                kind: IncompatibilityKind::LanguageVersionRemoved,
                subject: "php 7.4".into(),
                detail: "gone".into(),
            }],
        }
        .into()],
    );
    given::<MigrationDecider>(history)
        .when(by(customer(), fixed))
        .then(vec![
            AccountCompatibilityChecked {
                account_id: "acc-1".into(),
                issues: vec![],
            }
            .into(),
        ]);
}

#[test]
fn a_test_migration_is_requested_becomes_available_and_is_discarded() {
    let request = Action::RequestTest {
        account_id: "acc-1".into(),
        transfer_id: T1,
    };
    given::<MigrationDecider>(opened())
        .when(by(customer(), request))
        .then(vec![
            TestMigrationRequested {
                account_id: "acc-1".into(),
                transfer_id: T1,
            }
            .into(),
        ]);
    let requested = with(
        opened(),
        [TestMigrationRequested {
            account_id: "acc-1".into(),
            transfer_id: T1,
        }
        .into()],
    );
    given::<MigrationDecider>(requested.clone())
        .when(by(
            system(),
            Action::RecordTestCopy {
                transfer_id: T1,
                outcome: Ok("test-42.example".into()),
            },
        ))
        .then(vec![
            TestMigrationAvailable {
                account_id: "acc-1".into(),
                transfer_id: T1,
                test_address: "test-42.example".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(requested.clone())
        .when(by(
            system(),
            Action::RecordTestCopy {
                transfer_id: T1,
                outcome: Err("disk full".into()),
            },
        ))
        .then(vec![
            TestMigrationFailed {
                account_id: "acc-1".into(),
                transfer_id: T1,
                reason: "disk full".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(requested)
        .when(by(
            customer(),
            Action::DiscardTest {
                account_id: "acc-1".into(),
            },
        ))
        .then(vec![
            TestMigrationDiscarded {
                account_id: "acc-1".into(),
                transfer_id: T1,
            }
            .into(),
        ]);
}

#[test]
fn the_test_address_is_kept_in_the_state() {
    let history = with(
        opened(),
        [
            TestMigrationRequested {
                account_id: "acc-1".into(),
                transfer_id: T1,
            }
            .into(),
            TestMigrationAvailable {
                account_id: "acc-1".into(),
                transfer_id: T1,
                test_address: "test-42.example".into(),
            }
            .into(),
        ],
    );
    let state = given::<MigrationDecider>(history);
    assert_eq!(
        state.state().accounts["acc-1"].test,
        TestCopy::Available {
            transfer_id: T1,
            address: "test-42.example".into()
        }
    );
}

#[test]
fn refreshing_an_available_test_copy_replaces_it() {
    let history = with(
        opened(),
        [
            TestMigrationRequested {
                account_id: "acc-1".into(),
                transfer_id: T1,
            }
            .into(),
            TestMigrationAvailable {
                account_id: "acc-1".into(),
                transfer_id: T1,
                test_address: "t".into(),
            }
            .into(),
        ],
    );
    given::<MigrationDecider>(history)
        .when(by(
            customer(),
            Action::RequestTest {
                account_id: "acc-1".into(),
                transfer_id: T2,
            },
        ))
        .then(vec![
            TestMigrationDiscarded {
                account_id: "acc-1".into(),
                transfer_id: T1,
            }
            .into(),
            TestMigrationRequested {
                account_id: "acc-1".into(),
                transfer_id: T2,
            }
            .into(),
        ]);
}

#[test]
fn test_migration_refusals() {
    let requested = with(
        opened(),
        [TestMigrationRequested {
            account_id: "acc-1".into(),
            transfer_id: T1,
        }
        .into()],
    );
    given::<MigrationDecider>(requested.clone())
        .when(by(
            customer(),
            Action::RequestTest {
                account_id: "acc-1".into(),
                transfer_id: T2,
            },
        ))
        .then_refused_because(Conflict, "being prepared");
    given::<MigrationDecider>(opened())
        .when(by(
            customer(),
            Action::RequestTest {
                account_id: "acc-9".into(),
                transfer_id: T2,
            },
        ))
        .then_refused_because(NotFound, "acc-9");
    given::<MigrationDecider>(opened())
        .when(by(
            customer(),
            Action::DiscardTest {
                account_id: "acc-1".into(),
            },
        ))
        .then_refused_because(Conflict, "no test migration");
    given::<MigrationDecider>(on_transit())
        .when(by(
            customer(),
            Action::RequestTest {
                account_id: "acc-1".into(),
                transfer_id: T2,
            },
        ))
        .then_refused_because(Conflict, "step 1");
    given::<MigrationDecider>(requested.clone())
        .when(by(
            customer(),
            Action::RecordTestCopy {
                transfer_id: T1,
                outcome: Ok("x".into()),
            },
        ))
        .then_refused_because(Forbidden, "only ferry itself");
    // A result for a copy discarded meanwhile changes nothing.
    given::<MigrationDecider>(requested)
        .when(by(
            system(),
            Action::RecordTestCopy {
                transfer_id: T3,
                outcome: Ok("x".into()),
            },
        ))
        .then_nothing();
}

#[test]
fn readiness_is_marked_and_withdrawn() {
    given::<MigrationDecider>(opened())
        .when(by(
            customer(),
            Action::MarkReady {
                account_id: "acc-1".into(),
            },
        ))
        .then(vec![ready("acc-1")]);
    given::<MigrationDecider>(with(opened(), [ready("acc-1")]))
        .when(by(
            customer(),
            Action::MarkReady {
                account_id: "acc-1".into(),
            },
        ))
        .then_nothing();
    given::<MigrationDecider>(with(opened(), [ready("acc-1")]))
        .when(by(
            customer(),
            Action::WithdrawReadiness {
                account_id: "acc-1".into(),
            },
        ))
        .then(vec![
            AccountReadinessWithdrawn {
                account_id: "acc-1".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(opened())
        .when(by(
            customer(),
            Action::WithdrawReadiness {
                account_id: "acc-1".into(),
            },
        ))
        .then_nothing();
}

#[test]
fn another_customer_cannot_mark_my_accounts_ready() {
    given::<MigrationDecider>(opened())
        .when(by(
            other_customer(),
            Action::MarkReady {
                account_id: "acc-1".into(),
            },
        ))
        .then_refused_because(Forbidden, "does not own");
}

#[test]
fn a_user_granted_one_account_acts_on_that_account_only() {
    let mark = |account: &str| Action::MarkReady {
        account_id: account.into(),
    };
    let acc_1 = [GrantScope::account("srv-42", "acc-1")];
    given::<MigrationDecider>(opened())
        .when(by_alice(&acc_1, mark("acc-1")))
        .then(vec![ready("acc-1")]);
    given::<MigrationDecider>(opened())
        .when(by_alice(&acc_1, mark("acc-2")))
        .then_refused_because(Forbidden, "was not granted account acc-2 of server srv-42");
    given::<MigrationDecider>(all_ready())
        .when(by_alice(
            &acc_1,
            Action::RequestTransit {
                configuration: "vps-4c-8g".into(),
            },
        ))
        .then_refused_because(Forbidden, "was not granted server srv-42");
}

#[test]
fn a_user_granted_the_server_acts_as_its_owner_would_but_not_as_support() {
    let server = [GrantScope::server("srv-42")];
    given::<MigrationDecider>(all_ready())
        .when(by_alice(
            &server,
            Action::RequestTransit {
                configuration: "vps-4c-8g".into(),
            },
        ))
        .then(vec![
            TransitServerRequested {
                configuration: "vps-4c-8g".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(opened())
        .when(by_alice(&server, Action::RestoreObsoleteLanguages))
        .then_refused_because(Forbidden, "only support");
    // Another server's grant, or no grant at all, is no right on this one.
    given::<MigrationDecider>(opened())
        .when(by_alice(
            &[GrantScope::server("srv-7")],
            Action::MarkReady {
                account_id: "acc-1".into(),
            },
        ))
        .then_refused_because(Forbidden, "was not granted");
    given::<MigrationDecider>(opened())
        .when(by_alice(
            &[],
            Action::Cancel {
                reason: "changed my mind".into(),
            },
        ))
        .then_refused_because(Forbidden, "was not granted server srv-42");
}

// Step 2.

#[test]
fn the_transit_server_is_requested_only_when_every_account_is_ready() {
    let request = || Action::RequestTransit {
        configuration: "vps-4c-8g".into(),
    };
    given::<MigrationDecider>(with(opened(), [ready("acc-1")]))
        .when(by(customer(), request()))
        .then_refused_because(Conflict, "acc-2 still in preparation");
    given::<MigrationDecider>(all_ready())
        .when(by(customer(), request()))
        .then(vec![
            TransitServerRequested {
                configuration: "vps-4c-8g".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(transit_requested())
        .when(by(customer(), request()))
        .then_nothing();
}

#[test]
fn withdrawing_readiness_in_step_2_returns_to_step_1() {
    let state = given::<MigrationDecider>(with(
        transit_requested(),
        [AccountReadinessWithdrawn {
            account_id: "acc-2".into(),
        }
        .into()],
    ));
    assert_eq!(state.state().phase(), Phase::Preparing);
    assert_eq!(state.state().step(), 1);
}

#[test]
fn once_support_prepared_the_request_readiness_is_withdrawn_through_a_restore() {
    given::<MigrationDecider>(handed_to_pool())
        .when(by(
            customer(),
            Action::WithdrawReadiness {
                account_id: "acc-1".into(),
            },
        ))
        .then_refused_because(Conflict, "restore the removed language versions");
}

#[test]
fn support_removes_obsolete_languages_and_may_restore_them() {
    given::<MigrationDecider>(transit_requested())
        .when(by(
            support(),
            Action::RemoveObsoleteLanguages {
                removals: removals(),
            },
        ))
        .then(vec![
            ObsoleteLanguagesRemoved {
                removals: removals(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(handed_to_pool())
        .when(by(support(), Action::RestoreObsoleteLanguages))
        .then(vec![
            ObsoleteLanguagesRestored {
                restorations: removals(),
            }
            .into(),
        ]);
    let restored = given::<MigrationDecider>(with(
        installing(),
        [ObsoleteLanguagesRestored {
            restorations: removals(),
        }
        .into()],
    ));
    assert_eq!(restored.state().phase(), Phase::Preparing);
    assert_eq!(restored.state().transit_server_id, None);
}

#[test]
fn language_removal_refusals() {
    given::<MigrationDecider>(transit_requested())
        .when(by(
            customer(),
            Action::RemoveObsoleteLanguages {
                removals: removals(),
            },
        ))
        .then_refused_because(Forbidden, "only support");
    given::<MigrationDecider>(all_ready())
        .when(by(
            support(),
            Action::RemoveObsoleteLanguages {
                removals: removals(),
            },
        ))
        .then_refused_because(Conflict, "step 2");
    given::<MigrationDecider>(transit_requested())
        .when(by(support(), Action::RestoreObsoleteLanguages))
        .then_refused_because(Conflict, "nothing to restore");
    given::<MigrationDecider>(one_moved())
        .when(by(support(), Action::RestoreObsoleteLanguages))
        .then_refused_because(Conflict, "already moved");
    let unknown = vec![AccountLanguages {
        account_id: "acc-9".into(),
        versions: vec![],
    }];
    given::<MigrationDecider>(transit_requested())
        .when(by(
            support(),
            Action::RemoveObsoleteLanguages { removals: unknown },
        ))
        .then_refused_because(NotFound, "acc-9");
}

// Step 3.

#[test]
fn the_transit_pool_queues_assigns_and_readies() {
    given::<MigrationDecider>(handed_to_pool())
        .when(by(
            system(),
            Action::RecordQueued {
                configuration: "vps-4c-8g".into(),
                position: 3,
            },
        ))
        .then(vec![
            TransitServerQueued {
                configuration: "vps-4c-8g".into(),
                position: 3,
            }
            .into(),
        ]);
    let waiting = with(
        handed_to_pool(),
        [TransitServerQueued {
            configuration: "vps-4c-8g".into(),
            position: 3,
        }
        .into()],
    );
    assert_eq!(
        given::<MigrationDecider>(waiting.clone())
            .state()
            .state_name(),
        "transit_waiting"
    );
    given::<MigrationDecider>(waiting)
        .when(by(
            system(),
            Action::RecordTransitAssigned {
                transit_server_id: "tr-7".into(),
            },
        ))
        .then(vec![
            TransitServerAssigned {
                transit_server_id: "tr-7".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(installing())
        .when(by(
            system(),
            Action::RecordTransitReady {
                transit_server_id: "tr-7".into(),
                ready_at: at("2026-11-23T10:00:00Z"),
            },
        ))
        .then(vec![
            TransitServerReady {
                transit_server_id: "tr-7".into(),
                ready_at: at("2026-11-23T10:00:00Z"),
            }
            .into(),
        ]);
    assert_eq!(
        given::<MigrationDecider>(on_transit()).state().state_name(),
        "migrating_accounts"
    );
}

#[test]
fn transit_reports_that_no_longer_apply_change_nothing_or_are_refused() {
    given::<MigrationDecider>(installing())
        .when(by(
            system(),
            Action::RecordTransitAssigned {
                transit_server_id: "tr-7".into(),
            },
        ))
        .then_nothing();
    given::<MigrationDecider>(all_ready())
        .when(by(
            system(),
            Action::RecordTransitAssigned {
                transit_server_id: "tr-7".into(),
            },
        ))
        .then_refused_because(Conflict, "waits for no transit server");
    given::<MigrationDecider>(installing())
        .when(by(
            system(),
            Action::RecordTransitReady {
                transit_server_id: "tr-8".into(),
                ready_at: at("2026-11-23T10:00:00Z"),
            },
        ))
        .then_refused_because(Conflict, "not the one assigned");
    given::<MigrationDecider>(installing())
        .when(by(
            support(),
            Action::RecordTransitAssigned {
                transit_server_id: "tr-7".into(),
            },
        ))
        .then_refused_because(Forbidden, "only ferry itself");
}

// Step 4.

#[test]
fn an_account_moves_with_an_estimate_of_one_minute_per_gigabyte() {
    given::<MigrationDecider>(on_transit())
        .when(by(
            customer(),
            Action::StartMove {
                account_id: "acc-1".into(),
                transfer_id: T1,
                database_bytes: 2_500_000_000,
            },
        ))
        .then(vec![
            AccountMoveStarted {
                account_id: "acc-1".into(),
                transfer_id: T1,
                estimated_downtime_ms: 150_000,
            }
            .into(),
        ]);
}

#[test]
fn a_move_completes_with_its_downtime_or_fails_leaving_the_account_home() {
    let started = with(on_transit(), [moving("acc-1", T1)]);
    given::<MigrationDecider>(started.clone())
        .when(cutover(T1, Ok(2_000)))
        .then(vec![moved("acc-1", T1, 2_000)]);
    given::<MigrationDecider>(started.clone())
        .when(cutover(T1, Err("checksum mismatch".into())))
        .then(vec![
            AccountMoveFailed {
                account_id: "acc-1".into(),
                transfer_id: T1,
                reason: "checksum mismatch".into(),
            }
            .into(),
        ]);
    let failed = given::<MigrationDecider>(with(
        started,
        [AccountMoveFailed {
            account_id: "acc-1".into(),
            transfer_id: T1,
            reason: "x".into(),
        }
        .into()],
    ));
    assert_eq!(failed.state().accounts["acc-1"].place, Place::Client);
    given::<MigrationDecider>(one_moved())
        .when(cutover(T1, Ok(2_000)))
        .then_nothing();
}

#[test]
fn accounts_move_one_at_a_time() {
    given::<MigrationDecider>(with(on_transit(), [moving("acc-1", T1)]))
        .when(by(
            customer(),
            Action::StartMove {
                account_id: "acc-2".into(),
                transfer_id: T2,
                database_bytes: 0,
            },
        ))
        .then_refused_because(Conflict, "acc-1 is being moved");
}

#[test]
fn move_refusals() {
    given::<MigrationDecider>(installing())
        .when(by(
            customer(),
            Action::StartMove {
                account_id: "acc-1".into(),
                transfer_id: T1,
                database_bytes: 0,
            },
        ))
        .then_refused_because(Conflict, "step 4");
    given::<MigrationDecider>(one_moved())
        .when(by(
            customer(),
            Action::StartMove {
                account_id: "acc-1".into(),
                transfer_id: T2,
                database_bytes: 0,
            },
        ))
        .then_refused_because(Conflict, "not on the client server");
    given::<MigrationDecider>(on_transit())
        .when(by(
            other_customer(),
            Action::StartMove {
                account_id: "acc-1".into(),
                transfer_id: T1,
                database_bytes: 0,
            },
        ))
        .then_refused_because(Forbidden, "does not own");
}

// Step 5.

#[test]
fn every_account_moved_means_verifying() {
    let state = given::<MigrationDecider>(all_moved());
    assert_eq!(state.state().state_name(), "verifying");
    assert_eq!(state.state().step(), 5);
    assert_eq!(state.state().total_downtime_ms, 5_000);
}

#[test]
fn a_moved_account_is_verified() {
    given::<MigrationDecider>(one_moved())
        .when(by(
            customer(),
            Action::Verify {
                account_id: "acc-1".into(),
            },
        ))
        .then(vec![
            AccountVerified {
                account_id: "acc-1".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(one_moved())
        .when(by(
            customer(),
            Action::Verify {
                account_id: "acc-2".into(),
            },
        ))
        .then_refused_because(Conflict, "not on the transit server");
}

#[test]
fn a_moved_account_rolls_back_until_the_reinstall_starts() {
    given::<MigrationDecider>(all_moved())
        .when(by(
            customer(),
            Action::StartRollback {
                account_id: "acc-1".into(),
                transfer_id: T3,
                database_bytes: 0,
            },
        ))
        .then(vec![
            AccountRollbackStarted {
                account_id: "acc-1".into(),
                transfer_id: T3,
                estimated_downtime_ms: 0,
            }
            .into(),
        ]);
    let rolling = with(
        all_moved(),
        [
            ReinstallRequested {}.into(),
            AccountRollbackStarted {
                account_id: "acc-1".into(),
                transfer_id: T3,
                estimated_downtime_ms: 0,
            }
            .into(),
        ],
    );
    given::<MigrationDecider>(rolling.clone())
        .when(cutover(T3, Ok(1_000)))
        .then(vec![
            AccountRolledBack {
                account_id: "acc-1".into(),
                transfer_id: T3,
                downtime_ms: 1_000,
            }
            .into(),
        ]);
    let back = given::<MigrationDecider>(with(
        rolling.clone(),
        [AccountRolledBack {
            account_id: "acc-1".into(),
            transfer_id: T3,
            downtime_ms: 1_000,
        }
        .into()],
    ));
    assert_eq!(back.state().state_name(), "migrating_accounts");
    assert!(
        !back.state().reinstall_requested,
        "a rollback takes the reinstall request back"
    );
    assert_eq!(back.state().total_downtime_ms, 6_000);
    given::<MigrationDecider>(rolling)
        .when(cutover(T3, Err("rsync killed".into())))
        .then(vec![
            AccountRollbackFailed {
                account_id: "acc-1".into(),
                transfer_id: T3,
                reason: "rsync killed".into(),
            }
            .into(),
        ]);
    given::<MigrationDecider>(reinstalling())
        .when(by(
            customer(),
            Action::StartRollback {
                account_id: "acc-1".into(),
                transfer_id: T3,
                database_bytes: 0,
            },
        ))
        .then_refused_because(Conflict, "until its reinstall starts");
}

#[test]
fn the_reinstall_is_requested_only_when_every_account_is_on_the_transit_server() {
    given::<MigrationDecider>(one_moved())
        .when(by(customer(), Action::RequestReinstall))
        .then_refused_because(Conflict, "acc-2 (on the client server)");
    given::<MigrationDecider>(all_moved())
        .when(by(customer(), Action::RequestReinstall))
        .then(vec![ReinstallRequested {}.into()]);
}

// Step 6.

#[test]
fn support_starts_the_reinstall_once_requested_rerouting_to_the_transit_server() {
    given::<MigrationDecider>(all_moved())
        .when(by(support(), Action::StartReinstall))
        .then_refused_because(Conflict, "not requested the reinstall");
    let requested = with(all_moved(), [ReinstallRequested {}.into()]);
    given::<MigrationDecider>(requested.clone())
        .when(by(customer(), Action::StartReinstall))
        .then_refused_because(Forbidden, "only support");
    given::<MigrationDecider>(requested)
        .when(by(support(), Action::StartReinstall))
        .then(vec![
            ReinstallStarted {
                ips_rerouted_to: "tr-7".into(),
            }
            .into(),
        ]);
}

#[test]
fn the_reinstall_is_recorded_done_on_the_target_version() {
    given::<MigrationDecider>(reinstalling())
        .when(by(
            support(),
            Action::RecordReinstalled {
                infrastructure_version: "v2025".into(),
            },
        ))
        .then_refused_because(Invalid, "targets v2026");
    given::<MigrationDecider>(all_moved())
        .when(by(
            support(),
            Action::RecordReinstalled {
                infrastructure_version: "v2026".into(),
            },
        ))
        .then_refused_because(Conflict, "step 6");
    given::<MigrationDecider>(reinstalling())
        .when(by(
            support(),
            Action::RecordReinstalled {
                infrastructure_version: "v2026".into(),
            },
        ))
        .then(vec![
            ServerReinstalled {
                infrastructure_version: "v2026".into(),
            }
            .into(),
        ]);
}

// Steps 7 and 8.

#[test]
fn support_relocates_inside_working_hours() {
    given::<MigrationDecider>(relocating())
        .when(by(support(), relocation("acc-1", T3)))
        .then(vec![
            AccountRelocationStarted {
                account_id: "acc-1".into(),
                transfer_id: T3,
                estimated_downtime_ms: 0,
            }
            .into(),
        ]);
}

#[test]
fn outside_working_hours_the_refusal_names_the_next_opening() {
    let saturday = Action::Relocate {
        account_id: "acc-1".into(),
        transfer_id: T3,
        database_bytes: 0,
        now: at("2026-11-28T10:00:00Z"),
        calendar: calendar(),
    };
    given::<MigrationDecider>(relocating())
        .when(by(support(), saturday))
        .then_refused_because(Conflict, "2026-11-30 08:00:00 UTC");
}

#[test]
fn relocation_refusals() {
    given::<MigrationDecider>(reinstalling())
        .when(by(support(), relocation("acc-1", T3)))
        .then_refused_because(Conflict, "step 7");
    given::<MigrationDecider>(relocating())
        .when(by(customer(), relocation("acc-1", T3)))
        .then_refused_because(Forbidden, "only support");
    let one_relocating = with(
        relocating(),
        [AccountRelocationStarted {
            account_id: "acc-1".into(),
            transfer_id: T3,
            estimated_downtime_ms: 0,
        }
        .into()],
    );
    given::<MigrationDecider>(one_relocating.clone())
        .when(by(support(), relocation("acc-2", T1)))
        .then_refused_because(Conflict, "one at a time");
    given::<MigrationDecider>(one_relocating)
        .when(cutover(T3, Err("pg_restore failed".into())))
        .then(vec![
            AccountRelocationFailed {
                account_id: "acc-1".into(),
                transfer_id: T3,
                reason: "pg_restore failed".into(),
            }
            .into(),
        ]);
}

#[test]
fn the_last_relocation_completes_the_migration_with_the_total_downtime() {
    let last = with(
        relocating(),
        [
            AccountRelocationStarted {
                account_id: "acc-1".into(),
                transfer_id: T3,
                estimated_downtime_ms: 0,
            }
            .into(),
            AccountRelocated {
                account_id: "acc-1".into(),
                transfer_id: T3,
                downtime_ms: 1_500,
            }
            .into(),
            AccountRelocationStarted {
                account_id: "acc-2".into(),
                transfer_id: T1,
                estimated_downtime_ms: 0,
            }
            .into(),
        ],
    );
    given::<MigrationDecider>(last)
        .when(cutover(T1, Ok(2_500)))
        .then(vec![
            AccountRelocated {
                account_id: "acc-2".into(),
                transfer_id: T1,
                downtime_ms: 2_500,
            }
            .into(),
            MigrationCompleted {
                total_downtime_ms: 9_000,
            }
            .into(),
        ]);
}

// Cancellation.

#[test]
fn a_migration_is_cancelled_before_any_account_moves() {
    let cancel = || Action::Cancel {
        reason: "not now".into(),
    };
    for history in [opened(), transit_requested(), installing(), on_transit()] {
        given::<MigrationDecider>(history)
            .when(by(customer(), cancel()))
            .then(vec![
                MigrationCancelled {
                    reason: "not now".into(),
                }
                .into(),
            ]);
    }
    given::<MigrationDecider>(with(on_transit(), [moving("acc-1", T1)]))
        .when(by(customer(), cancel()))
        .then_refused_because(Conflict, "being moved");
    given::<MigrationDecider>(one_moved())
        .when(by(customer(), cancel()))
        .then_refused_because(Conflict, "no longer be cancelled");
    // Even rolled back, an account has moved once: never after.
    let rolled_back = with(
        one_moved(),
        [
            AccountRollbackStarted {
                account_id: "acc-1".into(),
                transfer_id: T3,
                estimated_downtime_ms: 0,
            }
            .into(),
            AccountRolledBack {
                account_id: "acc-1".into(),
                transfer_id: T3,
                downtime_ms: 1,
            }
            .into(),
        ],
    );
    given::<MigrationDecider>(rolled_back)
        .when(by(customer(), cancel()))
        .then_refused_because(Conflict, "no longer be cancelled");
    given::<MigrationDecider>(opened())
        .when(by(customer(), Action::Cancel { reason: " ".into() }))
        .then_refused_because(Invalid, "say why");
    given::<MigrationDecider>(opened())
        .when(by(other_customer(), cancel()))
        .then_refused_because(Forbidden, "does not own");
}

#[test]
fn nothing_happens_to_a_cancelled_migration() {
    let cancelled = with(opened(), [MigrationCancelled { reason: "x".into() }.into()]);
    given::<MigrationDecider>(cancelled.clone())
        .when(by(
            customer(),
            Action::MarkReady {
                account_id: "acc-1".into(),
            },
        ))
        .then_refused_because(Conflict, "cancelled");
    given::<MigrationDecider>(cancelled)
        .when(by(
            customer(),
            Action::Cancel {
                reason: "again".into(),
            },
        ))
        .then_refused_because(Conflict, "cancelled");
}

#[test]
fn the_step_follows_the_process() {
    let steps: Vec<u8> = [
        opened(),
        transit_requested(),
        installing(),
        on_transit(),
        all_moved(),
        reinstalling(),
        relocating(),
    ]
    .into_iter()
    .map(|h| given::<MigrationDecider>(h).state().step())
    .collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn downtime_estimates_round_up() {
    assert_eq!(estimated_downtime_ms(0), 0);
    assert_eq!(estimated_downtime_ms(1), 1);
    assert_eq!(estimated_downtime_ms(1_000_000_000), 60_000);
}

// A failed pre-copy, retried.

fn pre_copy_failed(transfer_id: Uuid, retryable: bool) -> MigrationCommand {
    by(
        system(),
        Action::RecordPreCopyFailed {
            transfer_id,
            destination: PreCopyDestination::TransitServer,
            reason: "rsync: connection reset".into(),
            retryable,
            at: at("2026-11-23T10:00:00Z"),
        },
    )
}

#[test]
fn a_failed_pre_copy_is_recorded_with_its_retry_after_a_backoff_then_retried_once() {
    let state = given::<MigrationDecider>(installing())
        .when(pre_copy_failed(T1, true))
        .then(vec![
            PreCopyFailed {
                transfer_id: T1,
                destination: PreCopyDestination::TransitServer,
                reason: "rsync: connection reset".into(),
                retryable: true,
                attempt: 1,
                retry_at: Some(at("2026-11-23T10:00:30Z")),
            }
            .into(),
        ]);
    assert!(state.pre_copy.failure.is_some());
    let failed = given::<MigrationDecider>(installing())
        .when(pre_copy_failed(T1, true))
        .events();
    // Reported twice: recorded once.
    given::<MigrationDecider>(with(installing(), failed.clone()))
        .when(pre_copy_failed(T1, true))
        .then_nothing();
    // Ferry's timer retries it as a new transfer derived from the failed one; a stale
    // timer (another failure) changes nothing.
    let retried = PreCopyRetried {
        transfer_id: Uuid::new_v5(&T1, b"retry"),
        destination: PreCopyDestination::TransitServer,
        attempt: 2,
    };
    given::<MigrationDecider>(with(installing(), failed.clone()))
        .when(by(
            system(),
            Action::RetryPreCopy {
                failed_transfer_id: Some(T1),
            },
        ))
        .then(vec![retried.clone().into()]);
    given::<MigrationDecider>(with(installing(), failed.clone()))
        .when(by(
            system(),
            Action::RetryPreCopy {
                failed_transfer_id: Some(T2),
            },
        ))
        .then_nothing();
    // The retry fails too: attempt 2, a longer wait.
    let state = given::<MigrationDecider>(with(with(installing(), failed), [retried.into()]))
        .when(pre_copy_failed(T2, true))
        .then(vec![
            PreCopyFailed {
                transfer_id: T2,
                destination: PreCopyDestination::TransitServer,
                reason: "rsync: connection reset".into(),
                retryable: true,
                attempt: 2,
                retry_at: Some(at("2026-11-23T10:01:00Z")),
            }
            .into(),
        ]);
    assert_eq!(state.pre_copy.attempt, 2);
}

#[test]
fn a_pre_copy_that_cannot_pass_waits_for_support_who_alone_retries_it() {
    let failed = given::<MigrationDecider>(installing())
        .when(pre_copy_failed(T1, false))
        .events();
    let [MigrationEvent::PreCopyFailed(recorded)] = failed.as_slice() else {
        panic!("{failed:?}");
    };
    assert_eq!(
        recorded.retry_at, None,
        "no automatic retry of a missing source"
    );
    given::<MigrationDecider>(with(installing(), failed.clone()))
        .when(by(
            customer(),
            Action::RetryPreCopy {
                failed_transfer_id: None,
            },
        ))
        .then_refused(Forbidden);
    given::<MigrationDecider>(with(installing(), failed))
        .when(by(
            support(),
            Action::RetryPreCopy {
                failed_transfer_id: None,
            },
        ))
        .then(vec![
            PreCopyRetried {
                transfer_id: Uuid::new_v5(&T1, b"retry"),
                destination: PreCopyDestination::TransitServer,
                attempt: 2,
            }
            .into(),
        ]);
    given::<MigrationDecider>(installing())
        .when(by(
            support(),
            Action::RetryPreCopy {
                failed_transfer_id: None,
            },
        ))
        .then_refused_because(Conflict, "nothing to retry");
}

#[test]
fn a_pre_copy_failure_the_migration_no_longer_waits_for_changes_nothing() {
    given::<MigrationDecider>(on_transit())
        .when(pre_copy_failed(T1, true))
        .then_nothing();
}

#[test]
fn automatic_retries_stop_after_a_few_attempts() {
    let mut history = installing();
    for attempt in 1..PRE_COPY_AUTOMATIC_ATTEMPTS {
        let failed = Uuid::from_u128(u128::from(attempt));
        history.push(
            PreCopyFailed {
                transfer_id: failed,
                destination: PreCopyDestination::TransitServer,
                reason: "x".into(),
                retryable: true,
                attempt,
                retry_at: Some(at("2026-11-23T10:00:00Z")),
            }
            .into(),
        );
        history.push(
            PreCopyRetried {
                transfer_id: Uuid::new_v5(&failed, b"retry"),
                destination: PreCopyDestination::TransitServer,
                attempt: attempt + 1,
            }
            .into(),
        );
    }
    let last = given::<MigrationDecider>(history)
        .when(pre_copy_failed(T3, true))
        .events();
    let [MigrationEvent::PreCopyFailed(recorded)] = last.as_slice() else {
        panic!("{last:?}");
    };
    assert_eq!(recorded.attempt, PRE_COPY_AUTOMATIC_ATTEMPTS);
    assert_eq!(recorded.retry_at, None, "support decides now");
}

// Support calls a stuck transfer off.

#[test]
fn support_calls_off_a_move_that_cannot_finish_and_the_account_is_back_on_its_client_server() {
    let history = with(on_transit(), [moving("acc-1", T1)]);
    let abort = |actor| {
        by(
            actor,
            Action::AbortTransfer {
                account_id: "acc-1".into(),
                reason: "the final sync hangs".into(),
            },
        )
    };
    given::<MigrationDecider>(history.clone())
        .when(abort(customer()))
        .then_refused(Forbidden);
    let state = given::<MigrationDecider>(history.clone())
        .when(abort(support()))
        .then(vec![
            AccountTransferAborted {
                account_id: "acc-1".into(),
                transfer_id: T1,
                reason: "the final sync hangs".into(),
            }
            .into(),
        ]);
    assert_eq!(state.accounts["acc-1"].place, Place::Client);
    // Another account may move now; the late end of the called-off transfer changes
    // nothing.
    let aborted = given::<MigrationDecider>(history.clone())
        .when(abort(support()))
        .events();
    let after = with(history, aborted);
    given::<MigrationDecider>(after.clone())
        .when(cutover(T1, Ok(1_000)))
        .then_nothing();
    given::<MigrationDecider>(after)
        .when(abort(support()))
        .then_refused_because(Conflict, "not moving");
}
