//! The query routes of the read side (tag `read`). Every route needs the
//! authenticated actor (401 without a valid bearer token); a customer sees only their own servers,
//! migrations and audits (403 otherwise) and not the transit pool; unknown ids are
//! 404. Errors are [`ApiError`] JSON bodies.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use deadpool_postgres::Pool;
use ferry_infra::api::openapi::Id;
use ferry_infra::api::{ApiError, ApiPath, ApiQuery, ErrorBody, RequestActor, RequestGrants};
use ferry_infra::event_log::EventLog;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::Viewer;
use crate::audit::{self, AuditTimeline};
use crate::error::QueryError;
use crate::failed::{FailedTransfer, needing_a_person};
use crate::query;
use crate::response::{MigrationDetail, ServerDetail, ServerListItem, TransitQueueView};
use crate::view::{
    MigrationView, OptionalMigrationView, ServerView, TargetInfrastructureView, TransitServerView,
    TransitState,
};

/// What the routes work with.
#[derive(Clone)]
pub struct ReadState {
    /// The read-model database.
    pub pool: Pool,
    /// The event log, for audits.
    pub log: EventLog,
}

/// The query routes, with their OpenAPI description.
pub fn router(state: ReadState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_servers))
        .routes(routes!(get_server))
        .routes(routes!(server_audit))
        .routes(routes!(get_migration))
        .routes(routes!(list_transit_servers))
        .routes(routes!(list_transit_queues))
        .routes(routes!(list_failed_transfers))
        .routes(routes!(list_target_infrastructures))
        .routes(routes!(list_optional_migrations))
        .with_state(state)
}

/// Filters of `GET /servers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServersQuery {
    /// Only servers whose current migration is at this step (1 to 8).
    #[param(minimum = 1, maximum = 8)]
    pub step: Option<u8>,
}

/// Filters of `GET /optional-migrations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptionalMigrationsQuery {
    /// Only the optional migrations of this server.
    #[param(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub server: Option<String>,
}

/// A server the viewer may see.
async fn visible_server(pool: &Pool, viewer: &Viewer, id: &str) -> Result<ServerView, QueryError> {
    // An id no server can have (a NUL byte, a `.`) is not the read model's outage.
    if ferry_events::validate_aggregate_id(id).is_err() {
        return Err(QueryError::NotFound {
            what: "server",
            id: id.to_owned(),
        });
    }
    let server = query::server(pool, id)
        .await?
        .ok_or_else(|| QueryError::NotFound {
            what: "server",
            id: id.to_owned(),
        })?;
    viewer.may_see(&format!("server {id}"), &server.customer_id, id)?;
    Ok(server)
}

/// The detail of a migration, as of now.
async fn detail(
    state: &ReadState,
    view: MigrationView,
    server: Option<&ServerView>,
) -> Result<MigrationDetail, QueryError> {
    let position = match view.queue.as_ref().filter(|q| q.is_waiting()) {
        Some(queue) => query::queue(&state.pool, Some(&queue.configuration))
            .await?
            .into_iter()
            .find(|row| row.migration_id == view.migration_id)
            .map(|row| row.position),
        None => None,
    };
    Ok(MigrationDetail::of(
        view,
        server,
        position,
        state.log.clock().now(),
    ))
}

