//! ferry data-mover service: owns transfers (aggregate `transfer`), the real copies of
//! accounts' files, mails and databases between servers, verified at the destination
//! before any switch; the source is never deleted or modified (beyond the freeze)
//! before that.
//!
//! - [`domain`]: the pure transfer decider, and the policy deciding which event
//!   schedules which transfer over the data mover's view of where data lives.
//! - [`files`]: files and mails with rsync, and their verification.
//! - [`databases`]: PostgreSQL and MySQL/MariaDB copies (dump and restore, logical
//!   replication, binary-log catch-up), freezes, and their verification.
//! - `process` (private): the copy tools as child processes in their own process
//!   groups, stopped with all their helpers, by its guardian too when ferry dies;
//!   `disk`: a full disk in what they say.
//! - [`engine`]: carries out a transfer with those tools, recording each step.
//! - [`reactor`]: the policy's edge (its commands carried out by the engine), and the
//!   worker running the transfers.
//! - [`downtime_model`], [`estimates`], [`routes`]: downtime estimates: the pure model
//!   fitted to the downtimes measured, the estimates read from the log with it, and
//!   the route serving them.
//! - [`limits`], [`settings`]: how many at once, and the rest of the configuration;
//!   `credentials` (private): database passwords from the secret store, never
//!   recorded.
//!
//! Emits the `transfer` events (copies, and transit servers' wipes); consumes
//! `TransitInstallationCompleted`, `TransitServerWipeStarted`, `ServerReinstalled`,
//! `PreCopyRetried`, `AccountMoveStarted`, `AccountRollbackStarted`,
//! `AccountRelocationStarted`, `AccountTransferAborted`, `TestMigrationRequested`,
//! `TestMigrationDiscarded`, `OptionalMigrationStarted`, `MigrationCancelled`,
//! `ObsoleteLanguagesRestored`, `MigrationCompleted` and its own `TransferScheduled`;
//! its view (`data_mover_view`) folds `server`, `transit_server`, `migration`,
//! `optional_migration` and `transfer` events for where data lives.

mod credentials;
pub mod databases;
pub mod demo;
mod disk;
pub use ferry_data_mover_domain as domain;
pub mod downtime_model;
pub mod engine;
pub mod estimates;
pub mod files;
pub mod limits;
mod process;
pub mod reactor;
pub mod routes;
pub mod settings;

pub use settings::{DataMoverArgs, MoverSettings};

use ferry_infra::runtime::Runtime;
use std::sync::Arc;

/// Starts the data mover in `runtime`: its policy scheduling transfers (view,
/// reactor) and the worker running them, until `runtime.shutdown`; returns its HTTP
/// routes.
pub fn service(runtime: &Runtime, settings: MoverSettings) -> utoipa_axum::router::OpenApiRouter {
    let estimates = estimates::Estimates::new(
        runtime.log.clone(),
        ferry_infra::policy::view::ViewReader::new(runtime.pool.clone(), runtime.board.clone()),
        Arc::new(settings.clone()),
    );
    let handler = ferry_infra::command::CommandHandler::new(runtime.log.clone(), 20);
    let mover = engine::Mover::new(handler, settings).with_estimates(estimates.clone());
    runtime
        .spawn_policy::<domain::policy::MoverPolicy, _>(reactor::MoverExecutor::new(mover.clone()));
    let worker = reactor::TransferWorker::new(mover, runtime.shutdown.clone());
    runtime.spawn(
        "data mover worker",
        worker.run(runtime.log.clone(), runtime.parked.clone()),
    );
    routes::router(estimates)
}
