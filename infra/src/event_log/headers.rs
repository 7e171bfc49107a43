//! Header names ferry sets on every event message, beside the JetStream ones.
//!
//! The envelope in the body is the contract; these headers let consumers route,
//! deduplicate and trace without decoding the body.

/// The event's type name, e.g. `AccountMarkedReady`; on a message carrying several
/// events, their types in order, separated by commas.
pub const EVENT_TYPE: &str = "Ferry-Event-Type";
/// On a message carrying the events of a multi-event command: how many. The body is
/// then a JSON array of envelopes ([`ferry_events::encode_all`]); without this header
/// it is one envelope.
pub const EVENT_COUNT: &str = "Ferry-Event-Count";

/// JetStream: deduplication id.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// JetStream direct get: the stream sequence of the message answered.
pub const NATS_SEQUENCE: &str = "Nats-Sequence";
/// JetStream batched direct get: how many matching messages remain past the batch.
pub const NATS_NUM_PENDING: &str = "Nats-Num-Pending";
/// JetStream: optimistic concurrency on the subject.
pub const NATS_EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// JetStream atomic batch (ADR-50): batch id. ferry does not write atomic batches
/// (a command is one message); the benchmarks compare with them.
pub const NATS_BATCH_ID: &str = "Nats-Batch-Id";
/// JetStream atomic batch: 1-based position in the batch.
pub const NATS_BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
/// JetStream atomic batch: set on the last message to commit the batch.
pub const NATS_BATCH_COMMIT: &str = "Nats-Batch-Commit";
