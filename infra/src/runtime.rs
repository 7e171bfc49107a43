//! A ferry service process: telemetry, the event log, the read-model database, the HTTP
//! endpoint and the tasks of the services, stopped together on SIGTERM/SIGINT within a
//! bounded grace period.
//!
//! Every service talks to NATS as its own user ([`crate::nats_users`]): the process
//! creates or updates the stream once at start as the setup user (that connection is
//! then closed), its own log connects as the user it is started for, and
//! [`Runtime::for_service`] gives each service of a process running several (`ferry
//! up`) a runtime whose log is its own connection, as its own user.

use crate::config::RuntimeArgs;
use crate::event_log::{EventLog, SetupError};
use crate::http::HealthState;
use crate::nats_users::NatsUser;
use crate::policy::parked::{ParkedReactions, ParkingError};
use crate::postgres::PostgresError;
use crate::projection::{Projection, ProjectionRunner, RunnerSettings, StatusBoard};
use crate::shutdown;
use crate::telemetry::{Telemetry, TelemetryError};
use deadpool_postgres::Pool;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The process could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Telemetry.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The event log.
    #[error(transparent)]
    EventLog(#[from] SetupError),
    /// PostgreSQL.
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    /// The parked reactions' tables.
    #[error(transparent)]
    Parking(#[from] ParkingError),
    /// The HTTP endpoint.
    #[error("cannot serve HTTP on {addr}: {reason}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
}

/// A running service process, or one service's view of it ([`Runtime::for_service`]).
pub struct Runtime {
    args: RuntimeArgs,
    /// The event log, through a connection of this runtime's NATS user.
    pub log: EventLog,
    /// The read-model database.
    pub pool: Pool,
    /// Projection statuses of this process.
    pub board: StatusBoard,
    /// Where reactors park what they cannot handle.
    pub parked: ParkedReactions,
    /// What the services count as waiting for a person, listed by `/ready`.
    pub attention: crate::attention::AttentionBoard,
    /// Cancelled when the process is asked to stop.
    pub shutdown: CancellationToken,
    tracker: TaskTracker,
    telemetry: Arc<Telemetry>,
    /// Every NATS connection of the process, by user: readiness watches them all.
    connections: Arc<Mutex<Vec<(String, async_nats::Client)>>>,
}

impl Runtime {
    /// Starts telemetry, sets up the stream as the setup user, connects to NATS as
    /// `user` and to PostgreSQL, and listens for SIGTERM/SIGINT.
    pub async fn start(
        args: RuntimeArgs,
        service: &'static str,
        user: NatsUser,
    ) -> Result<Self, RuntimeError> {
        let telemetry = crate::telemetry::init(&args.telemetry, service)?;
        Self::connect(args, service, user, telemetry, shutdown::on_signal()).await
    }

    /// As [`Runtime::start`], inside a process that has its own telemetry (a test):
    /// stopped by `shutdown` instead of signals, its spans going to whatever
    /// subscriber the process installed.
    pub async fn start_embedded(
        args: RuntimeArgs,
        service: &'static str,
        user: NatsUser,
        shutdown: CancellationToken,
    ) -> Result<Self, RuntimeError> {
        let telemetry = crate::telemetry::embedded(service);
        Self::connect(args, service, user, telemetry, shutdown).await
    }

    async fn connect(
        args: RuntimeArgs,
        service: &'static str,
        user: NatsUser,
        telemetry: Telemetry,
        shutdown: CancellationToken,
    ) -> Result<Self, RuntimeError> {
        let credentials = args.log.credentials.credentials();
        // The stream is the setup user's: created or updated, then that connection closes.
        let setup = credentials
            .load(NatsUser::Setup)
            .map_err(SetupError::from)?;
        EventLog::set_up(&args.log.nats_url, &setup, args.log.settings()).await?;
        let identity = credentials.load(user).map_err(SetupError::from)?;
        let log = EventLog::connect(&args.log.nats_url, &identity, args.log.settings()).await?;
        if !args.log.clock_offset.is_zero() {
            tracing::warn!(
                offset_secs = args.log.clock_offset.num_seconds(),
                now = %log.clock().now(),
                "the clock is shifted (FERRY_CLOCK_OFFSET): events are recorded and timers fire as if it were later; a rehearsal, never production"
            );
        }
        let pool = crate::postgres::connect(
            &args.database.database_url,
            usize::from(args.database.pool_size),
        )
        .await?;
        let parked = ParkedReactions::open(pool.clone()).await?;
        tracing::info!(service, nats_user = %user, nats = %crate::event_log::redacted_url(&args.log.nats_url), stream = %args.log.stream, "connected");
        let connections = Arc::new(Mutex::new(vec![(user.to_string(), log.client().clone())]));
        Ok(Self {
            args,
            log,
            pool,
            board: StatusBoard::default(),
            parked,
            attention: Default::default(),
            shutdown,
            tracker: TaskTracker::new(),
            telemetry: Arc::new(telemetry),
            connections,
        })
    }

    /// This process as one of its services sees it: the same database, status board,
    /// parked reactions, tasks and shutdown, with the event log on a connection of
    /// its own as `user`, so that what the service appends is checked against its
    /// own permissions. (Not to be served: [`Runtime::serve`] is the process's.)
    pub async fn for_service(&self, user: NatsUser) -> Result<Runtime, RuntimeError> {
        let identity = self
            .args
            .log
            .credentials
            .credentials()
            .load(user)
            .map_err(SetupError::from)?;
        let log = EventLog::connect(
            &self.args.log.nats_url,
            &identity,
            self.log.settings().clone(),
        )
        .await?;
        if let Ok(mut connections) = self.connections.lock() {
            connections.push((user.to_string(), log.client().clone()));
        }
        tracing::info!(nats_user = %user, "service connected to NATS as its own user");
        Ok(Runtime {
            args: self.args.clone(),
            log,
            pool: self.pool.clone(),
            board: self.board.clone(),
            parked: self.parked.clone(),
            attention: self.attention.clone(),
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
            telemetry: self.telemetry.clone(),
            connections: self.connections.clone(),
        })
    }

    fn nats_connections(&self) -> Vec<(String, async_nats::Client)> {
        self.connections
            .lock()
            .map(|connections| connections.clone())
            .unwrap_or_default()
    }

    /// Runs `task` until it ends; it should watch [`Runtime::shutdown`]. Its error is
    /// logged here, once.
    pub fn spawn<F, E>(&self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.tracker.spawn(async move {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "task failed");
            }
        });
    }

    /// Runs a projection until shutdown.
    pub fn spawn_projection<P: Projection>(&self, projection: P, settings: RunnerSettings) {
        let runner = ProjectionRunner::new(
            Arc::new(projection),
            self.log.clone(),
            self.pool.clone(),
            settings,
            self.board.clone(),
        );
        let shutdown = self.shutdown.clone();
        self.spawn("projection", runner.run(shutdown));
    }

    /// Runs policy `P` with its commands carried out by `executor`: its view's
    /// projection, its reactor (failures parked) and its timers (see
    /// [`crate::policy`]).
    pub fn spawn_policy<P, X>(&self, executor: X)
    where
        P: ferry_core::Policy,
        X: crate::policy::Execute<P::Command> + Clone,
    {
        let context = crate::policy::PolicyContext {
            log: self.log.clone(),
            pool: self.pool.clone(),
            board: self.board.clone(),
            parked: self.parked.clone(),
        };
        self.spawn(
            P::NAME,
            crate::policy::run::<P, X>(context, executor, self.shutdown.clone()),
        );
    }

    /// The secret store of database passwords (`FERRY_SECRETS_DIR`).
    pub fn secrets(&self) -> crate::secrets::SecretStore {
        self.args.secrets.store()
    }

    /// The directories servers' storage roots may lie in (`FERRY_STORAGE_ROOTS`).
    pub fn storage_roots(&self) -> crate::config::AllowedRoots {
        self.args.input.storage_roots.clone()
    }

    /// Serves the health, readiness and metrics routes plus `routes`, every request
    /// through `gate` (authentication, see [`crate::api::auth`]), until shutdown, then
    /// drains the tasks within the grace period.
    pub async fn serve(
        self,
        routes: axum::Router,
        gate: crate::api::auth::Gate,
    ) -> Result<(), RuntimeError> {
        let addr = self.args.server.http_addr;
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| RuntimeError::Http {
                    addr,
                    reason: e.to_string(),
                })?;
        self.serve_on(listener, routes, gate).await
    }

    /// As [`Runtime::serve`], on a listener already bound (e.g. to port 0 in a test).
    pub async fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        routes: axum::Router,
        gate: crate::api::auth::Gate,
    ) -> Result<(), RuntimeError> {
        let addr = listener.local_addr().unwrap_or(self.args.server.http_addr);
        let health = HealthState {
            nats: self.nats_connections(),
            pool: self.pool.clone(),
            board: self.board.clone(),
            parked: self.parked.clone(),
            attention: self.attention.clone(),
        };
        // A body over the limit is refused before it is read whole: 413, as JSON
        // ([`crate::api::ApiJson`]), not an outage when its event would not fit. The
        // gate is the outer layer: nobody unauthenticated gets a body read.
        let app = crate::http::router(health)
            .merge(routes)
            .layer(axum::extract::DefaultBodyLimit::max(
                self.args.input.max_body(),
            ))
            .layer(axum::middleware::from_fn_with_state(
                gate,
                crate::api::auth::gate,
            ));
        tracing::info!(%addr, "serving health, readiness and metrics");
        let shutdown = self.shutdown.clone();
        // The client's address, for the gate's count of failed authentications.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        // However HTTP ended, the rest of the process stops too.
        self.shutdown.cancel();
        let grace = Duration::from_secs(self.args.server.shutdown_grace_secs);
        shutdown::drain(&self.tracker, grace).await;
        for (_, client) in self.nats_connections() {
            client.flush().await.ok();
        }
        self.telemetry.shutdown();
        served.map_err(|e| RuntimeError::Http {
            addr,
            reason: e.to_string(),
        })
    }
}