/// Lists servers with their current migration's state and step.
#[utoipa::path(
    get,
    path = "/servers",
    tag = "read",
    params(
        ServersQuery,
    ),
    responses(
        (status = 200, description = "Support: every server; a customer: their own", body = [ServerListItem]),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn list_servers(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiQuery(filters): ApiQuery<ServersQuery>,
) -> Result<Json<Vec<ServerListItem>>, ApiError> {
    if let Some(step) = filters.step.filter(|s| !(1..=8).contains(s)) {
        return Err(ApiError::invalid(format!(
            "step {step} is not between 1 and 8"
        )));
    }
    let viewer = Viewer::of(&actor, &grants);
    let rows = query::servers(
        &state.pool,
        viewer.customer(),
        viewer.servers(),
        filters.step,
    )
    .await?;
    Ok(Json(rows.into_iter().map(ServerListItem::from).collect()))
}

/// A server, its accounts, and its current migration: every account's state,
/// downtimes, the transit server and since when, queue position and loan.
#[utoipa::path(
    get,
    path = "/servers/{server_id}",
    tag = "read",
    params(
        ("server_id" = inline(Id), Path, description = "The server id, e.g. srv-0042"),
    ),
    responses(
        (status = 200, body = ServerDetail),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Another customer's server", body = ErrorBody),
        (status = 404, description = "Unknown server", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn get_server(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ServerDetail>, ApiError> {
    let server = visible_server(&state.pool, &Viewer::of(&actor, &grants), &id).await?;
    let migration = match &server.migration {
        Some(summary) => query::migration(&state.pool, summary.migration_id).await?,
        None => None,
    };
    let migration = match migration {
        Some(view) => Some(detail(&state, view, Some(&server)).await?),
        None => None,
    };
    Ok(Json(ServerDetail { server, migration }))
}

/// The whole timeline of a server's migrations, replayed from the event log.
#[utoipa::path(
    get,
    path = "/servers/{server_id}/audit",
    tag = "read",
    params(
        ("server_id" = inline(Id), Path, description = "The server id"),
    ),
    responses(
        (status = 200, body = AuditTimeline),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Another customer's server", body = ErrorBody),
        (status = 404, description = "Unknown server", body = ErrorBody),
        (status = 503, description = "Read model or log unavailable", body = ErrorBody),
    )
)]
async fn server_audit(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AuditTimeline>, ApiError> {
    let server = visible_server(&state.pool, &Viewer::of(&actor, &grants), &id).await?;
    Ok(Json(
        audit::timeline(&state.log, &state.pool, &server).await?,
    ))
}

/// A migration: state, every account, downtimes, transit server, queue position, loan.
#[utoipa::path(
    get,
    path = "/migrations/{migration_id}",
    tag = "read",
    params(
        ("migration_id" = Uuid, Path, description = "The migration id"),
    ),
    responses(
        (status = 200, body = MigrationDetail),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Another customer's migration", body = ErrorBody),
        (status = 404, description = "Unknown migration", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn get_migration(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MigrationDetail>, ApiError> {
    let migration_id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid(format!("migration id {id:?} is not a UUID")))?;
    let view = query::migration(&state.pool, migration_id)
        .await?
        .ok_or_else(|| QueryError::NotFound {
            what: "migration",
            id: id.clone(),
        })?;
    Viewer::of(&actor, &grants).may_see(
        &format!("migration {id}"),
        &view.customer_id,
        &view.server_id,
    )?;
    let server = query::server(&state.pool, &view.server_id).await?;
    Ok(Json(detail(&state, view, server.as_ref()).await?))
}

/// Every transit server of the pool (support only).
#[utoipa::path(
    get,
    path = "/transit-servers",
    tag = "read",
        responses(
        (status = 200, body = [TransitServerView]),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Customers may not see the pool", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn list_transit_servers(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
) -> Result<Json<Vec<TransitServerView>>, ApiError> {
    Viewer::of(&actor, &grants).staff_only("the transit servers")?;
    Ok(Json(query::transit_servers(&state.pool).await?))
}

/// Every configuration's waiting list with positions, and its free transit servers
/// (support only).
#[utoipa::path(
    get,
    path = "/transit-queues",
    tag = "read",
        responses(
        (status = 200, body = [TransitQueueView]),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Customers may not see the queues", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn list_transit_queues(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
) -> Result<Json<Vec<TransitQueueView>>, ApiError> {
    Viewer::of(&actor, &grants).staff_only("the transit queues")?;
    let mut queues: BTreeMap<String, TransitQueueView> = BTreeMap::new();
    for transit in query::transit_servers(&state.pool).await? {
        let queue = queues
            .entry(transit.configuration.clone())
            .or_insert_with(|| empty_queue(&transit.configuration));
        if transit.state == TransitState::Free {
            queue.free_transit_servers.push(transit.transit_server_id);
        }
    }
    for row in query::queue(&state.pool, None).await? {
        queues
            .entry(row.configuration.clone())
            .or_insert_with(|| empty_queue(&row.configuration))
            .waiting
            .push(row.into());
    }
    Ok(Json(queues.into_values().collect()))
}

/// The failed transfers needing a person (support only): of every migration under
/// way, each failed transfer not tried again since, with its server, customer,
/// accounts, phase and reason, the oldest failure first. A pre-copy that ferry
/// retries by itself is listed once it no longer does.
#[utoipa::path(
    get,
    path = "/transfers/failed",
    tag = "read",
    responses(
        (status = 200, body = [FailedTransfer]),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Customers may not see support's list", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn list_failed_transfers(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
) -> Result<Json<Vec<FailedTransfer>>, ApiError> {
    Viewer::of(&actor, &grants).staff_only("the failed transfers")?;
    let mut failed: Vec<FailedTransfer> = query::migrations_with_failed_transfers(&state.pool)
        .await?
        .iter()
        .flat_map(needing_a_person)
        .collect();
    failed.sort_by_key(|f| (f.failed_at, f.transfer_id));
    Ok(Json(failed))
}

fn empty_queue(configuration: &str) -> TransitQueueView {
    TransitQueueView {
        configuration: configuration.to_owned(),
        waiting: Vec::new(),
        free_transit_servers: Vec::new(),
    }
}

/// Every target infrastructure version and what it supports.
#[utoipa::path(
    get,
    path = "/target-infrastructures",
    tag = "read",
        responses(
        (status = 200, body = [TargetInfrastructureView]),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn list_target_infrastructures(
    State(state): State<ReadState>,
    RequestActor(_actor): RequestActor,
) -> Result<Json<Vec<TargetInfrastructureView>>, ApiError> {
    Ok(Json(query::targets(&state.pool).await?))
}

/// Optional migrations: of one server (`?server=`), or every one the actor may see.
#[utoipa::path(
    get,
    path = "/optional-migrations",
    tag = "read",
    params(
        OptionalMigrationsQuery,
    ),
    responses(
        (status = 200, body = [OptionalMigrationView]),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "No actor, or not `customer:<id>` / `support:<login>`", body = ErrorBody),
        (status = 403, description = "Another customer's server", body = ErrorBody),
        (status = 404, description = "Unknown server", body = ErrorBody),
        (status = 503, description = "Read model unavailable", body = ErrorBody),
    )
)]
async fn list_optional_migrations(
    State(state): State<ReadState>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiQuery(filters): ApiQuery<OptionalMigrationsQuery>,
) -> Result<Json<Vec<OptionalMigrationView>>, ApiError> {
    let viewer = Viewer::of(&actor, &grants);
    if let Some(server) = &filters.server {
        visible_server(&state.pool, &viewer, server).await?;
    }
    let optionals = query::optional_migrations(
        &state.pool,
        filters.server.as_deref(),
        viewer.customer(),
        viewer.servers(),
    )
    .await?;
    Ok(Json(optionals))
}
