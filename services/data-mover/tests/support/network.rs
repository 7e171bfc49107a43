//! The network service's part of the cutover handshake, as these tests see it: once
//! the data mover records an account frozen, the network holds its requests and
//! records `AccountTrafficHeld` naming the transfer; once it records a cutover,
//! rollback or relocation verified, the network switches each account's traffic
//! and records `AccountTrafficSwitched` naming the transfer (the real service, with its DNS and redirect, is tested end to end in
//! `services/ferry/tests`). The data mover's tests need only that recorded fact, on
//! the real log, to go on to retire the sources.

use ferry_events::*;
use ferry_infra::event_log::EventLog;
use ferry_infra::testkit::append_inputs;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Holds the requests of every account frozen and switches the traffic of every
/// verified cutover, rollback or relocation of `log` until `stop`. With `delay`,
/// each switch waits that long first (a slow network).
pub async fn switch_verified_transfers(log: EventLog, stop: CancellationToken, delay: Duration) {
    stand_in(log, stop, Some(delay)).await;
}

/// Holds the requests of every account frozen, and switches nothing: verified
/// transfers wait.
pub async fn hold_frozen_accounts(log: EventLog, stop: CancellationToken) {
    stand_in(log, stop, None).await;
}

/// The stand-in: `switch_after` `None` never switches.
async fn stand_in(log: EventLog, stop: CancellationToken, switch_after: Option<Duration>) {
    let mut scheduled: HashMap<Uuid, TransferScheduled> = HashMap::new();
    // One subscription for the whole test: a consumer per poll would exhaust the
    // stream's consumers.
    let filter = vec![log.type_filter(AggregateType::Transfer)];
    let events = log
        .follow_filtered(1, filter)
        .await
        .expect("follows the log");
    let mut events = std::pin::pin!(events);
    loop {
        let recorded = tokio::select! {
            recorded = events.next() => recorded,
            () = stop.cancelled() => return,
        };
        let Some(Ok(recorded)) = recorded else {
            return;
        };
        let envelope = recorded.envelope;
        let Ok(transfer_id) = envelope.aggregate_id.parse::<Uuid>() else {
            continue;
        };
        match envelope.event {
            Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                scheduled.insert(transfer_id, s);
            }
            Event::Transfer(TransferEvent::AccountFrozen(frozen)) => {
                hold(
                    &log,
                    transfer_id,
                    &frozen.account_id,
                    envelope.correlation_id,
                )
                .await;
            }
            Event::Transfer(TransferEvent::TransferVerified(_)) => {
                let Some(delay) = switch_after else { continue };
                if let Some(s) = scheduled.get(&transfer_id)
                    && matches!(
                        s.kind,
                        TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation
                    )
                {
                    tokio::time::sleep(delay).await;
                    switch(&log, s, envelope.correlation_id).await;
                }
            }
            _ => {}
        }
    }
}

async fn hold(log: &EventLog, transfer_id: Uuid, account_id: &str, correlation: Uuid) {
    let held = AccountTrafficHeld {
        transfer_id,
        held_at: chrono::Utc::now(),
        in_flight: 0,
        cut: 0,
    };
    append_inputs(
        log,
        AggregateType::AccountTraffic,
        account_id,
        correlation,
        vec![held.into()],
        Actor::system("network"),
    )
    .await;
}

async fn switch(log: &EventLog, scheduled: &TransferScheduled, correlation: Uuid) {
    for account in &scheduled.accounts {
        let switched = AccountTrafficSwitched {
            to_server_id: scheduled.destination.server_id.clone(),
            method: TrafficSwitchMethod::ProviderDns,
            switched_at: chrono::Utc::now(),
            transfer_id: Some(scheduled.transfer_id),
        };
        append_inputs(
            log,
            AggregateType::AccountTraffic,
            &account.account_id,
            correlation,
            vec![switched.into()],
            Actor::system("network"),
        )
        .await;
    }
}
