//! ferry-infra: the plumbing every ferry service shares, and nothing of the domain.
//!
//! - [`event_log`]: the JetStream event log, the source of truth. One stream holds
//!   every event; one subject per aggregate instance
//!   (`<prefix>.events.<aggregate_type>.<aggregate_id>`). Appends are optimistic,
//!   idempotent and atomic per command; loads, replays and durable consumers read it.
//! - [`command`]: load → decide (pure) → append, retried on conflict: the one shape of
//!   every command handler.
//! - [`reactor`]: durable consumers turning events into a service's own commands,
//!   in order, retried while dependencies are down, idempotent on redelivery.
//! - [`nats_users`]: one NATS user per service, allowed to publish only its own
//!   aggregates' subjects; their credentials (nkey seeds read from files).
//! - [`secrets`]: the secret store of database passwords, which events and read
//!   models name by reference only.
//! - [`api`]: the conventions of the HTTP JSON APIs (errors, actor, idempotency key).
//! - [`projection`]: PostgreSQL read models fed by durable consumers, checkpointed in
//!   the same transaction as their rows, rebuildable from sequence 1.
//! - [`runtime`], [`config`], [`telemetry`], [`shutdown`], [`http`], [`metrics`]: a
//!   service process — settings from the environment, tracing with OpenTelemetry
//!   propagated through NATS headers, bounded graceful shutdown, health, readiness and
//!   Prometheus metrics.
//!
//! This crate emits and consumes no event of its own: it moves the events of the
//! `ferry-events` catalogue.

pub mod api;
pub mod attention;
pub mod backoff;
pub mod clock;
pub mod command;
pub mod config;
pub mod event_log;
pub mod http;
pub mod metrics;
pub mod nats_users;
pub mod policy;
pub mod postgres;
pub mod projection;
pub mod reactor;
pub mod runtime;
pub mod secrets;
pub mod shutdown;
pub mod strict_json;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
