//! The accounts service's HTTP JSON API: the inventory (servers, target versions),
//! every customer and support command of a migration, and optional migrations.
//! Reads (lists, a server's state, audits) are served by the read side.
//!
//! Every route takes the actor the gate authenticated (bearer token) and the command id from the
//! `idempotency-key` header; a refused command answers a JSON error with its reason
//! (403 another customer's server, 404 unknown, 409 not possible now, 422 invalid).

use crate::domain::optional_migration::OptionalAction;
use crate::domain::target_infrastructure::Publish;
use crate::service::{
    AccountCompatibility, Accounts, AllowedRequest, DeferredRequest, MigrationRequest,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ferry_events::{
    AccountSpec, DatabaseVersion, Envelope, Grants, LanguageVersion, Money,
    OptionalMigrationScheduled, ServerKind, ServerRegistered, ServerStorage, ServiceKind,
};
use ferry_infra::api::openapi::{Id, IdempotencyKey, Ipv4Address, Ipv6Address, WithAnAddress};
use ferry_infra::api::{
    ApiError, ApiJson, ApiPath, ApiQuery, CommandId, ErrorBody, RequestActor, RequestGrants,
};
use ferry_infra::command::Handled;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

const TAG: &str = "accounts";

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandReply {
    /// The aggregate the command went to (a server id, a migration id, ...).
    pub aggregate_id: String,
    /// The aggregate's version after it.
    pub version: u64,
    /// The types of the events it caused, empty when nothing had to change.
    pub events: Vec<String>,
    /// True when the same command (idempotency key) had been carried out before.
    pub already_handled: bool,
}

impl CommandReply {
    fn of<S>(aggregate_id: impl Into<String>, handled: &Handled<S>) -> Self {
        Self {
            aggregate_id: aggregate_id.into(),
            version: handled.version,
            events: handled
                .events
                .iter()
                .map(|e: &Envelope| e.event_type().to_owned())
                .collect(),
            already_handled: handled.already_handled,
        }
    }
}

/// A client server as registered: everything but its id, which is in the path. A
/// field it does not know is refused (a misspelt field must not be dropped quietly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerRegistration {
    /// Host name, e.g. `bakery.hosting.example`.
    #[schema(pattern = "\\S")]
    pub name: String,
    /// `dedicated` or `vps`.
    pub kind: ServerKind,
    /// Hardware configuration; a transit server must have the same, e.g. `vps-4c-8g`.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub configuration: String,
    /// Infrastructure version it runs, e.g. `v2020`.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub infrastructure_version: String,
    /// IPv4 addresses; a server has at least one address, IPv4 or IPv6.
    #[serde(default)]
    #[schema(value_type = Vec<Ipv4Address>, inline)]
    pub ipv4: Vec<String>,
    /// IPv6 addresses.
    #[serde(default)]
    #[schema(value_type = Vec<Ipv6Address>, inline)]
    pub ipv6: Vec<String>,
    /// Monthly price.
    #[schema(value_type = Price)]
    #[serde(deserialize_with = "ferry_infra::strict_json::deserialize")]
    pub monthly_price: Money,
    /// The owning customer, e.g. `c-42`.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub customer_id: String,
    /// Where the customer is notified.
    #[schema(format = Email)]
    pub contact_email: String,
    /// The customer's language, e.g. `fr` or `pt-BR`.
    #[schema(pattern = "^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")]
    pub locale: String,
    /// Where its accounts' data lives.
    #[serde(deserialize_with = "ferry_infra::strict_json::deserialize")]
    pub storage: ServerStorage,
    /// Its accounts (files, mails, databases with sizes, domains, languages). Account
    /// ids, account names and database names are each unique on the server, and a
    /// database needs its engine's URL in `storage`: a registration breaking these
    /// rules is answered 422.
    #[serde(default, deserialize_with = "ferry_infra::strict_json::deserialize")]
    pub accounts: Vec<AccountSpec>,
}

