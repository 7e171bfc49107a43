//! Given/when/then of the transfer aggregate: the safety rules first.

use super::*;
use ferry_core::RefusalKind::{Conflict, Invalid, NotFound};
use ferry_core::scenario::given;
use ferry_events::{AccountSpec, ServerStorage, transfer::Endpoint};
use uuid::Uuid;

const ID: Uuid = Uuid::from_u128(0x7);

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid instant")
        .with_timezone(&Utc)
}

fn endpoint(server: &str) -> Endpoint {
    Endpoint {
        server_id: server.into(),
        storage: ServerStorage {
            files_root: format!("/srv/{server}/files"),
            mail_root: format!("/srv/{server}/mail"),
            postgres_url: None,
            mysql_url: None,
            postgres_credential: None,
            mysql_credential: None,
        },
    }
}

fn account(id: &str) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: id.into(),
        files_bytes: 1,
        mail_bytes: 1,
        databases: vec![],
        domains: vec![],
        languages: vec![],
    }
}

fn scheduled(kind: TransferKind, accounts: &[&str]) -> TransferScheduled {
    TransferScheduled {
        transfer_id: ID,
        kind,
        migration_id: Some(Uuid::from_u128(1)),
        server_id: "srv-1".into(),
        accounts: accounts.iter().map(|a| account(a)).collect(),
        source: endpoint("srv-1"),
        destination: endpoint("tr-1"),
    }
}

fn cutover_running() -> Vec<TransferEvent> {
    vec![
        scheduled(TransferKind::Cutover, &["acc-1"]).into(),
        TransferStarted {}.into(),
    ]
}

fn frozen() -> Vec<TransferEvent> {
    let mut h = cutover_running();
    h.push(
        AccountFrozen {
            account_id: "acc-1".into(),
            frozen_at: at("2026-11-23T10:00:00Z"),
        }
        .into(),
    );
    h
}

fn verified_event() -> TransferVerified {
    TransferVerified {
        files_checked: 10,
        databases: vec![],
    }
}

fn verified() -> Vec<TransferEvent> {
    let mut h = frozen();
    h.push(verified_event().into());
    h
}

fn complete() -> TransferCommand {
    TransferCommand::Complete {
        run_id: None,
        bytes_copied: 100,
        duration_ms: 5_000,
        database_methods: vec![],
        test_address: None,
    }
}

const RUN_1: Uuid = Uuid::from_u128(1);
const RUN_2: Uuid = Uuid::from_u128(2);

/// A run's progress, having copied `bytes` (the transfer's total then being the same:
/// the decider sets it).
fn progress(run: Uuid, bytes: u64) -> TransferProgressed {
    TransferProgressed {
        phase: TransferPhase::Files,
        account_id: Some("acc-1".into()),
        bytes_done: 5,
        bytes_total: 10,
        run_id: Some(run),
        run_bytes_copied: bytes,
        bytes_copied: bytes,
    }
}

#[test]
fn a_resumed_transfer_counts_what_every_run_copied() {
    // A first run reported 300 bytes, then 700, and died; the second reports 200.
    let mut history: Vec<TransferEvent> = vec![
        scheduled(TransferKind::PreCopy, &["acc-1"]).into(),
        TransferStarted {}.into(),
        progress(RUN_1, 300).into(),
        progress(RUN_1, 700).into(),
    ];
    let mut second = progress(RUN_2, 200);
    second.bytes_copied = 0; // whatever the engine says: the decider counts
    let mut expected = progress(RUN_2, 200);
    expected.bytes_copied = 900;
    given::<TransferDecider>(history.clone())
        .when(TransferCommand::Progress(second))
        .then(vec![expected.clone().into()]);
    history.push(expected.into());
    // A late report of an earlier run never lowers what it copied.
    history.push(progress(RUN_1, 650).into());
    history.push(verified_event().into());
    let complete = |run_id| TransferCommand::Complete {
        run_id,
        bytes_copied: 250,
        duration_ms: 1,
        database_methods: vec![],
        test_address: None,
    };
    let completed = |bytes_copied| {
        vec![
            TransferCompleted {
                bytes_copied,
                duration_ms: 1,
                downtime_ms: None,
                database_methods: vec![],
                test_address: None,
            }
            .into(),
        ]
    };
    // The completing run's exact figure replaces its own reports.
    given::<TransferDecider>(history.clone())
        .when(complete(Some(RUN_2)))
        .then(completed(950));
    // A completion by a run that reported nothing adds every run's.
    given::<TransferDecider>(history)
        .when(complete(None))
        .then(completed(1_150));
}

