//! The Linux backend: models the provider's router and the transit server with
//! network namespaces, driving iproute2 (`ip`) and nftables (`nft`).
//!
//! - The router (namespace [`LinuxRoutesSettings::router_namespace`]) owns a /32
//!   (/128) host route for each client address, via the client server's own
//!   address. Rerouting replaces that route's next hop with the transit server's
//!   address (`ip route replace`, atomic for the router: no moment without a
//!   route); restoring puts the client server back.
//! - The receiving server must accept packets for an address that is not its own.
//!   It gets a DNAT to its own address (table `inet ferry_reroute`, a set of the
//!   rerouted addresses per family), not the address on its loopback: its
//!   services keep listening on its own addresses only, the foreign address
//!   never becomes local to it (it never answers ARP/NDP for it on a shared
//!   segment, never conflicts with the client server coming back), and taking
//!   it back is one element out of a set. Replies get the client address back
//!   as their source through conntrack.
//!
//! Order keeps the unavailability down: the receiver accepts before the route
//! points at it, and the route leaves it before it stops accepting.
//!
//! # On one machine
//!
//! A setup script builds the provider's side in namespaces (as root; the host's
//! own routes are never touched), here one client and one transit server:
//!
//! ```text
//! for ns in ferry-router ferry-internet ferry-client-1 ferry-transit-1; do
//!     ip netns add $ns && ip -n $ns link set lo up
//!     # no duplicate address detection: it delays IPv6 neighbor discovery by seconds
//!     ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
//! done
//! ip netns exec ferry-router sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
//! # subnet 1: client-1, 2: transit-1, 9: the internet (probes come from there)
//! for link in client-1:1 transit-1:2 internet:9; do
//!     peer=ferry-${link%:*} dev=to-${link%:*} n=${link#*:}
//!     ip -n ferry-router link add $dev type veth peer name eth0 netns $peer
//!     # links up before their addresses (else the first IPv6 solicitation is lost)
//!     ip -n ferry-router link set $dev up && ip -n $peer link set eth0 up
//!     ip -n ferry-router addr add 10.0.$n.1/24 dev $dev
//!     ip -n ferry-router addr add fd00:$n::1/64 dev $dev nodad
//!     ip -n $peer addr add 10.0.$n.2/24 dev eth0
//!     ip -n $peer addr add fd00:$n::2/64 dev eth0 nodad
//!     ip -n $peer route add default via 10.0.$n.1
//!     ip -n $peer -6 route add default via fd00:$n::1
//! done
//! # the client's addresses, routed by the router to it
//! ip -n ferry-client-1 addr add 198.51.100.10/32 dev lo
//! ip -n ferry-client-1 addr add 2001:db8:100::10/128 dev lo
//! ip -n ferry-router route add 198.51.100.10/32 via 10.0.1.2 dev to-client-1
//! ip -n ferry-router route add 2001:db8:100::10/128 via fd00:1::2 dev to-client-1
//! # something answering on port 80 on both servers (the transit's on its own
//! # addresses is enough), e.g.
//! ip netns exec ferry-client-1 python3 -m http.server 80 --bind :: &
//! ip netns exec ferry-transit-1 python3 -m http.server 80 --bind 10.0.2.2 &
//! ip netns exec ferry-transit-1 python3 -m http.server 80 --bind fd00:2::2 &
//! ```
//!
//! (`ip netns del` of the four namespaces undoes it all.) ferry's settings are
//! then those of the `single_machine_settings` test below; the address table
//! has `client-1` (addresses `10.0.1.2`/`fd00:1::2`, client addresses
//! `198.51.100.10`, `2001:db8:100::10`) and `transit-1` (`10.0.2.2`/`fd00:2::2`).

use std::net::IpAddr;

use serde::Deserialize;
use tokio::process::Command;

use super::{
    InterfaceName, NamespaceName, RouteBackend, RouteError, ServerAddresses, check_rerouted_address,
};

/// The nftables table (family `inet`) holding the receiving server's DNAT.
const NFT_TABLE: &str = "ferry_reroute";

/// Where the Linux backend runs its commands.
#[derive(Debug, Clone, Deserialize)]
pub struct LinuxRoutesSettings {
    /// The namespace of the router that owns the client addresses' host routes.
    pub router_namespace: NamespaceName,
    /// The servers linked to the router: next hops of the routed addresses.
    /// Every server that may receive rerouted addresses must be here with its
    /// namespace.
    pub servers: Vec<LinkedServer>,
}

/// A server linked to the router.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkedServer {
    /// Its own addresses, next hops of the addresses routed to it.
    pub addresses: ServerAddresses,
    /// The router's interface towards it; `None` lets the kernel pick the
    /// interface from the next hop.
    #[serde(default)]
    pub router_device: Option<InterfaceName>,
    /// Its namespace, where it is made to accept rerouted addresses; `None` for
    /// a server that never receives another server's addresses.
    #[serde(default)]
    pub namespace: Option<NamespaceName>,
}

