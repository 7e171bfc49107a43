//! PostgreSQL copies by logical replication ([`DatabaseMethod::LogicalReplication`]):
//! the low-downtime method. The account's database stays live at its source while a
//! subscription at the destination copies it and then follows its changes; only the
//! last changes are applied during the cutover's freeze.
//!
//! - [`eligibility`]: whether a database can be copied this way, in words if not.
//! - [`start`]: staging database `<name>__ferry_incoming` at the destination with the
//!   source's schema (`pg_dump --schema-only | pg_restore`), a publication of the
//!   source's tables and a `pgoutput` slot at the source, a subscription in the
//!   staging database copying the initial data. The source is never written to beyond
//!   that publication and slot. The objects are named `ferry_<hash>` after the copy's
//!   destination, so that a later [`start`] (another process, days later, after a
//!   crash) finds them: a healthy replication is reused, a broken one rebuilt.
//! - [`LogicalCopy::check_live`]: once synced, the account live, every table hashed
//!   in key-range chunks at both ends ([`super::postgres::live_check`]).
//! - [`LogicalCopy::finish`]: with the source frozen ([`super::postgres::freeze`]),
//!   waits until everything is applied, copies the sequences' values (not
//!   replicated), removes the replication, verifies the staging database table by
//!   table (after a live check, hashing again only the chunks written since:
//!   [`super::postgres::frozen_check`]) and switches it to its final name, as
//!   [`super::postgres::copy`] does.
//! - [`abort`]: removes whatever replication exists for a copy. A forgotten slot
//!   makes the source keep its WAL forever, so every step is tried even when another
//!   failed, and what is left is found again by the next call.
//!
//! The publication lists the source's tables (rather than `FOR ALL TABLES`): a table
//! created later without a primary key is then not published, and its writes cannot
//! fail at the source; it is missing at the destination instead, which the
//! verification reports and the next [`start`] repairs by rebuilding the replication.
//!
//! The subscription connects to the source with the source URL's host, port, user and
//! password, as seen from the destination server: both servers must reach each other.
//! On the same cluster (tests) the slot is created apart from the subscription
//! (`create_slot = false`): `CREATE SUBSCRIPTION` would otherwise wait for itself.
//!
//! [`DatabaseMethod::LogicalReplication`]: super::DatabaseMethod::LogicalReplication
//! [`eligibility`]: fn@eligibility

use std::time::Instant;

use names::Names;

use super::CopySpec;

mod eligibility;
mod finish;
mod health;
mod names;
mod session;
mod setup;
mod teardown;
mod watchdog;

pub use eligibility::eligibility;
pub use setup::start;
pub use teardown::abort;

/// Whether a database can be copied by logical replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// It can.
    Eligible,
    /// It cannot, for this reason (in words, naming the tables concerned); a dump and
    /// restore still can.
    NotEligible(String),
}

/// A logical replication set up by [`start`]: the staging database follows the source.
/// Dropping it leaves the replication running (a later [`start`] finds it again);
/// [`LogicalCopy::finish`] or [`abort`] removes it.
pub struct LogicalCopy {
    spec: CopySpec,
    names: Names,
    started: Instant,
    /// The chunks hashed live, if [`LogicalCopy::check_live`] ran.
    live: Option<super::postgres::LiveCheck>,
}

impl std::fmt::Debug for LogicalCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the spec: its URLs carry passwords.
        f.debug_struct("LogicalCopy")
            .field("database", &self.spec.database)
            .field("staging", &self.names.staging)
            .field("replication", &self.names.object)
            .finish_non_exhaustive()
    }
}
