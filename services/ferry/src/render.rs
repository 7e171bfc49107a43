//! Printing API answers: with `--json`, the JSON exactly as the API answered it;
//! otherwise text for people, from the answer read as its response type.
//!
//! The read side's answers are `ferry_migration_state`'s response types, command
//! replies those of the accounts service and the transit pool. Two answers are read
//! through mirrors here, their types not being `Deserialize`:
//! [`AccountCompatibility`] and [`ServerEstimates`] (a test checks that the mirrors
//! read what the real types write).

use crate::client::Answer;
use crate::fleet::Imported;
use ferry_accounts::routes::{CommandReply, MigrationOpenedReply, OptionalScheduledReply};
use ferry_events::{DatabaseEngine, DatabaseMethod, Incompatibility};
// The read side words durations in its audits; the CLI words them the same way.
use ferry_migration_state::audit::AuditTimeline;
use ferry_migration_state::narrate::{bytes, duration};
use ferry_migration_state::response::{
    MigrationDetail, ServerDetail, ServerListItem, TransitQueueView,
};
use ferry_migration_state::view::{OptionalMigrationView, TransitServerView};
use ferry_transit_pool::Changes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

fn print_json(value: &Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `answer`: as answered with `json`, else by `text` from its response type.
pub(crate) fn show<T: DeserializeOwned>(
    answer: &Answer<T>,
    json: bool,
    text: impl FnOnce(T),
) -> anyhow::Result<()> {
    if json {
        return print_json(answer.json());
    }
    text(answer.read()?);
    Ok(())
}

/// What the API calls `value` (an enum's variant, an instant in RFC 3339), as its
/// JSON answers write it.
pub(crate) fn named<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => "-".into(),
    }
}

/// `value`'s name, `-` when there is none.
fn named_or_dash<T: Serialize>(value: Option<&T>) -> String {
    value.map_or_else(|| "-".into(), named)
}

/// The current migration of a server as answered by `GET /servers/{id}`.
pub fn current_migration_id(server: &ServerDetail) -> Option<Uuid> {
    server
        .migration
        .as_ref()
        .map(|m| m.migration_id)
        .or(server.server.open_migration_id)
}

/// What a command did, as the aggregate it went to, `-` when the answer names none.
fn done(aggregate: &str, events: &[String], already_handled: bool) {
    if events.is_empty() {
        outln!("{aggregate}: nothing to change");
    } else if already_handled {
        outln!("{aggregate}: already done ({})", events.join(", "));
    } else {
        outln!("{aggregate}: {}", events.join(", "));
    }
}

/// A command's reply (accounts service).
pub fn command(reply: &Answer<CommandReply>, json: bool) -> anyhow::Result<()> {
    show(reply, json, |reply| {
        done(&reply.aggregate_id, &reply.events, reply.already_handled)
    })
}

/// A transit pool command's reply, which names no aggregate.
pub fn changes(reply: &Answer<Changes>, json: bool) -> anyhow::Result<()> {
    show(reply, json, |reply| done("-", &reply.events, false))
}

/// A migration just opened.
pub fn opened(reply: &Answer<MigrationOpenedReply>, json: bool) -> anyhow::Result<()> {
    show(reply, json, |reply| {
        outln!("migration {} opened", reply.migration_id)
    })
}

/// An optional migration just scheduled.
pub fn scheduled(reply: &Answer<OptionalScheduledReply>, json: bool) -> anyhow::Result<()> {
    show(reply, json, |reply| {
        outln!(
            "optional migration {} scheduled",
            reply.optional_migration_id
        )
    })
}

/// What a fleet import did.
pub fn imported(items: &[Imported], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::to_value(items)?);
    }
    for item in items {
        if item.events.is_empty() {
            outln!("{:<22} {:<12} unchanged", item.kind, item.id);
        } else {
            outln!(
                "{:<22} {:<12} {}",
                item.kind,
                item.id,
                item.events.join(", ")
            );
        }
    }
    let changed = items.iter().filter(|i| !i.events.is_empty()).count();
    outln!("{} item(s), {changed} changed", items.len());
    Ok(())
}

