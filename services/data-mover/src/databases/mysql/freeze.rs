//! The freeze of a source schema for a cutover ([`freeze`], [`MysqlFreeze`]): its
//! accounts locked durably (`accounts`), their sessions and the schema's killed, and
//! its tables' read lock held by a session of ferry for as long as the cutover
//! needs; then thawed or retired. [`thaw`] and [`retire`] do the same without a
//! [`MysqlFreeze`] in hand (after a restart: the lock's session is gone, the
//! accounts' locks are not).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::MAX_NAME;
use super::accounts;
use super::client::{Client, ident};
use super::schema::{schema, tables_of};
use super::sessions::{Targets, kill_sessions};
use crate::databases::endpoint::Endpoint;
use crate::databases::{DbError, check_name};

/// How long the freeze waits for the schema's tables (open transactions of sessions it
/// could not kill) before giving up, in seconds.
const FREEZE_LOCK_WAIT_SECS: u32 = 60;

/// How long releasing the lock politely may take before the connection is simply
/// dropped (which releases it too).
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// A MySQL/MariaDB schema whose writes are stopped, for the cutover of its account.
///
/// MariaDB 10.11 has no per-schema read-only switch. The freeze has two halves:
/// - **durable**: every account holding a privilege on the schema (not the server's
///   administrators, ferry's login among them) is locked (`ALTER USER … ACCOUNT
///   LOCK`, recorded in ferry's `ferry_freeze` schema on the server, see `accounts`),
///   then the sessions of those accounts and those whose default database is the
///   schema are killed and waited for. The server keeps the locks across a crash of
///   ferry: no account of the schema can log in until [`thaw`];
/// - **while ferry runs**: a session holding `FLUSH TABLES <every table and sequence
///   of the schema> WITH READ LOCK`, so that administrators' sessions and the
///   schema's events do not change it during the final catch-up either (their writes
///   **wait**, up to their own `lock_wait_timeout`). It dies with ferry; the accounts'
///   locks do not.
///
/// The binary log is unaffected: reading it for the last catch-up
/// ([`crate::databases::mysql_binlog`]) and verifying the tables both work while
/// frozen.
///
/// Limits: administrators (accounts with global privileges) and the schema's events
/// can write once the read lock is gone (a crash); tables created after the freeze
/// are not read-locked (a `CREATE TABLE` is DDL, which the binlog catch-up refuses).
/// Locking an account locks it on the whole server: a user shared with another
/// schema is locked out of that one too while frozen (and for good once retired).
///
/// Dropping it without [`thaw`](MysqlFreeze::thaw) or [`retire`](MysqlFreeze::retire)
/// releases the read lock only: the accounts stay locked (see [`thaw`]).
pub struct MysqlFreeze {
    endpoint: Endpoint,
    database: String,
    session: Client,
}

impl std::fmt::Debug for MysqlFreeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlFreeze")
            .field("endpoint", &self.endpoint)
            .field("database", &self.database)
            .field("session", &self.session.id())
            .finish()
    }
}

/// Stops writes to `database` on the server at `url` (see [`MysqlFreeze`]): locks its
/// accounts, kills its and their sessions, then locks every table and sequence of it
/// for reading. Fails ([`DbError::Query`]) if the lock is not granted within a minute
/// (the accounts stay locked: the caller thaws).
pub async fn freeze(url: &str, database: &str) -> Result<MysqlFreeze, DbError> {
    check_name(database, MAX_NAME)?;
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    if schema(&endpoint, database, &cancel).await?.is_none() {
        return Err(DbError::NotFound {
            name: database.to_owned(),
        });
    }
    let users = accounts::lock(&endpoint, database, false).await?;
    let tables = tables_of(&endpoint, database, &["BASE TABLE", "SEQUENCE"], &cancel).await?;
    let mut session = Client::connect(&endpoint, &cancel).await?;
    session
        .execute(
            &format!("SET SESSION lock_wait_timeout = {FREEZE_LOCK_WAIT_SECS}"),
            (),
            &cancel,
        )
        .await?;
    let targets = Targets {
        database,
        users: &users,
        waiting: false,
        own: session.id(),
    };
    let killed = kill_sessions(&endpoint, targets).await?;
    if !tables.is_empty() {
        let names: Vec<String> = tables
            .iter()
            .map(|t| format!("{}.{}", ident(database), ident(t)))
            .collect();
        let lock = format!("FLUSH TABLES {} WITH READ LOCK", names.join(", "));
        session.execute(&lock, (), &cancel).await?;
    }
    tracing::info!(%database, tables = tables.len(), accounts = users.len(), killed, "mysql schema frozen");
    Ok(MysqlFreeze {
        endpoint,
        database: database.to_owned(),
        session,
    })
}