/// The Linux backend (see the module documentation).
#[derive(Debug, Clone)]
pub struct LinuxRoutes {
    settings: LinuxRoutesSettings,
}

impl LinuxRoutes {
    /// A backend running its commands as `settings` say. Refuses servers with an
    /// unusable address.
    pub fn new(settings: LinuxRoutesSettings) -> Result<Self, RouteError> {
        for server in &settings.servers {
            for ip in server_ips(&server.addresses) {
                check_rerouted_address(ip)?;
            }
        }
        Ok(Self { settings })
    }

    /// The settings.
    pub fn settings(&self) -> &LinuxRoutesSettings {
        &self.settings
    }

    /// The linked server with one of `addresses` (the address table may know
    /// fewer of a server's addresses than the settings, or the other way round).
    fn linked(&self, addresses: &ServerAddresses) -> Option<&LinkedServer> {
        self.settings
            .servers
            .iter()
            .find(|server| server_ips(addresses).any(|ip| server.addresses.contains(ip)))
    }

    /// The host route changes `ip route replace <ip>/<len> via <next hop>`,
    /// checked: all of them are refused before any runs if one is wrong.
    fn route_commands(
        &self,
        ips: &[IpAddr],
        next_hops: &ServerAddresses,
    ) -> Result<Vec<Vec<String>>, RouteError> {
        for ip in server_ips(next_hops) {
            check_rerouted_address(ip)?;
        }
        let device = self
            .linked(next_hops)
            .and_then(|server| server.router_device.as_ref());
        let mut commands = Vec::with_capacity(ips.len());
        for &ip in ips {
            check_rerouted_address(ip)?;
            if next_hops.contains(ip) {
                return Err(RouteError::UnusableAddress {
                    ip,
                    reason: "it is the next hop's own address",
                });
            }
            let next_hop = next_hops.same_family_as(ip).ok_or(RouteError::NoNextHop {
                ip,
                family: family_name(ip),
            })?;
            let (family, prefix) = match ip {
                IpAddr::V4(_) => ("-4", 32),
                IpAddr::V6(_) => ("-6", 128),
            };
            let mut args = vec![
                "-n".to_owned(),
                self.settings.router_namespace.to_string(),
                family.to_owned(),
                "route".to_owned(),
                "replace".to_owned(),
                format!("{ip}/{prefix}"),
                "via".to_owned(),
                next_hop.to_string(),
            ];
            if let Some(device) = device {
                args.extend(["dev".to_owned(), device.to_string()]);
            }
            commands.push(args);
        }
        Ok(commands)
    }

    async fn route(&self, commands: Vec<Vec<String>>) -> Result<(), RouteError> {
        for args in commands {
            run("ip", &args).await?;
        }
        Ok(())
    }

    /// Makes the server in `namespace` (with addresses `own`) accept `accept`
    /// and no longer accept `drop`, in one nftables transaction.
    async fn set_accepted(
        &self,
        namespace: &NamespaceName,
        own: &ServerAddresses,
        accept: &[IpAddr],
        drop: &[IpAddr],
    ) -> Result<(), RouteError> {
        // One nft argument holding `;`-separated commands: nft's own language,
        // not a shell, so the whole change is one atomic transaction. Every
        // interpolated value is a typed address or a constant.
        let mut script = vec![
            format!("add table inet {NFT_TABLE}"),
            format!("add set inet {NFT_TABLE} rerouted_v4 {{ type ipv4_addr; }}"),
            format!("add set inet {NFT_TABLE} rerouted_v6 {{ type ipv6_addr; }}"),
            format!(
                "add chain inet {NFT_TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}"
            ),
            // The rules are rewritten each time (the sets are kept), so that they
            // always DNAT to the server's current addresses, once.
            format!("flush chain inet {NFT_TABLE} prerouting"),
        ];
        if let Some(v4) = own.ipv4 {
            script.push(format!(
                "add rule inet {NFT_TABLE} prerouting ip daddr @rerouted_v4 dnat ip to {v4}"
            ));
        }
        if let Some(v6) = own.ipv6 {
            script.push(format!(
                "add rule inet {NFT_TABLE} prerouting ip6 daddr @rerouted_v6 dnat ip6 to {v6}"
            ));
        }
        for &ip in accept {
            script.push(format!(
                "add element inet {NFT_TABLE} {} {{ {ip} }}",
                set_of(ip)
            ));
        }
        for &ip in drop {
            // Adding first makes the deletion succeed whether or not the address
            // was there: restoring what is not rerouted is fine.
            script.push(format!(
                "add element inet {NFT_TABLE} {} {{ {ip} }}",
                set_of(ip)
            ));
            script.push(format!(
                "delete element inet {NFT_TABLE} {} {{ {ip} }}",
                set_of(ip)
            ));
        }
        let args = vec![
            "netns".to_owned(),
            "exec".to_owned(),
            namespace.to_string(),
            "nft".to_owned(),
            script.join("; "),
        ];
        run("ip", &args).await
    }

