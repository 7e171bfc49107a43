//! Shared pieces of ferry's integration tests and benchmarks: event builders and
//! projections made for testing the projection runner (one that records every
//! application, one that can be held mid-batch, one that refuses a chosen aggregate).
//!
//! Each test gets its own database and stream from [`ferry_infra::testkit::TestStack`].

use ferry_events::{AccountMarkedReady, Actor, AggregateType, Envelope};
use ferry_infra::event_log::{AggregateRef, Recorded};
use ferry_infra::projection::{ApplyError, Projection};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

pub use ferry_infra::testkit::{eventually, eventually_some};

/// A migration aggregate with a fresh id.
pub fn new_migration() -> AggregateRef {
    AggregateRef::new(AggregateType::Migration, Uuid::now_v7().to_string())
        .expect("a uuid is a valid aggregate id")
}

/// `count` events for `aggregate` (accounts marked ready), caused by `causation`.
pub fn ready_events(aggregate: &AggregateRef, count: usize, causation: Uuid) -> Vec<Envelope> {
    let correlation = Uuid::parse_str(&aggregate.id).unwrap_or(causation);
    (0..count)
        .map(|i| {
            Envelope::new(
                aggregate.id.clone(),
                AccountMarkedReady {
                    account_id: format!("acct-{i}"),
                },
                correlation,
                causation,
                Actor::customer("c-42"),
            )
        })
        .collect()
}

/// A benchmark event of `aggregate` (an account marked ready, ~350 bytes on the wire).
/// Its correlation id is derived from the aggregate, as every event of one migration
/// shares the migration's id.
pub fn bench_event(aggregate: &AggregateRef, i: u64) -> Envelope {
    let correlation = Uuid::new_v5(&Uuid::NAMESPACE_OID, aggregate.id.as_bytes());
    Envelope::new(
        aggregate.id.clone(),
        AccountMarkedReady {
            account_id: format!("account-{i:06}"),
        },
        correlation,
        Uuid::now_v7(),
        Actor::customer("customer-0042"),
    )
}

/// Records every event it applies, one row each, with no uniqueness: applying an event
/// twice shows as a duplicate row. Can be held inside a batch, and told to refuse one
/// aggregate's events.
#[derive(Clone, Default)]
pub struct Recorder {
    hold: Arc<Mutex<Option<Arc<tokio::sync::Notify>>>>,
    poison: Arc<Mutex<Option<String>>>,
    /// Tells the test that a batch is being held.
    pub held: Arc<tokio::sync::Notify>,
}

impl Recorder {
    /// From now on, every batch stops after writing its rows, before commit, and waits
    /// (forever, unless released).
    pub fn hold_batches(&self) -> Arc<tokio::sync::Notify> {
        let gate = Arc::new(tokio::sync::Notify::new());
        *self.hold.lock().expect("lock") = Some(gate.clone());
        gate
    }

    /// Batches are no longer held.
    pub fn stop_holding(&self) {
        *self.hold.lock().expect("lock") = None;
    }

    /// Refuse (or stop refusing, with None) the events of this aggregate.
    pub fn refuse(&self, aggregate_id: Option<String>) {
        *self.poison.lock().expect("lock") = aggregate_id;
    }
}

impl Projection for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[AggregateType::Migration]
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE applied (sequence bigint NOT NULL, event_id uuid NOT NULL, aggregate_id text NOT NULL, event_type text NOT NULL);"
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        let poison = self.poison.lock().expect("lock").clone();
        if let Some(bad) = events
            .iter()
            .find(|e| Some(&e.envelope.aggregate_id) == poison.as_ref())
        {
            return Err(ApplyError::Invalid(format!(
                "refusing {} at {}",
                bad.envelope.aggregate_id, bad.sequence
            )));
        }
        let sequences: Vec<i64> = events.iter().map(|e| e.sequence as i64).collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.envelope.event_id).collect();
        let aggregates: Vec<&str> = events
            .iter()
            .map(|e| e.envelope.aggregate_id.as_str())
            .collect();
        let types: Vec<&str> = events.iter().map(|e| e.envelope.event_type()).collect();
        tx.execute(
                "INSERT INTO applied SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::text[])",
                &[&sequences, &ids, &aggregates, &types],
            )
            .await?;
        let gate = self.hold.lock().expect("lock").clone();
        if let Some(gate) = gate {
            self.held.notify_one();
            gate.notified().await;
        }
        Ok(())
    }
}
