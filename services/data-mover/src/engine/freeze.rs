//! Freezing an account's sources for the switch: its databases stop taking writes
//! and the operator's freeze command, if set, stops the account's own services.
//! Thawed when the switch fails (the account serves from its source again); retired
//! when it succeeds: the sources stay frozen for good, so that the old copy can never
//! drift from the one that now serves.
//!
//! Both engines' freezes are **durable**, kept by the database server, not by a
//! session of ferry: a crash of ferry leaves the sources frozen.
//! - PostgreSQL ([`postgres::freeze`]): `CONNECT` revoked from `PUBLIC` and every
//!   role holding it, the database's ownership taken over by ferry's (superuser)
//!   login, the read-only default set, its sessions ended; recorded in
//!   `ferry_freeze.frozen`/`revoked` of the server's admin database. Only superusers
//!   (ferry's login, the logical copy's walsender) still connect.
//! - MariaDB ([`mysql::freeze`]): the schema's accounts locked (`ACCOUNT LOCK`), their
//!   and the schema's sessions killed; recorded in the server's `ferry_freeze`
//!   schema; plus, while ferry runs, the tables' read lock.
//!
//! After a restart, with no `SourceFreeze` in hand, [`thaw_sources`] and
//! [`retire_sources`] finish the job from the transfer alone; both are idempotent.
//!
//! An operator who must deliberately undo a retirement (e.g. to serve the account
//! from its old server again after the new copy was lost) calls
//! [`postgres::unretire`] / [`mysql::unretire`] for each database, or by hand:
//! PostgreSQL, in the admin database, `UPDATE ferry_freeze.frozen SET retired = false`
//! for the database's oid, then a thaw; MariaDB, `UPDATE ferry_freeze.frozen SET
//! retired = 0 WHERE db = …`, then a thaw (or `ALTER USER … ACCOUNT UNLOCK` of the
//! accounts listed in `ferry_freeze.locked` and deleting their rows).

use super::StepFailure;
use super::databases::{Move, db_failure};
use crate::databases::{mysql, postgres};
use crate::settings::MoverSettings;
use ferry_events::{DatabaseEngine, TransferPhase, TransferScheduled};

/// What is frozen at the sources.
#[derive(Debug)]
pub(crate) struct SourceFreeze {
    postgres: Vec<(String, String)>,
    mysql: Vec<mysql::MysqlFreeze>,
    hook: Option<Hook>,
}

/// The operator's freeze command and the accounts it applies to.
#[derive(Debug, Clone)]
struct Hook {
    command: String,
    server_id: String,
    accounts: Vec<(String, String)>,
}

impl Hook {
    /// The command, for a transfer's accounts on its source server.
    fn for_transfer(command: &str, scheduled: &TransferScheduled) -> Self {
        Self {
            command: command.to_owned(),
            server_id: scheduled.source.server_id.clone(),
            accounts: scheduled
                .accounts
                .iter()
                .map(|a| (a.account_id.clone(), a.name.clone()))
                .collect(),
        }
    }

    /// Runs the command for every account with `action`.
    async fn run(&self, action: &str) -> Result<(), String> {
        for (account_id, name) in &self.accounts {
            let output = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&self.command)
                .env("FERRY_FREEZE_ACTION", action)
                .env("FERRY_ACCOUNT", account_id)
                .env("FERRY_ACCOUNT_NAME", name)
                .env("FERRY_SERVER", &self.server_id)
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| format!("cannot run the freeze command: {e}"))?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(format!(
                    "the freeze command ({action} {account_id}) failed ({}): {}",
                    output.status,
                    stderr.trim()
                ));
            }
        }
        Ok(())
    }
}

