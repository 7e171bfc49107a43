//! Printing API answers: JSON with `--json`, text for people otherwise.

use crate::fleet::Imported;
// The read side words durations in its audits; the CLI words them the same way.
use ferry_migration_state::narrate::duration;
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
        .or_else(|| server.pointer("/server/open_migration_id"))
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
    println!(
        "optional migration {} scheduled",
        text(reply, "optional_migration_id")
    );
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
            println!(
                "{:<22} {:<12} {}",
                item.kind,
                item.id,
                item.events.join(", ")
            );
        }
    }
    let changed = items.iter().filter(|i| !i.events.is_empty()).count();
    println!("{} item(s), {changed} changed", items.len());
    Ok(())
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn number(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}

/// A table with a header, columns padded to their widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn step_of(value: &Value) -> String {
    value
        .get("step")
        .and_then(Value::as_u64)
        .map_or("-".into(), |s| s.to_string())
}

/// Server list.
pub fn servers(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    let rows = array(value)
        .iter()
        .map(|s| {
            vec![
                text(s, "server_id").into(),
                text(s, "name").into(),
                text(s, "customer_id").into(),
                text(s, "configuration").into(),
                text(s, "infrastructure_version").into(),
                step_of(s),
                text(s, "state").into(),
            ]
        })
        .collect();
    table(
        &[
            "SERVER",
            "NAME",
            "CUSTOMER",
            "CONFIGURATION",
            "VERSION",
            "STEP",
            "STATE",
        ],
        rows,
    );
    Ok(())
}

fn migration_lines(migration: &Value) {
    println!(
        "migration {}: {} (step {})",
        text(migration, "migration_id"),
        text(migration, "state"),
        step_of(migration)
    );
    if let Some(position) = number(migration, "/queue_position") {
        println!("  waiting for a transit server: position {position} in line");
    }
    if let Some(transit) = migration.get("transit").filter(|t| !t.is_null()) {
        println!(
            "  transit server {} since {}",
            text(transit, "transit_server_id"),
            text(transit, "since")
        );
    }
    if let Some(loan) = migration.get("loan").filter(|l| !l.is_null()) {
        println!(
            "  loan: {} day(s) used of {} free, {} billable",
            number(loan, "/days_used").unwrap_or(0),
            number(loan, "/free_period_days").unwrap_or(0),
            number(loan, "/billable_days").unwrap_or(0)
        );
    }
    println!(
        "  downtime so far: {}",
        duration(number(migration, "/downtime_ms").unwrap_or(0))
    );
    let rows = array(&migration["accounts"])
        .iter()
        .map(|a| {
            let test = match a.get("test_address").and_then(Value::as_str) {
                Some(address) => format!("{} ({address})", text(a, "test")),
                None => text(a, "test").into(),
            };
            let transfer = a
                .get("current_transfer")
                .filter(|t| !t.is_null())
                .map(|t| {
                    let (done, total) = (
                        number(t, "/bytes_done").unwrap_or(0),
                        number(t, "/bytes_total").unwrap_or(0),
                    );
                    let percent = (done * 100).checked_div(total).unwrap_or(0);
                    format!("{} {} {percent}%", text(t, "kind"), text(t, "phase"))
                })
                .unwrap_or_default();
            vec![
                text(a, "account_id").into(),
                text(a, "name").into(),
                text(a, "state").into(),
                test,
                duration(number(a, "/downtime_ms").unwrap_or(0)),
                transfer,
            ]
        })
        .collect();
    table(
        &["ACCOUNT", "NAME", "STATE", "TEST", "DOWNTIME", "TRANSFER"],
        rows,
    );
}

/// One server.
pub fn server(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    let server = &value["server"];
    println!(
        "{} {} ({}, {}, {}) customer {}",
        text(server, "server_id"),
        text(server, "name"),
        text(server, "kind"),
        text(server, "configuration"),
        text(server, "infrastructure_version"),
        text(server, "customer_id"),
    );
    let rows = array(&server["accounts"])
        .iter()
        .map(|entry| {
            let a = &entry["account"];
            let languages: Vec<String> = array(&a["languages"])
                .iter()
                .map(|l| format!("{} {}", text(l, "language"), text(l, "version")))
                .collect();
            vec![
                text(a, "account_id").into(),
                text(a, "name").into(),
                array(&a["databases"]).len().to_string(),
                array(&a["domains"]).len().to_string(),
                languages.join(", "),
            ]
        })
        .collect();
    table(
        &["ACCOUNT", "NAME", "DATABASES", "DOMAINS", "LANGUAGES"],
        rows,
    );
    match value.get("migration").filter(|m| !m.is_null()) {
        Some(migration) => migration_lines(migration),
        None => println!("no migration in progress"),
    }
    Ok(())
}

