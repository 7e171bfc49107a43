//! The network service's reactions, as a pure policy over its view
//! ([`NetworkView`]).
//!
//! | event (aggregate) | command |
//! |---|---|
//! | `AccountAdded`, `AccountChanged` (server) | publish the zone of each of the account's domains on the provider's DNS, pointing at where the account is served; withdraw the zones of domains no longer there |
//! | `ServerDetailsChanged` (server) | publish its accounts' zones again (addresses, name) |
//! | `AccountRemoved` (server) | withdraw the account's zones |
//! | `TransitServerRequested` (migration) | lower the address TTL of the server's zones; advise removing `MX 5 <server>` for each domain on another DNS provider whose mail the provider receives |
//! | `MigrationCompleted`, `MigrationCancelled`, `ObsoleteLanguagesRestored` (migration: over, or back to step 1 with its transit request withdrawn) | restore the TTL of the server's zones (lowered again by the next request) |
//! | `TransferVerified` of a cutover, rollback or relocation (transfer) | for each account: switch its zones to the destination (revert for a rollback), then its traffic (`AccountTrafficSwitched`, with the redirect) |
//! | `ReinstallStarted` (migration) | start rerouting the client server's IPs to the transit server |
//! | `IpRerouteStarted` (ip_route) | apply the reroute and measure it |
//! | `ServerReinstalled` (migration) | route the IPs home again, measured |
//!
//! Command ids derive from the event and what the command is about: a redelivered
//! event asks nothing twice, and the deciders ignore what is already so. The zones
//! are switched before the traffic: `AccountTrafficSwitched` tells the data mover
//! that everything points at the destination, so that it may retire the source.

mod facts;
#[cfg(test)]
mod tests;

pub use facts::{
    AccountDomains, AccountFacts, Addresses, NetworkFact, NetworkView, ServerFacts, TransferFacts,
    switches_traffic,
};

use crate::zone::SwitchTarget;
use facts::{account_key, migration_key, server_key, transfer_key, transit_key};
use ferry_core::policy::{Entries, Missing, Policy, process_lane, reaction_id};
use ferry_events::{
    DnsHosting, Envelope, Event, IpRouteEvent, MailHosting, MigrationEvent, ServerEvent,
    TransferEvent, TransferKind,
};
use uuid::Uuid;

/// The reactor's name: its durable consumer and the namespace of its command ids.
pub const NAME: &str = "network";

/// A command of the network policy, with its id and correlation.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkCommand {
    /// The command id, derived from its cause.
    pub id: Uuid,
    /// The migration it belongs to (or its cause's correlation).
    pub correlation_id: Uuid,
    /// What to do.
    pub action: NetworkAction,
}

/// What the network policy asks of its edge. Records and TTLs come from the edge's
/// settings ([`crate::records::ZoneSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkAction {
    /// Serve a domain's zone pointing at `server`.
    PublishZone {
        /// The domain.
        domain: String,
        /// Its account.
        account_id: String,
        /// The server serving the account.
        server_id: String,
        /// Its name and addresses.
        server: SwitchTarget,
        /// Whether the provider receives the domain's mail.
        mail_hosted: bool,
    },
    /// Stop serving a domain's zone.
    WithdrawZone {
        /// The domain.
        domain: String,
        /// Why.
        reason: String,
    },
    /// Point a zone's address records at another server.
    SwitchZone {
        /// The domain.
        domain: String,
        /// The server now serving the account.
        to_server_id: String,
        /// Its name and addresses.
        to: SwitchTarget,
        /// Whether it undoes a switch (a rollback).
        revert: bool,
    },
    /// Lower a zone's address TTL for a migration.
    LowerTtl {
        /// The domain.
        domain: String,
        /// The migration.
        migration_id: Uuid,
    },
    /// Restore a zone's address TTL after a migration.
    RestoreTtl {
        /// The domain.
        domain: String,
        /// The migration.
        migration_id: Uuid,
    },
    /// Advise deleting the server's MX record at another DNS provider.
    AdviseMxRemoval {
        /// The domain.
        domain: String,
        /// Its account.
        account_id: String,
        /// The client server's host name (the record's exchanger).
        server_name: String,
    },
    /// Switch an account's traffic (the redirect, then `AccountTrafficSwitched`).
    SwitchTraffic {
        /// The account.
        account_id: String,
        /// The verified transfer it completes.
        transfer_id: Uuid,
        /// The account's own server.
        home_server_id: String,
        /// Where it is served now.
        to_server_id: String,
        /// Whether some of its domains are on another DNS provider.
        has_external_dns: bool,
    },
    /// Record that the client server's IPs start being rerouted.
    StartReroute {
        /// The client server.
        server_id: String,
        /// Its IPs.
        ips: Vec<String>,
        /// The transit server.
        to_server_id: String,
    },
    /// Apply a started reroute and record it, measured.
    ApplyReroute {
        /// The client server.
        server_id: String,
        /// Its IPs.
        ips: Vec<String>,
        /// The transit server.
        to_server_id: String,
    },
    /// Route the client server's IPs home again and record it, measured.
    RestoreRoutes {
        /// The client server.
        server_id: String,
    },
}

