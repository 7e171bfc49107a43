//! The conventions of ferry's HTTP JSON APIs, shared by every service's routes:
//! errors as JSON with a reason and a fitting status (409 on a conflict), the actor
//! of a request, and the idempotency key that makes a retried request harmless.
//!
//! Who asks is what the gate ([`auth`]) authenticated from the request's bearer
//! token, never a header the client sets: a customer (`customer:<customer id>`) or
//! support (`support:<login>`); ferry authorizes every command with it.
//! `system:<service>` is refused here: ferry's services act through events only.
//!
//! This module emits and consumes no event.

use crate::command::{HandleError, Refusal, RefusalKind};
use crate::event_log::AppendError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ferry_events::{Actor, ActorRole, Grants};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod auth;
pub mod openapi;

/// Header carrying the client's key for a command: the same key is carried out once.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid`, `unauthenticated`, `forbidden`, `not_found`,
    /// `conflict`, `contention`, `too_large` (413: the body is over the limit; 422:
    /// the events it would record do not fit in one message of the log) or
    /// `unavailable`.
    pub error: String,
    /// What went wrong and, where it helps, what to do, for a human.
    pub reason: String,
}

/// An error answered as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with a status, a code and a reason.
    pub fn new(status: StatusCode, error: &str, reason: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.to_owned(),
                reason: reason.into(),
            },
        }
    }

    /// 400: the request is malformed.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", reason)
    }

    /// 403: the actor may not do this.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", reason)
    }

    /// 404: nothing by that name.
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", reason)
    }

    /// 404 for an id no aggregate can have (a `.`, a NUL byte, …), before it reaches
    /// a subject or a query, where it would be an outage instead of the client's
    /// mistake; `Ok` for a well-formed id.
    pub fn unless_valid_id(what: &str, id: &str) -> Result<(), Self> {
        ferry_events::validate_aggregate_id(id)
            .map_err(|e| Self::not_found(format!("no {what} {id:?}: {e}")))
    }

    /// 409: not possible in the current state.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", reason)
    }

    /// 413: the request's body is larger than ferry reads (`FERRY_MAX_BODY_BYTES`).
    pub fn too_large(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", reason)
    }

    /// 503: a dependency (NATS, PostgreSQL) did not answer; nothing changed.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", reason)
    }

    /// The error of a refused command.
    pub fn refused(refusal: &dyn Refusal) -> Self {
        let reason = refusal.to_string();
        match refusal.kind() {
            RefusalKind::Invalid => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", reason),
            RefusalKind::Forbidden => Self::forbidden(reason),
            RefusalKind::NotFound => Self::not_found(reason),
            RefusalKind::Conflict => Self::conflict(reason),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status, self.body.error, self.body.reason
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, reason = %self.body.reason, "request failed");
        }
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl<R: Refusal> From<HandleError<R>> for ApiError {
    fn from(e: HandleError<R>) -> Self {
        match e {
            HandleError::Rejected(refusal) => Self::refused(&refusal),
            HandleError::Contention { .. } => {
                Self::new(StatusCode::CONFLICT, "contention", e.to_string())
            }
            HandleError::InvalidAggregate(e) => Self::invalid(e.to_string()),
            HandleError::Read(e) => Self::unavailable(e.to_string()),
            // The command's events would not fit in one message of the log: the
            // request asked too much (a body near the limit), not an outage.
            HandleError::Append(
                e @ (AppendError::TooLarge { .. } | AppendError::TooManyEvents { .. }),
            ) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_large",
                format!("{e}: nothing was recorded; send less in one request"),
            ),
            // The service's NATS user may not write there: ferry's fault, not an outage.
            HandleError::Append(e @ AppendError::Forbidden { .. }) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "forbidden_append",
                e.to_string(),
            ),
            HandleError::Append(e) => Self::unavailable(e.to_string()),
        }
    }
}

/// Who makes the request, as the gate authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestActor(pub Actor);

