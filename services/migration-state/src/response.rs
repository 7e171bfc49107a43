//! The shapes the query routes answer with, and how a migration's detail is put
//! together from its view, its server, its queue position and the time of asking.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::loan::{LoanView, loan};
use crate::query::{QueueRow, ServerRow};
use crate::view::{
    AccountState, MigrationStatus, MigrationView, OperationFailure, ServerView, TestStatus,
    TransferView,
};

/// A server in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerListItem {
    /// The server.
    pub server_id: String,
    /// Its host name.
    pub name: String,
    /// The owning customer.
    pub customer_id: String,
    /// Its hardware configuration.
    pub configuration: String,
    /// The infrastructure version it runs.
    pub infrastructure_version: String,
    /// Its current migration.
    pub migration_id: Option<Uuid>,
    /// That migration's state.
    pub state: Option<MigrationStatus>,
    /// That migration's step (1 to 8).
    pub step: Option<u8>,
}

impl From<ServerRow> for ServerListItem {
    fn from(row: ServerRow) -> Self {
        Self {
            server_id: row.server_id,
            name: row.name,
            customer_id: row.customer_id,
            configuration: row.configuration,
            infrastructure_version: row.infrastructure_version,
            migration_id: row.migration_id,
            state: row.state,
            step: row.step,
        }
    }
}

/// One account of a migration, in short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountLine {
    /// The account.
    pub account_id: String,
    /// Its name on the server, if the server still hosts it.
    pub name: Option<String>,
    /// Its state in the migration.
    pub state: AccountState,
    /// Its test migration's status.
    pub test: TestStatus,
    /// Where its test copy is reached.
    pub test_address: Option<String>,
    /// Its downtime so far, in milliseconds.
    pub downtime_ms: u64,
    /// The transfer moving it right now, with its progress.
    pub current_transfer: Option<TransferView>,
    /// Its last failed move, rollback or relocation, with the reason (the account
    /// stayed where it was).
    pub last_failure: Option<OperationFailure>,
    /// Why its test copy failed, when it did.
    pub test_failure: Option<String>,
}

/// The transit server a migration holds, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransitLine {
    /// The transit server.
    pub transit_server_id: String,
    /// Since when the migration holds it (reserved or assigned).
    pub since: Option<DateTime<Utc>>,
    /// When it was ready for the accounts (step 4).
    pub ready_at: Option<DateTime<Utc>>,
    /// When it was given back.
    pub released_at: Option<DateTime<Utc>>,
}

/// A migration with what is computed when asked: queue position and loan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MigrationDetail {
    /// The migration.
    pub migration_id: Uuid,
    /// Its state.
    pub state: MigrationStatus,
    /// Its step (1 to 8; `None` once cancelled).
    pub step: Option<u8>,
    /// Every account's state and downtime.
    pub accounts: Vec<AccountLine>,
    /// Total downtime of every account, in milliseconds.
    pub downtime_ms: u64,
    /// The transit server it holds and since when.
    pub transit: Option<TransitLine>,
    /// Its place in the queue (1: next served), while it waits.
    pub queue_position: Option<u32>,
    /// The loan of the transit server as billing recorded it: days used, charged.
    pub loan: Option<LoanView>,
    /// Everything the read model knows of it.
    pub view: MigrationView,
}

impl MigrationDetail {
    /// The detail of `view`, with account names from `server`, as of `now`.
    pub fn of(
        view: MigrationView,
        server: Option<&ServerView>,
        queue_position: Option<u32>,
        now: DateTime<Utc>,
    ) -> Self {
        let accounts = view
            .accounts
            .iter()
            .map(|a| AccountLine {
                account_id: a.account_id.clone(),
                name: server
                    .and_then(|s| s.account(&a.account_id))
                    .map(|s| s.account.name.clone()),
                state: a.state,
                test: a.test.status,
                test_address: a.test.test_address.clone(),
                downtime_ms: a.downtime_ms,
                current_transfer: a.operation.as_ref().map(|o| o.transfer.clone()),
                last_failure: a.last_failure.clone(),
                test_failure: a.test.failure.clone(),
            })
            .collect();
        let transit = view.transit.as_ref().map(|t| TransitLine {
            transit_server_id: t.transit_server_id.clone(),
            since: t.reserved_at.or(t.assigned_at),
            ready_at: t.ready_at,
            released_at: t.released_at,
        });
        let loan = view.loan.as_ref().map(|record| loan(record, now));
        let waiting = view.queue.as_ref().is_some_and(|q| q.is_waiting());
        Self {
            migration_id: view.migration_id,
            state: view.state,
            step: view.step,
            accounts,
            downtime_ms: view.downtime_ms,
            transit,
            queue_position: queue_position.filter(|_| waiting),
            loan,
            view,
        }
    }
}

/// A server with its accounts and its current migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerDetail {
    /// The server and its accounts.
    pub server: ServerView,
    /// Its current (latest) migration.
    pub migration: Option<MigrationDetail>,
}

/// A migration waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueuedMigration {
    /// Its place, 1 being the next served.
    pub position: u32,
    /// The migration.
    pub migration_id: Uuid,
    /// Its client server.
    pub client_server_id: String,
    /// When it asked for a transit server.
    pub requested_at: DateTime<Utc>,
    /// The stream sequence of its queuing (the order of service).
    pub queued_sequence: u64,
}

impl From<QueueRow> for QueuedMigration {
    fn from(row: QueueRow) -> Self {
        Self {
            position: row.position,
            migration_id: row.migration_id,
            client_server_id: row.client_server_id,
            requested_at: row.requested_at,
            queued_sequence: row.queued_sequence,
        }
    }
}

/// One configuration's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransitQueueView {
    /// The configuration.
    pub configuration: String,
    /// The migrations waiting, first served first.
    pub waiting: Vec<QueuedMigration>,
    /// Its transit servers free to lend.
    pub free_transit_servers: Vec<String>,
}
