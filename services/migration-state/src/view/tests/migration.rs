//! A migration through its states and steps, its accounts and downtimes.

use ferry_events::*;
use uuid::Uuid;

use super::*;
use crate::view::*;

#[test]
fn a_full_migration_enters_every_state_with_its_step() {
    use MigrationStatus as S;
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    h.push(TRANSIT, transit_added());
    up_to_transit_request(&mut h, m, &["acc-1", "acc-2", "acc-3"]);
    assert_eq!(h.migration(m).state, S::TransitRequested);
    assert_eq!(h.migration(m).step, Some(2));
    h.push(
        &id,
        ObsoleteLanguagesRemoved {
            removals: vec![AccountLanguages {
                account_id: "acc-1".into(),
                versions: vec![php("7.4")],
            }],
        },
    );
    assert_eq!(
        h.migration(m).state,
        S::TransitRequested,
        "removing languages stays in step 2"
    );
    h.push(
        &id,
        TransitServerQueued {
            configuration: CONFIG.into(),
            position: 1,
        },
    );
    assert_eq!(
        (h.migration(m).state, h.migration(m).step),
        (S::TransitWaiting, Some(3))
    );
    transit_ready(&mut h, m);
    assert_eq!(
        (h.migration(m).state, h.migration(m).step),
        (S::MigratingAccounts, Some(4))
    );

    for (n, account) in ["acc-1", "acc-2", "acc-3"].iter().enumerate() {
        let transfer = Uuid::now_v7();
        h.push(
            &id,
            AccountMoveStarted {
                account_id: (*account).into(),
                transfer_id: transfer,
                estimated_downtime_ms: 60_000,
            },
        );
        run_transfer(
            &mut h,
            transfer,
            m,
            TransferKind::Cutover,
            account,
            2_000 + n as u64 * 100,
        );
        h.push(
            &id,
            AccountMoved {
                account_id: (*account).into(),
                transfer_id: transfer,
                downtime_ms: 2_000 + n as u64 * 100,
            },
        );
        let expected = if n < 2 {
            S::MigratingAccounts
        } else {
            S::Verifying
        };
        assert_eq!(h.migration(m).state, expected, "after {account} moved");
    }
    assert_eq!(h.migration(m).step, Some(5));
    h.push(
        &id,
        AccountVerified {
            account_id: "acc-1".into(),
        },
    );
    h.push(&id, ReinstallRequested {});
    assert_eq!(
        h.migration(m).state,
        S::Verifying,
        "a reinstall request stays in step 5"
    );
    h.push(
        &id,
        ReinstallStarted {
            ips_rerouted_to: TRANSIT.into(),
        },
    );
    assert_eq!(
        (h.migration(m).state, h.migration(m).step),
        (S::Reinstalling, Some(6))
    );
    h.push(
        &id,
        ServerReinstalled {
            infrastructure_version: "v2026".into(),
        },
    );
    assert_eq!(
        (h.migration(m).state, h.migration(m).step),
        (S::Relocating, Some(7))
    );
    for account in ["acc-1", "acc-2", "acc-3"] {
        let transfer = Uuid::now_v7();
        h.push(
            &id,
            AccountRelocationStarted {
                account_id: account.into(),
                transfer_id: transfer,
                estimated_downtime_ms: 60_000,
            },
        );
        assert_eq!(h.account(m, account).state, AccountState::Relocating);
        run_transfer(
            &mut h,
            transfer,
            m,
            TransferKind::Relocation,
            account,
            1_000,
        );
        h.push(
            &id,
            AccountRelocated {
                account_id: account.into(),
                transfer_id: transfer,
                downtime_ms: 1_000,
            },
        );
        assert_eq!(h.account(m, account).state, AccountState::Relocated);
    }
    assert_eq!(
        h.migration(m).state,
        S::Relocating,
        "relocating until the migration completes"
    );
    h.push(
        &id,
        MigrationCompleted {
            total_downtime_ms: 9_300,
        },
    );

    let view = h.migration(m);
    assert_eq!(
        states(view),
        vec![
            (S::Preparing, Some(1)),
            (S::TransitRequested, Some(2)),
            (S::TransitWaiting, Some(3)),
            (S::TransitInstalling, Some(3)),
            (S::MigratingAccounts, Some(4)),
            (S::Verifying, Some(5)),
            (S::Reinstalling, Some(6)),
            (S::Relocating, Some(7)),
            (S::Completed, Some(8)),
        ]
    );
    assert_eq!(view.downtime_ms, 2_000 + 2_100 + 2_200 + 3 * 1_000);
    assert_eq!(h.account(m, "acc-2").downtime_ms, 2_100 + 1_000);
    assert_eq!(h.account(m, "acc-2").downtimes.len(), 2);
    assert_eq!(
        view.completed.as_ref().map(|c| c.reported_downtime_ms),
        Some(9_300)
    );
    assert_eq!(
        view.transfers.len(),
        6,
        "three cutovers and three relocations"
    );
    assert!(
        view.transfers
            .iter()
            .all(|t| t.status == TransferStatus::Completed)
    );
    let transit = view.transit.as_ref().expect("a transit server");
    assert_eq!(transit.transit_server_id, TRANSIT);
    assert!(
        transit.assigned_at.is_some()
            && transit.ready_at.is_some()
            && transit.installed_at.is_some()
    );
    assert!(transit.ips_rerouted_at.is_some());
    let summary = h
        .server()
        .migration
        .as_ref()
        .expect("the server follows its migration");
    assert_eq!(
        (summary.migration_id, summary.state, summary.step),
        (m, S::Completed, Some(8))
    );
    assert_eq!(h.model.transit_servers[TRANSIT].state, TransitState::Lent);
}

