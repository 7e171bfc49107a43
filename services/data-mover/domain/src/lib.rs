//! The data mover's decisions, as pure deciders (no I/O, no clock).
//!
//! | decider | aggregate | emits |
//! |---|---|---|
//! | [`transfer::TransferDecider`] | `transfer` | `TransferScheduled`, `TransferStarted`, `TransferProgressed`, `AccountFrozen`, `AccountUnfrozen`, `TransferVerified`, `TransferCompleted`, `TransferFailed`, `TransferCancelled` |

pub mod transfer;
