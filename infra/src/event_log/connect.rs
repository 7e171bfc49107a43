//! Connecting to NATS as one of ferry's users ([`crate::nats_users`]), and hearing
//! what the server refuses.
//!
//! The server answers a publish its user may not make with an asynchronous
//! `-ERR 'Permissions Violation for Publish to "<subject>"'` on the connection, and
//! drops the message: JetStream never acknowledges it. Each connection keeps those
//! reports ([`Denials`]) so that an append waiting for its acknowledgement learns at
//! once that it was refused, as a typed error, instead of waiting for a timeout and
//! retrying an outage that is not one.

use crate::nats_users::{NatsIdentity, NatsUser};
use async_nats::{Event, ServerError};
use std::time::Duration;
use tokio::sync::broadcast;

/// A permission violation the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denied {
    /// What was refused: `Publish` or `Subscription`.
    pub operation: String,
    /// On which subject.
    pub subject: String,
    /// The server's words.
    pub message: String,
}

/// The permission violations reported on one connection, as they come.
#[derive(Debug, Clone)]
pub(crate) struct Denials(broadcast::Sender<Denied>);

impl Default for Denials {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Denials {
    /// Violations reported from now on.
    pub(crate) fn watch(&self) -> broadcast::Receiver<Denied> {
        self.0.subscribe()
    }

    fn report(&self, denied: Denied) {
        // Nobody waiting: nothing to tell.
        let _ = self.0.send(denied);
    }
}

/// Waits until the server reports that a publish to `subject` was refused; its words.
pub(crate) async fn refused_publish(
    watch: &mut broadcast::Receiver<Denied>,
    subject: &str,
) -> String {
    loop {
        match watch.recv().await {
            Ok(denied) if denied.operation == "Publish" && denied.subject == subject => {
                return denied.message;
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            // The connection is gone: the acknowledgement's own error will tell.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Reads `Permissions Violation for Publish to "a.b"` (or `for Subscription to`).
fn parse_violation(message: &str) -> Option<Denied> {
    let rest = message.strip_prefix("Permissions Violation for ")?;
    let (operation, subject) = rest.split_once(" to ")?;
    let subject = match subject.trim().strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => subject.split_whitespace().next()?,
    };
    Some(Denied {
        operation: operation.to_owned(),
        subject: subject.to_owned(),
        message: message.to_owned(),
    })
}

/// The URL without any user or password it may hold, for messages: a NATS user may
/// be a token, so the whole user info goes ([`ferry_events::url_text`]'s rule).
pub fn redacted(url: &str) -> String {
    ferry_events::url_text::redact_url_with(url, ferry_events::url_text::UserInfo::HideAll)
}

/// Connects as `identity`: its nkey signs the server's nonce, its inboxes are its
/// own, its connection is named `ferry-<user>`, and what the server reports on it is
/// logged (and permission violations kept in `denials`).
pub(crate) async fn connect(
    nats_url: &str,
    identity: &NatsIdentity,
    denials: &Denials,
) -> Result<async_nats::Client, super::SetupError> {
    let user = identity.user();
    let reports = denials.clone();
    async_nats::ConnectOptions::new()
        .nkey(identity.seed().to_owned())
        .name(format!("ferry-{user}"))
        .custom_inbox_prefix(user.inbox_prefix())
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            let reports = reports.clone();
            async move { on_event(user, &reports, event) }
        })
        .connect(nats_url)
        .await
        .map_err(|e| {
            let url = redacted(nats_url);
            match e.kind() {
                async_nats::ConnectErrorKind::AuthorizationViolation => {
                    super::SetupError::Refused {
                        url,
                        user,
                        file: identity.file().display().to_string(),
                    }
                }
                _ => super::SetupError::Connect {
                    url,
                    reason: format!("{e} (as the {user} user)"),
                },
            }
        })
}

fn on_event(user: NatsUser, denials: &Denials, event: Event) {
    match event {
        Event::ServerError(ServerError::Other(message)) => match parse_violation(&message) {
            Some(denied) => {
                tracing::error!(nats_user = %user, operation = %denied.operation, subject = %denied.subject, "NATS refused: permission violation");
                denials.report(denied);
            }
            None => tracing::warn!(nats_user = %user, error = %message, "NATS server error"),
        },
        Event::ServerError(ServerError::AuthorizationViolation) => refused(user),
        Event::ClientError(error) if error.to_string().contains("authorization violation") => {
            refused(user)
        }
        Event::Disconnected => tracing::warn!(nats_user = %user, "NATS disconnected"),
        Event::Connected => tracing::debug!(nats_user = %user, "NATS connected"),
        Event::Closed => tracing::debug!(nats_user = %user, "NATS connection closed"),
        other => tracing::warn!(nats_user = %user, event = %other, "NATS"),
    }
}

fn refused(user: NatsUser) {
    tracing::error!(
        nats_user = %user,
        "NATS refuses this user's credential (authorization violation): if its key was rotated, restart ferry to read the new one"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_violations_are_read() {
        assert_eq!(
            parse_violation(r#"Permissions Violation for Publish to "t1.events.transfer.x""#),
            Some(Denied {
                operation: "Publish".into(),
                subject: "t1.events.transfer.x".into(),
                message: r#"Permissions Violation for Publish to "t1.events.transfer.x""#.into(),
            })
        );
        let subscription =
            parse_violation(r#"Permissions Violation for Subscription to "_INBOX.>""#)
                .expect("read");
        assert_eq!(
            (
                subscription.operation.as_str(),
                subscription.subject.as_str()
            ),
            ("Subscription", "_INBOX.>")
        );
        assert_eq!(parse_violation("Maximum Payload Violation"), None);
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redacted("nats://u:secret@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(redacted("nats://t0ken@nats:4222"), "nats://***@nats:4222");
        assert_eq!(redacted("nats://127.0.0.1:14222"), "nats://127.0.0.1:14222");
        // An `@` past the authority is not a user's.
        assert_eq!(redacted("nats://nats:4222/a@b"), "nats://nats:4222/a@b");
    }
}