/// A table with a header, columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) {
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
        outln!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn step_of(step: Option<u8>) -> String {
    step.map_or("-".into(), |s| s.to_string())
}

/// Server list.
pub fn servers(answer: &Answer<Vec<ServerListItem>>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |servers| {
        let rows = servers
            .into_iter()
            .map(|s| {
                vec![
                    s.server_id,
                    s.name,
                    s.customer_id,
                    s.configuration,
                    s.infrastructure_version,
                    step_of(s.step),
                    named_or_dash(s.state.as_ref()),
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
    })
}

fn migration_lines(migration: &MigrationDetail) {
    outln!(
        "migration {}: {} (step {})",
        migration.migration_id,
        named(&migration.state),
        step_of(migration.step)
    );
    if let Some(position) = migration.queue_position {
        outln!("  waiting for a transit server: position {position} in line");
    }
    if let Some(transit) = &migration.transit {
        outln!(
            "  transit server {} since {}",
            transit.transit_server_id,
            named_or_dash(transit.since.as_ref())
        );
    }
    if let Some(loan) = &migration.loan {
        let charged = ferry_events::Money::new(loan.amount_cents, loan.currency.clone());
        match loan.ended_at {
            None => outln!(
                "  loan of {}: {} day(s) used of {} free (free until {}), {} day(s) charged, {charged} so far",
                loan.transit_server_id,
                loan.days_used,
                loan.free_period_days,
                loan.free_period_ends_at.format("%Y-%m-%d %H:%M UTC"),
                loan.billable_days,
            ),
            Some(ended) => outln!(
                "  loan of {}: ended {} after {} day(s), {} of them charged: {charged}",
                loan.transit_server_id,
                ended.format("%Y-%m-%d %H:%M UTC"),
                loan.days_used,
                loan.billable_days,
            ),
        }
    }
    outln!("  downtime so far: {}", duration(migration.downtime_ms));
    let rows = migration
        .accounts
        .iter()
        .map(|a| {
            let test = match &a.test_address {
                Some(address) => format!("{} ({address})", named(&a.test)),
                None => named(&a.test),
            };
            let transfer = a
                .current_transfer
                .as_ref()
                .map(transfer_line)
                .unwrap_or_default();
            vec![
                a.account_id.clone(),
                a.name.clone().unwrap_or_else(|| "-".into()),
                named(&a.state),
                test,
                duration(a.downtime_ms),
                transfer,
            ]
        })
        .collect();
    table(
        &["ACCOUNT", "NAME", "STATE", "TEST", "DOWNTIME", "TRANSFER"],
        rows,
    );
    // What failed, with the reason, where the user looks (not only in the audit).
    if let Some(failure) = &migration.view.pre_copy_failure {
        let next = match failure.retry_at {
            Some(at) => format!(
                "ferry tries again at {}",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => "support must retry it (ferry migration retry-pre-copy)".to_owned(),
        };
        outln!(
            "  pre-copy (attempt {}) failed at {}: {}; {next}",
            failure.attempt,
            failure.at.format("%Y-%m-%d %H:%M:%S UTC"),
            failure.reason
        );
    }
    let ended = migration.view.completed.is_some() || migration.view.cancelled.is_some();
    network_lines(&migration.view.network, ended);
    for a in &migration.accounts {
        if let Some(failure) = &a.last_failure {
            outln!(
                "  {}: {} failed at {}: {}",
                a.account_id,
                named(&failure.kind),
                failure.at.format("%Y-%m-%d %H:%M:%S UTC"),
                failure.reason
            );
        }
        if let Some(reason) = &a.test_failure {
            outln!("  {}: test copy failed: {reason}", a.account_id);
        }
    }
}

/// A DNS record as written at a DNS provider: `MX 5 bakery.hosting.example`.
fn record(r: &ferry_events::DnsRecord) -> String {
    let kind = named(&r.kind);
    match r.priority {
        Some(priority) => format!("{kind} {priority} {}", r.value),
        None => format!("{kind} {}", r.value),
    }
}

/// What the network did and asks of the customer: the MX records to change at
/// another DNS provider (before the accounts move), the lowered TTLs, the IP reroute
/// (`ended`: the migration is over, so a reroute not done is not under way).
fn network_lines(network: &ferry_migration_state::view::MigrationNetwork, ended: bool) {
    for advice in &network.mx_advice {
        let keep: Vec<String> = advice.keep.iter().map(record).collect();
        outln!(
            "  {} ({}) uses another DNS provider: delete `{}` there, keep {}",
            advice.domain,
            advice.account_id,
            record(&advice.delete),
            if keep.is_empty() {
                "the other MX records".to_owned()
            } else {
                keep.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            }
        );
    }
    let lowered: Vec<String> = network
        .ttl_lowered
        .iter()
        .filter(|l| l.restored_at.is_none())
        .map(|l| format!("{} ({} s)", l.domain, l.ttl_secs))
        .collect();
    if !lowered.is_empty() {
        outln!("  DNS TTL lowered for the move: {}", lowered.join(", "));
    }
    if let Some(route) = &network.ip_route {
        let state = match (route.rerouted_at, route.restored_at) {
            (_, Some(_)) => format!(
                "routed home again ({} unavailable)",
                duration(route.restore_unavailability_ms.unwrap_or(0))
            ),
            (Some(_), None) => format!(
                "rerouted to {} ({} unavailable)",
                route.to_server_id,
                duration(route.reroute_unavailability_ms.unwrap_or(0))
            ),
            // A reroute that cannot run (e.g. not configured) is parked by the
            // network, with its reason, in support's list.
            (None, None) if ended => format!(
                "never rerouted to {} (support: `ferry reactions list` says why)",
                route.to_server_id
            ),
            (None, None) => format!(
                "being rerouted to {} (if it lasts, support: `ferry reactions list` says why)",
                route.to_server_id
            ),
        };
        outln!("  IPs {}: {state}", route.ips.join(", "));
    }
}

/// A transfer as measured: its kind, then its phase while it runs or how it ended,
/// and the bytes it copied so far (never a declared size shown as if copied).
pub fn transfer_line(t: &ferry_migration_state::view::TransferView) -> String {
    use ferry_migration_state::view::TransferStatus as S;
    let stage = match t.status {
        S::Requested | S::Scheduled => "waiting".to_owned(),
        S::Running => named_or_dash(t.phase.as_ref()),
        status => named(&status),
    };
    match t.bytes_copied {
        Some(copied) => format!("{} {stage}, {} copied", named(&t.kind), bytes(copied)),
        None => format!("{} {stage}", named(&t.kind)),
    }
}

/// One server.
pub fn server(answer: &Answer<ServerDetail>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |detail| {
        let server = &detail.server;
        outln!(
            "{} {} ({}, {}, {}) customer {}",
            server.server_id,
            server.name,
            named(&server.kind),
            server.configuration,
            server.infrastructure_version,
            server.customer_id,
        );
        let rows = server
            .accounts
            .iter()
            .map(|entry| {
                let a = &entry.account;
                let languages: Vec<String> = a
                    .languages
                    .iter()
                    .map(|l| format!("{} {}", l.language, l.version))
                    .collect();
                vec![
                    a.account_id.clone(),
                    a.name.clone(),
                    a.databases.len().to_string(),
                    a.domains.len().to_string(),
                    languages.join(", "),
                ]
            })
            .collect();
        table(
            &["ACCOUNT", "NAME", "DATABASES", "DOMAINS", "LANGUAGES"],
            rows,
        );
        match &detail.migration {
            Some(migration) => migration_lines(migration),
            None => outln!("no migration in progress"),
        }
    })
}

/// One migration.
pub fn migration(answer: &Answer<MigrationDetail>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |migration| migration_lines(&migration))
}

/// One account's compatibility with a target version, as `GET
/// /servers/{id}/compatibility` answers it: a mirror of
/// `ferry_accounts::service::AccountCompatibility`, which is not `Deserialize`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AccountCompatibility {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// What will not work, empty when compatible.
    pub issues: Vec<Incompatibility>,
}

