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

/// Polls `check` every 20 ms until it returns true, at most `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
