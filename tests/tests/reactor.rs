//! Reactors against real JetStream and PostgreSQL: a reaction that takes longer than
//! the consumer's ack wait (a data copy may take hours), or is retried after waits
//! longer than it, is not handed out again meanwhile; a reaction that fails is parked, never passed over: the later events
//! of its migration wait behind it, the others go on, and a retry handles them in
//! log order once the cause is fixed.

use ferry_events::{AccountMarkedReady, Actor, AggregateType, Envelope};
use ferry_infra::event_log::{AggregateRef, EventLog, Recorded};
use ferry_infra::policy::parked::ParkedReactions;
use ferry_infra::reactor::{ReactionError, Reactor, ReactorSettings, run};
use ferry_infra::testkit::TestStack;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use uuid::Uuid;

struct Slow {
    reactions: AtomicU32,
}

impl Reactor for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Migration)]
    }

    async fn react(&self, _event: &Recorded) -> Result<(), ReactionError> {
        self.reactions.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_longer_than_the_ack_wait_is_not_redelivered_meanwhile() {
    let stack = TestStack::new().await;
    let aggregate =
        AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()).expect("id");
    let event = Envelope::new(
        aggregate.id.clone(),
        AccountMarkedReady {
            account_id: "acc-1".into(),
        },
        Uuid::now_v7(),
        Uuid::now_v7(),
        Actor::customer("c-1"),
    );
    stack
        .log
        .append(&aggregate, 0, &[event], "k")
        .await
        .expect("appended");
    let reactor = Arc::new(Slow {
        reactions: AtomicU32::new(0),
    });
    let settings = ReactorSettings {
        ack_wait: Duration::from_secs(1),
        ..ReactorSettings::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let parked = ParkedReactions::open(stack.pool.clone())
        .await
        .expect("parked");
    let running = tokio::spawn(run(
        reactor.clone(),
        stack.log.clone(),
        parked,
        settings,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    assert_eq!(
        reactor.reactions.load(Ordering::SeqCst),
        1,
        "handled once, kept while working"
    );
    assert_eq!(
        stack.log.consumer_lag("slow").await.expect("lag"),
        0,
        "acknowledged at the end"
    );
    shutdown.cancel();
    running.await.expect("joined").expect("stops");
}

/// Fails twice (a dependency down), then succeeds; counts its reactions.
struct Flaky {
    reactions: AtomicU32,
}

impl Reactor for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Migration)]
    }

    async fn react(&self, _event: &Recorded) -> Result<(), ReactionError> {
        if self.reactions.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(ReactionError::Transient("the database is down".into()));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_retried_after_a_backoff_longer_than_the_ack_wait_is_not_redelivered() {
    let stack = TestStack::new().await;
    let migration = ferry_tests::new_migration();
    mark_ready(&stack, &migration, 0, "acc-1").await;
    let reactor = Arc::new(Flaky {
        reactions: AtomicU32::new(0),
    });
    let settings = ReactorSettings {
        ack_wait: Duration::from_secs(1),
        // Each wait before a retry outlasts the ack wait: the message stays in hand.
        backoff: ferry_infra::backoff::Backoff::new(
            Duration::from_millis(1_500),
            Duration::from_millis(1_500),
        ),
        ..ReactorSettings::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let parked = ParkedReactions::open(stack.pool.clone())
        .await
        .expect("parked");
    // Concurrently: a message handed out again would be handled beside the first.
    let running = tokio::spawn(ferry_infra::reactor::run_concurrently(
        reactor.clone(),
        stack.log.clone(),
        parked,
        settings,
        4,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(5_000)).await;
    assert_eq!(
        reactor.reactions.load(Ordering::SeqCst),
        3,
        "two failures and the success, one delivery"
    );
    assert_eq!(
        stack.log.consumer_lag("flaky").await.expect("lag"),
        0,
        "acknowledged once handled"
    );
    shutdown.cancel();
    running.await.expect("joined").expect("stops");
}

/// Fails on the events of one account until fixed; records what it handled.
struct Fussy {
    broken_account: &'static str,
    fixed: AtomicBool,
    handled: Mutex<Vec<(String, String)>>,
}

impl Reactor for Fussy {
    fn name(&self) -> &'static str {
        "fussy"
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Migration)]
    }

    async fn react(&self, event: &Recorded) -> Result<(), ReactionError> {
        let ferry_events::Event::Migration(ferry_events::MigrationEvent::AccountMarkedReady(e)) =
            &event.envelope.event
        else {
            return Ok(());
        };
        if e.account_id == self.broken_account && !self.fixed.load(Ordering::SeqCst) {
            return Err(ReactionError::Failed(format!(
                "no such account {}",
                e.account_id
            )));
        }
        self.handled
            .lock()
            .expect("lock")
            .push((event.envelope.aggregate_id.clone(), e.account_id.clone()));
        Ok(())
    }
}

