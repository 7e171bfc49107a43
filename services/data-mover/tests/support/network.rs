//! The network service's part of the cutover handshake, as these tests see it: once
//! the data mover records a cutover, rollback or relocation verified, the network
//! switches each account's traffic and records `AccountTrafficSwitched` naming the
//! transfer (the real service, with its DNS and redirect, is tested end to end in
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

/// Switches the traffic of every verified cutover, rollback or relocation of `log`
/// until `stop`. With `delay`, each switch waits that long first (a slow network).
pub async fn switch_verified_transfers(log: EventLog, stop: CancellationToken, delay: Duration) {
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
            Event::Transfer(TransferEvent::TransferVerified(_)) => {
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
