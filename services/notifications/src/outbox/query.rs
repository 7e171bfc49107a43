//! Reading the outbox (schema `proj_notifications_outbox`): the messages due for an
//! attempt, the lists and counts the API serves, and what waits for support.
//!
//! The answer types are public (serde and OpenAPI) for the CLI to decode.

use super::SCHEMA_NAME;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ferry_infra::backoff::Backoff;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// The outbox could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No connection to PostgreSQL.
    #[error("the outbox database is unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A query failed (the outbox not created yet, a connection lost).
    #[error("the outbox cannot be read: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// Where a message is, as support sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Waiting for its first attempt, or put back by support.
    Queued,
    /// An attempt is under way.
    Sending,
    /// An attempt began long ago and its outcome was never recorded (the sender
    /// stopped in between): the message may have left. Not sent again until support
    /// checks and puts it back.
    Interrupted,
    /// Handed to the mail system.
    Sent,
    /// An attempt failed; another will be made.
    Retrying,
    /// Every attempt failed: support must act (then put it back).
    GivenUp,
}

impl NotificationState {
    /// Every state.
    pub const ALL: [NotificationState; 6] = [
        Self::Queued,
        Self::Sending,
        Self::Interrupted,
        Self::Sent,
        Self::Retrying,
        Self::GivenUp,
    ];

    /// The stage stored for it.
    fn stage(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending | Self::Interrupted => "sending",
            Self::Sent => "sent",
            Self::Retrying => "retrying",
            Self::GivenUp => "given_up",
        }
    }

    fn of(stage: &str, updated_at: DateTime<Utc>, cutoff: DateTime<Utc>) -> Self {
        match stage {
            "queued" => Self::Queued,
            "sending" if updated_at < cutoff => Self::Interrupted,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "retrying" => Self::Retrying,
            _ => Self::GivenUp,
        }
    }
}

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The customer owning the server.
    Customer,
    /// Support.
    Support,
}

/// A message of the outbox, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationSummary {
    /// The message's id.
    pub notification_id: Uuid,
    /// The migration it is about.
    pub correlation_id: Uuid,
    /// Where it goes.
    pub recipient: String,
    /// Customer or support.
    pub audience: Audience,
    /// Its language, `en` or `fr`.
    pub locale: String,
    /// The template it was written from.
    pub template: String,
    /// Its subject line.
    pub subject: String,
    /// Where it is.
    pub state: NotificationState,
    /// Attempts begun so far.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was handed to the mail system.
    pub sent_at: Option<DateTime<Utc>>,
    /// The event it tells about.
    pub cause_event_id: Uuid,
}

/// How many messages are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationCounts {
    /// Waiting for an attempt.
    pub queued: u64,
    /// An attempt under way.
    pub sending: u64,
    /// An attempt never recorded: to be checked by support.
    pub interrupted: u64,
    /// Sent.
    pub sent: u64,
    /// Failed, to be tried again.
    pub retrying: u64,
    /// Given up: support must act.
    pub given_up: u64,
}

/// A page of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    /// The messages, newest first.
    pub notifications: Vec<NotificationSummary>,
    /// Counts over the whole outbox.
    pub counts: NotificationCounts,
    /// The page size asked for.
    pub limit: u32,
    /// How many were skipped.
    pub offset: u32,
}

/// One event of a message's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationHistoryEntry {
    /// `NotificationQueued`, `NotificationSending` (an attempt began),
    /// `NotificationSent`, `NotificationFailed` or `NotificationRequeued`.
    pub event: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`system:notifications`, or the support person who put it back).
    pub actor: String,
    /// The attempt it is about.
    pub attempt: Option<u32>,
    /// The failure's reason, the requeue's reason, or the recipient when queued.
    pub detail: Option<String>,
}

/// A message with its text and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationDetail {
    /// The message as listed.
    #[serde(flatten)]
    pub summary: NotificationSummary,
    /// Its plain-text body.
    pub body: String,
    /// Its life, oldest first: every attempt and its outcome.
    pub history: Vec<NotificationHistoryEntry>,
}

