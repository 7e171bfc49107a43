//! A [`View`] kept in PostgreSQL: the edge of `ferry_core::policy`.
//!
//! [`ViewProjection`] is the projection of a view: its schema `proj_<name>` holds one
//! table, `entries (key, entry jsonb, due)`, written in the projection runner's
//! transaction with the checkpoint, so it is checkpointed and rebuildable like any
//! read model (a view is a pure function of the events). [`ViewReader`] reads it for
//! a policy: it first waits until the checkpoint covers the event reacted to, then
//! reads the entries asked for; it also lists the entries whose due time has come.
//!
//! Emits and consumes no event type of its own.

use crate::event_log::Recorded;
use crate::projection::{ApplyError, Projection, StatusBoard, live_schema};
use crate::reactor::ReactionError;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ferry_core::policy::{Entries, View};
use ferry_events::AggregateType;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::Duration;
use tokio_postgres::types::Type;
use tokio_util::sync::CancellationToken;

/// The one table of every view's schema.
const SCHEMA: &str = "CREATE TABLE entries (
    key text PRIMARY KEY,
    entry jsonb NOT NULL,
    due timestamptz
);
CREATE INDEX entries_due ON entries (due) WHERE due IS NOT NULL;";

/// The projection keeping view `V` in PostgreSQL.
pub struct ViewProjection<V: View>(PhantomData<fn() -> V>);

impl<V: View> Default for ViewProjection<V> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<V: View> Projection for ViewProjection<V> {
    fn name(&self) -> &'static str {
        V::NAME
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        V::AGGREGATES
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        // Every entry the batch touches, read once, folded in memory, written once.
        let keys: Vec<String> = {
            let mut keys: Vec<String> = events.iter().flat_map(|e| V::keys(&e.envelope)).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        };
        if keys.is_empty() {
            return Ok(());
        }
        let mut entries: BTreeMap<String, Option<V::Entry>> = BTreeMap::new();
        // Typed queries: parsed and run in one round trip, where `query` first asks
        // the server for the statement's types.
        for row in tx
            .query_typed(
                "SELECT key, entry FROM entries WHERE key = ANY($1)",
                &[(&keys, Type::TEXT_ARRAY)],
            )
            .await?
        {
            let key: String = row.get(0);
            let entry = decode::<V>(&key, row.get(1)).map_err(ApplyError::Invalid)?;
            entries.insert(key, Some(entry));
        }
        for event in events {
            for key in V::keys(&event.envelope) {
                let before = entries.remove(&key).flatten();
                let after = V::evolve(&key, before, &event.envelope);
                entries.insert(key, after);
            }
        }
        let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
        for (key, entry) in entries {
            match entry {
                Some(entry) => upserts.push((key, entry)),
                None => deletes.push(key),
            }
        }
        if !deletes.is_empty() {
            tx.execute_typed(
                "DELETE FROM entries WHERE key = ANY($1)",
                &[(&deletes, Type::TEXT_ARRAY)],
            )
            .await?;
        }
        if !upserts.is_empty() {
            let mut keys = Vec::with_capacity(upserts.len());
            let mut values = Vec::with_capacity(upserts.len());
            let mut dues: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(upserts.len());
            for (key, entry) in upserts {
                dues.push(V::due(&entry));
                values.push(serde_json::to_value(&entry).map_err(|e| {
                    ApplyError::Invalid(format!("view {} entry {key}: {e}", V::NAME))
                })?);
                keys.push(key);
            }
            tx.execute_typed(
                "INSERT INTO entries (key, entry, due)
                 SELECT * FROM UNNEST($1::text[], $2::jsonb[], $3::timestamptz[])
                 ON CONFLICT (key) DO UPDATE SET entry = EXCLUDED.entry, due = EXCLUDED.due",
                &[
                    (&keys, Type::TEXT_ARRAY),
                    (&values, Type::JSONB_ARRAY),
                    (&dues, Type::TIMESTAMPTZ_ARRAY),
                ],
            )
            .await?;
        }
        Ok(())
    }
}

fn decode<V: View>(key: &str, value: serde_json::Value) -> Result<V::Entry, String> {
    serde_json::from_value(value)
        .map_err(|e| format!("view {} entry {key} cannot be read: {e}", V::NAME))
}

/// How long a reaction waits for its view to fold its event before giving up for
/// now (a transient failure: the reaction is retried).
const VIEW_WAIT: Duration = Duration::from_secs(30);

/// Reads view `V` for a policy. Cheap to clone.
pub struct ViewReader<V: View> {
    pool: Pool,
    board: StatusBoard,
    view: PhantomData<fn() -> V>,
}

impl<V: View> Clone for ViewReader<V> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            board: self.board.clone(),
            view: PhantomData,
        }
    }
}

impl<V: View> std::fmt::Debug for ViewReader<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewReader")
            .field("view", &V::NAME)
            .finish()
    }
}

impl<V: View> ViewReader<V> {
    /// A reader of the view kept in `pool`, whose runner (when in this process)
    /// reports its checkpoint on `board`.
    pub fn new(pool: Pool, board: StatusBoard) -> Self {
        Self {
            pool,
            board,
            view: PhantomData,
        }
    }