/// A monthly price, as the description shows [`Money`] in a registration.
#[derive(ToSchema)]
#[allow(dead_code)] // describes `Money` to the OpenAPI description, never built
struct Price {
    /// In cents of `currency`, not negative.
    #[schema(minimum = 0)]
    amount_cents: i64,
    /// An ISO 4217 code, e.g. `EUR`.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
}

impl ServerRegistration {
    /// The registration event's payload for `server_id`, and the accounts.
    pub fn into_parts(self, server_id: &str) -> (ServerRegistered, Vec<AccountSpec>) {
        (
            ServerRegistered {
                server_id: server_id.to_owned(),
                name: self.name,
                kind: self.kind,
                configuration: self.configuration,
                infrastructure_version: self.infrastructure_version,
                ipv4: self.ipv4,
                ipv6: self.ipv6,
                monthly_price: self.monthly_price,
                customer_id: self.customer_id,
                contact_email: self.contact_email,
                locale: self.locale,
                storage: self.storage,
            },
            self.accounts,
        )
    }
}

/// What an infrastructure version supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRegistration {
    /// Language versions, e.g. `[{"language": "php", "version": "8.3"}]`.
    #[serde(deserialize_with = "ferry_infra::strict_json::deserialize")]
    pub languages: Vec<LanguageVersion>,
    /// Database versions, e.g. `[{"engine": "postgres", "version": "16"}]`.
    #[serde(deserialize_with = "ferry_infra::strict_json::deserialize")]
    pub databases: Vec<DatabaseVersion>,
}

/// The target version of a new migration.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenMigration {
    /// e.g. `v2026`.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub target_version: String,
}

/// A migration just opened.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MigrationOpenedReply {
    /// The new migration.
    pub migration_id: Uuid,
    /// What the command did.
    pub command: CommandReply,
}

/// The required migration holding a server, as the command side knows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CurrentMigration {
    /// The migration in progress.
    pub migration_id: Uuid,
}

/// What a reinstall installed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReinstallReport {
    /// The infrastructure version the server runs now, e.g. `v2026`.
    #[schema(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub infrastructure_version: String,
}

/// Why something is abandoned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// For the customer and support: not blank.
    #[schema(pattern = "\\S")]
    pub reason: String,
}

/// The target version to check against.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetQuery {
    /// e.g. `v2026`.
    #[param(pattern = "^[A-Za-z0-9_-]+$", min_length = 1, max_length = 128)]
    pub target: String,
}

/// An optional migration to schedule. ferry moves the data of `postgresql` and
/// `mysql` only: the other services are refused (422), as is a migration from a
/// version to the same one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleOptional {
    /// The service migrated.
    pub service: ServiceKind,
    /// Version it runs, e.g. `15`.
    #[schema(pattern = "^[A-Za-z0-9._+-]+$", max_length = 64)]
    pub from_version: String,
    /// Version it will run, e.g. `16`.
    #[schema(pattern = "^[A-Za-z0-9._+-]+$", max_length = 64)]
    pub to_version: String,
    /// Not before this time; absent for as soon as possible.
    #[serde(default)]
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// An optional migration just scheduled.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OptionalScheduledReply {
    /// The new optional migration.
    pub optional_migration_id: Uuid,
    /// What the command did.
    pub command: CommandReply,
}

/// The accounts service's routes.
pub fn router(accounts: Accounts) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(register_server))
        .routes(routes!(publish_target))
        .routes(routes!(compatibility))
        .routes(routes!(current_migration))
        .routes(routes!(allowed_actions))
        .routes(routes!(open_migration))
        .routes(routes!(check_compatibility))
        .routes(routes!(request_test, discard_test))
        .routes(routes!(mark_ready, withdraw_readiness))
        .routes(routes!(request_transit))
        .routes(routes!(
            remove_obsolete_languages,
            restore_obsolete_languages
        ))
        .routes(routes!(move_account))
        .routes(routes!(verify_account))
        .routes(routes!(roll_back_account))
        .routes(routes!(request_reinstall))
        .routes(routes!(start_reinstall))
        .routes(routes!(record_reinstalled))
        .routes(routes!(relocate_account))
        .routes(routes!(cancel_migration))
        .routes(routes!(retry_pre_copy))
        .routes(routes!(abort_transfer))
        .routes(routes!(schedule_optional))
        .routes(routes!(apply_optional))
        .routes(routes!(cancel_optional))
        .with_state(accounts)
}

