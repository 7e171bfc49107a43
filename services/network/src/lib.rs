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

use crate::dns::{DnsSettings, ZoneStore};
use crate::domain::policy::NetworkPolicy;
use crate::domain::records::ZoneSettings;
use crate::reactions::NetworkExecutor;
use crate::redirect::{RedirectSettings, RedirectTable};
use crate::router::ConfiguredRouter;
use crate::service::Network;
use ferry_infra::runtime::Runtime;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    /// Where the provider's authoritative DNS answers, over UDP and TCP.
    #[arg(
        long = "dns-addr",
        env = "FERRY_DNS_ADDR",
        default_value = "127.0.0.1:15353"
    )]
    pub dns_addr: SocketAddr,
    /// The provider's name servers (NS of every zone; the first is the SOA's),
    /// comma-separated.
    #[arg(
        long = "dns-name-servers",
        env = "FERRY_DNS_NAME_SERVERS",
        value_delimiter = ',',
        default_value = "ns1.hosting.example,ns2.hosting.example"
    )]
    pub name_servers: Vec<String>,
    /// The zones' hostmaster mailbox, as a host name (SOA RNAME).
    #[arg(
        long = "dns-hostmaster",
        env = "FERRY_DNS_HOSTMASTER",
        default_value = "hostmaster.hosting.example"
    )]
    pub hostmaster: String,
    /// Where the client servers' transparent redirect listens (HTTP).
    #[arg(
        long = "redirect-addr",
        env = "FERRY_REDIRECT_ADDR",
        default_value = "127.0.0.1:18081"
    )]
    pub redirect_addr: SocketAddr,
    /// The port of each server's web front, where the redirect forwards.
    #[arg(
        long = "redirect-upstream-port",
        env = "FERRY_REDIRECT_UPSTREAM_PORT",
        default_value_t = 80
    )]
    pub upstream_port: u16,
    /// How long the redirect holds an account's requests during its cutover before
    /// answering 503 (with `Retry-After`), in seconds.
    #[arg(
        long = "redirect-hold-secs",
        env = "FERRY_REDIRECT_HOLD_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub hold_secs: u64,
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
        self.dns_settings()?;
        ConfiguredRouter::from_file(self.ip_routes.as_deref())?;
        Ok(())
    }

    /// The DNS server's settings, checked.
    pub fn dns_settings(&self) -> Result<DnsSettings, String> {
        if self.name_servers.is_empty() {
            return Err("at least one DNS name server is needed".into());
        }
        for name in self.name_servers.iter().chain([&self.hostmaster]) {
            if !is_host_name(name) {
                return Err(format!("{name:?} is not a host name"));
            }
        }
        Ok(DnsSettings::new(
            self.name_servers.clone(),
            self.hostmaster.clone(),
        ))
    }

    /// The redirect's settings.
    pub fn redirect_settings(&self) -> RedirectSettings {
        RedirectSettings {
            hold_timeout: Duration::from_secs(self.hold_secs),
            ..RedirectSettings::default()
        }
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

/// Starts the network service in `runtime`: its policy (view, reactor), its DNS
/// server and its redirect (listening before this returns, so that a taken port
/// stops `ferry up` at once) and the live state they serve, followed from the log.
/// All run until `runtime.shutdown`.
pub async fn service(runtime: &Runtime, args: &NetworkArgs) -> Result<(), String> {
    let zones = args.zone_settings()?;
    let dns = args.dns_settings()?;
    let router = ConfiguredRouter::from_file(args.ip_routes.as_deref())?;
    let udp = tokio::net::UdpSocket::bind(args.dns_addr)
        .await
        .map_err(|e| format!("the DNS server cannot listen on UDP {}: {e}", args.dns_addr))?;
    // Port 0 picks one for UDP; TCP takes the same, as resolvers expect.
    let dns_addr = udp.local_addr().map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpListener::bind(dns_addr)
        .await
        .map_err(|e| format!("the DNS server cannot listen on TCP {dns_addr}: {e}"))?;
    let front = tokio::net::TcpListener::bind(args.redirect_addr)
        .await
        .map_err(|e| format!("the redirect cannot listen on {}: {e}", args.redirect_addr))?;
    let redirect_addr = front.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(dns = %dns_addr, redirect = %redirect_addr, "network service listening");

    let network = Network::new(runtime.log.clone());
    let executor = NetworkExecutor::new(network, zones, Arc::new(router));
    runtime.spawn_policy::<NetworkPolicy, _>(executor);

    let served = live::Served {
        zones: ZoneStore::new(),
        redirect: RedirectTable::new(),
        upstream_port: args.upstream_port,
        in_flight_bound: Duration::from_secs(5),
    };
    let shutdown = runtime.shutdown.clone();
    runtime.spawn(
        "dns",
        dns::serve(served.zones.clone(), dns, udp, tcp, shutdown.clone()),
    );
    runtime.spawn(
        "redirect",
        redirect::serve(
            front,
            served.redirect.clone(),
            args.redirect_settings(),
            shutdown.clone(),
        ),
    );
    let log = runtime.log.clone();
    runtime.spawn("network_live", async move {
        live::follow(log, served, CancellationToken::new(), shutdown).await;
        Ok::<(), std::convert::Infallible>(())
    });
    Ok(())
}
