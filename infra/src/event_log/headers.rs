//! Header names ferry sets on every event message, beside the JetStream ones.
//!
//! The envelope in the body is the contract; these headers let consumers route,
//! deduplicate and trace without decoding the body.

/// The event's type name, e.g. `AccountMarkedReady`.
pub const EVENT_TYPE: &str = "Ferry-Event-Type";
/// The idempotency key of the command that appended the event, on the events of a
/// multi-event command: JetStream refuses `Nats-Msg-Id` inside atomic batches, so this
/// header is what a retried append reads back to recognise its own events. (A lone
/// event carries the key in `Nats-Msg-Id`, as `<subject>:<key>:0`.)
pub const IDEMPOTENCY_KEY: &str = "Ferry-Idempotency-Key";
/// Position of the event within its command (0-based).
pub const COMMAND_INDEX: &str = "Ferry-Command-Index";

/// JetStream: deduplication id.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// JetStream: optimistic concurrency on the subject.
pub const NATS_EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
/// JetStream atomic batch (ADR-50): batch id.
pub const NATS_BATCH_ID: &str = "Nats-Batch-Id";
/// JetStream atomic batch: 1-based position in the batch.
pub const NATS_BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
/// JetStream atomic batch: set on the last message to commit the batch.
pub const NATS_BATCH_COMMIT: &str = "Nats-Batch-Commit";