/// The registration's body as the description shows it: with at least one address.
type RegistrationBody = WithAnAddress<ServerRegistration>;

/// Registers a client server with its accounts, or brings it in line (support).
/// Registering the same details again changes nothing.
#[utoipa::path(put, path = "/servers/{server_id}", tag = TAG,
    params(("server_id" = inline(Id), Path, description = "e.g. srv-0042"), IdempotencyKey),
    request_body = RegistrationBody,
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn register_server(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    CommandId(id): CommandId,
    ApiPath(server_id): ApiPath<String>,
    ApiJson(registration): ApiJson<ServerRegistration>,
) -> Result<Json<CommandReply>, ApiError> {
    let (server, account_specs) = registration.into_parts(&server_id);
    let handled = accounts
        .register_server(actor, id, server, account_specs)
        .await?;
    Ok(Json(CommandReply::of(server_id, &handled)))
}

/// Publishes an infrastructure version and what it supports, or updates it (support).
#[utoipa::path(put, path = "/target-infrastructures/{version}", tag = TAG,
    params(("version" = inline(Id), Path, description = "e.g. v2026"), IdempotencyKey),
    request_body = TargetRegistration,
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn publish_target(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    CommandId(id): CommandId,
    ApiPath(version): ApiPath<String>,
    ApiJson(target): ApiJson<TargetRegistration>,
) -> Result<Json<CommandReply>, ApiError> {
    let publish = Publish {
        actor: actor.clone(),
        version: version.clone(),
        languages: target.languages,
        databases: target.databases,
    };
    let handled = accounts.publish_target(actor, id, publish).await?;
    Ok(Json(CommandReply::of(version, &handled)))
}

