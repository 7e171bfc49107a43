//! The allocation chain: the transit pool's reactor (durable consumer `transit_pool`)
//! turns events of the log into the pool's own commands, following `docs/process.md`.
//!
//! | event (aggregate) | command |
//! |---|---|
//! | `ObsoleteLanguagesRemoved` (migration) | queue `Request` in the configuration of the migration's `TransitServerRequested` |
//! | `ObsoleteLanguagesRestored`, `MigrationCancelled`, `MigrationCompleted` (migration) | queue `Release` |
//! | `TransitRequestServed` (transit_queue) | transit server `Reserve` (installation starts) |
//! | `TransitInstallationStarted` (transit_server) | a timer: `CompleteInstallation` after the expected duration |
//! | `TransferCompleted` of the migration's pre-copy to its installed transit server (transfer) | transit server `Lend` |
//! | `TransitAssignmentEnded` (transit_queue) | transit server `Release` (wipe starts); a server whose reservation never happened goes back to its queue (`ServerAvailable`) |
//! | `TransitServerWipeStarted` (transit_server) | a timer: `CompleteWipe` after the wipe duration |
//! | `TransitServerAdded`, `TransitServerWiped`, `TransitServerReturnedToService` (transit_server) | queue `ServerAvailable` |
//! | `TransitServerWithdrawn` (transit_queue) | transit server `TakeOutOfService` |
//!
//! Command ids derive from the event ([`reaction_id`]), the correlation is the
//! migration, the actor is `system:transit-pool`: a redelivered event changes nothing.

use crate::domain::transit_server::{Status, TransitServerRejection};
use crate::service::{CommandMeta, TransitPool};
use crate::timers::{self, Timer, TimerError, Timers};
use ferry_events::{
    Actor, AggregateType, Envelope, Event, MigrationEvent, MigrationOpened, TransferEvent,
    TransferKind, TransitQueueEvent, TransitServerEvent,
};
use ferry_infra::command::HandleError;
use ferry_infra::event_log::{AggregateRef, EventLog, Recorded};
use ferry_infra::reactor::{
    self, ReactionError, Reactor, ReactorError, ReactorSettings, command_outcome, reaction_id,
};
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The durable consumer's name, also the namespace of the reactions' command ids.
pub const REACTOR_NAME: &str = "transit_pool";

/// The transit pool's reactor.
#[derive(Debug, Clone)]
pub struct PoolReactor {
    pool: TransitPool,
    timers: Timers,
}

impl PoolReactor {
    /// A reactor issuing commands through `pool` and scheduling timers on `timers`.
    pub fn new(pool: TransitPool, timers: Timers) -> Self {
        Self { pool, timers }
    }

    fn meta(envelope: &Envelope, purpose: &str, correlation_id: Uuid) -> CommandMeta {
        CommandMeta::new(
            reaction_id(REACTOR_NAME, envelope.event_id, purpose),
            Actor::system("transit-pool"),
        )
        .correlated(correlation_id)
    }

