//! The log index: a read model of the log itself, built from envelopes only (no event
//! payload is interpreted), so it serves every aggregate type.
//!
//! - `aggregates`: each aggregate instance with its version, event count, first
//!   sequence and last event — what exists in the log and how far each has gone.
//! - `correlations`: which aggregates took part in each correlation (a migration), so
//!   an audit can replay exactly the subjects of one migration, across services.
//!
//! Rows are folded per key within a batch and upserted with `UNNEST` arrays: one
//! statement per table per batch, whatever the batch size.

use super::{ApplyError, Projection};
use crate::event_log::Recorded;
use chrono::{DateTime, Utc};
use ferry_events::AggregateType;
use std::collections::HashMap;
use uuid::Uuid;

/// The log index projection (`proj_log_index`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogIndex;

const SCHEMA: &str = "
CREATE TABLE aggregates (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    events bigint NOT NULL,
    first_sequence bigint NOT NULL,
    last_event_type text NOT NULL,
    last_occurred_at timestamptz NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
) WITH (fillfactor = 70); -- room for in-page (HOT) updates: every event updates its row
CREATE TABLE correlations (
    correlation_id uuid NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    first_sequence bigint NOT NULL,
    PRIMARY KEY (correlation_id, aggregate_type, aggregate_id)
);
";

/// One aggregate's events within a batch, folded.
struct AggregateRow {
    version: i64,
    events: i64,
    first_sequence: i64,
    last_event_type: &'static str,
    last_occurred_at: DateTime<Utc>,
}

impl Projection for LogIndex {
    fn name(&self) -> &'static str {
        "log_index"
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[]
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        let mut aggregates: HashMap<(AggregateType, &str), AggregateRow> = HashMap::new();
        let mut correlations: HashMap<(Uuid, AggregateType, &str), i64> = HashMap::new();
        for event in events {
            let e = &event.envelope;
            let sequence = i64::try_from(event.sequence)
                .map_err(|_| ApplyError::Invalid("sequence past i64".into()))?;
            aggregates
                .entry((e.aggregate_type, e.aggregate_id.as_str()))
                .and_modify(|row| {
                    row.version = sequence;
                    row.events += 1;
                    row.last_event_type = e.event_type();
                    row.last_occurred_at = e.occurred_at;
                })
                .or_insert(AggregateRow {
                    version: sequence,
                    events: 1,
                    first_sequence: sequence,
                    last_event_type: e.event_type(),
                    last_occurred_at: e.occurred_at,
                });
            correlations
                .entry((e.correlation_id, e.aggregate_type, e.aggregate_id.as_str()))
                .or_insert(sequence);
        }
        upsert_aggregates(tx, aggregates).await?;
        insert_correlations(tx, correlations).await?;
        Ok(())
    }
}

async fn upsert_aggregates(
    tx: &tokio_postgres::Transaction<'_>,
    rows: HashMap<(AggregateType, &str), AggregateRow>,
) -> Result<(), ApplyError> {
    let n = rows.len();
    let (mut types, mut ids, mut versions, mut counts, mut firsts, mut last_types, mut last_ats) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((kind, id), row) in rows {
        types.push(kind.as_str());
        ids.push(id);
        versions.push(row.version);
        counts.push(row.events);
        firsts.push(row.first_sequence);
        last_types.push(row.last_event_type);
        last_ats.push(row.last_occurred_at);
    }
    tx.execute(
        "INSERT INTO aggregates (aggregate_type, aggregate_id, version, events, first_sequence, last_event_type, last_occurred_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[], $7::timestamptz[])
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET
             version = EXCLUDED.version,
             events = aggregates.events + EXCLUDED.events,
             last_event_type = EXCLUDED.last_event_type,
             last_occurred_at = EXCLUDED.last_occurred_at",
        &[&types, &ids, &versions, &counts, &firsts, &last_types, &last_ats],
    )
    .await?;
    Ok(())
}

async fn insert_correlations(
    tx: &tokio_postgres::Transaction<'_>,
    rows: HashMap<(Uuid, AggregateType, &str), i64>,
) -> Result<(), ApplyError> {
    let n = rows.len();
    let (mut correlation_ids, mut types, mut ids, mut firsts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((correlation_id, kind, id), first) in rows {
        correlation_ids.push(correlation_id);
        types.push(kind.as_str());
        ids.push(id);
        firsts.push(first);
    }
    tx.execute(
        "INSERT INTO correlations (correlation_id, aggregate_type, aggregate_id, first_sequence)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[])
         ON CONFLICT DO NOTHING",
        &[&correlation_ids, &types, &ids, &firsts],
    )
    .await?;
    Ok(())
}
