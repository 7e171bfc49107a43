//! The queue as allocator under concurrency: many migrations racing for fewer transit
//! servers over several configurations, from two processes.

use crate::support::{
    add_server, eventually, history, migration_requesting, quick, wipes_completed,
};
use chrono::Utc;
use ferry_events::{Actor, AggregateType, Event, TransitQueueEvent, TransitServerEvent};
use ferry_infra::nats_users::NatsUser;
use ferry_infra::testkit::TestStack;
use ferry_transit_pool::{CommandMeta, TransitPool, run};
use futures::future::join_all;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const CONFIGURATIONS: [(&str, usize); 3] =
    [("vps-2c-4g", 2), ("vps-4c-8g", 2), ("dedi-16c-64g", 1)];
const MIGRATIONS: usize = 40;

/// Checks a queue's whole history: a server is never assigned twice at once, a
/// migration never holds two servers, every server served is one of this
/// configuration's and every migration served asked in this configuration. Returns
/// the migrations in the order they queued, in the order queued ones were served, and
/// every migration served.
fn check_queue(
    configuration: &str,
    events: &[ferry_events::Envelope],
    servers: &[String],
    migrations: &[Uuid],
) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
    let mut held: HashMap<String, Uuid> = HashMap::new();
    let mut holding: HashMap<Uuid, String> = HashMap::new();
    let mut queued = Vec::new();
    let mut served_after_waiting = Vec::new();
    let mut served = Vec::new();
    for envelope in events {
        let Event::TransitQueue(event) = &envelope.event else {
            panic!("foreign event in the queue");
        };
        match event {
            TransitQueueEvent::TransitRequestQueued(e) => {
                assert!(
                    migrations.contains(&e.migration_id),
                    "{configuration}: foreign request"
                );
                queued.push(e.migration_id);
            }
            TransitQueueEvent::TransitRequestServed(e) => {
                assert!(
                    servers.contains(&e.transit_server_id),
                    "{configuration} lent {} of another configuration",
                    e.transit_server_id
                );
                assert!(
                    migrations.contains(&e.migration_id),
                    "{configuration}: foreign migration"
                );
                if let Some(other) = held.insert(e.transit_server_id.clone(), e.migration_id) {
                    panic!(
                        "{} assigned to {} while {other} held it",
                        e.transit_server_id, e.migration_id
                    );
                }
                if let Some(other) = holding.insert(e.migration_id, e.transit_server_id.clone()) {
                    panic!(
                        "{} got {} while holding {other}",
                        e.migration_id, e.transit_server_id
                    );
                }
                served.push(e.migration_id);
                if queued.contains(&e.migration_id) {
                    served_after_waiting.push(e.migration_id);
                }
            }
            TransitQueueEvent::TransitAssignmentEnded(e) => {
                assert_eq!(held.remove(&e.transit_server_id), Some(e.migration_id));
                assert_eq!(
                    holding.remove(&e.migration_id),
                    Some(e.transit_server_id.clone())
                );
            }
            _ => {}
        }
    }
    (queued, served_after_waiting, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_share_a_server_and_waiting_ones_are_served_in_order() {
    let stack = TestStack::new().await;
    let settings = quick(50, 50);
    let pool = TransitPool::new(stack.log_as(NatsUser::TransitPool).await, settings.clone());
    let other = TransitPool::new(stack.second_log().await, settings);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(
        pool.clone(),
        stack.policy_context().await,
        shutdown.clone(),
    ));
    let data_mover = wipes_completed(stack.log.clone(), shutdown.clone());

    // Who asks for which configuration; the servers of each configuration.
    let mut of_configuration: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
    let mut migrations = Vec::new();
    for i in 0..MIGRATIONS {
        let (configuration, _) = CONFIGURATIONS[i % CONFIGURATIONS.len()];
        let migration_id = Uuid::now_v7();
        migration_requesting(&stack.log, migration_id, &format!("srv-{i}"), configuration).await;
        of_configuration
            .entry(configuration)
            .or_default()
            .push(migration_id);
        migrations.push((migration_id, configuration, i));
    }
    let servers: BTreeMap<&str, Vec<String>> = CONFIGURATIONS
        .iter()
        .map(|(configuration, count)| {
            let ids = (0..*count)
                .map(|k| format!("tr-{configuration}-{k}"))
                .collect();
            (*configuration, ids)
        })
        .collect();

    // Everything at once, from two processes: the servers join the pool (the reactor
    // makes them available in their queue) while every migration asks twice.
    let adds = servers.iter().flat_map(|(configuration, ids)| {
        ids.iter().map(|id| {
            let pool = pool.clone();
            let (id, configuration) = (id.clone(), configuration.to_string());
            tokio::spawn(async move {
                add_server(&pool, &id, &configuration).await.expect("added");
            })
        })
    });
    let requests = migrations
        .iter()
        .flat_map(|(migration_id, configuration, i)| {
            [&pool, &other].map(|pool| {
                let pool = pool.clone();
                let (migration_id, configuration, client) =
                    (*migration_id, configuration.to_string(), format!("srv-{i}"));
                tokio::spawn(async move {
                    let meta = CommandMeta::fresh(Actor::system("test")).correlated(migration_id);
                    pool.request(&meta, &configuration, migration_id, &client, Utc::now())
                        .await
                        .expect("request lands despite contention");
                })
            })
        });
    let tasks: Vec<_> = adds.chain(requests).collect();
    for outcome in join_all(tasks).await {
        outcome.expect("task");
    }

    // Every server is taken, the others wait, each migration once.
    for (configuration, wanted) in &of_configuration {
        let count = servers[configuration].len();
        let state = eventually("every server lent", Duration::from_secs(20), || async {
            let state = pool.queue_state(configuration).await.expect("queue");
            (state.assignments.len() == count).then_some(state)
        })
        .await;
        assert!(state.free.is_empty());
        assert_eq!(state.waiting.len(), wanted.len() - count, "{configuration}");
        let events = history(&pool, AggregateType::TransitQueue, configuration).await;
        check_queue(configuration, &events, &servers[configuration], wanted);
    }

    // End assignments one by one: each time, the head of the line gets the server
    // once it is wiped. The configurations do so side by side.
    let drains = of_configuration.iter().map(|(configuration, wanted)| {
        let pool = pool.clone();
        let configuration = configuration.to_string();
        let count = wanted.len();
        async move {
            loop {
                let state = pool.queue_state(&configuration).await.expect("queue");
                let Some(head) = state.waiting.first().map(|w| w.migration_id) else {
                    break;
                };
                let (&holder, _) = state
                    .assignments
                    .iter()
                    .next()
                    .expect("someone holds a server");
                let meta = CommandMeta::fresh(Actor::system("test")).correlated(holder);
                pool.release_request(&meta, &configuration, holder, "migration completed")
                    .await
                    .expect("released");
                eventually(
                    "the head of the line served",
                    Duration::from_secs(20),
                    || async {
                        let state = pool.queue_state(&configuration).await.expect("queue");
                        state.assignments.contains_key(&head).then_some(())
                    },
                )
                .await;
                let state = pool.queue_state(&configuration).await.expect("queue");
                assert!(!state.assignments.contains_key(&holder));
                assert!(state.assignments.len() <= count);
            }
        }
    });
    join_all(drains).await;

    for (configuration, wanted) in &of_configuration {
        let events = history(&pool, AggregateType::TransitQueue, configuration).await;
        let (queued, served_after_waiting, mut served) =
            check_queue(configuration, &events, &servers[configuration], wanted);
        assert!(queued.len() >= wanted.len() - servers[configuration].len());
        assert_eq!(
            served_after_waiting, queued,
            "{configuration}: first come, first served"
        );
        served.sort();
        let mut everyone = wanted.clone();
        everyone.sort();
        assert_eq!(
            served, everyone,
            "{configuration}: each migration served once"
        );

        // The transit servers followed the queue: each Served is one reservation of
        // that server for that migration, never overlapping.
        for server in &servers[configuration] {
            let served_here: Vec<Uuid> = events
                .iter()
                .filter_map(|e| match &e.event {
                    Event::TransitQueue(TransitQueueEvent::TransitRequestServed(s))
                        if s.transit_server_id == *server =>
                    {
                        Some(s.migration_id)
                    }
                    _ => None,
                })
                .collect();
            let reserved = eventually("the servers to follow", Duration::from_secs(20), || async {
                let reservations: Vec<Uuid> = history(&pool, AggregateType::TransitServer, server)
                    .await
                    .iter()
                    .filter_map(|e| match &e.event {
                        Event::TransitServer(TransitServerEvent::TransitServerReserved(r)) => {
                            Some(r.migration_id)
                        }
                        _ => None,
                    })
                    .collect();
                (reservations.len() == served_here.len()).then_some(reservations)
            })
            .await;
            assert_eq!(
                reserved, served_here,
                "{server} reserved as the queue decided"
            );
            let mut holder = None;
            for e in history(&pool, AggregateType::TransitServer, server).await {
                match &e.event {
                    Event::TransitServer(TransitServerEvent::TransitServerReserved(r)) => {
                        assert!(holder.is_none(), "{server} reserved twice at once");
                        holder = Some(r.migration_id);
                    }
                    Event::TransitServer(TransitServerEvent::TransitServerReleased(r)) => {
                        assert_eq!(holder.take(), Some(r.migration_id));
                    }
                    _ => {}
                }
            }
        }
    }

    shutdown.cancel();
    running.await.expect("joined").expect("ran");
    data_mover.await.expect("joined");
}
