//! The errors of IP rerouting: refused input (before any command runs), a failed
//! command (named, with its stderr) and a probe that could not run.

use std::net::IpAddr;

/// Why a reroute or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A namespace or interface name that could reach a command line is malformed.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// What the name names ("namespace", "interface").
        kind: &'static str,
        /// The name refused (as given).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An address that cannot be a rerouted host address or a next hop.
    #[error("address {ip} refused: {reason}")]
    UnusableAddress {
        /// The address refused.
        ip: IpAddr,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An address that is not a client address of the address table.
    #[error("address {0} is not a client server's address in the address table")]
    NotInTable(IpAddr),
    /// A server id the address table does not know.
    #[error("server {0:?} is not in the address table")]
    UnknownServer(String),
    /// The addresses to restore belong to more than one server.
    #[error(
        "addresses {first} and {second} belong to different servers ({first_server:?}, {second_server:?})"
    )]
    SeveralHomes {
        /// An address of the first server.
        first: IpAddr,
        /// Its server.
        first_server: String,
        /// An address of another server.
        second: IpAddr,
        /// That other server.
        second_server: String,
    },
    /// Rerouting an address to the server it already belongs to.
    #[error("address {ip} already belongs to server {server:?}")]
    RerouteToOwner {
        /// The address.
        ip: IpAddr,
        /// Its own server, also the target.
        server: String,
    },
    /// The receiving server has no address of the family of a rerouted address.
    #[error("address {ip} cannot be routed to a server without an {family} address")]
    NoNextHop {
        /// The address.
        ip: IpAddr,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// The backend's settings do not describe the server that should receive the
    /// addresses (no namespace to accept them in).
    #[error("no receiving server with addresses {0} in the routes settings")]
    UnknownReceiver(String),
    /// A command could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The probes could not run (namespace not entered, runtime not built).
    #[error("probing from namespace {namespace}: {source}")]
    Probe {
        /// The namespace the probes run in ("current" for none).
        namespace: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
