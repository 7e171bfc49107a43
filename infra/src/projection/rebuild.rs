//! Rebuilding a projection from the log: replay from sequence 1 into a fresh schema
//! (`proj_<name>__next`), catch up with the live log, then swap it in atomically.
//!
//! The swap takes the projection's write lock, so it never interleaves with a live
//! runner's batch: the runner's next batch reads the new checkpoint and skips what the
//! rebuild already covered. Before swapping, [`Shadow::compare_with_live`] tells whether
//! the rebuilt tables equal the live ones.

use super::{Projection, ProjectionError, live_schema, store};
use crate::event_log::{EventLog, ReadError, Recorded};
use deadpool_postgres::Pool;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildReport {
    /// Events applied.
    pub events: u64,
    /// Stream sequence the rebuilt tables cover.
    pub checkpoint: u64,
    /// Time taken.
    pub elapsed: Duration,
}

impl RebuildReport {
    /// Events applied per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// A rebuilt copy of a projection, not yet live.
pub struct Shadow<'a, P: Projection> {
    projection: &'a P,
    log: &'a EventLog,
    pool: &'a Pool,
    schema: String,
    checkpoint: u64,
    events: u64,
    batch_size: usize,
    started: Instant,
}

/// How one table compares between the live schema and a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableComparison {
    /// Table name.
    pub table: String,
    /// Rows in the live table (None: the table is missing there).
    pub live_rows: Option<i64>,
    /// Rows in the rebuilt table (None: the table is missing there).
    pub rebuilt_rows: Option<i64>,
    /// Rows of the live table with no equal row in the rebuild, and the other way round.
    pub differing_rows: i64,
}

/// Live tables against a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Checkpoint of the live tables.
    pub live_checkpoint: Option<u64>,
    /// Checkpoint of the rebuild.
    pub rebuilt_checkpoint: u64,
    /// Every table of either side.
    pub tables: Vec<TableComparison>,
}

impl Comparison {
    /// True when both sides cover the same events and hold exactly the same rows.
    pub fn is_equal(&self) -> bool {
        self.live_checkpoint == Some(self.rebuilt_checkpoint)
            && self.tables.iter().all(|t| {
                t.live_rows.is_some() && t.live_rows == t.rebuilt_rows && t.differing_rows == 0
            })
    }
}

/// Rebuilds `projection` from the log and swaps the result in.
pub async fn rebuild<P: Projection>(
    projection: &P,
    log: &EventLog,
    pool: &Pool,
    batch_size: usize,
) -> Result<RebuildReport, ProjectionError> {
    build_shadow(projection, log, pool, batch_size)
        .await?
        .swap()
        .await
}

/// Replays the whole log into a fresh schema beside the live one.
pub async fn build_shadow<'a, P: Projection>(
    projection: &'a P,
    log: &'a EventLog,
    pool: &'a Pool,
    batch_size: usize,
) -> Result<Shadow<'a, P>, ProjectionError> {
    store::validate_name(projection.name())?;
    let schema = format!("{}__next", live_schema(projection.name()));
    let mut client = pool.get().await?;
    store::create_schema(&mut client, &schema, projection).await?;
    store::set_logged(&**client, &schema, false).await?;
    drop(client);
    let mut shadow = Shadow {
        projection,
        log,
        pool,
        schema,
        checkpoint: 0,
        events: 0,
        batch_size: batch_size.max(1),
        started: Instant::now(),
    };
    let mut client = pool.get().await?;
    shadow.catch_up_in_batches(&mut client).await?;
    Ok(shadow)
}

