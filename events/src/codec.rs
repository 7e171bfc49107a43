//! The wire form of an envelope: the JSON body of one NATS message.
//!
//! ```json
//! {"event_id":"…","type":"AccountMarkedReady","schema_version":1,
//!  "aggregate_type":"migration","aggregate_id":"…","occurred_at":"2026-11-21T10:00:00Z",
//!  "correlation_id":"…","causation_id":"…","actor":{"role":"customer","id":"c-42"},
//!  "data":{"account_id":"acc-1"}}
//! ```
//!
//! Decoding a current-version event reads the payload straight from the raw `data`
//! bytes into its struct; only older versions take the detour through
//! [`serde_json::Value`] to be upcast (see [`upcast`](crate::upcast)).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::aggregate::{AggregateType, InvalidAggregateId, validate_aggregate_id};
use crate::catalogue::Event;
use crate::envelope::{Actor, Envelope};
use crate::upcast::{ChainError, UpcastError, upcast_chain};

/// Why an envelope could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not JSON, or not an envelope (missing or ill-typed field).
    #[error("malformed event envelope: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The envelope names an aggregate type this build does not know.
    #[error("unknown aggregate type {aggregate_type:?}")]
    UnknownAggregateType {
        /// The aggregate type as found in the envelope.
        aggregate_type: String,
    },
    /// The aggregate id cannot be a NATS subject token.
    #[error(transparent)]
    InvalidAggregateId(#[from] InvalidAggregateId),
    /// The event type is not in this build's catalogue.
    #[error("unknown event type {event_type:?} (schema version {schema_version})")]
    UnknownEventType {
        /// The event type as found in the envelope.
        event_type: String,
        /// The schema version as found in the envelope.
        schema_version: u16,
    },
    /// The event type exists but belongs to another aggregate type than the envelope's.
    #[error(
        "event type {event_type} belongs to aggregate type {expected}, \
         but the envelope says {found}"
    )]
    AggregateMismatch {
        /// The event type.
        event_type: String,
        /// The aggregate type the catalogue gives that event type.
        expected: AggregateType,
        /// The aggregate type the envelope states.
        found: AggregateType,
    },
    /// The event was written by a newer build, with a schema version this build does
    /// not know yet.
    #[error(
        "{event_type} schema version {schema_version} is newer than this build knows \
         (current is {current})"
    )]
    FutureVersion {
        /// The event type.
        event_type: String,
        /// The schema version as found in the envelope.
        schema_version: u16,
        /// The newest version this build knows.
        current: u16,
    },
    /// The schema version is older than current but the chain of upcasters to the
    /// current version is broken (version 0 included, which never existed).
    #[error(
        "{event_type} schema version {schema_version} cannot be read: \
         no upcaster from version {missing_from}"
    )]
    UnsupportedVersion {
        /// The event type.
        event_type: String,
        /// The schema version as found in the envelope.
        schema_version: u16,
        /// The version no upcaster reads.
        missing_from: u16,
    },
    /// An upcaster refused an old payload.
    #[error("cannot upcast {event_type} from schema version {from_version}: {source}")]
    Upcast {
        /// The event type.
        event_type: String,
        /// The version the failing upcaster reads.
        from_version: u16,
        /// What the upcaster said.
        source: UpcastError,
    },
    /// The payload does not match the schema of its event type and version.
    #[error("invalid {event_type} payload (schema version {schema_version}): {source}")]
    InvalidPayload {
        /// The event type.
        event_type: String,
        /// The schema version as found in the envelope.
        schema_version: u16,
        /// The deserialization error.
        source: serde_json::Error,
    },
    /// The envelope could not be serialized.
    #[error("cannot encode {event_type}: {source}")]
    Encode {
        /// The event type.
        event_type: &'static str,
        /// The serialization error.
        source: serde_json::Error,
    },
}

/// The envelope as written: payload serialized in place.
#[derive(Serialize)]
struct WireOut<'a> {
    event_id: &'a Uuid,
    #[serde(rename = "type")]
    event_type: &'static str,
    schema_version: u16,
    aggregate_type: AggregateType,
    aggregate_id: &'a str,
    occurred_at: &'a DateTime<Utc>,
    correlation_id: &'a Uuid,
    causation_id: &'a Uuid,
    actor: &'a Actor,
    data: Payload<'a>,
}

/// Serializes an event's payload alone.
struct Payload<'a>(&'a Event);

impl Serialize for Payload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}

/// The envelope as read: payload kept as raw JSON until its type is known.
#[derive(Deserialize)]
struct WireIn<'a> {
    event_id: Uuid,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    schema_version: u16,
    #[serde(borrow)]
    aggregate_type: Cow<'a, str>,
    aggregate_id: String,
    occurred_at: DateTime<Utc>,
    correlation_id: Uuid,
    causation_id: Uuid,
    actor: Actor,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Encodes an envelope to its wire form (compact JSON).
///
/// Fails if the aggregate id is not a valid subject token or if the envelope's
/// aggregate type is not its event's.
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    let wire = wire_out(envelope)?;
    serde_json::to_vec(&wire).map_err(|source| CodecError::Encode {
        event_type: wire.event_type,
        source,
    })
}

/// Same as [`encode`], indented for humans (fixtures, logs, tools). [`decode`] reads
/// both forms.
pub fn encode_pretty(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    let wire = wire_out(envelope)?;
    serde_json::to_vec_pretty(&wire).map_err(|source| CodecError::Encode {
        event_type: wire.event_type,
        source,
    })
}