/// A compatibility report.
pub fn compatibility(answer: &Answer<Vec<AccountCompatibility>>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |accounts| {
        for account in accounts {
            if account.issues.is_empty() {
                outln!("{} ({}): compatible", account.account_id, account.name);
                continue;
            }
            outln!("{} ({}):", account.account_id, account.name);
            for issue in &account.issues {
                outln!("  - [{}] {}", named(&issue.kind), issue.detail);
            }
        }
    })
}

/// An audit timeline.
pub fn audit(answer: &Answer<AuditTimeline>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |timeline| {
        for entry in timeline.entries {
            let actor = format!("{}:{}", named(&entry.actor.role), entry.actor.id);
            let downtime = entry
                .downtime_ms
                .map(|ms| format!(" [downtime {}]", duration(ms)))
                .unwrap_or_default();
            outln!(
                "{:>6}  {}  {:<22} {}{downtime}",
                entry.sequence,
                named(&entry.occurred_at),
                actor,
                entry.summary,
            );
        }
    })
}

/// A server's downtime estimates, as `GET /servers/{id}/downtime-estimates` answers
/// them: a mirror of `ferry_data_mover::estimates::ServerEstimates` (without its
/// rates), which is not `Deserialize`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServerEstimates {
    /// The server.
    pub server_id: String,
    /// Cutovers measured so far, across the fleet, that the rates are fitted to.
    pub measured_cutovers: usize,
    /// Its accounts.
    pub accounts: Vec<AccountEstimate>,
}

