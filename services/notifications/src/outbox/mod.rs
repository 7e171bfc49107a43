//! The outbox in PostgreSQL: the projection `notifications_outbox` of the
//! `notification` events (schema `proj_notifications_outbox`), read by the sender
//! and the API ([`query`]).
//!
//! - `notifications`: one row per message, its rendered text, its stage (`queued`,
//!   `sending`, `sent`, `retrying`, `given_up`), attempts, last error, the instant of
//!   its last event and the trace context of its queuing;
//! - `history`: every event of every message (attempts begun, sent, failed,
//!   requeued, by whom), for the API's attempt history.
//!
//! A pure function of the events (instants are the events' own): rebuildable. A
//! message `sending` for longer than a setting is shown `interrupted` by the queries.
//!
//! Consumes `NotificationQueued`, `NotificationSending`, `NotificationSent`,
//! `NotificationFailed`, `NotificationRequeued`; emits nothing.

pub mod query;

use ferry_events::{AggregateType, Event, NotificationEvent};
use ferry_infra::event_log::Recorded;
use ferry_infra::projection::{ApplyError, Projection};
use uuid::Uuid;

/// The projection's name; its live schema is [`SCHEMA_NAME`].
pub const NAME: &str = "notifications_outbox";
/// Its live schema.
pub const SCHEMA_NAME: &str = "proj_notifications_outbox";

const SCHEMA: &str = "
CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    correlation_id uuid NOT NULL,
    recipient text NOT NULL,
    audience text NOT NULL,
    locale text NOT NULL,
    template text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    cause_event_id uuid NOT NULL,
    stage text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    queued_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    sent_at timestamptz,
    traceparent text,
    tracestate text,
    queued_sequence bigint NOT NULL
);
CREATE INDEX notifications_by_stage ON notifications (stage, updated_at);
CREATE INDEX notifications_by_queuing ON notifications (queued_sequence);
CREATE TABLE history (
    notification_id uuid NOT NULL,
    sequence bigint NOT NULL,
    idx integer NOT NULL,
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    attempt integer,
    detail text,
    PRIMARY KEY (notification_id, sequence, idx)
);
";

/// The outbox projection.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxProjection;

fn db(e: tokio_postgres::Error) -> ApplyError {
    ApplyError::from(e)
}

impl Projection for OutboxProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> &'static [AggregateType] {
        &[AggregateType::Notification]
    }

    fn schema(&self) -> &'static str {
        SCHEMA
    }

    async fn apply<'a>(
        &'a self,
        tx: &'a tokio_postgres::Transaction<'a>,
        events: &'a [Recorded],
    ) -> Result<(), ApplyError> {
        for recorded in events {
            apply_one(tx, recorded).await?;
        }
        Ok(())
    }
}

async fn apply_one(
    tx: &tokio_postgres::Transaction<'_>,
    recorded: &Recorded,
) -> Result<(), ApplyError> {
    let envelope = &recorded.envelope;
    let Event::Notification(event) = &envelope.event else {
        return Ok(());
    };
    let id: Uuid = envelope.aggregate_id.parse().map_err(|e| {
        ApplyError::Invalid(format!(
            "notification id {:?} is not a uuid: {e}",
            envelope.aggregate_id
        ))
    })?;
    let at = envelope.occurred_at;
    let sequence = i64::try_from(recorded.sequence).unwrap_or(i64::MAX);
    let (attempt, detail): (Option<i32>, Option<String>) = match event {
        NotificationEvent::NotificationQueued(q) => {
            let audience = match q.audience {
                ferry_events::NotificationAudience::Customer => "customer",
                ferry_events::NotificationAudience::Support => "support",
            };
            tx.execute(
                "INSERT INTO notifications (notification_id, correlation_id, recipient, audience,
                    locale, template, subject, body, cause_event_id, stage, queued_at, updated_at,
                    traceparent, tracestate, queued_sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $10, $11, $12, $13)
                 ON CONFLICT (notification_id) DO NOTHING",
                &[
                    &id,
                    &envelope.correlation_id,
                    &q.recipient,
                    &audience,
                    &q.locale,
                    &q.template,
                    &q.subject,
                    &q.body,
                    &q.cause_event_id,
                    &at,
                    &recorded.trace.get("traceparent"),
                    &recorded.trace.get("tracestate"),
                    &sequence,
                ],
            )
            .await
            .map_err(db)?;
            (
                None,
                Some(format!("to {} ({audience}, {})", q.recipient, q.locale)),
            )
        }
        NotificationEvent::NotificationSending(e) => {
            let attempt = i32::try_from(e.attempt).unwrap_or(i32::MAX);
            tx.execute(
                "UPDATE notifications SET stage = 'sending', attempts = GREATEST(attempts, $2), updated_at = $3
                 WHERE notification_id = $1",
                &[&id, &attempt, &at],
            )
            .await
            .map_err(db)?;
            (Some(attempt), None)
        }
        NotificationEvent::NotificationSent(e) => {
            let attempt = i32::try_from(e.attempt).unwrap_or(i32::MAX);
            tx.execute(
                "UPDATE notifications SET stage = 'sent', sent_at = $2, updated_at = $3, last_error = NULL
                 WHERE notification_id = $1",
                &[&id, &e.sent_at, &at],
            )
            .await
            .map_err(db)?;
            (Some(attempt), None)
        }
        NotificationEvent::NotificationFailed(e) => {
            let attempt = i32::try_from(e.attempt).unwrap_or(i32::MAX);
            let stage = if e.will_retry { "retrying" } else { "given_up" };
            tx.execute(
                "UPDATE notifications SET stage = $2, last_error = $3, updated_at = $4
                 WHERE notification_id = $1",
                &[&id, &stage, &e.reason, &at],
            )
            .await
            .map_err(db)?;
            (Some(attempt), Some(e.reason.clone()))
        }
        NotificationEvent::NotificationRequeued(e) => {
            tx.execute(
                "UPDATE notifications SET stage = 'queued', updated_at = $2
                 WHERE notification_id = $1",
                &[&id, &at],
            )
            .await
            .map_err(db)?;
            (None, Some(e.reason.clone()))
        }
    };
    let idx = i32::try_from(recorded.index).unwrap_or(i32::MAX);
    tx.execute(
        "INSERT INTO history (notification_id, sequence, idx, event_type, occurred_at, actor, attempt, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING",
        &[
            &id,
            &sequence,
            &idx,
            &envelope.event_type(),
            &at,
            &envelope.actor.to_string(),
            &attempt,
            &detail,
        ],
    )
    .await
    .map_err(db)?;
    Ok(())
}
