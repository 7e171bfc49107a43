//! Events of a required migration of one client server through the eight steps
//! (aggregate `migration`, written by the accounts service). Aggregate id: the
//! migration uuid, hyphenated lowercase.
//!
//! | step | events |
//! |---|---|
//! | 1 preparing | [`MigrationOpened`], [`AccountCompatibilityChecked`], [`TestMigrationRequested`], [`TestMigrationAvailable`], [`TestMigrationFailed`], [`TestMigrationDiscarded`], [`AccountMarkedReady`], [`AccountReadinessWithdrawn`] |
//! | 2 transit requested | [`TransitServerRequested`], [`ObsoleteLanguagesRemoved`], [`ObsoleteLanguagesRestored`] (back to step 1) |
//! | 3 transit waiting / installing | [`TransitServerQueued`], [`TransitServerAssigned`], [`TransitServerReady`], [`PreCopyFailed`], [`PreCopyRetried`] |
//! | 4 migrating accounts | [`AccountMoveStarted`], [`AccountMoved`], [`AccountMoveFailed`], [`AccountTransferAborted`] |
//! | 5 verifying | [`AccountVerified`], [`AccountRollbackStarted`], [`AccountRolledBack`], [`AccountRollbackFailed`], [`ReinstallRequested`] |
//! | 6 reinstalling | [`ReinstallStarted`], [`ServerReinstalled`], [`PreCopyFailed`], [`PreCopyRetried`] (the pre-copy back) |
//! | 7 relocating | [`AccountRelocationStarted`], [`AccountRelocated`], [`AccountRelocationFailed`] |
//! | 8 completed | [`MigrationCompleted`] |
//! | 1 to 3, while nothing is irreversible | [`MigrationCancelled`] |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::LanguageVersion;

/// What makes an account incompatible with the target infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompatibilityKind {
    /// The account uses a language version the target no longer supports; support
    /// removes it in step 2.
    LanguageVersionRemoved,
    /// A database runs an engine version the target does not support.
    DatabaseVersionUnsupported,
    /// A database will run a newer engine version on the target: supported, but the
    /// application's queries may need changes (worth a test migration).
    DatabaseVersionUpgraded,
    /// Anything else the compatibility check or support found.
    Other,
}

/// One incompatibility of an account with the target infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incompatibility {
    /// What kind of incompatibility.
    pub kind: IncompatibilityKind,
    /// What it is about, e.g. `php 7.4` or the database name `bakery_shop`.
    pub subject: String,
    /// A human explanation, e.g. `"PHP 7.4 is not available on v2026; use 8.1 or later"`.
    pub detail: String,
}

/// The language versions of one account, for step 2's removals and restorations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLanguages {
    /// The account.
    pub account_id: String,
    /// The language versions.
    pub versions: Vec<LanguageVersion>,
}

/// A required migration of a client server to a target infrastructure version began
/// (step 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationOpened {
    /// The migration id (the aggregate id, and the correlation id of every event of
    /// the migration).
    pub migration_id: Uuid,
    /// The client server being migrated.
    pub server_id: String,
    /// The customer owning it.
    pub customer_id: String,
    /// The infrastructure version the server runs now, e.g. `v2020`.
    pub from_version: String,
    /// The infrastructure version it migrates to, e.g. `v2026`.
    pub target_version: String,
    /// The ids of the server's accounts, all of which must move.
    pub accounts: Vec<String>,
}

/// An account's compatibility with the target was checked (step 1). An empty list
/// of issues means compatible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCompatibilityChecked {
    /// The account.
    pub account_id: String,
    /// Everything found, empty when none.
    pub issues: Vec<Incompatibility>,
}

/// The customer asked for a test migration of an account: its data copied to a test
/// server running the target version, the original untouched (step 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMigrationRequested {
    /// The account.
    pub account_id: String,
    /// The test copy's transfer.
    pub transfer_id: Uuid,
}

/// A test migration is ready to be tried (step 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMigrationAvailable {
    /// The account.
    pub account_id: String,
    /// The test copy's transfer.
    pub transfer_id: Uuid,
    /// Where the customer reaches the copy, e.g. `test-0042.hosting.example`.
    pub test_address: String,
}

