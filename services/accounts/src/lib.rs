//! ferry accounts service: owns client servers and their accounts (aggregate
//! `server`), the catalogue of target infrastructure versions
//! (`target_infrastructure`), required migrations through the eight steps
//! (`migration`) and optional single-service migrations (`optional_migration`).
//!
//! - [`domain`]: the pure deciders and their rules.
//! - [`service`]: the command side, loading what decisions need from the log.
//! - [`reactor`]: what the transit pool, the data mover and the network report,
//!   turned into migration commands (see `docs/process.md`).
//! - [`routes`]: the HTTP JSON API of every command.
//! - [`scheduler`]: optional migrations scheduled for a time, applied when it comes.
//!
//! Emits the events of `server`, `target_infrastructure`, `migration` and
//! `optional_migration`; consumes transit queue, transit server, transfer and
//! account traffic events, and its own migration events that change a server.

pub use ferry_accounts_domain as domain;
pub mod reactor;
pub mod routes;
pub mod scheduler;
pub mod service;

use domain::calendar::{CalendarError, WorkingCalendar};
use ferry_infra::reactor::ReactorSettings;
use ferry_infra::runtime::Runtime;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Settings of the accounts service.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountsArgs {
    /// Support's working days, when accounts are relocated (step 7), e.g. `mon-fri`.
    #[arg(long, env = "FERRY_WORKING_DAYS", default_value = "mon-fri")]
    pub working_days: String,
    /// Support's working hours, local time, e.g. `09:00-18:00`.
    #[arg(long, env = "FERRY_WORKING_HOURS", default_value = "09:00-18:00")]
    pub working_hours: String,
    /// Time zone of the working hours (IANA name).
    #[arg(long, env = "FERRY_TIME_ZONE", default_value = "Europe/Paris")]
    pub time_zone: String,
    /// Days off, comma-separated `YYYY-MM-DD` dates.
    #[arg(long, env = "FERRY_HOLIDAYS", default_value = "")]
    pub holidays: String,
    /// Seconds between two looks for optional migrations whose time has come.
    #[arg(
        long,
        env = "FERRY_OPTIONAL_MIGRATION_POLL_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub optional_migration_poll_secs: u64,
}

impl AccountsArgs {
    /// The working calendar these settings describe.
    pub fn calendar(&self) -> Result<WorkingCalendar, CalendarError> {
        WorkingCalendar::parse(
            &self.working_days,
            &self.working_hours,
            &self.time_zone,
            &self.holidays,
        )
    }
}

/// Starts the accounts service's reactor in `runtime` and returns its routes.
pub fn service(runtime: &Runtime, args: &AccountsArgs) -> Result<OpenApiRouter, CalendarError> {
    let accounts = service::Accounts::new(runtime.log.clone(), args.calendar()?);
    let reactor = reactor::AccountsReactor::new(accounts.handler().clone());
    runtime.spawn(
        "accounts reactor",
        ferry_infra::reactor::run(
            Arc::new(reactor),
            runtime.log.clone(),
            ReactorSettings::default(),
            runtime.shutdown.clone(),
        ),
    );
    let scheduler = scheduler::OptionalScheduler::new(
        accounts.clone(),
        std::time::Duration::from_secs(args.optional_migration_poll_secs),
    );
    runtime.spawn(
        "optional migration scheduler",
        scheduler.run(runtime.shutdown.clone()),
    );
    Ok(routes::router(accounts))
}
