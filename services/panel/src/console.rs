//! The support console (`/panel/console`): every server's step at a glance
//! (filtered by step, searched, paged), the transit pool by configuration with its
//! waiting queue, the parked reactions needing a person, and the notification
//! outbox; with the work lists of [`crate::console_work`] (support's actions allowed
//! now, loans near the end of their free period, failed transfers). Support only:
//! the API refuses anyone else the pool, and the console shows its refusal.

use crate::Panel;
use crate::pages::{
    Client, LangQuery, client, failure, language, page, refused, session, to_sign_in,
};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Servers shown per page of the console.
pub const PAGE_SIZE: usize = 50;

/// The console's query: `?step=` (1–8, or `none`), `?q=`, `?page=` (from 1).
#[derive(Debug, Default, Deserialize)]
pub struct ConsoleQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

/// Whether `server` (an item of `GET /servers`) is at `step` (`none`: no migration).
fn at_step(server: &Value, step: &str) -> bool {
    match step {
        "" => true,
        "none" => server["step"].is_null(),
        n => server["step"].as_u64().map(|s| s.to_string()).as_deref() == Some(n),
    }
}

/// Whether `server`'s id, name or customer contains `q` (case-insensitive).
fn matches(server: &Value, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty()
        || ["server_id", "name", "customer_id"].iter().any(|field| {
            server[*field]
                .as_str()
                .is_some_and(|v| v.to_lowercase().contains(&q))
        })
}

/// A page of the filtered servers: (its rows, first shown (1-based, 0 when none),
/// last shown, total, page number, pages).
fn paged(servers: Vec<Value>, page: usize) -> (Vec<Value>, usize, usize, usize, usize, usize) {
    let total = servers.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    let rows: Vec<Value> = servers.into_iter().skip(start).take(PAGE_SIZE).collect();
    let first = if rows.is_empty() { 0 } else { start + 1 };
    let last = start + rows.len();
    (rows, first, last, total, page, pages)
}

/// The query string of a console link with `page` and the current filter.
fn link(step: &str, q: &str, page: usize) -> String {
    let mut query = format!("?page={page}");
    if !step.is_empty() {
        query.push_str(&format!("&step={}", form_encode(step)));
    }
    if !q.is_empty() {
        query.push_str(&format!("&q={}", form_encode(q)));
    }
    query
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The support console.
pub async fn console(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Query(query): Query<ConsoleQuery>,
    client_addr: Client,
) -> Response {
    let (lang, lang_cookie) = language(
        &headers,
        &LangQuery {
            lang: query.lang.clone(),
        },
    );
    let Some((_, session)) = session(&panel, &headers) else {
        return to_sign_in();
    };
    let client = client(&client_addr);
    // The pool first: the API refuses it to anyone but support, and the console
    // shows that refusal to customers and users.
    let mut answers = Vec::new();
    for path in [
        "/transit-servers",
        "/transit-queues",
        "/servers",
        "/reactions/parked",
        "/notifications?limit=50",
    ] {
        let answer = match panel.api.get(path, &session.token, client).await {
            Ok(answer) => answer,
            Err(e) => return failure(&panel, lang, Some(&session), &e.to_string()),
        };
        if answer.status == StatusCode::UNAUTHORIZED {
            return to_sign_in();
        }
        if answer.status != StatusCode::OK {
            return refused(&panel, lang, &session, &answer);
        }
        answers.push(answer.json);
    }
    let [transit, queues, servers, parked, outbox]: [Value; 5] = answers
        .try_into()
        .unwrap_or_else(|_| unreachable!("five answers"));

    // `GET /servers` answers every row: the console filters and pages them here.
    let step = query.step.clone().unwrap_or_default();
    let q = query.q.clone().unwrap_or_default();
    let Some(listed) = servers.as_array().cloned() else {
        let reason = format!("GET /servers answered no list: {servers}");
        return failure(&panel, lang, Some(&session), &reason);
    };
    let filtered: Vec<Value> = listed
        .into_iter()
        .filter(|s| at_step(s, &step) && matches(s, &q))
        .collect();
    let asked = query
        .page
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let (rows, first, last, total, page_no, pages) = paged(filtered, asked);

    // The pool by configuration: its transit servers, free ones, waiting queue.
    let mut pool: BTreeMap<String, Value> = BTreeMap::new();
    for t in transit.as_array().into_iter().flatten() {
        let configuration = t["configuration"].as_str().unwrap_or_default().to_owned();
        let entry = pool.entry(configuration.clone()).or_insert_with(
            || json!({ "configuration": configuration, "servers": [], "waiting": [], "free": [] }),
        );
        if let Some(list) = entry["servers"].as_array_mut() {
            list.push(t.clone());
        }
    }
    for queue in queues.as_array().into_iter().flatten() {
        let configuration = queue["configuration"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let entry = pool.entry(configuration.clone()).or_insert_with(
            || json!({ "configuration": configuration, "servers": [], "waiting": [], "free": [] }),
        );
        entry["waiting"] = queue["waiting"].clone();
        entry["free"] = queue["free_transit_servers"].clone();
    }

    let mut context = crate::console_work::work(&panel, &session, client, &servers).await;
    context.insert("servers".into(), json!(rows));
    context.insert("first".into(), json!(first));
    context.insert("last".into(), json!(last));
    context.insert("total".into(), json!(total));
    context.insert("page_no".into(), json!(page_no));
    context.insert("pages".into(), json!(pages));
    if page_no > 1 {
        context.insert("previous".into(), json!(link(&step, &q, page_no - 1)));
    }
    if page_no < pages {
        context.insert("next".into(), json!(link(&step, &q, page_no + 1)));
    }
    context.insert("step".into(), json!(step));
    context.insert("q".into(), json!(q));
    context.insert("pool".into(), json!(pool.into_values().collect::<Vec<_>>()));
    context.insert("parked".into(), parked["parked"].clone());
    context.insert("outbox".into(), outbox["notifications"].clone());
    context.insert("counts".into(), outbox["counts"].clone());
    page(
        &panel,
        StatusCode::OK,
        "console.html",
        lang,
        Some(&session),
        context,
        lang_cookie.into_iter().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: &str, step: Option<u8>) -> Value {
        json!({ "server_id": id, "name": format!("Name {id}"), "customer_id": "c-1", "step": step })
    }

    #[test]
    fn filters_by_step_and_search() {
        let s = server("srv-1", Some(3));
        assert!(at_step(&s, "") && at_step(&s, "3") && !at_step(&s, "4"));
        assert!(!at_step(&s, "none") && at_step(&server("srv-2", None), "none"));
        assert!(matches(&s, "SRV-1") && matches(&s, "name") && matches(&s, "c-1"));
        assert!(!matches(&s, "srv-9"));
    }

    #[test]
    fn pages_fifty_at_a_time() {
        let all: Vec<Value> = (0..120).map(|i| server(&format!("s{i}"), None)).collect();
        let (rows, first, last, total, page, pages) = paged(all.clone(), 3);
        assert_eq!(
            (rows.len(), first, last, total, page, pages),
            (20, 101, 120, 120, 3, 3)
        );
        let (_, first, last, _, page, _) = paged(all, 99);
        assert_eq!((first, last, page), (101, 120, 3));
        let (rows, first, last, total, _, pages) = paged(vec![], 1);
        assert_eq!((rows.len(), first, last, total, pages), (0, 0, 0, 0, 1));
        assert_eq!(link("2", "a b", 2), "?page=2&step=2&q=a%20b");
    }
}
