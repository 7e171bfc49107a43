//! A whole required migration, as the writing services append it — a wait in the
//! queue, a test migration, a failed move, a rollback, transfers with progress —
//! read back through the routes at every step; then the rebuild equals the live
//! tables, the audit tells the whole timeline from the log (with and without the log
//! index), and another customer is refused.

mod support;

use chrono::{Duration, SubsecRound, Utc};
use ferry_events::*;
use ferry_infra::projection::StatusBoard;
use ferry_infra::projection::log_index::LogIndex;
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::testkit::TestStack;
use ferry_migration_state::MigrationState;
use ferry_migration_state::audit::{AuditSource, AuditTimeline};
use ferry_migration_state::response::{
    MigrationDetail, ServerDetail, ServerListItem, TransitQueueView,
};
use ferry_migration_state::view::{AccountState, MigrationStatus, TestStatus, TransferStatus};
use support::*;
use uuid::Uuid;

const PROJECTION: &str = "migration_state";

fn accounts() -> Vec<AccountSpec> {
    vec![
        make::account("acc-1", "bakery"),
        make::account("acc-2", "florist"),
        make::account("acc-3", "garage"),
    ]
}

/// One account's cutover, rollback or relocation `t` by the data mover and the
/// network. `Err(reason)` fails it during the databases phase.
async fn transfer_account(
    s: &mut Script,
    m: Uuid,
    t: Uuid,
    kind: TransferKind,
    account: &AccountSpec,
    (from, to): (&str, &str),
    outcome: Result<u64, &str>,
) {
    let id = t.to_string();
    let data = system("data-mover");
    let a = account.account_id.as_str();
    let plan = make::transfer(t, m, kind, std::slice::from_ref(account), from, to);
    s.one(&id, m, &data, plan).await;
    s.one(&id, m, &data, TransferStarted {}).await;
    let frozen_at = Utc::now();
    s.command(
        &id,
        m,
        &data,
        vec![
            AccountFrozen {
                account_id: a.into(),
                frozen_at,
            }
            .into(),
            make::progressed(TransferPhase::FinalSync, Some(a), 5_000_000, 5_000_000).into(),
            make::progressed(TransferPhase::Databases, Some(a), 20_000_000, 40_000_000).into(),
        ],
    )
    .await;
    let unfrozen = AccountUnfrozen {
        account_id: a.into(),
        unfrozen_at: Utc::now(),
    };
    match outcome {
        Ok(downtime) => {
            let verified = TransferVerified {
                files_checked: 1_204,
                databases: Vec::new(),
            };
            s.one(&id, m, &data, verified).await;
            s.command(
                &id,
                m,
                &data,
                vec![
                    unfrozen.into(),
                    make::completed(Some(downtime), None).into(),
                ],
            )
            .await;
            let switched = AccountTrafficSwitched {
                to_server_id: to.into(),
                method: TrafficSwitchMethod::ProviderDns,
                switched_at: Utc::now(),
                transfer_id: None,
            };
            s.one(a, m, &system("network"), switched).await;
        }
        Err(reason) => {
            let failed = TransferFailed {
                phase: TransferPhase::Databases,
                reason: reason.into(),
                retryable: true,
            };
            s.command(&id, m, &data, vec![unfrozen.into(), failed.into()])
                .await;
        }
    }
}

/// An account moved (or moved back) with its measured downtime.
async fn move_account(s: &mut Script, m: Uuid, account: &AccountSpec, downtime: u64) {
    let ms = m.to_string();
    let a = account.account_id.clone();
    let t = Uuid::now_v7();
    let started = AccountMoveStarted {
        account_id: a.clone(),
        transfer_id: t,
        estimated_downtime_ms: 60_000,
    };
    s.one(&ms, m, &customer(), started).await;
    transfer_account(
        s,
        m,
        t,
        TransferKind::Cutover,
        account,
        (SERVER, TRANSIT),
        Ok(downtime),
    )
    .await;
    let moved = AccountMoved {
        account_id: a,
        transfer_id: t,
        downtime_ms: downtime,
    };
    s.one(&ms, m, &system("accounts"), moved).await;
}