    /// The migration's events up to (and including) `up_to`, the sequence reacted to.
    async fn migration(
        &self,
        migration_id: Uuid,
        up_to: u64,
    ) -> Result<MigrationFacts, ReactionError> {
        let aggregate = AggregateRef::new(AggregateType::Migration, migration_id.to_string())
            .map_err(|e| ReactionError::Failed(e.to_string()))?;
        let loaded = self.pool.log().load(&aggregate).await?;
        let mut facts = MigrationFacts::default();
        for recorded in loaded.events.iter().filter(|r| r.sequence <= up_to) {
            match &recorded.envelope.event {
                Event::Migration(MigrationEvent::MigrationOpened(e)) => {
                    facts.opened = Some(e.clone());
                }
                Event::Migration(MigrationEvent::TransitServerRequested(e)) => {
                    facts.configuration = Some(e.configuration.clone());
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    async fn request(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        let migration_id = migration_id(envelope)?;
        let facts = self.migration(migration_id, recorded.sequence).await?;
        let (Some(opened), Some(configuration)) = (facts.opened, facts.configuration) else {
            return Err(ReactionError::Failed(format!(
                "migration {migration_id} removed its obsolete languages without having been \
                 opened and requested a transit server"
            )));
        };
        let meta = Self::meta(envelope, "request", migration_id);
        command_outcome(
            self.pool
                .request(
                    &meta,
                    &configuration,
                    migration_id,
                    &opened.server_id,
                    envelope.occurred_at,
                )
                .await,
        )
    }

    async fn release(&self, recorded: &Recorded, reason: &str) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        let migration_id = migration_id(envelope)?;
        let facts = self.migration(migration_id, recorded.sequence).await?;
        let Some(configuration) = facts.configuration else {
            // Never asked for a transit server: nothing to give back.
            return Ok(());
        };
        let meta = Self::meta(envelope, "release", migration_id);
        command_outcome(
            self.pool
                .release_request(&meta, &configuration, migration_id, reason)
                .await,
        )
    }

    async fn reserve(
        &self,
        recorded: &Recorded,
        migration_id: Uuid,
        transit_server_id: &str,
    ) -> Result<(), ReactionError> {
        let facts = self.migration(migration_id, u64::MAX).await?;
        let Some(opened) = facts.opened else {
            return Err(ReactionError::Failed(format!(
                "migration {migration_id} was served a transit server but was never opened"
            )));
        };
        let meta = Self::meta(&recorded.envelope, "reserve", migration_id);
        command_outcome(
            self.pool
                .reserve(
                    &meta,
                    transit_server_id,
                    migration_id,
                    &opened.server_id,
                    &opened.target_version,
                )
                .await,
        )
    }

    async fn release_server(
        &self,
        recorded: &Recorded,
        migration_id: Uuid,
        transit_server_id: &str,
    ) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        let meta = Self::meta(envelope, "release-server", migration_id);
        let outcome = self
            .pool
            .release_server(&meta, transit_server_id, migration_id)
            .await;
        if let Err(HandleError::Rejected(TransitServerRejection::NotHeld { .. })) = &outcome {
            let state = self
                .pool
                .server_state(transit_server_id)
                .await
                .map_err(|e| ReactionError::Transient(e.to_string()))?;
            if state.status == Status::Available {
                // Its reservation never happened (refused): nothing to wipe, it is free
                // in its queue (this event's aggregate) again at once.
                tracing::warn!(
                    transit_server_id,
                    %migration_id,
                    "assignment ended on a transit server never reserved; available again"
                );
                let meta = Self::meta(envelope, "available-unreserved", migration_id);
                return command_outcome(
                    self.pool
                        .server_available(&meta, &envelope.aggregate_id, transit_server_id)
                        .await,
                );
            }
        }
        command_outcome(outcome)
    }

    async fn available(
        &self,
        recorded: &Recorded,
        configuration: Option<String>,
    ) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        let transit_server_id = &envelope.aggregate_id;
        let configuration = match configuration {
            Some(configuration) => configuration,
            None => {
                let state = self
                    .pool
                    .server_state(transit_server_id)
                    .await
                    .map_err(|e| ReactionError::Transient(e.to_string()))?;
                match state.configuration() {
                    Some(configuration) => configuration.to_owned(),
                    None => {
                        return Err(ReactionError::Failed(format!(
                            "transit server {transit_server_id} has no TransitServerAdded"
                        )));
                    }
                }
            }
        };
        let meta = Self::meta(envelope, "available", envelope.correlation_id);
        command_outcome(
            self.pool
                .server_available(&meta, &configuration, transit_server_id)
                .await,
        )
    }

    async fn take_out_of_service(
        &self,
        recorded: &Recorded,
        transit_server_id: &str,
        reason: &str,
    ) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        let meta = Self::meta(envelope, "out-of-service", envelope.correlation_id);
        command_outcome(
            self.pool
                .take_out_of_service(&meta, transit_server_id, reason)
                .await,
        )
    }

    /// A completed transfer lends the transit server when it is the migration's
    /// pre-copy to the transit server installed for it.
    async fn lend(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        let transfer = AggregateRef::new(AggregateType::Transfer, envelope.aggregate_id.clone())
            .map_err(|e| ReactionError::Failed(e.to_string()))?;
        let loaded = self.pool.log().load(&transfer).await?;
        let scheduled = loaded.events.iter().find_map(|r| match &r.envelope.event {
            Event::Transfer(TransferEvent::TransferScheduled(e)) => Some(e),
            _ => None,
        });
        let Some(scheduled) = scheduled else {
            return Err(ReactionError::Failed(format!(
                "transfer {} completed without being scheduled",
                envelope.aggregate_id
            )));
        };
        let (TransferKind::PreCopy, Some(migration_id)) = (scheduled.kind, scheduled.migration_id)
        else {
            return Ok(());
        };
        let transit_server_id = &scheduled.destination.server_id;
        if ferry_events::validate_aggregate_id(transit_server_id).is_err() {
            return Ok(());
        }
        let server = self
            .pool
            .server_state(transit_server_id)
            .await
            .map_err(|e| ReactionError::Transient(e.to_string()))?;
        match server.status {
            Status::Installed {
                migration_id: m, ..
            }
            | Status::Lent {
                migration_id: m, ..
            } if m == migration_id => {}
            // Not a transit server installed for this migration (e.g. the pre-copy back
            // to the reinstalled client server): not ours.
            _ => return Ok(()),
        }
        let meta = Self::meta(envelope, "lend", migration_id);
        command_outcome(
            self.pool
                .lend(&meta, transit_server_id, migration_id, envelope.occurred_at)
                .await,
        )
    }

    fn schedule(&self, timer: Option<Timer>) -> Result<(), ReactionError> {
        if let Some(timer) = timer {
            self.timers.schedule(timer);
        }
        Ok(())
    }
}