async fn mark_ready(stack: &TestStack, aggregate: &AggregateRef, version: u64, account: &str) {
    // Correlated with its migration, as every event of a migration is.
    let migration: Uuid = aggregate.id.parse().expect("a migration id");
    let event = Envelope::new(
        aggregate.id.clone(),
        AccountMarkedReady {
            account_id: account.into(),
        },
        migration,
        Uuid::now_v7(),
        Actor::customer("c-1"),
    );
    stack
        .log
        .append(&aggregate.clone(), version, &[event], account)
        .await
        .expect("appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reaction_is_parked_holds_its_migration_and_is_retried_in_order() {
    let stack = TestStack::new().await;
    let one = AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()).expect("id");
    let other =
        AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string()).expect("id");
    let reactor = Arc::new(Fussy {
        broken_account: "acc-broken",
        fixed: AtomicBool::new(false),
        handled: Mutex::default(),
    });
    let parked = ParkedReactions::open(stack.pool.clone())
        .await
        .expect("parked");
    let settings = ReactorSettings {
        parked_retry: Duration::from_secs(3600),
        ..ReactorSettings::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(run(
        reactor.clone(),
        stack.log.clone(),
        parked.clone(),
        settings,
        shutdown.clone(),
    ));
    // Aggregate one: a failing event, then a good one (which must wait behind it);
    // aggregate other: a good one, handled meanwhile.
    mark_ready(&stack, &one, 0, "acc-broken").await;
    let first_sequence = stack.log.last_sequence().await.expect("sequence");
    mark_ready(&stack, &one, first_sequence, "acc-after").await;
    mark_ready(&stack, &other, 0, "acc-other").await;

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let list = loop {
        let list = parked.list(Some("fussy")).await.expect("list");
        let other_done = reactor.handled.lock().expect("lock").len() == 1;
        if list.len() == 2 && other_done {
            break list;
        }
        assert!(std::time::Instant::now() < deadline, "parked: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        *reactor.handled.lock().expect("lock"),
        [(other.id.clone(), "acc-other".to_owned())],
        "the other aggregate goes on"
    );
    assert_eq!(list[0].sequence, first_sequence);
    assert_eq!(list[0].event_type, "AccountMarkedReady");
    assert!(!list[0].held);
    assert!(
        list[0].error.contains("no such account acc-broken"),
        "{list:?}"
    );
    assert!(list[1].held, "the later event of the same migration waits");
    assert_eq!(list[1].process, one.id, "its process is its migration");
    assert!(
        ferry_infra::metrics::global()
            .render()
            .contains("ferry_reactions_parked{reactor=\"fussy\"} 2"),
        "counted in /metrics"
    );

    // Retrying before the fix changes nothing: still parked, tried again (also on
    // its own, after a backoff).
    assert_eq!(parked.request_retry(Some("fussy")).await.expect("asked"), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = parked.list(Some("fussy")).await.expect("list");
        if list[0].attempts >= 2 {
            assert_eq!(list.len(), 2);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "retried: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Fixed: support asks for a retry, and both are handled, in log order.
    reactor.fixed.store(true, Ordering::SeqCst);
    parked.request_retry(None).await.expect("asked");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !parked.list(Some("fussy")).await.expect("list").is_empty() {
        assert!(std::time::Instant::now() < deadline, "never retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *reactor.handled.lock().expect("lock"),
        [
            (other.id.clone(), "acc-other".to_owned()),
            (one.id.clone(), "acc-broken".to_owned()),
            (one.id.clone(), "acc-after".to_owned()),
        ]
    );
    shutdown.cancel();
    running.await.expect("joined").expect("stops");
}

/// Holds its reactions to one migration's first account until let go; notes every
/// reaction in the order they happen.
struct Gated {
    held: String,
    gate: tokio::sync::Semaphore,
    handled: Mutex<Vec<String>>,
}

impl Reactor for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Migration)]
    }

    async fn react(&self, event: &Recorded) -> Result<(), ReactionError> {
        let ferry_events::Event::Migration(ferry_events::MigrationEvent::AccountMarkedReady(e)) =
            &event.envelope.event
        else {
            return Ok(());
        };
        if e.account_id == self.held {
            let _ = self.gate.acquire().await.expect("gate");
        }
        self.handled
            .lock()
            .expect("lock")
            .push(e.account_id.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lanes_one_migration_waits_in_order_while_the_others_go_on() {
    let stack = TestStack::new().await;
    let (slow, quick) = (ferry_tests::new_migration(), ferry_tests::new_migration());
    // slow-1 is held; its migration's next event must wait for it, quick's must not.
    let mut versions = (0, 0);
    for i in 1..=3 {
        mark_ready(&stack, &slow, versions.0, &format!("slow-{i}")).await;
        versions.0 = stack.log.load(&slow).await.expect("load").version;
        mark_ready(&stack, &quick, versions.1, &format!("quick-{i}")).await;
        versions.1 = stack.log.load(&quick).await.expect("load").version;
    }
    let reactor = Arc::new(Gated {
        held: "slow-1".into(),
        gate: tokio::sync::Semaphore::new(0),
        handled: Mutex::new(Vec::new()),
    });
    let settings = ReactorSettings {
        // Shorter than the hold: waiting its turn must not get a message redelivered.
        ack_wait: Duration::from_secs(1),
        ..ReactorSettings::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let parked = ParkedReactions::open(stack.pool.clone())
        .await
        .expect("parked");
    let running = tokio::spawn(ferry_infra::reactor::run_in_lanes(
        reactor.clone(),
        stack.log.clone(),
        parked,
        settings,
        8,
        shutdown.clone(),
    ));
    let handled = || reactor.handled.lock().expect("lock").clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handled().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "quick's events: {:?}",
            handled()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the ack wait, still held: quick is done, slow has not moved.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(handled(), ["quick-1", "quick-2", "quick-3"]);

    reactor.gate.add_permits(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handled().len() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "slow's events: {:?}",
            handled()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        handled(),
        [
            "quick-1", "quick-2", "quick-3", "slow-1", "slow-2", "slow-3"
        ],
        "each migration in log order, each event once (none redelivered while waiting)"
    );
    shutdown.cancel();
    running.await.expect("joined").expect("stops");
}