/// Parses `customer:c-42`, `support:alice`, `system:billing` or `user:c-42/alice`.
pub fn parse_actor(text: &str) -> Result<Actor, String> {
    parse_among(
        text,
        &[
            ActorRole::Customer,
            ActorRole::Support,
            ActorRole::System,
            ActorRole::User,
        ],
        "<role>:<id>",
    )
}

/// A person's actor, as the CLI is told it: `customer:<customer id>`,
/// `support:<login>` or `user:<customer id>/<login>`. ferry's services act through
/// events, never as a person, so `system:` is not offered.
pub fn parse_person(text: &str) -> Result<Actor, String> {
    parse_among(
        text,
        &[ActorRole::Customer, ActorRole::Support, ActorRole::User],
        "customer:<id>, support:<login> or user:<customer id>/<login>",
    )
}

/// `<role>:<id>` with one of `roles`; `shape` is how a malformed text is told what
/// is expected. A user's id is `<customer id>/<login>`, both parts present; no
/// other id holds a `/`.
fn parse_among(text: &str, roles: &[ActorRole], shape: &str) -> Result<Actor, String> {
    let (role, id) = text
        .split_once(':')
        .ok_or_else(|| format!("actor {text:?} is not {shape}"))?;
    let id = id.trim();
    if id.is_empty() {
        return Err(format!("actor {text:?} has no id"));
    }
    let Some(role) = roles.iter().find(|r| r.as_str() == role.trim()) else {
        let names: Vec<&str> = roles.iter().map(ActorRole::as_str).collect();
        let listed = match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        return Err(format!("actor role {:?} is not {listed}", role.trim()));
    };
    match role {
        ActorRole::User => match id.split_once('/') {
            Some((customer, login))
                if !customer.is_empty() && !login.is_empty() && !login.contains('/') =>
            {
                Ok(Actor::user(customer, login))
            }
            _ => Err(format!(
                "actor {text:?}: a user is user:<customer id>/<login>"
            )),
        },
        _ if id.contains('/') => Err(format!("actor {text:?}: an id holds no '/'")),
        ActorRole::Customer => Ok(Actor::customer(id)),
        ActorRole::Support => Ok(Actor::support(id)),
        ActorRole::System => Ok(Actor::system(id)),
    }
}

/// The `role:id` text form of an actor.
pub fn format_actor(actor: &Actor) -> String {
    actor.to_string()
}

impl<S: Send + Sync> FromRequestParts<S> for RequestActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(auth::Authenticated(actor)) = parts.extensions.get::<auth::Authenticated>() else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "say who you are: send `Authorization: Bearer <token>` (`ferry token create` issues one)",
            ));
        };
        if actor.role == ActorRole::System {
            // ferry's services act through events, never through the API: a request
            // claiming to be one could record work nobody did.
            return Err(ApiError::forbidden(
                "system actors act through events, not through the API",
            ));
        }
        Ok(RequestActor(actor.clone()))
    }
}

/// The migration rights the caller holds by grant: a customer's user's, what its
/// commands are checked against; none for anyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestGrants(pub Grants);

impl<S: Send + Sync> FromRequestParts<S> for RequestGrants {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The gate sets both or neither: grants without an actor, or an actor whose
        // grants were not read, is a bug, never "no rights" nor "every right".
        match parts.extensions.get::<auth::Granted>() {
            Some(auth::Granted(grants)) => Ok(RequestGrants(grants.clone())),
            None if parts.extensions.get::<auth::Authenticated>().is_none() => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "say who you are: send `Authorization: Bearer <token>` (`ferry token create` issues one)",
            )),
            None => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the caller's grants were not read",
            )),
        }
    }
}

/// The command id of a request: its `idempotency-key` header (a UUID), or a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for CommandId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(IDEMPOTENCY_HEADER) {
            None => Ok(CommandId(Uuid::now_v7())),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|text| Uuid::parse_str(text.trim()).ok())
                .map(CommandId)
                .ok_or_else(|| ApiError::invalid(format!("{IDEMPOTENCY_HEADER} must be a UUID"))),
        }
    }
}

