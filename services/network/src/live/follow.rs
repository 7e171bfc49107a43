//! Follows the log from its start, folds each event into the [`LiveState`] and
//! applies the changes to what is served (the DNS server's zones, the redirect's
//! table).
//! A broken subscription is opened again after the last event applied, so nothing
//! is skipped nor applied twice.

use super::state::{LiveChange, LiveState};
use crate::dns::{Zone, ZoneStore};
use crate::redirect::RedirectTable;
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
}

impl Served {
    /// Applies one change.
    pub async fn apply(&self, change: &LiveChange) {
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
            LiveChange::Hold { account_id } => {
                let report = self.redirect.hold(account_id, self.in_flight_bound).await;
                if report.aborted > 0 {
                    tracing::warn!(%account_id, aborted = report.aborted,
                        "requests still running at the source were cut at the freeze");
                }
            }
            LiveChange::Release { account_id } => self.redirect.release(account_id),
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
                Ok(events) => apply_all(events, &mut state, &served, &mut next, &shutdown).await,
                Err(e) => Err(e.to_string()),
            }
        };
        let reason = match caught {
            Ok(()) => {
                caught_up.cancel();
                match log.follow_filtered(next, log.filters_for(FOLLOWED)).await {
                    Ok(events) => {
                        retry = Duration::from_millis(100);
                        match apply_all(events, &mut state, &served, &mut next, &shutdown).await {
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
    next: &mut u64,
    shutdown: &CancellationToken,
) -> Result<(), String> {
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
                    served.apply(&change).await;
                }
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => return Ok(()),
        }
    }
}
