//! Support's view of the parked reactions (`ferry reactions`): list them, and ask
//! for them to be retried now rather than at the next periodic retry.
//!
//! Emits and consumes no event type.

use super::parked::{ParkedReaction, ParkedReactions};
use crate::api::{ApiError, ApiQuery, ErrorBody, RequestActor};
use axum::Json;
use axum::extract::State;
use ferry_events::{Actor, ActorRole};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The OpenAPI tag of these routes.
pub const TAG: &str = "reactions";

/// The routes, over `parked`.
pub fn router(parked: ParkedReactions) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_parked))
        .routes(routes!(retry_parked))
        .with_state(parked)
}

/// Which reactor's parked reactions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReactorFilter {
    /// A reactor's name (e.g. `accounts`); every reactor's when absent.
    #[param(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub reactor: Option<String>,
}

impl ReactorFilter {
    /// The reactor asked for, refused (400) unless it is a name a reactor can have.
    fn reactor(&self) -> Result<Option<&str>, ApiError> {
        match self.reactor.as_deref() {
            Some(name) => ferry_events::validate_aggregate_id(name)
                .map(|()| Some(name))
                .map_err(|e| ApiError::invalid(format!("reactor: {e}"))),
            None => Ok(None),
        }
    }
}

/// The parked reactions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParkedList {
    /// In log order, per reactor.
    pub parked: Vec<ParkedReaction>,
}

/// What a retry request concerns.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetryRequested {
    /// How many parked reactions will be retried within seconds.
    pub parked: u64,
}

fn support_only(actor: &Actor) -> Result<(), ApiError> {
    if actor.role == ActorRole::Support {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only support sees and retries parked reactions",
        ))
    }
}

/// The reactions that failed for a reason retrying at once could not fix: each
/// with its event's sequence, type and aggregate, the error, and whether it waits
/// behind an earlier one of the same aggregate. Support only.
#[utoipa::path(
    get,
    path = "/reactions/parked",
    tag = TAG,
    params(
        ReactorFilter,
    ),
    responses(
        (status = 200, description = "The parked reactions", body = ParkedList),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn list_parked(
    State(parked): State<ParkedReactions>,
    RequestActor(actor): RequestActor,
    ApiQuery(filter): ApiQuery<ReactorFilter>,
) -> Result<Json<ParkedList>, ApiError> {
    support_only(&actor)?;
    let parked = parked
        .list(filter.reactor()?)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(ParkedList { parked }))
}

/// Asks the reactors to retry their parked reactions now (after a fix, or once the
/// missing fact has arrived), per aggregate in log order. Support only.
#[utoipa::path(
    post,
    path = "/reactions/parked/retry",
    tag = TAG,
    params(
        ReactorFilter,
    ),
    responses(
        (status = 202, description = "Retry requested", body = RetryRequested),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
async fn retry_parked(
    State(parked): State<ParkedReactions>,
    RequestActor(actor): RequestActor,
    ApiQuery(filter): ApiQuery<ReactorFilter>,
) -> Result<(axum::http::StatusCode, Json<RetryRequested>), ApiError> {
    support_only(&actor)?;
    let count = parked
        .request_retry(filter.reactor()?)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::info!(actor = %actor, reactor = ?filter.reactor, count, "retry of parked reactions requested");
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(RetryRequested { parked: count }),
    ))
}
