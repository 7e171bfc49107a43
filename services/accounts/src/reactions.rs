//! The edge of the accounts policy (`domain::policy`): its commands carried out
//! through the command handler, as `system:accounts`, and the policy run against
//! the log (its view `accounts_view`, reactor `accounts` and timers).
//!
//! Emits, through the deciders, migration, server and optional migration events;
//! consumes what the policy's view reads (migration, transit_queue, transit_server,
//! transfer, account_traffic, optional_migration).

use crate::domain::migration::MigrationDecider;
use crate::domain::optional_migration::OptionalMigrationDecider;
use crate::domain::policy::{AccountsCommand, AccountsPolicy, Target};
use crate::domain::server::ServerDecider;
use ferry_core::Decider;
use ferry_infra::command::{Command, CommandHandler};
use ferry_infra::policy::{Execute, PolicyContext};
use ferry_infra::reactor::{ReactionError, ReactorError, command_outcome};
use tokio_util::sync::CancellationToken;

pub use crate::domain::policy::NAME as REACTOR_NAME;

/// Carries out the accounts policy's commands.
#[derive(Debug, Clone)]
pub struct AccountsExecutor {
    handler: CommandHandler,
}

impl AccountsExecutor {
    /// Commands handled by `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }

    async fn handle<D: Decider>(
        &self,
        command: &AccountsCommand,
        aggregate_id: String,
        payload: D::Command,
    ) -> Result<(), ReactionError>
    where
        D::Command: Clone,
    {
        let command = Command {
            id: command.id,
            aggregate_id,
            correlation_id: command.correlation_id,
            actor: ferry_events::Actor::system(REACTOR_NAME),
            payload,
        };
        command_outcome(self.handler.handle::<D>(&command).await)
    }
}

impl Execute<AccountsCommand> for AccountsExecutor {
    async fn execute(&self, command: &AccountsCommand) -> Result<(), ReactionError> {
        match &command.target {
            Target::Migration(id, payload) => {
                self.handle::<MigrationDecider>(command, id.to_string(), payload.clone())
                    .await
            }
            Target::Server(id, payload) => {
                self.handle::<ServerDecider>(command, id.clone(), payload.clone())
                    .await
            }
            Target::Optional(id, payload) => {
                self.handle::<OptionalMigrationDecider>(command, id.to_string(), payload.clone())
                    .await
            }
        }
    }
}

/// Runs the accounts policy (view, reactor, timers) until `shutdown`, for tests and
/// for embedding without a [`ferry_infra::runtime::Runtime`].
pub async fn run(
    handler: CommandHandler,
    context: PolicyContext,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    ferry_infra::policy::run::<AccountsPolicy, _>(context, AccountsExecutor::new(handler), shutdown)
        .await
}
