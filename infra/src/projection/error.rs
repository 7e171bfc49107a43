//! Projection errors: what a projection reports when it cannot apply events, and what
//! stops a runner or a rebuild.

use crate::event_log::ReadError;

/// A projection could not apply events.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// PostgreSQL refused a statement or the connection failed.
    #[error("database: {}", describe(.0))]
    Database(#[from] tokio_postgres::Error),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The events make no sense to this projection (a bug or a corrupt history).
    #[error("{0}")]
    Invalid(String),
}

impl ApplyError {
    /// True when the failure is about the connection or contention, not the event: worth
    /// retrying for as long as it takes.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(e) => {
                if e.is_closed() {
                    return true;
                }
                match e.code() {
                    None => true,
                    Some(code) => {
                        let code = code.code();
                        code.starts_with("08") // connection exception
                            || code == "40001" // serialization failure
                            || code == "40P01" // deadlock
                            || code.starts_with("57P") // server shutting down
                            || code == "53300" // too many connections
                    }
                }
            }
            Self::Unavailable(_) => true,
            Self::Invalid(_) => false,
        }
    }
}

/// A projection runner or rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The projection's name cannot be used as a schema name.
    #[error("invalid projection name {0:?}: use lower-case letters, digits and _")]
    InvalidName(String),
    /// PostgreSQL could not be reached.
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// PostgreSQL refused a statement of the runner itself.
    #[error("database: {}", describe(.0))]
    Database(#[from] tokio_postgres::Error),
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An event could not be applied during a rebuild.
    #[error("rebuild of {projection} failed at sequence {sequence}: {reason}")]
    RebuildFailed {
        /// The projection.
        projection: String,
        /// The event's sequence.
        sequence: u64,
        /// Why.
        reason: String,
    },
}

/// A PostgreSQL error with the server's own message and detail, not just "db error".
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            text
        }
        None => error.to_string(),
    }
}
