//! The sender: delivers the outbox's due messages, one attempt at a time.
//!
//! For each due message (queued, or failed with its backoff passed): record
//! `NotificationSending` for the next attempt (optimistic, its command id derived
//! from the message and the attempt) and only then hand it over; record
//! `NotificationSent`, or `NotificationFailed` (retried with backoff until the last
//! attempt, then given up). An attempt already begun (by another sender, or by this
//! one before it died) is never made again: its outcome is unknown, the message stays
//! `sending`, shown as interrupted, until support puts it back.
//!
//! Each delivery runs in a span whose parent is the trace context the message was
//! queued with (that of the event it tells about).
//!
//! Emits `NotificationSending`, `NotificationSent`, `NotificationFailed`; reads the
//! outbox projection.

use crate::mail::{Outgoing, Transport, build};
use crate::outbox::query::{self, DueMessage};
use crate::service::Outbox;
use deadpool_postgres::Pool;
use ferry_infra::backoff::{Backoff, sleep_or_stop};
use lettre::message::Mailbox;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How the sender works.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Attempts per message before it is given up on (per round: support's requeue
    /// starts a new round).
    pub max_attempts: u32,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Longest pause between two looks at the outbox.
    pub poll: Duration,
    /// The sender's address.
    pub from: Mailbox,
    /// Test hook: stop right after a message is handed over, before its outcome is
    /// recorded, as a process killed at that point would.
    pub halt_after_send: bool,
}

/// The sender stopped.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// [`SenderSettings::halt_after_send`]: a message left and its outcome is not
    /// recorded.
    #[error("halted after handing over notification {0}, before recording it")]
    Halted(uuid::Uuid),
}

/// Delivers due messages until `shutdown`.
pub async fn run(
    outbox: Outbox,
    pool: Pool,
    transport: Transport,
    settings: SenderSettings,
    shutdown: CancellationToken,
) -> Result<(), SenderError> {
    tracing::info!(transport = ?transport, max_attempts = settings.max_attempts, "notifications sender started");
    let mut failing = false;
    loop {
        let now = outbox.log().clock().now();
        match query::due(&pool, now, settings.backoff, 50).await {
            Ok(due) => {
                failing = false;
                for message in due {
                    if shutdown.is_cancelled() {
                        return Ok(());
                    }
                    deliver(&outbox, &transport, &settings, &message).await?;
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "cannot read the outbox yet; trying again");
                }
                failing = true;
            }
        }
        if !sleep_or_stop(settings.poll, &shutdown).await {
            return Ok(());
        }
    }
}

/// The span of one delivery, child of the trace the message was queued in.
fn delivery_span(message: &DueMessage, attempt: u32) -> tracing::Span {
    let span = tracing::info_span!(
        "notification.delivery",
        notification_id = %message.notification_id,
        template = %message.template,
        attempt,
    );
    if let Some(traceparent) = &message.traceparent {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", traceparent.as_str());
        if let Some(state) = &message.tracestate {
            headers.insert("tracestate", state.as_str());
        }
        ferry_infra::event_log::trace_context::set_parent_from(&span, &headers);
    }
    span
}

/// One attempt at one message.
async fn deliver(
    outbox: &Outbox,
    transport: &Transport,
    settings: &SenderSettings,
    message: &DueMessage,
) -> Result<(), SenderError> {
    let attempt = message.attempts.saturating_add(1);
    let span = delivery_span(message, attempt);
    attempt_once(outbox, transport, settings, message, attempt)
        .instrument(span)
        .await
}

async fn attempt_once(
    outbox: &Outbox,
    transport: &Transport,
    settings: &SenderSettings,
    message: &DueMessage,
    attempt: u32,
) -> Result<(), SenderError> {
    let id = message.notification_id;
    let correlation = message.correlation_id;
    match outbox.begin_attempt(id, correlation, attempt).await {
        Ok(handled) if handled.already_handled => {
            // Begun before: by another sender, or by this one before it stopped. Its
            // outcome is unknown: never made again blindly.
            tracing::debug!(%id, attempt, "attempt already begun; not made again");
            return Ok(());
        }
        Ok(_) => {}
        Err(ferry_infra::command::HandleError::Rejected(refusal)) => {
            // The outbox lags behind the message (sent, or under way): nothing to do.
            tracing::debug!(%id, attempt, %refusal, "not due any more");
            return Ok(());
        }
        Err(error) => {
            tracing::warn!(%id, attempt, %error, "cannot record the attempt; trying later");
            return Ok(());
        }
    }
    let date = outbox.log().clock().now();
    let built = build(&Outgoing {
        notification_id: id,
        from: &settings.from,
        to: &message.recipient,
        locale: &message.locale,
        subject: &message.subject,
        body: &message.body,
        date: date.into(),
    });
    let (outcome, max_attempts) = match built {
        Ok(mail) => (
            transport.send(&mail, id, attempt).await,
            settings.max_attempts,
        ),
        // No attempt can succeed: given up at once, for support to see.
        Err(error) => (Err(error.to_string()), 0),
    };
    if outcome.is_ok() && settings.halt_after_send {
        return Err(SenderError::Halted(id));
    }
    let recorded = match &outcome {
        Ok(()) => {
            tracing::info!(%id, attempt, "notification sent");
            outbox
                .record_sent(id, correlation, attempt, outbox.log().clock().now())
                .await
        }
        Err(reason) => {
            tracing::warn!(%id, attempt, %reason, "notification attempt failed");
            outbox
                .record_failure(id, correlation, attempt, reason, max_attempts)
                .await
        }
    };
    if let Err(error) = recorded {
        // Left `sending`: shown as interrupted, for support to check.
        tracing::error!(%id, attempt, %error, "the attempt's outcome could not be recorded");
    }
    Ok(())
}