/// One account's estimate (`ferry_data_mover::estimates::AccountEstimate`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AccountEstimate {
    /// The account.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// Its files and mails, in bytes.
    pub tree_bytes: u64,
    /// Its databases.
    pub databases: Vec<DatabaseEstimate>,
    /// The expected downtime of its move, in milliseconds.
    pub estimated_downtime_ms: u64,
}

/// One database of an account (`ferry_data_mover::estimates::DatabaseEstimate`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DatabaseEstimate {
    /// Its name.
    pub name: String,
    /// Its engine.
    pub engine: DatabaseEngine,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// The method the data mover would use.
    pub method: DatabaseMethod,
}

/// A server's downtime estimates.
pub fn estimates(answer: &Answer<ServerEstimates>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |estimates| {
        let mib = |bytes: u64| format!("{} MiB", bytes / (1 << 20));
        let rows = estimates
            .accounts
            .iter()
            .map(|a| {
                let databases: Vec<String> = a
                    .databases
                    .iter()
                    .map(|d| {
                        format!(
                            "{} ({}, {}, {})",
                            d.name,
                            named(&d.engine),
                            mib(d.size_bytes),
                            named(&d.method).replace('_', " ")
                        )
                    })
                    .collect();
                vec![
                    a.account_id.clone(),
                    mib(a.tree_bytes),
                    if databases.is_empty() {
                        "-".into()
                    } else {
                        databases.join(", ")
                    },
                    duration(a.estimated_downtime_ms),
                ]
            })
            .collect();
        table(&["ACCOUNT", "FILES+MAILS", "DATABASES", "DOWNTIME"], rows);
        outln!(
            "based on {} measured cutover(s)",
            estimates.measured_cutovers
        );
    })
}

