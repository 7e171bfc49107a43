//! IP rerouting (aggregate `ip_route`): while a client server is reinstalled its
//! IP addresses are routed to a transit server, and back when it is done.
//!
//! This module owns the route changes and the measure of how long each address
//! answered nowhere:
//! - [`RouteBackend`]: the route changes, idempotent (reroute, restore);
//! - [`LinuxRoutes`]: the backend that drives iproute2 and nftables in network
//!   namespaces, modelling the provider's router and the receiving server;
//! - [`Rerouter`]: checks the addresses against the [`AddressTable`], applies a
//!   change through a backend and measures each address's unavailability with
//!   TCP probes ([`ProbeSettings`]).

mod backend;
mod error;
pub mod lab;
mod linux;
mod names;
mod netns;
mod probe;
mod rerouter;

pub use backend::{RouteBackend, ServerAddresses};
pub use error::RouteError;
pub use linux::{LinkedServer, LinuxRoutes, LinuxRoutesSettings};
pub use names::{InterfaceName, NamespaceName, check_rerouted_address};
pub use netns::run_in_namespace;
pub use probe::{AddressUnavailability, ProbeSettings};
pub use rerouter::{AddressTable, RerouteReport, Rerouter, TableServer};