#[test]
fn progress_of_schema_version_1_counts_nothing() {
    let mut old = progress(RUN_1, 0);
    old.run_id = None;
    let mut history: Vec<TransferEvent> = vec![
        scheduled(TransferKind::PreCopy, &["acc-1"]).into(),
        TransferStarted {}.into(),
        old.into(),
    ];
    history.push(verified_event().into());
    given::<TransferDecider>(history)
        .when(complete())
        .then(vec![
            TransferCompleted {
                bytes_copied: 100,
                duration_ms: 5_000,
                downtime_ms: None,
                database_methods: vec![],
                test_address: None,
            }
            .into(),
        ]);
}

#[test]
fn a_transfer_is_scheduled_once() {
    let s = scheduled(TransferKind::PreCopy, &["acc-1", "acc-2"]);
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(s.clone())))
        .then(vec![s.clone().into()]);
    given::<TransferDecider>([s.clone().into()])
        .when(TransferCommand::Schedule(Box::new(s)))
        .then_nothing();
    given::<TransferDecider>([scheduled(TransferKind::PreCopy, &["acc-1"]).into()])
        .when(TransferCommand::Schedule(Box::new(scheduled(
            TransferKind::TestCopy,
            &["acc-1"],
        ))))
        .then_refused_because(Conflict, "other details");
}

#[test]
fn bad_schedules_are_refused() {
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(scheduled(
            TransferKind::PreCopy,
            &[],
        ))))
        .then_refused_because(Invalid, "at least one account");
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(scheduled(
            TransferKind::Cutover,
            &["acc-1", "acc-2"],
        ))))
        .then_refused_because(Invalid, "one at a time");
    let mut same = scheduled(TransferKind::PreCopy, &["acc-1"]);
    same.destination = same.source.clone();
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(same)))
        .then_refused_because(Invalid, "same place");
    given::<TransferDecider>([])
        .when(TransferCommand::Start)
        .then_refused_because(NotFound, "no such transfer");
}

#[test]
fn a_wipe_erases_one_server_even_one_without_known_accounts() {
    let mut wipe = scheduled(TransferKind::Wipe, &[]);
    wipe.source = endpoint("tr-1");
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(wipe.clone())))
        .then(vec![wipe.clone().into()]);
    let mut elsewhere = wipe;
    elsewhere.source = endpoint("srv-1");
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(elsewhere)))
        .then_refused_because(Invalid, "erases one server");
}

#[test]
fn a_pre_copy_runs_is_verified_and_completes_without_downtime() {
    let history = vec![
        scheduled(TransferKind::PreCopy, &["acc-1"]).into(),
        TransferStarted {}.into(),
    ];
    given::<TransferDecider>(history.clone())
        .when(TransferCommand::Progress(progress(RUN_1, 5)))
        .then(vec![progress(RUN_1, 5).into()]);
    given::<TransferDecider>(history.clone())
        .when(complete())
        .then_refused_because(Conflict, "not verified");
    let mut done = history;
    done.push(verified_event().into());
    given::<TransferDecider>(done).when(complete()).then(vec![
        TransferCompleted {
            bytes_copied: 100,
            duration_ms: 5_000,
            downtime_ms: None,
            database_methods: vec![],
            test_address: None,
        }
        .into(),
    ]);
}

#[test]
fn only_a_cutover_freezes_its_account() {
    let history = vec![
        scheduled(TransferKind::PreCopy, &["acc-1"]).into(),
        TransferStarted {}.into(),
    ];
    given::<TransferDecider>(history)
        .when(TransferCommand::Freeze {
            account_id: "acc-1".into(),
            at: at("2026-11-23T10:00:00Z"),
        })
        .then_refused_because(Conflict, "only a cutover or a service migration");
    given::<TransferDecider>(cutover_running())
        .when(TransferCommand::Freeze {
            account_id: "acc-9".into(),
            at: at("2026-11-23T10:00:00Z"),
        })
        .then_refused_because(Invalid, "acc-9");
}

#[test]
fn a_cutover_is_verified_frozen_then_unfrozen_and_its_downtime_measured_from_both() {
    given::<TransferDecider>(cutover_running())
        .when(TransferCommand::RecordVerified(verified_event()))
        .then_refused_because(Conflict, "account frozen");
    given::<TransferDecider>(frozen())
        .when(TransferCommand::Unfreeze {
            account_id: "acc-1".into(),
            at: at("2026-11-23T10:00:03Z"),
        })
        .then_refused_because(Conflict, "not verified");
    given::<TransferDecider>(verified())
        .when(complete())
        .then_refused_because(Conflict, "unfrozen");
    let mut unfrozen = verified();
    unfrozen.push(
        AccountUnfrozen {
            account_id: "acc-1".into(),
            unfrozen_at: at("2026-11-23T10:00:02.500Z"),
        }
        .into(),
    );
    given::<TransferDecider>(unfrozen)
        .when(complete())
        .then(vec![
            TransferCompleted {
                bytes_copied: 100,
                duration_ms: 5_000,
                downtime_ms: Some(2_500),
                database_methods: vec![],
                test_address: None,
            }
            .into(),
        ]);
}

