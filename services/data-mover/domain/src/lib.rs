//! The data mover's decisions, as pure deciders (no I/O, no clock).
//!
//! | decider | aggregate | emits |
//! |---|---|---|
//! | [`transfer::TransferDecider`] | `transfer` | `TransferScheduled`, `TransferStarted`, `TransferProgressed`, `AccountFrozen`, `AccountUnfrozen`, `TransferVerified`, `TransferCompleted`, `TransferFailed`, `TransferCancelled` |
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests, which `foo/mod.rs` declares `#[cfg(test)] mod tests;`.

pub mod policy;
pub mod transfer;
