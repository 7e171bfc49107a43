//! The HTTP API of the rights customers grant their users: a customer (or support)
//! grants one of its users migration rights on one of its servers, or on one
//! account of it, takes them back, and lists them. A user sees its own grants and
//! may give them up.
//!
//! Emits, through [`Access`], `MigrationRightsGranted` and `MigrationRightsRevoked`;
//! reads the read model `proj_access`.

use crate::domain::user_grants::validate_login;
use crate::projection::SCHEMA_NAME;
use crate::routes::{AccessState, TAG};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use ferry_events::{Actor, ActorRole, GrantScope};
use ferry_infra::api::openapi::{Id, IdempotencyKey};
use ferry_infra::api::{ApiError, ApiJson, ApiPath, CommandId, ErrorBody, RequestActor};
use ferry_infra::command::Handled;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::PartialSchema;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes, serving `state`.
pub fn router(state: AccessState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(grant))
        .routes(routes!(revoke_grant))
        .routes(routes!(list_grants))
        .with_state(state)
}

/// A customer's user's login, as a path parameter: 1 to 64 letters, digits, `.`,
/// `_`, `-` or `@`.
pub struct Login;

impl PartialSchema for Login {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9._@-]{1,64}$"))
            .min_length(Some(1))
            .max_length(Some(crate::domain::user_grants::MAX_LOGIN_CHARS))
            .into()
    }
}

impl utoipa::ToSchema for Login {
    fn name() -> Cow<'static, str> {
        "Login".into()
    }
}

/// What to grant, or take back: a whole server, or one account of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The server.
    #[schema(example = "srv-0042", pattern = "^[A-Za-z0-9_-]{1,128}$")]
    pub server_id: String,
    /// One account of it; absent: the whole server.
    #[schema(example = "acc-1207", pattern = "^[A-Za-z0-9_-]{1,128}$")]
    #[serde(default)]
    pub account_id: Option<String>,
}

impl From<GrantBody> for GrantScope {
    fn from(body: GrantBody) -> Self {
        GrantScope {
            server_id: body.server_id,
            account_id: body.account_id,
        }
    }
}

/// What a grant or a revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantChanged {
    /// The user: `user:<customer id>/<login>`.
    pub user: String,
    /// What was granted or taken back.
    pub scope: GrantScope,
    /// Whether anything changed (false: it was so already).
    pub changed: bool,
}

impl GrantChanged {
    /// The answer to a grant or a revocation of `scope` to `login` of `customer_id`,
    /// from what its command did.
    fn of<S>(customer_id: &str, login: &str, scope: GrantScope, handled: &Handled<S>) -> Self {
        Self {
            user: Actor::user(customer_id, login).to_string(),
            scope,
            changed: !handled.events.is_empty() && !handled.already_handled,
        }
    }
}

/// One grant in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantSummary {
    /// The user: `user:<customer id>/<login>`.
    pub user: String,
    /// Its login.
    pub login: String,
    /// What it may act on.
    pub scope: GrantScope,
    /// Since when.
    pub granted_at: DateTime<Utc>,
    /// Who granted it.
    pub granted_by: String,
}

/// The grants in force of a customer's users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantList {
    /// By login, then server, then account.
    pub grants: Vec<GrantSummary>,
}

fn checked_path(customer_id: &str, login: &str) -> Result<(), ApiError> {
    ApiError::unless_valid_id("customer", customer_id)?;
    validate_login(login).map_err(|e| ApiError::invalid(e.to_string()))
}

