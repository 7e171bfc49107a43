//! Freezing an account's sources for the switch: its databases stop taking writes
//! (PostgreSQL: read-only transactions, sessions ended; MariaDB: tables locked, other
//! sessions ended) and the operator's freeze command, if set, stops the account's own
//! services. Thawed when the switch fails (the account serves from its source again);
//! retired when it succeeds (a PostgreSQL source stays read-only, so the old copy can
//! never drift from the one that now serves; writers still waiting on a MariaDB lock
//! are cut off first).

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
    for m in moves {
        let spec = &m.planned().spec;
        let outcome = match m.planned().engine {
            DatabaseEngine::Postgres => postgres::freeze(&spec.source_url, &spec.database)
                .await
                .map(|()| {
                    frozen
                        .postgres
                        .push((spec.source_url.clone(), spec.database.clone()))
                }),
            DatabaseEngine::Mysql => mysql::freeze(&spec.source_url, &spec.database)
                .await
                .map(|lock| frozen.mysql.push(lock)),
        };
        if let Err(e) = outcome {
            frozen.thaw().await;
            return Err(db_failure(TransferPhase::FinalSync, &e));
        }
    }
    Ok(frozen)
}

/// After a restart, with nothing of the freeze in hand: runs the freeze command's
/// Thaws what a freeze of `scheduled` may have left frozen when no [`SourceFreeze`]
/// is in hand (the process that froze them is gone): its PostgreSQL sources made
/// writable again, the freeze command's `thaw` run. A MariaDB source's locks died
/// with their session. Best effort, logged.
pub(crate) async fn thaw_sources(settings: &MoverSettings, scheduled: &TransferScheduled) {
    if let Ok(planned) =
        super::databases::plan(settings, scheduled, super::databases::Purpose::Move)
    {
        for p in planned
            .iter()
            .filter(|p| p.engine == DatabaseEngine::Postgres)
        {
            if let Err(e) = postgres::thaw(&p.spec.source_url, &p.spec.database).await {
                tracing::error!(database = %p.spec.database, error = %e, "cannot thaw a PostgreSQL source");
            }
        }
    }
    thaw_command(settings, scheduled).await;
}

/// After a restart, with nothing of the freeze in hand, the switch done: keeps the
/// PostgreSQL sources read-only for good (best effort, logged).
pub(crate) async fn retire_sources(settings: &MoverSettings, scheduled: &TransferScheduled) {
    if let Ok(planned) =
        super::databases::plan(settings, scheduled, super::databases::Purpose::Move)
    {
        for p in planned
            .iter()
            .filter(|p| p.engine == DatabaseEngine::Postgres)
        {
            if let Err(e) = postgres::freeze(&p.spec.source_url, &p.spec.database).await {
                tracing::error!(database = %p.spec.database, error = %e, "cannot keep a retired PostgreSQL source read-only");
            }
        }
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
                tracing::error!(%database, error = %e, "cannot thaw a PostgreSQL source; it stays read-only");
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

    /// The switch succeeded: the sources are retired.
    pub(crate) async fn retire(self) {
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