/// The network service's policy.
#[derive(Debug)]
pub struct NetworkPolicy;

impl Policy for NetworkPolicy {
    type View = NetworkView;
    type Command = NetworkCommand;
    const NAME: &'static str = NAME;

    fn reads(event: &Envelope, known: &Entries<NetworkFact>) -> Vec<String> {
        let id = &event.aggregate_id;
        let mut keys = match &event.event {
            Event::Server(_) => vec![server_key(id)],
            Event::Migration(_) => vec![migration_key(id)],
            Event::Transfer(TransferEvent::TransferVerified(_)) => vec![transfer_key(id)],
            _ => return vec![],
        };
        for fact in known.values() {
            match fact {
                NetworkFact::Migration { server_id } => keys.push(server_key(server_id)),
                NetworkFact::Transfer(t) => {
                    keys.push(server_key(&t.server_id));
                    keys.push(match t.kind {
                        TransferKind::Cutover => transit_key(&t.destination),
                        _ => server_key(&t.destination),
                    });
                }
                NetworkFact::Server(s) => {
                    keys.extend(s.accounts.iter().map(|a| account_key(&a.account_id)));
                }
                NetworkFact::Account(a) => {
                    if let Some(at) = &a.at_server_id {
                        keys.push(transit_key(at));
                    }
                }
                NetworkFact::Transit(_) => {}
            }
        }
        if let Event::Server(ServerEvent::AccountRemoved(e)) = &event.event {
            keys.push(account_key(&e.account_id));
        }
        keys
    }

    fn react(
        event: &Envelope,
        view: &Entries<NetworkFact>,
    ) -> Result<Vec<NetworkCommand>, Missing> {
        let id = &event.aggregate_id;
        let ctx = Reaction { event, view };
        match &event.event {
            Event::Server(ServerEvent::AccountAdded(e)) => {
                ctx.publish_account(id, &e.account.account_id)
            }
            Event::Server(ServerEvent::AccountChanged(e)) => {
                ctx.publish_account(id, &e.account.account_id)
            }
            Event::Server(ServerEvent::ServerDetailsChanged(_)) => {
                let server = ctx.server(id)?;
                let mut commands = Vec::new();
                for account in &server.accounts {
                    commands.extend(ctx.publish_account(id, &account.account_id)?);
                }
                Ok(commands)
            }
            Event::Server(ServerEvent::AccountRemoved(e)) => {
                let account = ctx.account(&e.account_id);
                Ok(account
                    .zones
                    .iter()
                    .map(|domain| ctx.withdraw(domain, "its account was removed from the server"))
                    .collect())
            }
            Event::Migration(MigrationEvent::TransitServerRequested(_)) => {
                ctx.for_migration(id, |ctx, migration_id, server, account| {
                    let mut commands = Vec::new();
                    for domain in &account.domains {
                        match (domain.dns, domain.mail) {
                            (DnsHosting::Hosted, _) => commands.push(ctx.command(
                                &format!("lower-ttl/{}", domain.name),
                                NetworkAction::LowerTtl {
                                    domain: domain.name.clone(),
                                    migration_id,
                                },
                            )),
                            (DnsHosting::External, MailHosting::Hosted) => {
                                commands.push(ctx.command(
                                    &format!("advise-mx/{}", domain.name),
                                    NetworkAction::AdviseMxRemoval {
                                        domain: domain.name.clone(),
                                        account_id: account.account_id.clone(),
                                        server_name: server.addresses.name.clone(),
                                    },
                                ));
                            }
                            (DnsHosting::External, MailHosting::External) => {}
                        }
                    }
                    commands
                })
            }
            Event::Migration(
                MigrationEvent::MigrationCompleted(_)
                | MigrationEvent::MigrationCancelled(_)
                | MigrationEvent::ObsoleteLanguagesRestored(_),
            ) => ctx.for_migration(id, |ctx, migration_id, _, account| {
                hosted(account)
                    .map(|domain| {
                        ctx.command(
                            &format!("restore-ttl/{domain}"),
                            NetworkAction::RestoreTtl {
                                domain: domain.to_owned(),
                                migration_id,
                            },
                        )
                    })
                    .collect()
            }),
            Event::Migration(MigrationEvent::ReinstallStarted(e)) => {
                let server_id = ctx.migration_server(id)?;
                let server = ctx.server(&server_id)?;
                let ips = ips(&server.addresses);
                if ips.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![ctx.command(
                    "reroute",
                    NetworkAction::StartReroute {
                        server_id,
                        ips,
                        to_server_id: e.ips_rerouted_to.clone(),
                    },
                )])
            }
            Event::Migration(MigrationEvent::ServerReinstalled(_)) => {
                let server_id = ctx.migration_server(id)?;
                Ok(vec![ctx.command(
                    "restore-routes",
                    NetworkAction::RestoreRoutes { server_id },
                )])
            }
            Event::IpRoute(IpRouteEvent::IpRerouteStarted(e)) => Ok(vec![ctx.command(
                "apply-reroute",
                NetworkAction::ApplyReroute {
                    server_id: id.clone(),
                    ips: e.ips.clone(),
                    to_server_id: e.to_server_id.clone(),
                },
            )]),
            Event::Transfer(TransferEvent::TransferVerified(_)) => ctx.switch(id),
            _ => Ok(vec![]),
        }
    }

    /// A migration's reactions run in its lane, but its IP routes have a lane of
    /// their own: a reroute waiting on the router (parked, retried) never holds up
    /// the traffic switches of the accounts' moves.
    /// Its process is its lane: a parked reroute holds back the migration's routes
    /// only.
    fn process(event: &Envelope) -> String {
        Self::lane(event)
    }

    fn lane(event: &Envelope) -> String {
        let routes = matches!(
            &event.event,
            Event::IpRoute(_)
                | Event::Migration(
                    MigrationEvent::ReinstallStarted(_) | MigrationEvent::ServerReinstalled(_)
                )
        );
        if routes {
            format!("routes/{}", process_lane(event))
        } else {
            process_lane(event)
        }
    }
}

