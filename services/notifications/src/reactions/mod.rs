//! The edge of the notifications policy (`domain::policy`): each message it asks for
//! is rendered from its template in the recipient's language and queued in the
//! outbox, as `system:notifications`. Support's address and language are settings.
//!
//! Emits `NotificationQueued`; consumes what the policy's view reads (server,
//! migration, transit_server, dns_zone, loan).

use crate::domain::policy::{QueueNotification, Recipient};
use crate::service::Outbox;
use crate::templates::Templates;
use ferry_events::NotificationQueued;
use ferry_infra::policy::Execute;
use ferry_infra::reactor::{Effect, ReactionError, command_outcome};
use std::sync::Arc;

pub use crate::domain::policy::NAME as REACTOR_NAME;

/// Where support's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportContact {
    /// Support's address.
    pub email: String,
    /// The language support reads (`en` or `fr`).
    pub language: String,
}

/// Renders and queues the policy's messages.
#[derive(Debug, Clone)]
pub struct QueueExecutor {
    outbox: Outbox,
    templates: Arc<Templates>,
    support: SupportContact,
}

impl QueueExecutor {
    /// Messages queued in `outbox`, support's going to `support`.
    pub fn new(outbox: Outbox, templates: Arc<Templates>, support: SupportContact) -> Self {
        Self {
            outbox,
            templates,
            support,
        }
    }

    /// The message a command asks for, rendered.
    pub fn render(&self, command: &QueueNotification) -> Result<NotificationQueued, ReactionError> {
        render(&self.templates, &self.support, command)
    }
}

/// The message `command` asks for, rendered from `templates`, support's going to
/// `support`. A template that cannot be rendered (a value missing) fails the
/// reaction, which is parked, visibly: never a message with a blank in it.
pub fn render(
    templates: &Templates,
    support: &SupportContact,
    command: &QueueNotification,
) -> Result<NotificationQueued, ReactionError> {
    let (recipient, language) = match &command.recipient {
        Recipient::Customer { email, language } => (email.clone(), language.clone()),
        Recipient::Support => (support.email.clone(), support.language.clone()),
    };
    let audience = command.recipient.audience();
    let rendered = templates
        .render(command.template, audience, &language, &command.values)
        .map_err(|e| ReactionError::Failed(e.to_string()))?;
    Ok(NotificationQueued {
        recipient,
        audience,
        locale: language,
        template: command.template.name().to_owned(),
        subject: rendered.subject,
        body: rendered.body,
        cause_event_id: command.cause_event_id,
    })
}

impl Execute<QueueNotification> for QueueExecutor {
    async fn execute(&self, command: &QueueNotification) -> Result<Vec<Effect>, ReactionError> {
        let queued = self.render(command)?;
        command_outcome(
            self.outbox
                .queue(command.notification_id, command.correlation_id, queued)
                .await,
        )
    }
}

#[cfg(test)]
mod tests;