/// A JSON body whose rejection is an [`ApiError`] with the parser's reason.
///
/// A string holding a NUL character (`\u0000`) is refused, wherever it is: no name,
/// path, reason or address has one, and PostgreSQL's text cannot hold it, so an
/// event carrying one would stop every projection that reaches it.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::too_large(format!(
                    "the body is larger than ferry reads in one request ({}; \
                     FERRY_MAX_BODY_BYTES): nothing was recorded",
                    rejection.body_text()
                )));
            }
            Err(rejection) => return Err(ApiError::invalid(rejection.body_text())),
        };
        body_from_value(value).map(ApiJson)
    }
}

/// A request body, parsed as JSON, read as `T` as [`ApiJson`] reads it: a NUL
/// character anywhere is refused, and a field that does not fit is named. Pure, so
/// that the fuzz harness (`services/ferry/benches/fuzz.rs`) runs what the API runs.
pub fn body_from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    if let Some(at) = nul_at(&value, String::new()) {
        return Err(ApiError::invalid(format!(
            "{at}: a NUL character (\\u0000) is not accepted in any text"
        )));
    }
    // Read as `T` from the value already parsed, naming the field as axum does.
    serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::invalid(format!(
            "Failed to deserialize the JSON body into the target type: {}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// Where the first string (or key) holding a NUL character is, e.g. `accounts[0].name`.
fn nul_at(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    let named = |at: &str| {
        if at.is_empty() {
            "the body".to_owned()
        } else {
            at.to_owned()
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(named(&at)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, field)| {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key.contains('\0') {
                Some(named(&at))
            } else {
                nul_at(field, path)
            }
        }),
        _ => None,
    }
}

/// A path parameter whose rejection (a malformed UUID, say) is a JSON 400 naming the
/// parameter, as the description promises, rather than axum's plain text.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// A query string whose rejection is a JSON 400 with the parser's reason.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_character_is_found_where_it_is() {
        let body = serde_json::json!({
            "name": "ok",
            "accounts": [{"name": "fine"}, {"name": "bad\u{0}name"}],
        });
        assert_eq!(
            nul_at(&body, String::new()).as_deref(),
            Some("accounts[1].name")
        );
        assert_eq!(
            nul_at(&serde_json::json!({"name": "ok"}), String::new()),
            None
        );
    }

    /// A refusal no decider gives: the tests here only need the type.
    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct NoRefusal;

    impl Refusal for NoRefusal {
        fn kind(&self) -> RefusalKind {
            RefusalKind::Invalid
        }
    }

    #[test]
    fn events_too_large_for_the_log_are_the_clients_422_not_an_outage() {
        let aggregate = crate::event_log::AggregateRef {
            kind: ferry_events::AggregateType::Server,
            id: "srv-0042".into(),
        };
        let too_large: HandleError<NoRefusal> = HandleError::Append(AppendError::TooLarge {
            aggregate: aggregate.clone(),
            bytes: 1_300_000,
            max: 1_048_576,
        });
        let error = ApiError::from(too_large);
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.body.error, "too_large");
        assert!(
            error.body.reason.contains("1300000 bytes"),
            "{}",
            error.body.reason
        );
        assert!(
            error.body.reason.contains("at most 1048576"),
            "{}",
            error.body.reason
        );
        let too_many: HandleError<NoRefusal> = HandleError::Append(AppendError::TooManyEvents {
            aggregate: aggregate.clone(),
            count: 1001,
            max: 1000,
        });
        assert_eq!(
            ApiError::from(too_many).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let down: HandleError<NoRefusal> =
            HandleError::Append(AppendError::Unavailable("timed out".into()));
        assert_eq!(ApiError::from(down).status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ApiError::too_large("x").status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn actors_parse_and_print_back() {
        for text in ["customer:c-42", "support:alice", "system:billing"] {
            let actor = parse_actor(text).expect("valid");
            assert_eq!(format_actor(&actor), text);
        }
    }

    #[test]
    fn bad_actors_are_refused_with_a_reason() {
        for text in ["c-42", "customer:", "boss:x"] {
            assert!(parse_actor(text).is_err(), "{text}");
        }
    }
}
