//! ferry network service: owns where traffic goes. DNS zones of the domains on the
//! provider's DNS (aggregate `dns_zone`), where each account's traffic goes
//! (aggregate `account_traffic`: DNS records switched, the client server's
//! transparent redirect) and the rerouting of a client server's IPs while it is
//! reinstalled (aggregate `ip_route`).

pub use ferry_network_domain as domain;

pub mod dns;
