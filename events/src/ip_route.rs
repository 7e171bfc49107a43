//! Events of the routing of a client server's IP addresses (aggregate `ip_route`,
//! written by the network service). Aggregate id: the client server id.
//!
//! While the client server is reinstalled (step 6) its IPs are rerouted to the
//! transit server: about a minute of unavailability, none for domains on the
//! provider's DNS, which already point at the transit server.

use serde::{Deserialize, Serialize};

/// Rerouting the server's IPs to another server began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRerouteStarted {
    /// The IPs rerouted (IPv4 dotted decimal, IPv6 RFC 5952).
    pub ips: Vec<String>,
    /// The server receiving them (the transit server).
    pub to_server_id: String,
}

/// The server's IPs now reach another server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpsRerouted {
    /// The IPs rerouted.
    pub ips: Vec<String>,
    /// The server receiving them (the transit server).
    pub to_server_id: String,
    /// Measured time the IPs answered nowhere, in milliseconds.
    pub unavailability_ms: u64,
}

/// The IPs reach their own server again (after its reinstallation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRoutesRestored {
    /// The IPs restored.
    pub ips: Vec<String>,
    /// Measured time the IPs answered nowhere, in milliseconds.
    pub unavailability_ms: u64,
}

aggregate_events! {
    /// An event of a client server's IP routing (aggregate `ip_route`).
    pub enum IpRouteEvent for IpRoute {
        IpRerouteStarted = 1,
        IpsRerouted = 1,
        IpRoutesRestored = 1,
    }
}
