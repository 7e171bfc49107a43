//! ferry's web panel, served by `ferry up` under `/panel`: the customers'
//! **Migrations** page of a server (the eight steps with the current one, the
//! accounts, the actions the process allows now) and the support console, in
//! English and French.
//!
//! The panel has no rule of its own: it signs people in with the tokens of the
//! access service, then reads and acts **through ferry's API, in process**, behind
//! the same gate and with the person's own token ([`api`]); the buttons it shows
//! are those `GET /migrations/{id}/actions` lists, i.e. what the migration's
//! decider would accept now. Pages are server-rendered (minijinja templates, a
//! stylesheet and one small script embedded in the binary: no CDN; every page
//! works without the script), every form carries a CSRF token, sessions are opaque
//! cookies ([`session`]). While a server's page is open, its migration section is
//! sent again as it changes (server-sent events, `…/live`): a move's phase, bytes
//! and expected downtime move without reloading.
//!
//! Emits and consumes no event: the API it calls does.

pub mod actions;
pub mod api;
mod audit;
mod console;
mod console_work;
pub mod i18n;
mod pages;
pub mod session;

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// What the panel's pages share. Cheap to clone.
#[derive(Clone)]
pub struct Panel {
    api: api::Api,
    sessions: session::Sessions,
    templates: Arc<minijinja::Environment<'static>>,
    shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Panel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panel").finish_non_exhaustive()
    }
}

