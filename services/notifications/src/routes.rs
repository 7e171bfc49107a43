//! The outbox's HTTP API, for support only (customers get 403): the messages and
//! their counts by state, one message with its attempts, and putting back a message
//! given up on or whose attempt was interrupted.
//!
//! Emits, through [`Outbox`], `NotificationRequeued`.

use crate::outbox::query::{
    self, NotificationDetail, NotificationList, NotificationState, QueryError,
};
use crate::service::Outbox;
use axum::Json;
use axum::extract::State;
use deadpool_postgres::Pool;
use ferry_events::ActorRole;
use ferry_infra::api::openapi::IdempotencyKey;
use ferry_infra::api::{ApiError, ApiJson, ApiPath, ApiQuery, CommandId, ErrorBody, RequestActor};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The OpenAPI tag of every route here.
pub const TAG: &str = "notifications";

/// Largest page.
pub const MAX_LIMIT: u32 = 500;

/// What the routes serve from.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The outbox's commands.
    pub outbox: Outbox,
    /// The outbox's read model.
    pub pool: Pool,
    /// How long an attempt may stay unrecorded before it counts as interrupted.
    pub interrupted_after: Duration,
}

impl ApiState {
    fn cutoff(&self) -> chrono::DateTime<chrono::Utc> {
        query::cutoff(self.outbox.log().clock().now(), self.interrupted_after)
    }
}

/// The routes.
pub fn router(state: ApiState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(get_notification))
        .routes(routes!(requeue_notification))
        .with_state(state)
}

fn support_only(actor: &ferry_events::Actor) -> Result<(), ApiError> {
    if actor.role == ActorRole::Support {
        Ok(())
    } else {
        Err(ApiError::forbidden("the outbox is support's"))
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::unavailable(e.to_string())
    }
}

/// Filters of the outbox's list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the messages in this state.
    pub state: Option<NotificationState>,
    /// Page size, 1 to 500 (50 by default).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Messages skipped (0 by default).
    // Described as a 64-bit integer: a `u32` would be `int32`, whose range stops at
    // 2^31 − 1, below what is accepted.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4_294_967_295_u64)]
    pub offset: Option<u32>,
}

/// Why a message is put back in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequeueBody {
    /// Why, for the audit, e.g. `relay mended` or `checked: never arrived`; not blank.
    #[schema(pattern = "\\S")]
    pub reason: String,
}

/// The answer to a requeue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RequeueAnswer {
    /// The message.
    pub notification_id: Uuid,
    /// Whether the request changed anything (false: this request had already put it
    /// back).
    pub changed: bool,
    /// The types of the events it caused.
    pub events: Vec<String>,
}

/// The outbox: messages newest first, with the counts of every state.
#[utoipa::path(
    get,
    path = "/notifications",
    tag = TAG,
    params(ListQuery),
    responses(
        (status = 200, description = "A page of messages and the counts by state", body = NotificationList),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 503, description = "The outbox is unavailable", body = ErrorBody),
    )
)]
async fn list_notifications(
    State(state): State<ApiState>,
    RequestActor(actor): RequestActor,
    ApiQuery(filters): ApiQuery<ListQuery>,
) -> Result<Json<NotificationList>, ApiError> {
    support_only(&actor)?;
    let limit = filters.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = filters.offset.unwrap_or(0);
    let list = query::list(&state.pool, filters.state, limit, offset, state.cutoff()).await?;
    Ok(Json(list))
}

/// One message: its text, where it is and its every attempt.
#[utoipa::path(
    get,
    path = "/notifications/{id}",
    tag = TAG,
    params(
        ("id" = Uuid, Path, description = "The notification id"),
    ),
    responses(
        (status = 200, description = "The message and its history", body = NotificationDetail),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 503, description = "The outbox is unavailable", body = ErrorBody),
    )
)]
async fn get_notification(
    State(state): State<ApiState>,
    RequestActor(actor): RequestActor,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<NotificationDetail>, ApiError> {
    support_only(&actor)?;
    query::get(&state.pool, id, state.cutoff())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no notification {id}")))
}

/// Puts back in the outbox a message given up on (after mending the mail system) or
/// whose last attempt was interrupted (after checking it never arrived): it is sent
/// again, with a new round of attempts.
#[utoipa::path(
    post,
    path = "/notifications/{id}/requeue",
    tag = TAG,
    params(
        ("id" = Uuid, Path, description = "The notification id"),
        IdempotencyKey,
    ),
    request_body = RequeueBody,
    responses(
        (status = 200, description = "Put back in the outbox", body = RequeueAnswer),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 404, description = "No such message", body = ErrorBody),
        (status = 409, description = "Neither given up on nor interrupted (queued, under way, retrying or sent)", body = ErrorBody),
        (status = 422, description = "No reason given", body = ErrorBody),
        (status = 503, description = "The outbox or the event log is unavailable", body = ErrorBody),
    )
)]
async fn requeue_notification(
    State(state): State<ApiState>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RequeueBody>,
) -> Result<Json<RequeueAnswer>, ApiError> {
    support_only(&actor)?;
    let Some(message) = query::get(&state.pool, id, state.cutoff()).await? else {
        return Err(ApiError::not_found(format!("no notification {id}")));
    };
    if message.summary.state == NotificationState::Sending {
        return Err(ApiError::conflict(format!(
            "attempt {} is under way since {}; it counts as interrupted, and can be put back, {} s after it began",
            message.summary.attempts,
            message.summary.updated_at,
            state.interrupted_after.as_secs()
        )));
    }
    let handled = state
        .outbox
        .requeue(
            command_id,
            actor,
            id,
            message.summary.correlation_id,
            &body.reason,
        )
        .await?;
    Ok(Json(RequeueAnswer {
        notification_id: id,
        changed: !handled.events.is_empty(),
        events: handled
            .events
            .iter()
            .map(|e| e.event_type().to_owned())
            .collect(),
    }))
}
