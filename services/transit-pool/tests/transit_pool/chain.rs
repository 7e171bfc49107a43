//! The reactor chain, from the migration's events to a lent transit server and back to
//! the pool; and timers that survive a restart.

use crate::support::{
    add_server, eventually, history, languages_removed, migration_completed, migration_requesting,
    pre_copy_completed, quick, reactor_idle, types, wipe_completed, wipes_completed,
};
use chrono::Utc;
use ferry_events::Actor;
use ferry_events::{
    AggregateType, Event, MigrationCancelled, TransferKind, TransitQueueEvent, TransitServerEvent,
};
use ferry_infra::nats_users::NatsUser;
use ferry_infra::testkit::TestStack;
use ferry_transit_pool::REACTOR_NAME;
use ferry_transit_pool::domain::transit_server::Status;
use ferry_transit_pool::{CommandMeta, TransitPool, run};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const CONFIGURATION: &str = "vps-4c-8g";
const WAIT: Duration = Duration::from_secs(20);

async fn status(pool: &TransitPool, server: &str) -> Status {
    pool.server_state(server).await.expect("state").status
}

async fn wait_status(
    pool: &TransitPool,
    server: &str,
    what: &str,
    wanted: impl Fn(&Status) -> bool,
) {
    eventually(what, WAIT, || async {
        let status = status(pool, server).await;
        wanted(&status).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_gets_a_transit_server_installed_and_lent_then_gives_it_back() {
    let stack = TestStack::new().await;
    let pool = TransitPool::new(stack.log_as(NatsUser::TransitPool).await, quick(100, 100));
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(
        pool.clone(),
        stack.policy_context().await,
        shutdown.clone(),
    ));
    let data_mover = wipes_completed(stack.log.clone(), shutdown.clone());

    add_server(&pool, "tr-1", CONFIGURATION)
        .await
        .expect("added");
    // A server of another configuration is never lent to these migrations.
    add_server(&pool, "tr-9", "dedi-16c-64g")
        .await
        .expect("added");
    let (m1, m2) = (Uuid::now_v7(), Uuid::now_v7());
    migration_requesting(&stack.log, m1, "srv-1", CONFIGURATION).await;
    migration_requesting(&stack.log, m2, "srv-2", CONFIGURATION).await;
    // Asking for a transit server is not enough: support removes the languages first.
    reactor_idle(&stack.log).await;
    assert!(
        pool.queue_state(CONFIGURATION)
            .await
            .expect("queue")
            .assignments
            .is_empty()
    );

    languages_removed(&stack.log, m1).await;
    languages_removed(&stack.log, m2).await;

    // m1: reserved → installing → installed; m2 waits.
    wait_status(&pool, "tr-1", "tr-1 installed for m1", |s| {
        matches!(s, Status::Installed { migration_id, client_server_id } if *migration_id == m1 && client_server_id == "srv-1")
    })
    .await;
    assert_eq!(
        types(&pool, AggregateType::TransitServer, "tr-1").await,
        [
            "TransitServerAdded",
            "TransitServerReserved",
            "TransitInstallationStarted",
            "TransitInstallationCompleted"
        ]
    );
    let started = history(&pool, AggregateType::TransitServer, "tr-1").await;
    match &started[2].event {
        Event::TransitServer(TransitServerEvent::TransitInstallationStarted(e)) => {
            assert_eq!(e.infrastructure_version, "v2026", "the migration's target");
            assert_eq!(e.expected_duration_ms, 100);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        started[1..].iter().all(|e| e.correlation_id == m1),
        "correlated with m1"
    );
    let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
    assert_eq!(
        queue
            .waiting
            .iter()
            .map(|w| w.migration_id)
            .collect::<Vec<_>>(),
        [m2]
    );

    // A pre-copy elsewhere (another server, not a pre-copy) lends nothing.
    pre_copy_completed(&stack.log, Some(m1), TransferKind::PreCopy, "srv-1").await;
    pre_copy_completed(&stack.log, Some(m1), TransferKind::TestCopy, "tr-1").await;
    // The data mover's pre-copy to the transit server completes: the loan starts.
    let at = pre_copy_completed(&stack.log, Some(m1), TransferKind::PreCopy, "tr-1").await;
    wait_status(&pool, "tr-1", "tr-1 lent to m1", |s| {
        matches!(s, Status::Lent { migration_id, since, .. } if *migration_id == m1 && *since == at)
    })
    .await;
    assert_eq!(status(&pool, "tr-9").await, Status::Available);

    // m1 completes: released → wiped (once the data mover says so) → available →
    // serves m2 at once.
    migration_completed(&stack.log, m1).await;
    wait_status(
        &pool,
        "tr-1",
        "tr-1 installed for m2",
        |s| matches!(s, Status::Installed { migration_id, .. } if *migration_id == m2),
    )
    .await;
    assert_eq!(
        types(&pool, AggregateType::TransitServer, "tr-1").await,
        [
            "TransitServerAdded",
            "TransitServerReserved",
            "TransitInstallationStarted",
            "TransitInstallationCompleted",
            "TransitServerLent",
            "TransitServerReleased",
            "TransitServerWipeStarted",
            "TransitServerWiped",
            "TransitServerReserved",
            "TransitInstallationStarted",
            "TransitInstallationCompleted",
        ]
    );
    let queue_events = history(&pool, AggregateType::TransitQueue, CONFIGURATION).await;
    let summary: Vec<(&str, Option<Uuid>)> = queue_events
        .iter()
        .map(|e| {
            let migration = match &e.event {
                Event::TransitQueue(TransitQueueEvent::TransitRequestServed(s)) => {
                    Some(s.migration_id)
                }
                Event::TransitQueue(TransitQueueEvent::TransitRequestQueued(s)) => {
                    Some(s.migration_id)
                }
                Event::TransitQueue(TransitQueueEvent::TransitAssignmentEnded(s)) => {
                    Some(s.migration_id)
                }
                _ => None,
            };
            (e.event_type(), migration)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("TransitServerAvailable", None),
            ("TransitRequestServed", Some(m1)),
            ("TransitRequestQueued", Some(m2)),
            ("TransitAssignmentEnded", Some(m1)),
            ("TransitServerAvailable", None),
            ("TransitRequestServed", Some(m2)),
        ]
    );

    // m2 is cancelled: its server goes back to the pool, free.
    crate::support::append(
        &stack.log,
        AggregateType::Migration,
        &m2.to_string(),
        m2,
        vec![
            MigrationCancelled {
                reason: "customer changed plans".into(),
            }
            .into(),
        ],
    )
    .await;
    eventually("tr-1 free again", WAIT, || async {
        let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
        (queue.free == ["tr-1"] && queue.assignments.is_empty()).then_some(())
    })
    .await;
    assert_eq!(status(&pool, "tr-1").await, Status::Available);

    shutdown.cancel();
    running.await.expect("joined").expect("ran");
    data_mover.await.expect("joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installations_and_wipes_complete_across_restarts() {
    let stack = TestStack::new().await;
    let settings = quick(3_000, 1_000);
    let pool = TransitPool::new(stack.log_as(NatsUser::TransitPool).await, settings.clone());
    let first = CancellationToken::new();
    let running = tokio::spawn(run(
        pool.clone(),
        stack.policy_context().await,
        first.clone(),
    ));

    add_server(&pool, "tr-1", CONFIGURATION)
        .await
        .expect("added");
    let m1 = Uuid::now_v7();
    migration_requesting(&stack.log, m1, "srv-1", CONFIGURATION).await;
    languages_removed(&stack.log, m1).await;
    wait_status(&pool, "tr-1", "tr-1 installing", |s| {
        matches!(s, Status::Installing { .. })
    })
    .await;
    reactor_idle(&stack.log).await;

    // The process stops in the middle of the installation...
    first.cancel();
    running.await.expect("joined").expect("stopped cleanly");
    assert!(matches!(
        status(&pool, "tr-1").await,
        Status::Installing { .. }
    ));

    // ...and another one, started later, completes it when due.
    let restarted = TransitPool::new(stack.second_log().await, settings.clone());
    let second = CancellationToken::new();
    let running = tokio::spawn(run(
        restarted.clone(),
        stack.policy_context_on(restarted.log().clone()).await,
        second.clone(),
    ));
    wait_status(
        &pool,
        "tr-1",
        "tr-1 installed after the restart",
        |s| matches!(s, Status::Installed { migration_id, .. } if *migration_id == m1),
    )
    .await;

    // Lent, then given back: the wipe starts, and the process stops again.
    pre_copy_completed(&stack.log, Some(m1), TransferKind::PreCopy, "tr-1").await;
    wait_status(&pool, "tr-1", "tr-1 lent", |s| {
        matches!(s, Status::Lent { .. })
    })
    .await;
    migration_completed(&stack.log, m1).await;
    wait_status(&pool, "tr-1", "tr-1 wiping", |s| *s == Status::Wiping).await;
    reactor_idle(&stack.log).await;
    second.cancel();
    running.await.expect("joined").expect("stopped cleanly");
    assert_eq!(status(&pool, "tr-1").await, Status::Wiping);

    // The data mover's wipe completes while the pool is down: at the next start the
    // server is wiped, and free in its queue again.
    wipe_completed(&stack.log, "tr-1", Uuid::now_v7()).await;
    let third = CancellationToken::new();
    let running = tokio::spawn(run(
        TransitPool::new(stack.log_as(NatsUser::TransitPool).await, settings),
        stack.policy_context().await,
        third.clone(),
    ));
    eventually("tr-1 free again", Duration::from_secs(5), || async {
        let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
        (queue.free == ["tr-1"]).then_some(())
    })
    .await;
    let events = types(&pool, AggregateType::TransitServer, "tr-1").await;
    assert_eq!(
        events
            .iter()
            .filter(|t| **t == "TransitInstallationCompleted")
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|t| **t == "TransitServerWiped")
            .count(),
        1
    );

    third.cancel();
    running.await.expect("joined").expect("stopped cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_of_a_migration_never_opened_is_parked_until_its_facts_arrive_then_served_in_order()
 {
    let stack = TestStack::new().await;
    // Installations take a minute: the assignment ends while it is under way.
    let pool = TransitPool::new(
        stack.log_as(NatsUser::TransitPool).await,
        quick(60_000, 100),
    );
    let context = stack.policy_context().await;
    let parked = context.parked.clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(pool.clone(), context, shutdown.clone()));
    let data_mover = wipes_completed(stack.log.clone(), shutdown.clone());
    add_server(&pool, "tr-1", CONFIGURATION)
        .await
        .expect("added");
    eventually("tr-1 free", WAIT, || async {
        let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
        (queue.free == ["tr-1"]).then_some(())
    })
    .await;

    // A request for a migration the log does not know (yet): served, but the
    // reservation needs the migration's client server and target version. The
    // reaction is parked, never passed over, and the end of the same migration's
    // assignment waits behind it.
    let ghost = Uuid::now_v7();
    let meta = CommandMeta::fresh(Actor::system("test")).correlated(ghost);
    pool.request(&meta, CONFIGURATION, ghost, "srv-0", Utc::now())
        .await
        .expect("served");
    let meta = CommandMeta::fresh(Actor::system("test")).correlated(ghost);
    pool.release_request(&meta, CONFIGURATION, ghost, "cancelled")
        .await
        .expect("released");
    let list = eventually("both parked", WAIT, || async {
        let list = parked.list(Some(REACTOR_NAME)).await.expect("parked");
        (list.len() == 2).then_some(list)
    })
    .await;
    assert_eq!(list[0].event_type, "TransitRequestServed");
    assert!(list[0].error.contains("never opened"), "{list:?}");
    assert_eq!(list[1].event_type, "TransitAssignmentEnded");
    assert!(list[1].held);
    assert_eq!(status(&pool, "tr-1").await, Status::Available);

    // The migration's facts arrive: the retries (backing off from a second) reserve
    // the server, then end the assignment: wiped, it is free in its queue again.
    migration_requesting(&stack.log, ghost, "srv-0", CONFIGURATION).await;
    eventually("tr-1 free again", Duration::from_secs(30), || async {
        let queue = pool.queue_state(CONFIGURATION).await.expect("queue");
        (queue.free == ["tr-1"] && queue.assignments.is_empty()).then_some(())
    })
    .await;
    // The migration's own events that came meanwhile waited behind too, and were
    // handled in order after it.
    eventually("nothing parked", WAIT, || async {
        parked
            .list(None)
            .await
            .expect("parked")
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(
        types(&pool, AggregateType::TransitServer, "tr-1").await,
        [
            "TransitServerAdded",
            "TransitServerReserved",
            "TransitInstallationStarted",
            "TransitServerReleased",
            "TransitServerWipeStarted",
            "TransitServerWiped",
        ]
    );

    shutdown.cancel();
    running.await.expect("joined").expect("ran");
    data_mover.await.expect("joined");
}