/// One migration.
pub fn migration(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    migration_lines(value);
    Ok(())
}

/// A compatibility report.
pub fn compatibility(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    for account in array(value) {
        let issues = array(&account["issues"]);
        if issues.is_empty() {
            println!(
                "{} ({}): compatible",
                text(account, "account_id"),
                text(account, "name")
            );
            continue;
        }
        println!(
            "{} ({}):",
            text(account, "account_id"),
            text(account, "name")
        );
        for issue in issues {
            println!("  - [{}] {}", text(issue, "kind"), text(issue, "detail"));
        }
    }
    Ok(())
}

/// An audit timeline.
pub fn audit(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    for entry in array(&value["entries"]) {
        let actor = format!(
            "{}:{}",
            text(&entry["actor"], "role"),
            text(&entry["actor"], "id")
        );
        let downtime = number(entry, "/downtime_ms")
            .map(|ms| format!(" [downtime {}]", duration(ms)))
            .unwrap_or_default();
        println!(
            "{:>6}  {}  {:<22} {}{downtime}",
            number(entry, "/sequence").unwrap_or(0),
            text(entry, "occurred_at"),
            actor,
            text(entry, "summary"),
        );
    }
    Ok(())
}

/// A server's downtime estimates.
pub fn estimates(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    let mib = |bytes: u64| format!("{} MiB", bytes / (1 << 20));
    let rows = array(&value["accounts"])
        .iter()
        .map(|a| {
            let databases: Vec<String> = array(&a["databases"])
                .iter()
                .map(|d| {
                    format!(
                        "{} ({}, {}, {})",
                        text(d, "name"),
                        text(d, "engine"),
                        mib(number(d, "/size_bytes").unwrap_or(0)),
                        text(d, "method").replace('_', " ")
                    )
                })
                .collect();
            vec![
                text(a, "account_id").into(),
                mib(number(a, "/tree_bytes").unwrap_or(0)),
                if databases.is_empty() {
                    "-".into()
                } else {
                    databases.join(", ")
                },
                duration(number(a, "/estimated_downtime_ms").unwrap_or(0)),
            ]
        })
        .collect();
    table(&["ACCOUNT", "FILES+MAILS", "DATABASES", "DOWNTIME"], rows);
    println!(
        "based on {} measured cutover(s)",
        number(value, "/measured_cutovers").unwrap_or(0)
    );
    Ok(())
}

/// Optional migrations.
pub fn optional_list(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    let rows = array(value)
        .iter()
        .map(|o| {
            vec![
                text(o, "optional_migration_id").into(),
                text(o, "server_id").into(),
                format!(
                    "{} {} → {}",
                    text(o, "service"),
                    text(o, "from_version"),
                    text(o, "to_version")
                ),
                text(o, "scheduled_for").into(),
                text(o, "state").into(),
                number(o, "/downtime_ms").map(duration).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["ID", "SERVER", "SERVICE", "NOT BEFORE", "STATE", "DOWNTIME"],
        rows,
    );
    Ok(())
}

/// Transit servers.
pub fn transit_servers(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    let rows = array(value)
        .iter()
        .map(|t| {
            vec![
                text(t, "transit_server_id").into(),
                text(t, "name").into(),
                text(t, "configuration").into(),
                text(t, "state").into(),
                text(t, "since").into(),
                text(t, "client_server_id").into(),
            ]
        })
        .collect();
    table(
        &[
            "TRANSIT",
            "NAME",
            "CONFIGURATION",
            "STATE",
            "SINCE",
            "CLIENT",
        ],
        rows,
    );
    Ok(())
}

/// Transit queues.
pub fn queues(value: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    for queue in array(value) {
        let free: Vec<&str> = array(&queue["free_transit_servers"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{}: {} waiting, free: {}",
            text(queue, "configuration"),
            array(&queue["waiting"]).len(),
            if free.is_empty() {
                "none".to_owned()
            } else {
                free.join(", ")
            }
        );
        for waiting in array(&queue["waiting"]) {
            println!(
                "  {}. {} (migration {}) since {}",
                number(waiting, "/position").unwrap_or(0),
                text(waiting, "client_server_id"),
                text(waiting, "migration_id"),
                text(waiting, "requested_at")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_migration_is_found_in_a_server_answer() {
        let id = Uuid::now_v7();
        let answer = serde_json::json!({ "server": {}, "migration": { "migration_id": id } });
        assert_eq!(current_migration_id(&answer), Some(id));
        assert_eq!(
            current_migration_id(&serde_json::json!({ "migration": null })),
            None
        );
    }
}
