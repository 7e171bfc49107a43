//! ferry transit-pool service: owns the transit servers (aggregate `transit_server`)
//! and, per configuration, the FIFO waiting queue that allocates them (aggregate
//! `transit_queue`). Step 3 of a migration: a free transit server of the client
//! server's configuration is reserved and installed, or the request waits its turn.
//!
//! - Emits: `TransitRequestQueued`, `TransitRequestServed`, `TransitRequestWithdrawn`,
//!   `TransitServerAvailable`, `TransitServerWithdrawn`, `TransitAssignmentEnded`
//!   (transit_queue); `TransitServerAdded`, `TransitServerReserved`,
//!   `TransitInstallationStarted`, `TransitInstallationCompleted`,
//!   `TransitInstallationFailed`, `TransitServerLent`, `TransitServerReleased`,
//!   `TransitServerWipeStarted`, `TransitServerWiped`, `TransitServerTakenOutOfService`,
//!   `TransitServerReturnedToService` (transit_server).
//! - Consumes (policy `transit_pool` over its view `transit_pool_view`):
//!   `ObsoleteLanguagesRemoved`, `ObsoleteLanguagesRestored`, `MigrationCancelled`,
//!   `MigrationCompleted` (migration, with the migration's `MigrationOpened` and
//!   `TransitServerRequested` in the view); `TransferCompleted` and `TransferFailed`
//!   (transfer, with its `TransferScheduled` in the view: a pre-copy's completion
//!   lends the server, a wipe's end frees it or takes it out of service); its own
//!   queue and transit server events, which drive the chain reserve → install → lend
//!   → release → wipe → available. Installations complete when due: their due times
//!   are entries of the view, so they survive restarts. Wipes are the data mover's,
//!   for real: the server is free again only once it reports its data erased.
//!
//! Modules: [`domain`] (the pure deciders and the policy), [`mod@service`]
//! (commands), [`reactions`] (the policy's edge), [`routes`] (support's HTTP API).

pub use ferry_transit_pool_domain as domain;
pub mod reactions;
pub mod routes;
pub mod service;

pub use reactions::{PoolExecutor, REACTOR_NAME, run};
pub use service::{Changes, CommandMeta, NewTransitServer, PoolError, PoolSettings, TransitPool};

use ferry_infra::runtime::Runtime;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;

/// Settings of the transit pool, from flags or environment variables.
#[derive(clap::Args, Debug, Clone)]
pub struct TransitPoolArgs {
    /// Seconds a transit server's installation on the target infrastructure takes
    /// (hours in reality); the data mover's pre-copy of files and mails follows it.
    #[arg(
        long = "transit-install-secs",
        env = "FERRY_TRANSIT_INSTALL_SECS",
        default_value_t = 10_800,
        value_parser = clap::value_parser!(u64).range(0..=2_592_000)
    )]
    pub install_secs: u64,
    /// Seconds a transit server's wipe is expected to take after a loan (shown while it
    /// runs): the data mover erases its data, and it is free again once that is done
    /// and checked.
    #[arg(
        long = "transit-wipe-secs",
        env = "FERRY_TRANSIT_WIPE_SECS",
        default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(0..=2_592_000)
    )]
    pub wipe_secs: u64,
}

impl TransitPoolArgs {
    /// The pool settings these arguments describe.
    pub fn settings(&self) -> PoolSettings {
        PoolSettings {
            install_duration: Duration::from_secs(self.install_secs),
            wipe_duration: Duration::from_secs(self.wipe_secs),
            ..PoolSettings::default()
        }
    }
}

/// Starts the transit pool in `runtime`: its policy (view, reactor, timers) runs
/// until `runtime.shutdown`; returns its HTTP routes.
pub fn service(runtime: &Runtime, args: TransitPoolArgs) -> OpenApiRouter {
    let pool = TransitPool::new(runtime.log.clone(), args.settings())
        .with_storage_roots(runtime.storage_roots())
        .with_secrets(runtime.secrets());
    runtime.spawn_policy::<domain::policy::PoolPolicy, _>(PoolExecutor::new(pool.clone()));
    routes::router(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        pool: TransitPoolArgs,
    }

    #[test]
    fn durations_default_to_hours_of_installation_and_minutes_of_wipe() {
        let cli = Cli::try_parse_from(["ferry"]).expect("defaults");
        let settings = cli.pool.settings();
        assert_eq!(settings.install_duration, Duration::from_secs(3 * 3600));
        assert_eq!(settings.wipe_duration, Duration::from_secs(600));
        assert_eq!(settings.max_attempts, 100);
        let cli = Cli::try_parse_from([
            "ferry",
            "--transit-install-secs",
            "60",
            "--transit-wipe-secs",
            "5",
        ])
        .expect("flags");
        assert_eq!(cli.pool.install_secs, 60);
        assert_eq!(cli.pool.wipe_secs, 5);
        assert!(Cli::try_parse_from(["ferry", "--transit-wipe-secs", "-1"]).is_err());
    }
}
