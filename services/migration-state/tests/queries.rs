//! The queries beyond one migration: queue positions renumbered as requests leave,
//! a migration back to step 1 and one cancelled, optional migrations, target
//! infrastructures and the transit pool; who may see what (401, 403, 404, 400); the
//! OpenAPI description; and the rebuild equal to the live tables.

mod support;

use chrono::Utc;
use ferry_events::*;
use ferry_infra::projection::StatusBoard;
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::testkit::TestStack;
use ferry_migration_state::response::{
    MigrationDetail, ServerDetail, ServerListItem, TransitQueueView,
};
use ferry_migration_state::view::{
    MigrationStatus, OptionalMigrationState, OptionalMigrationView, TargetInfrastructureView,
    TransferStatus, TransitServerView, TransitState,
};
use ferry_migration_state::{MigrationState, ReadState, routes};
use support::*;
use uuid::Uuid;

const PROJECTION: &str = "migration_state";
const THIRD_SERVER: &str = "srv-0100";

/// A migration of `server` opened, ready, requested and queued.
async fn queued(
    s: &mut Script,
    server: &str,
    customer_id: &str,
    account: &str,
    position: u32,
) -> Uuid {
    let m = Uuid::now_v7();
    let ms = m.to_string();
    let owner = Actor::customer(customer_id);
    let opened = RequiredMigrationOpened {
        migration_id: m,
        target_version: "v2026".into(),
    };
    s.one(server, m, &owner, opened).await;
    s.one(
        &ms,
        m,
        &owner,
        make::opened(m, server, customer_id, &[account]),
    )
    .await;
    s.one(
        &ms,
        m,
        &owner,
        AccountMarkedReady {
            account_id: account.into(),
        },
    )
    .await;
    s.one(
        &ms,
        m,
        &owner,
        TransitServerRequested {
            configuration: CONFIG.into(),
        },
    )
    .await;
    s.one(
        &ms,
        m,
        &support(),
        ObsoleteLanguagesRemoved {
            removals: Vec::new(),
        },
    )
    .await;
    let request = TransitRequestQueued {
        migration_id: m,
        client_server_id: server.into(),
        requested_at: Utc::now(),
    };
    s.one(CONFIG, m, &system("transit-pool"), request).await;
    let queued = TransitServerQueued {
        configuration: CONFIG.into(),
        position,
    };
    s.one(&ms, m, &system("accounts"), queued).await;
    m
}

