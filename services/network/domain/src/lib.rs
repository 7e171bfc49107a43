//! The pure deciders and the policy of the network service: no I/O, no clock, no
//! randomness.
//!
//! - [`zone`]: one domain's zone on the provider's DNS (aggregate `dns_zone`): its
//!   records, switched with the account, their TTL lowered during a migration, and
//!   the MX advice for a domain whose DNS is elsewhere.
//! - [`traffic`]: where one account's traffic goes (aggregate `account_traffic`): the
//!   client server's transparent redirect and the switch that completes a cutover.
//! - [`route`]: the rerouting of a client server's IPs while it is reinstalled
//!   (aggregate `ip_route`).
//! - [`records`]: the records a zone is made of, from the fleet and the settings.
//! - [`policy`]: which event asks which of the above, over the service's view.
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests.

pub mod policy;
pub mod records;
pub mod route;
pub mod traffic;
pub mod zone;
