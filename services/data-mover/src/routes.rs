//! The data mover's HTTP API: downtime estimates of a server's accounts, for their
//! owner and support (another customer gets 403). Emits no event.

use crate::estimates::{Estimates, ServerEstimates};
use axum::Json;
use axum::extract::State;
use ferry_events::ActorRole;
use ferry_infra::api::openapi::Id;
use ferry_infra::api::{ApiError, ApiPath, ErrorBody, RequestActor, RequestGrants};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The OpenAPI tag of every route here.
pub const TAG: &str = "data-mover";

/// The routes, serving `estimates`.
pub fn router(estimates: Estimates) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(downtime_estimates))
        .with_state(estimates)
}

/// How long each account of a server would be down while it moves, and how each of
/// its databases would be copied, from the downtimes measured on earlier cutovers.
#[utoipa::path(
    get,
    path = "/servers/{server_id}/downtime-estimates",
    tag = TAG,
    params(("server_id" = inline(Id), Path, description = "The server, e.g. `srv-0042`")),
    responses(
        (status = 200, description = "The estimates", body = ServerEstimates),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not the owner's or support's", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 503, description = "The log is unavailable", body = ErrorBody),
    )
)]
async fn downtime_estimates(
    State(estimates): State<Estimates>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(server_id): ApiPath<String>,
) -> Result<Json<ServerEstimates>, ApiError> {
    ApiError::unless_valid_id("server", &server_id)?;
    let unavailable = |e: ferry_infra::event_log::ReadError| ApiError::unavailable(e.to_string());
    let data = estimates.server(&server_id).await.map_err(unavailable)?;
    let Some(owner) = data.customer_id.clone() else {
        return Err(ApiError::not_found(format!("no server {server_id}")));
    };
    // The owner, a user it granted anything of the server (its estimates are the
    // accounts' downtimes), support.
    let allowed = match actor.role {
        ActorRole::Customer => actor.id == owner,
        ActorRole::User => {
            actor.customer_id() == Some(owner.as_str()) && grants.touches_server(&server_id)
        }
        ActorRole::Support | ActorRole::System => true,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "server {server_id} is not {actor}'s to see"
        )));
    }
    let body = estimates.of(&server_id, data).await.map_err(unavailable)?;
    Ok(Json(body))
}