/// Grants user `login` of `customer_id` the right to act on the migrations of a
/// server, or of one account of it: the customer or support.
#[utoipa::path(
    post,
    path = "/customers/{customer_id}/users/{login}/grants",
    tag = TAG,
    params(
        ("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`"),
        ("login" = inline(Login), Path, description = "One of its users, e.g. `alice`"),
        IdempotencyKey,
    ),
    request_body = GrantBody,
    responses(
        (status = 200, description = "Granted, or already", body = GrantChanged),
        (status = 400, description = "Malformed request, or login", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not the customer's or support's; or a server of another customer", body = ErrorBody),
        (status = 404, description = "No such server or account; a customer id no customer can have", body = ErrorBody),
        (status = 422, description = "A malformed server or account id", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn grant(
    State(state): State<AccessState>,
    ApiPath((customer_id, login)): ApiPath<(String, String)>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<GrantChanged>, ApiError> {
    checked_path(&customer_id, &login)?;
    let scope = GrantScope::from(body);
    let handled = state
        .access
        .grant(command_id, &actor, &customer_id, &login, scope.clone())
        .await?;
    Ok(Json(GrantChanged::of(
        &customer_id,
        &login,
        scope,
        &handled,
    )))
}

/// Takes back what user `login` of `customer_id` was granted on a server or an
/// account: the customer, support, or the user itself (giving it up).
#[utoipa::path(
    post,
    path = "/customers/{customer_id}/users/{login}/grants/revocation",
    tag = TAG,
    params(
        ("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`"),
        ("login" = inline(Login), Path, description = "One of its users, e.g. `alice`"),
        IdempotencyKey,
    ),
    request_body = GrantBody,
    responses(
        (status = 200, description = "Taken back, or not held", body = GrantChanged),
        (status = 400, description = "Malformed request, or login", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not the customer's, the user's or support's", body = ErrorBody),
        (status = 404, description = "A customer id no customer can have", body = ErrorBody),
        (status = 422, description = "A malformed server or account id", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn revoke_grant(
    State(state): State<AccessState>,
    ApiPath((customer_id, login)): ApiPath<(String, String)>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<GrantChanged>, ApiError> {
    checked_path(&customer_id, &login)?;
    let scope = GrantScope::from(body);
    let handled = state
        .access
        .revoke_grant(command_id, &actor, &customer_id, &login, scope.clone())
        .await?;
    Ok(Json(GrantChanged::of(
        &customer_id,
        &login,
        scope,
        &handled,
    )))
}

/// The grants in force of a customer's users: the customer and support see them
/// all, a user its own.
#[utoipa::path(
    get,
    path = "/customers/{customer_id}/grants",
    tag = TAG,
    params(("customer_id" = inline(Id), Path, description = "The customer, e.g. `c-42`")),
    responses(
        (status = 200, body = GrantList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another customer's", body = ErrorBody),
        (status = 404, description = "A customer id no customer can have", body = ErrorBody),
        (status = 503, description = "The read model is unavailable or being built", body = ErrorBody),
    )
)]
async fn list_grants(
    State(state): State<AccessState>,
    ApiPath(customer_id): ApiPath<String>,
    RequestActor(actor): RequestActor,
) -> Result<Json<GrantList>, ApiError> {
    ApiError::unless_valid_id("customer", &customer_id)?;
    // A user lists its own grants only; its customer and support, every user's.
    let only_login = match actor.role {
        ActorRole::Support | ActorRole::System => None,
        ActorRole::Customer if actor.id == customer_id => None,
        ActorRole::User if actor.customer_id() == Some(customer_id.as_str()) => {
            actor.login().map(str::to_owned)
        }
        _ => {
            return Err(ApiError::forbidden(format!(
                "{actor} may not see customer {customer_id}'s grants"
            )));
        }
    };
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| ApiError::unavailable(format!("access read model unavailable: {e}")))?;
    let rows = client
        .query(
            &format!(
                "SELECT login, server_id, account_id, granted_at, granted_by
                 FROM {SCHEMA_NAME}.grants
                 WHERE customer_id = $1 AND ($2::text IS NULL OR login = $2)
                 ORDER BY login, server_id, account_id"
            ),
            &[&customer_id, &only_login],
        )
        .await
        .map_err(|e| ApiError::unavailable(format!("access read model: {e}")))?;
    let grants = rows
        .iter()
        .map(|row| {
            let login: String = row.try_get("login")?;
            let account_id: String = row.try_get("account_id")?;
            Ok(GrantSummary {
                user: Actor::user(&customer_id, &login).to_string(),
                login,
                scope: GrantScope {
                    server_id: row.try_get("server_id")?,
                    account_id: (!account_id.is_empty()).then_some(account_id),
                },
                granted_at: row.try_get("granted_at")?,
                granted_by: row.try_get("granted_by")?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|e| ApiError::unavailable(format!("access read model: {e}")))?;
    Ok(Json(GrantList { grants }))
}
