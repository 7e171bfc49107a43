//! The network service's view (`network_view`): the facts its policy reads, folded
//! from events.
//!
//! - `server/<id>`: a client server's name, addresses and its accounts' domains
//!   (server events);
//! - `transit/<id>`: a transit server's name and addresses (`TransitServerAdded`);
//! - `migration/<id>`: the server a migration moves (`MigrationOpened`);
//! - `transfer/<id>`: a cutover's, rollback's or relocation's accounts and ends
//!   (`TransferScheduled`);
//! - `account/<id>`: where the account's traffic was last switched, and the zones
//!   published for it (its own `dns_zone` and `account_traffic` events).

use ferry_core::policy::View;
use ferry_events::{
    AccountTrafficEvent, AggregateType, DnsZoneEvent, DomainSpec, Envelope, Event, MigrationEvent,
    ServerEvent, TransferEvent, TransferKind, TransitServerEvent,
};
use serde::{Deserialize, Serialize};

pub(super) fn server_key(id: &str) -> String {
    format!("server/{id}")
}
pub(super) fn transit_key(id: &str) -> String {
    format!("transit/{id}")
}
pub(super) fn migration_key(id: &str) -> String {
    format!("migration/{id}")
}
pub(super) fn transfer_key(id: &str) -> String {
    format!("transfer/{id}")
}
pub(super) fn account_key(id: &str) -> String {
    format!("account/{id}")
}

/// One entry of the network view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
pub enum NetworkFact {
    /// A client server.
    Server(ServerFacts),
    /// A transit server.
    Transit(Addresses),
    /// The server a migration moves.
    Migration {
        /// The client server.
        server_id: String,
    },
    /// A cutover, rollback or relocation.
    Transfer(TransferFacts),
    /// Where an account's traffic is, and its zones.
    Account(AccountFacts),
}

/// A server's name and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// Its host name.
    pub name: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<String>,
}

/// What the network knows of a client server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFacts {
    /// Its name and addresses.
    pub addresses: Addresses,
    /// Its accounts' domains, by account.
    pub accounts: Vec<AccountDomains>,
}

/// An account's domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDomains {
    /// The account.
    pub account_id: String,
    /// Its domains.
    pub domains: Vec<DomainSpec>,
}

/// A transfer that ends with a traffic switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFacts {
    /// What it is for.
    pub kind: TransferKind,
    /// The client server whose accounts move.
    pub server_id: String,
    /// The server the accounts move to.
    pub destination: String,
    /// The accounts.
    pub accounts: Vec<String>,
}

/// Where an account's traffic is, and its zones on the provider's DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// The server its traffic was last switched to (`None`: its own server).
    pub at_server_id: Option<String>,
    /// The domains whose zone the provider's DNS serves for it.
    pub zones: Vec<String>,
}

/// Whether a transfer ends with the account's traffic switched to its destination.
pub fn switches_traffic(kind: TransferKind) -> bool {
    matches!(
        kind,
        TransferKind::Cutover | TransferKind::Relocation | TransferKind::Rollback
    )
}

/// The network service's view.
#[derive(Debug)]
pub struct NetworkView;

