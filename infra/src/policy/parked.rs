//! Parked reactions: an event a reactor could not handle for a reason retrying at
//! once cannot fix (a bug, a fact missing, an event it cannot read) is never passed
//! over. It is recorded here with its sequence, event and error, shown in `/ready`,
//! `/metrics` (`ferry_reactions_parked`) and `ferry reactions`, and retried: every
//! few minutes, after a fix is deployed, or at once when support asks.
//!
//! Ordering: the later events of the same process (the same correlation: the
//! migration the event is part of) are parked behind it rather than handled before
//! it, and the retries take a process's parked events in log order, stopping at the
//! first that fails again. Other migrations go on: a queue or a transit server
//! shared by many migrations is not stalled by one of them.
//!
//! Emits and consumes no event type of its own.

use crate::event_log::Recorded;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Why the parked store could not be used (the database is down): the reaction is
/// then retried in place rather than acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("parked reactions: {0}")]
pub struct ParkingError(String);

impl From<tokio_postgres::Error> for ParkingError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for ParkingError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self(e.to_string())
    }
}

/// One parked reaction, as support sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParkedReaction {
    /// The reactor that could not handle the event.
    pub reactor: String,
    /// The event's stream sequence.
    pub sequence: u64,
    /// The event's subject (its aggregate).
    pub subject: String,
    /// The process it belongs to (its correlation: a migration's id), or its subject
    /// when it could not be read: later events of the same process wait behind it.
    pub process: String,
    /// The event's type (`unreadable` when it could not be decoded).
    pub event_type: String,
    /// The event's id, when it could be decoded.
    pub event_id: Option<Uuid>,
    /// Why it could not be handled (or, when held, which event it waits behind).
    pub error: String,
    /// Whether it waits behind an earlier parked event of the same aggregate.
    pub held: bool,
    /// How many times it was tried.
    pub attempts: u32,
    /// When it was first parked.
    pub parked_at: DateTime<Utc>,
    /// When it was last tried.
    pub last_attempt_at: DateTime<Utc>,
}

/// Which event is parked, and where it belongs.
#[derive(Debug, Clone, Copy)]
pub struct ParkedEvent<'a> {
    /// Its stream sequence.
    pub sequence: u64,
    /// Its subject (to read it again).
    pub subject: &'a str,
    /// The process it belongs to (its correlation, or its subject when unreadable).
    pub process: &'a str,
    /// The event, when it could be read.
    pub recorded: Option<&'a Recorded>,
}

/// The parked reactions of every reactor, in PostgreSQL (schema `ferry_reactions`).
#[derive(Clone)]
pub struct ParkedReactions {
    pool: Pool,
}

impl std::fmt::Debug for ParkedReactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkedReactions").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS ferry_reactions;
CREATE TABLE IF NOT EXISTS ferry_reactions.parked (
    reactor text NOT NULL,
    sequence bigint NOT NULL,
    subject text NOT NULL,
    process text NOT NULL,
    event_type text NOT NULL,
    event_id uuid,
    error text NOT NULL,
    held boolean NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    parked_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reactor, sequence)
);
CREATE INDEX IF NOT EXISTS parked_process ON ferry_reactions.parked (reactor, process, sequence);
CREATE TABLE IF NOT EXISTS ferry_reactions.retry_requests (
    reactor text PRIMARY KEY,
    requested_at timestamptz NOT NULL DEFAULT now()
);";

