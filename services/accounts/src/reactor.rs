//! The accounts service's reactions: what other services report (and its own
//! migration events that concern a server) turned into commands.
//!
//! Consumes: `TransitRequestQueued` (transit_queue), `TransitServerReserved` and
//! `TransitServerLent` (transit_server), `TransferCompleted` and `TransferFailed`
//! (transfer), `AccountTrafficSwitched` (account_traffic), and from `migration`:
//! `ObsoleteLanguagesRemoved`, `ObsoleteLanguagesRestored`, `ServerReinstalled`,
//! `MigrationCompleted`, `MigrationCancelled`. Emits migration, optional migration and
//! server events through the deciders.

use crate::domain::migration::{Action, MigrationCommand, MigrationDecider, MigrationState, Place};
use crate::domain::optional_migration::{
    OptionalAction, OptionalCommand, OptionalMigrationDecider, OptionalRefusal,
};
use crate::domain::server::{ServerCommand, ServerDecider};
use ferry_events::{
    AccountTrafficEvent, AccountTrafficSwitched, Actor, AggregateType, DatabaseEngine, Envelope,
    Event, MigrationEvent, MigrationOutcome, TransferCompleted, TransferEvent, TransferKind,
    TransferScheduled, TransitQueueEvent, TransitServerEvent,
};
use ferry_infra::command::{Command, CommandHandler, HandleError};
use ferry_infra::event_log::{AggregateRef, EventLog, Recorded};
use ferry_infra::reactor::{ReactionError, Reactor, command_outcome, reaction_id};
use uuid::Uuid;

const NAME: &str = "accounts";

/// The accounts service's reactor.
#[derive(Debug, Clone)]
pub struct AccountsReactor {
    handler: CommandHandler,
}

impl AccountsReactor {
    /// A reactor issuing its commands through `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }

    fn log(&self) -> &EventLog {
        self.handler.log()
    }

    async fn migration(&self, id: Uuid) -> Result<MigrationState, ReactionError> {
        self.handler
            .state::<MigrationDecider>(&id.to_string())
            .await
            .map(|(state, _)| state)
            .map_err(|e| ReactionError::Transient(e.to_string()))
    }

    async fn history(&self, kind: AggregateType, id: &str) -> Result<Vec<Envelope>, ReactionError> {
        let aggregate =
            AggregateRef::new(kind, id).map_err(|e| ReactionError::Failed(e.to_string()))?;
        let loaded = self.log().load(&aggregate).await?;
        Ok(loaded.events.into_iter().map(|r| r.envelope).collect())
    }

    async fn to_migration(
        &self,
        cause: &Envelope,
        purpose: &str,
        migration_id: Uuid,
        action: Action,
    ) -> Result<(), ReactionError> {
        let actor = Actor::system(NAME);
        let command = Command {
            id: reaction_id(NAME, cause.event_id, purpose),
            aggregate_id: migration_id.to_string(),
            correlation_id: migration_id,
            actor: actor.clone(),
            payload: MigrationCommand { actor, action },
        };
        command_outcome(self.handler.handle::<MigrationDecider>(&command).await)
    }

    async fn to_server(
        &self,
        cause: &Envelope,
        purpose: &str,
        server_id: &str,
        payload: ServerCommand,
    ) -> Result<(), ReactionError> {
        let command = Command {
            id: reaction_id(NAME, cause.event_id, purpose),
            aggregate_id: server_id.to_owned(),
            correlation_id: cause.correlation_id,
            actor: Actor::system(NAME),
            payload,
        };
        command_outcome(self.handler.handle::<ServerDecider>(&command).await)
    }

    /// Own migration events that change the server.
    async fn on_migration(
        &self,
        cause: &Envelope,
        event: &MigrationEvent,
    ) -> Result<(), ReactionError> {
        let migration_id: Uuid = cause.aggregate_id.parse().map_err(|_| {
            ReactionError::Failed(format!("migration id {} is not a uuid", cause.aggregate_id))
        })?;
        let commands: Vec<(String, ServerCommand)> = match event {
            MigrationEvent::ObsoleteLanguagesRemoved(e) => e
                .removals
                .iter()
                .map(|r| {
                    (
                        format!("remove/{}", r.account_id),
                        ServerCommand::RemoveLanguages {
                            account_id: r.account_id.clone(),
                            versions: r.versions.clone(),
                        },
                    )
                })
                .collect(),
            MigrationEvent::ObsoleteLanguagesRestored(e) => e
                .restorations
                .iter()
                .map(|r| {
                    (
                        format!("restore/{}", r.account_id),
                        ServerCommand::RestoreLanguages {
                            account_id: r.account_id.clone(),
                            versions: r.versions.clone(),
                        },
                    )
                })
                .collect(),
            MigrationEvent::ServerReinstalled(e) => vec![(
                "reinstalled".into(),
                ServerCommand::ChangeInfrastructureVersion {
                    to: e.infrastructure_version.clone(),
                },
            )],
            MigrationEvent::MigrationCompleted(_) => vec![(
                "close".into(),
                ServerCommand::CloseMigration {
                    migration_id,
                    outcome: MigrationOutcome::Completed,
                },
            )],
            MigrationEvent::MigrationCancelled(_) => vec![(
                "close".into(),
                ServerCommand::CloseMigration {
                    migration_id,
                    outcome: MigrationOutcome::Cancelled,
                },
            )],
            _ => return Ok(()),
        };
        let migration = self.migration(migration_id).await?;
        for (purpose, command) in commands {
            self.to_server(cause, &purpose, &migration.server_id, command)
                .await?;
        }
        Ok(())
    }