#[test]
fn a_move_in_progress_shows_its_transfer_phase_and_bytes() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    transit_ready(&mut h, m);
    let transfer = Uuid::now_v7();
    let tid = transfer.to_string();
    h.push(
        &id,
        AccountMoveStarted {
            account_id: "acc-1".into(),
            transfer_id: transfer,
            estimated_downtime_ms: 90_000,
        },
    );
    let operation = h
        .account(m, "acc-1")
        .operation
        .clone()
        .expect("a move under way");
    assert_eq!(operation.kind, OperationKind::Move);
    assert_eq!(operation.transfer.status, TransferStatus::Requested);
    assert_eq!(h.account(m, "acc-1").state, AccountState::Moving);

    h.push(
        &tid,
        scheduled(transfer, m, TransferKind::Cutover, &["acc-1"]),
    )
    .push(&tid, TransferStarted {})
    .push(
        &tid,
        ferry_events::DowntimeEstimated {
            account_id: "acc-1".into(),
            estimated_downtime_ms: 3_700,
            measured_cutovers: 12,
        },
    );
    let operation = h.account(m, "acc-1").operation.clone().expect("moving");
    assert_eq!(
        (
            operation.estimated_downtime_ms,
            operation.transfer.estimated_downtime_ms
        ),
        (3_700, Some(3_700)),
        "the data mover's fitted estimate replaces the rule of thumb"
    );
    h.push(
        &tid,
        TransferProgressed {
            phase: TransferPhase::FinalSync,
            account_id: Some("acc-1".into()),
            bytes_done: 250,
            bytes_total: 1_000,
            // A second run: the first copied 300 bytes before a crash.
            run_id: Some(Uuid::from_u128(2)),
            run_bytes_copied: 200,
            bytes_copied: 500,
        },
    );
    let transfer_view = &h
        .account(m, "acc-1")
        .operation
        .as_ref()
        .expect("still moving")
        .transfer;
    assert_eq!(transfer_view.status, TransferStatus::Running);
    assert_eq!(transfer_view.phase, Some(TransferPhase::FinalSync));
    assert_eq!(
        (transfer_view.bytes_done, transfer_view.bytes_total),
        (250, 1_000)
    );
    assert_eq!(
        transfer_view.bytes_copied,
        Some(500),
        "copied so far, every run counted"
    );
    assert_eq!(
        transfer_view.destination_server_id.as_deref(),
        Some(TRANSIT)
    );
    assert_eq!(
        h.migration(m).transfers[0].bytes_done,
        250,
        "the migration's list follows too"
    );
    assert!(
        h.model.transfers.contains_key(&transfer),
        "the transfer is linked to its migration"
    );
}

