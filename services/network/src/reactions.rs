//! The edge of the network policy (`domain::policy`): its commands carried out
//! through [`Network`], as `system:network`, with the records built from the
//! [`ZoneSettings`] and the IP routes changed through a [`Rerouting`] backend.
//!
//! Emits, through the deciders, the `dns_zone`, `account_traffic` and `ip_route`
//! events; consumes what the policy's view reads (server, transit_server, migration,
//! transfer, and its own aggregates).

use crate::domain::policy::{NetworkAction, NetworkCommand};
use crate::domain::records::{self, ServerAddresses, ZoneSettings};
use crate::domain::route::{IpRoute, IpRouteCommand};
use crate::domain::traffic::{SwitchTraffic, TrafficCommand};
use crate::domain::zone::DnsZoneCommand;
use crate::service::{CommandMeta, Network};
use chrono::Utc;
use ferry_infra::policy::Execute;
use ferry_infra::reactor::{Effect, ReactionError, command_outcome};
use std::future::Future;
use std::sync::Arc;

pub use crate::domain::policy::NAME as REACTOR_NAME;

/// Changes where a client server's IPs lead, and measures how long they answered
/// nowhere meanwhile (milliseconds, the longest of the addresses).
pub trait Rerouting: Send + Sync + 'static {
    /// Routes the client server's `ips` to the server `to_server_id`.
    fn reroute(
        &self,
        client_server_id: &str,
        ips: &[String],
        to_server_id: &str,
    ) -> impl Future<Output = Result<u64, String>> + Send;
    /// Routes the client server's `ips` back to it.
    fn restore(
        &self,
        client_server_id: &str,
        ips: &[String],
    ) -> impl Future<Output = Result<u64, String>> + Send;
}

/// Carries out the network policy's commands.
#[derive(Debug)]
pub struct NetworkExecutor<R> {
    network: Network,
    zones: ZoneSettings,
    routes: Arc<R>,
}

impl<R> Clone for NetworkExecutor<R> {
    fn clone(&self) -> Self {
        Self {
            network: self.network.clone(),
            zones: self.zones.clone(),
            routes: Arc::clone(&self.routes),
        }
    }
}

impl<R: Rerouting> NetworkExecutor<R> {
    /// Commands issued through `network`, zones built with `zones`, routes changed
    /// through `routes`.
    pub fn new(network: Network, zones: ZoneSettings, routes: Arc<R>) -> Self {
        Self {
            network,
            zones,
            routes,
        }
    }

    async fn zone(
        &self,
        meta: &CommandMeta,
        command: DnsZoneCommand,
    ) -> Result<Vec<Effect>, ReactionError> {
        command_outcome(self.network.zone(meta, command).await)
    }

    async fn apply_reroute(
        &self,
        meta: &CommandMeta,
        server_id: &str,
        ips: &[String],
        to_server_id: &str,
    ) -> Result<Vec<Effect>, ReactionError> {
        let routing = self.network.routing(server_id).await?;
        if !matches!(routing, IpRoute::Rerouting { .. }) {
            return Ok(vec![]);
        }
        let rerouted = self.routes.reroute(server_id, ips, to_server_id).await;
        let unavailability_ms = rerouted.map_err(|reason| {
            ReactionError::Failed(format!("cannot reroute the IPs of {server_id}: {reason}"))
        })?;
        let record = IpRouteCommand::RecordRerouted { unavailability_ms };
        command_outcome(self.network.route(meta, server_id, record).await)
    }

    async fn restore_routes(
        &self,
        meta: &CommandMeta,
        server_id: &str,
    ) -> Result<Vec<Effect>, ReactionError> {
        let ips = match self.network.routing(server_id).await? {
            IpRoute::Home => return Ok(vec![]),
            IpRoute::Rerouting { ips, .. } | IpRoute::Rerouted { ips, .. } => ips,
        };
        let unavailability_ms = self
            .routes
            .restore(server_id, &ips)
            .await
            .map_err(|reason| {
                ReactionError::Failed(format!(
                    "cannot route the IPs of {server_id} home: {reason}"
                ))
            })?;
        let record = IpRouteCommand::RecordRestored { unavailability_ms };
        command_outcome(self.network.route(meta, server_id, record).await)
    }
}

