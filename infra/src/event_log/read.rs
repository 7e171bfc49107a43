//! Reading the log: one aggregate ([`EventLog::load`]), everything from a sequence
//! ([`EventLog::replay`]), and durable consumers for projections and reactors.

use super::{AggregateRef, EventLog, ReadError, trace_context};
use async_nats::HeaderMap;
use async_nats::StatusCode;
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, PullConsumer};
use ferry_events::Envelope;
use futures::{Stream, StreamExt};
use std::time::Duration;

/// One event as stored in the log.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The stream sequence of its message: its position in the whole log. The events
    /// of one command share their message, hence their sequence.
    pub sequence: u64,
    /// Its position among its command's events (0 for the first or only one).
    pub index: u32,
    /// The event.
    pub envelope: Envelope,
    /// The trace context of its append.
    pub trace: trace_context::Carried,
}

impl Recorded {
    /// Decodes a stored message into the events it carries, in order: one envelope, or
    /// the array of a multi-event command (header [`EVENT_COUNT`](super::headers::EVENT_COUNT)).
    pub fn decode_message(
        sequence: u64,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<Vec<Self>, ReadError> {
        let count = headers
            .and_then(|h| h.get(super::headers::EVENT_COUNT))
            .map(|v| v.as_str());
        let envelopes = match count {
            None => vec![ferry_events::decode(payload)],
            Some(count) => {
                let decoded = ferry_events::decode_all(payload);
                match decoded {
                    Ok(envelopes) if count.parse() == Ok(envelopes.len()) => {
                        envelopes.into_iter().map(Ok).collect()
                    }
                    Ok(envelopes) => {
                        return Err(ReadError::Corrupt {
                            sequence,
                            reason: format!(
                                "the message says {count} events and carries {}",
                                envelopes.len()
                            ),
                        });
                    }
                    Err(e) => vec![Err(e)],
                }
            }
        };
        let trace = trace_context::Carried::from_headers(headers);
        envelopes
            .into_iter()
            .zip(0u32..)
            .map(|(envelope, index)| {
                Ok(Self {
                    sequence,
                    index,
                    envelope: envelope.map_err(|source| ReadError::Decode { sequence, source })?,
                    trace: trace.clone(),
                })
            })
            .collect()
    }

    /// Decodes a message delivered by a consumer into the events it carries.
    pub fn from_message(message: &async_nats::jetstream::Message) -> Result<Vec<Self>, ReadError> {
        let sequence = message
            .info()
            .map_err(|e| ReadError::Unavailable(format!("message without metadata: {e}")))?
            .stream_sequence;
        Self::decode_message(sequence, message.headers.as_ref(), &message.payload)
    }

    /// Makes the trace context of the appender the parent of `span`.
    pub fn link_span(&self, span: &tracing::Span) {
        self.trace.set_parent_of(span);
    }
}

/// The events of one aggregate and its version.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Its events, oldest first.
    pub events: Vec<Recorded>,
    /// Stream sequence of its last event, 0 if it has none: the version to append after.
    pub version: u64,
}

impl EventLog {
    /// The events of one aggregate, in order, and its version.
    ///
    /// Read by batched direct gets (ADR-31: one request, the subject's messages in
    /// answer, then an end-of-batch status), without creating a consumer: a consumer's
    /// creation is a write the server syncs to disk, which made a load cost 15 ms
    /// where these reads take one round trip per `LOAD_BATCH` messages.
    #[tracing::instrument(name = "event_log.load", skip(self), fields(aggregate = %aggregate))]
    pub async fn load(&self, aggregate: &AggregateRef) -> Result<Loaded, ReadError> {
        let subject = self.subject(aggregate);
        let mut events = Vec::new();
        let mut version = 0;
        let mut from = 1;
        loop {
            let batch = self.direct_get_batch(&subject, from).await?;
            for (sequence, message) in batch.messages {
                events.extend(Recorded::decode_message(
                    sequence,
                    message.headers.as_ref(),
                    &message.payload,
                )?);
                version = sequence;
            }
            match batch.more_after {
                Some(last) => from = last + 1,
                None => return Ok(Loaded { events, version }),
            }
        }
    }

