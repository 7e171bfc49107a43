//! The data mover's reactions. Two durable consumers:
//!
//! - `data_mover`: the pure policy `domain::policy::MoverPolicy` over its view
//!   `data_mover_view` (where data lives: servers' storage and accounts, transit
//!   servers' storage, each migration's server and transit server, optional
//!   migrations, test copies) turns the process's events into scheduled transfers
//!   (`TransferScheduled`); this module's [`MoverExecutor`] carries its commands out,
//!   adding what only the settings know (the test servers, the servers running new
//!   service versions). See the policy's table.
//! - `data_mover_worker` runs each `TransferScheduled` (transfer) through the engine,
//!   many at once within the limits (`run_concurrently`), acknowledging each when it
//!   ended: a transfer interrupted by a crash or a stop is redelivered and resumed.

use crate::domain::policy::{MoverCommand, engine_of};
use crate::engine::{Mover, test_copy};
use ferry_events::{AggregateType, DatabaseEngine, Event, TransferEvent};
use ferry_infra::event_log::{EventLog, Recorded};
use ferry_infra::policy::Execute;
use ferry_infra::reactor::{Effect, ReactionError, Reactor};
use tokio_util::sync::CancellationToken;

pub use crate::domain::policy::NAME;
const WORKER: &str = "data_mover_worker";

/// Carries out the data mover policy's commands through the engine.
#[derive(Debug, Clone)]
pub struct MoverExecutor {
    mover: Mover,
}

impl MoverExecutor {
    /// Commands carried out by `mover`.
    pub fn new(mover: Mover) -> Self {
        Self { mover }
    }

    async fn schedule(
        &self,
        scheduled: &ferry_events::TransferScheduled,
    ) -> Result<Vec<Effect>, ReactionError> {
        let version = self
            .mover
            .schedule(scheduled)
            .await
            .map_err(|e| ReactionError::Transient(e.to_string()))?;
        Ok(vec![Effect {
            aggregate_type: AggregateType::Transfer,
            version,
        }])
    }
}

impl Execute<MoverCommand> for MoverExecutor {
    async fn execute(&self, command: &MoverCommand) -> Result<Vec<Effect>, ReactionError> {
        match command {
            MoverCommand::Schedule(scheduled) => self.schedule(scheduled).await,
            MoverCommand::ScheduleTestCopy(scheduled) => {
                let mut scheduled = scheduled.clone();
                scheduled.destination = test_copy::test_endpoint(self.mover.settings());
                self.schedule(&scheduled).await
            }
            MoverCommand::ScheduleServiceMigration {
                transfer,
                service,
                to_version,
            } => {
                // Where the new version runs: unknown means the transfer fails, saying so.
                let new_server = self
                    .mover
                    .settings()
                    .service_servers
                    .iter()
                    .find(|s| s.service == *service && s.version == *to_version)
                    .map(|s| s.url.clone());
                let mut transfer = transfer.clone();
                match engine_of(*service) {
                    Some(DatabaseEngine::Postgres) => {
                        transfer.destination.storage.postgres_url = new_server
                    }
                    Some(DatabaseEngine::Mysql) => {
                        transfer.destination.storage.mysql_url = new_server
                    }
                    None => {}
                }
                self.schedule(&transfer).await
            }
            MoverCommand::TearDownReplications(scheduled) => {
                self.mover.tear_down_replications(scheduled).await;
                Ok(Vec::new())
            }
            MoverCommand::DiscardTestCopy(scheduled) => test_copy::discard(&self.mover, scheduled)
                .await
                .map(|()| Vec::new())
                .map_err(|e| ReactionError::Transient(e.to_string())),
            MoverCommand::AbortTransfer {
                transfer_id,
                reason,
            } => self
                .mover
                .abort(*transfer_id, reason)
                .await
                .map(|()| Vec::new())
                .map_err(|e| ReactionError::Transient(e.to_string())),
        }
    }
}

/// Runs scheduled transfers (consumer `data_mover_worker`).
#[derive(Debug, Clone)]
pub struct TransferWorker {
    mover: Mover,
    stop: CancellationToken,
}

impl TransferWorker {
    /// A worker running transfers with `mover`, interrupted by `stop`.
    pub fn new(mover: Mover, stop: CancellationToken) -> Self {
        Self { mover, stop }
    }
}

impl Reactor for TransferWorker {
    fn name(&self) -> &'static str {
        WORKER
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        vec![log.type_filter(AggregateType::Transfer)]
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let Event::Transfer(TransferEvent::TransferScheduled(scheduled)) = &recorded.envelope.event
        else {
            return Ok(());
        };
        self.mover
            .run(scheduled, &self.stop)
            .await
            .map_err(|e| ReactionError::Transient(e.to_string()))
    }
}
