//! [`TransitPool`]: the transit pool's command side. One async method per command of
//! the two deciders (load → decide → append through the [`CommandHandler`]), plus the
//! support flows that span both aggregates (taking a server out of service goes
//! through its queue first).
//!
//! Emits, through the deciders, the `transit_queue` and `transit_server` events; reads
//! nothing else.

use crate::domain::transit_queue::{
    TransitQueue, TransitQueueCommand, TransitQueueDecider, TransitQueueRejection,
};
use crate::domain::transit_server::{
    TransitServer, TransitServerAction, TransitServerCommand, TransitServerDecider,
    TransitServerRejection,
};
use chrono::{DateTime, Utc};
use ferry_events::{Actor, Envelope, ServerStorage};
use ferry_infra::api::ApiError;
use ferry_infra::command::{Command, CommandHandler, Decider, HandleError, Handled};
use ferry_infra::config::AllowedRoots;
use ferry_infra::event_log::{AggregateRef, EventLog, ReadError};
use std::time::Duration;
use uuid::Uuid;

/// How the transit pool behaves.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// How long installing a transit server takes.
    pub install_duration: Duration,
    /// How long wiping a transit server takes.
    pub wipe_duration: Duration,
    /// How many times a command is decided again when other writers changed its
    /// aggregate meanwhile (many requests contend on one queue).
    pub max_attempts: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            install_duration: Duration::from_secs(3 * 3600),
            wipe_duration: Duration::from_secs(600),
            max_attempts: 100,
        }
    }
}

/// Who gives a command, under which id, as part of which migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    /// The command id (idempotency: the same id is carried out once per aggregate).
    pub id: Uuid,
    /// The migration it belongs to, or the command's own id outside a migration.
    pub correlation_id: Uuid,
    /// Who asks.
    pub actor: Actor,
}

impl CommandMeta {
    /// A command outside any migration, under `id` (e.g. an HTTP idempotency key).
    pub fn new(id: Uuid, actor: Actor) -> Self {
        Self {
            id,
            correlation_id: id,
            actor,
        }
    }

    /// A fresh command outside any migration.
    pub fn fresh(actor: Actor) -> Self {
        Self::new(Uuid::now_v7(), actor)
    }

    /// The same command as part of `correlation_id`'s process.
    pub fn correlated(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    fn command<C>(&self, aggregate_id: &str, payload: C) -> Command<C> {
        Command {
            id: self.id,
            aggregate_id: aggregate_id.to_owned(),
            correlation_id: self.correlation_id,
            actor: self.actor.clone(),
            payload,
        }
    }
}

/// What a command changed, as answered by the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Changes {
    /// Whether the command caused any event (false: it was already so).
    pub changed: bool,
    /// The types of the events it caused, in order.
    pub events: Vec<String>,
}

impl Changes {
    /// The changes of these events.
    pub fn of(events: &[Envelope]) -> Self {
        Self {
            changed: !events.is_empty(),
            events: events.iter().map(|e| e.event_type().to_owned()).collect(),
        }
    }
}

/// A support flow spanning a transit server and its queue failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The transit server refused, or could not be read or written.
    #[error(transparent)]
    Server(#[from] HandleError<TransitServerRejection>),
    /// The queue refused, or could not be read or written.
    #[error(transparent)]
    Queue(#[from] HandleError<TransitQueueRejection>),
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Server(e) => e.into(),
            PoolError::Queue(e) => e.into(),
        }
    }
}

/// Result of a command to a queue.
pub type QueueResult = Result<Handled<TransitQueue>, HandleError<TransitQueueRejection>>;
/// Result of a command to a transit server.
pub type ServerResult = Result<Handled<TransitServer>, HandleError<TransitServerRejection>>;

/// The transit pool's command side. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TransitPool {
    handler: CommandHandler,
    settings: PoolSettings,
    storage_roots: AllowedRoots,
    secrets: Option<ferry_infra::secrets::SecretStore>,
}

impl TransitPool {
    /// A pool writing to `log`.
    pub fn new(log: EventLog, settings: PoolSettings) -> Self {
        Self {
            handler: CommandHandler::new(log, settings.max_attempts),
            settings,
            storage_roots: AllowedRoots::default(),
            secrets: None,
        }
    }

    /// The same pool, keeping the passwords of transit servers' database URLs in
    /// `store` (`FERRY_SECRETS_DIR`); without one, a URL with a password is refused.
    pub fn with_secrets(mut self, store: ferry_infra::secrets::SecretStore) -> Self {
        self.secrets = Some(store);
        self
    }

    /// Where it keeps database passwords, if anywhere.
    pub fn secrets(&self) -> Option<&ferry_infra::secrets::SecretStore> {
        self.secrets.as_ref()
    }

    /// The same pool, taking transit servers whose storage roots lie in `roots` only
    /// (`FERRY_STORAGE_ROOTS`; [`AllowedRoots::default`] otherwise).
    pub fn with_storage_roots(mut self, roots: AllowedRoots) -> Self {
        self.storage_roots = roots;
        self
    }