/// The templates, embedded.
fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    // Jinja's, which minijinja does not have: the live progress's byte counts.
    env.add_filter("filesizeformat", filesizeformat);
    // Instants as people read them; the `<time datetime>` keeps the exact one.
    env.add_filter("when", when);
    for (name, text) in [
        ("base.html", include_str!("../templates/base.html")),
        ("sign_in.html", include_str!("../templates/sign_in.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("server.html", include_str!("../templates/server.html")),
        (
            "server_live.html",
            include_str!("../templates/server_live.html"),
        ),
        ("confirm.html", include_str!("../templates/confirm.html")),
        ("error.html", include_str!("../templates/error.html")),
        ("console.html", include_str!("../templates/console.html")),
        (
            "console_work.html",
            include_str!("../templates/console_work.html"),
        ),
        ("audit.html", include_str!("../templates/audit.html")),
    ] {
        // A template that does not parse is a bug caught by the first test.
        env.add_template(name, text)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

/// `bytes` for a person: `512 B`, `1.5 KiB`, `6.0 MiB`, `2.3 GiB`.
fn filesizeformat(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024.0 {
        return format!("{bytes} B");
    }
    let mut value = bytes / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `12.34 EUR` from an amount of billing's API (`amount_cents`, `currency`); a part
/// missing is an error, never a zero charged.
pub(crate) fn money(amount: &serde_json::Value) -> Result<String, String> {
    let cents = amount["amount_cents"]
        .as_i64()
        .ok_or_else(|| format!("an amount without cents: {amount}"))?;
    let currency = amount["currency"]
        .as_str()
        .ok_or_else(|| format!("an amount without currency: {amount}"))?;
    let sign = if cents < 0 { "-" } else { "" };
    Ok(format!(
        "{sign}{}.{:02} {currency}",
        (cents / 100).abs(),
        (cents % 100).abs()
    ))
}

/// An RFC 3339 instant of the API (`2026-12-04T17:48:15.151517Z`) for a person:
/// `2026-12-04 17:48:15 UTC`. Anything else is shown as it came.
fn when(instant: String) -> String {
    chrono::DateTime::parse_from_rfc3339(&instant).map_or(instant, |t| {
        t.with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string()
    })
}

/// The panel's routes (under `/panel`), acting through `api`: ferry's API routes
/// with the gate as their outer layer. `shutdown` ends the live streams, so that
/// open pages never hold a stopping ferry.
pub fn router(api: Router, shutdown: tokio_util::sync::CancellationToken) -> Router {
    let panel = Panel {
        api: api::Api::new(api),
        sessions: session::Sessions::default(),
        templates: Arc::new(templates()),
        shutdown,
    };
    Router::new()
        .route("/panel", get(pages::to_home))
        .route("/panel/", get(pages::home))
        .route(
            "/panel/sign-in",
            get(pages::sign_in_page).post(pages::sign_in),
        )
        .route("/panel/sign-out", post(pages::sign_out))
        .route("/panel/servers/{server_id}", get(pages::server))
        .route("/panel/servers/{server_id}/actions", post(pages::act))
        .route("/panel/servers/{server_id}/live", get(pages::live))
        .route("/panel/console", get(console::console))
        .route("/panel/servers/{server_id}/audit", get(audit::audit))
        .route(
            "/panel/servers/{server_id}/audit.csv",
            get(audit::audit_csv),
        )
        .route("/panel/assets/panel.css", get(pages::stylesheet))
        .route("/panel/assets/panel.js", get(pages::script))
        .route("/panel/assets/favicon.svg", get(pages::favicon))
        .with_state(panel)
}

#[cfg(test)]
mod tests {
    #[test]
    fn instants_are_written_for_people_to_the_second_in_utc() {
        assert_eq!(
            super::when("2026-12-04T17:48:15.151517Z".into()),
            "2026-12-04 17:48:15 UTC"
        );
        assert_eq!(
            super::when("2026-12-04T18:48:15+01:00".into()),
            "2026-12-04 17:48:15 UTC"
        );
        assert_eq!(super::when("soon".into()), "soon");
    }

    #[test]
    fn amounts_are_shown_with_their_currency_and_a_missing_one_is_an_error() {
        assert_eq!(
            super::money(&serde_json::json!({ "amount_cents": 1234, "currency": "EUR" }))
                .as_deref(),
            Ok("12.34 EUR")
        );
        assert_eq!(
            super::money(&serde_json::json!({ "amount_cents": -5, "currency": "EUR" })).as_deref(),
            Ok("-0.05 EUR")
        );
        assert!(super::money(&serde_json::json!({ "currency": "EUR" })).is_err());
    }

    #[test]
    fn byte_counts_are_written_for_people() {
        assert_eq!(super::filesizeformat(512.0), "512 B");
        assert_eq!(super::filesizeformat(1536.0), "1.5 KiB");
        assert_eq!(super::filesizeformat(6.0 * 1048576.0), "6.0 MiB");
    }

    #[test]
    fn the_live_section_renders_a_transfer_in_progress() {
        let html = super::templates()
            .get_template("server_live.html")
            .and_then(|t| {
                t.render(minijinja::context! {
                    m => crate::i18n::messages(crate::i18n::Lang::En),
                    step => 4,
                    migration => serde_json::json!({
                        "state": "migrating_accounts",
                        "accounts": [{
                            "account_id": "acc-1",
                            "state": "moving",
                            "test": "none",
                            "downtime_ms": 0,
                            "current_transfer": {
                                "kind": "cutover", "phase": "files",
                                "bytes_done": 1048576, "bytes_total": 6291456
                            }
                        }],
                        "view": {}
                    }),
                    estimates => serde_json::json!({ "acc-1": 1200 }),
                    actions => serde_json::json!([]),
                })
            })
            .expect("rendered");
        assert!(html.contains("1.0 MiB / 6.0 MiB"), "{html}");
        assert!(
            html.contains(r#"data-phase="files" data-bytes="1048576""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-downtime="estimated" data-ms="1200""#),
            "{html}"
        );
    }

    #[test]
    fn every_template_parses() {
        let env = super::templates();
        for name in [
            "sign_in.html",
            "home.html",
            "server.html",
            "server_live.html",
            "confirm.html",
            "error.html",
            "console.html",
            "console_work.html",
            "audit.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