#[test]
fn a_failed_move_leaves_the_account_ready_and_is_recorded() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1", "acc-2"]);
    transit_ready(&mut h, m);
    let transfer = Uuid::now_v7();
    h.push(
        &id,
        AccountMoveStarted {
            account_id: "acc-1".into(),
            transfer_id: transfer,
            estimated_downtime_ms: 1,
        },
    )
    .push(
        &transfer.to_string(),
        scheduled(transfer, m, TransferKind::Cutover, &["acc-1"]),
    )
    .push(
        &transfer.to_string(),
        TransferFailed {
            phase: TransferPhase::Databases,
            reason: "dump failed".into(),
            retryable: true,
        },
    )
    .push(
        &id,
        AccountMoveFailed {
            account_id: "acc-1".into(),
            transfer_id: transfer,
            reason: "dump failed".into(),
        },
    );
    let account = h.account(m, "acc-1");
    assert_eq!(account.state, AccountState::Ready);
    assert!(account.operation.is_none());
    assert_eq!(account.downtime_ms, 0);
    let failure = account.last_failure.as_ref().expect("the failure is kept");
    assert_eq!(
        (failure.kind, failure.reason.as_str()),
        (OperationKind::Move, "dump failed")
    );
    assert_eq!(h.migration(m).transfers[0].status, TransferStatus::Failed);
    assert_eq!(h.migration(m).state, MigrationStatus::MigratingAccounts);
    // What `server` and `migration show` answer: the failure with its reason.
    let detail = crate::response::MigrationDetail::of(
        h.migration(m).clone(),
        None,
        None,
        chrono::Utc::now(),
    );
    let line = detail
        .accounts
        .iter()
        .find(|a| a.account_id == "acc-1")
        .expect("listed");
    assert_eq!(
        line.last_failure.as_ref().map(|f| f.reason.as_str()),
        Some("dump failed")
    );
}

