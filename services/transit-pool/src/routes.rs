//! The transit pool's HTTP API, for support only (customers get 403): add a transit
//! server to the pool, take it out of service and back, retry a failed installation.
//!
//! Every route answers [`Changes`]: whether the command changed anything and the
//! types of the events it caused. The authenticated bearer token says who asks; an
//! `idempotency-key` header (a UUID) makes a retried request harmless.
//!
//! Emits, through [`TransitPool`], `TransitServerAdded`, `TransitServerWithdrawn`
//! (then `TransitServerTakenOutOfService` by the reactor),
//! `TransitServerReturnedToService` and `TransitInstallationStarted`.

use crate::service::{Changes, CommandMeta, NewTransitServer, TransitPool};
use axum::Json;
use axum::extract::State;
use ferry_events::{CredentialRef, ServerStorage};
use ferry_infra::api::openapi::{Id, IdempotencyKey, Ipv4Address, Ipv6Address, WithAnAddress};
use ferry_infra::api::{ApiError, ApiJson, ApiPath, CommandId, ErrorBody, RequestActor};
use ferry_infra::secrets::edge::take_passwords;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The OpenAPI tag of every route here.
pub const TAG: &str = "transit-pool";

/// The routes, serving `pool`.
pub fn router(pool: TransitPool) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(put_transit_server))
        .routes(routes!(take_out_of_service))
        .routes(routes!(return_to_service))
        .routes(routes!(retry_installation))
        .with_state(pool)
}

/// Where accounts' data lives on a transit server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageBody {
    /// Directory holding one sub-directory of files per account.
    #[schema(pattern = "\\S")]
    pub files_root: String,
    /// Directory holding one sub-directory of mailboxes per account.
    #[schema(pattern = "\\S")]
    pub mail_root: String,
    /// Connection URL of its PostgreSQL instance, if it runs one. A password in it
    /// is moved to ferry's secret store, and the URL recorded without it.
    #[serde(default)]
    pub postgres_url: Option<String>,
    /// Connection URL of its MySQL/MariaDB instance, if it runs one (same rule).
    #[serde(default)]
    pub mysql_url: Option<String>,
    /// Instead of a password in `postgres_url`: the reference of a secret already in
    /// the secret store, e.g. `postgres_db-7_5432_ferry` (422 if none is stored).
    #[serde(default)]
    pub postgres_credential: Option<CredentialRef>,
    /// The same for `mysql_url`.
    #[serde(default)]
    pub mysql_credential: Option<CredentialRef>,
}

impl From<StorageBody> for ServerStorage {
    fn from(body: StorageBody) -> Self {
        ServerStorage {
            files_root: body.files_root,
            mail_root: body.mail_root,
            postgres_url: body.postgres_url,
            mysql_url: body.mysql_url,
            postgres_credential: body.postgres_credential,
            mysql_credential: body.mysql_credential,
        }
    }
}

/// A transit server joining the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitServerBody {
    /// Its host name, e.g. `transit-07.hosting.example`.
    #[schema(pattern = "\\S")]
    pub name: String,
    /// Its hardware configuration, e.g. `vps-4c-8g`: it is lent only to client servers
    /// with the same one.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub configuration: String,
    /// The infrastructure version it runs now, e.g. `v2026`.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub infrastructure_version: String,
    /// Its IPv4 addresses; it has at least one address, IPv4 or IPv6 (422 otherwise).
    #[serde(default)]
    #[schema(value_type = Vec<Ipv4Address>, inline)]
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses.
    #[serde(default)]
    #[schema(value_type = Vec<Ipv6Address>, inline)]
    pub ipv6: Vec<String>,
    /// Where accounts' data lives on it.
    pub storage: StorageBody,
}

/// Why a transit server is taken out of service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutOfServiceBody {
    /// Why, for support, e.g. `disk fault`: not blank.
    #[schema(pattern = "\\S")]
    pub reason: String,
}

/// The registration's body as the description shows it: with at least one address.
type TransitRegistrationBody = WithAnAddress<TransitServerBody>;

