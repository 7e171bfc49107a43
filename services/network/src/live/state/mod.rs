//! What the DNS server and the redirect serve, folded from the log: a pure function
//! of the events, so every start of the service rebuilds it by replaying them, and
//! both follow each new event within milliseconds.
//!
//! - Zones: the last record set of each `dns_zone` served, its SOA serial the count
//!   of its changes; a withdrawn zone is no longer served.
//! - The redirect: every host of every account (its domains and their `www.`) routed
//!   to where the account lives now (its server, then where its traffic was last
//!   switched), and held from the account's freeze until its traffic is switched or
//!   it is unfrozen on its source.
//!
//! Consumes: server and transit_server (addresses, domains), transfer (freezes),
//! dns_zone and account_traffic.

#[cfg(test)]
mod tests;

use ferry_events::{
    AccountTrafficEvent, DnsRecord, DnsZoneEvent, Envelope, Event, ServerEvent, TransferEvent,
    TransitServerEvent,
};
use std::collections::HashMap;
use std::net::IpAddr;
use uuid::Uuid;

/// One change to apply to the running DNS server or redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChange {
    /// Serve the zone of `domain` with these records and this serial.
    Zone {
        /// The domain.
        domain: String,
        /// The SOA serial: how many times the zone changed.
        serial: u32,
        /// Its records.
        records: Vec<DnsRecord>,
    },
    /// Stop serving the zone of `domain`.
    ZoneRemoved {
        /// The domain.
        domain: String,
    },
    /// Requests for `host` belong to `account_id`.
    Host {
        /// The host name.
        host: String,
        /// The account.
        account_id: String,
    },
    /// Requests for `host` belong to nobody.
    HostRemoved {
        /// The host name.
        host: String,
    },
    /// The account is served at this address now.
    Locate {
        /// The account.
        account_id: String,
        /// Its server's address.
        address: IpAddr,
    },
    /// Hold the account's new requests (its cutover froze it), then say so.
    Hold {
        /// The account.
        account_id: String,
        /// The transfer freezing it (`None`: its id is not one).
        transfer_id: Option<Uuid>,
        /// The migration it belongs to.
        correlation_id: Uuid,
    },
    /// Release the account's held and new requests to where it is served.
    Release {
        /// The account.
        account_id: String,
    },
}

/// The folded state.
#[derive(Debug, Default)]
pub struct LiveState {
    /// Each server's (client or transit) address for web traffic.
    addresses: HashMap<String, IpAddr>,
    /// Each account's own server.
    home: HashMap<String, String>,
    /// Where each account's traffic was last switched.
    at: HashMap<String, String>,
    /// Each account's hosts.
    hosts: HashMap<String, Vec<String>>,
    /// Each zone's change count.
    serials: HashMap<String, u32>,
    /// The holds in effect, by account.
    holds: HashMap<String, LiveChange>,
}

impl LiveState {
    /// The holds in effect (accounts frozen, their traffic neither switched nor
    /// released), as the changes that made them.
    pub fn holds(&self) -> impl Iterator<Item = &LiveChange> {
        self.holds.values()
    }

