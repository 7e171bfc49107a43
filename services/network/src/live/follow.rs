//! Follows the log from its start, folds each event into the [`LiveState`] and
//! applies the changes to what is served (the DNS server's zones, the redirect's
//! table).
//! A broken subscription is opened again after the last event applied, so nothing
//! is skipped nor applied twice.
//!
//! A hold, once in effect (the requests forwarded before it finished), is recorded
//! (`AccountTrafficHeld`, through the network's command side): the data mover
//! freezes the source only then. Holds replayed from history are not recorded
//! again, except those still in effect once the replay is done (a restart between
//! the hold and its record): the decider records each transfer's hold once.

use super::state::{LiveChange, LiveState};
use crate::dns::{Zone, ZoneStore};
use crate::domain::traffic::{HoldTraffic, TrafficCommand};
use crate::redirect::{HoldReport, RedirectTable};
use crate::service::{CommandMeta, Network};
use ferry_events::AggregateType;
use ferry_infra::event_log::{EventLog, ReadError, Recorded};
use futures::{Stream, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the live changes go to: the DNS server's zones and the redirect's table.
#[derive(Debug, Clone)]
pub struct Served {
    /// The DNS server's zones.
    pub zones: ZoneStore,
    /// The redirect's table.
    pub redirect: RedirectTable,
    /// The port each server's web front listens on (the redirect's upstreams).
    pub upstream_port: u16,
    /// How long a hold waits for the requests already forwarded to finish.
    pub in_flight_bound: Duration,
    /// Where holds in effect are recorded (`None`: nowhere, a redirect that does
    /// not answer the data mover).
    pub network: Option<Network>,
}

impl Served {
    /// Applies one change; `live`: it comes from the log's end, not its replay.
    pub async fn apply(&self, change: &LiveChange, live: bool) {
        match change {
            LiveChange::Zone {
                domain,
                serial,
                records,
            } => {
                let zone = Zone {
                    domain: domain.clone(),
                    serial: *serial,
                    records: records.clone(),
                };
                if let Err(e) = self.zones.upsert(zone) {
                    tracing::warn!(%domain, error = %e, "a zone cannot be served");
                }
            }
            LiveChange::ZoneRemoved { domain } => {
                self.zones.remove(domain);
            }
            LiveChange::Host { host, account_id } => self.redirect.route_host(host, account_id),
            LiveChange::HostRemoved { host } => self.redirect.remove_host(host),
            LiveChange::Locate {
                account_id,
                address,
            } => {
                let upstream = SocketAddr::new(*address, self.upstream_port);
                self.redirect.locate(account_id, upstream);
            }
            LiveChange::Hold { account_id, .. } => {
                let report = self.redirect.hold(account_id, self.in_flight_bound).await;
                if report.aborted > 0 {
                    tracing::warn!(%account_id, aborted = report.aborted,
                        "requests still running at the source were cut at the freeze");
                }
                if live {
                    self.record_hold(change, &report).await;
                }
            }
            LiveChange::Release { account_id } => self.redirect.release(account_id),
        }
    }
}

impl Served {
    /// Records a hold in effect. A failure is logged: the data mover, which waits
    /// for it, gives up after its bound and reports that the network did not hold.
    async fn record_hold(&self, change: &LiveChange, report: &HoldReport) {
        let (
            Some(network),
            LiveChange::Hold {
                account_id,
                transfer_id: Some(transfer_id),
                correlation_id,
            },
        ) = (&self.network, change)
        else {
            return;
        };
        let hold = TrafficCommand::Hold(HoldTraffic {
            transfer_id: *transfer_id,
            at: chrono::Utc::now(),
            in_flight: report.in_flight_at_hold as u64,
            cut: report.aborted as u64,
        });
        // One command id per transfer and account: a second record is a no-op.
        let id = uuid::Uuid::new_v5(transfer_id, format!("hold/{account_id}").as_bytes());
        let meta = CommandMeta::system(id, *correlation_id);
        if let Err(e) = network.traffic(&meta, account_id, hold).await {
            tracing::error!(%account_id, %transfer_id, error = %e, "the hold cannot be recorded");
        }
    }
}

/// The aggregates the live state folds.
const FOLLOWED: &[AggregateType] = &[
    AggregateType::Server,
    AggregateType::TransitServer,
    AggregateType::Transfer,
    AggregateType::DnsZone,
    AggregateType::AccountTraffic,
];

/// Follows `log` until `shutdown`, applying every change to what is `served`.
/// `caught_up` is cancelled once the events present at the start are applied.
pub async fn follow(
    log: EventLog,
    served: Served,
    caught_up: CancellationToken,
    shutdown: CancellationToken,
) {
    let mut state = LiveState::default();
    let mut next = 1;
    let mut retry = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        // What the log holds now, to its end (a finite replay), then what comes.
        let caught = if caught_up.is_cancelled() {
            Ok(())
        } else {
            let replay = log.replay_filtered(next, log.filters_for(FOLLOWED)).await;
            match replay {
                Ok(events) => {
                    let at = (&mut next, &caught_up);
                    apply_all(events, &mut state, &served, at, &shutdown).await
                }
                Err(e) => Err(e.to_string()),
            }
        };
        let reason = match caught {
            Ok(()) => {
                if !caught_up.is_cancelled() {
                    // Holds in effect at the end of the replay, perhaps never recorded.
                    for hold in state.holds() {
                        served.apply(hold, true).await;
                    }
                }
                caught_up.cancel();
                match log.follow_filtered(next, log.filters_for(FOLLOWED)).await {
                    Ok(events) => {
                        retry = Duration::from_millis(100);
                        let at = (&mut next, &caught_up);
                        match apply_all(events, &mut state, &served, at, &shutdown).await {
                            Ok(()) => "the subscription ended".to_owned(),
                            Err(reason) => reason,
                        }
                    }
                    Err(e) => e.to_string(),
                }
            }
            Err(reason) => reason,
        };
        if shutdown.is_cancelled() {
            return;
        }
        tracing::warn!(%reason, "the network cannot follow the log; reopening it");
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = shutdown.cancelled() => return,
        }
        retry = (retry * 2).min(Duration::from_secs(5));
    }
}

/// Applies `events` until they end (`Ok`), one is unreadable or the subscription
/// breaks (`Err`, to reopen after the last applied), or `shutdown`.
async fn apply_all(
    events: impl Stream<Item = Result<Recorded, ReadError>>,
    state: &mut LiveState,
    served: &Served,
    (next, caught_up): (&mut u64, &CancellationToken),
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let live = caught_up.is_cancelled();
    let mut events = std::pin::pin!(events);
    loop {
        let recorded = tokio::select! {
            recorded = events.next() => recorded,
            () = shutdown.cancelled() => return Ok(()),
        };
        match recorded {
            Some(Ok(recorded)) => {
                // A multi-event command's events share their sequence: the next read
                // starts after all of them.
                *next = recorded.sequence + 1;
                for change in state.apply(&recorded.envelope) {
                    served.apply(&change, live).await;
                }
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => return Ok(()),
        }
    }
}