#[test]
fn a_rollback_returns_the_migration_to_migrating_accounts() {
    use MigrationStatus as S;
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1", "acc-2"]);
    transit_ready(&mut h, m);
    for account in ["acc-1", "acc-2"] {
        let transfer = Uuid::now_v7();
        h.push(
            &id,
            AccountMoveStarted {
                account_id: account.into(),
                transfer_id: transfer,
                estimated_downtime_ms: 1,
            },
        )
        .push(
            &id,
            AccountMoved {
                account_id: account.into(),
                transfer_id: transfer,
                downtime_ms: 1_500,
            },
        );
    }
    h.push(
        &id,
        AccountVerified {
            account_id: "acc-2".into(),
        },
    );
    assert_eq!(h.migration(m).state, S::Verifying);
    assert_eq!(h.account(m, "acc-2").state, AccountState::Verified);

    // A failed rollback leaves the account verified on the transit server.
    let failed = Uuid::now_v7();
    h.push(
        &id,
        AccountRollbackStarted {
            account_id: "acc-2".into(),
            transfer_id: failed,
            estimated_downtime_ms: 1,
        },
    );
    assert_eq!(h.account(m, "acc-2").state, AccountState::RollingBack);
    h.push(
        &id,
        AccountRollbackFailed {
            account_id: "acc-2".into(),
            transfer_id: failed,
            reason: "busy".into(),
        },
    );
    assert_eq!(h.account(m, "acc-2").state, AccountState::Verified);
    assert_eq!(h.migration(m).state, S::Verifying);

    let rollback = Uuid::now_v7();
    h.push(
        &id,
        AccountRollbackStarted {
            account_id: "acc-2".into(),
            transfer_id: rollback,
            estimated_downtime_ms: 1,
        },
    )
    .push(
        &id,
        AccountRolledBack {
            account_id: "acc-2".into(),
            transfer_id: rollback,
            downtime_ms: 700,
        },
    );
    assert_eq!(
        h.account(m, "acc-2").state,
        AccountState::Ready,
        "back on the client server"
    );
    assert_eq!(
        (h.migration(m).state, h.migration(m).step),
        (S::MigratingAccounts, Some(4))
    );
    assert_eq!(h.account(m, "acc-2").downtime_ms, 1_500 + 700);
    assert_eq!(h.migration(m).downtime_ms, 1_500 + 1_500 + 700);

    let again = Uuid::now_v7();
    h.push(
        &id,
        AccountMoveStarted {
            account_id: "acc-2".into(),
            transfer_id: again,
            estimated_downtime_ms: 1,
        },
    )
    .push(
        &id,
        AccountMoved {
            account_id: "acc-2".into(),
            transfer_id: again,
            downtime_ms: 300,
        },
    );
    assert_eq!(h.migration(m).state, S::Verifying);
    assert_eq!(
        h.account(m, "acc-2").state,
        AccountState::OnTransit,
        "verification starts over"
    );
    let entered: Vec<S> = states(h.migration(m)).iter().map(|(s, _)| *s).collect();
    assert_eq!(
        entered[entered.len() - 4..],
        [
            S::MigratingAccounts,
            S::Verifying,
            S::MigratingAccounts,
            S::Verifying
        ]
    );
}

#[test]
fn a_failed_relocation_leaves_the_account_on_the_transit_server() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    transit_ready(&mut h, m);
    let transfer = Uuid::now_v7();
    h.push(
        &id,
        AccountMoveStarted {
            account_id: "acc-1".into(),
            transfer_id: transfer,
            estimated_downtime_ms: 1,
        },
    )
    .push(
        &id,
        AccountMoved {
            account_id: "acc-1".into(),
            transfer_id: transfer,
            downtime_ms: 1,
        },
    )
    .push(&id, ReinstallRequested {})
    .push(
        &id,
        ReinstallStarted {
            ips_rerouted_to: TRANSIT.into(),
        },
    )
    .push(
        &id,
        ServerReinstalled {
            infrastructure_version: "v2026".into(),
        },
    );
    let relocation = Uuid::now_v7();
    h.push(
        &id,
        AccountRelocationStarted {
            account_id: "acc-1".into(),
            transfer_id: relocation,
            estimated_downtime_ms: 1,
        },
    )
    .push(
        &id,
        AccountRelocationFailed {
            account_id: "acc-1".into(),
            transfer_id: relocation,
            reason: "disk full".into(),
        },
    );
    assert_eq!(h.account(m, "acc-1").state, AccountState::OnTransit);
    assert_eq!(h.migration(m).state, MigrationStatus::Relocating);
}

