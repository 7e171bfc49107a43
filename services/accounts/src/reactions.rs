//! The edge of the accounts policy (`domain::policy`): its commands carried out
//! through the command handler, as `system:accounts`, and the policy run against
//! the log (its view `accounts_view`, reactor `accounts` and timers).
//!
//! Emits, through the deciders, migration, server and optional migration events;
//! consumes what the policy's view reads (migration, transit_queue, transit_server,
//! transfer, account_traffic, optional_migration).

use crate::domain::migration::{Action, MigrationCommand, MigrationDecider};
use crate::domain::optional_migration::OptionalMigrationDecider;
use crate::domain::policy::{AccountsCommand, AccountsPolicy, Target};
use crate::domain::server::{ServerCommand, ServerDecider};
use crate::domain::target_infrastructure::TargetInfrastructureDecider;
use ferry_core::Decider;
use ferry_events::{Actor, GrantScope};
use ferry_infra::command::{Command, CommandHandler, HandleError};
use ferry_infra::policy::{Execute, PolicyContext};
use ferry_infra::reactor::{Effect, ReactionError, ReactorError, command_outcome};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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
    ) -> Result<Vec<Effect>, ReactionError>
    where
        D::Command: Clone,
        D::Rejection: ferry_infra::command::Refusal,
    {
        let command = Command {
            id: command.id,
            aggregate_id,
            correlation_id: command.correlation_id,
            actor: Actor::system(REACTOR_NAME),
            payload,
        };
        command_outcome(self.handler.handle::<D>(&command).await)
    }
}

impl AccountsExecutor {
    /// Opens a migration whose server was claimed for it, with the server's accounts
    /// and the target's support as they are now; a refusal gives the claim back.
    async fn open(
        &self,
        command: &AccountsCommand,
        migration_id: Uuid,
        server_id: &str,
        target_version: &str,
        actor: &Actor,
    ) -> Result<Vec<Effect>, ReactionError> {
        let transient = |e: String| ReactionError::Transient(e);
        let (server, _) = self
            .handler
            .state::<ServerDecider>(server_id)
            .await
            .map_err(|e| transient(e.to_string()))?;
        let (target, _) = self
            .handler
            .state::<TargetInfrastructureDecider>(target_version)
            .await
            .map_err(|e| transient(e.to_string()))?;
        let opened = match target.support {
            None => Err(format!(
                "no infrastructure version {target_version} is published"
            )),
            Some(target) => {
                let open = Command {
                    id: command.id,
                    aggregate_id: migration_id.to_string(),
                    correlation_id: migration_id,
                    actor: actor.clone(),
                    payload: MigrationCommand {
                        actor: actor.clone(),
                        // The claim was recorded after the request's own check (the
                        // owner, support, or a user granted the server): the opening
                        // carries out that request, with the right it was checked
                        // against then.
                        grants: [GrantScope::server(server_id)].into_iter().collect(),
                        action: Action::Open {
                            migration_id,
                            server_id: server_id.to_owned(),
                            customer_id: server.customer_id().to_owned(),
                            from_version: server.infrastructure_version.clone(),
                            accounts: server.accounts.values().cloned().collect(),
                            target,
                        },
                    },
                };
                match self.handler.handle::<MigrationDecider>(&open).await {
                    Err(HandleError::Rejected(refusal)) => Err(refusal.to_string()),
                    outcome => Ok(command_outcome(outcome)),
                }
            }
        };
        let reason = match opened {
            Ok(effects) => return effects,
            Err(reason) => reason,
        };
        // The server changed between the request's check and now: free it again.
        tracing::warn!(%server_id, %migration_id, %reason, "opening refused after the server was claimed; claim given back");
        let free = Command {
            id: ferry_core::reaction_id(REACTOR_NAME, migration_id, "free-refused"),
            aggregate_id: server_id.to_owned(),
            correlation_id: migration_id,
            actor: Actor::system(REACTOR_NAME),
            payload: ServerCommand::CloseMigration {
                migration_id,
                outcome: ferry_events::MigrationOutcome::Cancelled,
            },
        };
        command_outcome(self.handler.handle::<ServerDecider>(&free).await)
    }
}

impl Execute<AccountsCommand> for AccountsExecutor {
    async fn execute(&self, command: &AccountsCommand) -> Result<Vec<Effect>, ReactionError> {
        match &command.target {
            Target::OpenMigration {
                migration_id,
                server_id,
                target_version,
                actor,
            } => {
                self.open(command, *migration_id, server_id, target_version, actor)
                    .await
            }
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
