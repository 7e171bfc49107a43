//! A server's audit page (`/panel/servers/{id}/audit`): the timeline `GET
//! /servers/{id}/audit` replays from the log, newest last, with each entry's actor
//! and downtime; and its export as CSV (`…/audit.csv`). Whoever the API refuses the
//! timeline (another customer's server) sees its refusal.

use crate::Panel;
use crate::api::Answer;
use crate::pages::{
    Client, LangQuery, client, encode, failure, language, page, refused, session, to_sign_in,
};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The timeline of `server_id` as the API answers it, entries newest last; `Err`
/// the response to give instead (sign-in, refusal, failure).
async fn timeline(
    panel: &Panel,
    headers: &HeaderMap,
    server_id: &str,
    query: &LangQuery,
    client_addr: &Client,
) -> Result<(Value, crate::session::Session), Response> {
    let (lang, _) = language(headers, query);
    let Some((_, session)) = session(panel, headers) else {
        return Err(to_sign_in());
    };
    let path = format!("/servers/{}/audit", encode(server_id));
    let answer: Answer = match panel
        .api
        .get(&path, &session.token, client(client_addr))
        .await
    {
        Ok(answer) => answer,
        Err(e) => return Err(failure(panel, lang, Some(&session), &e.to_string())),
    };
    if answer.status == StatusCode::UNAUTHORIZED {
        return Err(to_sign_in());
    }
    if answer.status != StatusCode::OK {
        return Err(refused(panel, lang, &session, &answer));
    }
    let mut timeline = answer.json;
    // A timeline without its entries is the read side's error, never an empty past.
    let Some(entries) = timeline["entries"].as_array_mut() else {
        let reason = format!("{path} answered no entries");
        return Err(failure(panel, lang, Some(&session), &reason));
    };
    entries.sort_by_key(|e| e["sequence"].as_u64().unwrap_or(0));
    Ok((timeline, session))
}

/// The audit page of a server.
pub async fn audit(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Path(server_id): Path<String>,
    Query(query): Query<LangQuery>,
    client_addr: Client,
) -> Response {
    let (lang, lang_cookie) = language(&headers, &query);
    let (timeline, session) =
        match timeline(&panel, &headers, &server_id, &query, &client_addr).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let mut context = serde_json::Map::new();
    context.insert("server_id".into(), json!(server_id));
    context.insert("entries".into(), timeline["entries"].clone());
    page(
        &panel,
        StatusCode::OK,
        "audit.html",
        lang,
        Some(&session),
        context,
        lang_cookie.into_iter().collect(),
    )
}

/// The header of the export.
const CSV_HEADER: [&str; 8] = [
    "sequence",
    "occurred_at",
    "actor_role",
    "actor_id",
    "event_type",
    "migration_id",
    "summary",
    "downtime_ms",
];

/// One CSV field, quoted (RFC 4180: quotes doubled). A text a spreadsheet would
/// take for a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The CSV of `entries`: a header, then one CRLF-ended row per entry.
pub fn csv(entries: &[Value]) -> String {
    let mut out = CSV_HEADER.map(field).join(",");
    out.push_str("\r\n");
    for e in entries {
        let row = [
            text(&e["sequence"]),
            text(&e["occurred_at"]),
            text(&e["actor"]["role"]),
            text(&e["actor"]["id"]),
            text(&e["event_type"]),
            text(&e["migration_id"]),
            text(&e["summary"]),
            text(&e["downtime_ms"]),
        ];
        out.push_str(&row.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// The audit timeline of a server as a CSV download.
pub async fn audit_csv(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Path(server_id): Path<String>,
    client_addr: Client,
) -> Response {
    let query = LangQuery::default();
    let (timeline, _) = match timeline(&panel, &headers, &server_id, &query, &client_addr).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // `timeline` answers only a list of entries.
    let entries = timeline["entries"].as_array().cloned().unwrap_or_default();
    let name: String = server_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let disposition = format!("attachment; filename=\"{name}-audit.csv\"");
    let mut response = csv(&entries).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("a \"b\", c"), "\"a \"\"b\"\", c\"");
        assert_eq!(field("=SUM(A1)"), "\"'=SUM(A1)\"");
        let out = csv(&[json!({
            "sequence": 3, "occurred_at": "2026-01-01T00:00:00Z",
            "actor": { "role": "customer", "id": "c-42" },
            "event_type": "MigrationOpened", "migration_id": null,
            "summary": "opened\nto v2026", "downtime_ms": null
        })]);
        let mut lines = out.split("\r\n");
        assert!(
            lines
                .next()
                .expect("a header")
                .starts_with("\"sequence\",\"occurred_at\"")
        );
        assert_eq!(
            lines.next().expect("a row"),
            "\"3\",\"2026-01-01T00:00:00Z\",\"customer\",\"c-42\",\"MigrationOpened\",\"\",\"opened\nto v2026\",\"\""
        );
    }
}