async fn server_as(api: &Api, actor: &str) -> ServerDetail {
    api.get(&format!("/servers/{SERVER}"), Some(actor))
        .await
        .json()
}

fn migration(detail: &ServerDetail) -> &MigrationDetail {
    detail.migration.as_ref().expect("a current migration")
}

fn account_state(detail: &ServerDetail, account: &str) -> AccountState {
    migration(detail)
        .accounts
        .iter()
        .find(|a| a.account_id == account)
        .map(|a| a.state)
        .expect("the account is in the migration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_migration_is_read_back_rebuilt_identically_and_audited() {
    let stack = TestStack::new().await;
    let board = StatusBoard::default();
    let projection = run(&stack, MigrationState, &board, 7);
    let api = Api::serve(&stack).await;
    let s = &mut Script::new(&stack.log);
    let me = "customer:c-42";
    let pool = system("transit-pool");
    let accounts_service = system("accounts");
    let (m0, m) = (Uuid::now_v7(), Uuid::now_v7());
    let (m0s, ms) = (m0.to_string(), m.to_string());
    let [acc1, acc2, acc3] = <[AccountSpec; 3]>::try_from(accounts()).expect("three accounts");

    // The pool, the servers and their accounts.
    let published = InfrastructureVersionPublished {
        version: "v2026".into(),
        languages: vec![make::php("8.2"), make::php("8.3")],
        databases: vec![DatabaseVersion {
            engine: DatabaseEngine::Postgres,
            version: "16".into(),
        }],
    };
    let setup = Uuid::now_v7();
    s.one("v2026", setup, &support(), published).await;
    s.one(TRANSIT, setup, &support(), make::transit()).await;
    s.one(
        CONFIG,
        setup,
        &pool,
        TransitServerAvailable {
            transit_server_id: TRANSIT.into(),
        },
    )
    .await;
    s.one(SERVER, setup, &support(), make::server(SERVER, CUSTOMER))
        .await;
    for account in [&acc1, &acc2, &acc3] {
        s.one(
            SERVER,
            setup,
            &accounts_service,
            AccountAdded {
                account: account.clone(),
            },
        )
        .await;
    }
    s.one(
        OTHER_SERVER,
        setup,
        &support(),
        make::server(OTHER_SERVER, OTHER_CUSTOMER),
    )
    .await;
    let acc9 = make::account("acc-9", "shop");
    s.one(
        OTHER_SERVER,
        setup,
        &accounts_service,
        AccountAdded { account: acc9 },
    )
    .await;

    // Another customer's migration takes the only transit server first.
    let other = Actor::customer(OTHER_CUSTOMER);
    let opened0 = RequiredMigrationOpened {
        migration_id: m0,
        target_version: "v2026".into(),
    };
    s.one(OTHER_SERVER, m0, &other, opened0).await;
    s.one(
        &m0s,
        m0,
        &other,
        make::opened(m0, OTHER_SERVER, OTHER_CUSTOMER, &["acc-9"]),
    )
    .await;
    s.one(
        &m0s,
        m0,
        &other,
        AccountMarkedReady {
            account_id: "acc-9".into(),
        },
    )
    .await;
    s.one(
        &m0s,
        m0,
        &other,
        TransitServerRequested {
            configuration: CONFIG.into(),
        },
    )
    .await;
    s.one(
        &m0s,
        m0,
        &support(),
        ObsoleteLanguagesRemoved {
            removals: Vec::new(),
        },
    )
    .await;
    s.one(
        CONFIG,
        m0,
        &pool,
        TransitRequestServed {
            migration_id: m0,
            transit_server_id: TRANSIT.into(),
        },
    )
    .await;
    let reserved0 = TransitServerReserved {
        migration_id: m0,
        client_server_id: OTHER_SERVER.into(),
    };
    s.one(TRANSIT, m0, &pool, reserved0).await;
    s.one(
        &m0s,
        m0,
        &accounts_service,
        TransitServerAssigned {
            transit_server_id: TRANSIT.into(),
        },
    )
    .await;

    // Step 1: compatibility, a test migration, readiness.
    let opened = RequiredMigrationOpened {
        migration_id: m,
        target_version: "v2026".into(),
    };
    s.one(SERVER, m, &customer(), opened).await;
    s.one(
        &ms,
        m,
        &customer(),
        make::opened(m, SERVER, CUSTOMER, &["acc-1", "acc-2", "acc-3"]),
    )
    .await;
    let issue = Incompatibility {
        kind: IncompatibilityKind::LanguageVersionRemoved,
        subject: "php 7.4".into(),
        detail: "PHP 7.4 is not available on v2026; use 8.2 or later".into(),
    };
    for (account, issues) in [
        ("acc-1", vec![issue]),
        ("acc-2", Vec::new()),
        ("acc-3", Vec::new()),
    ] {
        let checked = AccountCompatibilityChecked {
            account_id: account.into(),
            issues,
        };
        s.one(&ms, m, &accounts_service, checked).await;
    }
    let test = Uuid::now_v7();
    s.one(
        &ms,
        m,
        &customer(),
        TestMigrationRequested {
            account_id: "acc-2".into(),
            transfer_id: test,
        },
    )
    .await;
    let data = system("data-mover");
    let test_plan = make::transfer(
        test,
        m,
        TransferKind::TestCopy,
        std::slice::from_ref(&acc2),
        SERVER,
        "test-01",
    );
    s.one(&test.to_string(), m, &data, test_plan).await;
    s.one(
        &test.to_string(),
        m,
        &data,
        make::completed(None, Some("test-acc-2.hosting.example")),
    )
    .await;
    let available = TestMigrationAvailable {
        account_id: "acc-2".into(),
        transfer_id: test,
        test_address: "test-acc-2.hosting.example".into(),
    };
    s.one(&ms, m, &accounts_service, available).await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    assert_eq!(detail.server.accounts.len(), 3);
    let current = migration(&detail);
    assert_eq!(
        (current.state, current.step),
        (MigrationStatus::Preparing, Some(1))
    );
    let acc2_line = current
        .accounts
        .iter()
        .find(|a| a.account_id == "acc-2")
        .expect("acc-2");
    assert_eq!(acc2_line.test, TestStatus::Available);
    assert_eq!(
        acc2_line.test_address.as_deref(),
        Some("test-acc-2.hosting.example")
    );
    assert_eq!(acc2_line.name.as_deref(), Some("florist"));
    let acc1_view = current.view.account("acc-1").expect("acc-1");
    assert_eq!(acc1_view.compatibility.issues.len(), 1);

    // Step 2, then 3: every account ready, transit requested, languages removed; the
    // only transit server is taken, so the migration waits in line.
    for account in ["acc-1", "acc-2", "acc-3"] {
        s.one(
            &ms,
            m,
            &customer(),
            AccountMarkedReady {
                account_id: account.into(),
            },
        )
        .await;
    }
    s.one(
        &ms,
        m,
        &customer(),
        TransitServerRequested {
            configuration: CONFIG.into(),
        },
    )
    .await;
    let removals = vec![AccountLanguages {
        account_id: "acc-1".into(),
        versions: vec![make::php("7.4")],
    }];
    s.one(&ms, m, &support(), ObsoleteLanguagesRemoved { removals })
        .await;
    let removed = LanguageVersionsRemoved {
        account_id: "acc-1".into(),
        versions: vec![make::php("7.4")],
    };
    s.one(SERVER, m, &accounts_service, removed).await;
    let queued = TransitRequestQueued {
        migration_id: m,
        client_server_id: SERVER.into(),
        requested_at: Utc::now(),
    };
    s.one(CONFIG, m, &pool, queued).await;
    s.one(
        &ms,
        m,
        &accounts_service,
        TransitServerQueued {
            configuration: CONFIG.into(),
            position: 1,
        },
    )
    .await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    let current = migration(&detail);
    assert_eq!(
        (current.state, current.step),
        (MigrationStatus::TransitWaiting, Some(3))
    );
    assert_eq!(current.queue_position, Some(1));
    assert!(
        current
            .accounts
            .iter()
            .all(|a| a.state == AccountState::Ready)
    );
    let acc1_on_server = detail.server.account("acc-1").expect("hosted");
    assert_eq!(acc1_on_server.removed_languages, vec![make::php("7.4")]);
    let queues: Vec<TransitQueueView> = api
        .get("/transit-queues", Some("support:alice"))
        .await
        .json();
    let queue = queues
        .iter()
        .find(|q| q.configuration == CONFIG)
        .expect("the queue");
    assert_eq!(
        queue
            .waiting
            .iter()
            .map(|w| (w.position, w.migration_id))
            .collect::<Vec<_>>(),
        [(1, m)]
    );
    assert!(
        queue.free_transit_servers.is_empty(),
        "the only transit server is reserved"
    );
    let at_step_3: Vec<ServerListItem> = api
        .get("/servers?step=3", Some("support:alice"))
        .await
        .json();
    let at_step_3: Vec<_> = at_step_3
        .iter()
        .map(|i| (i.server_id.as_str(), i.state))
        .collect();
    assert_eq!(
        at_step_3,
        [
            (SERVER, Some(MigrationStatus::TransitWaiting)),
            (OTHER_SERVER, Some(MigrationStatus::TransitInstalling)),
        ]
    );
    let theirs: Vec<ServerListItem> = api.get("/servers", Some("customer:c-7")).await.json();
    assert_eq!(
        theirs
            .iter()
            .map(|i| i.server_id.as_str())
            .collect::<Vec<_>>(),
        [OTHER_SERVER]
    );

    // The other migration is cancelled: its transit server is wiped and serves ours.
    s.one(
        &m0s,
        m0,
        &other,
        MigrationCancelled {
            reason: "postponed".into(),
        },
    )
    .await;
    let closed0 = RequiredMigrationClosed {
        migration_id: m0,
        outcome: MigrationOutcome::Cancelled,
    };
    s.one(OTHER_SERVER, m0, &accounts_service, closed0).await;
    s.one(
        CONFIG,
        m0,
        &pool,
        TransitAssignmentEnded {
            migration_id: m0,
            transit_server_id: TRANSIT.into(),
        },
    )
    .await;
    let release = vec![
        TransitServerReleased { migration_id: m0 }.into(),
        TransitServerWipeStarted {
            expected_duration_ms: 600_000,
        }
        .into(),
    ];
    s.command(TRANSIT, m0, &pool, release).await;
    s.one(TRANSIT, m0, &pool, TransitServerWiped {}).await;
    let serve = vec![
        TransitServerAvailable {
            transit_server_id: TRANSIT.into(),
        }
        .into(),
        TransitRequestServed {
            migration_id: m,
            transit_server_id: TRANSIT.into(),
        }
        .into(),
    ];
    s.command(CONFIG, m, &pool, serve).await;
    let install = vec![
        TransitServerReserved {
            migration_id: m,
            client_server_id: SERVER.into(),
        }
        .into(),
        TransitInstallationStarted {
            migration_id: m,
            infrastructure_version: "v2026".into(),
            expected_duration_ms: 4 * 3_600_000,
        }
        .into(),
    ];
    s.command(TRANSIT, m, &pool, install).await;
    s.one(
        &ms,
        m,
        &accounts_service,
        TransitServerAssigned {
            transit_server_id: TRANSIT.into(),
        },
    )
    .await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    let current = migration(&detail);
    assert_eq!(
        (current.state, current.step),
        (MigrationStatus::TransitInstalling, Some(3))
    );
    assert_eq!(current.queue_position, None, "served");
    let transit = current.transit.as_ref().expect("a transit server");
    assert_eq!(transit.transit_server_id, TRANSIT);
    assert!(transit.since.is_some());

    // The installation pre-copies files and mails; the loan starts 16 days ago.
    let pre = Uuid::now_v7();
    let pre_plan = make::transfer(pre, m, TransferKind::PreCopy, &accounts(), SERVER, TRANSIT);
    s.one(&pre.to_string(), m, &data, pre_plan).await;
    s.one(&pre.to_string(), m, &data, TransferStarted {}).await;
    let files = make::progressed(TransferPhase::Files, None, 1_000_000_000, 6_000_000_000);
    s.one(&pre.to_string(), m, &data, files).await;
    s.one(&pre.to_string(), m, &data, make::completed(None, None))
        .await;
    s.one(
        TRANSIT,
        m,
        &pool,
        TransitInstallationCompleted { migration_id: m },
    )
    .await;
    let lent_at = (Utc::now() - Duration::days(16) - Duration::hours(1)).trunc_subsecs(6);
    s.one(
        TRANSIT,
        m,
        &pool,
        TransitServerLent {
            migration_id: m,
            lent_at,
        },
    )
    .await;
    let ready = TransitServerReady {
        transit_server_id: TRANSIT.into(),
        ready_at: lent_at,
    };
    s.one(&ms, m, &accounts_service, ready).await;
    // Billing opened the loan at the lending and charged the days past its free
    // period: the read side shows what billing recorded.
    let billing = system("billing");
    let opened = LoanOpened {
        migration_id: m,
        transit_server_id: TRANSIT.into(),
        customer_id: "c-42".into(),
        client_server_id: SERVER.into(),
        started_at: lent_at,
        monthly_price: Money::new(3_000, "EUR"),
        free_period_days: 14,
    };
    s.one(&ms, m, &billing, opened).await;
    for day in 15..=17 {
        let charged = LoanDayCharged {
            day: (lent_at + Duration::days(day - 1)).date_naive(),
            amount: Money::new(100, "EUR"),
        };
        s.one(&ms, m, &billing, charged).await;
    }
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    let current = migration(&detail);
    assert_eq!(
        (current.state, current.step),
        (MigrationStatus::MigratingAccounts, Some(4))
    );
    let loan = current.loan.as_ref().expect("the loan runs");
    assert_eq!(
        (loan.days_used, loan.free_period_days, loan.billable_days),
        (17, 14, 3)
    );
    assert_eq!((loan.amount_cents, loan.currency.as_str()), (300, "EUR"));
    assert_eq!(loan.started_at, lent_at);
    assert!(loan.ended_at.is_none());
    let pre_copy = current
        .view
        .transfers
        .iter()
        .find(|t| t.transfer_id == pre)
        .expect("the pre-copy");
    assert_eq!(pre_copy.status, TransferStatus::Completed);

    // Step 4: acc-1 moves; its transfer's progress shows while it runs.
    let c1 = Uuid::now_v7();
    let started = AccountMoveStarted {
        account_id: "acc-1".into(),
        transfer_id: c1,
        estimated_downtime_ms: 60_000,
    };
    s.one(&ms, m, &customer(), started).await;
    let c1s = c1.to_string();
    let plan = make::transfer(
        c1,
        m,
        TransferKind::Cutover,
        std::slice::from_ref(&acc1),
        SERVER,
        TRANSIT,
    );
    s.one(&c1s, m, &data, plan).await;
    s.one(&c1s, m, &data, TransferStarted {}).await;
    s.one(
        &c1s,
        m,
        &data,
        make::progressed(TransferPhase::Databases, Some("acc-1"), 400, 1_000),
    )
    .await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    assert_eq!(account_state(&detail, "acc-1"), AccountState::Moving);
    let line = migration(&detail)
        .accounts
        .iter()
        .find(|a| a.account_id == "acc-1")
        .expect("acc-1");
    let progress = line
        .current_transfer
        .as_ref()
        .expect("a transfer under way");
    assert_eq!(progress.transfer_id, c1);
    assert_eq!(progress.phase, Some(TransferPhase::Databases));
    assert_eq!((progress.bytes_done, progress.bytes_total), (400, 1_000));

    let verified = TransferVerified {
        files_checked: 1_204,
        databases: Vec::new(),
    };
    s.one(&c1s, m, &data, verified).await;
    s.one(&c1s, m, &data, make::completed(Some(2_400), None))
        .await;
    let switched = AccountTrafficSwitched {
        to_server_id: TRANSIT.into(),
        method: TrafficSwitchMethod::ProviderDns,
        switched_at: Utc::now(),
        transfer_id: None,
    };
    s.one("acc-1", m, &system("network"), switched).await;
    s.one(
        &ms,
        m,
        &accounts_service,
        AccountMoved {
            account_id: "acc-1".into(),
            transfer_id: c1,
            downtime_ms: 2_400,
        },
    )
    .await;

    // acc-2's first move fails; it stays ready on the client server.
    let c2 = Uuid::now_v7();
    let started = AccountMoveStarted {
        account_id: "acc-2".into(),
        transfer_id: c2,
        estimated_downtime_ms: 60_000,
    };
    s.one(&ms, m, &customer(), started).await;
    let refused = Err("pg_dump: connection refused");
    transfer_account(
        s,
        m,
        c2,
        TransferKind::Cutover,
        &acc2,
        (SERVER, TRANSIT),
        refused,
    )
    .await;
    let failed = AccountMoveFailed {
        account_id: "acc-2".into(),
        transfer_id: c2,
        reason: "pg_dump: connection refused".into(),
    };
    s.one(&ms, m, &accounts_service, failed).await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    assert_eq!(account_state(&detail, "acc-1"), AccountState::OnTransit);
    assert_eq!(account_state(&detail, "acc-2"), AccountState::Ready);
    let acc2_view = migration(&detail).view.account("acc-2").expect("acc-2");
    let failure = acc2_view
        .last_failure
        .as_ref()
        .expect("the failure is shown");
    assert_eq!(failure.reason, "pg_dump: connection refused");
    assert_eq!(migration(&detail).step, Some(4));

    // acc-2 moves on a second try, acc-3 too: every account is on the transit server.
    move_account(s, m, &acc2, 3_100).await;
    move_account(s, m, &acc3, 1_800).await;
    caught_up(&board, PROJECTION, s.last_read).await;
    let detail = server_as(&api, me).await;
    assert_eq!(
        (migration(&detail).state, migration(&detail).step),
        (MigrationStatus::Verifying, Some(5))
    );

    // Step 5: acc-1 verified; acc-3 rolled back to the client server, then moved again.
    s.one(
        &ms,
        m,
        &customer(),
        AccountVerified {
            account_id: "acc-1".into(),
        },
    )
    .await;
    let r3 = Uuid::now_v7();
    let rollback = AccountRollbackStarted {
        account_id: "acc-3".into(),
        transfer_id: r3,
        estimated_downtime_ms: 60_000,
    };
    s.one(&ms, m, &customer(), rollback).await;
    transfer_account(
        s,
        m,
        r3,
        TransferKind::Rollback,
        &acc3,
        (TRANSIT, SERVER),
        Ok(900),
    )
    .await;
    let rolled = AccountRolledBack {
        account_id: "acc-3".into(),
        transfer_id: r3,
        downtime_ms: 900,
    };
    s.one(&ms, m, &accounts_service, rolled).await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    assert_eq!(
        (migration(&detail).state, migration(&detail).step),
        (MigrationStatus::MigratingAccounts, Some(4)),
        "a rollback returns to migrating_accounts"
    );
    assert_eq!(account_state(&detail, "acc-3"), AccountState::Ready);
    assert_eq!(account_state(&detail, "acc-1"), AccountState::Verified);
    move_account(s, m, &acc3, 1_500).await;
    s.one(&ms, m, &customer(), ReinstallRequested {}).await;
    caught_up(&board, PROJECTION, s.last_read).await;
    let detail = server_as(&api, me).await;
    assert_eq!(migration(&detail).state, MigrationStatus::Verifying);
    assert!(migration(&detail).view.reinstall.requested_at.is_some());

    // Step 6: the reinstall; the client server's IPs are rerouted meanwhile.
    s.one(
        &ms,
        m,
        &support(),
        ReinstallStarted {
            ips_rerouted_to: TRANSIT.into(),
        },
    )
    .await;
    let network = system("network");
    let ips = vec!["192.0.2.10".to_owned()];
    s.one(
        SERVER,
        m,
        &network,
        IpRerouteStarted {
            ips: ips.clone(),
            to_server_id: TRANSIT.into(),
        },
    )
    .await;
    let rerouted = IpsRerouted {
        ips,
        to_server_id: TRANSIT.into(),
        unavailability_ms: 60_000,
    };
    s.one(SERVER, m, &network, rerouted).await;
    caught_up(&board, PROJECTION, s.last_read).await;
    let detail = server_as(&api, me).await;
    assert_eq!(
        (migration(&detail).state, migration(&detail).step),
        (MigrationStatus::Reinstalling, Some(6))
    );

    // Step 7: accounts relocate to the reinstalled server; step 8: completed.
    s.one(
        &ms,
        m,
        &support(),
        ServerReinstalled {
            infrastructure_version: "v2026".into(),
        },
    )
    .await;
    let changed = InfrastructureVersionChanged {
        from: "v2020".into(),
        to: "v2026".into(),
    };
    s.one(SERVER, m, &accounts_service, changed).await;
    for (account, downtime) in [(&acc1, 1_100), (&acc2, 1_300), (&acc3, 1_200)] {
        let t = Uuid::now_v7();
        let started = AccountRelocationStarted {
            account_id: account.account_id.clone(),
            transfer_id: t,
            estimated_downtime_ms: 60_000,
        };
        s.one(&ms, m, &support(), started).await;
        transfer_account(
            s,
            m,
            t,
            TransferKind::Relocation,
            account,
            (TRANSIT, SERVER),
            Ok(downtime),
        )
        .await;
        let relocated = AccountRelocated {
            account_id: account.account_id.clone(),
            transfer_id: t,
            downtime_ms: downtime,
        };
        s.one(&ms, m, &accounts_service, relocated).await;
        if account.account_id == "acc-1" {
            caught_up(&board, PROJECTION, s.last_read).await;
            let detail = server_as(&api, me).await;
            assert_eq!(
                (migration(&detail).state, migration(&detail).step),
                (MigrationStatus::Relocating, Some(7))
            );
            assert_eq!(account_state(&detail, "acc-1"), AccountState::Relocated);
            assert_eq!(account_state(&detail, "acc-2"), AccountState::OnTransit);
        }
    }
    s.one(
        &ms,
        m,
        &accounts_service,
        MigrationCompleted {
            total_downtime_ms: 12_400,
        },
    )
    .await;
    let closed = RequiredMigrationClosed {
        migration_id: m,
        outcome: MigrationOutcome::Completed,
    };
    s.one(SERVER, m, &accounts_service, closed).await;
    s.one(
        CONFIG,
        m,
        &pool,
        TransitAssignmentEnded {
            migration_id: m,
            transit_server_id: TRANSIT.into(),
        },
    )
    .await;
    s.one(TRANSIT, m, &pool, TransitServerReleased { migration_id: m })
        .await;
    let closed = LoanClosed {
        ended_at: lent_at + Duration::days(16) + Duration::hours(2),
        days_used: 17,
        billable_days: 3,
        total: Money::new(300, "EUR"),
    };
    s.one(&m.to_string(), m, &system("billing"), closed).await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let detail = server_as(&api, me).await;
    assert_eq!(detail.server.infrastructure_version, "v2026");
    let done: MigrationDetail = api.get(&format!("/migrations/{m}"), Some(me)).await.json();
    assert_eq!(
        (done.state, done.step),
        (MigrationStatus::Completed, Some(8))
    );
    let downtime = |account: &str| {
        done.accounts
            .iter()
            .find(|a| a.account_id == account)
            .map(|a| a.downtime_ms)
    };
    assert_eq!(downtime("acc-1"), Some(2_400 + 1_100));
    assert_eq!(downtime("acc-2"), Some(3_100 + 1_300));
    assert_eq!(downtime("acc-3"), Some(1_800 + 900 + 1_500 + 1_200));
    assert_eq!(done.downtime_ms, 3_500 + 4_400 + 5_400);
    assert!(
        done.accounts
            .iter()
            .all(|a| a.state == AccountState::Relocated)
    );
    let loan = done.loan.as_ref().expect("the loan");
    assert!(loan.ended_at.is_some(), "the loan ended with the release");
    assert_eq!(
        (loan.days_used, loan.billable_days, loan.amount_cents),
        (17, 3, 300)
    );
    assert_eq!(
        done.view
            .history
            .iter()
            .map(|h| h.state.as_str())
            .collect::<Vec<_>>(),
        [
            "preparing",
            "transit_requested",
            "transit_waiting",
            "transit_installing",
            "migrating_accounts",
            "verifying",
            "migrating_accounts",
            "verifying",
            "reinstalling",
            "relocating",
            "completed",
        ]
    );
    let listed: Vec<ServerListItem> = api.get("/servers", Some(me)).await.json();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].state, listed[0].step),
        (Some(MigrationStatus::Completed), Some(8))
    );

    // The rebuild from the log equals the live tables.
    let shadow = build_shadow(&MigrationState, &stack.log, &stack.pool, 50)
        .await
        .expect("rebuild");
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(comparison.is_equal(), "{comparison:#?}");
    assert_eq!(comparison.tables.len(), 7);
    shadow.discard().await.expect("discard");

    // Another customer is refused the server, its migration and its audit.
    for path in [
        format!("/servers/{SERVER}"),
        format!("/servers/{SERVER}/audit"),
        format!("/migrations/{m}"),
    ] {
        let refused = api.get(&path, Some("customer:c-7")).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        assert!(
            refused.reason().contains("belongs to another customer"),
            "{}",
            refused.reason()
        );
    }

    // The audit, replayed from the log, first without a log index...
    let replayed: AuditTimeline = api
        .get(&format!("/servers/{SERVER}/audit"), Some(me))
        .await
        .json();
    assert_eq!(replayed.source, AuditSource::Replay);
    check_audit(&replayed, m, m0);

    // ...then through the log index: the same timeline.
    let index_board = StatusBoard::default();
    let index = run(&stack, LogIndex, &index_board, 100);
    let last = stack.log.last_sequence().await.expect("last sequence");
    caught_up(&index_board, "log_index", last).await;
    let indexed: AuditTimeline = api
        .get(&format!("/servers/{SERVER}/audit"), Some("support:alice"))
        .await
        .json();
    assert_eq!(indexed.source, AuditSource::LogIndex);
    assert_eq!(indexed.entries, replayed.entries);

    index.cancel();
    projection.cancel();
}

