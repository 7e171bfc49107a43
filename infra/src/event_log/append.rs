//! Appending the events of one command: optimistic, idempotent, atomic.
//!
//! One event is one JetStream publish carrying `Nats-Msg-Id` and
//! `Nats-Expected-Last-Subject-Sequence`. Several events are one atomic batch (ADR-50):
//! the server checks the expected sequence when the batch commits and stores all the
//! messages or none. JetStream refuses `Nats-Msg-Id` inside a batch, so every message
//! also carries the command's idempotency key in a header of ours; when the server
//! answers "wrong last sequence", the log is read right after the expected version: if
//! the events there carry our key, they are ours from an earlier attempt whose ack was
//! lost, and the append succeeded; otherwise it is a real conflict.

use super::headers::*;
use super::{AggregateRef, AppendError, Appended, EventLog, trace_context};
use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use ferry_events::Envelope;
use std::time::Duration;

/// The most events one command may append: the server's atomic batch limit.
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
}

/// What the server answers on an atomic batch's messages.
#[derive(serde::Deserialize)]
struct BatchReply {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    seq: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ApiError {
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

const WRONG_LAST_SEQUENCE: u64 = 10071;

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
        let bodies = events
            .iter()
            .map(|e| ferry_events::encode(e).map(Bytes::from))
            .collect::<Result<Vec<_>, _>>()?;
        let headers: Vec<HeaderMap> = events
            .iter()
            .enumerate()
            .map(|(i, e)| event_headers(e, i, idempotency_key, events.len() > 1))
            .collect();

        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = if events.len() == 1 {
                self.publish_one(
                    &subject,
                    expected_version,
                    &headers[0],
                    &bodies[0],
                    idempotency_key,
                )
                .await
            } else {
                self.publish_batch(&subject, expected_version, &headers, &bodies)
                    .await
            };
            match result {
                Ok(appended) => return Ok(appended),
                Err(Failure::WrongLastSequence) => {
                    return self
                        .resolve_wrong_sequence(
                            aggregate,
                            &subject,
                            expected_version,
                            events.len(),
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
            }
        }
    }

    async fn publish_one(
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
            .message_id(message_id(subject, idempotency_key, 0))
            .expected_last_subject_sequence(expected_version);
        let ack = self
            .js
            .send_publish(subject.to_owned(), message)
            .await
            .map_err(publish_failure)?;
        let ack = ack.await.map_err(publish_failure)?;
        Ok(Appended {
            first_sequence: ack.sequence,
            version: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    async fn publish_batch(
        &self,
        subject: &str,
        expected_version: u64,
        headers: &[HeaderMap],
        bodies: &[Bytes],
    ) -> Result<Appended, Failure> {
        let _permit = self
            .batch_permits
            .acquire()
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        let batch_id = uuid::Uuid::now_v7().simple().to_string();
        let last = bodies.len() - 1;
        for (i, (headers, body)) in headers.iter().zip(bodies).enumerate() {
            let mut headers = headers.clone();
            headers.insert(NATS_BATCH_ID, batch_id.as_str());
            headers.insert(NATS_BATCH_SEQUENCE, (i + 1).to_string().as_str());
            if i == 0 {
                // Checked when the batch commits, against the log as it was before the batch.
                headers.insert(
                    NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
                    expected_version.to_string().as_str(),
                );
            }
            if i == last {
                headers.insert(NATS_BATCH_COMMIT, "1");
            }
            if i != 0 && i != last {
                // Middle messages need no answer (ADR-50): a lost one makes the commit
                // fail with a gap, and the whole batch is dropped.
                self.client
                    .publish_with_headers(subject.to_owned(), headers, body.clone())
                    .await
                    .map_err(|e| Failure::Unavailable(e.to_string()))?;
                continue;
            }
            let reply = self
                .client
                .request_with_headers(subject.to_owned(), headers, body.clone())
                .await
                .map_err(|e| match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => {
                        Failure::Refused(format!("no stream for {subject}"))
                    }
                    _ => Failure::Unavailable(e.to_string()),
                })?;
            if reply.payload.is_empty() {
                // An intermediate message was received; only the commit gets a pub ack.
                continue;
            }
            let reply: BatchReply = serde_json::from_slice(&reply.payload)
                .map_err(|e| Failure::Refused(format!("unreadable reply to batch: {e}")))?;
            if let Some(error) = reply.error {
                return Err(if error.err_code == WRONG_LAST_SEQUENCE {
                    Failure::WrongLastSequence
                } else if error.description.contains("too many inflight") {
                    // Other processes hold the stream's open batches: worth another try.
                    Failure::Unavailable(error.description)
                } else {
                    Failure::Refused(error.description)
                });
            }
            if i == last {
                let version = reply
                    .seq
                    .ok_or_else(|| Failure::Refused("batch committed without a sequence".into()))?;
                return Ok(Appended {
                    first_sequence: version - last as u64,
                    version,
                    duplicate: false,
                });
            }
        }
        Err(Failure::Refused(
            "atomic batch ended without an acknowledgement".into(),
        ))
    }

    /// The subject moved past `expected_version`: ours (a lost ack) or somebody else's.
    async fn resolve_wrong_sequence(
        &self,
        aggregate: &AggregateRef,
        subject: &str,
        expected_version: u64,
        count: usize,
        idempotency_key: &str,
    ) -> Result<Appended, AppendError> {
        let stream = self
            .stream_handle()
            .await
            .map_err(AppendError::Unavailable)?;
        let mut first_sequence = None;
        let mut from = expected_version + 1;
        for index in 0..count {
            let message = match stream
                .direct_get_next_for_subject(subject.to_owned(), Some(from))
                .await
            {
                Ok(message) => message,
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(AppendError::Unavailable(e.to_string())),
            };
            if !carries(&message.headers, subject, idempotency_key, index) {
                break;
            }
            first_sequence.get_or_insert(message.sequence);
            if index + 1 == count {
                tracing::debug!("append already in the log: an earlier attempt's ack was lost");
                return Ok(Appended {
                    first_sequence: first_sequence.unwrap_or(message.sequence),
                    version: message.sequence,
                    duplicate: true,
                });
            }
            from = message.sequence + 1;
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

/// Headers of one event. A lone event's idempotency key travels in `Nats-Msg-Id`
/// (`<subject>:<key>:0`, set at publish); the events of a batch, where JetStream refuses message
/// ids, carry it in headers of ours.
fn event_headers(
    event: &Envelope,
    index: usize,
    idempotency_key: &str,
    in_batch: bool,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(EVENT_TYPE, event.event_type());
    if in_batch {
        headers.insert(IDEMPOTENCY_KEY, idempotency_key);
        headers.insert(COMMAND_INDEX, index.to_string().as_str());
    }
    trace_context::inject_current(&mut headers);
    headers
}

/// The JetStream message id of event `index` of a command. Ids are deduplicated across
/// the whole stream, so the id names the aggregate's subject too: one key (say, the id
/// of the event a reactor handles) may then drive commands to several aggregates.
fn message_id(subject: &str, idempotency_key: &str, index: usize) -> String {
    format!("{subject}:{idempotency_key}:{index}")
}

/// Whether a stored message is event `index` of the command with this idempotency key.
fn carries(headers: &HeaderMap, subject: &str, idempotency_key: &str, index: usize) -> bool {
    let by_headers = header(headers, IDEMPOTENCY_KEY) == Some(idempotency_key)
        && header(headers, COMMAND_INDEX) == Some(index.to_string().as_str());
    by_headers
        || header(headers, NATS_MSG_ID)
            == Some(message_id(subject, idempotency_key, index).as_str())
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