    /// How far the view's runner in this process has folded the log (None when it runs
    /// elsewhere or has not reported yet).
    pub fn folded_here(&self) -> Option<u64> {
        self.board.get(V::NAME).map(|status| status.checkpoint)
    }

    /// Waits until the view has folded the event at `sequence`: its checkpoint, as
    /// this process's runner reports it (woken on each batch) or, when another
    /// process runs it, as PostgreSQL holds it (polled).
    pub async fn wait_for(
        &self,
        sequence: u64,
        shutdown: &CancellationToken,
    ) -> Result<(), ReactionError> {
        let mut changes = self.board.watch();
        let deadline = tokio::time::Instant::now() + VIEW_WAIT;
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        poll.tick().await;
        loop {
            if self
                .board
                .get(V::NAME)
                .is_some_and(|status| status.checkpoint >= sequence)
            {
                return Ok(());
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    return Err(ReactionError::Transient("stopping".into()));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let at = self.checkpoint().await?;
                    if at >= sequence {
                        return Ok(());
                    }
                    return Err(ReactionError::Transient(format!(
                        "view {} is at sequence {at}, behind the event at {sequence}",
                        V::NAME
                    )));
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        poll.tick().await;
                    }
                }
                _ = poll.tick() => {
                    if self.checkpoint().await? >= sequence {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits until the view has folded every event of its aggregates in `log` (its
    /// projection's consumer has nothing pending): a parked reaction retried later
    /// than its event then sees what happened since.
    pub async fn wait_caught_up(
        &self,
        log: &crate::event_log::EventLog,
        shutdown: &CancellationToken,
    ) -> Result<(), ReactionError> {
        let consumer = format!("proj_{}", V::NAME);
        let deadline = tokio::time::Instant::now() + VIEW_WAIT;
        loop {
            if log.consumer_lag(&consumer).await? == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ReactionError::Transient(format!(
                    "view {} has not caught up with the log",
                    V::NAME
                )));
            }
            if !crate::backoff::sleep_or_stop(Duration::from_millis(20), shutdown).await {
                return Err(ReactionError::Transient("stopping".into()));
            }
        }
    }

    /// Wakes up whenever a projection of this process moves (the view may have new
    /// due times).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.board.watch()
    }

    /// The view's checkpoint in PostgreSQL (0 before its schema exists).
    pub async fn checkpoint(&self) -> Result<u64, ReactionError> {
        let client = self.client().await?;
        let schema = live_schema(V::NAME);
        let exists = client
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = '_ferry_checkpoint'",
                &[&schema],
            )
            .await
            .map_err(transient)?;
        if exists.is_none() {
            return Ok(0);
        }
        let row = client
            .query_one(
                &format!("SELECT sequence FROM {schema}._ferry_checkpoint"),
                &[],
            )
            .await
            .map_err(transient)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// The entries at `keys` (absent keys are left out).
    pub async fn entries(&self, keys: &[String]) -> Result<Entries<V::Entry>, ReactionError> {
        if keys.is_empty() {
            return Ok(Entries::new());
        }
        let client = self.client().await?;
        // Prepared once per connection (the table is named in full): one round trip.
        let statement = client
            .prepare_cached(&format!(
                "SELECT key, entry FROM {}.entries WHERE key = ANY($1)",
                live_schema(V::NAME)
            ))
            .await
            .map_err(transient)?;
        let rows = client
            .query(&statement, &[&keys])
            .await
            .map_err(transient)?;
        rows.into_iter()
            .map(|row| {
                let key: String = row.get(0);
                let entry = decode::<V>(&key, row.get(1)).map_err(ReactionError::Failed)?;
                Ok((key, entry))
            })
            .collect()
    }

    /// Up to `limit` entries due at `now`, soonest first, and the next due time after
    /// them, if any.
    pub async fn due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<(Vec<(String, V::Entry)>, Option<DateTime<Utc>>), ReactionError> {
        let client = self.client().await?;
        let schema = live_schema(V::NAME);
        let rows = client
            .query(
                &format!(
                    "SELECT key, entry FROM {schema}.entries WHERE due <= $1 ORDER BY due, key LIMIT $2"
                ),
                &[&now, &limit],
            )
            .await
            .map_err(transient)?;
        let due = rows
            .into_iter()
            .map(|row| {
                let key: String = row.get(0);
                let entry = decode::<V>(&key, row.get(1)).map_err(ReactionError::Failed)?;
                Ok((key, entry))
            })
            .collect::<Result<Vec<_>, ReactionError>>()?;
        let next = client
            .query_one(
                &format!("SELECT min(due) FROM {schema}.entries WHERE due > $1"),
                &[&now],
            )
            .await
            .map_err(transient)?
            .get::<_, Option<DateTime<Utc>>>(0);
        Ok((due, next))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ReactionError> {
        self.pool
            .get()
            .await
            .map_err(|e| ReactionError::Transient(format!("database unavailable: {e}")))
    }
}

fn transient(e: tokio_postgres::Error) -> ReactionError {
    ReactionError::Transient(format!("view database: {e}"))
}
