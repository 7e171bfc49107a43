//! Feeds one projection from a durable consumer, batch by batch.
//!
//! Only one runner per projection is active at a time (a PostgreSQL session lock);
//! others wait as standbys. At start the runner makes sure its schema exists (rebuilding
//! it when the projection's definition changed), then recreates its durable consumer at
//! the checkpoint + 1: PostgreSQL's checkpoint is the truth, the consumer only delivers.
//! Each batch is one transaction: rows and checkpoint together, acknowledged after
//! commit; events at or below the checkpoint (redeliveries) are skipped.

use super::status::{ProjectionState, StatusBoard};
use super::{ApplyError, Projection, ProjectionError, live_schema, rebuild, store};
use crate::event_log::{EventLog, ReadError, Recorded};
use crate::metrics::{ProjectionMetrics, global};
use deadpool_postgres::Pool;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a runner batches and retries.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Most events applied in one transaction while running live.
    pub batch_size: usize,
    /// Events per transaction when rebuilding from the log: large, so that each row is
    /// written once for many events.
    pub rebuild_batch_size: usize,
    /// How long the server waits for an acknowledgement before redelivering.
    pub ack_wait: Duration,
    /// Attempts at an event that fails for a reason other than the connection, before
    /// the projection stalls on it.
    pub apply_attempts: u32,
    /// Pause between attempts (doubled each time, up to ten times).
    pub retry_backoff: Duration,
    /// While stalled, how often the failing event is tried again.
    pub stalled_retry: Duration,
    /// How often the lag is measured while idle.
    pub lag_interval: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            rebuild_batch_size: 50_000,
            ack_wait: Duration::from_secs(30),
            apply_attempts: 5,
            retry_backoff: Duration::from_millis(100),
            stalled_retry: Duration::from_secs(60),
            lag_interval: Duration::from_secs(5),
        }
    }
}

/// Runs one projection until shutdown.
pub struct ProjectionRunner<P: Projection> {
    projection: Arc<P>,
    log: EventLog,
    pool: Pool,
    settings: RunnerSettings,
    board: StatusBoard,
}

/// How applying a batch ended.
enum BatchOutcome {
    /// Everything applied; the checkpoint is at this sequence.
    Applied(u64),
    /// Stopped by shutdown before the batch was applied.
    Interrupted,
    /// The event at this sequence cannot be applied; events before it were.
    Stalled {
        sequence: u64,
        error: String,
        applied_through: Option<u64>,
    },
}

impl<P: Projection> ProjectionRunner<P> {
    /// A runner for `projection`, reporting on `board`.
    pub fn new(
        projection: Arc<P>,
        log: EventLog,
        pool: Pool,
        settings: RunnerSettings,
        board: StatusBoard,
    ) -> Self {
        Self {
            projection,
            log,
            pool,
            settings,
            board,
        }
    }

