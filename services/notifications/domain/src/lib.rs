//! ferry notifications service, pure domain: no I/O, no clock, no randomness.
//!
//! - [`notification`]: the decider of one message of the outbox (aggregate
//!   `notification`): queued once, each send attempt recorded before it is made, sent,
//!   failed (retried or given up), put back in the outbox by support.
//! - [`policy`]: which event a customer or support must hear of, over the service's
//!   own view (contacts of servers, migrations, loans): the message to queue, its
//!   template, audience, language and the values it is rendered with.
//!
//! Emits (through the decider) `NotificationQueued`, `NotificationSending`,
//! `NotificationSent`, `NotificationFailed`, `NotificationRequeued`; the policy
//! consumes server, migration, transit, DNS zone and loan events.
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests.

pub mod notification;
pub mod policy;