async fn position(api: &Api, server: &str, actor: &str) -> Option<u32> {
    let detail: ServerDetail = api
        .get(&format!("/servers/{server}"), Some(actor))
        .await
        .json();
    detail.migration.and_then(|m| m.queue_position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_optional_migrations_targets_and_access() {
    let stack = TestStack::new().await;
    let board = StatusBoard::default();
    let projection = run(&stack, MigrationState, &board, 5);
    let api = Api::serve(&stack).await;
    let s = &mut Script::new(&stack.log);
    let setup = Uuid::now_v7();
    let (me, them) = ("customer:c-42", "customer:c-7");

    for version in ["v2026", "v2027"] {
        let published = InfrastructureVersionPublished {
            version: version.into(),
            languages: vec![make::php("8.2")],
            databases: Vec::new(),
        };
        s.one(version, setup, &support(), published).await;
    }
    let support_changed = InfrastructureVersionSupportChanged {
        languages: vec![make::php("8.2"), make::php("8.4")],
        databases: vec![DatabaseVersion {
            engine: DatabaseEngine::Mysql,
            version: "11.4".into(),
        }],
    };
    s.one("v2027", setup, &support(), support_changed).await;
    s.one(TRANSIT, setup, &support(), make::transit()).await;
    s.one(
        TRANSIT,
        setup,
        &system("transit-pool"),
        TransitServerTakenOutOfService {
            reason: "disk".into(),
        },
    )
    .await;
    for (server, customer_id, account) in [
        (SERVER, CUSTOMER, "acc-1"),
        (OTHER_SERVER, OTHER_CUSTOMER, "acc-9"),
        (THIRD_SERVER, CUSTOMER, "acc-5"),
    ] {
        s.one(server, setup, &support(), make::server(server, customer_id))
            .await;
        let added = AccountAdded {
            account: make::account(account, account),
        };
        s.one(server, setup, &system("accounts"), added).await;
    }

    // Three migrations wait in line for the configuration.
    let a = queued(s, SERVER, CUSTOMER, "acc-1", 1).await;
    let b = queued(s, OTHER_SERVER, OTHER_CUSTOMER, "acc-9", 2).await;
    let c = queued(s, THIRD_SERVER, CUSTOMER, "acc-5", 3).await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let queues: Vec<TransitQueueView> = api
        .get("/transit-queues", Some("support:alice"))
        .await
        .json();
    assert_eq!(queues.len(), 1);
    let waiting: Vec<_> = queues[0]
        .waiting
        .iter()
        .map(|w| (w.position, w.migration_id))
        .collect();
    assert_eq!(waiting, [(1, a), (2, b), (3, c)]);
    assert!(
        queues[0].free_transit_servers.is_empty(),
        "the only one is out of service"
    );
    assert_eq!(position(&api, SERVER, me).await, Some(1));
    assert_eq!(position(&api, THIRD_SERVER, me).await, Some(3));
    let theirs: MigrationDetail = api
        .get(&format!("/migrations/{b}"), Some(them))
        .await
        .json();
    assert_eq!(
        (theirs.state, theirs.queue_position),
        (MigrationStatus::TransitWaiting, Some(2))
    );

    // The first goes back to step 1 (languages restored), the second is cancelled:
    // both leave the queue and the third moves up.
    let pool = system("transit-pool");
    let restored = ObsoleteLanguagesRestored {
        restorations: Vec::new(),
    };
    s.one(&a.to_string(), a, &support(), restored).await;
    s.one(
        CONFIG,
        a,
        &pool,
        TransitRequestWithdrawn {
            migration_id: a,
            reason: "back to step 1".into(),
        },
    )
    .await;
    s.one(
        &b.to_string(),
        b,
        &Actor::customer(OTHER_CUSTOMER),
        MigrationCancelled {
            reason: "sold".into(),
        },
    )
    .await;
    s.one(
        CONFIG,
        b,
        &pool,
        TransitRequestWithdrawn {
            migration_id: b,
            reason: "cancelled".into(),
        },
    )
    .await;
    caught_up(&board, PROJECTION, s.last_read).await;

    let mine: Vec<ServerListItem> = api.get("/servers", Some(me)).await.json();
    let mine: Vec<_> = mine
        .iter()
        .map(|i| (i.server_id.as_str(), i.state, i.step))
        .collect();
    assert_eq!(
        mine,
        [
            (SERVER, Some(MigrationStatus::Preparing), Some(1)),
            (THIRD_SERVER, Some(MigrationStatus::TransitWaiting), Some(3)),
        ],
        "a customer lists only their own servers"
    );
    let all: Vec<ServerListItem> = api.get("/servers", Some("support:alice")).await.json();
    let cancelled = all
        .iter()
        .find(|i| i.server_id == OTHER_SERVER)
        .expect("listed to support");
    assert_eq!(
        (cancelled.state, cancelled.step),
        (Some(MigrationStatus::Cancelled), None)
    );
    assert_eq!(position(&api, SERVER, me).await, None);
    assert_eq!(position(&api, THIRD_SERVER, me).await, Some(1));
    let at_step_1: Vec<ServerListItem> = api
        .get("/servers?step=1", Some("support:alice"))
        .await
        .json();
    assert_eq!(
        at_step_1
            .iter()
            .map(|i| i.server_id.as_str())
            .collect::<Vec<_>>(),
        [SERVER]
    );

    // Optional migrations: one fails on our server, one is applied on theirs.
    let optional = |server: &str, customer_id: &str| OptionalMigrationScheduled {
        optional_migration_id: Uuid::now_v7(),
        server_id: server.into(),
        customer_id: customer_id.into(),
        service: ServiceKind::Postgresql,
        from_version: "13".into(),
        to_version: "16".into(),
        scheduled_for: None,
    };
    let (ours, others) = (
        optional(SERVER, CUSTOMER),
        optional(OTHER_SERVER, OTHER_CUSTOMER),
    );
    let data = system("data-mover");
    for (plan, outcome) in [
        (ours.clone(), Err("restore failed")),
        (others.clone(), Ok(4_000)),
    ] {
        let o = plan.optional_migration_id;
        let os = o.to_string();
        let t = Uuid::now_v7();
        s.one(&os, o, &support(), plan.clone()).await;
        s.one(
            &os,
            o,
            &system("accounts"),
            OptionalMigrationStarted { transfer_id: t },
        )
        .await;
        let mut transfer = make::transfer(
            t,
            o,
            TransferKind::ServiceMigration,
            &[],
            &plan.server_id,
            &plan.server_id,
        );
        transfer.server_id = plan.server_id.clone();
        s.one(&t.to_string(), o, &data, transfer).await;
        let progress = make::progressed(TransferPhase::Databases, None, 10, 100);
        s.one(&t.to_string(), o, &data, progress).await;
        match outcome {
            Err(reason) => {
                let failed = TransferFailed {
                    phase: TransferPhase::Databases,
                    reason: reason.into(),
                    retryable: false,
                };
                s.one(&t.to_string(), o, &data, failed).await;
                s.one(
                    &os,
                    o,
                    &system("accounts"),
                    OptionalMigrationFailed {
                        reason: reason.into(),
                    },
                )
                .await;
            }
            Ok(downtime) => {
                s.one(
                    &t.to_string(),
                    o,
                    &data,
                    make::completed(Some(downtime), None),
                )
                .await;
                s.one(
                    &os,
                    o,
                    &system("accounts"),
                    OptionalMigrationApplied {
                        downtime_ms: downtime,
                    },
                )
                .await;
            }
        }
    }
    caught_up(&board, PROJECTION, s.last_read).await;

    let listed: Vec<OptionalMigrationView> = api
        .get(&format!("/optional-migrations?server={SERVER}"), Some(me))
        .await
        .json();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].optional_migration_id, ours.optional_migration_id);
    assert_eq!(listed[0].state, OptionalMigrationState::Failed);
    assert_eq!(listed[0].reason.as_deref(), Some("restore failed"));
    let transfer = listed[0].transfer.as_ref().expect("its transfer");
    assert_eq!(
        (transfer.status, transfer.bytes_done),
        (TransferStatus::Failed, 10)
    );
    let theirs: Vec<OptionalMigrationView> =
        api.get("/optional-migrations", Some(them)).await.json();
    assert_eq!(
        theirs
            .iter()
            .map(|o| o.optional_migration_id)
            .collect::<Vec<_>>(),
        [others.optional_migration_id]
    );
    assert_eq!(
        (theirs[0].state, theirs[0].downtime_ms),
        (OptionalMigrationState::Applied, Some(4_000))
    );
    let everything: Vec<OptionalMigrationView> = api
        .get("/optional-migrations", Some("support:alice"))
        .await
        .json();
    assert_eq!(everything.len(), 2);

    // Targets and the pool.
    let targets: Vec<TargetInfrastructureView> =
        api.get("/target-infrastructures", Some(me)).await.json();
    assert_eq!(
        targets
            .iter()
            .map(|t| t.version.as_str())
            .collect::<Vec<_>>(),
        ["v2026", "v2027"]
    );
    assert_eq!(targets[1].languages.len(), 2);
    assert_eq!(targets[1].databases.len(), 1);
    let transits: Vec<TransitServerView> = api
        .get("/transit-servers", Some("support:alice"))
        .await
        .json();
    assert_eq!(transits.len(), 1);
    assert_eq!(
        (transits[0].state, transits[0].problem.as_deref()),
        (TransitState::OutOfService, Some("disk"))
    );

    // Who may see what.
    let support_actor = Some("support:alice");
    let refusals: Vec<(String, Option<&str>, u16)> = vec![
        ("/servers".into(), None, 401),
        (format!("/servers/{OTHER_SERVER}"), Some(me), 403),
        (format!("/servers/{OTHER_SERVER}/audit"), Some(me), 403),
        (format!("/migrations/{b}"), Some(me), 403),
        (
            format!("/optional-migrations?server={OTHER_SERVER}"),
            Some(me),
            403,
        ),
        ("/transit-servers".into(), Some(me), 403),
        ("/transit-queues".into(), Some(me), 403),
        ("/servers/srv-nope".into(), support_actor, 404),
        ("/servers/srv-nope/audit".into(), support_actor, 404),
        (
            "/optional-migrations?server=srv-nope".into(),
            support_actor,
            404,
        ),
        // Ids no server can have: the client's mistake, never an outage (503).
        ("/optional-migrations?server=%00".into(), support_actor, 404),
        ("/servers/a%00b".into(), support_actor, 404),
        ("/servers/a.b/audit".into(), support_actor, 404),
        (
            format!("/migrations/{}", Uuid::now_v7()),
            support_actor,
            404,
        ),
        ("/migrations/not-a-uuid".into(), support_actor, 400),
        ("/servers?step=9".into(), support_actor, 400),
        ("/servers?step=x".into(), support_actor, 400),
        // A malformed actor names nobody: unauthenticated, as a missing one.
        ("/servers".into(), Some("boss:x"), 401),
    ];
    for (path, actor, status) in refusals {
        let answer = api.get(&path, actor).await;
        assert_eq!(
            answer.status, status,
            "{path} as {actor:?}: {}",
            answer.body
        );
        assert!(!answer.reason().is_empty(), "{path}: a reason is given");
    }

    // The rebuild equals the live tables.
    let shadow = build_shadow(&MigrationState, &stack.log, &stack.pool, 3)
        .await
        .expect("rebuild");
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(comparison.is_equal(), "{comparison:#?}");
    shadow.discard().await.expect("discard");
    projection.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_are_described_in_openapi_and_wait_for_the_read_model() {
    let stack = TestStack::new().await;
    let state = ReadState {
        pool: stack.pool.clone(),
        log: stack.log.clone(),
    };
    let (_, openapi) = routes::router(state).split_for_parts();
    let paths: Vec<&str> = openapi.paths.paths.keys().map(String::as_str).collect();
    for path in [
        "/servers",
        "/servers/{server_id}",
        "/servers/{server_id}/audit",
        "/migrations/{migration_id}",
        "/transit-servers",
        "/transit-queues",
        "/target-infrastructures",
        "/optional-migrations",
    ] {
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }
    let json = serde_json::to_value(&openapi).expect("serializes");
    assert_eq!(
        json["paths"]["/servers/{server_id}"]["get"]["tags"][0],
        "read"
    );
    assert!(json["components"]["schemas"]["ServerDetail"].is_object());

    // Before the projection has created its tables, queries say so.
    let api = Api::serve(&stack).await;
    let answer = api.get("/servers", Some("support:alice")).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.reason().contains("being built"),
        "{}",
        answer.reason()
    );
}