/// Checks the envelope and borrows it in wire order.
fn wire_out(envelope: &Envelope) -> Result<WireOut<'_>, CodecError> {
    validate_aggregate_id(&envelope.aggregate_id)?;
    let event_type = envelope.event.event_type();
    let expected = envelope.event.aggregate_type();
    if envelope.aggregate_type != expected {
        return Err(CodecError::AggregateMismatch {
            event_type: event_type.to_owned(),
            expected,
            found: envelope.aggregate_type,
        });
    }
    Ok(WireOut {
        event_id: &envelope.event_id,
        event_type,
        schema_version: envelope.event.schema_version(),
        aggregate_type: envelope.aggregate_type,
        aggregate_id: &envelope.aggregate_id,
        occurred_at: &envelope.occurred_at,
        correlation_id: &envelope.correlation_id,
        causation_id: &envelope.causation_id,
        actor: &envelope.actor,
        data: Payload(&envelope.event),
    })
}

/// Decodes any schema version: older versions are upcast to the current shape first.
///
/// Unknown aggregate or event type, a newer version than this build knows, bad JSON,
/// a type that doesn't belong to the aggregate_type, an invalid aggregate id or a
/// payload that does not match its schema: all give a [`CodecError`] naming the
/// type and version.
///
/// ```
/// use ferry_events::{decode, encode, migration::AccountMarkedReady, Actor, Envelope};
/// use uuid::Uuid;
///
/// let migration = Uuid::now_v7();
/// let envelope = Envelope::new(
///     migration.to_string(),
///     AccountMarkedReady { account_id: "acc-1".into() },
///     migration,
///     Uuid::now_v7(),
///     Actor::customer("c-42"),
/// );
/// let bytes = encode(&envelope)?;
/// assert_eq!(decode(&bytes)?, envelope);
/// # Ok::<(), ferry_events::CodecError>(())
/// ```
pub fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
    let wire: WireIn<'_> = serde_json::from_slice(bytes).map_err(CodecError::Malformed)?;
    let aggregate_type = AggregateType::parse(&wire.aggregate_type).ok_or_else(|| {
        CodecError::UnknownAggregateType {
            aggregate_type: wire.aggregate_type.clone().into_owned(),
        }
    })?;
    validate_aggregate_id(&wire.aggregate_id)?;
    let event = decode_payload(
        aggregate_type,
        &wire.event_type,
        wire.schema_version,
        wire.data,
    )?;
    Ok(Envelope {
        event_id: wire.event_id,
        aggregate_type,
        aggregate_id: wire.aggregate_id,
        occurred_at: wire.occurred_at,
        correlation_id: wire.correlation_id,
        causation_id: wire.causation_id,
        actor: wire.actor,
        event,
    })
}

/// Encodes the events of one command as one message body: a JSON array of their
/// wire forms, each keeping its own type and schema version. The log stores a
/// command's events as one message, so that appending them is one write checked
/// against the aggregate's version (all or nothing, optimistic) rather than an atomic
/// batch of several messages, which the server stages on disk one batch at a time.
pub fn encode_all(envelopes: &[Envelope]) -> Result<Vec<u8>, CodecError> {
    let mut body = Vec::with_capacity(256 * envelopes.len() + 2);
    body.push(b'[');
    for (i, envelope) in envelopes.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let wire = wire_out(envelope)?;
        serde_json::to_writer(&mut body, &wire).map_err(|source| CodecError::Encode {
            event_type: wire.event_type,
            source,
        })?;
    }
    body.push(b']');
    Ok(body)
}

/// Decodes a body written by [`encode_all`]: the events of one command, in order,
/// each upcast like [`decode`] does.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Envelope>, CodecError> {
    let items: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(CodecError::Malformed)?;
    items
        .into_iter()
        .map(|item| decode(item.get().as_bytes()))
        .collect()
}

/// Reads the payload of `event_type` at `schema_version`, upcasting if it is old.
fn decode_payload(
    aggregate_type: AggregateType,
    event_type: &str,
    schema_version: u16,
    data: &RawValue,
) -> Result<Event, CodecError> {
    let Some(current) = Event::current_version_in(aggregate_type, event_type) else {
        return Err(match Event::find_type(event_type) {
            Some((expected, _)) => CodecError::AggregateMismatch {
                event_type: event_type.to_owned(),
                expected,
                found: aggregate_type,
            },
            None => CodecError::UnknownEventType {
                event_type: event_type.to_owned(),
                schema_version,
            },
        });
    };
    let invalid = |source| CodecError::InvalidPayload {
        event_type: event_type.to_owned(),
        schema_version,
        source,
    };
    if schema_version > current {
        return Err(CodecError::FutureVersion {
            event_type: event_type.to_owned(),
            schema_version,
            current,
        });
    }
    let decoded = if schema_version == current {
        let mut deserializer = serde_json::Deserializer::from_str(data.get());
        Event::deserialize_payload(aggregate_type, event_type, &mut deserializer)
    } else {
        let old: serde_json::Value = serde_json::from_str(data.get()).map_err(invalid)?;
        let upcast =
            upcast_chain(event_type, schema_version, current, old).map_err(
                |error| match error {
                    ChainError::Missing { from_version } => CodecError::UnsupportedVersion {
                        event_type: event_type.to_owned(),
                        schema_version,
                        missing_from: from_version,
                    },
                    ChainError::Failed {
                        from_version,
                        error,
                    } => CodecError::Upcast {
                        event_type: event_type.to_owned(),
                        from_version,
                        source: error,
                    },
                },
            )?;
        Event::deserialize_payload(aggregate_type, event_type, upcast)
    };
    match decoded {
        Some(result) => result.map_err(invalid),
        // current_version_in found the type in this aggregate, so deserialize_payload
        // knows it too; both are generated from the same list.
        None => Err(CodecError::UnknownEventType {
            event_type: event_type.to_owned(),
            schema_version,
        }),
    }
}