impl ParkedReactions {
    /// The store in `pool`'s database; its tables are created when missing.
    pub async fn open(pool: Pool) -> Result<Self, ParkingError> {
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        // Concurrent `CREATE ... IF NOT EXISTS` can still collide: one at a time.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('ferry_reactions'))",
            &[],
        )
        .await?;
        tx.batch_execute(SCHEMA).await?;
        tx.commit().await?;
        Ok(Self { pool })
    }

    /// The first event of `process` that `reactor` has parked, if any: a later event
    /// of it must wait behind.
    pub async fn holds(&self, reactor: &str, process: &str) -> Result<Option<u64>, ParkingError> {
        let client = self.pool.get().await?;
        // Asked before every reaction: prepared once per connection, one round trip.
        let statement = client
            .prepare_cached(
                "SELECT min(sequence) FROM ferry_reactions.parked WHERE reactor = $1 AND process = $2",
            )
            .await?;
        let row = client.query_opt(&statement, &[&reactor, &process]).await?;
        Ok(row
            .and_then(|r| r.get::<_, Option<i64>>(0))
            .map(|s| u64::try_from(s).unwrap_or(0)))
    }

    /// Parks `event` for `reactor`, with `error`; `held` when it only waits behind
    /// an earlier event of its process.
    pub async fn park(
        &self,
        reactor: &str,
        event: ParkedEvent<'_>,
        error: &str,
        held: bool,
    ) -> Result<(), ParkingError> {
        let ParkedEvent {
            sequence,
            subject,
            process,
            recorded: event,
        } = event;
        let client = self.pool.get().await?;
        let event_type = event.map_or("unreadable", |e| e.envelope.event_type());
        let event_id = event.map(|e| e.envelope.event_id);
        client
            .execute(
                "INSERT INTO ferry_reactions.parked (reactor, sequence, subject, process, event_type, event_id, error, held)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (reactor, sequence) DO UPDATE
                 SET error = EXCLUDED.error, held = EXCLUDED.held,
                     attempts = parked.attempts + 1, last_attempt_at = now()",
                &[
                    &reactor,
                    &to_i64(sequence),
                    &subject,
                    &process,
                    &event_type,
                    &event_id,
                    &error,
                    &held,
                ],
            )
            .await?;
        self.publish_count(reactor).await;
        Ok(())
    }

    /// The event at `sequence` was handled on a retry: no longer parked.
    pub async fn resolved(&self, reactor: &str, sequence: u64) -> Result<(), ParkingError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM ferry_reactions.parked WHERE reactor = $1 AND sequence = $2",
                &[&reactor, &to_i64(sequence)],
            )
            .await?;
        self.publish_count(reactor).await;
        Ok(())
    }

    /// The parked reactions of `reactor` (every reactor's with `None`), in log order.
    pub async fn list(&self, reactor: Option<&str>) -> Result<Vec<ParkedReaction>, ParkingError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT reactor, sequence, subject, process, event_type, event_id, error, held,
                        attempts, parked_at, last_attempt_at
                 FROM ferry_reactions.parked WHERE $1::text IS NULL OR reactor = $1
                 ORDER BY reactor, sequence",
                &[&reactor],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| ParkedReaction {
                reactor: row.get(0),
                sequence: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                subject: row.get(2),
                process: row.get(3),
                event_type: row.get(4),
                event_id: row.get(5),
                error: row.get(6),
                held: row.get(7),
                attempts: u32::try_from(row.get::<_, i32>(8)).unwrap_or(0),
                parked_at: row.get(9),
                last_attempt_at: row.get(10),
            })
            .collect())
    }

    /// Asks the retry loops of `reactor` (of every reactor with `None`) to retry now;
    /// the number of parked reactions concerned.
    pub async fn request_retry(&self, reactor: Option<&str>) -> Result<u64, ParkingError> {
        let client = self.pool.get().await?;
        let reactors: Vec<String> = client
            .query(
                "SELECT DISTINCT reactor FROM ferry_reactions.parked WHERE $1::text IS NULL OR reactor = $1",
                &[&reactor],
            )
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        client
            .execute(
                "INSERT INTO ferry_reactions.retry_requests (reactor)
                 SELECT unnest($1::text[]) ON CONFLICT (reactor) DO UPDATE SET requested_at = now()",
                &[&reactors],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM ferry_reactions.parked WHERE $1::text IS NULL OR reactor = $1",
                &[&reactor],
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Takes `reactor`'s pending retry request, if support made one.
    pub async fn take_retry_request(&self, reactor: &str) -> Result<bool, ParkingError> {
        let client = self.pool.get().await?;
        let taken = client
            .execute(
                "DELETE FROM ferry_reactions.retry_requests WHERE reactor = $1",
                &[&reactor],
            )
            .await?;
        Ok(taken > 0)
    }

    /// How many reactions are parked, by reactor.
    pub async fn counts(&self) -> Result<Vec<(String, u64)>, ParkingError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT reactor, count(*) FROM ferry_reactions.parked GROUP BY reactor ORDER BY reactor",
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
            .collect())
    }

    async fn publish_count(&self, reactor: &str) {
        let Ok(client) = self.pool.get().await else {
            return;
        };
        if let Ok(row) = client
            .query_one(
                "SELECT count(*) FROM ferry_reactions.parked WHERE reactor = $1",
                &[&reactor],
            )
            .await
        {
            crate::metrics::global()
                .reactions
                .set_parked(reactor, row.get::<_, i64>(0));
        }
    }
}

fn to_i64(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}
