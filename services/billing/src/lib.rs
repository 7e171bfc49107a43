//! ferry billing service: owns the **loan** of each transit server to a migration
//! (aggregate `loan`, id = the migration uuid), from the moment the server is lent to
//! its release, and the customers' charges and monthly invoices.
//!
//! **Charging rule.** Day `k` (1-based) of a loan starts at `started_at + (k-1)×24h`,
//! `started_at` being the `occurred_at` of the `TransitServerLent` event. Days
//! `1..=free_period_days` are free (the free period is the setting in force when
//! the loan opens, [`BillingArgs::free_period_days`]; changing the setting leaves
//! open loans alone; support may apply another to one loan, with a reason). Each
//! later day is charged once, as soon as it starts (one `LoanDayCharged`): its `day`
//! is the UTC calendar date on which it starts, its amount the client server's
//! monthly price divided by the number of days of that calendar month, in integer
//! minor units rounded half up, in the price's currency. When the transit server is
//! released (`TransitServerReleased`, at its `occurred_at`), every started billable
//! day not yet charged is charged, then `LoanClosed` records the days used (started,
//! at least one), the days charged and the total. The customer is told at 3 days and
//! at 1 day before the free period ends (`LoanFreePeriodEnding`).
//!
//! - Emits: `LoanOpened`, `LoanFreePeriodChanged`, `LoanFreePeriodEnding`,
//!   `LoanDayCharged`, `LoanClosed` (loan).
//! - Consumes (policy `billing` over its view `billing_view`): `ServerRegistered`,
//!   `ServerDetailsChanged` (server: customer and monthly price), `MigrationOpened`
//!   (migration: client server and customer), `TransitServerLent`,
//!   `TransitServerReleased` (transit_server), and its own loan events, whose
//!   entries are the durable timers of the charges and notices (they survive
//!   restarts; command ids derive from the loan's state, and the decider never
//!   charges a day twice). The read model (`proj_billing`) consumes the loan events.
//!
//! Modules: [`domain`] (the pure decider, charging rule and policy), [`mod@service`]
//! (commands), [`reactions`] (the policy's edge), [`projection`] (the read model),
//! [`query`] and [`routes`] (the HTTP API), [`api`] (its answers).

pub use ferry_billing_domain as domain;
pub mod api;
pub mod projection;
pub mod query;
pub mod reactions;
pub mod routes;
pub mod service;

pub use projection::BillingReadModel;
pub use reactions::{BillingExecutor, REACTOR_NAME, run};
pub use routes::BillingState;
pub use service::{Billing, CommandMeta};

use ferry_infra::projection::RunnerSettings;
use ferry_infra::runtime::Runtime;
use utoipa_axum::router::OpenApiRouter;

/// The free period of a new loan when none is set, in days.
pub const DEFAULT_FREE_PERIOD_DAYS: u32 = 14;

/// Settings of billing, from flags or environment variables.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct BillingArgs {
    /// Days a transit server is lent free of charge from the loan's start (0 to 365),
    /// for loans opened from now on: open loans keep theirs.
    #[arg(
        long = "free-period-days",
        env = "FERRY_FREE_PERIOD_DAYS",
        default_value_t = DEFAULT_FREE_PERIOD_DAYS,
        value_parser = clap::value_parser!(u32).range(0..=365)
    )]
    pub free_period_days: u32,
}

impl Default for BillingArgs {
    fn default() -> Self {
        Self {
            free_period_days: DEFAULT_FREE_PERIOD_DAYS,
        }
    }
}

impl BillingArgs {
    /// Settings with a free period of `free_period_days` days (tests).
    pub fn with_free_period_days(free_period_days: u32) -> Self {
        Self { free_period_days }
    }
}

/// Starts billing in `runtime`: its policy (view, reactor, timers) and its read
/// model run until `runtime.shutdown`; returns its HTTP routes.
pub fn service(runtime: &Runtime, args: &BillingArgs) -> OpenApiRouter {
    let billing = Billing::new(runtime.log.clone(), args.free_period_days);
    runtime.spawn_policy::<domain::policy::BillingPolicy, _>(BillingExecutor::new(billing.clone()));
    runtime.spawn_projection(BillingReadModel, RunnerSettings::default());
    routes::router(BillingState {
        billing,
        pool: runtime.pool.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        billing: BillingArgs,
    }

    #[test]
    fn the_free_period_defaults_to_two_weeks_and_stays_within_a_year() {
        let cli = Cli::try_parse_from(["ferry"]).expect("defaults");
        assert_eq!(cli.billing, BillingArgs::default());
        assert_eq!(cli.billing.free_period_days, 14);
        let cli = Cli::try_parse_from(["ferry", "--free-period-days", "7"]).expect("flag");
        assert_eq!(cli.billing, BillingArgs::with_free_period_days(7));
        assert!(Cli::try_parse_from(["ferry", "--free-period-days", "366"]).is_err());
        assert!(Cli::try_parse_from(["ferry", "--free-period-days", "-1"]).is_err());
    }
}