    /// Folds `event`; the changes it makes to what is served.
    pub fn apply(&mut self, event: &Envelope) -> Vec<LiveChange> {
        match &event.event {
            Event::Server(e) => self.server(&event.aggregate_id, e),
            Event::TransitServer(TransitServerEvent::TransitServerAdded(e)) => {
                self.addressed(&event.aggregate_id, &e.ipv4, &e.ipv6)
            }
            Event::DnsZone(e) => self.zone(e),
            Event::Transfer(TransferEvent::AccountFrozen(e)) => {
                let hold = LiveChange::Hold {
                    account_id: e.account_id.clone(),
                    transfer_id: event.aggregate_id.parse().ok(),
                    correlation_id: event.correlation_id,
                };
                self.holds.insert(e.account_id.clone(), hold.clone());
                vec![hold]
            }
            Event::Transfer(TransferEvent::AccountUnfrozen(e)) => {
                self.holds.remove(&e.account_id);
                vec![LiveChange::Release {
                    account_id: e.account_id.clone(),
                }]
            }
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(e)) => {
                let account_id = event.aggregate_id.clone();
                self.at.insert(account_id.clone(), e.to_server_id.clone());
                self.holds.remove(&account_id);
                let mut changes = self.locate(&account_id);
                changes.push(LiveChange::Release { account_id });
                changes
            }
            _ => vec![],
        }
    }

    /// A server's address changed: every account served there is located again.
    fn addressed(&mut self, server_id: &str, ipv4: &[String], ipv6: &[String]) -> Vec<LiveChange> {
        let Some(address) = ipv4
            .iter()
            .chain(ipv6)
            .find_map(|ip| ip.parse::<IpAddr>().ok())
        else {
            self.addresses.remove(server_id);
            return vec![];
        };
        self.addresses.insert(server_id.to_owned(), address);
        let served_here: Vec<String> = self
            .home
            .keys()
            .filter(|account| self.serving(account).is_some_and(|s| s == server_id))
            .cloned()
            .collect();
        served_here.iter().flat_map(|a| self.locate(a)).collect()
    }

    fn serving(&self, account_id: &str) -> Option<&String> {
        self.at
            .get(account_id)
            .or_else(|| self.home.get(account_id))
    }

    fn locate(&self, account_id: &str) -> Vec<LiveChange> {
        self.serving(account_id)
            .and_then(|server| self.addresses.get(server))
            .map(|address| LiveChange::Locate {
                account_id: account_id.to_owned(),
                address: *address,
            })
            .into_iter()
            .collect()
    }

    fn server(&mut self, server_id: &str, event: &ServerEvent) -> Vec<LiveChange> {
        match event {
            ServerEvent::ServerRegistered(e) => self.addressed(server_id, &e.ipv4, &e.ipv6),
            ServerEvent::ServerDetailsChanged(e) => self.addressed(server_id, &e.ipv4, &e.ipv6),
            ServerEvent::AccountAdded(ferry_events::AccountAdded { account })
            | ServerEvent::AccountChanged(ferry_events::AccountChanged { account }) => {
                let account_id = account.account_id.clone();
                self.home.insert(account_id.clone(), server_id.to_owned());
                let hosts: Vec<String> = account
                    .domains
                    .iter()
                    .flat_map(|d| {
                        [
                            d.name.to_ascii_lowercase(),
                            format!("www.{}", d.name.to_ascii_lowercase()),
                        ]
                    })
                    .collect();
                let mut changes = self.forget_hosts(&account_id, &hosts);
                changes.extend(hosts.iter().map(|host| LiveChange::Host {
                    host: host.clone(),
                    account_id: account_id.clone(),
                }));
                self.hosts.insert(account_id.clone(), hosts);
                changes.extend(self.locate(&account_id));
                changes
            }
            ServerEvent::AccountRemoved(e) => {
                self.home.remove(&e.account_id);
                self.at.remove(&e.account_id);
                let changes = self.forget_hosts(&e.account_id, &[]);
                self.hosts.remove(&e.account_id);
                changes
            }
            _ => vec![],
        }
    }

    /// The account's hosts not in `kept`, removed.
    fn forget_hosts(&self, account_id: &str, kept: &[String]) -> Vec<LiveChange> {
        self.hosts
            .get(account_id)
            .into_iter()
            .flatten()
            .filter(|host| !kept.contains(host))
            .map(|host| LiveChange::HostRemoved { host: host.clone() })
            .collect()
    }

    fn zone(&mut self, event: &DnsZoneEvent) -> Vec<LiveChange> {
        let (domain, records) = match event {
            DnsZoneEvent::DnsZonePublished(e) => (&e.domain, &e.records),
            DnsZoneEvent::DnsRecordsSwitched(e) => (&e.domain, &e.records),
            DnsZoneEvent::DnsRecordsReverted(e) => (&e.domain, &e.records),
            DnsZoneEvent::DnsTtlLowered(e) => (&e.domain, &e.records),
            DnsZoneEvent::DnsTtlRestored(e) => (&e.domain, &e.records),
            DnsZoneEvent::DnsZoneWithdrawn(e) => {
                // The serial keeps counting: a zone served again starts above it.
                *self.serials.entry(e.domain.clone()).or_default() += 1;
                return vec![LiveChange::ZoneRemoved {
                    domain: e.domain.clone(),
                }];
            }
            DnsZoneEvent::MxRecordRemovalAdvised(_) => return vec![],
        };
        let serial = self.serials.entry(domain.clone()).or_default();
        *serial = serial.wrapping_add(1);
        vec![LiveChange::Zone {
            domain: domain.clone(),
            serial: *serial,
            records: records.clone(),
        }]
    }
}