    async fn on_queue(
        &self,
        cause: &Envelope,
        event: &TransitQueueEvent,
    ) -> Result<(), ReactionError> {
        let TransitQueueEvent::TransitRequestQueued(queued) = event else {
            return Ok(());
        };
        // The position when queued: the requests still waiting ahead of it, plus one.
        let history = self
            .history(AggregateType::TransitQueue, &cause.aggregate_id)
            .await?;
        let mut waiting: Vec<Uuid> = Vec::new();
        for envelope in history.iter().take_while(|e| e.event_id != cause.event_id) {
            if let Event::TransitQueue(e) = &envelope.event {
                match e {
                    TransitQueueEvent::TransitRequestQueued(q) => waiting.push(q.migration_id),
                    TransitQueueEvent::TransitRequestServed(s) => {
                        waiting.retain(|m| *m != s.migration_id)
                    }
                    TransitQueueEvent::TransitRequestWithdrawn(w) => {
                        waiting.retain(|m| *m != w.migration_id)
                    }
                    _ => {}
                }
            }
        }
        let position = u32::try_from(waiting.len() + 1).unwrap_or(u32::MAX);
        let action = Action::RecordQueued {
            configuration: cause.aggregate_id.clone(),
            position,
        };
        self.to_migration(cause, "queued", queued.migration_id, action)
            .await
    }

