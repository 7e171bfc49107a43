//! Reactors against real JetStream: a reaction that takes longer than the consumer's
//! ack wait (a data copy may take hours) is not handed out again meanwhile.

use ferry_events::{AccountMarkedReady, Actor, AggregateType, Envelope};
use ferry_infra::event_log::{AggregateRef, EventLog, Recorded};
use ferry_infra::reactor::{ReactionError, Reactor, ReactorSettings, run};
use ferry_infra::testkit::TestStack;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
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
    let running = tokio::spawn(run(
        reactor.clone(),
        stack.log.clone(),
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
