//! The cutover handshake's middle: once the destination is verified, the network
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
//! Consumes `AccountTrafficSwitched` (account_traffic), read from the log.

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

/// When the last of the transfer's accounts had its traffic switched for it. `None`
/// when `stop` came first (the process is stopping: the transfer resumes here).
pub(crate) async fn traffic_switched(
    mover: &Mover,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Result<Option<DateTime<Utc>>, EngineError> {
    let mut last = None;
    for account in &scheduled.accounts {
        let at = loop {
            if let Some(at) = switched_for(mover, scheduled, &account.account_id).await? {
                break at;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = stop.cancelled() => return Ok(None),
            }
        };
        last = last.max(Some(at));
    }
    Ok(last.or_else(|| Some(Utc::now())))
}

/// When the account's traffic was switched for this transfer, if it was.
async fn switched_for(
    mover: &Mover,
    scheduled: &TransferScheduled,
    account_id: &str,
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
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(s))
                if s.transfer_id == Some(scheduled.transfer_id) =>
            {
                Some(s.switched_at)
            }
            _ => None,
        }))
}