    /// The event log it reads and writes.
    pub fn log(&self) -> &EventLog {
        self.handler.log()
    }

    /// Its settings.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Any command to the queue of `configuration`.
    pub async fn queue(
        &self,
        configuration: &str,
        meta: &CommandMeta,
        command: TransitQueueCommand,
    ) -> QueueResult {
        self.handler
            .handle::<TransitQueueDecider>(&meta.command(configuration, command))
            .await
    }

    /// Any command to the transit server `transit_server_id`, given by `meta.actor`.
    pub async fn server(
        &self,
        transit_server_id: &str,
        meta: &CommandMeta,
        action: TransitServerAction,
    ) -> ServerResult {
        let command = TransitServerCommand {
            actor: meta.actor.clone(),
            action,
        };
        self.handler
            .handle::<TransitServerDecider>(&meta.command(transit_server_id, command))
            .await
    }

    // The queue.

    /// A migration asks for a transit server of `configuration`: served at once by a
    /// free one, else queued.
    pub async fn request(
        &self,
        meta: &CommandMeta,
        configuration: &str,
        migration_id: Uuid,
        client_server_id: &str,
        requested_at: DateTime<Utc>,
    ) -> QueueResult {
        let command = TransitQueueCommand::Request {
            migration_id,
            client_server_id: client_server_id.to_owned(),
            requested_at,
        };
        self.queue(configuration, meta, command).await
    }

    /// A transit server of `configuration` is free: it serves the head of the queue.
    pub async fn server_available(
        &self,
        meta: &CommandMeta,
        configuration: &str,
        transit_server_id: &str,
    ) -> QueueResult {
        let command = TransitQueueCommand::ServerAvailable {
            transit_server_id: transit_server_id.to_owned(),
        };
        self.queue(configuration, meta, command).await
    }

    /// A free transit server of `configuration` stops being lendable.
    pub async fn withdraw_server(
        &self,
        meta: &CommandMeta,
        configuration: &str,
        transit_server_id: &str,
        reason: &str,
    ) -> QueueResult {
        let command = TransitQueueCommand::WithdrawServer {
            transit_server_id: transit_server_id.to_owned(),
            reason: reason.to_owned(),
        };
        self.queue(configuration, meta, command).await
    }

    /// A migration gives up its request or its transit server in `configuration`.
    pub async fn release_request(
        &self,
        meta: &CommandMeta,
        configuration: &str,
        migration_id: Uuid,
        reason: &str,
    ) -> QueueResult {
        let command = TransitQueueCommand::Release {
            migration_id,
            reason: reason.to_owned(),
        };
        self.queue(configuration, meta, command).await
    }

    // Transit servers.

    /// Support adds a transit server to the pool (an identical re-add changes nothing).
    pub async fn add_server(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        details: NewTransitServer,
    ) -> ServerResult {
        // Where roots may lie is configuration, checked here (support only: others
        // are refused by the decider as such); the rest is the decider's.
        if matches!(
            meta.actor.role,
            ferry_events::ActorRole::Support | ferry_events::ActorRole::System
        ) {
            let invalid = |reason| HandleError::Rejected(TransitServerRejection::Invalid(reason));
            ferry_events::input::check_inventory_id("transit server id", transit_server_id)
                .map_err(|e| invalid(e.to_string()))?;
            self.storage_roots
                .check_storage(&details.storage)
                .map_err(invalid)?;
        }
        let action = TransitServerAction::Add {
            name: details.name,
            configuration: details.configuration,
            infrastructure_version: details.infrastructure_version,
            ipv4: details.ipv4,
            ipv6: details.ipv6,
            storage: details.storage,
        };
        self.server(transit_server_id, meta, action).await
    }

    /// Reserves a transit server for the migration its queue served and starts its
    /// installation, expected to last the configured installation duration.
    pub async fn reserve(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        migration_id: Uuid,
        client_server_id: &str,
        infrastructure_version: &str,
    ) -> ServerResult {
        let action = TransitServerAction::Reserve {
            migration_id,
            client_server_id: client_server_id.to_owned(),
            infrastructure_version: infrastructure_version.to_owned(),
            install_duration_ms: duration_ms(self.settings.install_duration),
        };
        self.server(transit_server_id, meta, action).await
    }

    /// The installation for `migration_id` finished.
    pub async fn complete_installation(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        migration_id: Uuid,
    ) -> ServerResult {
        let action = TransitServerAction::CompleteInstallation { migration_id };
        self.server(transit_server_id, meta, action).await
    }

    /// The installation for `migration_id` failed.
    pub async fn fail_installation(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        migration_id: Uuid,
        reason: &str,
    ) -> ServerResult {
        let action = TransitServerAction::FailInstallation {
            migration_id,
            reason: reason.to_owned(),
        };
        self.server(transit_server_id, meta, action).await
    }

    /// Support starts a failed installation again.
    pub async fn retry_installation(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
    ) -> ServerResult {
        self.server(
            transit_server_id,
            meta,
            TransitServerAction::RetryInstallation,
        )
        .await
    }

