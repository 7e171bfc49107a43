//! PostgreSQL read models fed from the event log.
//!
//! A [`Projection`] owns one PostgreSQL schema, `proj_<name>`, holding its tables and
//! `_ferry_checkpoint`, the stream sequence its rows cover. The [`runner`] feeds it from
//! a durable consumer in batches; each batch is one transaction that writes the rows and
//! moves the checkpoint, and is acknowledged only after commit, so a crash anywhere
//! neither loses nor doubles an event. An event the projection cannot apply is retried,
//! then recorded in `_ferry_failures` with its sequence and error and the projection
//! stops there (stalled, visible in health and metrics) until it can apply it: an
//! event is never skipped.
//!
//! [`rebuild`] replays the log from sequence 1 into a fresh schema and swaps it in;
//! [`rebuild::Shadow::compare_with_live`] checks that the rebuild equals the live tables.
//! This works because a projection is a pure function of the events.

mod error;
pub mod log_index;
pub mod rebuild;
pub mod runner;
mod status;
mod store;

pub use error::{ApplyError, ProjectionError};
pub use runner::{ProjectionRunner, RunnerSettings};
pub use status::{ProjectionState, ProjectionStatus, StatusBoard};

use crate::event_log::Recorded;
use ferry_events::AggregateType;
use std::future::Future;

/// A read model built from events.
pub trait Projection: Send + Sync + 'static {
    /// Unique name, lower-case letters, digits and `_`; its schema is `proj_<name>`.
    fn name(&self) -> &'static str;

    /// The aggregate types whose events it reads; empty means every event.
    fn aggregate_types(&self) -> &'static [AggregateType];

    /// SQL creating its tables, with unqualified names: it runs with `search_path` set to
    /// the schema being built (live or rebuild). Changing it triggers a rebuild at start.
    fn schema(&self) -> &'static str;

    /// Applies a batch of events, in log order, inside the transaction that also moves
    /// the checkpoint (`search_path` is the projection's schema). It must depend only on
    /// the events (no `now()`, no randomness): a rebuild must equal the live tables.
    fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> impl Future<Output = Result<(), ApplyError>> + Send + 'a;
}

/// Name of a projection's live schema.
pub fn live_schema(name: &str) -> String {
    format!("proj_{name}")
}
