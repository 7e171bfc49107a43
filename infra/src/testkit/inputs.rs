//! Test inputs: events a test appends itself, as another service would have, and
//! polling until what they cause has happened.

use crate::event_log::{AggregateRef, EventLog};
use ferry_events::{Actor, AggregateType, Envelope, Event};
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// Appends `events` to an aggregate after its current version, as `actor` would have,
/// correlated with `correlation_id`; panics if the log refuses. Returns what it stored.
pub async fn append_inputs(
    log: &EventLog,
    kind: AggregateType,
    id: &str,
    correlation_id: Uuid,
    events: Vec<Event>,
    actor: Actor,
) -> Vec<Envelope> {
    let aggregate = AggregateRef::new(kind, id).expect("aggregate id");
    let version = log.load(&aggregate).await.expect("load").version;
    let causation = Uuid::now_v7();
    let envelopes: Vec<Envelope> = events
        .into_iter()
        .map(|e| Envelope::new(id, e, correlation_id, causation, actor.clone()))
        .collect();
    log.append(&aggregate, version, &envelopes, &causation.to_string())
        .await
        .expect("append test input");
    envelopes
}

/// How often [`eventually`] and [`eventually_some`] look again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` every 20 ms until it returns true, at most `seconds`: whether it
/// did. The one bounded wait of the tests: a test waits for what it expects to
/// happen, never a fixed time, and fails (rather than hangs) when it never does.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(seconds, || {
        let checked = check();
        async move { checked.await.then_some(()) }
    })
    .await
    .is_some()
}

/// Polls `check` every 20 ms until it gives `Some`, at most `seconds`: what it gave,
/// or `None` once the time is up. For a wait whose result the test reads on (the
/// event found, the row that appeared), or that may end early on a failure seen on
/// the way (give `Some(Err(..))`).
pub async fn eventually_some<T, F, Fut>(seconds: u64, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}
