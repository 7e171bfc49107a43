//! ferry migration-state service: **the read side**. It owns the read model of the
//! current migration state of every client server and the queries on it; it writes
//! no aggregate and emits no event.
//!
//! - [`projection::MigrationState`] (`proj_migration_state`) consumes the events of
//!   the aggregates `server`, `target_infrastructure`, `migration`,
//!   `optional_migration`, `transit_server`, `transit_queue` and `transfer`, and
//!   keeps servers (accounts, current migration), migrations (state and step as
//!   docs/process.md defines them, every account's state, transfers and their
//!   progress, transit server, queue wait, downtimes), transit servers, the waiting
//!   queues, target infrastructures and optional migrations. It is a pure function of
//!   the events ([`view`] holds the folds), so it can be dropped and rebuilt from the
//!   log at any time and the rebuild equals the live tables.
//! - [`routes`] serves them (`GET /servers`, `/servers/{server_id}`, `/servers/{server_id}/audit`,
//!   `/migrations/{migration_id}`, `/transit-servers`, `/transit-queues`,
//!   `/target-infrastructures`, `/optional-migrations`, support's
//!   `/transfers/failed`), customers seeing only their own servers. The loan of a
//!   transit server (days used of the free period) is
//!   counted when asked ([`loan`]); audits are replayed from the event log itself
//!   ([`audit`], [`narrate`]).

pub mod access;
pub mod audit;
pub mod error;
pub mod failed;
pub mod loan;
pub mod narrate;
pub mod projection;
pub mod query;
pub mod response;
pub mod routes;
pub mod view;

use ferry_infra::projection::RunnerSettings;
use ferry_infra::runtime::Runtime;
use utoipa_axum::router::OpenApiRouter;

pub use projection::MigrationState;
pub use routes::ReadState;

/// Starts the read side in `runtime`: spawns the projection and returns the query
/// routes.
pub fn service(runtime: &Runtime) -> OpenApiRouter {
    runtime.spawn_projection(MigrationState, RunnerSettings::default());
    routes::router(ReadState {
        pool: runtime.pool.clone(),
        log: runtime.log.clone(),
    })
}
