//! The network service's settings ([`NetworkArgs`], from flags or environment
//! variables): its zones' TTLs and mail exchangers, its DNS server's address and
//! names, its redirect's address, upstream port and hold, and the router it drives.

use crate::dns::DnsSettings;
use crate::domain::records::ZoneSettings;
use crate::redirect::RedirectSettings;
use crate::router::ConfiguredRouter;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        network: NetworkArgs,
    }

    fn parse(args: &[&str]) -> NetworkArgs {
        let mut all = vec!["ferry"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses").network
    }

    #[test]
    fn the_defaults_serve_the_example_provider_on_local_ports() {
        let args = parse(&[]);
        assert_eq!(args.dns_addr.to_string(), "127.0.0.1:15353");
        assert_eq!(args.redirect_addr.to_string(), "127.0.0.1:18081");
        let zones = args.zone_settings().expect("valid");
        assert_eq!((zones.ttl_secs, zones.lowered_ttl_secs), (3_600, 60));
        assert_eq!(zones.mail_exchangers.len(), 2);
        assert_eq!(
            args.redirect_settings().hold_timeout,
            Duration::from_secs(30)
        );
        assert!(
            args.check().is_ok(),
            "no router: reroutes are parked, not refused"
        );
    }

    #[test]
    fn bad_names_are_refused_before_anything_starts() {
        let bad = parse(&["--mail-exchangers", "mx1.example,bad name"]);
        assert!(bad.check().expect_err("refused").contains("bad name"));
        let bad = parse(&["--dns-hostmaster=-x.example"]);
        assert!(bad.check().expect_err("refused").contains("-x.example"));
        let missing = parse(&["--ip-routes", "/nonexistent/routes.json"]);
        assert!(
            missing
                .check()
                .expect_err("refused")
                .contains("cannot read")
        );
        // A lowered TTL above the normal one is the normal one.
        let high = parse(&["--dns-ttl-secs", "30"]);
        assert_eq!(high.zone_settings().expect("valid").lowered_ttl_secs, 30);
    }
}