    /// Lends the installed transit server to its migration from `at`.
    pub async fn lend(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        migration_id: Uuid,
        at: DateTime<Utc>,
    ) -> ServerResult {
        let action = TransitServerAction::Lend { migration_id, at };
        self.server(transit_server_id, meta, action).await
    }

    /// The migration gives the transit server back: released, its wipe starts.
    pub async fn release_server(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        migration_id: Uuid,
    ) -> ServerResult {
        let action = TransitServerAction::Release {
            migration_id,
            wipe_duration_ms: duration_ms(self.settings.wipe_duration),
        };
        self.server(transit_server_id, meta, action).await
    }

    /// The wipe finished: the transit server is free again.
    pub async fn complete_wipe(&self, meta: &CommandMeta, transit_server_id: &str) -> ServerResult {
        self.server(transit_server_id, meta, TransitServerAction::CompleteWipe)
            .await
    }

    /// The wipe failed: the transit server is out of service, with the reason.
    pub async fn fail_wipe(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        reason: &str,
    ) -> ServerResult {
        let action = TransitServerAction::FailWipe {
            reason: reason.to_owned(),
        };
        self.server(transit_server_id, meta, action).await
    }

    /// Marks the transit server out of service (what follows the queue's withdrawal;
    /// support goes through [`TransitPool::request_out_of_service`]).
    pub async fn take_out_of_service(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        reason: &str,
    ) -> ServerResult {
        let action = TransitServerAction::TakeOutOfService {
            reason: reason.to_owned(),
        };
        self.server(transit_server_id, meta, action).await
    }

    /// Support puts a transit server back into service; its queue then lends it again.
    /// After a failed wipe, it is wiped again first.
    pub async fn return_to_service(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
    ) -> ServerResult {
        let action = TransitServerAction::ReturnToService {
            wipe_duration_ms: duration_ms(self.settings.wipe_duration),
        };
        self.server(transit_server_id, meta, action).await
    }

    /// Support takes a transit server out of service. Its queue withdraws it first
    /// (only a free server can be withdrawn, so no waiting migration loses it); the
    /// transit server follows (`TransitServerWithdrawn` → `TransitServerTakenOutOfService`,
    /// by the reactor). Answers the queue's events; none when it already is out of
    /// service.
    pub async fn request_out_of_service(
        &self,
        meta: &CommandMeta,
        transit_server_id: &str,
        reason: &str,
    ) -> Result<Vec<Envelope>, PoolError> {
        let server = self
            .server_state(transit_server_id)
            .await
            .map_err(PoolError::Server)?;
        // The transit server's own rules first (who may, whether it is free).
        let command = TransitServerCommand {
            actor: meta.actor.clone(),
            action: TransitServerAction::TakeOutOfService {
                reason: reason.to_owned(),
            },
        };
        let decided = TransitServerDecider::decide(&server, &command)
            .map_err(|r| PoolError::Server(HandleError::Rejected(r)))?;
        if decided.is_empty() {
            // Already out of service.
            return Ok(Vec::new());
        }
        let Some(configuration) = server.configuration() else {
            // Not reached: the decider refuses a server that is not in the pool.
            return Err(PoolError::Server(HandleError::Rejected(
                TransitServerRejection::NotFound,
            )));
        };
        let handled = self
            .withdraw_server(meta, configuration, transit_server_id, reason)
            .await?;
        Ok(handled.events)
    }

    // Reading.

    /// The current state of the queue of `configuration`.
    pub async fn queue_state(
        &self,
        configuration: &str,
    ) -> Result<TransitQueue, HandleError<TransitQueueRejection>> {
        let events = self
            .history(AggregateRef::new(
                ferry_events::AggregateType::TransitQueue,
                configuration,
            )?)
            .await?;
        Ok(TransitQueueDecider::fold(events.iter().map(|e| &e.event)))
    }

    /// The current state of the transit server `transit_server_id`.
    pub async fn server_state(
        &self,
        transit_server_id: &str,
    ) -> Result<TransitServer, HandleError<TransitServerRejection>> {
        let events = self
            .history(AggregateRef::new(
                ferry_events::AggregateType::TransitServer,
                transit_server_id,
            )?)
            .await?;
        Ok(TransitServerDecider::fold(events.iter().map(|e| &e.event)))
    }

    /// Every event of one aggregate, oldest first.
    pub async fn history(&self, aggregate: AggregateRef) -> Result<Vec<Envelope>, ReadError> {
        let loaded = self.log().load(&aggregate).await?;
        Ok(loaded.events.into_iter().map(|r| r.envelope).collect())
    }
}

/// The details of a transit server joining the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransitServer {
    /// Its host name.
    pub name: String,
    /// Its hardware configuration.
    pub configuration: String,
    /// The infrastructure version it runs now.
    pub infrastructure_version: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<String>,
    /// Where accounts' data lives on it.
    pub storage: ServerStorage,
}

/// Milliseconds of a duration, saturating.
pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
