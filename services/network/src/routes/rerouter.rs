//! The rerouter: checks a reroute or a restore against the address table, applies
//! it through a backend and measures each address's unavailability.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferry_events::{IpRoutesRestored, IpsRerouted};
use serde::Serialize;

use super::probe::measure_around;
use super::{AddressUnavailability, ProbeSettings, RouteBackend, RouteError, ServerAddresses};

/// A server of the address table: its own addresses (the next hop of the
/// addresses routed to it) and, for a client server, the client addresses the
/// router routes to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableServer {
    /// The server's own addresses.
    pub addresses: ServerAddresses,
    /// The client addresses routed to it (empty for a transit server).
    pub client_ips: BTreeSet<IpAddr>,
}

/// Every address of the client and transit servers, by server id: what may be
/// rerouted, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressTable {
    servers: BTreeMap<String, TableServer>,
}

impl AddressTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces server `server_id`.
    pub fn insert(&mut self, server_id: impl Into<String>, server: TableServer) {
        self.servers.insert(server_id.into(), server);
    }

    /// Server `server_id`.
    pub fn server(&self, server_id: &str) -> Option<&TableServer> {
        self.servers.get(server_id)
    }

    /// The server `ip` is a client address of, with its id.
    pub fn owner_of(&self, ip: IpAddr) -> Option<(&str, &TableServer)> {
        self.servers
            .iter()
            .find(|(_, server)| server.client_ips.contains(&ip))
            .map(|(id, server)| (id.as_str(), server))
    }
}

/// What a reroute or a restore cost, address by address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RerouteReport {
    /// Each address's unavailability, in the order given (duplicates removed).
    pub addresses: Vec<AddressUnavailability>,
    /// The longest of them: the figure of `IpsRerouted`/`IpRoutesRestored`.
    pub max_unavailability_ms: u64,
}

impl RerouteReport {
    fn new(addresses: Vec<AddressUnavailability>) -> Self {
        let max_unavailability_ms = addresses
            .iter()
            .map(|address| address.unavailable_ms)
            .max()
            .unwrap_or(0);
        Self {
            addresses,
            max_unavailability_ms,
        }
    }

    /// Whether every address answered again after the change.
    pub fn all_answered_again(&self) -> bool {
        self.addresses.iter().all(|address| address.answered_again)
    }

    /// The addresses as the events write them (IPv4 dotted decimal, IPv6
    /// RFC 5952, which is how `IpAddr` displays).
    pub fn ips(&self) -> Vec<String> {
        self.addresses
            .iter()
            .map(|address| address.ip.to_string())
            .collect()
    }

    /// The event of a completed reroute to server `to_server_id`.
    pub fn rerouted_event(&self, to_server_id: &str) -> IpsRerouted {
        IpsRerouted {
            ips: self.ips(),
            to_server_id: to_server_id.to_owned(),
            unavailability_ms: self.max_unavailability_ms,
        }
    }

    /// The event of a completed restore.
    pub fn restored_event(&self) -> IpRoutesRestored {
        IpRoutesRestored {
            ips: self.ips(),
            unavailability_ms: self.max_unavailability_ms,
        }
    }
}

/// Applies reroutes and restores through a backend, measuring them.
#[derive(Debug, Clone)]
pub struct Rerouter<B> {
    backend: B,
    probes: ProbeSettings,
}

impl<B: RouteBackend> Rerouter<B> {
    /// A rerouter changing routes with `backend`, measuring with `probes`.
    pub fn new(backend: B, probes: ProbeSettings) -> Self {
        Self { backend, probes }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Routes `ips` (client addresses of `table`) to server `to_server_id` (the
    /// transit server). Refused before anything runs if an address is not a
    /// client address of the table, belongs to `to_server_id` already, or the
    /// server is unknown.
    pub async fn reroute(
        &self,
        table: &AddressTable,
        ips: &[IpAddr],
        to_server_id: &str,
    ) -> Result<RerouteReport, RouteError> {
        let ips = distinct(ips);
        let to = table
            .server(to_server_id)
            .ok_or_else(|| RouteError::UnknownServer(to_server_id.to_owned()))?;
        for &ip in &ips {
            let (owner, _) = table.owner_of(ip).ok_or(RouteError::NotInTable(ip))?;
            if owner == to_server_id {
                return Err(RouteError::RerouteToOwner {
                    ip,
                    server: owner.to_owned(),
                });
            }
        }
        let to = to.addresses;
        self.measure(&ips, self.backend.reroute(&ips, &to)).await
    }

    /// Routes `ips` back to the server they are client addresses of in `table`.
    /// Refused before anything runs if an address is not in the table or the
    /// addresses belong to different servers.
    pub async fn restore(
        &self,
        table: &AddressTable,
        ips: &[IpAddr],
    ) -> Result<RerouteReport, RouteError> {
        let ips = distinct(ips);
        let mut home: Option<(&str, IpAddr, &TableServer)> = None;
        for &ip in &ips {
            let (owner, server) = table.owner_of(ip).ok_or(RouteError::NotInTable(ip))?;
            match home {
                None => home = Some((owner, ip, server)),
                Some((first_server, first, _)) if first_server != owner => {
                    return Err(RouteError::SeveralHomes {
                        first,
                        first_server: first_server.to_owned(),
                        second: ip,
                        second_server: owner.to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        let Some((_, _, home)) = home else {
            return Ok(RerouteReport::new(Vec::new()));
        };
        let home = home.addresses;
        self.measure(&ips, self.backend.restore(&ips, &home)).await
    }

    async fn measure(
        &self,
        ips: &[IpAddr],
        change: impl Future<Output = Result<(), RouteError>>,
    ) -> Result<RerouteReport, RouteError> {
        if ips.is_empty() {
            return Ok(RerouteReport::new(Vec::new()));
        }
        let unavailability = measure_around(&self.probes, ips, change).await?;
        Ok(RerouteReport::new(unavailability))
    }
}

fn distinct(ips: &[IpAddr]) -> Vec<IpAddr> {
    let mut seen = BTreeSet::new();
    ips.iter().copied().filter(|ip| seen.insert(*ip)).collect()
}
