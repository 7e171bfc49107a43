//! Integration tests of the transit pool against the local stack (NATS JetStream and
//! PostgreSQL, `scripts/stack up`); each test has its own stream.

mod allocation;
mod chain;
mod routes;
mod support;
