//! `ferry demo seed`: the example fleet's data made real on this machine (see
//! `ferry_data_mover::demo`), so that the README's walkthrough moves real files,
//! mails and databases. `ferry demo network`: the fleet's servers on a provider
//! network in namespaces (`ferry_network::routes::lab`), so that its IP reroute is
//! real too. Talks to no API: it builds what the fleet file says.

use crate::cli::DemoCommand;
use crate::fleet::Fleet;
use anyhow::Context;
use ferry_data_mover::demo::{self, DemoServer};
use ferry_events::ServerStorage;
use ferry_network::routes::lab::{Lab, LabServer};
use std::net::IpAddr;
use std::path::Path;

/// Runs `ferry demo …`.
pub async fn run(command: DemoCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DemoCommand::Seed { fleet, remove } => seed(&fleet, remove, json).await,
        DemoCommand::Network { fleet, out } => network(&fleet, &out).await,
    }
}

/// The addresses of a fleet entry (`ipv4`, `ipv6`), checked.
fn addresses(id: &str, ipv4: &[String], ipv6: &[String]) -> anyhow::Result<Vec<IpAddr>> {
    ipv4.iter()
        .chain(ipv6)
        .map(|ip| {
            ip.parse::<IpAddr>()
                .with_context(|| format!("{id}: {ip:?} is not an IP address"))
        })
        .collect()
}

/// `ferry demo network`: the lab up until Ctrl-C.
async fn network(fleet: &Path, out: &Path) -> anyhow::Result<()> {
    let file = Fleet::read(fleet)?;
    let mut servers = Vec::new();
    for s in &file.servers {
        let ips = addresses(&s.server_id, &s.registration.ipv4, &s.registration.ipv6)?;
        servers.push(LabServer::new(&s.server_id, &ips, false));
    }
    for t in &file.transit_servers {
        let list = |family: &str| -> Vec<String> {
            t.details
                .get(family)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        };
        let ips = addresses(&t.transit_server_id, &list("ipv4"), &list("ipv6"))?;
        servers.push(LabServer::new(&t.transit_server_id, &ips, true));
    }
    let lab = Lab::up("demo", &servers, 80)
        .await
        .context("building the network lab (it needs root, iproute2 and nftables)")?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    lab.write_description(out)
        .with_context(|| format!("writing {}", out.display()))?;
    outln!(
        "{}: {} servers on a network lab (router namespace {}); start ferry with \
         FERRY_IP_ROUTES={}; Ctrl-C takes the lab down",
        fleet.display(),
        servers.len(),
        lab.router_namespace().as_str(),
        out.display()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    lab.down().await;
    outln!("network lab taken down");
    Ok(())
}

/// `ferry demo seed`.
async fn seed(fleet: &Path, remove: bool, json: bool) -> anyhow::Result<()> {
    let file = Fleet::read(fleet)?;
    let transit: Vec<(String, ServerStorage)> = file
        .transit_servers
        .iter()
        .map(|t| {
            let storage = t.details.get("storage").cloned().with_context(|| {
                format!("transit server {} has no storage", t.transit_server_id)
            })?;
            let storage: ServerStorage = serde_json::from_value(storage)
                .with_context(|| format!("transit server {}'s storage", t.transit_server_id))?;
            Ok((t.transit_server_id.clone(), storage))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut servers: Vec<DemoServer<'_>> = file
        .servers
        .iter()
        .map(|s| DemoServer {
            server_id: &s.server_id,
            storage: &s.registration.storage,
            accounts: &s.registration.accounts,
        })
        .collect();
    servers.extend(transit.iter().map(|(id, storage)| DemoServer {
        server_id: id,
        storage,
        accounts: &[],
    }));
    let (report, verb) = if remove {
        (demo::remove(&servers).await?, "removed")
    } else {
        (demo::seed(&servers).await?, "created")
    };
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "directories": report.directories,
                "databases": report.databases,
                "unchanged": report.unchanged,
            })
        );
    } else {
        let already = if remove {
            "already gone"
        } else {
            "already there"
        };
        outln!(
            "{}: {verb} {} directories and {} databases ({} {already})",
            fleet.display(),
            report.directories,
            report.databases,
            report.unchanged
        );
    }
    Ok(())
}
