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
//!   Its messages are kept in hand by heartbeats while their transfers run (hours,
//!   maybe), and come back [`WORKER_ACK_WAIT`] after the last one: a crashed
//!   process's transfers resume seconds after a restart, not a minute (issue 10).

use crate::domain::policy::{MoverCommand, engine_of};
use crate::engine::{Mover, test_copy};
use ferry_events::{AggregateType, DatabaseEngine, Event, TransferEvent};
use ferry_infra::event_log::{EventLog, Recorded};
use ferry_infra::policy::Execute;
use ferry_infra::policy::parked::ParkedReactions;
use ferry_infra::reactor::{Effect, ReactionError, Reactor, ReactorError, ReactorSettings};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use crate::domain::policy::NAME;
const WORKER: &str = "data_mover_worker";

/// How long a transfer's message stays with a process that stopped telling the server
/// it still runs it (it heartbeats every third of this): once it died, its transfers
/// go to the next process that reads, this long after its last heartbeat at most. A
/// few seconds: a crash during a cutover costs downtime until the transfer resumes.
/// Not less: a live process stalled that long (its runtime or the NATS connection)
/// would get its own transfer again beside it, which is harmless (the account's slot
/// keeps the second waiting, then finds it done) but wasted.
pub const WORKER_ACK_WAIT: Duration = Duration::from_secs(5);

/// Transfers held at once by the worker (running or waiting for a slot): more than
/// the limits, so that a transfer waiting for a busy server never holds up another.
const WORKER_IN_FLIGHT: usize = 256;

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
                    .map(|s| (s.url.clone(), s.credential.clone()));
                let (url, credential) = new_server.unzip();
                let credential = credential.flatten();
                let mut transfer = transfer.clone();
                let storage = &mut transfer.destination.storage;
                match engine_of(*service) {
                    Some(DatabaseEngine::Postgres) => {
                        (storage.postgres_url, storage.postgres_credential) = (url, credential);
                    }
                    Some(DatabaseEngine::Mysql) => {
                        (storage.mysql_url, storage.mysql_credential) = (url, credential);
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

    /// How the worker reads its consumer: the defaults, but [`WORKER_ACK_WAIT`].
    pub fn settings() -> ReactorSettings {
        ReactorSettings {
            ack_wait: WORKER_ACK_WAIT,
            ..ReactorSettings::default()
        }
    }

    /// Runs transfers from `log` until its stop token fires, parking what fails in
    /// `parked`.
    pub async fn run(self, log: EventLog, parked: ParkedReactions) -> Result<(), ReactorError> {
        let stop = self.stop.clone();
        ferry_infra::reactor::run_concurrently(
            Arc::new(self),
            log,
            parked,
            Self::settings(),
            WORKER_IN_FLIGHT,
            stop,
        )
        .await
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