/// A message due for an attempt, as the sender needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMessage {
    /// The message.
    pub notification_id: Uuid,
    /// Its migration.
    pub correlation_id: Uuid,
    /// Its recipient.
    pub recipient: String,
    /// Its language.
    pub locale: String,
    /// Its template.
    pub template: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Attempts begun so far: the next is one more.
    pub attempts: u32,
    /// The trace context of its queuing.
    pub traceparent: Option<String>,
    /// Its `tracestate`.
    pub tracestate: Option<String>,
}

const SUMMARY_COLUMNS: &str =
    "notification_id, correlation_id, recipient, audience, locale, template, subject,
    stage, attempts, last_error, queued_at, updated_at, sent_at, cause_event_id";

fn to_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn summary(row: &tokio_postgres::Row, cutoff: DateTime<Utc>) -> NotificationSummary {
    let audience: String = row.get("audience");
    let stage: String = row.get("stage");
    let updated_at: DateTime<Utc> = row.get("updated_at");
    NotificationSummary {
        notification_id: row.get("notification_id"),
        correlation_id: row.get("correlation_id"),
        recipient: row.get("recipient"),
        audience: if audience == "support" {
            Audience::Support
        } else {
            Audience::Customer
        },
        locale: row.get("locale"),
        template: row.get("template"),
        subject: row.get("subject"),
        state: NotificationState::of(&stage, updated_at, cutoff),
        attempts: to_u32(row.get("attempts")),
        last_error: row.get("last_error"),
        queued_at: row.get("queued_at"),
        updated_at,
        sent_at: row.get("sent_at"),
        cause_event_id: row.get("cause_event_id"),
    }
}

/// The instant before which an attempt still `sending` counts as interrupted.
pub fn cutoff(now: DateTime<Utc>, interrupted_after: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(interrupted_after).unwrap_or(chrono::Duration::MAX)
}

/// The stage condition of a state filter, with the cutoff as `$1`.
fn state_condition(state: NotificationState) -> String {
    let stage = state.stage();
    match state {
        NotificationState::Sending => format!("stage = '{stage}' AND updated_at >= $1"),
        NotificationState::Interrupted => format!("stage = '{stage}' AND updated_at < $1"),
        _ => format!("stage = '{stage}' AND $1::timestamptz IS NOT NULL"),
    }
}

/// A page of messages, newest first, optionally in one state.
pub async fn list(
    pool: &Pool,
    state: Option<NotificationState>,
    limit: u32,
    offset: u32,
    cutoff: DateTime<Utc>,
) -> Result<NotificationList, QueryError> {
    let client = pool.get().await?;
    let condition = state
        .map(state_condition)
        .unwrap_or_else(|| "$1::timestamptz IS NOT NULL".to_owned());
    let rows = client
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM {SCHEMA_NAME}.notifications WHERE {condition}
                 ORDER BY queued_sequence DESC, notification_id LIMIT $2 OFFSET $3"
            ),
            &[&cutoff, &i64::from(limit), &i64::from(offset)],
        )
        .await?;
    let notifications = rows.iter().map(|row| summary(row, cutoff)).collect();
    let counts = counts_on(&client, cutoff).await?;
    Ok(NotificationList {
        notifications,
        counts,
        limit,
        offset,
    })
}

async fn counts_on(
    client: &deadpool_postgres::Object,
    cutoff: DateTime<Utc>,
) -> Result<NotificationCounts, QueryError> {
    let rows = client
        .query(
            &format!(
                "SELECT stage, (stage = 'sending' AND updated_at < $1) AS interrupted, count(*)
                 FROM {SCHEMA_NAME}.notifications GROUP BY 1, 2"
            ),
            &[&cutoff],
        )
        .await?;
    let mut counts = NotificationCounts::default();
    for row in rows {
        let stage: String = row.get(0);
        let interrupted: bool = row.get(1);
        let n = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
        let slot = match stage.as_str() {
            "queued" => &mut counts.queued,
            "sending" if interrupted => &mut counts.interrupted,
            "sending" => &mut counts.sending,
            "sent" => &mut counts.sent,
            "retrying" => &mut counts.retrying,
            _ => &mut counts.given_up,
        };
        *slot += n;
    }
    Ok(counts)
}

