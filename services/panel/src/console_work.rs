//! The support console's work lists: the loans near the end of their free period
//! (billing's `GET /loans`), the failed transfers needing a person (the read side's
//! `GET /transfers/failed`), and the support actions allowed now on the servers in
//! the steps where support acts (each migration's `GET /migrations/{id}/actions`,
//! which dry-runs its rules), with the next opening of support's working hours for
//! a relocation refused outside them. The panel decides none of it: it shows what
//! the API answers, and a list the API does not answer is shown with its reason,
//! never as an empty one.

use crate::Panel;
use crate::pages::encode;
use crate::session::Session;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

/// The actions that are support's: the console offers these, the server's page
/// every action the API allows.
pub const SUPPORT_ACTIONS: &[&str] = &[
    "remove-languages",
    "restore-languages",
    "retry-pre-copy",
    "start-reinstall",
    "reinstalled",
    "relocate",
];

/// The steps in which support acts: removing (2) or restoring (2, 3) languages,
/// retrying a pre-copy (3, 6), starting (5) and finishing (6) the reinstall,
/// relocating (7).
pub const SUPPORT_STEPS: &[u64] = &[2, 3, 5, 6, 7];

/// Most servers whose actions the console asks for at once (one request each).
pub const MAX_ACTION_SERVERS: usize = 50;

/// The loans listed: their free period ends within this many days, or has ended.
pub const ENDING_WITHIN_DAYS: u32 = 3;

/// Asks `path`; `Err` with the API's reason, shown in the section that needed it.
async fn ask(
    panel: &Panel,
    session: &Session,
    path: &str,
    client: Option<SocketAddr>,
) -> Result<Value, String> {
    crate::pages::ask(panel, session, path, client)
        .await
        .map_err(|refusal| refusal.reason())
}

/// The servers (items of `GET /servers`) in a step where support acts, at most
/// [`MAX_ACTION_SERVERS`]; and how many more there are.
fn acting_servers(servers: &Value) -> (Vec<&Value>, usize) {
    let all: Vec<&Value> = servers
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["migration_id"].is_string()
                && s["step"]
                    .as_u64()
                    .is_some_and(|n| SUPPORT_STEPS.contains(&n))
        })
        .collect();
    let more = all.len().saturating_sub(MAX_ACTION_SERVERS);
    (all.into_iter().take(MAX_ACTION_SERVERS).collect(), more)
}

/// Of an answer of `GET /migrations/{id}/actions`, support's actions and the
/// requests waiting for working hours; an answer without both lists is an error.
fn support_part(answer: &Value) -> Result<(Vec<Value>, Vec<Value>), String> {
    let of = |key: &str| -> Result<Vec<Value>, String> {
        Ok(answer[key]
            .as_array()
            .ok_or_else(|| format!("the allowed actions came without {key:?}: {answer}"))?
            .iter()
            .filter(|a| {
                a["action"]
                    .as_str()
                    .is_some_and(|name| SUPPORT_ACTIONS.contains(&name))
            })
            .cloned()
            .collect())
    };
    Ok((of("actions")?, of("later")?))
}

/// The console's work lists, for its template: `loans` (or `loans_error`),
/// `failed` (or `failed_error`), `support_rows` and `support_more`.
pub async fn work(
    panel: &Panel,
    session: &Session,
    client: Option<SocketAddr>,
    servers: &Value,
) -> Map<String, Value> {
    let mut context = Map::new();
    let loans = ask(
        panel,
        session,
        &format!("/loans?ending_within_days={ENDING_WITHIN_DAYS}"),
        client,
    )
    .await
    .and_then(|answer| {
        answer["loans"]
            .as_array()
            .ok_or_else(|| format!("billing answered no list of loans: {answer}"))?
            .iter()
            .map(|loan| {
                let mut loan = loan.clone();
                loan["money"] = json!(crate::money(&loan["charged"])?);
                Ok(loan)
            })
            .collect::<Result<Vec<Value>, String>>()
    });
    match loans {
        Ok(loans) => context.insert("loans".into(), json!(loans)),
        Err(reason) => context.insert("loans_error".into(), json!(reason)),
    };
    context.insert("ending_within_days".into(), json!(ENDING_WITHIN_DAYS));
    match ask(panel, session, "/transfers/failed", client).await {
        Ok(failed) if failed.is_array() => context.insert("failed".into(), failed),
        Ok(other) => context.insert(
            "failed_error".into(),
            json!(format!("the read side answered no list: {other}")),
        ),
        Err(reason) => context.insert("failed_error".into(), json!(reason)),
    };

    let (acting, more) = acting_servers(servers);
    let mut rows = Vec::new();
    for server in acting {
        let migration = server["migration_id"].as_str().unwrap_or_default();
        let path = format!("/migrations/{}/actions", encode(migration));
        let mut row = json!({
            "server_id": server["server_id"],
            "name": server["name"],
            "customer_id": server["customer_id"],
            "step": server["step"],
            "state": server["state"],
        });
        match ask(panel, session, &path, client)
            .await
            .and_then(|answer| support_part(&answer))
        {
            Ok((actions, later)) => {
                if actions.is_empty() && later.is_empty() {
                    continue;
                }
                row["actions"] = json!(actions);
                row["later"] = json!(later);
            }
            Err(reason) => row["error"] = json!(reason),
        }
        rows.push(row);
    }
    context.insert("support_rows".into(), json!(rows));
    context.insert("support_more".into(), json!(more));
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_supports_actions_and_steps_are_shown() {
        let answer = json!({
            "actions": [{ "action": "ready", "account_id": "a" }, { "action": "start-reinstall" }],
            "later": [{ "action": "relocate", "account_id": "a", "opens_at": "2026-12-07T08:00:00Z" }],
        });
        let (actions, later) = support_part(&answer).expect("both lists");
        assert_eq!(actions, [json!({ "action": "start-reinstall" })]);
        assert_eq!(later.len(), 1);
        assert!(support_part(&json!({ "actions": [] })).is_err(), "no later");
        let servers = json!([
            { "server_id": "s1", "migration_id": "m1", "step": 2 },
            { "server_id": "s2", "migration_id": "m2", "step": 4 },
            { "server_id": "s3", "migration_id": null, "step": null },
        ]);
        let (acting, more) = acting_servers(&servers);
        assert_eq!((acting.len(), more), (1, 0));
        assert_eq!(acting[0]["server_id"], "s1");
    }
}
