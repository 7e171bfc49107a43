//! [`Outbox`]: the command side of the outbox, one method per command of the message
//! decider (load → decide → append through the [`CommandHandler`], optimistic on the
//! message's version). Command ids derive from the message and the attempt, so a
//! command given again (a redelivered event, a sender restarted) changes nothing.
//!
//! Emits, through the decider, `NotificationQueued`, `NotificationSending`,
//! `NotificationSent`, `NotificationFailed` and `NotificationRequeued`.

use crate::domain::notification::{
    Notification, NotificationCommand, NotificationDecider, NotificationRejection,
};
use chrono::{DateTime, Utc};
use ferry_events::{Actor, NotificationQueued};
use ferry_infra::command::{Command, CommandHandler, HandleError, Handled};
use ferry_infra::event_log::EventLog;
use uuid::Uuid;

/// The actor of the service's own commands.
pub fn system_actor() -> Actor {
    Actor::system("notifications")
}

/// Result of a command to a message.
pub type OutboxResult = Result<Handled<Notification>, HandleError<NotificationRejection>>;

/// The outbox's command side. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    handler: CommandHandler,
}

fn command_id(notification_id: Uuid, what: &str) -> Uuid {
    Uuid::new_v5(&notification_id, format!("notifications/{what}").as_bytes())
}

impl Outbox {
    /// Commands appended to `log`.
    pub fn new(log: EventLog) -> Self {
        Self {
            handler: CommandHandler::new(log, 10),
        }
    }

    /// The log it appends to.
    pub fn log(&self) -> &EventLog {
        self.handler.log()
    }

    async fn handle(
        &self,
        id: Uuid,
        notification_id: Uuid,
        correlation_id: Uuid,
        actor: Actor,
        payload: NotificationCommand,
    ) -> OutboxResult {
        self.handler
            .handle::<NotificationDecider>(&Command {
                id,
                aggregate_id: notification_id.to_string(),
                correlation_id,
                actor,
                payload,
            })
            .await
    }

    /// Puts a rendered message in the outbox, once.
    pub async fn queue(
        &self,
        notification_id: Uuid,
        correlation_id: Uuid,
        queued: NotificationQueued,
    ) -> OutboxResult {
        self.handle(
            command_id(notification_id, "queue"),
            notification_id,
            correlation_id,
            system_actor(),
            NotificationCommand::Queue(queued),
        )
        .await
    }

    /// Records that attempt `attempt` begins. `already_handled` in the answer: it
    /// had begun before (another sender, or this one before a crash), and must not be
    /// made again.
    pub async fn begin_attempt(
        &self,
        notification_id: Uuid,
        correlation_id: Uuid,
        attempt: u32,
    ) -> OutboxResult {
        self.handle(
            command_id(notification_id, &format!("attempt/{attempt}/begin")),
            notification_id,
            correlation_id,
            system_actor(),
            NotificationCommand::BeginAttempt { attempt },
        )
        .await
    }

    /// Records that attempt `attempt` handed the message over.
    pub async fn record_sent(
        &self,
        notification_id: Uuid,
        correlation_id: Uuid,
        attempt: u32,
        sent_at: DateTime<Utc>,
    ) -> OutboxResult {
        self.handle(
            command_id(notification_id, &format!("attempt/{attempt}/sent")),
            notification_id,
            correlation_id,
            system_actor(),
            NotificationCommand::RecordSent { attempt, sent_at },
        )
        .await
    }

    /// Records that attempt `attempt` failed.
    pub async fn record_failure(
        &self,
        notification_id: Uuid,
        correlation_id: Uuid,
        attempt: u32,
        reason: &str,
        max_attempts: u32,
    ) -> OutboxResult {
        self.handle(
            command_id(notification_id, &format!("attempt/{attempt}/failed")),
            notification_id,
            correlation_id,
            system_actor(),
            NotificationCommand::RecordFailure {
                attempt,
                reason: reason.to_owned(),
                max_attempts,
            },
        )
        .await
    }

    /// Support puts a message back in the outbox, under command id `command_id`, as
    /// part of the message's migration `correlation_id`.
    pub async fn requeue(
        &self,
        command_id: Uuid,
        actor: Actor,
        notification_id: Uuid,
        correlation_id: Uuid,
        reason: &str,
    ) -> OutboxResult {
        self.handle(
            command_id,
            notification_id,
            correlation_id,
            actor,
            NotificationCommand::Requeue {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// The state of a message and its version (0: no such message).
    pub async fn state(
        &self,
        notification_id: Uuid,
    ) -> Result<(Notification, u64), HandleError<NotificationRejection>> {
        self.handler
            .state::<NotificationDecider>(&notification_id.to_string())
            .await
    }
}
