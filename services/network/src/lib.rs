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
pub mod settings;

pub use settings::NetworkArgs;

use crate::dns::ZoneStore;
use crate::domain::policy::NetworkPolicy;
use crate::reactions::NetworkExecutor;
use crate::redirect::RedirectTable;
use crate::router::ConfiguredRouter;
use crate::service::Network;
use ferry_infra::runtime::Runtime;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Starts the network service in `runtime`: its policy (view, reactor), its DNS
/// server and its redirect (listening before this returns, so that a taken port
/// stops `ferry up` at once) and the live state they serve, followed from the log.
/// All run until `runtime.shutdown`.
pub async fn service(runtime: &Runtime, args: &NetworkArgs) -> Result<(), String> {
    let zones = args.zone_settings()?;
    let dns = args.dns_settings()?;
    let router = ConfiguredRouter::from_file(args.ip_routes.as_deref())?;
    let (udp, tcp) = dns::bind(args.dns_addr).await?;
    let dns_addr = udp.local_addr().map_err(|e| e.to_string())?;
    let front = tokio::net::TcpListener::bind(args.redirect_addr)
        .await
        .map_err(|e| format!("the redirect cannot listen on {}: {e}", args.redirect_addr))?;
    let redirect_addr = front.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(dns = %dns_addr, redirect = %redirect_addr, "network service listening");

    let network = Network::new(runtime.log.clone());
    let executor = NetworkExecutor::new(network.clone(), zones, Arc::new(router));
    runtime.spawn_policy::<NetworkPolicy, _>(executor);

    let served = live::Served {
        zones: ZoneStore::new(),
        redirect: RedirectTable::new(),
        upstream_port: args.upstream_port,
        in_flight_bound: Duration::from_secs(5),
        network: Some(network),
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
