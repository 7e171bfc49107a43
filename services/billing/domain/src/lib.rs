//! ferry billing service, pure domain: the loan of a transit server to a migration
//! (aggregate `loan`, id = the migration uuid) and the billing policy that opens,
//! charges, warns about and closes it. No I/O, no clock, no randomness: the time a
//! decision needs is given in its command.
//!
//! - [`pricing`]: the charging rule (days of a loan, pro rata per calendar month).
//! - [`loan`]: the loan's decider (`LoanOpened`, `LoanFreePeriodChanged`,
//!   `LoanFreePeriodEnding`, `LoanDayCharged`, `LoanClosed`).
//! - [`policy`]: the billing policy over its view `billing_view` (consumes
//!   `ServerRegistered`, `ServerDetailsChanged`, `MigrationOpened`,
//!   `TransitServerLent`, `TransitServerReleased` and the loan's own events), whose
//!   loan entries are the durable timers of charges and notices.
//!
//! Unit tests: a module with tests is a directory, `foo/mod.rs` for its code and
//! `foo/tests.rs` for its tests.

pub mod loan;
pub mod policy;
pub mod pricing;