#[test]
fn a_failure_while_frozen_unfreezes_the_account_on_its_source() {
    given::<TransferDecider>(frozen())
        .when(TransferCommand::Fail {
            phase: TransferPhase::Databases,
            reason: "pg_restore killed".into(),
            retryable: true,
            at: at("2026-11-23T10:00:04Z"),
        })
        .then(vec![
            AccountUnfrozen {
                account_id: "acc-1".into(),
                unfrozen_at: at("2026-11-23T10:00:04Z"),
            }
            .into(),
            TransferFailed {
                phase: TransferPhase::Databases,
                reason: "pg_restore killed".into(),
                retryable: true,
            }
            .into(),
        ]);
    given::<TransferDecider>(frozen())
        .when(TransferCommand::Cancel {
            reason: "support".into(),
            at: at("2026-11-23T10:00:04Z"),
        })
        .then(vec![
            AccountUnfrozen {
                account_id: "acc-1".into(),
                unfrozen_at: at("2026-11-23T10:00:04Z"),
            }
            .into(),
            TransferCancelled {
                reason: "support".into(),
            }
            .into(),
        ]);
}

#[test]
fn an_ended_transfer_stays_ended() {
    let mut failed = cutover_running();
    failed.push(
        TransferFailed {
            phase: TransferPhase::Files,
            reason: "x".into(),
            retryable: false,
        }
        .into(),
    );
    given::<TransferDecider>(failed.clone())
        .when(TransferCommand::Start)
        .then_refused_because(Conflict, "failed");
    given::<TransferDecider>(failed.clone())
        .when(TransferCommand::Fail {
            phase: TransferPhase::Files,
            reason: "again".into(),
            retryable: false,
            at: at("2026-11-23T10:00:04Z"),
        })
        .then_nothing();
    given::<TransferDecider>(failed)
        .when(TransferCommand::Cancel {
            reason: "x".into(),
            at: at("2026-11-23T10:00:04Z"),
        })
        .then_refused_because(Conflict, "failed");
}

#[test]
fn a_service_migration_freezes_every_account_and_its_downtime_runs_to_the_last_unfreeze() {
    let mut history: Vec<TransferEvent> = vec![
        scheduled(TransferKind::ServiceMigration, &["acc-1", "acc-2"]).into(),
        TransferStarted {}.into(),
    ];
    let freeze = |id: &str, t: &str| TransferCommand::Freeze {
        account_id: id.into(),
        at: at(t),
    };
    let unfreeze = |id: &str, t: &str| TransferCommand::Unfreeze {
        account_id: id.into(),
        at: at(t),
    };
    history.extend(
        given::<TransferDecider>(history.clone())
            .when(freeze("acc-1", "2026-11-23T10:00:00Z"))
            .events(),
    );
    history.extend(
        given::<TransferDecider>(history.clone())
            .when(freeze("acc-2", "2026-11-23T10:00:01Z"))
            .events(),
    );
    given::<TransferDecider>(history.clone())
        .when(freeze("acc-2", "2026-11-23T10:00:02Z"))
        .then_nothing();
    history.push(verified_event().into());
    history.extend(
        given::<TransferDecider>(history.clone())
            .when(unfreeze("acc-1", "2026-11-23T10:00:03Z"))
            .events(),
    );
    let complete = TransferCommand::Complete {
        run_id: None,
        bytes_copied: 1,
        duration_ms: 1,
        database_methods: vec![],
        test_address: None,
    };
    given::<TransferDecider>(history.clone())
        .when(complete.clone())
        .then_refused_because(Conflict, "unfrozen");
    history.extend(
        given::<TransferDecider>(history.clone())
            .when(unfreeze("acc-2", "2026-11-23T10:00:05Z"))
            .events(),
    );
    let state = given::<TransferDecider>(history).into_state();
    assert_eq!(state.downtime_ms, Some(5_000));
    assert!(state.frozen.is_empty());
}

