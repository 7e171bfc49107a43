//! Errors of the event log, typed so callers can act on them: a [`AppendError::Conflict`]
//! is retried by the command handler, [`AppendError::Unavailable`] is worth a retry
//! later, the rest are bugs or bad input.

use super::AggregateRef;

/// The log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// NATS did not answer.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL tried.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// NATS refused the user's credential.
    #[error(
        "NATS at {url} refused the credential of the {user} user ({file}): is it the key the server was configured with? (authorization violation)"
    )]
    Refused {
        /// The URL tried.
        url: String,
        /// The user.
        user: crate::nats_users::NatsUser,
        /// The file its seed came from.
        file: String,
    },
    /// The user's credential could not be had.
    #[error(transparent)]
    Credential(#[from] crate::nats_users::CredentialError),
    /// A setting cannot be used.
    #[error("invalid {name}: {reason}")]
    InvalidSetting {
        /// Which setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The server is older than ferry needs.
    #[error("nats-server {version} is too old: ferry needs {needed} or later")]
    UnsupportedServer {
        /// What the server says it is.
        version: String,
        /// The oldest version ferry works with.
        needed: String,
    },
    /// JetStream refused to create or update the stream.
    #[error("cannot set up stream {stream}: {reason}")]
    Stream {
        /// Stream name.
        stream: String,
        /// What the server said.
        reason: String,
    },
}

/// An append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Somebody else appended to the aggregate since the writer loaded it: reload and decide again.
    #[error("conflict on {aggregate}: expected version {expected}, the log is at {actual}")]
    Conflict {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The version the writer stated.
        expected: u64,
        /// The version in the log.
        actual: u64,
    },
    /// Nothing to append.
    #[error("no events to append to {0}")]
    Empty(AggregateRef),
    /// More events in one command than the log takes.
    #[error("{count} events in one command for {aggregate}; at most {max} can be appended at once")]
    TooManyEvents {
        /// The aggregate.
        aggregate: AggregateRef,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The command's events do not fit in one message of the server.
    #[error(
        "the events of one command for {aggregate} take {bytes} bytes; the event log takes at most {max} per command"
    )]
    TooLarge {
        /// The aggregate.
        aggregate: AggregateRef,
        /// Their encoded size.
        bytes: usize,
        /// The server's largest message.
        max: usize,
    },
    /// An event was addressed to another aggregate than the one appended to.
    #[error("event {event_type} is addressed to {event_aggregate}, not {aggregate}")]
    WrongAggregate {
        /// The aggregate appended to.
        aggregate: AggregateRef,
        /// The event's type.
        event_type: &'static str,
        /// The aggregate named in the event's envelope.
        event_aggregate: String,
    },
    /// The event could not be encoded.
    #[error("cannot encode event: {0}")]
    Encode(#[from] ferry_events::CodecError),
    /// The server could not be reached or did not answer in time; the append may or may
    /// not have happened: retrying with the same idempotency key is safe.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The server refused the append for another reason.
    #[error("event log refused the append: {0}")]
    Refused(String),
    /// This process's NATS user may not publish the aggregate's subject: the service
    /// tried to write an aggregate it does not own (a bug), or the server's
    /// permissions do not match ferry's. Nothing was appended; retrying cannot help.
    #[error("the NATS user {user} may not append to {aggregate}: {reason}")]
    Forbidden {
        /// The aggregate.
        aggregate: AggregateRef,
        /// The user this log connected as.
        user: String,
        /// What the server said.
        reason: String,
    },
}

/// Reading the log failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The server could not be reached or did not answer.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// A stored message is not a readable event (unknown type, newer schema, corrupt).
    #[error("event at sequence {sequence} cannot be decoded: {source}")]
    Decode {
        /// Its stream sequence.
        sequence: u64,
        /// Why.
        #[source]
        source: ferry_events::CodecError,
    },
    /// A stored message does not hold what its headers announce.
    #[error("message at sequence {sequence} is corrupt: {reason}")]
    Corrupt {
        /// Its stream sequence.
        sequence: u64,
        /// What does not match.
        reason: String,
    },
}
