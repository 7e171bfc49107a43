//! The route-changing backend ferry drives: the contract (idempotent reroute and
//! restore) and the addresses of the server receiving the traffic.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::RouteError;

/// A server's own addresses: the next hop the router sends its routed
/// addresses to, and where rerouted traffic is delivered.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServerAddresses {
    /// The server's IPv4 address, if it has one.
    pub ipv4: Option<Ipv4Addr>,
    /// The server's IPv6 address, if it has one.
    pub ipv6: Option<Ipv6Addr>,
}

impl ServerAddresses {
    /// The server's address of the family of `ip`, if it has one.
    pub fn same_family_as(&self, ip: IpAddr) -> Option<IpAddr> {
        match ip {
            IpAddr::V4(_) => self.ipv4.map(IpAddr::V4),
            IpAddr::V6(_) => self.ipv6.map(IpAddr::V6),
        }
    }

    /// Whether `ip` is one of these addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.same_family_as(ip) == Some(ip)
    }
}

impl fmt::Display for ServerAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ipv4, self.ipv6) {
            (Some(v4), Some(v6)) => write!(f, "{v4}/{v6}"),
            (Some(v4), None) => write!(f, "{v4}"),
            (None, Some(v6)) => write!(f, "{v6}"),
            (None, None) => f.write_str("(none)"),
        }
    }
}

/// Changes where a client server's addresses are routed.
///
/// Both operations are idempotent: rerouting addresses already rerouted to the
/// same server, or restoring addresses that are not rerouted, succeeds and
/// leaves the same routes. Implementations refuse malformed input before
/// running anything.
pub trait RouteBackend: Send + Sync {
    /// Routes `ips` to the server with addresses `to` (the transit server), which
    /// then answers for them.
    fn reroute(
        &self,
        ips: &[IpAddr],
        to: &ServerAddresses,
    ) -> impl Future<Output = Result<(), RouteError>> + Send;

    /// Routes `ips` back to their own server `home`, and stops any other server
    /// answering for them.
    fn restore(
        &self,
        ips: &[IpAddr],
        home: &ServerAddresses,
    ) -> impl Future<Output = Result<(), RouteError>> + Send;
}