/// How many messages are in each state.
pub async fn counts(pool: &Pool, cutoff: DateTime<Utc>) -> Result<NotificationCounts, QueryError> {
    let client = pool.get().await?;
    counts_on(&client, cutoff).await
}

/// One message with its body and history, if there is such a message.
pub async fn get(
    pool: &Pool,
    id: Uuid,
    cutoff: DateTime<Utc>,
) -> Result<Option<NotificationDetail>, QueryError> {
    let client = pool.get().await?;
    let Some(row) = client
        .query_opt(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, body FROM {SCHEMA_NAME}.notifications WHERE notification_id = $1"
            ),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let history = client
        .query(
            &format!(
                "SELECT event_type, occurred_at, actor, attempt, detail FROM {SCHEMA_NAME}.history
                 WHERE notification_id = $1 ORDER BY sequence, idx"
            ),
            &[&id],
        )
        .await?
        .iter()
        .map(|h| NotificationHistoryEntry {
            event: h.get(0),
            at: h.get(1),
            actor: h.get(2),
            attempt: h.get::<_, Option<i32>>(3).map(to_u32),
            detail: h.get(4),
        })
        .collect();
    Ok(Some(NotificationDetail {
        summary: summary(&row, cutoff),
        body: row.get("body"),
        history,
    }))
}

/// Messages due for an attempt at `now`: queued ones, and failed ones whose backoff
/// has passed (the delay before retry n is `backoff.delay(n)` after failure n),
/// oldest first.
pub async fn due(
    pool: &Pool,
    now: DateTime<Utc>,
    backoff: Backoff,
    limit: u32,
) -> Result<Vec<DueMessage>, QueryError> {
    let client = pool.get().await?;
    let first_ms = i64::try_from(backoff.first.as_millis()).unwrap_or(i64::MAX);
    let max_ms = i64::try_from(backoff.max.as_millis()).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &format!(
                "SELECT notification_id, correlation_id, recipient, locale, template, subject, body,
                        attempts, traceparent, tracestate
                 FROM {SCHEMA_NAME}.notifications
                 WHERE stage = 'queued'
                    OR (stage = 'retrying' AND updated_at + make_interval(secs =>
                          LEAST($2::float8 * power(2, LEAST(GREATEST(attempts - 1, 0), 16)), $3::float8) / 1000.0)
                        <= $1)
                 ORDER BY queued_sequence LIMIT $4"
            ),
            &[&now, &(first_ms as f64), &(max_ms as f64), &i64::from(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DueMessage {
            notification_id: row.get(0),
            correlation_id: row.get(1),
            recipient: row.get(2),
            locale: row.get(3),
            template: row.get(4),
            subject: row.get(5),
            body: row.get(6),
            attempts: to_u32(row.get(7)),
            traceparent: row.get(8),
            tracestate: row.get(9),
        })
        .collect())
}

/// How many messages were given up on (every attempt failed): they wait for support.
pub async fn given_up_count(pool: &Pool) -> Result<u64, QueryError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM {SCHEMA_NAME}.notifications WHERE stage = 'given_up'"),
            &[],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// How many attempts were interrupted before `cutoff` (outcome never recorded): they
/// wait for support to check them.
pub async fn interrupted_count(pool: &Pool, cutoff: DateTime<Utc>) -> Result<u64, QueryError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {SCHEMA_NAME}.notifications WHERE stage = 'sending' AND updated_at < $1"
            ),
            &[&cutoff],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}