    fn name(&self) -> &'static str {
        self.projection.name()
    }

    fn consumer_name(&self) -> String {
        format!("proj_{}", self.name())
    }

    /// Runs until `shutdown` is cancelled. Connection trouble with NATS or PostgreSQL is
    /// waited out; an error is returned only for a projection that cannot work at all.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ProjectionError> {
        let name = self.name();
        store::validate_name(name)?;
        self.board
            .update(name, |s| s.state = ProjectionState::Starting);
        loop {
            // Held for as long as this runner is the active one; released when dropped.
            let leader = match self.become_leader(&shutdown).await {
                Ok(Some(leader)) => leader,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(projection = name, error = %e, "cannot take the lead; retrying");
                    if !pause(&shutdown, Duration::from_secs(2)).await {
                        break;
                    }
                    continue;
                }
            };
            match self.consume(&shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(projection = name, error = %e, "projection interrupted; resuming from its checkpoint");
                    drop(leader);
                    if !pause(&shutdown, Duration::from_secs(2)).await {
                        break;
                    }
                }
            }
        }
        self.board
            .update(name, |s| s.state = ProjectionState::Stopped);
        tracing::info!(projection = name, "projection stopped");
        Ok(())
    }

    /// Consumes from the checkpoint on, until shutdown (Ok) or trouble (Err).
    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), ProjectionError> {
        let name = self.name();
        let checkpoint = self.prepare_schema().await?;
        self.board.update(name, |s| {
            s.state = ProjectionState::Running;
            s.checkpoint = checkpoint;
        });
        let labels = ProjectionMetrics::labels(name);
        global()
            .projections
            .checkpoint
            .get_or_create(&labels)
            .set(gauge(checkpoint));
        global().projections.stalled.get_or_create(&labels).set(0);

        let consumer = self
            .log
            .reset_durable_consumer(
                &self.consumer_name(),
                self.log.filters_for(self.projection.aggregate_types()),
                checkpoint + 1,
                self.settings.ack_wait,
            )
            .await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.settings.batch_size)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        let mut batches = messages.ready_chunks(self.settings.batch_size);
        let mut lag_timer = tokio::time::interval(self.settings.lag_interval);
        tracing::info!(projection = name, checkpoint, "projection running");

        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = lag_timer.tick() => { self.measure_lag().await; continue; }
                batch = batches.next() => batch,
            };
            let Some(batch) = batch else {
                return Err(ReadError::Unavailable("consumer stream ended".into()).into());
            };
            let mut messages = Vec::with_capacity(batch.len());
            for item in batch {
                match item {
                    Ok(message) => messages.push(message),
                    // Missed heartbeats and the like: the stream carries on by itself.
                    Err(e) => tracing::debug!(projection = name, error = %e, "consumer hiccup"),
                }
            }
            if messages.is_empty() {
                continue;
            }
            match self.apply_messages(&messages, shutdown).await {
                BatchOutcome::Applied(sequence) => self.acknowledge(&messages, sequence).await,
                BatchOutcome::Interrupted => return Ok(()),
                BatchOutcome::Stalled {
                    sequence,
                    error,
                    applied_through,
                } => {
                    if let Some(through) = applied_through {
                        self.acknowledge(&messages, through).await;
                    }
                    if !self
                        .wait_while_stalled(&messages, sequence, error, shutdown)
                        .await
                    {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits until this process holds the projection's leader lock (None on shutdown).
    async fn become_leader(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<deadpool_postgres::ClientWrapper>, ProjectionError> {
        let key = store::leader_lock_key(self.name());
        let mut announced = false;
        loop {
            let client = self.pool.get().await?;
            let row = client
                .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key])
                .await?;
            if row.get::<_, bool>(0) {
                // A session lock lives as long as its connection: take this one out of the
                // pool, so that dropping it closes the session and releases the lock.
                return Ok(Some(deadpool_postgres::Object::take(client)));
            }
            drop(client);
            if !announced {
                tracing::info!(
                    projection = self.name(),
                    "another runner is active; standing by"
                );
                announced = true;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Makes sure the live schema exists and matches the projection's definition;
    /// returns its checkpoint.
    async fn prepare_schema(&self) -> Result<u64, ProjectionError> {
        let schema = live_schema(self.name());
        let mut client = self.pool.get().await?;
        match store::schema_state(&**client, &schema, self.projection.schema()).await? {
            Some(state) if state.current_definition => Ok(state.checkpoint),
            Some(_) => {
                tracing::info!(
                    projection = self.name(),
                    "definition changed: rebuilding from the log"
                );
                self.board
                    .update(self.name(), |s| s.state = ProjectionState::Rebuilding);
                let report = rebuild::rebuild(
                    self.projection.as_ref(),
                    &self.log,
                    &self.pool,
                    self.settings.rebuild_batch_size,
                )
                .await?;
                Ok(report.checkpoint)
            }
            None => {
                store::create_schema(&mut client, &schema, self.projection.as_ref()).await?;
                Ok(0)
            }
        }
    }

    /// Applies a batch, retrying; isolates an event that keeps failing.
    async fn apply_messages(
        &self,
        messages: &[async_nats::jetstream::Message],
        shutdown: &CancellationToken,
    ) -> BatchOutcome {
        // Per message: a message carries the events of one command, which land together.
        let mut events: Vec<Recorded> = Vec::with_capacity(messages.len());
        let mut commands: Vec<std::ops::Range<usize>> = Vec::with_capacity(messages.len());
        let mut undecodable = None;
        for message in messages {
            match Recorded::from_message(message) {
                Ok(carried) => {
                    commands.push(events.len()..events.len() + carried.len());
                    events.extend(carried);
                }
                Err(e) => {
                    let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                    undecodable = Some((sequence, e.to_string()));
                    break;
                }
            }
        }
        let mut applied_through = None;
        if !events.is_empty() {
            match self.apply_with_retries(&events, shutdown).await {
                Ok(Some(sequence)) => applied_through = Some(sequence),
                Ok(None) => return BatchOutcome::Interrupted,
                Err(_) if commands.len() > 1 => {
                    // Find the message at fault: apply one at a time; those before it land.
                    for command in commands {
                        let command = &events[command];
                        match self.apply_with_retries(command, shutdown).await {
                            Ok(Some(sequence)) => applied_through = Some(sequence),
                            Ok(None) => return BatchOutcome::Interrupted,
                            Err(error) => {
                                return BatchOutcome::Stalled {
                                    sequence: command.first().map_or(0, |e| e.sequence),
                                    error: error.to_string(),
                                    applied_through,
                                };
                            }
                        }
                    }
                }
                Err(error) => {
                    return BatchOutcome::Stalled {
                        sequence: events[0].sequence,
                        error: error.to_string(),
                        applied_through,
                    };
                }
            }
        }
        match undecodable {
            Some((sequence, error)) => BatchOutcome::Stalled {
                sequence,
                error,
                applied_through,
            },
            None => applied_through.map_or(BatchOutcome::Interrupted, BatchOutcome::Applied),
        }
    }

    /// Applies `events` in one transaction. Transient failures are retried until they pass
    /// or shutdown (Ok(None)); others `apply_attempts` times.
    async fn apply_with_retries(
        &self,
        events: &[Recorded],
        shutdown: &CancellationToken,
    ) -> Result<Option<u64>, ApplyError> {
        let mut failures = 0;
        let mut attempt = 0;
        let backoff = crate::backoff::Backoff::new(
            self.settings.retry_backoff,
            self.settings.retry_backoff.saturating_mul(10),
        );
        loop {
            match self.apply_once(events).await {
                Ok(sequence) => return Ok(Some(sequence)),
                Err(error) if error.is_transient() => {
                    tracing::warn!(projection = self.name(), %error, "database unavailable; retrying");
                }
                Err(error) => {
                    failures += 1;
                    if failures >= self.settings.apply_attempts {
                        return Err(error);
                    }
                    tracing::debug!(projection = self.name(), %error, failures, "batch failed; retrying");
                }
            }
            attempt += 1;
            if !backoff.wait(attempt, shutdown).await {
                return Ok(None);
            }
        }
    }

    /// One transaction: lock, read the checkpoint, apply what is past it, move it.
    async fn apply_once(&self, events: &[Recorded]) -> Result<u64, ApplyError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await?;
        // The commit need not wait for the disk: a crash of PostgreSQL loses the last
        // transactions whole, checkpoint included, and the runner starts again from
        // the checkpoint it then finds (its consumer is reset there), folding the
        // same events into the same rows. The log, not this table, is what is kept.
        let checkpoint = store::begin_write(
            &tx,
            &live_schema(self.name()),
            &store::write_lock_key(self.name()),
            store::Commit::Asynchronous,
        )
        .await?;
        let fresh_from = events.partition_point(|e| e.sequence <= checkpoint);
        let fresh = &events[fresh_from..];
        let Some(last) = fresh.last() else {
            // All already applied: redeliveries, or events a rebuild swapped in with
            // its tables. The stored checkpoint is where the projection is; say so,
            // or readiness would report a lag that is not there.
            self.show_checkpoint(checkpoint);
            return Ok(checkpoint);
        };
        self.projection.apply(&tx, fresh).await?;
        store::set_checkpoint(&tx, last.sequence).await?;
        tx.commit().await?;
        let labels = ProjectionMetrics::labels(self.name());
        global()
            .projections
            .applied
            .get_or_create(&labels)
            .inc_by(fresh.len() as u64);
        self.show_checkpoint(last.sequence);
        Ok(last.sequence)
    }

    /// Publishes the checkpoint reached: metrics and the status board (readiness).
    fn show_checkpoint(&self, sequence: u64) {
        let labels = ProjectionMetrics::labels(self.name());
        global()
            .projections
            .checkpoint
            .get_or_create(&labels)
            .set(gauge(sequence));
        self.board.update(self.name(), |s| s.checkpoint = sequence);
    }

    /// Acknowledges every delivered message up to `sequence` (acknowledge-all policy).
    async fn acknowledge(&self, messages: &[async_nats::jetstream::Message], sequence: u64) {
        let last = messages.iter().rev().find(|m| {
            m.info()
                .map(|i| i.stream_sequence <= sequence)
                .unwrap_or(false)
        });
        if let Some(message) = last {
            // A lost ack only means a redelivery, which the checkpoint skips.
            if let Err(e) = message.ack().await {
                tracing::debug!(projection = self.name(), error = %e, "ack failed; the batch will be redelivered and skipped");
            }
        }
    }

    /// Stalled on an event: record it, surface it, try it again now and then. Returns
    /// false on shutdown, true once the batch got through.
    async fn wait_while_stalled(
        &self,
        messages: &[async_nats::jetstream::Message],
        mut sequence: u64,
        mut error: String,
        shutdown: &CancellationToken,
    ) -> bool {
        let name = self.name();
        let labels = ProjectionMetrics::labels(name);
        global().projections.stalled.get_or_create(&labels).set(1);
        loop {
            let event_type = messages
                .iter()
                .find(|m| {
                    m.info()
                        .map(|i| i.stream_sequence == sequence)
                        .unwrap_or(false)
                })
                .and_then(|m| m.headers.as_ref())
                .and_then(|h| {
                    h.get(crate::event_log::headers::EVENT_TYPE)
                        .map(|v| v.as_str().to_owned())
                });
            tracing::error!(projection = name, sequence, event_type, %error, "projection stalled: event cannot be applied");
            if let Ok(client) = self.pool.get().await
                && let Err(e) = store::record_failure(
                    &**client,
                    &live_schema(name),
                    sequence,
                    event_type.as_deref(),
                    &error,
                )
                .await
            {
                tracing::warn!(projection = name, error = %e, "cannot record the failure");
            }
            self.board.update(name, |s| {
                s.state = ProjectionState::Stalled {
                    sequence,
                    error: error.clone(),
                }
            });
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(self.settings.stalled_retry) => {}
            }
            let remaining: Vec<_> = messages
                .iter()
                .filter(|m| {
                    m.info()
                        .map(|i| i.stream_sequence >= sequence)
                        .unwrap_or(false)
                })
                .cloned()
                .collect();
            match self.apply_messages(&remaining, shutdown).await {
                BatchOutcome::Applied(through) => {
                    self.acknowledge(messages, through).await;
                    global().projections.stalled.get_or_create(&labels).set(0);
                    self.board
                        .update(name, |s| s.state = ProjectionState::Running);
                    tracing::info!(projection = name, sequence, "projection resumed");
                    return true;
                }
                BatchOutcome::Interrupted => return false,
                BatchOutcome::Stalled {
                    sequence: s,
                    error: e,
                    applied_through,
                } => {
                    if let Some(through) = applied_through {
                        self.acknowledge(messages, through).await;
                    }
                    sequence = s;
                    error = e;
                }
            }
        }
    }

    async fn measure_lag(&self) {
        match self.log.consumer_lag(&self.consumer_name()).await {
            Ok(lag) => {
                global()
                    .projections
                    .lag
                    .get_or_create(&ProjectionMetrics::labels(self.name()))
                    .set(gauge(lag));
                self.board.update(self.name(), |s| s.lag = Some(lag));
            }
            Err(e) => tracing::debug!(projection = self.name(), error = %e, "cannot measure lag"),
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> ApplyError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => ApplyError::Database(e),
        other => ApplyError::Unavailable(format!("connection pool: {other}")),
    }
}

/// Sleeps unless shut down first; false on shutdown.
async fn pause(shutdown: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
    }
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
