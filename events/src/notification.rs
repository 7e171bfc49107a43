//! Events of one message to a customer or to support (aggregate `notification`,
//! written by the notifications service, its outbox). Aggregate id: the notification
//! uuid, hyphenated lowercase.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationAudience {
    /// The customer owning the server.
    Customer,
    /// The provider's support team.
    Support,
}

/// A message was rendered and put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationQueued {
    /// The address it goes to, e.g. an e-mail address.
    pub recipient: String,
    /// Customer or support.
    pub audience: NotificationAudience,
    /// The language it is written in, e.g. `"fr"` or `"en"`.
    pub locale: String,
    /// The template it was rendered from, e.g. `transit_server_ready`.
    pub template: String,
    /// The rendered subject line.
    pub subject: String,
    /// The rendered body, plain text.
    pub body: String,
    /// The event it tells about.
    pub cause_event_id: Uuid,
}

/// An attempt to hand the message to the mail system began. Recorded before the
/// attempt, so that an attempt whose outcome was never recorded (the sender stopped
/// in between) is known: the message may have left, and is not sent again blindly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSending {
    /// Which attempt, starting at 1.
    pub attempt: u32,
}

/// Support put a message given up on back in the outbox (after mending the mail
/// system, or after checking that an interrupted attempt did not arrive). Who did it
/// is the envelope's actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRequeued {
    /// Why, for the audit.
    pub reason: String,
}

/// The message was handed to the mail system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSent {
    /// Which attempt succeeded, starting at 1.
    pub attempt: u32,
    /// When it was handed over.
    pub sent_at: DateTime<Utc>,
}

/// An attempt to send the message failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFailed {
    /// Which attempt failed, starting at 1.
    pub attempt: u32,
    /// Why.
    pub reason: String,
    /// Whether another attempt will be made.
    pub will_retry: bool,
}

aggregate_events! {
    /// An event of a notification (aggregate `notification`).
    pub enum NotificationEvent for Notification {
        NotificationQueued = 1,
        NotificationSent = 1,
        NotificationFailed = 1,
        NotificationSending = 1,
        NotificationRequeued = 1,
    }
}
