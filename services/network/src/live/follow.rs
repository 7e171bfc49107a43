//! Follows the log from its start, folds each event into the [`LiveState`] and
//! hands the changes to the sinks (the DNS server's zones, the redirect's table).
//! A broken subscription is opened again after the last event applied, so nothing
//! is skipped nor applied twice.

use super::state::{LiveChange, LiveState};
use ferry_events::AggregateType;
use ferry_infra::event_log::EventLog;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where live changes go.
pub trait LiveSink: Send + Sync + 'static {
    /// Applies one change; never blocks for long.
    fn apply(&self, change: &LiveChange);
}

/// The aggregates the live state folds.
const FOLLOWED: &[AggregateType] = &[
    AggregateType::Server,
    AggregateType::TransitServer,
    AggregateType::Transfer,
    AggregateType::DnsZone,
    AggregateType::AccountTraffic,
];

/// Follows `log` until `shutdown`, applying every change to each of `sinks`.
/// `caught_up` is cancelled once the events present at the start are applied.
pub async fn follow(
    log: EventLog,
    sinks: Vec<Arc<dyn LiveSink>>,
    caught_up: CancellationToken,
    shutdown: CancellationToken,
) {
    let mut state = LiveState::default();
    let mut next = 1;
    let mut retry = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let end = log.last_sequence().await.unwrap_or(0);
        if end < next {
            caught_up.cancel();
        }
        let events = match log.follow_filtered(next, log.filters_for(FOLLOWED)).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "the network cannot follow the log; retrying");
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = shutdown.cancelled() => return,
                }
                retry = (retry * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        retry = Duration::from_millis(100);
        let mut events = std::pin::pin!(events);
        loop {
            let recorded = tokio::select! {
                recorded = events.next() => recorded,
                () = shutdown.cancelled() => return,
            };
            match recorded {
                Some(Ok(recorded)) => {
                    // A multi-event command's events share their sequence: its next
                    // read starts after all of them.
                    next = recorded.sequence + 1;
                    for change in state.apply(&recorded.envelope) {
                        for sink in &sinks {
                            sink.apply(&change);
                        }
                    }
                    if recorded.sequence >= end {
                        caught_up.cancel();
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the network's subscription to the log broke; reopening it");
                    break;
                }
                None => break,
            }
        }
    }
}
