//! The durable half of a schema's freeze: the accounts that may use the schema are
//! locked (`ALTER USER … ACCOUNT LOCK`), which the server keeps across a crash of
//! ferry or of itself, each remembered in ferry's own tables on the server so that a
//! thaw unlocks exactly those ferry locked.
//!
//! The accounts are those holding any privilege on the schema: in `mysql.db` (whose
//! `Db` is a `LIKE` pattern), `mysql.tables_priv`, `mysql.columns_priv` and
//! `mysql.procs_priv`, directly or through a role (granted to them, maybe through
//! other roles); privileges granted to `PUBLIC` make the freeze refuse (every account
//! could write). Left alone: accounts with global privileges (the server's
//! administrators, like ferry's own login, which keeps working) and roles themselves
//! (they cannot log in).
//!
//! Records, in the schema `ferry_freeze`: `frozen (db, retired)` per frozen schema,
//! `locked (db, user, host)` per account locked for it. An account is locked by ferry
//! while any schema records it: a thaw unlocks only the accounts no other frozen
//! schema records, so that two schemas of one user are frozen and thawed
//! independently. An account that was already locked before (by someone else) is
//! neither recorded nor ever unlocked by ferry. A record is written **before** its
//! lock: a crash in between leaves a record of an account that is not locked, which
//! a thaw then "unlocks" to the state it was in anyway.
//!
//! The bookkeeping stays out of the binary log when the login may say so
//! (`sql_log_bin = 0`): the binlog catch-up of the frozen schema must not meet it.
//!
//! A retired schema's accounts stay locked; [`thaw`] refuses it ([`DbError::Retired`]),
//! [`unretire`] is the operator's deliberate undo.

use std::collections::BTreeSet;

use tokio_util::sync::CancellationToken;

use super::client::{Client, ident};
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;

/// The schema of ferry's freeze records.
pub(crate) const RECORDS: &str = "ferry_freeze";

/// How long a freeze or thaw waits for another one on the same server, in seconds.
const RECORDS_LOCK_WAIT_SECS: u32 = 60;

/// One account: `user@host`.
pub(crate) type Account = (String, String);

/// A session on the records, holding the server-wide lock serialising ferry's
/// freezes and thaws (released with the session).
struct Records {
    client: Client,
    cancel: CancellationToken,
    /// `host:port`, for messages.
    endpoint: String,
}

impl Records {
    async fn open(endpoint: &Endpoint) -> Result<Self, DbError> {
        let cancel = CancellationToken::new();
        let mut client = Client::connect(endpoint, &cancel).await?;
        // Without the privilege the bookkeeping is logged: row events of another
        // schema, which the catch-up skips.
        let _ = client
            .try_execute("SET SESSION sql_log_bin = 0", (), &cancel)
            .await?;
        let got: Option<(Option<i64>,)> = client
            .first(
                "SELECT GET_LOCK('ferry_freeze', ?)",
                (RECORDS_LOCK_WAIT_SECS,),
                &cancel,
            )
            .await?;
        if !matches!(got, Some((Some(1),))) {
            return Err(DbError::Query {
                endpoint: endpoint.display(),
                context: "waiting for another freeze".into(),
                reason: "the freeze lock was not granted".into(),
            });
        }
        let schema = format!("CREATE DATABASE IF NOT EXISTS {}", ident(RECORDS));
        let frozen = format!(
            "CREATE TABLE IF NOT EXISTS {}.frozen (
               db VARCHAR(64) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
               retired BOOL NOT NULL DEFAULT 0,
               frozen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ident(RECORDS)
        );
        let locked = format!(
            "CREATE TABLE IF NOT EXISTS {}.locked (
               db VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
               user VARCHAR(128) COLLATE utf8mb4_bin NOT NULL,
               host VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
               PRIMARY KEY (db, user, host)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            ident(RECORDS)
        );
        for statement in [&schema, &frozen, &locked] {
            client.execute(statement, (), &cancel).await?;
        }
        Ok(Self {
            client,
            cancel,
            endpoint: endpoint.display(),
        })
    }

    async fn close(self) {
        self.client.close().await;
    }

    /// Whether `database` is recorded frozen, and retired.
    async fn frozen(&mut self, database: &str) -> Result<Option<bool>, DbError> {
        let row: Option<(bool,)> = self
            .client
            .first(
                "SELECT retired FROM ferry_freeze.frozen WHERE db = ?",
                (database,),
                &self.cancel,
            )
            .await?;
        Ok(row.map(|(retired,)| retired))
    }

    /// The accounts recorded as locked for `database`.
    async fn locked_for(&mut self, database: &str) -> Result<Vec<Account>, DbError> {
        self.client
            .rows(
                "SELECT user, host FROM ferry_freeze.locked WHERE db = ?",
                (database,),
                &self.cancel,
            )
            .await
    }