impl View for NetworkView {
    const NAME: &'static str = "network_view";
    const AGGREGATES: &'static [AggregateType] = &[
        AggregateType::Server,
        AggregateType::TransitServer,
        AggregateType::Migration,
        AggregateType::Transfer,
        AggregateType::DnsZone,
        AggregateType::AccountTraffic,
        AggregateType::IpRoute,
    ];
    type Entry = NetworkFact;

    fn keys(event: &Envelope) -> Vec<String> {
        let id = &event.aggregate_id;
        match &event.event {
            Event::Server(_) => vec![server_key(id)],
            Event::TransitServer(TransitServerEvent::TransitServerAdded(_)) => {
                vec![transit_key(id)]
            }
            Event::Migration(MigrationEvent::MigrationOpened(_)) => vec![migration_key(id)],
            Event::Transfer(TransferEvent::TransferScheduled(s)) if switches_traffic(s.kind) => {
                vec![transfer_key(id)]
            }
            Event::DnsZone(DnsZoneEvent::DnsZonePublished(e)) => vec![account_key(&e.account_id)],
            Event::DnsZone(DnsZoneEvent::DnsZoneWithdrawn(_)) => {
                // The zone's account is not in the event: the edge of every account
                // holding it would be needed. A withdrawn zone is removed from its
                // account when the account's next publication or removal is folded;
                // meanwhile the decider ignores commands to a zone not served.
                vec![]
            }
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(_)) => {
                vec![account_key(id)]
            }
            _ => vec![],
        }
    }

    fn evolve(key: &str, entry: Option<NetworkFact>, event: &Envelope) -> Option<NetworkFact> {
        match &event.event {
            Event::Server(e) => server(entry, e),
            Event::TransitServer(TransitServerEvent::TransitServerAdded(e)) => {
                Some(NetworkFact::Transit(Addresses {
                    name: e.name.clone(),
                    ipv4: e.ipv4.clone(),
                    ipv6: e.ipv6.clone(),
                }))
            }
            Event::Migration(MigrationEvent::MigrationOpened(e)) => Some(NetworkFact::Migration {
                server_id: e.server_id.clone(),
            }),
            Event::Transfer(TransferEvent::TransferScheduled(s)) => {
                Some(NetworkFact::Transfer(TransferFacts {
                    kind: s.kind,
                    server_id: s.server_id.clone(),
                    destination: s.destination.server_id.clone(),
                    accounts: s.accounts.iter().map(|a| a.account_id.clone()).collect(),
                }))
            }
            Event::DnsZone(DnsZoneEvent::DnsZonePublished(e)) => {
                let mut account = account_of(entry);
                if !account.zones.contains(&e.domain) {
                    account.zones.push(e.domain.clone());
                }
                Some(NetworkFact::Account(account))
            }
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(e)) => {
                let mut account = account_of(entry);
                account.at_server_id = Some(e.to_server_id.clone());
                Some(NetworkFact::Account(account))
            }
            _ => {
                debug_assert!(false, "no fold of {key} for {}", event.event_type());
                entry
            }
        }
    }
}

fn account_of(entry: Option<NetworkFact>) -> AccountFacts {
    match entry {
        Some(NetworkFact::Account(account)) => account,
        _ => AccountFacts::default(),
    }
}

fn server(entry: Option<NetworkFact>, event: &ServerEvent) -> Option<NetworkFact> {
    let mut facts = match (entry, event) {
        (_, ServerEvent::ServerRegistered(e)) => ServerFacts {
            addresses: Addresses {
                name: e.name.clone(),
                ipv4: e.ipv4.clone(),
                ipv6: e.ipv6.clone(),
            },
            accounts: Vec::new(),
        },
        (Some(NetworkFact::Server(facts)), _) => facts,
        // A server event before its registration: nothing to fold it into.
        (entry, _) => return entry,
    };
    match event {
        ServerEvent::ServerDetailsChanged(e) => {
            facts.addresses = Addresses {
                name: e.name.clone(),
                ipv4: e.ipv4.clone(),
                ipv6: e.ipv6.clone(),
            };
        }
        ServerEvent::AccountAdded(ferry_events::AccountAdded { account })
        | ServerEvent::AccountChanged(ferry_events::AccountChanged { account }) => {
            let domains = AccountDomains {
                account_id: account.account_id.clone(),
                domains: account.domains.clone(),
            };
            match facts
                .accounts
                .iter_mut()
                .find(|a| a.account_id == account.account_id)
            {
                Some(known) => *known = domains,
                None => facts.accounts.push(domains),
            }
        }
        ServerEvent::AccountRemoved(e) => facts.accounts.retain(|a| a.account_id != e.account_id),
        _ => {}
    }
    Some(NetworkFact::Server(facts))
}