#[test]
fn step_one_readiness_tests_and_compatibility() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    h.push(SERVER, registered());
    h.push(&id, opened(m, &["acc-1"]));
    assert_eq!(h.account(m, "acc-1").state, AccountState::Preparing);
    h.push(
        &id,
        AccountCompatibilityChecked {
            account_id: "acc-1".into(),
            issues: vec![Incompatibility {
                kind: IncompatibilityKind::LanguageVersionRemoved,
                subject: "php 7.4".into(),
                detail: "PHP 7.4 is not available on v2026".into(),
            }],
        },
    );
    assert_eq!(h.account(m, "acc-1").compatibility.issues.len(), 1);
    let test = Uuid::now_v7();
    h.push(
        &id,
        TestMigrationRequested {
            account_id: "acc-1".into(),
            transfer_id: test,
        },
    );
    assert_eq!(h.account(m, "acc-1").test.status, TestStatus::Requested);
    h.push(
        &id,
        TestMigrationAvailable {
            account_id: "acc-1".into(),
            transfer_id: test,
            test_address: "test-1.example".into(),
        },
    );
    let account = h.account(m, "acc-1");
    assert_eq!(account.test.status, TestStatus::Available);
    assert_eq!(account.test.test_address.as_deref(), Some("test-1.example"));
    assert_eq!(h.migration(m).transfers[0].kind, TransferKind::TestCopy);
    h.push(
        &id,
        TestMigrationDiscarded {
            account_id: "acc-1".into(),
            transfer_id: test,
        },
    );
    assert_eq!(h.account(m, "acc-1").test.status, TestStatus::None);

    h.push(
        &id,
        AccountMarkedReady {
            account_id: "acc-1".into(),
        },
    );
    assert_eq!(h.account(m, "acc-1").state, AccountState::Ready);
    assert!(h.account(m, "acc-1").marked_ready_at.is_some());
    h.push(
        &id,
        AccountReadinessWithdrawn {
            account_id: "acc-1".into(),
        },
    );
    assert_eq!(
        h.account(m, "acc-1").state,
        AccountState::Preparing,
        "readiness is reversible"
    );
    assert_eq!(h.migration(m).state, MigrationStatus::Preparing);
}

#[test]
fn restoring_languages_returns_to_step_one() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    let languages = vec![AccountLanguages {
        account_id: "acc-1".into(),
        versions: vec![php("7.4")],
    }];
    h.push(
        &id,
        ObsoleteLanguagesRemoved {
            removals: languages.clone(),
        },
    )
    .push(
        SERVER,
        LanguageVersionsRemoved {
            account_id: "acc-1".into(),
            versions: vec![php("7.4")],
        },
    );
    assert_eq!(h.migration(m).languages_removed, languages);
    let server_account = h.server().account("acc-1").expect("hosted");
    assert_eq!(server_account.account.languages, vec![php("8.2")]);
    assert_eq!(server_account.removed_languages, vec![php("7.4")]);

    h.push(
        &id,
        ObsoleteLanguagesRestored {
            restorations: languages,
        },
    )
    .push(
        SERVER,
        LanguageVersionsRestored {
            account_id: "acc-1".into(),
            versions: vec![php("7.4")],
        },
    );
    let view = h.migration(m);
    assert_eq!(
        (view.state, view.step),
        (MigrationStatus::Preparing, Some(1))
    );
    assert!(view.languages_removed.is_empty() && view.transit_request.is_none());
    let server_account = h.server().account("acc-1").expect("hosted");
    assert!(server_account.account.languages.contains(&php("7.4")));
    assert!(server_account.removed_languages.is_empty());
    assert_eq!(h.server().migration.as_ref().map(|s| s.step), Some(Some(1)));
}

#[test]
fn a_cancelled_migration_has_no_step_and_frees_the_server() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    h.push(
        &id,
        MigrationCancelled {
            reason: "customer changed plans".into(),
        },
    )
    .push(
        SERVER,
        RequiredMigrationClosed {
            migration_id: m,
            outcome: MigrationOutcome::Cancelled,
        },
    );
    let view = h.migration(m);
    assert_eq!((view.state, view.step), (MigrationStatus::Cancelled, None));
    assert_eq!(
        view.cancelled.as_ref().map(|c| c.reason.as_str()),
        Some("customer changed plans")
    );
    let server = h.server();
    assert_eq!(
        server.migration.as_ref().map(|s| s.state),
        Some(MigrationStatus::Cancelled)
    );
    assert_eq!(server.open_migration_id, None);
    assert_eq!(
        server.migrations[0].outcome,
        Some(MigrationOutcome::Cancelled)
    );

    // A new migration of the server becomes its current one; the old one's late
    // events do not take the summary back.
    let next = Uuid::now_v7();
    h.push(&next.to_string(), opened(next, &["acc-1"]));
    h.push(
        &id,
        AccountReadinessWithdrawn {
            account_id: "acc-1".into(),
        },
    );
    let summary = h.server().migration.clone().expect("a current migration");
    assert_eq!(
        (summary.migration_id, summary.state),
        (next, MigrationStatus::Preparing)
    );
}