    /// Whether a schema other than `except` records `account` as locked by ferry.
    async fn recorded(&mut self, (user, host): &Account, except: &str) -> Result<bool, DbError> {
        let row: Option<(i64,)> = self
            .client
            .first(
                "SELECT 1 FROM ferry_freeze.locked
                  WHERE user = ? AND host = ? AND db <> ? LIMIT 1",
                (user, host, except),
                &self.cancel,
            )
            .await?;
        Ok(row.is_some())
    }

    /// The accounts holding a privilege on `database`, directly or through roles,
    /// that can log in and hold no global privilege, ferry's own login excepted.
    async fn users_of(&mut self, database: &str) -> Result<Vec<Account>, DbError> {
        let direct: Vec<Account> = self
            .client
            .rows(
                "SELECT User, Host FROM mysql.db WHERE ? LIKE Db
                 UNION SELECT User, Host FROM mysql.tables_priv WHERE Db = ?
                 UNION SELECT User, Host FROM mysql.columns_priv WHERE Db = ?
                 UNION SELECT User, Host FROM mysql.procs_priv WHERE Db = ?",
                (database, database, database, database),
                &self.cancel,
            )
            .await?;
        // A grant to PUBLIC (MariaDB 10.11) is every account's: no lock short of the
        // whole server's would hold, so the freeze refuses rather than leak.
        if direct
            .iter()
            .any(|(user, host)| user == "PUBLIC" && host.is_empty())
        {
            return Err(DbError::Query {
                endpoint: self.endpoint.clone(),
                context: format!("freezing {database}"),
                reason: "PUBLIC holds privileges on the schema: any account could write to it; \
                         revoke them (or grant them to the account's users) first"
                    .into(),
            });
        }
        // Roles (host '') pass their privileges on to the accounts granted them.
        let mut seen: BTreeSet<Account> = BTreeSet::new();
        let mut todo = direct;
        while let Some(account) = todo.pop() {
            if !seen.insert(account.clone()) {
                continue;
            }
            let holders: Vec<Account> = self
                .client
                .rows(
                    "SELECT User, Host FROM mysql.roles_mapping WHERE Role = ? AND ? = ''",
                    (&account.0, &account.1),
                    &self.cancel,
                )
                .await?;
            todo.extend(holders);
        }
        let me: Option<(String,)> = self
            .client
            .first("SELECT CURRENT_USER()", (), &self.cancel)
            .await?;
        let me = me.map(|(me,)| me).unwrap_or_default();
        let mut users = Vec::new();
        for account in seen {
            if format!("{}@{}", account.0, account.1) == me {
                continue;
            }
            // Roles, and accounts with a global privilege, are left alone.
            let row: Option<(i64,)> = self
                .client
                .first(
                    "SELECT 1 FROM mysql.global_priv WHERE User = ? AND Host = ?
                        AND COALESCE(JSON_VALUE(Priv, '$.is_role'), 'false') NOT IN ('true', '1')
                        AND COALESCE(JSON_VALUE(Priv, '$.access'), '0') = '0'",
                    (&account.0, &account.1),
                    &self.cancel,
                )
                .await?;
            if row.is_some() {
                users.push(account);
            }
        }
        Ok(users)
    }

    /// Whether `account` is locked now.
    async fn is_locked(&mut self, (user, host): &Account) -> Result<bool, DbError> {
        let row: Option<(i64,)> = self
            .client
            .first(
                "SELECT 1 FROM mysql.global_priv WHERE User = ? AND Host = ?
                    AND COALESCE(JSON_VALUE(Priv, '$.account_locked'), 'false') IN ('true', '1')",
                (user, host),
                &self.cancel,
            )
            .await?;
        Ok(row.is_some())
    }

    async fn set_locked(&mut self, account: &Account, locked: bool) -> Result<(), DbError> {
        let change = if locked { "LOCK" } else { "UNLOCK" };
        let statement = format!("ALTER USER {} ACCOUNT {change}", account_name(account));
        self.client.execute(&statement, (), &self.cancel).await
    }
}

/// `user@host` for a statement: both quoted as identifiers (the one quoting that
/// does not depend on the session's `sql_mode`); the anonymous user is `''`.
fn account_name((user, host): &Account) -> String {
    let user = if user.is_empty() {
        "''".to_owned()
    } else {
        ident(user)
    };
    let host = if host.is_empty() {
        "''".to_owned()
    } else {
        ident(host)
    };
    format!("{user}@{host}")
}

/// Locks the accounts of `database` for its freeze (or, with `retired`, for good),
/// recording each; returns the user names whose sessions must end (every account
/// found, whoever locked it). Idempotent; a retired schema stays retired.
pub(crate) async fn lock(
    endpoint: &Endpoint,
    database: &str,
    retired: bool,
) -> Result<Vec<String>, DbError> {
    let mut records = Records::open(endpoint).await?;
    let result = lock_in(&mut records, database, retired).await;
    records.close().await;
    result
}