    async fn on_transit_server(
        &self,
        cause: &Envelope,
        event: &TransitServerEvent,
    ) -> Result<(), ReactionError> {
        let transit_server_id = cause.aggregate_id.clone();
        match event {
            TransitServerEvent::TransitServerReserved(e) => {
                let action = Action::RecordTransitAssigned { transit_server_id };
                self.to_migration(cause, "assigned", e.migration_id, action)
                    .await
            }
            TransitServerEvent::TransitServerLent(e) => {
                let action = Action::RecordTransitReady {
                    transit_server_id,
                    ready_at: e.lent_at,
                };
                self.to_migration(cause, "ready", e.migration_id, action)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// A transfer ended: a test copy, a cutover (once the traffic is also switched),
    /// or an optional migration's service move.
    async fn on_transfer(
        &self,
        cause: &Envelope,
        event: &TransferEvent,
    ) -> Result<(), ReactionError> {
        let outcome: Result<&TransferCompleted, String> = match event {
            TransferEvent::TransferCompleted(done) => Ok(done),
            TransferEvent::TransferFailed(failed) => Err(failed.reason.clone()),
            _ => return Ok(()),
        };
        let history = self
            .history(AggregateType::Transfer, &cause.aggregate_id)
            .await?;
        let Some(scheduled) = scheduled_of(&history) else {
            return Err(ReactionError::Failed(format!(
                "transfer {} was never scheduled",
                cause.aggregate_id
            )));
        };
        let transfer_id = scheduled.transfer_id;
        match scheduled.kind {
            TransferKind::PreCopy => Ok(()),
            TransferKind::TestCopy => {
                let Some(migration_id) = scheduled.migration_id else {
                    return Ok(());
                };
                let outcome = outcome.map(|done| done.test_address.clone().unwrap_or_default());
                let action = Action::RecordTestCopy {
                    transfer_id,
                    outcome,
                };
                self.to_migration(cause, "test-copy", migration_id, action)
                    .await
            }
            TransferKind::ServiceMigration => {
                let optional_id = scheduled.migration_id.unwrap_or(cause.correlation_id);
                if outcome.is_ok() {
                    self.service_moved(cause, optional_id, scheduled).await?;
                }
                let actor = Actor::system(NAME);
                let command = Command {
                    id: reaction_id(NAME, cause.event_id, "service-migrated"),
                    aggregate_id: optional_id.to_string(),
                    correlation_id: optional_id,
                    actor: actor.clone(),
                    payload: OptionalCommand {
                        actor,
                        action: OptionalAction::RecordResult {
                            transfer_id,
                            outcome: outcome.map(|done| done.downtime_ms.unwrap_or(0)),
                        },
                    },
                };
                command_outcome(
                    self.handler
                        .handle::<OptionalMigrationDecider>(&command)
                        .await,
                )
            }
            TransferKind::Cutover | TransferKind::Rollback | TransferKind::Relocation => {
                let Some(migration_id) = scheduled.migration_id else {
                    return Ok(());
                };
                match outcome {
                    Err(reason) => {
                        let action = Action::RecordCutover {
                            transfer_id,
                            outcome: Err(reason),
                        };
                        self.to_migration(cause, "cutover-failed", migration_id, action)
                            .await
                    }
                    Ok(done) => {
                        let switched = self.traffic_switched(scheduled).await?;
                        if !switched {
                            // The network's switch completes it (see `on_traffic`).
                            return Ok(());
                        }
                        let action = Action::RecordCutover {
                            transfer_id,
                            outcome: Ok(done.downtime_ms.unwrap_or(0)),
                        };
                        self.to_migration(cause, "cutover", migration_id, action)
                            .await
                    }
                }
            }
        }
    }

    /// A service's databases moved to its new version's server: the server says so
    /// (where they live, the version they run) before the optional migration is
    /// recorded applied, so that no later transfer copies from the old server.
    async fn service_moved(
        &self,
        cause: &Envelope,
        optional_id: Uuid,
        scheduled: &TransferScheduled,
    ) -> Result<(), ReactionError> {
        let (from, to) = (&scheduled.source.storage, &scheduled.destination.storage);
        let moved = if from.postgres_url != to.postgres_url {
            to.postgres_url
                .clone()
                .map(|url| (DatabaseEngine::Postgres, url))
        } else if from.mysql_url != to.mysql_url {
            to.mysql_url.clone().map(|url| (DatabaseEngine::Mysql, url))
        } else {
            None
        };
        let Some((engine, url)) = moved else {
            return Ok(());
        };
        let (optional, _) = self
            .handler
            .state::<OptionalMigrationDecider>(&optional_id.to_string())
            .await
            .map_err(|e: HandleError<OptionalRefusal>| ReactionError::Transient(e.to_string()))?;
        let Some(version) = optional.scheduled.map(|s| s.to_version) else {
            return Ok(());
        };
        let command = ServerCommand::MoveDatabaseService {
            engine,
            url,
            version,
        };
        self.to_server(cause, "service-moved", &scheduled.server_id, command)
            .await
    }

    /// Whether the account of a cutover now has its traffic on the destination.
    async fn traffic_switched(&self, scheduled: &TransferScheduled) -> Result<bool, ReactionError> {
        let Some(account) = scheduled.accounts.first() else {
            return Ok(true);
        };
        let history = self
            .history(AggregateType::AccountTraffic, &account.account_id)
            .await?;
        let last_switch = history.iter().rev().find_map(|e| match &e.event {
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(s)) => Some(s),
            _ => None,
        });
        Ok(last_switch.is_some_and(|s| s.to_server_id == scheduled.destination.server_id))
    }

    /// The network switched an account's traffic: if its cutover is copied and
    /// verified, the move is over.
    async fn on_traffic(
        &self,
        cause: &Envelope,
        switched: &AccountTrafficSwitched,
    ) -> Result<(), ReactionError> {
        let migration = self.migration(cause.correlation_id).await?;
        let Some(progress) = migration.accounts.get(&cause.aggregate_id) else {
            return Ok(());
        };
        let transfer_id = match progress.place {
            Place::MovingToTransit { transfer_id }
            | Place::RollingBack { transfer_id }
            | Place::Relocating { transfer_id } => transfer_id,
            _ => return Ok(()),
        };
        let history = self
            .history(AggregateType::Transfer, &transfer_id.to_string())
            .await?;
        let destination_matches = scheduled_of(&history)
            .is_some_and(|s| s.destination.server_id == switched.to_server_id);
        let completed = history.iter().find_map(|e| match &e.event {
            Event::Transfer(TransferEvent::TransferCompleted(done)) => Some(done),
            _ => None,
        });
        let (true, Some(done)) = (destination_matches, completed) else {
            return Ok(());
        };
        let action = Action::RecordCutover {
            transfer_id,
            outcome: Ok(done.downtime_ms.unwrap_or(0)),
        };
        self.to_migration(cause, "cutover", migration.migration_id, action)
            .await
    }
}

fn scheduled_of(history: &[Envelope]) -> Option<&TransferScheduled> {
    history.iter().find_map(|e| match &e.event {
        Event::Transfer(TransferEvent::TransferScheduled(s)) => Some(s),
        _ => None,
    })
}

impl Reactor for AccountsReactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filters(&self, log: &EventLog) -> Vec<String> {
        log.filters_for(&[
            AggregateType::Migration,
            AggregateType::TransitQueue,
            AggregateType::TransitServer,
            AggregateType::Transfer,
            AggregateType::AccountTraffic,
        ])
    }

    async fn react(&self, recorded: &Recorded) -> Result<(), ReactionError> {
        let cause = &recorded.envelope;
        match &cause.event {
            Event::Migration(e) => self.on_migration(cause, e).await,
            Event::TransitQueue(e) => self.on_queue(cause, e).await,
            Event::TransitServer(e) => self.on_transit_server(cause, e).await,
            Event::Transfer(e) => self.on_transfer(cause, e).await,
            Event::AccountTraffic(AccountTrafficEvent::AccountTrafficSwitched(e)) => {
                self.on_traffic(cause, e).await
            }
            _ => Ok(()),
        }
    }
}
