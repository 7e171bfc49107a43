//! Reading the log: one aggregate ([`EventLog::load`]), everything from a sequence
//! ([`EventLog::replay`]), and durable consumers for projections and reactors.

use super::{AggregateRef, EventLog, ReadError, trace_context};
use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, PullConsumer};
use ferry_events::Envelope;
use futures::{Stream, StreamExt};
use std::time::Duration;

/// One event as stored in the log.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its stream sequence: its position in the whole log.
    pub sequence: u64,
    /// The event.
    pub envelope: Envelope,
    /// The message headers (trace context, idempotency key).
    pub headers: HeaderMap,
}

impl Recorded {
    /// Decodes a stored message.
    pub fn decode(
        sequence: u64,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<Self, ReadError> {
        let envelope = ferry_events::decode(payload)
            .map_err(|source| ReadError::Decode { sequence, source })?;
        Ok(Self {
            sequence,
            envelope,
            headers: headers.cloned().unwrap_or_default(),
        })
    }

    /// Decodes a message delivered by a consumer.
    pub fn from_message(message: &async_nats::jetstream::Message) -> Result<Self, ReadError> {
        let sequence = message
            .info()
            .map_err(|e| ReadError::Unavailable(format!("message without metadata: {e}")))?
            .stream_sequence;
        Self::decode(sequence, message.headers.as_ref(), &message.payload)
    }

    /// Makes the trace context of the appender the parent of `span`.
    pub fn link_span(&self, span: &tracing::Span) {
        trace_context::set_parent_from(span, &self.headers);
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
    #[tracing::instrument(name = "event_log.load", skip(self), fields(aggregate = %aggregate))]
    pub async fn load(&self, aggregate: &AggregateRef) -> Result<Loaded, ReadError> {
        let events: Vec<Recorded> = self
            .replay_aggregate(&self.subject(aggregate))
            .await?
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let version = events.last().map_or(0, |e| e.sequence);
        Ok(Loaded { events, version })
    }

    /// Every event from `start_sequence` to the end of the log as it is now, in log order.
    pub async fn replay(
        &self,
        start_sequence: u64,
    ) -> Result<impl Stream<Item = Result<Recorded, ReadError>> + use<>, ReadError> {
        self.replay_filtered(start_sequence, vec![self.all_filter()])
            .await
    }

    /// Like [`EventLog::replay`], restricted to subjects matching `filters`.
    pub async fn replay_filtered(
        &self,
        start_sequence: u64,
        filters: Vec<String>,
    ) -> Result<impl Stream<Item = Result<Recorded, ReadError>> + use<>, ReadError> {
        let stream = self.stream_handle().await.map_err(ReadError::Unavailable)?;
        // An ordered push consumer: the server streams the messages with flow control,
        // about twice the rate of pulling them in batches.
        let consumer = stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subjects: filters,
                deliver_policy: deliver_from(start_sequence),
                ..Default::default()
            })
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
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

    /// One aggregate's events, through a short-lived consumer. Ordered consumers
    /// linger 30 s on the server after use, and a stream allows 1,000 consumers: at
    /// a few dozen commands per second, loads alone would exhaust it. This consumer
    /// is gone 2 s after the load. An aggregate's history is small, so it needs no
    /// flow control.
    async fn replay_aggregate(
        &self,
        subject: &str,
    ) -> Result<impl Stream<Item = Result<Recorded, ReadError>> + use<>, ReadError> {
        let stream = self.stream_handle().await.map_err(ReadError::Unavailable)?;
        let consumer = stream
            .create_consumer(consumer::push::Config {
                deliver_subject: self.client.new_inbox(),
                filter_subject: subject.to_owned(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::None,
                inactive_threshold: Duration::from_secs(2),
                ..Default::default()
            })
            .await
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
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
    messages.take(pending).map(|message| match message {
        Ok(message) => Recorded::from_message(&message),
        Err(e) => Err(ReadError::Unavailable(e.to_string())),
    })
}

fn deliver_from(start_sequence: u64) -> DeliverPolicy {
    if start_sequence <= 1 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence { start_sequence }
    }
}
