//! ferry network service: owns where traffic goes. DNS zones of the domains on the
//! provider's DNS (aggregate `dns_zone`), where each account's traffic goes
//! (aggregate `account_traffic`: DNS records switched, the client server's
//! transparent redirect) and the rerouting of a client server's IPs while it is
//! reinstalled (aggregate `ip_route`).

pub use ferry_network_domain as domain;
pub mod dns;
pub mod live;
pub mod reactions;
pub mod redirect;
pub mod router;
pub mod routes;
pub mod service;

use crate::domain::policy::NetworkPolicy;
use crate::domain::records::ZoneSettings;
use crate::reactions::NetworkExecutor;
use crate::router::ConfiguredRouter;
use crate::service::Network;
use ferry_infra::runtime::Runtime;
use std::path::PathBuf;
use std::sync::Arc;

/// Settings of the network service, from flags or environment variables.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkArgs {
    /// TTL of the provider's zones' records outside migrations, in seconds.
    #[arg(
        long = "dns-ttl-secs",
        env = "FERRY_DNS_TTL_SECS",
        default_value_t = 3_600,
        value_parser = clap::value_parser!(u32).range(1..=604_800)
    )]
    pub ttl_secs: u32,
    /// TTL of a migrating server's address records (lowered when its transit server
    /// is requested, so that each switch reaches resolvers within it), in seconds.
    #[arg(
        long = "dns-lowered-ttl-secs",
        env = "FERRY_DNS_LOWERED_TTL_SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..=86_400)
    )]
    pub lowered_ttl_secs: u32,
    /// The provider's mail exchangers after the server itself (`MX 10`, `MX 20`, …),
    /// comma-separated.
    #[arg(
        long = "mail-exchangers",
        env = "FERRY_MAIL_EXCHANGERS",
        value_delimiter = ',',
        default_value = "mx1.hosting.example,mx2.hosting.example"
    )]
    pub mail_exchangers: Vec<String>,
    /// The description of the provider's router (JSON: router, probes, each server's
    /// next hop), for rerouting client servers' IPs during their reinstallation.
    /// Unset: reroutes fail visibly (parked reactions), the rest goes on.
    #[arg(long = "ip-routes", env = "FERRY_IP_ROUTES")]
    pub ip_routes: Option<PathBuf>,
}

impl NetworkArgs {
    /// The zone settings these arguments describe, checked.
    pub fn zone_settings(&self) -> Result<ZoneSettings, String> {
        for exchanger in &self.mail_exchangers {
            if !is_host_name(exchanger) {
                return Err(format!("mail exchanger {exchanger:?} is not a host name"));
            }
        }
        Ok(ZoneSettings {
            ttl_secs: self.ttl_secs,
            lowered_ttl_secs: self.lowered_ttl_secs.min(self.ttl_secs),
            mail_exchangers: self.mail_exchangers.clone(),
        })
    }

    /// Refuses bad settings before anything starts.
    pub fn check(&self) -> Result<(), String> {
        self.zone_settings()?;
        ConfiguredRouter::from_file(self.ip_routes.as_deref())?;
        Ok(())
    }
}

/// Whether `name` is a DNS host name (letters, digits and `-` in dot-separated
/// labels of at most 63, 253 in all).
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Starts the network service in `runtime`: its policy (view, reactor) runs until
/// `runtime.shutdown`.
pub fn service(runtime: &Runtime, args: &NetworkArgs) -> Result<(), String> {
    let zones = args.zone_settings()?;
    let router = ConfiguredRouter::from_file(args.ip_routes.as_deref())?;
    let network = Network::new(runtime.log.clone());
    let executor = NetworkExecutor::new(network, zones, Arc::new(router));
    runtime.spawn_policy::<NetworkPolicy, _>(executor);
    Ok(())
}
