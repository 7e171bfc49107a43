//! Why a query failed, and how each reason is answered over HTTP.

use ferry_infra::api::ApiError;
use ferry_infra::event_log::ReadError;

/// A query of the read model (or of the log, for audits) failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Nothing by that name.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was asked for, e.g. `server`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The actor may not see it.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The read model is not built yet (the projection has not created its tables).
    #[error("the read model is being built; try again shortly")]
    NotReady,
    /// PostgreSQL could not be reached.
    #[error("read model unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// PostgreSQL refused a query.
    #[error("read model query failed: {0}")]
    Database(tokio_postgres::Error),
    /// A stored document does not read as its view (a bug, or a stale schema).
    #[error("stored {what} unreadable: {reason}")]
    Document {
        /// Which document.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The event log could not be read.
    #[error(transparent)]
    Log(#[from] ReadError),
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(error: tokio_postgres::Error) -> Self {
        let undefined_table = error
            .code()
            .is_some_and(|c| *c == tokio_postgres::error::SqlState::UNDEFINED_TABLE);
        if undefined_table {
            QueryError::NotReady
        } else {
            QueryError::Database(error)
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        let reason = error.to_string();
        match error {
            QueryError::NotFound { .. } => ApiError::not_found(reason),
            QueryError::Forbidden(_) => ApiError::forbidden(reason),
            QueryError::Invalid(_) => ApiError::invalid(reason),
            QueryError::NotReady
            | QueryError::Pool(_)
            | QueryError::Database(_)
            | QueryError::Document { .. }
            | QueryError::Log(_) => ApiError::unavailable(reason),
        }
    }
}