#[test]
fn states_and_steps_match_the_process_table() {
    use MigrationStatus as S;
    let expected = [
        (S::Preparing, Some(1), "preparing"),
        (S::TransitRequested, Some(2), "transit_requested"),
        (S::TransitWaiting, Some(3), "transit_waiting"),
        (S::TransitInstalling, Some(3), "transit_installing"),
        (S::MigratingAccounts, Some(4), "migrating_accounts"),
        (S::Verifying, Some(5), "verifying"),
        (S::Reinstalling, Some(6), "reinstalling"),
        (S::Relocating, Some(7), "relocating"),
        (S::Completed, Some(8), "completed"),
        (S::Cancelled, None, "cancelled"),
    ];
    for (state, step, name) in expected {
        assert_eq!(state.step(), step);
        assert_eq!(state.as_str(), name);
        assert_eq!(
            serde_json::to_value(state).expect("serializes"),
            serde_json::json!(name)
        );
    }
    assert_eq!(S::ALL.len(), expected.len());
}

#[test]
fn a_readiness_withdrawn_after_the_transit_request_is_back_in_step_one_as_the_accounts_service_says()
 {
    use MigrationStatus as S;
    let mut h = History::new();
    let m = Uuid::now_v7();
    up_to_transit_request(&mut h, m, &["acc-1", "acc-2"]);
    assert_eq!(h.migration(m).state, S::TransitRequested);
    h.push(
        &m.to_string(),
        AccountReadinessWithdrawn {
            account_id: "acc-2".into(),
        },
    );
    assert_eq!(
        (h.migration(m).state, h.migration(m).step),
        (S::Preparing, Some(1))
    );
}

#[test]
fn the_loan_is_what_billing_recorded_and_nothing_before_it_opened() {
    let mut h = History::new();
    let m = Uuid::now_v7();
    let id = m.to_string();
    up_to_transit_request(&mut h, m, &["acc-1"]);
    transit_ready(&mut h, m);
    assert_eq!(h.migration(m).loan, None, "billing has not opened it yet");
    let started = h.migration(m).opened_at;
    let eur = |cents| Money::new(cents, "EUR");
    h.push(
        &id,
        LoanOpened {
            migration_id: m,
            transit_server_id: "tr-0007".into(),
            customer_id: "c-42".into(),
            client_server_id: "srv-0042".into(),
            started_at: started,
            monthly_price: eur(3_100),
            free_period_days: 14,
        },
    );
    h.push(
        &id,
        LoanFreePeriodChanged {
            free_period_days: 1,
            previous_free_period_days: 14,
            reason: "a test".into(),
        },
    );
    for day in ["2026-03-03", "2026-03-04"] {
        h.push(
            &id,
            LoanDayCharged {
                day: day.parse().expect("a date"),
                amount: eur(100),
            },
        );
    }
    let loan = h.migration(m).loan.clone().expect("opened");
    assert_eq!(
        (loan.free_period_days, loan.days_charged, loan.charged_cents),
        (1, 2, 200)
    );
    assert_eq!(loan.monthly_price_cents, 3_100);
    h.push(
        &id,
        LoanClosed {
            ended_at: started + chrono::Duration::hours(60),
            days_used: 3,
            billable_days: 2,
            total: eur(200),
        },
    );
    let closed = h.migration(m).loan.clone().and_then(|l| l.closed);
    assert_eq!(closed.map(|c| (c.days_used, c.total_cents)), Some((3, 200)));
}
