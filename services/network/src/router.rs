//! The provider's router as ferry drives it ([`ConfiguredRouter`]): the Linux
//! backend of [`crate::routes`], described by a JSON file (`FERRY_IP_ROUTES`) that
//! says where the router is, how reachability is probed, and which next hop (link
//! addresses) each server of the fleet has, by server id. The fleet's events give
//! the client server's public IPs; the file gives where they are routed.
//!
//! Without the file, rerouting fails visibly, saying so: the reaction is parked and
//! retried, never passed over, and the rest of the migration goes on.

use crate::reactions::Rerouting;
use crate::routes::{
    AddressTable, LinuxRoutes, LinuxRoutesSettings, ProbeSettings, Rerouter, ServerAddresses,
    TableServer,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

/// The description of the router (`FERRY_IP_ROUTES`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterDescription {
    /// Where the router's host routes and the receiving servers' DNAT are changed.
    pub router: LinuxRoutesSettings,
    /// How each address's reachability is probed around a change.
    pub probes: ProbeSettings,
    /// Each server's link addresses (next hop), by server id (client and transit).
    pub servers: BTreeMap<String, ServerAddresses>,
}

/// The router, or why there is none.
#[derive(Debug)]
pub struct ConfiguredRouter {
    router: Result<(Rerouter<LinuxRoutes>, BTreeMap<String, ServerAddresses>), String>,
}

impl ConfiguredRouter {
    /// The router described in `path`, or none (`path` not set).
    pub fn from_file(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self {
                router: Err(
                    "IP rerouting is not configured: set FERRY_IP_ROUTES to the \
                             description of the provider's router (see the README)"
                        .to_owned(),
                ),
            });
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let description: RouterDescription = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a router description: {e}", path.display()))?;
        Self::new(description)
    }

    /// The router `description` describes.
    pub fn new(description: RouterDescription) -> Result<Self, String> {
        let backend = LinuxRoutes::new(description.router).map_err(|e| e.to_string())?;
        let rerouter = Rerouter::new(backend, description.probes);
        Ok(Self {
            router: Ok((rerouter, description.servers)),
        })
    }

    fn table(
        servers: &BTreeMap<String, ServerAddresses>,
        client_server_id: &str,
        ips: &[IpAddr],
        also: Option<&str>,
    ) -> Result<AddressTable, String> {
        let link = |id: &str| {
            servers
                .get(id)
                .copied()
                .ok_or_else(|| format!("the router description has no server {id}"))
        };
        let mut table = AddressTable::new();
        table.insert(
            client_server_id,
            TableServer {
                addresses: link(client_server_id)?,
                client_ips: ips.iter().copied().collect::<BTreeSet<_>>(),
            },
        );
        if let Some(other) = also {
            table.insert(
                other,
                TableServer {
                    addresses: link(other)?,
                    client_ips: BTreeSet::new(),
                },
            );
        }
        Ok(table)
    }
}

/// The IPs as addresses, refused whole if one is not.
fn parse(ips: &[String]) -> Result<Vec<IpAddr>, String> {
    ips.iter()
        .map(|ip| {
            ip.parse::<IpAddr>()
                .map_err(|_| format!("{ip:?} is not an IP address"))
        })
        .collect()
}

impl Rerouting for ConfiguredRouter {
    async fn reroute(
        &self,
        client_server_id: &str,
        ips: &[String],
        to_server_id: &str,
    ) -> Result<u64, String> {
        let (rerouter, servers) = self.router.as_ref().map_err(Clone::clone)?;
        let ips = parse(ips)?;
        let table = Self::table(servers, client_server_id, &ips, Some(to_server_id))?;
        let report = rerouter
            .reroute(&table, &ips, to_server_id)
            .await
            .map_err(|e| e.to_string())?;
        if !report.all_answered_again() {
            return Err(format!(
                "rerouted, but some addresses did not answer from {to_server_id} in time: {:?}",
                report.addresses
            ));
        }
        Ok(report.max_unavailability_ms)
    }

    async fn restore(&self, client_server_id: &str, ips: &[String]) -> Result<u64, String> {
        let (rerouter, servers) = self.router.as_ref().map_err(Clone::clone)?;
        let ips = parse(ips)?;
        let table = Self::table(servers, client_server_id, &ips, None)?;
        let report = rerouter
            .restore(&table, &ips)
            .await
            .map_err(|e| e.to_string())?;
        if !report.all_answered_again() {
            return Err(format!(
                "routed home, but some addresses did not answer from {client_server_id} in time: {:?}",
                report.addresses
            ));
        }
        Ok(report.max_unavailability_ms)
    }
}
