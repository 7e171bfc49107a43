//! Watching a running replication: polling until done, and noticing a subscription
//! that stopped or whose workers keep failing.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::health::subscription;
use super::session::Session;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;

/// The first pause between two polls of the replication's progress: a frozen drain
/// usually ends within milliseconds, and each poll's wait is downtime.
const FIRST_POLL: Duration = Duration::from_millis(10);
/// The longest pause: the pauses double up to it, so that a wait of minutes (an
/// initial copy) does not query the servers a hundred times a second.
const MAX_POLL: Duration = Duration::from_millis(100);

/// How many worker errors a wait tolerates (a worker restarts after
/// `wal_retrieve_retry_interval`, 5 s by default) before reporting the replication
/// as failing: a lost connection is retried, a schema change at the source is not.
const MAX_WORKER_ERRORS: i64 = 3;

pub(super) fn missing_slot(endpoint: &Endpoint, object: &str) -> DbError {
    DbError::Query {
        endpoint: endpoint.display(),
        context: "logical replication".to_owned(),
        reason: format!("replication slot {object} is missing at the source"),
    }
}

/// The pauses of a poll: from [`FIRST_POLL`], doubling up to [`MAX_POLL`].
pub(super) struct Pauses(Duration);

impl Pauses {
    pub(super) fn new() -> Self {
        Self(FIRST_POLL)
    }

    /// The next pause.
    pub(super) fn next(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (pause * 2).min(MAX_POLL);
        pause
    }
}

/// Polls `done` until it says so, the pauses growing from [`FIRST_POLL`] to
/// [`MAX_POLL`]; [`DbError::Interrupted`] as soon as `cancel` fires.
pub(super) async fn poll<F, Fut>(cancel: &CancellationToken, mut done: F) -> Result<(), DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, DbError>>,
{
    let mut pauses = Pauses::new();
    loop {
        tokio::select! {
            finished = done() => {
                if finished? {
                    return Ok(());
                }
            }
            () = cancel.cancelled() => return Err(DbError::Interrupted),
        }
        tokio::select! {
            () = tokio::time::sleep(pauses.next()) => {}
            () = cancel.cancelled() => return Err(DbError::Interrupted),
        }
    }
}

/// Notices a subscription that stopped or whose workers keep failing, so that a wait
/// does not last forever: the errors themselves are only in the destination's log.
pub(super) struct Watchdog {
    object: String,
    /// Worker errors counted so far (PostgreSQL 15 or later), if counted.
    baseline: Option<i64>,
}

impl Watchdog {
    pub(super) async fn new(staging: &Session, object: &str) -> Result<Self, DbError> {
        let counted: bool = staging
            .row(
                "looking for subscription statistics",
                "SELECT to_regclass('pg_catalog.pg_stat_subscription_stats') IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        let mut watchdog = Self {
            object: object.to_owned(),
            baseline: None,
        };
        if counted {
            watchdog.baseline = Some(watchdog.errors(staging).await?);
        }
        Ok(watchdog)
    }

    async fn errors(&self, staging: &Session) -> Result<i64, DbError> {
        Ok(staging
            .row(
                "reading the subscription's errors",
                "SELECT coalesce(sum(apply_error_count + sync_error_count), 0)::bigint
                   FROM pg_stat_subscription_stats WHERE subname = $1",
                &[&self.object],
            )
            .await?
            .get(0))
    }

    pub(super) async fn check(&self, staging: &Session) -> Result<(), DbError> {
        let failing = |reason: String| DbError::Query {
            endpoint: staging.endpoint.display(),
            context: "logical replication".to_owned(),
            reason,
        };
        match subscription(staging, &self.object).await? {
            Some(sub) if sub.enabled => {}
            _ => {
                return Err(failing(format!(
                    "subscription {} is gone or disabled",
                    self.object
                )));
            }
        }
        if let Some(baseline) = self.baseline {
            let errors = self.errors(staging).await? - baseline;
            if errors >= MAX_WORKER_ERRORS {
                return Err(failing(format!(
                    "the subscription's workers failed {errors} times (see the destination \
                     server's log: schema changed at the source, replication refused?)"
                )));
            }
        }
        Ok(())
    }
}