/// The migration in progress on a server, read from the server's own history rather
/// than from the read side, so that a script's next command sees the migration it
/// has just opened (owner or support; 404 when none is in progress).
#[utoipa::path(get, path = "/servers/{server_id}/current-migration", tag = TAG,
    params(("server_id" = inline(Id), Path)),
    responses((status = 200, body = CurrentMigration), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn current_migration(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(server_id): ApiPath<String>,
) -> Result<Json<CurrentMigration>, ApiError> {
    let migration_id = accounts
        .current_migration(&actor, &grants, &server_id)
        .await?;
    Ok(Json(CurrentMigration { migration_id }))
}

/// What the caller may ask of a migration now: each request dry-run through the
/// migration's rules without writing anything, listed when it would be carried out
/// (the panel offers these buttons, and no other); under `later`, the requests
/// refused only for being outside support's working hours, with the next opening.
#[utoipa::path(get, path = "/migrations/{migration_id}/actions", tag = TAG,
    params(("migration_id" = Uuid, Path)),
    responses((status = 200, body = AllowedActions), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer", body = ErrorBody)))]
async fn allowed_actions(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(migration_id): ApiPath<Uuid>,
) -> Result<Json<AllowedActions>, ApiError> {
    let (actions, later) = accounts
        .allowed_requests(&actor, &grants, migration_id, Utc::now())
        .await?;
    Ok(Json(AllowedActions { actions, later }))
}

/// What the caller may ask of a migration now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AllowedActions {
    /// Each request it may make, in the process's order.
    pub actions: Vec<AllowedRequest>,
    /// Each request it could make but for support's working hours (a relocation
    /// at night), with when they open next.
    #[serde(default)]
    pub later: Vec<DeferredRequest>,
}

/// Per account, what will not work on a target version (owner or support).
#[utoipa::path(get, path = "/servers/{server_id}/compatibility", tag = TAG,
    params(("server_id" = inline(Id), Path), TargetQuery),
    responses((status = 200, body = Vec<AccountCompatibility>), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn compatibility(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    ApiPath(server_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TargetQuery>,
) -> Result<Json<Vec<AccountCompatibility>>, ApiError> {
    Ok(Json(
        accounts
            .compatibility(&actor, &grants, &server_id, &query.target)
            .await?,
    ))
}

/// Step 1: opens the migration of a server to a target version (owner or support).
#[utoipa::path(post, path = "/servers/{server_id}/migrations", tag = TAG,
    params(("server_id" = inline(Id), Path), IdempotencyKey),
    request_body = OpenMigration,
    responses((status = 201, body = MigrationOpenedReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn open_migration(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath(server_id): ApiPath<String>,
    ApiJson(open): ApiJson<OpenMigration>,
) -> Result<(StatusCode, Json<MigrationOpenedReply>), ApiError> {
    let (migration_id, handled) = accounts
        .open_migration(actor, &grants, id, &server_id, &open.target_version)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MigrationOpenedReply {
            migration_id,
            command: CommandReply::of(migration_id.to_string(), &handled),
        }),
    ))
}

async fn run(
    accounts: &Accounts,
    (actor, grants): (ferry_events::Actor, Grants),
    id: Uuid,
    migration_id: Uuid,
    request: MigrationRequest,
) -> Result<Json<CommandReply>, ApiError> {
    let handled = accounts
        .request(actor, &grants, id, migration_id, request, Utc::now())
        .await?;
    Ok(Json(CommandReply::of(migration_id.to_string(), &handled)))
}

macro_rules! migration_route {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal, |$account:ident| $request:expr) => {
        $(#[$doc])*
        #[utoipa::path($method, path = $path, tag = TAG,
            params(("migration_id" = Uuid, Path), ("account_id" = inline(Id), Path), IdempotencyKey),
            responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
        async fn $name(
            State(accounts): State<Accounts>,
            RequestActor(actor): RequestActor,
            RequestGrants(grants): RequestGrants,
            CommandId(id): CommandId,
            ApiPath((migration_id, $account)): ApiPath<(Uuid, String)>,
        ) -> Result<Json<CommandReply>, ApiError> {
            run(&accounts, (actor, grants), id, migration_id, $request).await
        }
    };
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal, $request:expr) => {
        $(#[$doc])*
        #[utoipa::path($method, path = $path, tag = TAG,
            params(("migration_id" = Uuid, Path), IdempotencyKey),
            responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
        async fn $name(
            State(accounts): State<Accounts>,
            RequestActor(actor): RequestActor,
            RequestGrants(grants): RequestGrants,
            CommandId(id): CommandId,
            ApiPath(migration_id): ApiPath<Uuid>,
        ) -> Result<Json<CommandReply>, ApiError> {
            run(&accounts, (actor, grants), id, migration_id, $request).await
        }
    };
}

migration_route!(
    /// Step 1: checks every account against the target again (owner or support).
    check_compatibility, post, "/migrations/{migration_id}/compatibility-check",
    MigrationRequest::CheckCompatibility);
migration_route!(
    /// Step 1: copies an account's databases to a test server; the original stays in
    /// use. Again on an available copy: refreshes it (owner or support).
    request_test, post, "/migrations/{migration_id}/accounts/{account_id}/test",
    |account_id| MigrationRequest::RequestTest(account_id));
migration_route!(
    /// Step 1: throws an account's test copy away (owner or support).
    discard_test, delete, "/migrations/{migration_id}/accounts/{account_id}/test",
    |account_id| MigrationRequest::DiscardTest(account_id));
migration_route!(
    /// Step 1: declares an account ready to move (owner or support).
    mark_ready, post, "/migrations/{migration_id}/accounts/{account_id}/ready",
    |account_id| MigrationRequest::MarkReady(account_id));
migration_route!(
    /// Steps 1-2: takes an account's readiness back (owner or support).
    withdraw_readiness, delete, "/migrations/{migration_id}/accounts/{account_id}/ready",
    |account_id| MigrationRequest::WithdrawReadiness(account_id));
migration_route!(
    /// Step 2: asks for a transit server; every account must be ready (owner or support).
    request_transit, post, "/migrations/{migration_id}/transit-request",
    MigrationRequest::RequestTransit);
migration_route!(
    /// Step 2: removes the language versions the target lacks and hands the request to
    /// the transit pool (support).
    remove_obsolete_languages, post, "/migrations/{migration_id}/obsolete-languages/removal",
    MigrationRequest::RemoveObsoleteLanguages);
migration_route!(
    /// Gives the removed language versions back; the migration returns to step 1 and
    /// any transit request or server is given up (support).
    restore_obsolete_languages, delete, "/migrations/{migration_id}/obsolete-languages/removal",
    MigrationRequest::RestoreObsoleteLanguages);
migration_route!(
    /// Step 4: moves one account to the transit server (owner or support).
    move_account, post, "/migrations/{migration_id}/accounts/{account_id}/move",
    |account_id| MigrationRequest::Move(account_id));
migration_route!(
    /// Step 5: confirms a moved account works (owner or support).
    verify_account, post, "/migrations/{migration_id}/accounts/{account_id}/verification",
    |account_id| MigrationRequest::Verify(account_id));
migration_route!(
    /// Step 5: moves an account back to the client server, until the reinstall starts
    /// (owner or support).
    roll_back_account, post, "/migrations/{migration_id}/accounts/{account_id}/rollback",
    |account_id| MigrationRequest::Rollback(account_id));
migration_route!(
    /// End of step 5: asks for the reinstall; every account must be on the transit
    /// server (owner or support).
    request_reinstall, post, "/migrations/{migration_id}/reinstall-request",
    MigrationRequest::RequestReinstall);
migration_route!(
    /// Step 6: starts the reinstall; the IPs are rerouted to the transit server (support).
    start_reinstall, post, "/migrations/{migration_id}/reinstall",
    MigrationRequest::StartReinstall);
/// End of step 6: the server was reinstalled; the report says which infrastructure
/// version it runs, refused unless it is the migration's target (support).
#[utoipa::path(post, path = "/migrations/{migration_id}/reinstall/done", tag = TAG,
    params(("migration_id" = Uuid, Path), IdempotencyKey),
    request_body = ReinstallReport,
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn record_reinstalled(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath(migration_id): ApiPath<Uuid>,
    ApiJson(report): ApiJson<ReinstallReport>,
) -> Result<Json<CommandReply>, ApiError> {
    run(
        &accounts,
        (actor, grants),
        id,
        migration_id,
        MigrationRequest::RecordReinstalled {
            infrastructure_version: report.infrastructure_version,
        },
    )
    .await
}
migration_route!(
    /// Step 7: moves an account back to the reinstalled server, in working hours
    /// (support); outside them the refusal names the next opening.
    relocate_account, post, "/migrations/{migration_id}/accounts/{account_id}/relocation",
    |account_id| MigrationRequest::Relocate(account_id));

migration_route!(
    /// Steps 3 and 6: tries a failed pre-copy of files and mails again, once its
    /// reason is dealt with (support; ferry retries by itself a failure that may pass).
    retry_pre_copy, post, "/migrations/{migration_id}/pre-copy/retry",
    MigrationRequest::RetryPreCopy);

/// Steps 4, 5 and 7: calls off an account's move, rollback or relocation that cannot
/// finish, before its traffic switch: its transfer stops, its sources are thawed and
/// the account serves from where it was (support).
#[utoipa::path(post, path = "/migrations/{migration_id}/accounts/{account_id}/abort", tag = TAG,
    params(("migration_id" = Uuid, Path), ("account_id" = inline(Id), Path), IdempotencyKey),
    request_body = Reason,
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn abort_transfer(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath((migration_id, account_id)): ApiPath<(Uuid, String)>,
    ApiJson(reason): ApiJson<Reason>,
) -> Result<Json<CommandReply>, ApiError> {
    let request = MigrationRequest::AbortTransfer(account_id, reason.reason);
    run(&accounts, (actor, grants), id, migration_id, request).await
}

/// Abandons a migration before any account has moved (owner or support).
#[utoipa::path(post, path = "/migrations/{migration_id}/cancellation", tag = TAG,
    params(("migration_id" = Uuid, Path), IdempotencyKey),
    request_body = Reason,
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn cancel_migration(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath(migration_id): ApiPath<Uuid>,
    ApiJson(reason): ApiJson<Reason>,
) -> Result<Json<CommandReply>, ApiError> {
    run(
        &accounts,
        (actor, grants),
        id,
        migration_id,
        MigrationRequest::Cancel(reason.reason),
    )
    .await
}

/// Schedules an optional migration of one service of a server, applied in place with
/// no test phase (support).
#[utoipa::path(post, path = "/servers/{server_id}/optional-migrations", tag = TAG,
    params(("server_id" = inline(Id), Path), IdempotencyKey),
    request_body = ScheduleOptional,
    responses((status = 201, body = OptionalScheduledReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn schedule_optional(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath(server_id): ApiPath<String>,
    ApiJson(schedule): ApiJson<ScheduleOptional>,
) -> Result<(StatusCode, Json<OptionalScheduledReply>), ApiError> {
    let scheduled = OptionalMigrationScheduled {
        optional_migration_id: Uuid::nil(),
        server_id: server_id.clone(),
        customer_id: String::new(),
        service: schedule.service,
        from_version: schedule.from_version,
        to_version: schedule.to_version,
        scheduled_for: schedule.scheduled_for,
    };
    let handled = accounts
        .schedule_optional(actor, &grants, id, &server_id, scheduled)
        .await?;
    let optional_migration_id = handled
        .state
        .scheduled
        .as_ref()
        .map_or(Uuid::nil(), |s| s.optional_migration_id);
    Ok((
        StatusCode::CREATED,
        Json(OptionalScheduledReply {
            optional_migration_id,
            command: CommandReply::of(optional_migration_id.to_string(), &handled),
        }),
    ))
}

/// Applies an optional migration now, no earlier than scheduled (owner or support).
#[utoipa::path(post, path = "/optional-migrations/{optional_migration_id}/application", tag = TAG,
    params(("optional_migration_id" = Uuid, Path), IdempotencyKey),
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn apply_optional(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath(optional_id): ApiPath<Uuid>,
) -> Result<Json<CommandReply>, ApiError> {
    let action = OptionalAction::Apply {
        transfer_id: Uuid::new_v5(&id, b"transfer"),
        now: Utc::now(),
    };
    let handled = accounts
        .optional_command(actor, &grants, id, optional_id, action)
        .await?;
    Ok(Json(CommandReply::of(optional_id.to_string(), &handled)))
}

/// Calls an optional migration off before it is applied (owner or support).
#[utoipa::path(post, path = "/optional-migrations/{optional_migration_id}/cancellation", tag = TAG,
    params(("optional_migration_id" = Uuid, Path), IdempotencyKey),
    request_body = Reason,
    responses((status = 200, body = CommandReply), (status = "4XX", body = ErrorBody),
        (status = 503, description = "The event log did not answer; nothing changed", body = ErrorBody)))]
async fn cancel_optional(
    State(accounts): State<Accounts>,
    RequestActor(actor): RequestActor,
    RequestGrants(grants): RequestGrants,
    CommandId(id): CommandId,
    ApiPath(optional_id): ApiPath<Uuid>,
    ApiJson(reason): ApiJson<Reason>,
) -> Result<Json<CommandReply>, ApiError> {
    let action = OptionalAction::Cancel {
        reason: reason.reason,
    };
    let handled = accounts
        .optional_command(actor, &grants, id, optional_id, action)
        .await?;
    Ok(Json(CommandReply::of(optional_id.to_string(), &handled)))
}