/// A test migration could not be prepared (step 1); the original is untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMigrationFailed {
    /// The account.
    pub account_id: String,
    /// The test copy's transfer.
    pub transfer_id: Uuid,
    /// Why, for the customer and support.
    pub reason: String,
}

/// A test migration was thrown away (step 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestMigrationDiscarded {
    /// The account.
    pub account_id: String,
    /// The test copy's transfer, whose copy is to be deleted.
    pub transfer_id: Uuid,
}

/// The customer declared an account ready to move (step 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMarkedReady {
    /// The account.
    pub account_id: String,
}

/// The customer took back an account's readiness (step 1, or step 2 returning to 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReadinessWithdrawn {
    /// The account.
    pub account_id: String,
}

/// Every account being ready, the customer asked for a transit server (enters step 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerRequested {
    /// The client server's configuration, which the transit server must match,
    /// e.g. `vps-4c-8g`.
    pub configuration: String,
}

/// Support removed from the accounts the language versions the target no longer
/// supports (step 2; reversible).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObsoleteLanguagesRemoved {
    /// What was removed, per account.
    pub removals: Vec<AccountLanguages>,
}

/// Support gave the removed language versions back; the migration returns to step 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObsoleteLanguagesRestored {
    /// What was given back, per account.
    pub restorations: Vec<AccountLanguages>,
}

/// No transit server of the configuration was free: the migration waits in line
/// (step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerQueued {
    /// The configuration waited for.
    pub configuration: String,
    /// Place in the queue when queued, 1 being the next served.
    pub position: u32,
}

/// A transit server was reserved for the migration; its installation and the
/// pre-copy of files and mails begin (step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerAssigned {
    /// The transit server, e.g. `tr-0007`.
    pub transit_server_id: String,
}

/// The transit server is installed on the target version with files and mails
/// pre-copied: the customer can move accounts (enters step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerReady {
    /// The transit server.
    pub transit_server_id: String,
    /// When it became ready.
    pub ready_at: DateTime<Utc>,
}

/// Where a pre-copy of files and mails goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreCopyDestination {
    /// To the installed transit server (step 3): its loan waits for it.
    TransitServer,
    /// Back to the reinstalled client server (step 6).
    ClientServer,
}

/// A pre-copy of files and mails failed (step 3, or 6 for the copy back). With
/// `retry_at`, ferry tries again then by itself; without, support must, once the
/// reason is dealt with (a source missing, a full disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCopyFailed {
    /// The failed pre-copy transfer.
    pub transfer_id: Uuid,
    /// Where it copied to.
    pub destination: PreCopyDestination,
    /// Why, for the customer and support.
    pub reason: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// Which attempt failed (1 for the first pre-copy).
    pub attempt: u32,
    /// When ferry tries again by itself; `None`: support must.
    pub retry_at: Option<DateTime<Utc>>,
}

/// A failed pre-copy is tried again, as a new transfer (by ferry when due, or by
/// support).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCopyRetried {
    /// The new pre-copy transfer.
    pub transfer_id: Uuid,
    /// Where it copies to.
    pub destination: PreCopyDestination,
    /// Its attempt number (2 for the first retry).
    pub attempt: u32,
}

/// Support called off an account's move, rollback or relocation that could not
/// finish, before its traffic switch: its transfer is cancelled, its sources thawed,
/// and the account serves from where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTransferAborted {
    /// The account.
    pub account_id: String,
    /// The transfer called off.
    pub transfer_id: Uuid,
    /// Why, for the customer and support.
    pub reason: String,
}

/// An account's move to the transit server began (step 4): final sync, databases,
/// then traffic switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMoveStarted {
    /// The account.
    pub account_id: String,
    /// The cutover transfer.
    pub transfer_id: Uuid,
    /// Expected downtime in milliseconds by the host's rule of thumb (one minute per
    /// gigabyte of databases); the data mover's fitted estimate follows as the
    /// transfer's `DowntimeEstimated`.
    pub estimated_downtime_ms: u64,
}

/// An account runs on the transit server (step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMoved {
    /// The account.
    pub account_id: String,
    /// The cutover transfer.
    pub transfer_id: Uuid,
    /// Measured downtime, in milliseconds, from freeze to traffic switched.
    pub downtime_ms: u64,
}

