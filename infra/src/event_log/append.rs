//! Appending the events of one command: optimistic, idempotent, atomic.
//!
//! A command's events are **one** JetStream message (one event: its envelope; several:
//! a JSON array of their envelopes, [`ferry_events::encode_all`]), published with
//! `Nats-Msg-Id` and `Nats-Expected-Last-Subject-Sequence`. One message is stored whole
//! or not at all, so the events of a command land together, checked against the
//! aggregate's version, at the cost of a single-event append. (JetStream's atomic
//! batches gave the same guarantee, but a file stream stages every batch on disk and
//! commits them one at a time: 3-event commands ran at 1 % of raw publishing.)
//!
//! When the server answers "wrong last sequence", the message right after the
//! expected version is read: if it carries our message id, it is ours from an earlier
//! attempt whose ack was lost (past the duplicate window), and the append succeeded;
//! otherwise it is a real conflict.

use super::headers::*;
use super::{AggregateRef, AppendError, Appended, EventLog};
use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use ferry_events::Envelope;
use std::time::Duration;

/// The most events one command may append (they must also fit in one message).
pub const MAX_EVENTS_PER_APPEND: usize = 1000;
/// Attempts for a publish whose ack did not come back.
const PUBLISH_ATTEMPTS: u32 = 5;

/// Why one publish attempt failed.
enum Failure {
    /// The subject is past the expected version.
    WrongLastSequence,
    /// No answer: the append may have happened.
    Unavailable(String),
    /// The server said no.
    Refused(String),
    /// The server refused the publish: this connection's user may not publish there.
    Forbidden(String),
}

