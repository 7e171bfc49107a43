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
    Deliveries, Parking, Reactor, ReactorError, ReactorSettings, handle, keeping_message, settle,
    with_retries,
};
use crate::event_log::{EventLog, ReadError, Recorded};
use std::collections::HashMap;
use std::sync::Arc;
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
    let mut deliveries =
        Deliveries::open(reactor.as_ref(), &log, settings.batch, &settings, &shutdown).await?;
    let context = LaneContext {
        reactor,
        parking,
        settings,
        shutdown: shutdown.clone(),
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    // The last task of each lane: the next message of the lane waits for it.
    let mut lanes: HashMap<String, JoinHandle<bool>> = HashMap::new();
    tracing::info!(reactor = name, max_in_flight, "reacting in lanes");
    while let Some(message) = deliveries.next().await {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => None,
            slot = slots.clone().acquire_owned() => slot.ok(),
        };
        // A task gives its message back only when stopping: checked here, after any
        // such task, so that nothing of its lane is handled after it.
        let Some(slot) = slot.filter(|_| !shutdown.is_cancelled()) else {
            settle(name, &message, false).await;
            deliveries.give_back().await;
            break;
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
        // Waiting its turn, the message stays in hand (never redelivered meanwhile).
        Some(before) => keeping_message(before, &message, settings.ack_wait)
            .await
            .unwrap_or(false),
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
    settle(reactor.name(), &message, handled).await;
    handled
}
