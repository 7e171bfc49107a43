//! Fleet files: a whole fleet (target versions, client servers with their accounts,
//! transit servers) in YAML or JSON, imported through the API. Every item is a
//! register-or-update: importing the same file again changes nothing.

use crate::client::Api;
use anyhow::{Context, anyhow};
use ferry_accounts::routes::{ServerRegistration, TargetRegistration};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// A fleet file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Infrastructure versions and what they support.
    #[serde(default)]
    pub target_infrastructures: Vec<FleetTarget>,
    /// Client servers with their accounts.
    #[serde(default)]
    pub servers: Vec<FleetServer>,
    /// Transit servers of the pool.
    #[serde(default)]
    pub transit_servers: Vec<FleetTransitServer>,
}

/// One infrastructure version.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FleetTarget {
    /// e.g. `v2026`.
    pub version: String,
    /// What it supports.
    #[serde(flatten)]
    pub support: TargetRegistration,
}

/// One client server.
#[derive(Debug, Clone, Deserialize, Serialize)]
// Read through a map: serde cannot refuse unknown fields of a flattened struct, and
// a misspelt field must not be dropped quietly.
#[serde(try_from = "serde_json::Map<String, Value>")]
pub struct FleetServer {
    /// e.g. `srv-0042`.
    pub server_id: String,
    /// The rest of its registration.
    #[serde(flatten)]
    pub registration: ServerRegistration,
}

impl TryFrom<serde_json::Map<String, Value>> for FleetServer {
    type Error = String;

    fn try_from(mut entry: serde_json::Map<String, Value>) -> Result<Self, Self::Error> {
        let server_id = match entry.remove("server_id") {
            Some(Value::String(id)) => id,
            Some(other) => return Err(format!("server_id must be a string, not {other}")),
            None => return Err("missing field `server_id`".into()),
        };
        let registration = serde_json::from_value(Value::Object(entry))
            .map_err(|e| format!("server {server_id}: {e}"))?;
        Ok(Self {
            server_id,
            registration,
        })
    }
}

/// One transit server: its id and the body of `PUT /transit-servers/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FleetTransitServer {
    /// e.g. `tr-0007`.
    pub transit_server_id: String,
    /// Name, configuration, infrastructure version, addresses, storage.
    #[serde(flatten)]
    pub details: serde_json::Map<String, Value>,
}

impl Fleet {
    /// Reads a fleet file: JSON if it ends in `.json`, YAML otherwise.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, is_json).map_err(|e| unreadable(path, &e))
    }

    /// Parses a fleet file's text, JSON or YAML (what [`Fleet::read`] does once the
    /// file is read; the fuzz harness feeds it directly).
    pub fn parse(text: &str, is_json: bool) -> Result<Self, String> {
        if is_json {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
        }
    }
}

/// Longest error text shown: the parsers quote the value they refuse, and a file
/// that is not a fleet (or a secret in one) is not to be echoed whole.
const MAX_ERROR: usize = 300;

fn unreadable(path: &Path, e: &dyn std::fmt::Display) -> anyhow::Error {
    let text = e.to_string();
    let shown = match text.char_indices().nth(MAX_ERROR) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    };
    anyhow!(
        "{}: not a fleet file as ferry reads it (a mapping of target_infrastructures, \
         transit_servers and servers; see examples/fleet.yaml): {shown}",
        path.display()
    )
}

/// What importing one item did.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// `target_infrastructure`, `transit_server` or `server`.
    pub kind: &'static str,
    /// Its id.
    pub id: String,
    /// The event types recorded, empty when it was already up to date.
    pub events: Vec<String>,
}