impl EventLog {
    /// Appends the events of one command to `aggregate`, provided its version is still
    /// `expected_version` (0 for a new aggregate).
    ///
    /// `idempotency_key` identifies the command (or the event that caused it): appending
    /// again with the same key and version — a retry after a lost ack — returns the first
    /// append's outcome with `duplicate: true` and appends nothing.
    #[tracing::instrument(name = "event_log.append", skip(self, events, idempotency_key), fields(aggregate = %aggregate, expected_version, events = events.len()))]
    pub async fn append(
        &self,
        aggregate: &AggregateRef,
        expected_version: u64,
        events: &[Envelope],
        idempotency_key: &str,
    ) -> Result<Appended, AppendError> {
        check_events(aggregate, events)?;
        let subject = self.subject(aggregate);
        let body = Bytes::from(if events.len() == 1 {
            ferry_events::encode(&events[0])?
        } else {
            ferry_events::encode_all(events)?
        });
        let headers = message_headers(events);
        // The server's limit counts the headers too: checked here, before anything is
        // sent, so a command too large is a typed refusal (422 at the API) and never a
        // publish that fails as if the server were down.
        let max = self.client.server_info().max_payload;
        let bytes = message_size(&headers, &message_id(&subject, idempotency_key), &body);
        if max > 0 && bytes > max {
            return Err(AppendError::TooLarge {
                aggregate: aggregate.clone(),
                bytes,
                max,
            });
        }

        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .publish(&subject, expected_version, &headers, &body, idempotency_key)
                .await
            {
                Ok(appended) => return Ok(appended),
                Err(Failure::WrongLastSequence) => {
                    return self
                        .resolve_wrong_sequence(
                            aggregate,
                            &subject,
                            expected_version,
                            idempotency_key,
                        )
                        .await;
                }
                Err(Failure::Unavailable(reason)) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::debug!(%reason, attempt, "append not acknowledged, retrying with the same key");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(Failure::Unavailable(reason)) => return Err(AppendError::Unavailable(reason)),
                Err(Failure::Refused(reason)) => return Err(AppendError::Refused(reason)),
                Err(Failure::Forbidden(reason)) => {
                    return Err(AppendError::Forbidden {
                        aggregate: aggregate.clone(),
                        user: self.user.to_string(),
                        reason,
                    });
                }
            }
        }
    }

    async fn publish(
        &self,
        subject: &str,
        expected_version: u64,
        headers: &HeaderMap,
        body: &Bytes,
        idempotency_key: &str,
    ) -> Result<Appended, Failure> {
        // The header map replaces all headers: set it first, then id and expectation.
        let message = PublishMessage::build()
            .headers(headers.clone())
            .payload(body.clone())
            .message_id(message_id(subject, idempotency_key))
            .expected_last_subject_sequence(expected_version);
        // Watched from before the publish: the server's refusal cannot be missed.
        let mut denials = self.denials.watch();
        let ack = self
            .js
            .send_publish(subject.to_owned(), message)
            .await
            .map_err(publish_failure)?;
        // A refused publish is never acknowledged: the server's report ends the wait.
        let ack = tokio::select! {
            ack = std::future::IntoFuture::into_future(ack) => ack.map_err(publish_failure)?,
            reason = super::connect::refused_publish(&mut denials, subject) => {
                return Err(Failure::Forbidden(reason));
            }
        };
        Ok(Appended {
            version: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The subject moved past `expected_version`: ours (a lost ack) or somebody else's.
    async fn resolve_wrong_sequence(
        &self,
        aggregate: &AggregateRef,
        subject: &str,
        expected_version: u64,
        idempotency_key: &str,
    ) -> Result<Appended, AppendError> {
        let stream = self
            .stream_handle()
            .await
            .map_err(AppendError::Unavailable)?;
        match stream
            .direct_get_next_for_subject(subject.to_owned(), Some(expected_version + 1))
            .await
        {
            Ok(message)
                if header(&message.headers, NATS_MSG_ID)
                    == Some(message_id(subject, idempotency_key).as_str()) =>
            {
                tracing::debug!("append already in the log: an earlier attempt's ack was lost");
                return Ok(Appended {
                    version: message.sequence,
                    duplicate: true,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => {}
            Err(e) => return Err(AppendError::Unavailable(e.to_string())),
        }
        let actual = self
            .version_of(subject)
            .await
            .map_err(|e| AppendError::Unavailable(e.to_string()))?;
        Err(AppendError::Conflict {
            aggregate: aggregate.clone(),
            expected: expected_version,
            actual,
        })
    }

    pub(super) async fn stream_handle(
        &self,
    ) -> Result<async_nats::jetstream::stream::Stream<()>, String> {
        self.js
            .get_stream_no_info(&self.settings.stream)
            .await
            .map_err(|e| e.to_string())
    }

    /// Current version of a subject: the sequence of its last message, 0 if none.
    pub(super) async fn version_of(&self, subject: &str) -> Result<u64, super::ReadError> {
        let stream = self
            .stream_handle()
            .await
            .map_err(super::ReadError::Unavailable)?;
        match stream.direct_get_last_for_subject(subject.to_owned()).await {
            Ok(message) => Ok(message.sequence),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(0),
            Err(e) => Err(super::ReadError::Unavailable(e.to_string())),
        }
    }
}

fn check_events(aggregate: &AggregateRef, events: &[Envelope]) -> Result<(), AppendError> {
    if events.is_empty() {
        return Err(AppendError::Empty(aggregate.clone()));
    }
    if events.len() > MAX_EVENTS_PER_APPEND {
        return Err(AppendError::TooManyEvents {
            aggregate: aggregate.clone(),
            count: events.len(),
            max: MAX_EVENTS_PER_APPEND,
        });
    }
    if let Some(stray) = events
        .iter()
        .find(|e| e.aggregate_type != aggregate.kind || e.aggregate_id != aggregate.id)
    {
        return Err(AppendError::WrongAggregate {
            aggregate: aggregate.clone(),
            event_type: stray.event_type(),
            event_aggregate: format!("{}/{}", stray.aggregate_type, stray.aggregate_id),
        });
    }
    Ok(())
}

/// Headers of a command's message: its events' types, so that consumers can route
/// and report without decoding the body, and their count when there are several
/// (the body is then an array). The command's idempotency key travels in
/// `Nats-Msg-Id` (set at publish).
fn message_headers(events: &[Envelope]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let [event] = events {
        headers.insert(EVENT_TYPE, event.event_type());
    } else {
        let types: Vec<&str> = events.iter().map(Envelope::event_type).collect();
        headers.insert(EVENT_TYPE, types.join(",").as_str());
        headers.insert(EVENT_COUNT, events.len().to_string().as_str());
    }
    super::trace_context::inject_current(&mut headers);
    headers
}

/// The size of a command's message as the server counts it against its largest
/// payload: the body and the header block (`NATS/1.0`, each `name: value` line,
/// with the message id and expected sequence set at publish; the sequence at its
/// longest).
fn message_size(headers: &HeaderMap, message_id: &str, body: &[u8]) -> usize {
    const LINE_END: usize = 2;
    let preamble = "NATS/1.0".len() + LINE_END;
    let set = headers
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |value| name.to_string().len() + 2 + value.as_str().len() + LINE_END)
        })
        .sum::<usize>();
    let at_publish = NATS_MSG_ID.len()
        + 2
        + message_id.len()
        + LINE_END
        + "Nats-Expected-Last-Subject-Sequence".len()
        + 2
        + u64::MAX.to_string().len()
        + LINE_END;
    preamble + set + at_publish + LINE_END + body.len()
}

/// The JetStream message id of a command's message. Ids are deduplicated across the
/// whole stream, so the id names the aggregate's subject too: one key (say, the id of
/// the event a reactor handles) may then drive commands to several aggregates. (The
/// `:0` suffix is the id's form since the log began: kept so that ids stay comparable.)
fn message_id(subject: &str, idempotency_key: &str) -> String {
    format!("{subject}:{idempotency_key}:0")
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.as_str())
}

fn publish_failure(error: async_nats::jetstream::context::PublishError) -> Failure {
    match error.kind() {
        PublishErrorKind::WrongLastSequence => Failure::WrongLastSequence,
        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
            Failure::Unavailable(error.to_string())
        }
        _ => Failure::Refused(error.to_string()),
    }
}