    /// Every event from `start_sequence` to the end of the log as it is now, in log order.
    pub async fn replay(
        &self,
        start_sequence: u64,
    ) -> Result<impl Stream<Item = Result<Recorded, ReadError>> + use<>, ReadError> {
        self.replay_filtered(start_sequence, vec![self.all_filter()])
            .await
    }

    /// An ordered push consumer over `filters` from `start_sequence`: the server
    /// streams the messages with flow control, about twice the rate of pulling them
    /// in batches.
    async fn ordered_consumer(
        &self,
        start_sequence: u64,
        filters: Vec<String>,
    ) -> Result<consumer::Consumer<consumer::push::OrderedConfig>, ReadError> {
        let stream = self.stream_handle().await.map_err(ReadError::Unavailable)?;
        stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subjects: filters,
                deliver_policy: deliver_from(start_sequence),
                ..Default::default()
            })
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))
    }

    /// Like [`EventLog::replay`], restricted to subjects matching `filters`.
    pub async fn replay_filtered(
        &self,
        start_sequence: u64,
        filters: Vec<String>,
    ) -> Result<impl Stream<Item = Result<Recorded, ReadError>> + use<>, ReadError> {
        let consumer = self.ordered_consumer(start_sequence, filters).await?;
        // Exactly what matches now: the replay ends where the log ended when it began.
        let pending = usize::try_from(consumer.cached_info().num_pending).unwrap_or(usize::MAX);
        let messages = match pending {
            0 => None,
            _ => Some(
                consumer
                    .messages()
                    .await
                    .map_err(|e| ReadError::Unavailable(e.to_string()))?,
            ),
        };
        Ok(first_events(messages, pending))
    }

    /// Every event from `start_sequence` on, restricted to subjects matching
    /// `filters`, then each new one as it is appended: an endless stream (an ordered
    /// push consumer, which the client recreates by itself after a gap), for what
    /// follows the log live in memory (the network's DNS and redirect).
    pub async fn follow_filtered(
        &self,
        start_sequence: u64,
        filters: Vec<String>,
    ) -> Result<impl Stream<Item = Result<Recorded, ReadError>> + use<>, ReadError> {
        let consumer = self.ordered_consumer(start_sequence, filters).await?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(messages.flat_map(|message| {
            let decoded = match message {
                Ok(message) => Recorded::from_message(&message),
                Err(e) => Err(ReadError::Unavailable(e.to_string())),
            };
            futures::stream::iter(match decoded {
                Ok(events) => events.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        }))
    }

    /// A durable pull consumer named `name` over `filters`, created afresh so that it
    /// delivers from `start_sequence`. Acknowledging a message acknowledges every one
    /// before it, so a batch is acknowledged once, after it is committed.
    pub async fn reset_durable_consumer(
        &self,
        name: &str,
        filters: Vec<String>,
        start_sequence: u64,
        ack_wait: Duration,
    ) -> Result<PullConsumer, ReadError> {
        let stream = self.stream_handle().await.map_err(ReadError::Unavailable)?;
        match stream.delete_consumer(name).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => {
                return Err(ReadError::Unavailable(format!(
                    "cannot reset consumer {name}: {e}"
                )));
            }
        }
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(name.to_owned()),
                description: Some(format!("ferry consumer {name}")),
                filter_subjects: filters,
                deliver_policy: deliver_from(start_sequence),
                ack_policy: AckPolicy::All,
                ack_wait,
                max_deliver: -1,
                max_ack_pending: 20_000,
                ..Default::default()
            })
            .await
            .map_err(|e| ReadError::Unavailable(format!("cannot create consumer {name}: {e}")))
    }

    /// A durable pull consumer named `name` over `filters`, for a service reacting to
    /// events: created on first use to deliver from the start of the log, then found
    /// again with its position on every later start (and by every instance of the
    /// service, which then compete for its messages). Each message is acknowledged on
    /// its own once handled; an unacknowledged one is redelivered after `ack_wait`.
    pub async fn durable_consumer(
        &self,
        name: &str,
        filters: Vec<String>,
        ack_wait: Duration,
    ) -> Result<PullConsumer, ReadError> {
        let stream = self.stream_handle().await.map_err(ReadError::Unavailable)?;
        // Create or update: a reactor whose filters changed (a policy whose view reads
        // one more aggregate type) gets them, keeping its position.
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(name.to_owned()),
                description: Some(format!("ferry consumer {name}")),
                filter_subjects: filters,
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait,
                max_deliver: -1,
                ..Default::default()
            })
            .await
            .map_err(|e| ReadError::Unavailable(format!("cannot open consumer {name}: {e}")))
    }

    /// Events the consumer `name` has not yet had acknowledged: its lag behind the log.
    pub async fn consumer_lag(&self, name: &str) -> Result<u64, ReadError> {
        let stream = self.stream_handle().await.map_err(ReadError::Unavailable)?;
        let info = stream
            .consumer_info(name)
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }
}

