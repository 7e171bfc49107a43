//! The freeze of a source schema for a cutover ([`freeze`], [`MysqlFreeze`]): its
//! writes stopped by a session holding its tables' read lock, for as long as the
//! cutover needs, then thawed or retired.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::MAX_NAME;
use super::client::{Client, ident};
use super::schema::{schema, tables_of};
use super::sessions::kill_sessions;
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
/// MariaDB 10.11 has no per-schema read-only switch, so the freeze is a session kept
/// open, holding `FLUSH TABLES <every table and sequence of the schema> WITH READ
/// LOCK`, taken after the schema's other sessions (those whose default database it
/// is) were killed so that their open transactions cannot delay it. Other sessions can
/// still read; their writes **wait** (up to their own `lock_wait_timeout`). The binary
/// log is unaffected: reading it for the last catch-up
/// ([`crate::databases::mysql_binlog`]) and verifying the tables both work while
/// frozen.
///
/// Limits, by design of the server:
/// - the lock lives as long as the session: a crash of ferry, a lost connection or an
///   administrator's `KILL` releases it (the account simply stays writable on the
///   source, the safe direction; [`MysqlFreeze::still_held`] tells);
/// - tables created after the freeze are not locked (a `CREATE TABLE` is DDL, which the
///   binlog catch-up refuses, so such a cutover fails rather than losing data);
/// - waiting writers proceed when the lock is released: [`MysqlFreeze::retire`] kills
///   them first, but a writer connecting after the release writes to the old copy; the
///   account's applications must already point at the destination by then.
///
/// Dropping it without [`thaw`](MysqlFreeze::thaw) or [`retire`](MysqlFreeze::retire)
/// closes the session, which releases the lock (like `thaw`).
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

/// Stops writes to `database` on the server at `url` (see [`MysqlFreeze`]): kills the
/// schema's other sessions, then locks every table and sequence of it for reading.
/// Fails ([`DbError::Query`]) if the lock is not granted within a minute.
pub async fn freeze(url: &str, database: &str) -> Result<MysqlFreeze, DbError> {
    check_name(database, MAX_NAME)?;
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    if schema(&endpoint, database, &cancel).await?.is_none() {
        return Err(DbError::NotFound {
            name: database.to_owned(),
        });
    }
    let tables = tables_of(&endpoint, database, &["BASE TABLE", "SEQUENCE"], &cancel).await?;
    let mut session = Client::connect(&endpoint, &cancel).await?;
    session
        .execute(
            &format!("SET SESSION lock_wait_timeout = {FREEZE_LOCK_WAIT_SECS}"),
            (),
            &cancel,
        )
        .await?;
    let killed = kill_sessions(&endpoint, database, session.id(), false).await?;
    if !tables.is_empty() {
        let names: Vec<String> = tables
            .iter()
            .map(|t| format!("{}.{}", ident(database), ident(t)))
            .collect();
        let lock = format!("FLUSH TABLES {} WITH READ LOCK", names.join(", "));
        session.execute(&lock, (), &cancel).await?;
    }
    tracing::info!(%database, tables = tables.len(), killed, "mysql schema frozen");
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

    /// Whether the lock is still held: `Ok` if the session still answers, else the
    /// error (writes may have reached the schema since it was lost).
    pub async fn still_held(&mut self) -> Result<(), DbError> {
        self.session.ping().await
    }

    /// Releases the lock (the cutover failed; the account stays on the source):
    /// waiting writers proceed.
    pub async fn thaw(self) -> Result<(), DbError> {
        tracing::info!(database = %self.database, "mysql schema thawed");
        release(self.session).await;
        Ok(())
    }

    /// The cutover succeeded: kills the sessions still using or waiting on the schema,
    /// so that their writes never land on this (now old) copy, then releases the lock.
    /// Returns how many sessions were killed; fails if the lock had been lost before
    /// (the sessions are killed all the same).
    pub async fn retire(mut self) -> Result<usize, DbError> {
        let held = self.still_held().await;
        let killed = kill_sessions(&self.endpoint, &self.database, self.session.id(), true).await;
        tracing::info!(database = %self.database, killed = ?killed, "mysql schema retired");
        release(self.session).await;
        held?;
        killed
    }
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
