//! `ferry demo seed`: the example fleet's data made real on this machine (see
//! `ferry_data_mover::demo`), so that the README's walkthrough moves real files,
//! mails and databases. Talks to no API: it writes where the fleet file says.

use crate::cli::DemoCommand;
use crate::fleet::Fleet;
use anyhow::Context;
use ferry_data_mover::demo::{self, DemoServer};
use ferry_events::ServerStorage;

/// Runs `ferry demo …`.
pub async fn run(command: DemoCommand, json: bool) -> anyhow::Result<()> {
    let DemoCommand::Seed { fleet, remove } = command;
    let file = Fleet::read(&fleet)?;
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