/// The first `pending` messages of a consumer, read as events (`None`: nothing was
/// pending, so no messages were asked for).
fn first_events<E, S>(
    messages: Option<S>,
    pending: usize,
) -> impl Stream<Item = Result<Recorded, ReadError>> + use<E, S>
where
    E: std::fmt::Display + Send + 'static,
    S: Stream<Item = Result<async_nats::jetstream::Message, E>> + Send + 'static,
{
    let messages: futures::stream::BoxStream<'static, _> = match messages {
        None => futures::stream::empty().boxed(),
        Some(messages) => messages.boxed(),
    };
    messages.take(pending).flat_map(|message| {
        let events = match message {
            Ok(message) => match Recorded::from_message(&message) {
                Ok(events) => events.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            },
            Err(e) => vec![Err(ReadError::Unavailable(e.to_string()))],
        };
        futures::stream::iter(events)
    })
}

fn deliver_from(start_sequence: u64) -> DeliverPolicy {
    if start_sequence <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence { start_sequence }
    }
}

/// Messages of one subject asked for at once by a load.
const LOAD_BATCH: usize = 512;
/// How long a load waits for the server's next answer.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// One batched direct get: messages by sequence, and whether more match after them
/// (the sequence of the last one returned).
struct DirectBatch {
    messages: Vec<(u64, async_nats::Message)>,
    more_after: Option<u64>,
}

impl EventLog {
    /// Up to [`LOAD_BATCH`] messages of `subject` from sequence `from`, in one request.
    async fn direct_get_batch(&self, subject: &str, from: u64) -> Result<DirectBatch, ReadError> {
        let unavailable = |e: &dyn std::fmt::Display| ReadError::Unavailable(e.to_string());
        let inbox = self.client.new_inbox();
        let mut answers = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        let request =
            serde_json::json!({ "seq": from, "next_by_subj": subject, "batch": LOAD_BATCH });
        self.client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{}", self.settings.stream),
                inbox,
                request.to_string().into(),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let mut messages = Vec::new();
        loop {
            let answer = tokio::time::timeout(LOAD_TIMEOUT, answers.next())
                .await
                .map_err(|_| ReadError::Unavailable(format!("no answer reading {subject}")))?
                .ok_or_else(|| ReadError::Unavailable("connection closed".into()))?;
            match answer.status {
                None => {
                    let sequence = number_header(&answer, super::headers::NATS_SEQUENCE)
                        .ok_or_else(|| {
                            ReadError::Unavailable(format!(
                                "a direct get of {subject} answered without a sequence"
                            ))
                        })?;
                    messages.push((sequence, answer));
                }
                // End of batch: `Nats-Num-Pending` says whether more match past it.
                Some(status) if status.as_u16() == 204 => {
                    let pending =
                        number_header(&answer, super::headers::NATS_NUM_PENDING).unwrap_or(0);
                    let more_after = match messages.last() {
                        Some((last, _)) if pending > 0 => Some(*last),
                        _ => None,
                    };
                    return Ok(DirectBatch {
                        messages,
                        more_after,
                    });
                }
                Some(StatusCode::NOT_FOUND) => {
                    return Ok(DirectBatch {
                        messages,
                        more_after: None,
                    });
                }
                Some(status) => {
                    return Err(ReadError::Unavailable(format!(
                        "direct get of {subject}: {status} {}",
                        answer.description.unwrap_or_default()
                    )));
                }
            }
        }
    }
}

/// A numeric header of a direct get's answer.
fn number_header(message: &async_nats::Message, name: &str) -> Option<u64> {
    message.headers.as_ref()?.get(name)?.as_str().parse().ok()
}
