//! The HTTP endpoints every ferry process serves: `/health` (alive, open to all),
//! `/ready` (can do its work: NATS connected, PostgreSQL answering, no projection
//! stalled; to support and monitoring it also says why, and lists the parked
//! reactions and whatever else the services count as waiting for support) and
//! `/metrics` (Prometheus; support and monitoring only, as the gate of
//! [`crate::api::auth`] sees to). Services merge their own routes beside these.

use crate::api::auth::SeesDetails;
use crate::attention::AttentionBoard;
use crate::policy::parked::ParkedReactions;
use crate::projection::{ProjectionState, ProjectionStatus, StatusBoard};
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::Pool;
use std::time::Duration;

/// What readiness looks at.
#[derive(Clone)]
pub struct HealthState {
    /// The NATS connections of the process, by the user each is made as (one per
    /// service): all must be connected.
    pub nats: Vec<(String, async_nats::Client)>,
    /// The read-model database.
    pub pool: Pool,
    /// The projections of this process.
    pub board: StatusBoard,
    /// The reactions parked by this process's reactors (and others sharing its
    /// database).
    pub parked: ParkedReactions,
    /// What the services count as waiting for a person.
    pub attention: AttentionBoard,
}

#[derive(serde::Serialize)]
struct Readiness {
    ready: bool,
    nats: String,
    postgres: String,
    projections: Vec<ProjectionStatus>,
    /// Parked reactions by reactor: recorded, retried, waiting for a fix or for
    /// support (`ferry reactions`). They do not make the process unready: it goes on
    /// with every other aggregate.
    parked_reactions: std::collections::BTreeMap<String, u64>,
    /// Other things waiting for a person, by name (e.g. `notifications_given_up`):
    /// they do not make the process unready either.
    needs_attention: std::collections::BTreeMap<&'static str, serde_json::Value>,
}

/// The health, readiness and metrics routes.
pub fn router(state: HealthState) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Whether the process is ready, to anyone; with why and what waits for a person
/// to support and monitoring only (the gate marks them [`SeesDetails`]).
async fn ready(
    State(state): State<HealthState>,
    details: Option<Extension<SeesDetails>>,
) -> axum::response::Response {
    let not_connected: Vec<String> = state
        .nats
        .iter()
        .filter_map(|(user, client)| match client.connection_state() {
            async_nats::connection::State::Connected => None,
            other => Some(format!("{user}: {}", format!("{other:?}").to_lowercase())),
        })
        .collect();
    let nats = if not_connected.is_empty() {
        "ok".to_owned()
    } else {
        not_connected.join(", ")
    };
    let postgres = match tokio::time::timeout(Duration::from_secs(2), async {
        let client = state.pool.get().await.map_err(|e| e.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => e,
        Err(_) => "no answer within 2s".to_owned(),
    };
    let projections = state.board.snapshot();
    let stalled = projections
        .iter()
        .any(|p| matches!(p.state, ProjectionState::Stalled { .. }));
    let parked_reactions = state
        .parked
        .counts()
        .await
        .map(|counts| counts.into_iter().collect())
        .unwrap_or_default();
    let needs_attention = state.attention.snapshot().await;
    let ready = nats == "ok" && postgres == "ok" && !stalled;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if details.is_none() {
        return (status, Json(serde_json::json!({ "ready": ready }))).into_response();
    }
    (
        status,
        Json(Readiness {
            ready,
            nats,
            postgres,
            projections,
            parked_reactions,
            needs_attention,
        }),
    )
        .into_response()
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::global().render(),
    )
}
