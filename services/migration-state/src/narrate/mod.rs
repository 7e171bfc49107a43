//! One-line human summaries of events, for audits: "account acc-1 moved to tr-0007
//! in 2.4 s". A [`Narrator`] reads a timeline in log order and remembers what the
//! later lines need (the transit server a migration holds, what a transfer copies).
//! Pure: no I/O, no clock.

mod network;
mod pool;
mod process;

use std::collections::BTreeMap;

use ferry_events::{Envelope, Event, TransferKind};
use uuid::Uuid;

/// What a timeline line says about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narration {
    /// One line for a human.
    pub summary: String,
    /// The downtime the event measured, in milliseconds, if it has one.
    pub downtime_ms: Option<u64>,
}

impl Narration {
    fn says(summary: String) -> Self {
        Self {
            summary,
            downtime_ms: None,
        }
    }

    fn with_downtime(summary: String, downtime_ms: Option<u64>) -> Self {
        Self {
            summary,
            downtime_ms,
        }
    }
}

/// What a transfer copies, as its `TransferScheduled` said.
#[derive(Debug, Clone)]
struct TransferNote {
    kind: TransferKind,
    accounts: Vec<String>,
}

/// Tells a timeline of one client server's events, in log order.
#[derive(Debug, Clone)]
pub struct Narrator {
    server_id: String,
    transit_of: BTreeMap<Uuid, String>,
    transfers: BTreeMap<String, TransferNote>,
}

impl Narrator {
    /// A narrator of the timeline of `server_id`.
    pub fn new(server_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            transit_of: BTreeMap::new(),
            transfers: BTreeMap::new(),
        }
    }

    /// The line of the next event of the timeline.
    pub fn tell(&mut self, envelope: &Envelope) -> Narration {
        let id = envelope.aggregate_id.as_str();
        match &envelope.event {
            Event::Server(e) => process::server(e),
            Event::TargetInfrastructure(e) => process::target(id, e),
            Event::Migration(e) => self.migration(id, e),
            Event::OptionalMigration(e) => process::optional(e),
            Event::TransitServer(e) => self.transit(id, e),
            Event::TransitQueue(e) => pool::queue(id, e),
            Event::Transfer(e) => self.transfer(id, e),
            Event::DnsZone(e) => network::dns(e),
            Event::AccountTraffic(e) => network::traffic(id, e),
            Event::IpRoute(e) => network::ip_route(id, e),
            Event::Loan(e) => network::loan(e),
            Event::Notification(e) => network::notification(e),
            Event::ApiToken(e) => network::api_token(id, e),
            Event::UserGrants(e) => network::user_grants(e),
        }
    }

    /// The transit server the migration `aggregate_id` holds, as far as told.
    fn transit_name(&self, aggregate_id: &str) -> String {
        Uuid::parse_str(aggregate_id)
            .ok()
            .and_then(|m| self.transit_of.get(&m).cloned())
            .unwrap_or_else(|| "the transit server".to_owned())
    }
}

/// A duration for humans: `850 ms`, `2.4 s`, `3 min 12 s`, `2 h 05 min`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{}.{} s", ms / 1_000, (ms % 1_000) / 100),
        60_000..3_600_000 => {
            let seconds = ms / 1_000;
            match seconds % 60 {
                0 => format!("{} min", seconds / 60),
                s => format!("{} min {s} s", seconds / 60),
            }
        }
        _ => {
            let minutes = ms / 60_000;
            format!("{} h {:02} min", minutes / 60, minutes % 60)
        }
    }
}

/// A size for humans, in decimal units: `512 B`, `1.5 kB`, `2.0 GB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1_000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1_000.0;
    let mut unit = 0;
    while value >= 1_000.0 && unit + 1 < UNITS.len() {
        value /= 1_000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `acc-1`, `acc-1 and acc-2`, `acc-1, acc-2 and acc-3`, `3 accounts` beyond.
fn accounts(ids: &[String]) -> String {
    match ids {
        [] => "no account".to_owned(),
        [one] => one.clone(),
        [init @ .., last] if ids.len() <= 3 => format!("{} and {last}", init.join(", ")),
        _ => format!("{} accounts", ids.len()),
    }
}

/// `1 thing`, `2 things`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests;
