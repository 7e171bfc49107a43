//! Reacting in lanes: the events of one lane (by default a process, a migration: their
//! correlation; see [`Reactor::lane`]) in log order, one at a time; lanes side by side.
//!
//! One reaction costs a few milliseconds (a view read, a load, an append synced to
//! disk), so a reactor taking every event in turn keeps up with a few hundred events
//! per second at best, and one slow migration delays all the others. Ordering only
//! matters within a process: the parked reactions already keep it per process
//! ([`crate::policy::parked`]), and a reaction's decision rests on its own
//! migration's facts, the deciders guarding what is shared (a queue, a transit
//! server) against stale commands.
//!
//! Each message is handed to a task that first waits for the task of the previous
//! message of its lane, so a lane is a chain of tasks; at most `max_in_flight`
//! messages are held at once. A message is acknowledged once its own reaction is
//! done, whatever the order across lanes. A message given back (the reactor stopping)
//! makes the later ones of its lane given back too, never handled before it.
//!
//! Emits and consumes no event type of its own.

use super::{
    Parking, Reactor, ReactorError, ReactorSettings, fetch, give_back, handle, with_retries,
};
use crate::event_log::{EventLog, ReadError, Recorded};
use async_nats::jetstream::AckKind;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs `reactor` until `shutdown`, reacting in lanes (see the module): up to
/// `max_in_flight` messages at once, each process's in log order. Parked events are
/// retried beside it, never while a new event is being handled.
pub async fn run_in_lanes<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parked: crate::policy::parked::ParkedReactions,
    settings: ReactorSettings,
    max_in_flight: usize,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let retries = (
        reactor.clone(),
        log.clone(),
        settings.clone(),
        shutdown.clone(),
    );
    with_retries(retries, parked, |parking| {
        consume_in_lanes(reactor, log, parking, settings, max_in_flight, shutdown)
    })
    .await
}

/// The lane of a message: its first event's (a command's events share their process),
/// or its subject when it cannot be read (it is then parked under its subject).
fn lane_of<R: Reactor>(
    reactor: &R,
    message: &async_nats::jetstream::Message,
    events: &Result<Vec<Recorded>, ReadError>,
) -> String {
    match events.as_deref() {
        Ok([first, ..]) => reactor.lane(first),
        _ => message.subject.to_string(),
    }
}

/// What a lane's task needs besides its message.
struct LaneContext<R> {
    reactor: Arc<R>,
    parking: Parking,
    settings: ReactorSettings,
    shutdown: CancellationToken,
}

impl<R> Clone for LaneContext<R> {
    fn clone(&self) -> Self {
        Self {
            reactor: self.reactor.clone(),
            parking: self.parking.clone(),
            settings: self.settings.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

async fn consume_in_lanes<R: Reactor>(
    reactor: Arc<R>,
    log: EventLog,
    parking: Parking,
    settings: ReactorSettings,
    max_in_flight: usize,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    let name = reactor.name();
    let consumer = log
        .durable_consumer(name, reactor.filters(&log), settings.ack_wait)
        .await
        .map_err(|e| ReactorError {
            name,
            reason: e.to_string(),
        })?;
    let context = LaneContext {
        reactor,
        parking,
        settings: settings.clone(),
        shutdown: shutdown.clone(),
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    // The last task of each lane: the next message of the lane waits for it.
    let mut lanes: HashMap<String, JoinHandle<bool>> = HashMap::new();
    tracing::info!(reactor = name, max_in_flight, "reacting in lanes");
    let mut failures = 0u32;
    'fetching: while !shutdown.is_cancelled() {
        let Some(mut messages) = fetch(
            name,
            &consumer,
            settings.batch,
            &settings,
            &mut failures,
            &shutdown,
        )
        .await
        else {
            continue;
        };
        while let Some(message) = tokio::select! {
            _ = shutdown.cancelled() => { give_back(&mut messages).await; None }
            next = messages.next() => next,
        } {
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(reactor = name, error = %e, "delivery interrupted");
                    break;
                }
            };
            let slot = tokio::select! {
                _ = shutdown.cancelled() => None,
                slot = slots.clone().acquire_owned() => slot.ok(),
            };
            // A task gives its message back only when stopping: checked here, after
            // any such task, so that nothing of its lane is handled after it.
            let Some(slot) = slot.filter(|_| !shutdown.is_cancelled()) else {
                message.ack_with(AckKind::Nak(None)).await.ok();
                give_back(&mut messages).await;
                break 'fetching;
            };
            let events = Recorded::from_message(&message);
            let lane = lane_of(context.reactor.as_ref(), &message, &events);
            let before = lanes.remove(&lane);
            let context = context.clone();
            let task = tokio::spawn(async move {
                let _slot = slot;
                react_in_turn(context, message, events, before).await
            });
            lanes.insert(lane, task);
            lanes.retain(|_, task| !task.is_finished());
        }
    }
    for (_, task) in lanes.drain() {
        task.await.ok();
    }
    tracing::info!(reactor = name, "stopped");
    Ok(())
}

/// Waits for the lane's previous message, then handles this one and acknowledges it
/// (or gives it back, when the previous one was given back or the reactor stops).
/// True when handled.
async fn react_in_turn<R: Reactor>(
    context: LaneContext<R>,
    message: async_nats::jetstream::Message,
    events: Result<Vec<Recorded>, ReadError>,
    before: Option<JoinHandle<bool>>,
) -> bool {
    let LaneContext {
        reactor,
        parking,
        settings,
        shutdown,
    } = context;
    let previous_handled = match before {
        None => true,
        Some(before) => wait_keeping_message(before, &message, settings.ack_wait).await,
    };
    let handled = previous_handled && {
        let _turn = parking.turn.read().await;
        handle(
            reactor.as_ref(),
            &message,
            events,
            &parking,
            &settings,
            &shutdown,
        )
        .await
    };
    if handled {
        if let Err(e) = message.ack().await {
            // Redelivered later; reactions are idempotent.
            tracing::warn!(reactor = reactor.name(), error = %e, "cannot acknowledge");
        }
    } else {
        message.ack_with(AckKind::Nak(None)).await.ok();
    }
    handled
}

/// Waits for the previous task of the lane, telling the server meanwhile that the
/// message is in hand (it must not be redelivered while it waits its turn).
async fn wait_keeping_message(
    mut before: JoinHandle<bool>,
    message: &async_nats::jetstream::Message,
    ack_wait: Duration,
) -> bool {
    let mut heartbeat = tokio::time::interval((ack_wait / 2).max(Duration::from_millis(100)));
    heartbeat.tick().await;
    loop {
        tokio::select! {
            handled = &mut before => return handled.unwrap_or(false),
            _ = heartbeat.tick() => {
                message.ack_with(AckKind::Progress).await.ok();
            }
        }
    }
}