#[test]
fn a_failed_service_migration_unfreezes_each_frozen_account_on_its_source() {
    let history: Vec<TransferEvent> = vec![
        scheduled(TransferKind::ServiceMigration, &["acc-1", "acc-2"]).into(),
        TransferStarted {}.into(),
        AccountFrozen {
            account_id: "acc-1".into(),
            frozen_at: at("2026-11-23T10:00:00Z"),
        }
        .into(),
        AccountFrozen {
            account_id: "acc-2".into(),
            frozen_at: at("2026-11-23T10:00:00Z"),
        }
        .into(),
    ];
    given::<TransferDecider>(history)
        .when(TransferCommand::Fail {
            phase: TransferPhase::Databases,
            reason: "pg_restore failed".into(),
            retryable: true,
            at: at("2026-11-23T10:00:04Z"),
        })
        .then(vec![
            AccountUnfrozen {
                account_id: "acc-1".into(),
                unfrozen_at: at("2026-11-23T10:00:04Z"),
            }
            .into(),
            AccountUnfrozen {
                account_id: "acc-2".into(),
                unfrozen_at: at("2026-11-23T10:00:04Z"),
            }
            .into(),
            TransferFailed {
                phase: TransferPhase::Databases,
                reason: "pg_restore failed".into(),
                retryable: true,
            }
            .into(),
        ]);
}

#[test]
fn a_cutover_estimates_each_account_once_before_its_freeze() {
    let estimate = |account: &str| DowntimeEstimated {
        account_id: account.into(),
        estimated_downtime_ms: 3_700,
        measured_cutovers: 12,
    };
    given::<TransferDecider>(cutover_running())
        .when(TransferCommand::Estimate(estimate("acc-1")))
        .then(vec![estimate("acc-1").into()]);
    let mut estimated = cutover_running();
    estimated.push(estimate("acc-1").into());
    given::<TransferDecider>(estimated)
        .when(TransferCommand::Estimate(estimate("acc-1")))
        .then_nothing();
    // Frozen, the downtime is being measured: a late forecast says nothing.
    given::<TransferDecider>(frozen())
        .when(TransferCommand::Estimate(estimate("acc-1")))
        .then_nothing();
    given::<TransferDecider>(cutover_running())
        .when(TransferCommand::Estimate(estimate("acc-9")))
        .then_refused_because(Invalid, "not moved by this transfer");
    given::<TransferDecider>(vec![
        scheduled(TransferKind::PreCopy, &["acc-1"]).into(),
        TransferStarted {}.into(),
    ])
    .when(TransferCommand::Estimate(estimate("acc-1")))
    .then_refused_because(Conflict, "downtime to estimate");
}

#[test]
fn a_verified_cutover_can_only_complete_its_traffic_being_switched() {
    given::<TransferDecider>(verified())
        .when(TransferCommand::Cancel {
            reason: "support".into(),
            at: at("2026-11-23T10:00:04Z"),
        })
        .then_refused_because(Conflict, "can no longer be called off");
    given::<TransferDecider>(verified())
        .when(TransferCommand::Fail {
            phase: TransferPhase::Switching,
            reason: "x".into(),
            retryable: true,
            at: at("2026-11-23T10:00:04Z"),
        })
        .then_refused_because(Conflict, "can only complete");
    assert!(
        given::<TransferDecider>(verified())
            .state()
            .past_no_return()
    );
    assert!(!given::<TransferDecider>(frozen()).state().past_no_return());
}

/// Issue 14's probe: a transit server recorded with `/etc` as its mail root (before
/// registrations were checked) and an account named `ssl` would have rsync mirror
/// into `/etc/ssl/` with `--delete`. The transfer is refused, with the reason, and
/// nothing is recorded; so are names that a tool would read as an option.
#[test]
fn a_transfer_that_would_touch_system_directories_is_refused() {
    let mut etc = scheduled(TransferKind::PreCopy, &["acc-1"]);
    etc.destination.storage.mail_root = "/etc".into();
    etc.accounts[0].name = "ssl".into();
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(etc)))
        .then_refused_because(
            Invalid,
            "destination.mail_root: \"/etc\" is a system directory",
        );

    let mut dashed = scheduled(TransferKind::Cutover, &["acc-1"]);
    dashed.accounts[0].name = "-rf".into();
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(dashed)))
        .then_refused_because(Invalid, "not an account name");

    let mut database = scheduled(TransferKind::Cutover, &["acc-1"]);
    database.accounts[0]
        .databases
        .push(ferry_events::DatabaseSpec {
            engine: ferry_events::DatabaseEngine::Postgres,
            name: "--help".into(),
            size_bytes: 1,
            version: "16".into(),
        });
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(database)))
        .then_refused_because(Invalid, "not a database name");

    let mut url = scheduled(TransferKind::Cutover, &["acc-1"]);
    url.source.storage.postgres_url = Some("postgres://u@-oProxyCommand=sh/x".into());
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(url)))
        .then_refused_because(Invalid, "source.postgres_url");

    // A test server has no roots: its empty roots are not refused.
    let mut test_copy = scheduled(TransferKind::TestCopy, &["acc-1"]);
    test_copy.destination.storage.files_root.clear();
    test_copy.destination.storage.mail_root.clear();
    given::<TransferDecider>([])
        .when(TransferCommand::Schedule(Box::new(test_copy.clone())))
        .then(vec![test_copy.into()]);
}
