//! The edge of billing's policy (`domain::policy`): its commands carried out through
//! [`Billing`] as `system:billing`, and the policy run against the log (its view
//! `billing_view`, reactor `billing` and timers).
//!
//! Emits, through the loan's decider, `LoanOpened` (with the free period in force
//! now), `LoanFreePeriodEnding`, `LoanDayCharged` and `LoanClosed`; consumes what
//! the policy's view reads (server, migration, transit_server, loan).

use crate::domain::loan::LoanCommand;
use crate::domain::policy::{BillingAction, BillingCommand, BillingPolicy};
use crate::service::{Billing, CommandMeta};
use ferry_events::{Actor, LoanOpened};
use ferry_infra::policy::{Execute, PolicyContext};
use ferry_infra::reactor::{Effect, ReactionError, ReactorError, command_outcome};
use tokio_util::sync::CancellationToken;

pub use crate::domain::policy::NAME as REACTOR_NAME;

/// Carries out billing's policy commands.
#[derive(Debug, Clone)]
pub struct BillingExecutor {
    billing: Billing,
}

impl BillingExecutor {
    /// Commands issued through `billing`.
    pub fn new(billing: Billing) -> Self {
        Self { billing }
    }
}

impl Execute<BillingCommand> for BillingExecutor {
    async fn execute(&self, command: &BillingCommand) -> Result<Vec<Effect>, ReactionError> {
        let meta = CommandMeta::new(command.id, Actor::system("billing"));
        let (migration_id, loan_command) = match &command.action {
            BillingAction::Open {
                migration_id,
                transit_server_id,
                customer_id,
                client_server_id,
                started_at,
                monthly_price,
            } => (
                *migration_id,
                LoanCommand::Open(LoanOpened {
                    migration_id: *migration_id,
                    transit_server_id: transit_server_id.clone(),
                    customer_id: customer_id.clone(),
                    client_server_id: client_server_id.clone(),
                    started_at: *started_at,
                    monthly_price: monthly_price.clone(),
                    free_period_days: self.billing.free_period_days(),
                }),
            ),
            BillingAction::Advance {
                migration_id,
                notice,
            } => (
                *migration_id,
                LoanCommand::Advance {
                    now: self.billing.log().clock().now(),
                    notice: notice.clone(),
                },
            ),
            BillingAction::Close {
                migration_id,
                ended_at,
            } => (
                *migration_id,
                LoanCommand::Close {
                    ended_at: *ended_at,
                },
            ),
        };
        command_outcome(self.billing.handle(&meta, migration_id, loan_command).await)
    }
}

/// Runs billing's policy (view, reactor, timers) until `shutdown`, for tests and
/// for embedding without a [`ferry_infra::runtime::Runtime`].
pub async fn run(
    billing: Billing,
    context: PolicyContext,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    ferry_infra::policy::run::<BillingPolicy, _>(context, BillingExecutor::new(billing), shutdown)
        .await
}
