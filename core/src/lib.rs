//! ferry-core: the pure core every service decides and reacts with.
//!
//! - [`decider`]: one aggregate's decision, `decide(state, command) -> events` and
//!   `evolve(state, event)`;
//! - [`policy`]: a service's reaction to events, `(event, local view) -> commands`,
//!   over a [`policy::View`] that folds the outside facts the service needs;
//! - [`scenario`]: given/when/then for both, with no server.
//!
//! This crate depends on no I/O crate (no NATS, PostgreSQL, HTTP or async runtime):
//! `scripts/check-pure` fails the build when one reaches its dependency tree, and
//! the same holds for every service's `domain` crate. I/O lives at the edges, in
//! `ferry-infra` and the services.
//!
//! Emits and consumes no event type of its own.

pub mod decider;
pub mod policy;
pub mod scenario;

pub use decider::{Decider, Refusal, RefusalKind};
pub use policy::{Entries, Missing, Policy, View, reaction_id};