/// Adds a transit server to the pool, free to be lent in its configuration's queue. An
/// identical re-add (a fleet re-import) changes nothing; other details are a conflict.
#[utoipa::path(
    put,
    path = "/transit-servers/{id}",
    tag = TAG,
    params(
        ("id" = inline(Id), Path, description = "The transit server id, e.g. `tr-0007`"),
        IdempotencyKey,
    ),
    request_body = TransitRegistrationBody,
    responses(
        (status = 200, description = "Added, or already there with these details", body = Changes),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 409, description = "Already there with other details", body = ErrorBody),
        (status = 422, description = "Impossible details", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn put_transit_server(
    State(pool): State<TransitPool>,
    ApiPath(id): ApiPath<String>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiJson(body): ApiJson<TransitServerBody>,
) -> Result<Json<Changes>, ApiError> {
    let mut storage: ServerStorage = body.storage.into();
    // Passwords out, into the secret store, before anything is decided; support's
    // only (anyone else is refused by the decider, and never reaches the store).
    if actor.role != ferry_events::ActorRole::Customer {
        take_passwords(pool.secrets(), "storage", &mut storage)?;
    }
    let details = NewTransitServer {
        name: body.name,
        configuration: body.configuration,
        infrastructure_version: body.infrastructure_version,
        ipv4: body.ipv4,
        ipv6: body.ipv6,
        storage,
    };
    let handled = pool
        .add_server(&CommandMeta::new(command_id, actor), &id, details)
        .await?;
    Ok(Json(Changes::of(&handled.events)))
}

/// Takes a free transit server out of service: its queue withdraws it at once (only a
/// free server can be), and the server follows. Already out of service: no change.
#[utoipa::path(
    post,
    path = "/transit-servers/{id}/out-of-service",
    tag = TAG,
    params(
        ("id" = inline(Id), Path, description = "The transit server id"),
        IdempotencyKey,
    ),
    request_body = OutOfServiceBody,
    responses(
        (status = 200, description = "Withdrawn from its queue, or already out of service", body = Changes),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 404, description = "Not in the pool", body = ErrorBody),
        (status = 409, description = "Not free (reserved, installing, lent or being wiped)", body = ErrorBody),
        (status = 422, description = "No reason given", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn take_out_of_service(
    State(pool): State<TransitPool>,
    ApiPath(id): ApiPath<String>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
    ApiJson(body): ApiJson<OutOfServiceBody>,
) -> Result<Json<Changes>, ApiError> {
    let events = pool
        .request_out_of_service(&CommandMeta::new(command_id, actor), &id, &body.reason)
        .await?;
    Ok(Json(Changes::of(&events)))
}

/// Puts a transit server out of service back into service; its queue lends it again.
/// After a failed wipe it is wiped again first, and free only once that wipe is done.
#[utoipa::path(
    post,
    path = "/transit-servers/{id}/in-service",
    tag = TAG,
    params(
        ("id" = inline(Id), Path, description = "The transit server id"),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Back in service, or already in service", body = Changes),
        (status = 400, description = "Malformed id or idempotency key", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 404, description = "Not in the pool", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn return_to_service(
    State(pool): State<TransitPool>,
    ApiPath(id): ApiPath<String>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
) -> Result<Json<Changes>, ApiError> {
    let handled = pool
        .return_to_service(&CommandMeta::new(command_id, actor), &id)
        .await?;
    Ok(Json(Changes::of(&handled.events)))
}

/// Starts a failed installation again, for the same migration and version.
#[utoipa::path(
    post,
    path = "/transit-servers/{id}/installation/retry",
    tag = TAG,
    params(
        ("id" = inline(Id), Path, description = "The transit server id"),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Installation started again", body = Changes),
        (status = 400, description = "Malformed id or idempotency key", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Not support", body = ErrorBody),
        (status = 404, description = "Not in the pool", body = ErrorBody),
        (status = 409, description = "No failed installation to retry", body = ErrorBody),
        (status = 503, description = "The event log is unavailable", body = ErrorBody),
    )
)]
async fn retry_installation(
    State(pool): State<TransitPool>,
    ApiPath(id): ApiPath<String>,
    RequestActor(actor): RequestActor,
    CommandId(command_id): CommandId,
) -> Result<Json<Changes>, ApiError> {
    let handled = pool
        .retry_installation(&CommandMeta::new(command_id, actor), &id)
        .await?;
    Ok(Json(Changes::of(&handled.events)))
}