/// Freezes the sources of `moves` and runs the freeze command; on a failure, thaws
/// what was frozen and says why.
pub(crate) async fn freeze(
    settings: &MoverSettings,
    scheduled: &TransferScheduled,
    moves: &[Move],
) -> Result<SourceFreeze, StepFailure> {
    let mut frozen = SourceFreeze {
        postgres: Vec::new(),
        mysql: Vec::new(),
        hook: None,
    };
    if let Some(command) = &settings.freeze_command {
        let hook = Hook::for_transfer(command, scheduled);
        if let Err(reason) = hook.run("freeze").await {
            // Some accounts may be stopped: the thaw restarts them.
            frozen.hook = Some(hook);
            frozen.thaw().await;
            return Err(StepFailure::new(TransferPhase::FinalSync, reason, true));
        }
        frozen.hook = Some(hook);
    }
    // Every database at once: each freeze waits on its server (sessions ended, a
    // straggler pass), and all of it is downtime.
    let outcomes = futures::future::join_all(moves.iter().map(|m| async move {
        let spec = &m.planned().spec;
        let outcome = match m.planned().engine {
            DatabaseEngine::Postgres => postgres::freeze(&spec.source_url, &spec.database)
                .await
                .map(|()| None),
            DatabaseEngine::Mysql => mysql::freeze(&spec.source_url, &spec.database)
                .await
                .map(Some),
        };
        (m, outcome)
    }))
    .await;
    let mut failure = None;
    for (m, outcome) in outcomes {
        let spec = &m.planned().spec;
        match outcome {
            Ok(Some(lock)) => frozen.mysql.push(lock),
            Ok(None) => frozen
                .postgres
                .push((spec.source_url.clone(), spec.database.clone())),
            Err(e) => {
                // Part of this database's freeze may have held (its durable half):
                // undone with the others.
                let undone = match m.planned().engine {
                    DatabaseEngine::Postgres => {
                        postgres::thaw(&spec.source_url, &spec.database).await
                    }
                    DatabaseEngine::Mysql => mysql::thaw(&spec.source_url, &spec.database).await,
                };
                if let Err(e) = undone {
                    tracing::error!(database = %spec.database, error = %e, "cannot thaw a source whose freeze failed");
                }
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        frozen.thaw().await;
        return Err(db_failure(TransferPhase::FinalSync, &e));
    }
    Ok(frozen)
}

/// Thaws what a freeze of `scheduled` may have left frozen when no `SourceFreeze`
/// is in hand (the process that froze them is gone): its PostgreSQL sources' grants
/// and owners restored, its MariaDB sources' accounts unlocked, the freeze command's
/// `thaw` run. Sources never frozen are left alone; retired ones stay frozen.
/// Idempotent; best effort, each failure logged.
pub async fn thaw_sources(settings: &MoverSettings, scheduled: &TransferScheduled) {
    if let Ok(planned) =
        super::databases::plan(settings, scheduled, super::databases::Purpose::Move)
    {
        for p in &planned {
            let (url, database) = (&p.spec.source_url, &p.spec.database);
            let thawed = match p.engine {
                DatabaseEngine::Postgres => postgres::thaw(url, database).await,
                DatabaseEngine::Mysql => mysql::thaw(url, database).await,
            };
            if let Err(e) = thawed {
                tracing::error!(%database, error = %e, "cannot thaw a source database");
            }
        }
    }
    thaw_command(settings, scheduled).await;
}

/// Why [`retire_sources`] could not retire every source.
#[derive(Debug, thiserror::Error)]
#[error("{} source(s) not retired: {}", .0.len(), .0.join("; "))]
pub struct NotRetired(pub Vec<String>);

/// Retires the sources of `scheduled` when no `SourceFreeze` is in hand (a cutover
/// interrupted after its verification, completed after a restart): each source
/// database frozen for good (frozen again first if its freeze was lost, its writers'
/// sessions ended), then the freeze command's `retire` run. Idempotent. Fails if a
/// database could not be retired (the others are, all the same): the cutover must not
/// be completed while an old copy may still take writes; calling again is safe.
pub async fn retire_sources(
    settings: &MoverSettings,
    scheduled: &TransferScheduled,
) -> Result<(), NotRetired> {
    let mut failures = Vec::new();
    match super::databases::plan(settings, scheduled, super::databases::Purpose::Move) {
        Ok(planned) => {
            for p in &planned {
                let (url, database) = (&p.spec.source_url, &p.spec.database);
                let retired = match p.engine {
                    DatabaseEngine::Postgres => postgres::retire(url, database).await,
                    DatabaseEngine::Mysql => mysql::retire(url, database).await,
                };
                if let Err(e) = retired {
                    tracing::error!(%database, error = %e, "cannot retire a source database");
                    failures.push(format!("{database}: {e}"));
                }
            }
        }
        Err(failure) => failures.push(failure.reason),
    }
    if let Some(command) = &settings.freeze_command {
        let hook = Hook::for_transfer(command, scheduled);
        if let Err(reason) = hook.run("retire").await {
            tracing::warn!(%reason, "the freeze command could not retire the account");
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(NotRetired(failures))
    }
}

/// `thaw` for the transfer's accounts (best effort, logged).
pub(crate) async fn thaw_command(settings: &MoverSettings, scheduled: &TransferScheduled) {
    if let Some(command) = &settings.freeze_command {
        let hook = Hook::for_transfer(command, scheduled);
        if let Err(reason) = hook.run("thaw").await {
            tracing::error!(%reason, "the freeze command could not thaw the accounts");
        }
    }
}

impl SourceFreeze {
    /// The switch failed: the sources take writes again (best effort, each logged).
    pub(crate) async fn thaw(self) {
        for (url, database) in &self.postgres {
            if let Err(e) = postgres::thaw(url, database).await {
                tracing::error!(%database, error = %e, "cannot thaw a PostgreSQL source; it stays frozen");
            }
        }
        for lock in self.mysql {
            let database = lock.database().to_owned();
            if let Err(e) = lock.thaw().await {
                tracing::error!(%database, error = %e, "cannot thaw a MariaDB source");
            }
        }
        if let Some(hook) = &self.hook
            && let Err(reason) = hook.run("thaw").await
        {
            tracing::error!(%reason, "the freeze command could not thaw the account");
        }
    }

    /// The switch succeeded: the sources are retired, frozen for good (best effort,
    /// each logged; [`retire_sources`] does it again from the transfer alone).
    pub(crate) async fn retire(self) {
        for (url, database) in &self.postgres {
            if let Err(e) = postgres::retire(url, database).await {
                tracing::error!(%database, error = %e, "cannot retire a PostgreSQL source; it stays frozen, but not marked retired");
            }
        }
        for lock in self.mysql {
            let database = lock.database().to_owned();
            if let Err(e) = lock.retire().await {
                tracing::warn!(%database, error = %e, "retiring a MariaDB source");
            }
        }
        if let Some(hook) = &self.hook
            && let Err(reason) = hook.run("retire").await
        {
            tracing::warn!(%reason, "the freeze command could not retire the account");
        }
    }
}