/// One reaction: its event and the entries read.
struct Reaction<'a> {
    event: &'a Envelope,
    view: &'a Entries<NetworkFact>,
}

impl Reaction<'_> {
    fn command(&self, purpose: &str, action: NetworkAction) -> NetworkCommand {
        NetworkCommand {
            id: reaction_id(NAME, self.event.event_id, purpose),
            correlation_id: self.event.correlation_id,
            action,
        }
    }

    fn server(&self, id: &str) -> Result<&ServerFacts, Missing> {
        match self.view.get(&server_key(id)) {
            Some(NetworkFact::Server(s)) => Ok(s),
            _ => Err(Missing(format!("server {id} (its registration)"))),
        }
    }

    fn transit(&self, id: &str) -> Result<&Addresses, Missing> {
        match self.view.get(&transit_key(id)) {
            Some(NetworkFact::Transit(t)) => Ok(t),
            _ => Err(Missing(format!(
                "transit server {id} (its addition to the pool)"
            ))),
        }
    }

    fn account(&self, id: &str) -> AccountFacts {
        // No entry: never switched and no zone published, which is a fact, not a gap.
        match self.view.get(&account_key(id)) {
            Some(NetworkFact::Account(a)) => a.clone(),
            _ => AccountFacts::default(),
        }
    }

    fn migration_server(&self, id: &str) -> Result<String, Missing> {
        match self.view.get(&migration_key(id)) {
            Some(NetworkFact::Migration { server_id }) => Ok(server_id.clone()),
            _ => Err(Missing(format!("migration {id} (its opening)"))),
        }
    }

    /// Where an account is served now: the server its traffic was last switched to,
    /// or its own.
    fn location(
        &self,
        server_id: &str,
        account_id: &str,
    ) -> Result<(String, SwitchTarget), Missing> {
        match self.account(account_id).at_server_id {
            Some(at) if at != server_id => Ok((at.clone(), target(self.transit(&at)?))),
            _ => Ok((
                server_id.to_owned(),
                target(&self.server(server_id)?.addresses),
            )),
        }
    }

    fn withdraw(&self, domain: &str, reason: &str) -> NetworkCommand {
        self.command(
            &format!("withdraw/{domain}"),
            NetworkAction::WithdrawZone {
                domain: domain.to_owned(),
                reason: reason.to_owned(),
            },
        )
    }

    /// The account's zones published where it is served, and those of domains no
    /// longer on the provider's DNS withdrawn.
    fn publish_account(
        &self,
        server_id: &str,
        account_id: &str,
    ) -> Result<Vec<NetworkCommand>, Missing> {
        let server = self.server(server_id)?;
        let Some(account) = server.accounts.iter().find(|a| a.account_id == account_id) else {
            // Removed since (the view is newer than the event): its removal withdraws.
            return Ok(vec![]);
        };
        let (at, to) = self.location(server_id, account_id)?;
        let mut commands: Vec<NetworkCommand> = account
            .domains
            .iter()
            .filter(|d| d.dns == DnsHosting::Hosted)
            .map(|d| {
                self.command(
                    &format!("publish/{}", d.name),
                    NetworkAction::PublishZone {
                        domain: d.name.clone(),
                        account_id: account_id.to_owned(),
                        server_id: at.clone(),
                        server: to.clone(),
                        mail_hosted: d.mail == MailHosting::Hosted,
                    },
                )
            })
            .collect();
        let hosted: Vec<&str> = hosted(account).collect();
        for zone in self.account(account_id).zones {
            if !hosted.contains(&zone.as_str()) {
                commands
                    .push(self.withdraw(&zone, "the domain is no longer on the provider's DNS"));
            }
        }
        Ok(commands)
    }

    /// `each` for every account of the migration's server.
    fn for_migration(
        &self,
        migration_id: &str,
        each: impl Fn(&Self, Uuid, &ServerFacts, &AccountDomains) -> Vec<NetworkCommand>,
    ) -> Result<Vec<NetworkCommand>, Missing> {
        let server = self.server(&self.migration_server(migration_id)?)?;
        let migration = Uuid::parse_str(migration_id)
            .map_err(|_| Missing(format!("a migration id, not {migration_id}")))?;
        Ok(server
            .accounts
            .iter()
            .flat_map(|account| each(self, migration, server, account))
            .collect())
    }

    /// A verified cutover, rollback or relocation: zones then traffic, per account.
    fn switch(&self, transfer_id: &str) -> Result<Vec<NetworkCommand>, Missing> {
        let Some(NetworkFact::Transfer(transfer)) = self.view.get(&transfer_key(transfer_id))
        else {
            // Not a transfer that switches traffic (the view keeps only those).
            return Ok(vec![]);
        };
        let transfer_uuid = Uuid::parse_str(transfer_id)
            .map_err(|_| Missing(format!("a transfer id, not {transfer_id}")))?;
        let server = self.server(&transfer.server_id)?;
        let to = match transfer.kind {
            TransferKind::Cutover => self.transit(&transfer.destination)?,
            _ => &self.server(&transfer.destination)?.addresses,
        };
        let mut commands = Vec::new();
        for account_id in &transfer.accounts {
            let domains = server
                .accounts
                .iter()
                .find(|a| &a.account_id == account_id)
                .map(|a| a.domains.as_slice())
                .unwrap_or_default();
            for domain in domains.iter().filter(|d| d.dns == DnsHosting::Hosted) {
                commands.push(self.command(
                    &format!("switch/{account_id}/{}", domain.name),
                    NetworkAction::SwitchZone {
                        domain: domain.name.clone(),
                        to_server_id: transfer.destination.clone(),
                        to: target(to),
                        revert: transfer.kind == TransferKind::Rollback,
                    },
                ));
            }
            commands.push(self.command(
                &format!("traffic/{account_id}"),
                NetworkAction::SwitchTraffic {
                    account_id: account_id.clone(),
                    transfer_id: transfer_uuid,
                    home_server_id: transfer.server_id.clone(),
                    to_server_id: transfer.destination.clone(),
                    has_external_dns: domains.iter().any(|d| d.dns == DnsHosting::External),
                },
            ));
        }
        Ok(commands)
    }
}

fn hosted(account: &AccountDomains) -> impl Iterator<Item = &str> {
    account
        .domains
        .iter()
        .filter(|d| d.dns == DnsHosting::Hosted)
        .map(|d| d.name.as_str())
}

fn ips(addresses: &Addresses) -> Vec<String> {
    addresses
        .ipv4
        .iter()
        .chain(&addresses.ipv6)
        .cloned()
        .collect()
}

fn target(addresses: &Addresses) -> SwitchTarget {
    SwitchTarget {
        name: addresses.name.clone(),
        ipv4: addresses.ipv4.clone(),
        ipv6: addresses.ipv6.clone(),
    }
}