/// Optional migrations.
pub fn optional_list(
    answer: &Answer<Vec<OptionalMigrationView>>,
    json: bool,
) -> anyhow::Result<()> {
    show(answer, json, |optionals| {
        let rows = optionals
            .into_iter()
            .map(|o| {
                vec![
                    o.optional_migration_id.to_string(),
                    o.server_id,
                    format!(
                        "{} {} → {}",
                        named(&o.service),
                        o.from_version,
                        o.to_version
                    ),
                    named_or_dash(o.scheduled_for.as_ref()),
                    named(&o.state),
                    o.downtime_ms.map(duration).unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &["ID", "SERVER", "SERVICE", "NOT BEFORE", "STATE", "DOWNTIME"],
            rows,
        );
    })
}

/// Transit servers.
pub fn transit_servers(answer: &Answer<Vec<TransitServerView>>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |transits| {
        let rows = transits
            .into_iter()
            .map(|t| {
                vec![
                    t.transit_server_id,
                    t.name,
                    t.configuration,
                    named(&t.state),
                    named(&t.since),
                    t.client_server_id.unwrap_or_else(|| "-".into()),
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
    })
}

/// Transit queues.
pub fn queues(answer: &Answer<Vec<TransitQueueView>>, json: bool) -> anyhow::Result<()> {
    show(answer, json, |queues| {
        for queue in queues {
            outln!(
                "{}: {} waiting, free: {}",
                queue.configuration,
                queue.waiting.len(),
                if queue.free_transit_servers.is_empty() {
                    "none".to_owned()
                } else {
                    queue.free_transit_servers.join(", ")
                }
            );
            for waiting in &queue.waiting {
                outln!(
                    "  {}. {} (migration {}) since {}",
                    waiting.position,
                    waiting.client_server_id,
                    waiting.migration_id,
                    named(&waiting.requested_at)
                );
            }
        }
    })
}

/// The parked reactions.
pub fn parked(
    answer: &Answer<ferry_infra::policy::routes::ParkedList>,
    json: bool,
) -> anyhow::Result<()> {
    show(answer, json, |list| {
        if list.parked.is_empty() {
            outln!("no parked reaction");
            return;
        }
        for parked in list.parked {
            let held = if parked.held {
                " (waits behind an earlier one)"
            } else {
                ""
            };
            outln!(
                "{} #{} {} on {}{held}: tried {} time(s), since {}",
                parked.reactor,
                parked.sequence,
                parked.event_type,
                parked.subject,
                parked.attempts,
                named(&parked.parked_at),
            );
            outln!("    {}", parked.error);
        }
    })
}

/// A retry of parked reactions, requested.
pub fn retry_requested(
    answer: &Answer<ferry_infra::policy::routes::RetryRequested>,
    json: bool,
) -> anyhow::Result<()> {
    show(answer, json, |retry| {
        outln!(
            "retry requested: {} parked reaction(s) will be tried again within seconds",
            retry.parked
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use ferry_events::{
        IncompatibilityKind, MigrationOpened, Money, ServerKind, ServerRegistered, ServerStorage,
    };
    use ferry_migration_state::view::{At, MigrationView, ServerView};

    fn at() -> At {
        At {
            sequence: 1,
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn server() -> ServerView {
        let registered = ServerRegistered {
            server_id: "srv-1".into(),
            name: "srv-1.example".into(),
            kind: ServerKind::Vps,
            configuration: "vps-4c-8g".into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec![],
            ipv6: vec![],
            monthly_price: Money::new(1000, "EUR"),
            customer_id: "c-1".into(),
            contact_email: "c-1@example.com".into(),
            locale: "fr".into(),
            storage: ServerStorage {
                files_root: "/files".into(),
                mail_root: "/mail".into(),
                postgres_url: None,
                mysql_url: None,
                postgres_credential: None,
                mysql_credential: None,
            },
        };
        ServerView::registered(&registered, at())
    }

    #[test]
    fn the_current_migration_is_found_in_a_server_answer() {
        let id = Uuid::now_v7();
        let opened = MigrationOpened {
            migration_id: id,
            server_id: "srv-1".into(),
            customer_id: "c-1".into(),
            from_version: "v2020".into(),
            target_version: "v2026".into(),
            accounts: vec![],
        };
        let migration = MigrationDetail::of(
            MigrationView::open(&opened, at()),
            None,
            None,
            DateTime::<Utc>::UNIX_EPOCH,
        );
        let answer = ServerDetail {
            server: server(),
            migration: Some(migration),
        };
        assert_eq!(current_migration_id(&answer), Some(id));
        let opened_only = ServerDetail {
            server: ServerView {
                open_migration_id: Some(id),
                ..server()
            },
            migration: None,
        };
        assert_eq!(current_migration_id(&opened_only), Some(id));
        let none = ServerDetail {
            server: server(),
            migration: None,
        };
        assert_eq!(current_migration_id(&none), None);
    }

    #[test]
    fn the_mirrors_read_what_the_services_answer() -> anyhow::Result<()> {
        let issue = Incompatibility {
            kind: IncompatibilityKind::LanguageVersionRemoved,
            subject: "php 7.4".into(),
            detail: "use 8.2".into(),
        };
        let compatibility = ferry_accounts::service::AccountCompatibility {
            account_id: "acc-1".into(),
            name: "bakery".into(),
            issues: vec![issue.clone()],
        };
        let read: AccountCompatibility =
            serde_json::from_value(serde_json::to_value(&compatibility)?)?;
        assert_eq!(
            read,
            AccountCompatibility {
                account_id: "acc-1".into(),
                name: "bakery".into(),
                issues: vec![issue],
            }
        );

        use ferry_data_mover::estimates as real;
        let estimates = real::ServerEstimates {
            server_id: "srv-1".into(),
            measured_cutovers: 3,
            rates: real::RatesBody {
                fixed_ms: 1.0,
                tree_ms_per_gb: 2.0,
                dumped_ms_per_gb: 3.0,
                replicated_ms_per_gb: 4.0,
            },
            accounts: vec![real::AccountEstimate {
                account_id: "acc-1".into(),
                name: "bakery".into(),
                tree_bytes: 5,
                databases: vec![real::DatabaseEstimate {
                    name: "shop".into(),
                    engine: DatabaseEngine::Postgres,
                    size_bytes: 6,
                    method: DatabaseMethod::DumpRestore,
                    why_dump: Some("no replication".into()),
                }],
                estimated_downtime_ms: 7,
            }],
        };
        let read: ServerEstimates = serde_json::from_value(serde_json::to_value(&estimates)?)?;
        assert_eq!(
            read,
            ServerEstimates {
                server_id: "srv-1".into(),
                measured_cutovers: 3,
                accounts: vec![AccountEstimate {
                    account_id: "acc-1".into(),
                    name: "bakery".into(),
                    tree_bytes: 5,
                    databases: vec![DatabaseEstimate {
                        name: "shop".into(),
                        engine: DatabaseEngine::Postgres,
                        size_bytes: 6,
                        method: DatabaseMethod::DumpRestore,
                    }],
                    estimated_downtime_ms: 7,
                }],
            }
        );
        Ok(())
    }

    #[test]
    fn names_are_the_api_s() -> anyhow::Result<()> {
        assert_eq!(named(&ServerKind::Vps), "vps");
        assert_eq!(
            named(&DatabaseMethod::LogicalReplication),
            "logical_replication"
        );
        for instant in ["2026-12-03T02:46:42.123456789Z", "2026-12-03T02:46:42Z"] {
            let read: DateTime<Utc> = serde_json::from_value(Value::String(instant.into()))?;
            assert_eq!(named(&read), instant);
        }
        assert_eq!(named_or_dash::<ServerKind>(None), "-");
        Ok(())
    }

    #[test]
    fn a_transfer_shows_what_was_measured_never_a_declared_size_as_copied() {
        use ferry_migration_state::view::{TransferStatus, TransferView};
        let mut t = TransferView::requested(
            Uuid::nil(),
            ferry_events::TransferKind::Cutover,
            vec!["acc-1".into()],
            at(),
        );
        assert_eq!(transfer_line(&t), "cutover waiting");
        t.status = TransferStatus::Running;
        t.phase = Some(ferry_events::TransferPhase::Files);
        // 2.7 GB declared, 1.1 GB looked at: 715 B sent.
        (t.bytes_done, t.bytes_total, t.bytes_copied) = (1_100_000_000, 2_700_000_000, Some(715));
        assert_eq!(transfer_line(&t), "cutover files, 715 B copied");
        t.status = TransferStatus::Completed;
        t.bytes_copied = Some(1_300_000);
        assert_eq!(transfer_line(&t), "cutover completed, 1.3 MB copied");
    }
}