impl<R: Rerouting> Execute<NetworkCommand> for NetworkExecutor<R> {
    async fn execute(&self, command: &NetworkCommand) -> Result<Vec<Effect>, ReactionError> {
        let meta = CommandMeta::system(command.id, command.correlation_id);
        let settings = &self.zones;
        match &command.action {
            NetworkAction::PublishZone {
                domain,
                account_id,
                server_id,
                server,
                mail_hosted,
            } => {
                let at = ServerAddresses {
                    name: &server.name,
                    ipv4: &server.ipv4,
                    ipv6: &server.ipv6,
                };
                let records = records::zone_records(domain, &at, *mail_hosted, settings);
                let publish = DnsZoneCommand::Publish {
                    domain: domain.clone(),
                    account_id: account_id.clone(),
                    server_id: server_id.clone(),
                    records,
                };
                self.zone(&meta, publish).await
            }
            NetworkAction::WithdrawZone { domain, reason } => {
                let withdraw = DnsZoneCommand::Withdraw {
                    domain: domain.clone(),
                    reason: reason.clone(),
                };
                self.zone(&meta, withdraw).await
            }
            NetworkAction::SwitchZone {
                domain,
                to_server_id,
                to,
                revert,
            } => {
                let switch = DnsZoneCommand::Switch {
                    domain: domain.clone(),
                    to_server_id: to_server_id.clone(),
                    to: to.clone(),
                    revert: *revert,
                };
                self.zone(&meta, switch).await
            }
            NetworkAction::LowerTtl {
                domain,
                migration_id,
            } => {
                let lower = DnsZoneCommand::LowerTtl {
                    domain: domain.clone(),
                    migration_id: *migration_id,
                    ttl_secs: settings.lowered_ttl_secs,
                };
                self.zone(&meta, lower).await
            }
            NetworkAction::RestoreTtl {
                domain,
                migration_id,
            } => {
                let restore = DnsZoneCommand::RestoreTtl {
                    domain: domain.clone(),
                    migration_id: *migration_id,
                    ttl_secs: settings.ttl_secs,
                };
                self.zone(&meta, restore).await
            }
            NetworkAction::AdviseMxRemoval {
                domain,
                account_id,
                server_name,
            } => {
                let advise = DnsZoneCommand::AdviseMxRemoval {
                    domain: domain.clone(),
                    account_id: account_id.clone(),
                    record: records::mx_of_server(domain, server_name, settings.ttl_secs),
                    keep: records::provider_mx(domain, settings),
                };
                self.zone(&meta, advise).await
            }
            NetworkAction::SwitchTraffic {
                account_id,
                transfer_id,
                home_server_id,
                to_server_id,
                has_external_dns,
            } => {
                let switch = SwitchTraffic {
                    transfer_id: *transfer_id,
                    home_server_id: home_server_id.clone(),
                    to_server_id: to_server_id.clone(),
                    has_external_dns: *has_external_dns,
                    at: Utc::now(),
                };
                let switch = TrafficCommand::Switch(switch);
                command_outcome(self.network.traffic(&meta, account_id, switch).await)
            }
            NetworkAction::StartReroute {
                server_id,
                ips,
                to_server_id,
            } => {
                let start = IpRouteCommand::Start {
                    ips: ips.clone(),
                    to_server_id: to_server_id.clone(),
                };
                command_outcome(self.network.route(&meta, server_id, start).await)
            }
            NetworkAction::ApplyReroute {
                server_id,
                ips,
                to_server_id,
            } => {
                self.apply_reroute(&meta, server_id, ips, to_server_id)
                    .await
            }
            NetworkAction::RestoreRoutes { server_id } => {
                self.restore_routes(&meta, server_id).await
            }
        }
    }
}