/// What the pool needs to know of a migration.
#[derive(Debug, Default)]
struct MigrationFacts {
    opened: Option<MigrationOpened>,
    configuration: Option<String>,
}

fn migration_id(envelope: &Envelope) -> Result<Uuid, ReactionError> {
    Uuid::parse_str(&envelope.aggregate_id).map_err(|_| {
        ReactionError::Failed(format!(
            "migration id {:?} is not a uuid",
            envelope.aggregate_id
        ))
    })
}

impl Reactor for PoolReactor {
    fn name(&self) -> &'static str {
        REACTOR_NAME
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        log.filters_for(&[
            AggregateType::Migration,
            AggregateType::TransitQueue,
            AggregateType::TransitServer,
            AggregateType::Transfer,
        ])
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let envelope = &recorded.envelope;
        match &envelope.event {
            Event::Migration(event) => match event {
                MigrationEvent::ObsoleteLanguagesRemoved(_) => self.request(recorded).await,
                MigrationEvent::ObsoleteLanguagesRestored(_) => {
                    self.release(
                        recorded,
                        "obsolete languages restored: the migration is back to step 1",
                    )
                    .await
                }
                MigrationEvent::MigrationCancelled(e) => {
                    self.release(recorded, &format!("migration cancelled: {}", e.reason))
                        .await
                }
                MigrationEvent::MigrationCompleted(_) => {
                    self.release(recorded, "migration completed").await
                }
                _ => Ok(()),
            },
            Event::TransitQueue(event) => match event {
                TransitQueueEvent::TransitRequestServed(e) => {
                    self.reserve(recorded, e.migration_id, &e.transit_server_id)
                        .await
                }
                TransitQueueEvent::TransitAssignmentEnded(e) => {
                    self.release_server(recorded, e.migration_id, &e.transit_server_id)
                        .await
                }
                TransitQueueEvent::TransitServerWithdrawn(e) => {
                    self.take_out_of_service(recorded, &e.transit_server_id, &e.reason)
                        .await
                }
                _ => Ok(()),
            },
            Event::TransitServer(event) => match event {
                TransitServerEvent::TransitServerAdded(e) => {
                    self.available(recorded, Some(e.configuration.clone()))
                        .await
                }
                TransitServerEvent::TransitServerWiped(_)
                | TransitServerEvent::TransitServerReturnedToService(_) => {
                    self.available(recorded, None).await
                }
                TransitServerEvent::TransitInstallationStarted(_) => {
                    self.schedule(Timer::for_installation(envelope))
                }
                TransitServerEvent::TransitServerWipeStarted(_) => self.schedule(Timer::for_wipe(
                    envelope,
                    self.pool.settings().wipe_duration,
                )),
                _ => Ok(()),
            },
            Event::Transfer(TransferEvent::TransferCompleted(_)) => self.lend(recorded).await,
            _ => Ok(()),
        }
    }
}

/// The transit pool's background work, each part to be run until shutdown.
pub struct PoolTasks {
    /// The reactor (durable consumer `transit_pool`).
    pub reactor: std::pin::Pin<Box<dyn Future<Output = Result<(), ReactorError>> + Send>>,
    /// The timers (installations and wipes), recovered from the log first.
    pub timers: std::pin::Pin<Box<dyn Future<Output = Result<(), TimerError>> + Send>>,
}

impl std::fmt::Debug for PoolTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolTasks").finish_non_exhaustive()
    }
}

/// The reactor and the timers of `pool`, on its event log, both stopping on `shutdown`.
pub fn tasks(pool: &TransitPool, shutdown: CancellationToken) -> PoolTasks {
    let (timers, queue) = timers::channel();
    let reactor = Arc::new(PoolReactor::new(pool.clone(), timers));
    let log = pool.log().clone();
    PoolTasks {
        reactor: Box::pin(reactor::run(
            reactor,
            log,
            ReactorSettings::default(),
            shutdown.clone(),
        )),
        timers: Box::pin(timers::run_timers(pool.clone(), queue, shutdown)),
    }
}

/// Runs the reactor and the timers of `pool` until `shutdown` (for tests and for
/// embedding without a [`ferry_infra::runtime::Runtime`]). Both are stopped when one of
/// them fails.
pub async fn run(pool: TransitPool, shutdown: CancellationToken) -> Result<(), RunError> {
    let stop = shutdown.child_token();
    let PoolTasks { reactor, timers } = tasks(&pool, stop.clone());
    let reactor = async {
        let outcome = reactor.await;
        stop.cancel();
        outcome.map_err(RunError::Reactor)
    };
    let timers = async {
        let outcome = timers.await;
        stop.cancel();
        outcome.map_err(RunError::Timers)
    };
    let (reactor, timers) = tokio::join!(reactor, timers);
    reactor.and(timers)
}

/// The transit pool's background work stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The reactor could not run.
    #[error(transparent)]
    Reactor(ReactorError),
    /// The timers could not run.
    #[error(transparent)]
    Timers(TimerError),
}
