//! The JetStream event log: the single source of truth of ferry.
//!
//! One stream keeps every event forever (file storage, no limits, deletes and purges
//! denied). Each aggregate instance has its own subject,
//! `<prefix>.events.<aggregate_type>.<aggregate_id>`, and its **version** is the stream
//! sequence of the last message on that subject (0 for an aggregate with no event),
//! which is exactly what `Nats-Expected-Last-Subject-Sequence` checks.
//!
//! - [`EventLog::append`]: optimistic (a stale version is a [`AppendError::Conflict`]),
//!   idempotent (an idempotency key appends once, also when a retry meets the server
//!   after a lost ack) and atomic (the events of one command are one message: all or
//!   nothing).
//! - [`EventLog::load`]: the events of one aggregate and its version.
//! - [`EventLog::replay`]: every event from a sequence, in log order (audits, rebuilds).
//! - [`EventLog::durable_consumer`]: a durable pull consumer for projections and reactors.
//! - [`EventLog::redact_copy`]: a log recorded with passwords copied to a new stream
//!   without them ([`redact_copy`]).
//!
//! Each message carries the W3C trace context of the span that appended it
//! ([`trace_context`]).
//!
//! A log is opened as one of ferry's NATS users ([`crate::nats_users`]): a service's
//! appends go through its own connection, and a subject its user may not publish is
//! refused by the server, reported as [`AppendError::Forbidden`]. Only the setup user
//! creates or updates the stream ([`EventLog::ensure_stream`]).

mod append;
mod connect;
mod error;
pub mod headers;
mod read;
pub mod redact_copy;
mod stream;
pub mod trace_context;

pub use append::MAX_EVENTS_PER_APPEND;
pub use connect::redacted as redacted_url;
pub use error::{AppendError, ReadError, SetupError};
pub use read::{Loaded, Recorded};

use crate::nats_users::{NatsIdentity, NatsUser};
use async_nats::jetstream;
use ferry_events::{AggregateType, validate_aggregate_id};
use std::time::Duration;

/// Where the log lives and how the stream is configured.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// JetStream stream name, e.g. `FERRY_EVENTS`.
    pub stream: String,
    /// First subject token of every ferry subject, e.g. `ferry`.
    pub subject_prefix: String,
    /// How long the server remembers message ids for deduplication. Idempotency past this
    /// window comes from the expected-version check and the command's causation id.
    pub duplicate_window: Duration,
    /// The time appended events are recorded at, and policies' timers fire by.
    pub clock: crate::clock::Clock,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            stream: "FERRY_EVENTS".into(),
            subject_prefix: "ferry".into(),
            duplicate_window: Duration::from_secs(120),
            clock: crate::clock::Clock::system(),
        }
    }
}

/// One aggregate instance: its type and id, hence its subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateRef {
    /// What kind of aggregate.
    pub kind: AggregateType,
    /// Its id, one subject token.
    pub id: String,
}

impl AggregateRef {
    /// An aggregate reference whose id is checked to be one subject token.
    pub fn new(
        kind: AggregateType,
        id: impl Into<String>,
    ) -> Result<Self, ferry_events::InvalidAggregateId> {
        let id = id.into();
        validate_aggregate_id(&id)?;
        Ok(Self { kind, id })
    }
}

impl std::fmt::Display for AggregateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

/// Outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Stream sequence of the command's message: the aggregate's new version.
    pub version: u64,
    /// True when these events were already in the log (a retried command): nothing was
    /// appended this time.
    pub duplicate: bool,
}

/// Handle on the event log. Cheap to clone; all clones share one NATS connection,
/// made as one NATS user.
#[derive(Clone)]
pub struct EventLog {
    client: async_nats::Client,
    js: jetstream::Context,
    settings: LogSettings,
    /// Who it connected as.
    user: NatsUser,
    /// What the server refused on the connection.
    denials: connect::Denials,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("settings", &self.settings)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl EventLog {
    /// Connects to NATS as `identity`'s user. The stream is not touched: it must
    /// exist (the setup user makes it, [`EventLog::set_up`]).
    pub async fn connect(
        nats_url: &str,
        identity: &NatsIdentity,
        settings: LogSettings,
    ) -> Result<Self, SetupError> {
        check_settings(&settings)?;
        let denials = connect::Denials::default();
        let client = connect::connect(nats_url, identity, &denials).await?;
        check_server_version(&client.server_info().version)?;
        Ok(Self {
            js: jetstream::new(client.clone()),
            client,
            settings,
            user: identity.user(),
            denials,
        })
    }

    /// Connects as `identity` (the setup user) and makes sure the stream exists with
    /// the right configuration.
    pub async fn set_up(
        nats_url: &str,
        identity: &NatsIdentity,
        settings: LogSettings,
    ) -> Result<Self, SetupError> {
        let log = Self::connect(nats_url, identity, settings).await?;
        log.ensure_stream().await?;
        Ok(log)
    }

    /// The underlying NATS connection (health checks, core request/reply).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The NATS user it connected as.
    pub fn user(&self) -> NatsUser {
        self.user
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The time events are recorded at (see [`crate::clock`]).
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.settings.clock
    }

    /// The settings this log was opened with.
    pub fn settings(&self) -> &LogSettings {
        &self.settings
    }

    /// Subject of one aggregate instance.
    pub fn subject(&self, aggregate: &AggregateRef) -> String {
        format!(
            "{}.events.{}.{}",
            self.settings.subject_prefix, aggregate.kind, aggregate.id
        )
    }

    /// Subject filter matching every instance of one aggregate type.
    pub fn type_filter(&self, kind: AggregateType) -> String {
        format!("{}.events.{}.*", self.settings.subject_prefix, kind)
    }

    /// Subject filter matching every event.
    pub fn all_filter(&self) -> String {
        format!("{}.events.>", self.settings.subject_prefix)
    }

    /// Subject filters matching the events of these aggregate types (every event when
    /// the list is empty).
    pub fn filters_for(&self, types: &[AggregateType]) -> Vec<String> {
        if types.is_empty() {
            vec![self.all_filter()]
        } else {
            types.iter().map(|t| self.type_filter(*t)).collect()
        }
    }
}

fn check_settings(settings: &LogSettings) -> Result<(), SetupError> {
    validate_aggregate_id(&settings.subject_prefix).map_err(|e| SetupError::InvalidSetting {
        name: "subject prefix",
        reason: e.to_string(),
    })?;
    Ok(())
}

/// The oldest nats-server ferry works with: batched direct gets (ADR-31, used by
/// [`EventLog::load`]) came with 2.11; an older server would answer one message of
/// each batch and leave every load waiting.
const OLDEST_SERVER: (u64, u64) = (2, 11);

fn check_server_version(version: &str) -> Result<(), SetupError> {
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u64>().ok());
    let (major, minor) = (parts.next().flatten(), parts.next().flatten());
    match (major, minor) {
        (Some(major), Some(minor)) if (major, minor) >= OLDEST_SERVER => Ok(()),
        _ => Err(SetupError::UnsupportedServer {
            version: version.to_owned(),
            needed: format!("{}.{}", OLDEST_SERVER.0, OLDEST_SERVER.1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::check_server_version;

    #[test]
    fn servers_older_than_2_11_are_refused_by_version() {
        for ok in ["2.11.0", "2.15.1", "3.0.0-beta"] {
            assert!(check_server_version(ok).is_ok(), "{ok}");
        }
        for old in ["2.10.22", "2.9.0", "1.4", "weird"] {
            let error = check_server_version(old).expect_err(old).to_string();
            assert!(error.contains(old) && error.contains("2.11"), "{error}");
        }
    }
}