impl MysqlFreeze {
    /// The frozen schema.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Whether the read lock is still held: `Ok` if the session still answers, else
    /// the error (the accounts are still locked; administrators may have written).
    pub async fn still_held(&mut self) -> Result<(), DbError> {
        self.session.ping().await
    }

    /// The cutover failed; the account stays on the source: its accounts are unlocked
    /// (see [`thaw`]) and the read lock released (waiting writers proceed).
    pub async fn thaw(self) -> Result<(), DbError> {
        let unlocked = accounts::unlock(&self.endpoint, &self.database).await;
        release(self.session).await;
        tracing::info!(database = %self.database, unlocked = ?unlocked, "mysql schema thawed");
        unlocked.map(|_| ())
    }

    /// The cutover succeeded: the accounts stay locked for good (see [`retire`]), the
    /// sessions still using or waiting on the schema are killed, so that their writes
    /// never land on this (now old) copy, then the read lock is released. Returns how
    /// many sessions were killed; fails if the lock had been lost before (the rest is
    /// done all the same).
    pub async fn retire(mut self) -> Result<usize, DbError> {
        let held = self.still_held().await;
        let killed = retire_with(&self.endpoint, &self.database, self.session.id()).await;
        tracing::info!(database = %self.database, killed = ?killed, "mysql schema retired");
        release(self.session).await;
        held?;
        killed
    }
}

/// Marks the schema retired (its accounts locked, again if need be), then kills its
/// sessions, its accounts' and those waiting on its tables, except `own`.
async fn retire_with(endpoint: &Endpoint, database: &str, own: u64) -> Result<usize, DbError> {
    let users = accounts::lock(endpoint, database, true).await?;
    let targets = Targets {
        database,
        users: &users,
        waiting: true,
        own,
    };
    kill_sessions(endpoint, targets).await
}

/// Thaws `database` on the server at `url` when no [`MysqlFreeze`] is in hand (the
/// process that froze it is gone, its read lock with it): unlocks the accounts ferry
/// locked for it (those no other frozen schema needs). Idempotent; a schema never
/// frozen is left alone; a retired one is refused ([`DbError::Retired`]).
pub async fn thaw(url: &str, database: &str) -> Result<(), DbError> {
    check_name(database, MAX_NAME)?;
    let endpoint = Endpoint::mysql(url)?;
    let unlocked = accounts::unlock(&endpoint, database).await?;
    tracing::info!(%database, unlocked, "mysql schema thawed");
    Ok(())
}

/// Retires `database` on the server at `url` when no [`MysqlFreeze`] is in hand (its
/// cutover completed, or is completed after a restart): its accounts locked for good
/// and their sessions killed. Idempotent.
pub async fn retire(url: &str, database: &str) -> Result<(), DbError> {
    check_name(database, MAX_NAME)?;
    let endpoint = Endpoint::mysql(url)?;
    let killed = retire_with(&endpoint, database, 0).await?;
    tracing::info!(%database, killed, "mysql schema retired");
    Ok(())
}

/// The operator's deliberate undo of a retirement: the schema is thawed (see
/// [`thaw`]) as if its cutover had failed. Its account must not be serving from
/// elsewhere any more, or the two copies drift apart.
pub async fn unretire(url: &str, database: &str) -> Result<(), DbError> {
    check_name(database, MAX_NAME)?;
    let endpoint = Endpoint::mysql(url)?;
    accounts::unretire(&endpoint, database).await?;
    thaw(url, database).await
}

/// Releases the lock (`UNLOCK TABLES`, end of session); if the server does not answer
/// promptly the connection is dropped instead: either way the session, hence the
/// lock, is gone.
async fn release(mut session: Client) {
    let polite = async move {
        let cancel = CancellationToken::new();
        if session.execute("UNLOCK TABLES", (), &cancel).await.is_ok() {
            session.close().await;
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, polite).await;
}
