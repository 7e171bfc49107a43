//! Integration tests of billing against the local stack (NATS JetStream and
//! PostgreSQL, `scripts/stack up`); each test has its own stream and database.

mod api;
mod ending;
mod support;
mod timers;
