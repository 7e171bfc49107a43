//! The edge of the pool's policy (`domain::policy`): its commands carried out
//! through [`TransitPool`], as `system:transit-pool`, and the policy run against the
//! log (its view, reactor `transit_pool` and timers).
//!
//! Emits, through the deciders, the queue and transit server events of the chain
//! reserve → install → lend → release → wipe → available; consumes what the
//! policy's view reads (migration, transit_queue, transit_server, transfer).

use crate::domain::policy::{PoolAction, PoolCommand, PoolPolicy};
use crate::service::{CommandMeta, TransitPool};
use ferry_events::Actor;
use ferry_infra::policy::{Execute, PolicyContext};
use ferry_infra::reactor::{Effect, ReactionError, ReactorError, command_outcome};
use tokio_util::sync::CancellationToken;

pub use crate::domain::policy::NAME as REACTOR_NAME;

/// Carries out the pool policy's commands.
#[derive(Debug, Clone)]
pub struct PoolExecutor {
    pool: TransitPool,
}

impl PoolExecutor {
    /// Commands issued through `pool`.
    pub fn new(pool: TransitPool) -> Self {
        Self { pool }
    }
}

impl Execute<PoolCommand> for PoolExecutor {
    async fn execute(&self, command: &PoolCommand) -> Result<Vec<Effect>, ReactionError> {
        let meta = CommandMeta::new(command.id, Actor::system("transit-pool"))
            .correlated(command.correlation_id);
        let pool = &self.pool;
        match &command.action {
            PoolAction::Request {
                configuration,
                migration_id,
                client_server_id,
                requested_at,
            } => command_outcome(
                pool.request(
                    &meta,
                    configuration,
                    *migration_id,
                    client_server_id,
                    *requested_at,
                )
                .await,
            ),
            PoolAction::ReleaseRequest {
                configuration,
                migration_id,
                reason,
            } => command_outcome(
                pool.release_request(&meta, configuration, *migration_id, reason)
                    .await,
            ),
            PoolAction::ServerAvailable {
                configuration,
                transit_server_id,
            } => command_outcome(
                pool.server_available(&meta, configuration, transit_server_id)
                    .await,
            ),
            PoolAction::Reserve {
                transit_server_id,
                migration_id,
                client_server_id,
                target_version,
            } => command_outcome(
                pool.reserve(
                    &meta,
                    transit_server_id,
                    *migration_id,
                    client_server_id,
                    target_version,
                )
                .await,
            ),
            PoolAction::CompleteInstallation {
                transit_server_id,
                migration_id,
            } => command_outcome(
                pool.complete_installation(&meta, transit_server_id, *migration_id)
                    .await,
            ),
            PoolAction::Lend {
                transit_server_id,
                migration_id,
                lent_at,
            } => command_outcome(
                pool.lend(&meta, transit_server_id, *migration_id, *lent_at)
                    .await,
            ),
            PoolAction::ReleaseServer {
                transit_server_id,
                migration_id,
            } => command_outcome(
                pool.release_server(&meta, transit_server_id, *migration_id)
                    .await,
            ),
            PoolAction::CompleteWipe { transit_server_id } => {
                command_outcome(pool.complete_wipe(&meta, transit_server_id).await)
            }
            PoolAction::FailWipe {
                transit_server_id,
                reason,
            } => command_outcome(pool.fail_wipe(&meta, transit_server_id, reason).await),
            PoolAction::TakeOutOfService {
                transit_server_id,
                reason,
            } => command_outcome(
                pool.take_out_of_service(&meta, transit_server_id, reason)
                    .await,
            ),
        }
    }
}

/// Runs the pool's policy (view, reactor, timers) until `shutdown`, for tests and
/// for embedding without a [`ferry_infra::runtime::Runtime`].
pub async fn run(
    pool: TransitPool,
    context: PolicyContext,
    shutdown: CancellationToken,
) -> Result<(), ReactorError> {
    ferry_infra::policy::run::<PoolPolicy, _>(context, PoolExecutor::new(pool), shutdown).await
}