/// The timeline holds the whole story of `m` and of the server, nothing of `m0`.
fn check_audit(audit: &AuditTimeline, m: Uuid, m0: Uuid) {
    let entries = &audit.entries;
    assert_eq!(audit.migration_ids, vec![m]);
    assert!(
        entries.windows(2).all(|w| w[0].sequence <= w[1].sequence),
        "log order"
    );
    assert_eq!(entries[0].event_type, "ServerRegistered");
    assert_eq!(entries[0].aggregate_id, SERVER);
    let moved = entries
        .iter()
        .find(|e| e.summary == "account acc-1 moved to tr-0007 in 2.4 s")
        .expect("acc-1's move is told");
    assert_eq!(moved.downtime_ms, Some(2_400));
    assert_eq!(moved.actor.id, "accounts");
    assert_eq!(moved.migration_id, Some(m));
    let count = |event_type: &str| {
        entries
            .iter()
            .filter(|e| e.event_type == event_type)
            .count()
    };
    assert_eq!(count("AccountMoved"), 4);
    assert_eq!(count("AccountMoveFailed"), 1);
    assert_eq!(count("AccountRolledBack"), 1);
    assert_eq!(count("AccountRelocated"), 3);
    assert_eq!(
        count("AccountTrafficSwitched"),
        8,
        "network events are part of it"
    );
    assert_eq!(count("IpsRerouted"), 1);
    assert_eq!(
        count("TransitServerReserved"),
        1,
        "only the reservation for this migration"
    );
    assert_eq!(count("TransitRequestQueued"), 1);
    assert_eq!(
        count("TransferProgressed"),
        2 * 8 + 1 + 1,
        "eight account transfers, acc-1's move, the pre-copy"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.event_type == "TestMigrationAvailable"
                && e.summary
                    == "test migration of account acc-2 available at test-acc-2.hosting.example")
    );
    let failed = entries
        .iter()
        .find(|e| e.event_type == "AccountMoveFailed")
        .expect("failed move");
    assert_eq!(
        failed.summary,
        "move of account acc-2 failed: pg_dump: connection refused"
    );
    let completed = entries
        .iter()
        .find(|e| e.event_type == "MigrationCompleted")
        .expect("completed");
    assert_eq!(completed.downtime_ms, Some(12_400));
    let m0s = m0.to_string();
    assert!(
        entries.iter().all(|e| e.migration_id != Some(m0)
            && e.aggregate_id != m0s
            && e.aggregate_id != OTHER_SERVER),
        "nothing of the other customer's migration"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.actor.role == ActorRole::Customer && e.actor.id == CUSTOMER)
    );
}
