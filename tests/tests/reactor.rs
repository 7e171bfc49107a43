//! Reactors against real JetStream and PostgreSQL: a reaction that takes longer than
//! the consumer's ack wait (a data copy may take hours), or is retried after waits
//! longer than it, is not handed out again meanwhile; a reaction that fails is parked, never passed over: the later events
//! of its migration wait behind it, the others go on, and a retry handles them in
//! log order once the cause is fixed.

use ferry_events::{AccountMarkedReady, Actor, AggregateType, Envelope};
use ferry_infra::event_log::{AggregateRef, EventLog, Recorded};
use ferry_infra::policy::parked::ParkedReactions;
use ferry_infra::reactor::{ReactionError, Reactor, ReactorSettings, run};
use ferry_infra::testkit::{TestStack, eventually, eventually_some};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// Takes longer than the ack wait over each reaction; notes the sequence of every
/// event it reacts to.
struct Slow {
    reactions: Mutex<Vec<u64>>,
}

impl Reactor for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Migration)]
    }

    async fn react(&self, event: &Recorded) -> Result<(), ReactionError> {
        self.reactions.lock().expect("lock").push(event.sequence);
        // The scenario: a reaction that lasts well past the 1 s ack wait.
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
    let first = stack.log.last_sequence().await.expect("sequence");
    let reactor = Arc::new(Slow {
        reactions: Mutex::default(),
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
    let reactions = || reactor.reactions.lock().expect("lock").clone();
    assert!(
        acknowledged(&stack, "slow", || !reactions().is_empty()).await,
        "handled and acknowledged at the end: {:?}",
        reactions()
    );
    assert_eq!(reactions(), [first], "handled once");
    assert_eq!(
        deliveries(&stack, "slow").await,
        1,
        "kept while working: handed out once"
    );
    shutdown.cancel();
    running.await.expect("joined").expect("stops");
}

/// Fails twice (a dependency down), then succeeds; notes the sequence of the event of
/// each attempt.
struct Flaky {
    reactions: Mutex<Vec<u64>>,
}

impl Reactor for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Migration)]
    }

    async fn react(&self, event: &Recorded) -> Result<(), ReactionError> {
        let mut reactions = self.reactions.lock().expect("lock");
        reactions.push(event.sequence);
        if reactions.len() <= 2 {
            return Err(ReactionError::Transient("the database is down".into()));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_retried_after_a_backoff_longer_than_the_ack_wait_is_not_redelivered() {
    let stack = TestStack::new().await;
    let migration = ferry_tests::new_migration();
    let first = mark_ready(&stack, &migration, 0, "acc-1").await;
    let reactor = Arc::new(Flaky {
        reactions: Mutex::default(),
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
    let reactions = || reactor.reactions.lock().expect("lock").clone();
    assert!(
        acknowledged(&stack, "flaky", || reactions().len() >= 3).await,
        "handled and acknowledged once handled: {:?}",
        reactions()
    );
    assert_eq!(
        deliveries(&stack, "flaky").await,
        1,
        "kept while retrying: handed out once"
    );
    assert_eq!(
        reactions(),
        [first, first, first],
        "two failures and the success"
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

/// Appends `account` marked ready to `aggregate` (at `version`): its sequence.
async fn mark_ready(
    stack: &TestStack,
    aggregate: &AggregateRef,
    version: u64,
    account: &str,
) -> u64 {
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
    stack.log.last_sequence().await.expect("sequence")
}

/// How many messages the server has handed out to the reactor `name`, redeliveries
/// included. Once the reactor has acknowledged everything, no redelivery can come any
/// more: then this says, without waiting, whether one ever came.
async fn deliveries(stack: &TestStack, name: &str) -> u64 {
    stack
        .log
        .jetstream()
        .get_stream(&stack.log.settings().stream)
        .await
        .expect("the stream")
        .consumer_info(name)
        .await
        .expect("the consumer")
        .delivered
        .consumer_sequence
}

/// Waits until `done` holds and the reactor `name` has acknowledged everything.
async fn acknowledged(stack: &TestStack, name: &str, done: impl Fn() -> bool) -> bool {
    eventually(20, || async {
        done() && stack.log.consumer_lag(name).await.is_ok_and(|lag| lag == 0)
    })
    .await
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

    let list = eventually_some(20, || async {
        let list = parked.list(Some("fussy")).await.expect("list");
        let other_done = reactor.handled.lock().expect("lock").len() == 1;
        (list.len() == 2 && other_done).then_some(list)
    })
    .await
    .unwrap_or_else(|| panic!("never parked: {:?}", reactor.handled.lock()));
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
    let list = eventually_some(20, || async {
        let list = parked.list(Some("fussy")).await.expect("list");
        (list[0].attempts >= 2).then_some(list)
    })
    .await
    .expect("retried");
    assert_eq!(list.len(), 2, "{list:?}");

    // Fixed: support asks for a retry, and both are handled, in log order.
    reactor.fixed.store(true, Ordering::SeqCst);
    parked.request_retry(None).await.expect("asked");
    assert!(
        eventually(20, || async {
            parked.list(Some("fussy")).await.expect("list").is_empty()
        })
        .await,
        "never retried"
    );
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
    assert!(
        eventually(10, || async { handled().len() >= 3 }).await,
        "quick's events: {:?}",
        handled()
    );
    // The scenario: slow-1 stays held well past the 1 s ack wait, slow's later events
    // waiting their turn meanwhile.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // Still held: a later event of quick is handled, slow has not moved.
    mark_ready(&stack, &quick, versions.1, "quick-4").await;
    assert!(
        eventually(10, || async { handled().len() >= 4 }).await,
        "quick's later event: {:?}",
        handled()
    );
    assert_eq!(handled(), ["quick-1", "quick-2", "quick-3", "quick-4"]);

    reactor.gate.add_permits(1);
    assert!(
        acknowledged(&stack, "gated", || handled().len() >= 7).await,
        "slow's events: {:?}",
        handled()
    );
    assert_eq!(
        handled(),
        [
            "quick-1", "quick-2", "quick-3", "quick-4", "slow-1", "slow-2", "slow-3"
        ],
        "each migration in log order, each event once"
    );
    assert_eq!(
        deliveries(&stack, "gated").await,
        7,
        "none redelivered while waiting"
    );
    shutdown.cancel();
    running.await.expect("joined").expect("stops");
}
