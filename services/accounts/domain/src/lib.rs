//! The accounts service's decisions, as pure deciders (no I/O, no clock): each takes
//! the state folded from its aggregate's events and a command, and returns the events
//! the command causes or why it is refused.
//!
//! | decider | aggregate | emits |
//! |---|---|---|
//! | [`server::ServerDecider`] | `server` | `ServerRegistered`, `ServerDetailsChanged`, `Account{Added,Changed,Removed}`, `LanguageVersions{Removed,Restored}`, `InfrastructureVersionChanged`, `RequiredMigration{Opened,Closed}` |
//! | [`target_infrastructure::TargetInfrastructureDecider`] | `target_infrastructure` | `InfrastructureVersion{Published,SupportChanged}` |
//! | [`migration::MigrationDecider`] | `migration` | the 29 events of the eight steps |
//! | [`optional_migration::OptionalMigrationDecider`] | `optional_migration` | `OptionalMigration{Scheduled,Started,Applied,Failed,Cancelled}` |
//!
//! [`compatibility`] and [`calendar`] are pure helpers the deciders use.
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests, which `foo/mod.rs` declares `#[cfg(test)] mod tests;`.

pub mod access;
pub mod calendar;
pub mod compatibility;
pub mod migration;
pub mod optional_migration;
pub mod policy;
pub mod server;
pub mod target_infrastructure;
pub mod validation;