async fn lock_in(
    records: &mut Records,
    database: &str,
    retired: bool,
) -> Result<Vec<String>, DbError> {
    let cancel = records.cancel.clone();
    records
        .client
        .execute(
            "INSERT INTO ferry_freeze.frozen (db, retired) VALUES (?, ?)
             ON DUPLICATE KEY UPDATE retired = retired OR VALUES(retired)",
            (database, retired),
            &cancel,
        )
        .await?;
    let mut accounts = records.users_of(database).await?;
    // Accounts found at an earlier freeze whose privileges went since stay locked.
    for account in records.locked_for(database).await? {
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    let mut users = BTreeSet::new();
    for account in &accounts {
        users.insert(account.0.clone());
        let locked = records.is_locked(account).await?;
        let ours = records.recorded(account, "").await?;
        if locked && !ours {
            // Someone else's lock: not ferry's to lift.
            continue;
        }
        records
            .client
            .execute(
                "INSERT IGNORE INTO ferry_freeze.locked (db, user, host) VALUES (?, ?, ?)",
                (database, &account.0, &account.1),
                &cancel,
            )
            .await?;
        if !locked {
            records.set_locked(account, true).await?;
        }
    }
    tracing::info!(%database, accounts = accounts.len(), retired, "mysql accounts locked");
    Ok(users.into_iter().collect())
}

/// Unlocks the accounts ferry locked for `database` that no other frozen schema
/// needs locked, and forgets its freeze; how many it unlocked. Idempotent; a retired
/// schema is refused ([`DbError::Retired`]).
pub(crate) async fn unlock(endpoint: &Endpoint, database: &str) -> Result<usize, DbError> {
    let mut records = Records::open(endpoint).await?;
    let result = unlock_in(&mut records, database).await;
    records.close().await;
    result
}

async fn unlock_in(records: &mut Records, database: &str) -> Result<usize, DbError> {
    let cancel = records.cancel.clone();
    if records.frozen(database).await? == Some(true) {
        return Err(DbError::Retired {
            name: database.to_owned(),
        });
    }
    let mut unlocked = 0;
    for account in records.locked_for(database).await? {
        // Still needed locked by another frozen schema: only this record goes.
        if !records.recorded(&account, database).await? {
            if let Err(e) = records.set_locked(&account, false).await {
                tracing::error!(user = %account.0, host = %account.1, error = %e,
                    "cannot unlock an account ferry locked");
                return Err(e);
            }
            unlocked += 1;
        }
        // Unlocked first, forgotten then: a crash in between leaves the record, and
        // the next thaw unlocks the account again, harmlessly.
        records
            .client
            .execute(
                "DELETE FROM ferry_freeze.locked WHERE db = ? AND user = ? AND host = ?",
                (database, &account.0, &account.1),
                &cancel,
            )
            .await?;
    }
    records
        .client
        .execute(
            "DELETE FROM ferry_freeze.frozen WHERE db = ?",
            (database,),
            &cancel,
        )
        .await?;
    tracing::info!(%database, unlocked, "mysql accounts unlocked");
    Ok(unlocked)
}

/// Marks `database` as no longer retired, so that [`unlock`] may thaw it.
pub(crate) async fn unretire(endpoint: &Endpoint, database: &str) -> Result<(), DbError> {
    let mut records = Records::open(endpoint).await?;
    let cancel = records.cancel.clone();
    let result = records
        .client
        .execute(
            "UPDATE ferry_freeze.frozen SET retired = 0 WHERE db = ?",
            (database,),
            &cancel,
        )
        .await;
    records.close().await;
    result
}

/// A new copy took the name `database` at this server (a switch): a freeze recorded
/// for that name was the replaced copy's, kept aside under another name now, which
/// its accounts' privileges on `database` no longer reach. It is lifted, retired or
/// not, so that the accounts use the new copy; idempotent, and quick when ferry never
/// froze anything on the server.
pub(crate) async fn release(endpoint: &Endpoint, database: &str) -> Result<(), DbError> {
    let cancel = CancellationToken::new();
    let recorded: Option<(String,)> = super::client::first(
        endpoint,
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        (RECORDS,),
        &cancel,
    )
    .await?;
    if recorded.is_none() {
        return Ok(());
    }
    let mut records = Records::open(endpoint).await?;
    let result = async {
        if records.frozen(database).await?.is_none() {
            return Ok(());
        }
        records
            .client
            .execute(
                "UPDATE ferry_freeze.frozen SET retired = 0 WHERE db = ?",
                (database,),
                &cancel,
            )
            .await?;
        let unlocked = unlock_in(&mut records, database).await?;
        tracing::info!(%database, unlocked, "the freeze of a replaced copy lifted");
        Ok(())
    }
    .await;
    records.close().await;
    result
}