/// Imports a fleet: versions first, then transit servers, then client servers. Stops
/// at the first refusal, naming the item; what came before stays imported, and
/// importing again after fixing the file completes it.
pub async fn import(api: &Api, fleet: &Fleet) -> anyhow::Result<Vec<Imported>> {
    let mut done = Vec::new();
    for target in &fleet.target_infrastructures {
        let reply = api
            .command(
                Method::PUT,
                &format!("/target-infrastructures/{}", target.version),
                Some(serde_json::to_value(&target.support)?),
            )
            .await
            .with_context(|| format!("target infrastructure {}", target.version))?;
        done.push(imported("target_infrastructure", &target.version, &reply));
    }
    for transit in &fleet.transit_servers {
        let reply = api
            .command(
                Method::PUT,
                &format!("/transit-servers/{}", transit.transit_server_id),
                Some(Value::Object(transit.details.clone())),
            )
            .await
            .with_context(|| format!("transit server {}", transit.transit_server_id))?;
        done.push(imported(
            "transit_server",
            &transit.transit_server_id,
            &reply,
        ));
    }
    for server in &fleet.servers {
        let reply = api
            .command(
                Method::PUT,
                &format!("/servers/{}", server.server_id),
                Some(serde_json::to_value(&server.registration)?),
            )
            .await
            .with_context(|| format!("server {}", server.server_id))?;
        done.push(imported("server", &server.server_id, &reply));
    }
    Ok(done)
}

fn imported(kind: &'static str, id: &str, reply: &Value) -> Imported {
    let events = reply
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Imported {
        kind,
        id: id.to_owned(),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_fleet_parses() -> anyhow::Result<()> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml");
        let fleet = Fleet::read(&path)?;
        assert!(!fleet.target_infrastructures.is_empty());
        assert!(fleet.servers.len() >= 2);
        assert!(fleet.transit_servers.len() >= 2);
        Ok(())
    }

    #[test]
    fn an_unknown_section_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("ferry-fleet-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join("fleet.yaml");
        std::fs::write(&path, "serverz: []\n").ok();
        let error = Fleet::read(&path).expect_err("refused");
        assert!(error.to_string().contains("serverz"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_file_that_is_no_fleet_is_refused_without_echoing_it() {
        let dir = std::env::temp_dir().join(format!("ferry-fleet-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join("passwd");
        let secret = "root:x:0:0:root:/root:/bin/bash ".repeat(40);
        std::fs::write(&path, &secret).ok();
        let error = Fleet::read(&path).expect_err("refused").to_string();
        assert!(error.contains("not a fleet file"), "{error}");
        assert!(error.len() < 600, "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The example fleet with `from` replaced by `to` once, read back.
    fn read_spoiled(from: &str, to: &str) -> anyhow::Result<anyhow::Error> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml");
        let text = std::fs::read_to_string(&path)?;
        let spoiled = text.replacen(from, to, 1);
        assert_ne!(spoiled, text, "the example holds {from:?}");
        let dir = std::env::temp_dir().join(format!("ferry-fleet-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let spoiled_path = dir.join("fleet.yaml");
        std::fs::write(&spoiled_path, spoiled)?;
        let read = Fleet::read(&spoiled_path);
        std::fs::remove_dir_all(&dir).ok();
        Ok(read.expect_err("refused"))
    }

    #[test]
    fn an_unknown_field_of_a_server_is_refused_by_name() -> anyhow::Result<()> {
        // A field no server has, inside the first server entry.
        let error = read_spoiled("customer_id: c-42", "customer_id: c-42\n    rack: b12")?;
        assert!(
            error.to_string().contains("unknown field `rack`"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn an_unknown_field_inside_an_account_its_databases_or_the_storage_is_refused_by_path()
    -> anyhow::Result<()> {
        let error = read_spoiled("files_bytes:", "file_bytes: 1\n        files_bytes:")?;
        assert!(
            error.to_string().contains("unknown field `[0].file_bytes`"),
            "{error}"
        );
        let error = read_spoiled("name: bakery_shop,", "name: bakery_shop, sise: 3,")?;
        assert!(
            error
                .to_string()
                .contains("unknown field `[0].databases[0].sise`"),
            "{error}"
        );
        let error = read_spoiled(
            "mail_root: /var/tmp/ferry-demo/srv-0042/mail",
            "mail_root: /var/tmp/ferry-demo/srv-0042/mail\n      mysql: x",
        )?;
        assert!(
            error.to_string().contains("unknown field `mysql`"),
            "{error}"
        );
        Ok(())
    }
}
