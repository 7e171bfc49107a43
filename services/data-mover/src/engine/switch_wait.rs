//! The cutover handshake with the network service, both of its waits.
//!
//! Before the freeze: the accounts recorded frozen, the client server's redirect
//! holds their new requests, lets those already forwarded finish and records
//! `AccountTrafficHeld` naming the transfer. The data mover freezes the sources only
//! then, so that no request is failed by the freeze. This wait is bounded
//! (`hold_wait`): nothing is frozen yet, and a network service that does not answer
//! fails the cutover with that reason (retried later) rather than block it.
//!
//! After the verification: once the destination is verified, the network
//! service switches each account's traffic there (DNS records, the client server's
//! redirect) and records `AccountTrafficSwitched` naming the transfer. The data
//! mover waits for it, the accounts still frozen, before retiring the sources: no
//! request reaches the old copy once it may have been left behind, and the downtime
//! runs from the freeze to the switch, as a client sees it.
//!
//! The verification is the point of no return: the network switches every verified
//! transfer, so the wait has no deadline (a network service that is down delays the
//! switch; it never undoes the copy). The wait shows as the phase `switching`.
//!
//! Consumes `AccountTrafficHeld` and `AccountTrafficSwitched` (account_traffic),
//! read from the log.

use super::{EngineError, Mover};
use chrono::{DateTime, Utc};
use ferry_events::{AccountTrafficEvent, AggregateType, Event, TransferKind, TransferScheduled};
use ferry_infra::event_log::AggregateRef;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the log is read while waiting: a few milliseconds of downtime at most.
const POLL: Duration = Duration::from_millis(10);

/// Whether a transfer of `kind` ends with its accounts' traffic switched by the
/// network service.
pub(crate) fn awaits_switch(kind: TransferKind) -> bool {
    matches!(
        kind,
        TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation
    )
}

/// How a wait for the network ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Every account's event came; the last one's instant.
    Done(DateTime<Utc>),
    /// The bound passed first.
    TimedOut,
    /// `stop` came first (the process is stopping: the transfer resumes here).
    Stopped,
}

/// Waits until the redirect holds every account of the transfer (see the module),
/// at most `bound`.
pub(crate) async fn traffic_held(
    mover: &Mover,
    scheduled: &TransferScheduled,
    bound: Duration,
    stop: &CancellationToken,
) -> Result<Waited, EngineError> {
    let held = |event: &AccountTrafficEvent| match event {
        AccountTrafficEvent::AccountTrafficHeld(h) if h.transfer_id == scheduled.transfer_id => {
            Some(h.held_at)
        }
        _ => None,
    };
    let deadline = tokio::time::sleep(bound);
    tokio::pin!(deadline);
    tokio::select! {
        waited = wait_for_each(mover, scheduled, held, stop) => waited,
        () = &mut deadline => Ok(Waited::TimedOut),
    }
}

/// When the last of the transfer's accounts had its traffic switched for it. `None`
/// when `stop` came first (the process is stopping: the transfer resumes here).
pub(crate) async fn traffic_switched(
    mover: &Mover,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Result<Option<DateTime<Utc>>, EngineError> {
    let switched = |event: &AccountTrafficEvent| match event {
        AccountTrafficEvent::AccountTrafficSwitched(s)
            if s.transfer_id == Some(scheduled.transfer_id) =>
        {
            Some(s.switched_at)
        }
        _ => None,
    };
    match wait_for_each(mover, scheduled, switched, stop).await? {
        Waited::Done(at) => Ok(Some(at)),
        Waited::TimedOut | Waited::Stopped => Ok(None),
    }
}

/// Waits until every account's traffic records an event `found` picks.
async fn wait_for_each(
    mover: &Mover,
    scheduled: &TransferScheduled,
    found: impl Fn(&AccountTrafficEvent) -> Option<DateTime<Utc>>,
    stop: &CancellationToken,
) -> Result<Waited, EngineError> {
    let mut last = None;
    for account in &scheduled.accounts {
        let at = loop {
            if let Some(at) = recorded(mover, scheduled, &account.account_id, &found).await? {
                break at;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = stop.cancelled() => return Ok(Waited::Stopped),
            }
        };
        last = last.max(Some(at));
    }
    Ok(Waited::Done(last.unwrap_or_else(Utc::now)))
}

/// The instant of the last event of the account's traffic that `found` picks.
async fn recorded(
    mover: &Mover,
    scheduled: &TransferScheduled,
    account_id: &str,
    found: &impl Fn(&AccountTrafficEvent) -> Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, EngineError> {
    let failed = |reason: String| EngineError {
        transfer_id: scheduled.transfer_id,
        reason,
    };
    let traffic = AggregateRef::new(AggregateType::AccountTraffic, account_id)
        .map_err(|e| failed(format!("account {account_id}: {e}")))?;
    let loaded = mover
        .log()
        .load(&traffic)
        .await
        .map_err(|e| failed(format!("cannot read the traffic of {account_id}: {e}")))?;
    Ok(loaded
        .events
        .iter()
        .rev()
        .find_map(|recorded| match &recorded.envelope.event {
            Event::AccountTraffic(event) => found(event),
            _ => None,
        }))
}
