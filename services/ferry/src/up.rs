//! `ferry up`: every service in one process, each connected to NATS as its own user
//! (the process's own connection, the read side's, serves the log index, the queries
//! and readiness).

use crate::cli::UpArgs;
use anyhow::Context;
use ferry_infra::api::openapi::{ActorAuthentication, BodyLimits, StrictRequestBodies};
use ferry_infra::nats_users::NatsUser;
use ferry_infra::projection::RunnerSettings;
use ferry_infra::projection::log_index::LogIndex;
use ferry_infra::runtime::Runtime;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// The OpenAPI description's header; the services add their paths.
#[derive(OpenApi)]
#[openapi(info(
    title = "ferry",
    description = "Moves a web host's customer servers onto new infrastructure through a lent transit server. Every request but `/health` is authenticated by a bearer token (`Authorization: Bearer <token>`: one ferry issued, `ferry token create` or `POST /tokens`, or a JWT of the host's identity provider), which says who asks: a customer or support; commands take an optional `idempotency-key` (UUID). No text holds a NUL character (`\\u0000`): a body with one is refused (400). A body larger than `FERRY_MAX_BODY_BYTES` (1 MiB by default) is refused (413, `too_large`), and so is a command whose events would not fit in one message of the event log (422, `too_large`); nothing is recorded.",
))]
struct ApiDoc;

pub(crate) async fn up(args: UpArgs) -> anyhow::Result<()> {
    check(&args)?;
    let runtime = Runtime::start(args.runtime.clone(), "ferry", NatsUser::Read)
        .await
        .context("starting ferry")?;
    let (routes, gate) = services(&runtime, args).await?;
    runtime.serve(routes, gate).await.context("serving")?;
    tracing::info!("ferry stopped");
    Ok(())
}

/// `ferry up` inside the calling process (a test's `spawn_app`): served on
/// `listener` (bound to port 0 by the caller), stopped by `shutdown`, with the
/// caller's telemetry.
pub async fn up_embedded(
    args: UpArgs,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    check(&args)?;
    let runtime = Runtime::start_embedded(args.runtime.clone(), "ferry", NatsUser::Read, shutdown)
        .await
        .context("starting ferry")?;
    let (routes, gate) = services(&runtime, args).await?;
    runtime
        .serve_on(listener, routes, gate)
        .await
        .context("serving")?;
    Ok(())
}

/// Refuses bad service settings before connecting to anything.
fn check(args: &UpArgs) -> anyhow::Result<()> {
    args.accounts
        .calendar()
        .context("working calendar settings")?;
    args.data_mover
        .settings()
        .map_err(anyhow::Error::msg)
        .context("data mover settings")?;
    args.network
        .check()
        .map_err(anyhow::Error::msg)
        .context("network settings")?;
    args.notifications
        .check()
        .map_err(anyhow::Error::msg)
        .context("notification settings")?;
    args.access.check().context("access settings")?;
    Ok(())
}

/// Starts every service in `runtime`; their routes, with `/openapi.json`, and the
/// gate every request goes through (authentication).
async fn services(
    runtime: &Runtime,
    args: UpArgs,
) -> anyhow::Result<(axum::Router, ferry_infra::api::auth::Gate)> {
    let data_mover = args
        .data_mover
        .settings()
        .and_then(|settings| settings.with_secrets(runtime.secrets()))
        .map_err(anyhow::Error::msg)
        .context("data mover settings")?;
    // Each service appends through its own NATS connection, as its own user.
    let as_user = |user: NatsUser| async move {
        runtime
            .for_service(user)
            .await
            .with_context(|| format!("connecting the {user} service to NATS"))
    };
    runtime.spawn_projection(LogIndex, RunnerSettings::default());
    let accounts = ferry_accounts::service(&as_user(NatsUser::Accounts).await?, &args.accounts)
        .context("starting the accounts service")?;
    let transit = ferry_transit_pool::service(&as_user(NatsUser::TransitPool).await?, args.transit);
    let data_mover = ferry_data_mover::service(&as_user(NatsUser::DataMover).await?, data_mover);
    let read = ferry_migration_state::service(runtime);
    ferry_network::service(&as_user(NatsUser::Network).await?, &args.network)
        .await
        .map_err(anyhow::Error::msg)
        .context("starting the network service")?;
    let billing = ferry_billing::service(&as_user(NatsUser::Billing).await?, &args.billing);
    let notifications = ferry_notifications::service(
        &as_user(NatsUser::Notifications).await?,
        &args.notifications,
    )
    .map_err(anyhow::Error::msg)
    .context("starting the notifications service")?;
    let pool = runtime.pool.clone();
    runtime.attention.register(
        "notifications_given_up",
        std::sync::Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                ferry_notifications::given_up_count(&pool)
                    .await
                    .map_err(|e| e.to_string())
            })
        }),
    );
    let (pool, clock) = (runtime.pool.clone(), runtime.log.clock().clone());
    let interrupted_after = args.notifications.interrupted_after();
    runtime.attention.register(
        "notifications_interrupted",
        std::sync::Arc::new(move || {
            let (pool, now) = (pool.clone(), clock.now());
            Box::pin(async move {
                ferry_notifications::interrupted_count(&pool, now, interrupted_after)
                    .await
                    .map_err(|e| e.to_string())
            })
        }),
    );
    let (access, gate) = ferry_access::service(&as_user(NatsUser::Access).await?, &args.access)
        .context("starting the access service")?;
    let reactions = ferry_infra::policy::routes::router(runtime.parked.clone());
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts)
        .merge(transit)
        .merge(data_mover)
        .merge(read)
        .merge(billing)
        .merge(notifications)
        .merge(reactions)
        .merge(access)
        .split_for_parts();
    // After the merge: these conventions hold for every service's operations.
    ActorAuthentication.modify(&mut openapi);
    StrictRequestBodies.modify(&mut openapi);
    BodyLimits.modify(&mut openapi);
    let openapi = std::sync::Arc::new(openapi);
    let routes = routes.route(
        "/openapi.json",
        axum::routing::get(move || {
            let openapi = openapi.clone();
            async move { axum::Json(openapi.as_ref().clone()) }
        }),
    );
    // The panel acts through the API itself, behind the same gate, with the
    // signed-in person's token: it can do nothing the token could not.
    let gated_api = routes.clone().layer(axum::middleware::from_fn_with_state(
        gate.clone(),
        ferry_infra::api::auth::gate,
    ));
    let routes = routes.merge(ferry_panel::router(gated_api, runtime.shutdown.clone()));
    Ok((routes, gate))
}
