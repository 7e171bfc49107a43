//! The pure deciders of the transit pool: no I/O, no clock, no randomness.
//!
//! - [`transit_queue`]: the queue of one configuration, which is also the allocator
//!   of that configuration's transit servers (who is free, who waits, who holds which).
//! - [`transit_server`]: the life cycle of one transit server (reserved, installing,
//!   installed, lent, wiping, out of service), following the queue's decisions.
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests, which `foo/mod.rs` declares `#[cfg(test)] mod tests;`.

pub mod policy;
pub mod transit_queue;
pub mod transit_server;