impl<P: Projection> Shadow<'_, P> {
    /// The schema holding the rebuild.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Stream sequence the rebuild covers.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    /// Applies everything past the checkpoint, one transaction per batch.
    async fn catch_up_in_batches(
        &mut self,
        client: &mut deadpool_postgres::Object,
    ) -> Result<(), ProjectionError> {
        let mut batches = self.batches().await?;
        while let Some(batch) = batches.recv().await {
            let events = self.decode(batch)?;
            let tx = client.transaction().await?;
            // A crash mid-rebuild restarts it from scratch: no need to wait for each
            // batch to reach the disk (the swap itself is synchronous).
            store::begin_write(
                &tx,
                &self.schema,
                &format!("ferry.projection.rebuild.{}", self.projection.name()),
                store::Commit::Asynchronous,
            )
            .await?;
            self.apply(&tx, &events).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Reads the log past the checkpoint on a task of its own, in full batches, so that
    /// reading and decoding overlap with writing to PostgreSQL.
    async fn batches(
        &self,
    ) -> Result<tokio::sync::mpsc::Receiver<Vec<Result<Recorded, ReadError>>>, ProjectionError>
    {
        let replay = self
            .log
            .replay_filtered(
                self.checkpoint + 1,
                self.log.filters_for(self.projection.aggregate_types()),
            )
            .await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let batch_size = self.batch_size;
        tokio::spawn(async move {
            let mut chunks = std::pin::pin!(replay.chunks(batch_size));
            while let Some(chunk) = chunks.next().await {
                if sender.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }

    fn decode(
        &self,
        batch: Vec<Result<Recorded, crate::event_log::ReadError>>,
    ) -> Result<Vec<Recorded>, ProjectionError> {
        batch
            .into_iter()
            .map(|item| {
                item.map_err(|e| match e {
                    crate::event_log::ReadError::Decode { sequence, source } => {
                        ProjectionError::RebuildFailed {
                            projection: self.projection.name().to_owned(),
                            sequence,
                            reason: source.to_string(),
                        }
                    }
                    crate::event_log::ReadError::Corrupt { sequence, reason } => {
                        ProjectionError::RebuildFailed {
                            projection: self.projection.name().to_owned(),
                            sequence,
                            reason,
                        }
                    }
                    other => ProjectionError::Read(other),
                })
            })
            .collect()
    }

    async fn apply(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        events: &[Recorded],
    ) -> Result<(), ProjectionError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        self.projection
            .apply(tx, events)
            .await
            .map_err(|e| ProjectionError::RebuildFailed {
                projection: self.projection.name().to_owned(),
                sequence: events[0].sequence,
                reason: e.to_string(),
            })?;
        store::set_checkpoint(tx, last.sequence).await?;
        self.checkpoint = last.sequence;
        self.events += events.len() as u64;
        Ok(())
    }

    /// Compares the rebuilt tables with the live ones, row by row.
    pub async fn compare_with_live(&self) -> Result<Comparison, ProjectionError> {
        let client = self.pool.get().await?;
        let live = live_schema(self.projection.name());
        let live_checkpoint = store::schema_state(&**client, &live, self.projection.schema())
            .await?
            .map(|s| s.checkpoint);
        let live_tables = store::projection_tables(&**client, &live).await?;
        let rebuilt_tables = store::projection_tables(&**client, &self.schema).await?;
        let mut names: Vec<&String> = live_tables.iter().chain(&rebuilt_tables).collect();
        names.sort();
        names.dedup();
        let mut tables = Vec::with_capacity(names.len());
        for table in names {
            let count = |schema: &str| format!("SELECT count(*) FROM {schema}.{table}");
            let (live_rows, rebuilt_rows, differing_rows) = match (
                live_tables.contains(table),
                rebuilt_tables.contains(table),
            ) {
                (true, true) => {
                    let row = client
                        .query_one(
                            &format!(
                                "SELECT ({}), ({}), (SELECT count(*) FROM (
                                    (SELECT * FROM {live}.{table} EXCEPT ALL SELECT * FROM {rebuilt}.{table})
                                    UNION ALL
                                    (SELECT * FROM {rebuilt}.{table} EXCEPT ALL SELECT * FROM {live}.{table})) d)",
                                count(&live),
                                count(&self.schema),
                                rebuilt = self.schema,
                            ),
                            &[],
                        )
                        .await?;
                    (Some(row.get(0)), Some(row.get(1)), row.get(2))
                }
                (true, false) => {
                    let n: i64 = client.query_one(&count(&live), &[]).await?.get(0);
                    (Some(n), None, n)
                }
                (false, _) => {
                    let n: i64 = client.query_one(&count(&self.schema), &[]).await?.get(0);
                    (None, Some(n), n)
                }
            };
            tables.push(TableComparison {
                table: table.clone(),
                live_rows,
                rebuilt_rows,
                differing_rows,
            });
        }
        Ok(Comparison {
            live_checkpoint,
            rebuilt_checkpoint: self.checkpoint,
            tables,
        })
    }

    /// Catches up with the log and makes the rebuild the live read model, atomically.
    pub async fn swap(mut self) -> Result<RebuildReport, ProjectionError> {
        let mut client = self.pool.get().await?;
        // Most of the way without blocking the live runner...
        self.catch_up_in_batches(&mut client).await?;
        store::set_logged(&**client, &self.schema, true).await?;
        // ...the rest under the projection's write lock, in the transaction that swaps.
        let name = self.projection.name();
        let live = live_schema(name);
        let tx = client.transaction().await?;
        store::begin_write(
            &tx,
            &self.schema,
            &store::write_lock_key(name),
            store::Commit::Synchronous,
        )
        .await?;
        let mut batches = self.batches().await?;
        while let Some(batch) = batches.recv().await {
            let events = self.decode(batch)?;
            self.apply(&tx, &events).await?;
        }
        let old = format!("{live}__old");
        tx.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {old} CASCADE;
             DO $$ BEGIN
               IF EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = '{live}') THEN
                 EXECUTE 'ALTER SCHEMA {live} RENAME TO {old}';
               END IF;
             END $$;
             ALTER SCHEMA {next} RENAME TO {live};
             DROP SCHEMA IF EXISTS {old} CASCADE;",
            next = self.schema,
        ))
        .await?;
        tx.commit().await?;
        let report = RebuildReport {
            events: self.events,
            checkpoint: self.checkpoint,
            elapsed: self.started.elapsed(),
        };
        tracing::info!(
            projection = name,
            events = report.events,
            checkpoint = report.checkpoint,
            rate = report.rate(),
            "projection rebuilt and swapped in"
        );
        Ok(report)
    }

    /// Drops the rebuild without touching the live read model.
    pub async fn discard(self) -> Result<(), ProjectionError> {
        let client = self.pool.get().await?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await?;
        Ok(())
    }
}