    /// Stops every server with a namespace, except `except`, accepting `ips`.
    async fn drop_elsewhere(
        &self,
        ips: &[IpAddr],
        except: Option<&NamespaceName>,
    ) -> Result<(), RouteError> {
        for server in &self.settings.servers {
            if let Some(namespace) = &server.namespace
                && Some(namespace) != except
            {
                self.set_accepted(namespace, &server.addresses, &[], ips)
                    .await?;
            }
        }
        Ok(())
    }
}

impl RouteBackend for LinuxRoutes {
    async fn reroute(&self, ips: &[IpAddr], to: &ServerAddresses) -> Result<(), RouteError> {
        let routes = self.route_commands(ips, to)?;
        let receiver = self
            .linked(to)
            .and_then(|server| server.namespace.as_ref())
            .ok_or_else(|| RouteError::UnknownReceiver(to.to_string()))?;
        self.set_accepted(receiver, to, ips, &[]).await?;
        self.route(routes).await?;
        // A previous reroute to another server leaves nothing behind.
        self.drop_elsewhere(ips, Some(receiver)).await
    }

    async fn restore(&self, ips: &[IpAddr], home: &ServerAddresses) -> Result<(), RouteError> {
        let routes = self.route_commands(ips, home)?;
        self.route(routes).await?;
        self.drop_elsewhere(ips, None).await
    }
}

fn server_ips(addresses: &ServerAddresses) -> impl Iterator<Item = IpAddr> {
    addresses
        .ipv4
        .map(IpAddr::V4)
        .into_iter()
        .chain(addresses.ipv6.map(IpAddr::V6))
}

fn family_name(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

fn set_of(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "rerouted_v4",
        IpAddr::V6(_) => "rerouted_v6",
    }
}

/// Runs `program args` (no shell), failing with the command line and its stderr.
async fn run(program: &str, args: &[String]) -> Result<(), RouteError> {
    let command_line = || format!("{program} {}", args.join(" "));
    tracing::debug!(command = %command_line(), "routes: running");
    let output = Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| RouteError::Spawn {
            command: command_line(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(RouteError::Command {
        command: command_line(),
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ProbeSettings;

    /// The settings of a single-machine `ferry up` (see the module documentation).
    const SINGLE_MACHINE_ROUTES: &str = r#"{
        "router_namespace": "ferry-router",
        "servers": [
            {
                "addresses": { "ipv4": "10.0.1.2", "ipv6": "fd00:1::2" },
                "router_device": "to-client-1"
            },
            {
                "addresses": { "ipv4": "10.0.2.2", "ipv6": "fd00:2::2" },
                "router_device": "to-transit-1",
                "namespace": "ferry-transit-1"
            }
        ]
    }"#;

    const SINGLE_MACHINE_PROBES: &str = r#"{
        "namespace": "ferry-internet",
        "port": 80,
        "interval_ms": 10,
        "connect_timeout_ms": 500,
        "timeout_ms": 180000
    }"#;

    #[test]
    fn single_machine_settings() {
        let settings: LinuxRoutesSettings =
            serde_json::from_str(SINGLE_MACHINE_ROUTES).expect("routes settings");
        let routes = LinuxRoutes::new(settings).expect("usable addresses");
        let commands = routes
            .route_commands(
                &["198.51.100.10".parse().expect("address")],
                &routes.settings().servers[1].addresses,
            )
            .expect("commands");
        assert_eq!(
            commands,
            vec![
                "-n ferry-router -4 route replace 198.51.100.10/32 via 10.0.2.2 dev to-transit-1"
                    .split(' ')
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            ]
        );
        let probes: ProbeSettings = serde_json::from_str(SINGLE_MACHINE_PROBES).expect("probes");
        assert_eq!(probes.timeout, std::time::Duration::from_secs(180));
    }

    #[test]
    fn hostile_names_in_settings_are_refused() {
        let hostile = SINGLE_MACHINE_ROUTES.replace("to-transit-1", "eth0 && reboot");
        assert!(serde_json::from_str::<LinuxRoutesSettings>(&hostile).is_err());
        let loopback = SINGLE_MACHINE_ROUTES.replace("10.0.2.2", "127.0.0.1");
        let settings: LinuxRoutesSettings = serde_json::from_str(&loopback).expect("parses");
        assert!(matches!(
            LinuxRoutes::new(settings),
            Err(RouteError::UnusableAddress { .. })
        ));
    }
}
