//! The access service's HTTP API: tokens issued (the token shown once, in the
//! answer), listed and revoked, and who the caller is. Support issues, lists and
//! revokes any token; a customer, its own (another's is "not found").
//!
//! Emits, through [`Access`], `ApiTokenIssued` and `ApiTokenRevoked`; reads the
//! read model `proj_access`.

use crate::domain::api_token::MAX_LIFETIME_DAYS;
use crate::projection::SCHEMA_NAME;
use crate::service::{Access, IssueError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::Pool;
use ferry_events::{Actor, ActorRole, GrantScope};
use ferry_infra::api::openapi::IdempotencyKey;
use ferry_infra::api::{
    ApiError, ApiJson, ApiPath, CommandId, ErrorBody, RequestActor, RequestGrants, parse_person,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The OpenAPI tag of every route here.
pub const TAG: &str = "access";

/// What the routes serve from.
#[derive(Debug, Clone)]
pub struct AccessState {
    /// The command side.
    pub access: Access,
    /// The read model's database.
    pub pool: Pool,
}

/// The routes, serving `state`.
pub fn router(state: AccessState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(issue, list))
        .routes(routes!(revoke))
        .routes(routes!(whoami))
        .with_state(state.clone())
        .merge(crate::grant_routes::router(state))
}

/// A token to issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// Who it will act as: `customer:<customer id>`, `support:<login>` or
    /// `user:<customer id>/<login>` (a customer may ask for itself and its users, a
    /// user for itself).
    #[schema(
        example = "customer:c-42",
        pattern = "^((customer|support):[A-Za-z0-9._@-]{1,64}|user:[A-Za-z0-9._@-]{1,64}/[A-Za-z0-9._@-]{1,64})$"
    )]
    pub holder: String,
    /// What it is for, for whoever lists tokens.
    #[schema(example = "backup script", pattern = "\\S", max_length = 200)]
    pub label: String,
    /// Days until it expires, 1 to 366.
    #[schema(minimum = 1, maximum = 366)]
    #[serde(deserialize_with = "ferry_events::whole_number::whole")]
    pub expires_in_days: u32,
}

/// A token just issued: its text is shown here, once, and never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    /// Its id (to list or revoke it).
    pub token_id: Uuid,
    /// The token, for `Authorization: Bearer <token>`: keep it secret.
    pub token: String,
    /// Who it acts as.
    pub holder: String,
    /// What it is for.
    pub label: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// A token as listed (never its text nor its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenSummary {
    /// Its id.
    pub token_id: Uuid,
    /// Who it acts as.
    pub holder: String,
    /// What it is for.
    pub label: String,
    /// When it was issued, and by whom.
    pub issued_at: DateTime<Utc>,
    /// Who had it issued.
    pub issued_by: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// Why.
    pub revoke_reason: Option<String>,
}

/// The tokens the caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// Newest first.
    pub tokens: Vec<TokenSummary>,
}

/// Why a token is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why, for the audit: not blank.
    #[schema(pattern = "\\S")]
    pub reason: String,
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Revoked {
    /// Whether anything changed (false: it was already revoked).
    pub changed: bool,
}

/// Who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// `customer:<customer id>`, `support:<login>` or `user:<customer id>/<login>`.
    pub actor: String,
    /// What a customer's user was granted (empty for anyone else).
    pub grants: Vec<GrantScope>,
}

fn refused(error: IssueError) -> ApiError {
    match error {
        IssueError::Handle(e) => e.into(),
        other => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.to_string(),
        ),
    }
}

/// Issues a token acting as `holder`, expiring in `expires_in_days` days. The answer
/// is the only time the token is shown.
#[utoipa::path(
    post,
    path = "/tokens",
    tag = TAG,
    request_body = IssueBody,
    responses(
        (status = 201, description = "Issued", body = IssuedToken),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A customer asking for someone else", body = ErrorBody),
        (status = 422, description = "A malformed holder, a blank label, a lifetime out of range", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn issue(
    State(state): State<AccessState>,
    RequestActor(actor): RequestActor,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let holder = parse_person(&body.holder).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("holder: {e}"),
        )
    })?;
    if !(1..=u32::try_from(MAX_LIFETIME_DAYS).unwrap_or(u32::MAX)).contains(&body.expires_in_days) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "expires_in_days is 1 to {MAX_LIFETIME_DAYS}, not {}",
                body.expires_in_days
            ),
        ));
    }
    let expires_at =
        state.access.log().clock().now() + Duration::days(i64::from(body.expires_in_days));
    let issued = state
        .access
        .issue(&actor, holder.clone(), &body.label, expires_at)
        .await
        .map_err(refused)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token_id: issued.token.id,
            token: issued.token.reveal(),
            holder: holder.to_string(),
            label: body.label,
            expires_at,
        }),
    ))
}

/// The tokens issued: support sees all, a customer its own. Newest first.
#[utoipa::path(
    get,
    path = "/tokens",
    tag = TAG,
    responses(
        (status = 200, body = TokenList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AccessState>,
    RequestActor(actor): RequestActor,
) -> Result<Json<TokenList>, ApiError> {
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| ApiError::unavailable(format!("access read model unavailable: {e}")))?;
    // Support sees every token; a customer, its own and its users'; a user, its own.
    let holder = (actor.role != ActorRole::Support).then(|| actor.to_string());
    let users_of = (actor.role == ActorRole::Customer).then(|| actor.id.clone());
    let rows = client
        .query(
            &format!(
                "SELECT token_id, holder, label, issued_at, issued_by, expires_at, revoked_at,
                    revoked_by, revoke_reason
                 FROM {SCHEMA_NAME}.api_tokens
                 WHERE $1::text IS NULL OR holder = $1
                    OR (holder_role = 'user' AND split_part(holder_id, '/', 1) = $2::text)
                 ORDER BY issued_at DESC, token_id"
            ),
            &[&holder, &users_of],
        )
        .await
        .map_err(|e| ApiError::unavailable(format!("access read model: {e}")))?;
    let tokens = rows
        .iter()
        .map(|row| {
            Ok(TokenSummary {
                token_id: row.try_get("token_id")?,
                holder: row.try_get("holder")?,
                label: row.try_get("label")?,
                issued_at: row.try_get("issued_at")?,
                issued_by: row.try_get("issued_by")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                revoked_by: row.try_get("revoked_by")?,
                revoke_reason: row.try_get("revoke_reason")?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|e| ApiError::unavailable(format!("access read model: {e}")))?;
    Ok(Json(TokenList { tokens }))
}

/// Revokes a token: it is refused from the next request on.
#[utoipa::path(
    post,
    path = "/tokens/{token_id}/revocation",
    tag = TAG,
    params(("token_id" = Uuid, Path, description = "The token"), IdempotencyKey),
    request_body = RevokeBody,
    responses(
        (status = 200, description = "Revoked, or already", body = Revoked),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such token, or another customer's", body = ErrorBody),
        (status = 422, description = "No reason", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AccessState>,
    ApiPath(token_id): ApiPath<Uuid>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<Revoked>, ApiError> {
    let handled = state
        .access
        .revoke(command_id, &actor, token_id, &body.reason)
        .await?;
    Ok(Json(Revoked {
        changed: !handled.events.is_empty() && !handled.already_handled,
    }))
}

/// Who the caller's token says it is.
#[utoipa::path(
    get,
    path = "/whoami",
    tag = TAG,
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
async fn whoami(
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
) -> Json<WhoAmI> {
    Json(WhoAmI {
        actor: Actor::to_string(&actor),
        grants: grants.scopes().cloned().collect(),
    })
}
