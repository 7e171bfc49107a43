//! ferry accounts service: owns client servers and their accounts (aggregate
//! `server`), the catalogue of target infrastructure versions
//! (`target_infrastructure`), required migrations through the eight steps
//! (`migration`) and optional single-service migrations (`optional_migration`).
//!
//! - [`domain`]: the pure deciders and their rules.
//! - [`service`]: the command side, loading what decisions need from the log.
//! - [`reactions`]: the edge of the domain's policy: what the transit pool, the data
//!   mover and the network report, turned into migration commands, and optional
//!   migrations scheduled for a time applied when it comes (see `docs/process.md`).
//! - [`routes`]: the HTTP JSON API of every command.
//!
//! Emits the events of `server`, `target_infrastructure`, `migration` and
//! `optional_migration`; consumes transit queue, transit server, transfer and
//! account traffic events, and its own migration events that change a server.

pub use ferry_accounts_domain as domain;
pub mod reactions;
pub mod routes;
pub mod service;

use domain::calendar::{CalendarError, WorkingCalendar};
use ferry_infra::runtime::Runtime;
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

/// Starts the accounts service's policy (view, reactor, timers) in `runtime` and
/// returns its routes.
pub fn service(runtime: &Runtime, args: &AccountsArgs) -> Result<OpenApiRouter, CalendarError> {
    let accounts = service::Accounts::new(runtime.log.clone(), args.calendar()?)
        .with_storage_roots(runtime.storage_roots())
        .with_secrets(runtime.secrets());
    runtime.spawn_policy::<domain::policy::AccountsPolicy, _>(reactions::AccountsExecutor::new(
        accounts.handler().clone(),
    ));
    Ok(routes::router(accounts))
}
