//! What can be asked of a migration, and by whom (the actor travels with the command).

use crate::calendar::WorkingCalendar;
use crate::compatibility::TargetSupport;
use chrono::{DateTime, Utc};
use ferry_events::{AccountLanguages, AccountSpec, Actor, Grants};
use uuid::Uuid;

/// A command to a migration: who asks, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationCommand {
    /// Who asks; checked against the migration's customer and the action's roles.
    pub actor: Actor,
    /// What the actor was granted, if it is one of the customer's users (nothing
    /// for anyone else).
    pub grants: Grants,
    /// What is asked.
    pub action: Action,
}

/// What is asked of a migration.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Step 1: opens the migration of a server (owner or support), checking every
    /// account's compatibility with the target.
    Open {
        /// The new migration's id.
        migration_id: Uuid,
        /// The server.
        server_id: String,
        /// Its owner.
        customer_id: String,
        /// The version it runs.
        from_version: String,
        /// Its accounts.
        accounts: Vec<AccountSpec>,
        /// The target version and what it supports.
        target: TargetSupport,
    },
    /// Step 1: checks the accounts again (after changes to them or to the target).
    CheckCompatibility {
        /// The accounts as they are now.
        accounts: Vec<AccountSpec>,
        /// The target as it is now.
        target: TargetSupport,
    },
    /// Step 1: copies an account's databases to a test server (owner or support).
    RequestTest {
        /// The account.
        account_id: String,
        /// The test copy's transfer.
        transfer_id: Uuid,
    },
    /// Step 1: throws a test copy away (owner or support).
    DiscardTest {
        /// The account.
        account_id: String,
    },
    /// The data mover finished a test copy: its address, or why it failed (ferry).
    RecordTestCopy {
        /// The test copy's transfer.
        transfer_id: Uuid,
        /// The test address, or the failure's reason.
        outcome: Result<String, String>,
    },
    /// Step 1: declares an account ready (owner or support).
    MarkReady {
        /// The account.
        account_id: String,
    },
    /// Step 1 (or 2, returning to 1): takes an account's readiness back.
    WithdrawReadiness {
        /// The account.
        account_id: String,
    },
    /// Step 2: asks for a transit server, every account being ready (owner or support).
    RequestTransit {
        /// The client server's configuration.
        configuration: String,
    },
    /// Step 2: support removes the language versions the target lacks and hands the
    /// request to the transit pool.
    RemoveObsoleteLanguages {
        /// What is removed, per account (may be empty).
        removals: Vec<AccountLanguages>,
    },
    /// Support gives the removed versions back: the migration returns to step 1.
    RestoreObsoleteLanguages,
    /// The transit pool queued the request (ferry).
    RecordQueued {
        /// The configuration waited for.
        configuration: String,
        /// Place in line, 1 next.
        position: u32,
    },
    /// The transit pool reserved a transit server (ferry).
    RecordTransitAssigned {
        /// The transit server.
        transit_server_id: String,
    },
    /// The transit server is installed, pre-copied and lent (ferry).
    RecordTransitReady {
        /// The transit server.
        transit_server_id: String,
        /// When the loan started.
        ready_at: DateTime<Utc>,
    },
    /// Step 4: moves one account to the transit server (owner or support).
    StartMove {
        /// The account.
        account_id: String,
        /// The cutover's transfer.
        transfer_id: Uuid,
        /// Size of its databases, for the downtime estimate.
        database_bytes: u64,
    },
    /// Step 5: the customer confirms a moved account works.
    Verify {
        /// The account.
        account_id: String,
    },
    /// Step 5: moves an account back to the client server, not yet reinstalled.
    StartRollback {
        /// The account.
        account_id: String,
        /// The rollback's transfer.
        transfer_id: Uuid,
        /// Size of its databases, for the downtime estimate.
        database_bytes: u64,
    },
    /// A cutover (move, rollback or relocation) is over: copied, verified and the
    /// traffic switched with the measured downtime, or failed (ferry).
    RecordCutover {
        /// The cutover's transfer.
        transfer_id: Uuid,
        /// Downtime in milliseconds, or why it failed.
        outcome: Result<u64, String>,
    },
    /// End of step 5: asks for the reinstall, every account being on the transit
    /// server (owner or support).
    RequestReinstall,
    /// Step 6: support starts the reinstall; the IPs are rerouted to the transit server.
    StartReinstall,
    /// End of step 6: support records the server reinstalled on the target version.
    RecordReinstalled {
        /// The version it runs now.
        infrastructure_version: String,
    },
    /// Step 7: support moves one account back, inside working hours.
    Relocate {
        /// The account.
        account_id: String,
        /// The relocation's transfer.
        transfer_id: Uuid,
        /// Size of its databases, for the downtime estimate.
        database_bytes: u64,
        /// The time of the request.
        now: DateTime<Utc>,
        /// Support's working hours and days.
        calendar: WorkingCalendar,
    },
    /// Abandons the migration before any account has moved (owner or support).
    Cancel {
        /// Why.
        reason: String,
    },
    /// The data mover reports the migration's pre-copy failed (ferry).
    RecordPreCopyFailed {
        /// The failed pre-copy.
        transfer_id: Uuid,
        /// Where it copied to.
        destination: ferry_events::PreCopyDestination,
        /// Why.
        reason: String,
        /// Whether trying again may succeed.
        retryable: bool,
        /// When it failed (the retry is due a backoff later).
        at: DateTime<Utc>,
    },
    /// Tries the failed pre-copy again: ferry when its retry is due (naming the
    /// failure it retries), or support (`None`: the failure recorded).
    RetryPreCopy {
        /// The failure the retry is for, when ferry's timer asks.
        failed_transfer_id: Option<Uuid>,
    },
    /// Calls off an account's move, rollback or relocation that cannot finish, before
    /// its traffic switch (support).
    AbortTransfer {
        /// The account.
        account_id: String,
        /// Why.
        reason: String,
    },
}