/// An account's move failed; it still runs on the client server (step 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMoveFailed {
    /// The account.
    pub account_id: String,
    /// The cutover transfer.
    pub transfer_id: Uuid,
    /// Why, for the customer and support.
    pub reason: String,
}

/// The customer confirmed a moved account works on the transit server (step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountVerified {
    /// The account.
    pub account_id: String,
}

/// A moved account goes back to the client server, which is not reinstalled yet
/// (step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRollbackStarted {
    /// The account.
    pub account_id: String,
    /// The rollback transfer.
    pub transfer_id: Uuid,
    /// Expected downtime in milliseconds.
    pub estimated_downtime_ms: u64,
}

/// An account runs on the client server again (step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRolledBack {
    /// The account.
    pub account_id: String,
    /// The rollback transfer.
    pub transfer_id: Uuid,
    /// Measured downtime, in milliseconds.
    pub downtime_ms: u64,
}

/// An account's rollback failed; it still runs on the transit server (step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRollbackFailed {
    /// The account.
    pub account_id: String,
    /// The rollback transfer.
    pub transfer_id: Uuid,
    /// Why, for the customer and support.
    pub reason: String,
}

/// Every account being on the transit server, the customer asked for the client
/// server's reinstallation (end of step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReinstallRequested {}

/// Support started reinstalling the client server; its IPs are rerouted to the
/// transit server meanwhile (step 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReinstallStarted {
    /// The transit server the client server's IPs are rerouted to.
    pub ips_rerouted_to: String,
}

/// The client server runs the target version, files and mails pre-copied back
/// (end of step 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReinstalled {
    /// The version it now runs, e.g. `v2026`.
    pub infrastructure_version: String,
}

/// An account's move back to the reinstalled client server began (step 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRelocationStarted {
    /// The account.
    pub account_id: String,
    /// The relocation transfer.
    pub transfer_id: Uuid,
    /// Expected downtime in milliseconds (one minute per gigabyte of databases).
    pub estimated_downtime_ms: u64,
}

/// An account runs on the reinstalled client server (step 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRelocated {
    /// The account.
    pub account_id: String,
    /// The relocation transfer.
    pub transfer_id: Uuid,
    /// Measured downtime, in milliseconds.
    pub downtime_ms: u64,
}

/// An account's relocation failed; it still runs on the transit server (step 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRelocationFailed {
    /// The account.
    pub account_id: String,
    /// The relocation transfer.
    pub transfer_id: Uuid,
    /// Why, for the customer and support.
    pub reason: String,
}

/// Every account is back on the reinstalled client server: the migration is over
/// (step 8); the transit server returns to the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationCompleted {
    /// Sum of the measured downtimes of every account move and relocation, in
    /// milliseconds.
    pub total_downtime_ms: u64,
}

/// The migration was abandoned while nothing irreversible had happened (steps 1 to
/// 3): any transit request or reservation is to be released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationCancelled {
    /// Why, for the customer and support.
    pub reason: String,
}

aggregate_events! {
    /// An event of a required migration (aggregate `migration`).
    pub enum MigrationEvent for Migration {
        MigrationOpened = 1,
        AccountCompatibilityChecked = 1,
        TestMigrationRequested = 1,
        TestMigrationAvailable = 1,
        TestMigrationFailed = 1,
        TestMigrationDiscarded = 1,
        AccountMarkedReady = 1,
        AccountReadinessWithdrawn = 1,
        TransitServerRequested = 1,
        ObsoleteLanguagesRemoved = 1,
        ObsoleteLanguagesRestored = 1,
        TransitServerQueued = 1,
        TransitServerAssigned = 1,
        TransitServerReady = 1,
        AccountMoveStarted = 1,
        AccountMoved = 1,
        AccountMoveFailed = 1,
        AccountVerified = 1,
        AccountRollbackStarted = 1,
        AccountRolledBack = 1,
        AccountRollbackFailed = 1,
        ReinstallRequested = 1,
        ReinstallStarted = 1,
        ServerReinstalled = 1,
        AccountRelocationStarted = 1,
        AccountRelocated = 1,
        AccountRelocationFailed = 1,
        MigrationCompleted = 1,
        MigrationCancelled = 1,
        PreCopyFailed = 1,
        PreCopyRetried = 1,
        AccountTransferAborted = 1,
    }
}
