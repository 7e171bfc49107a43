//! A transit server's wipe ([`TransferKind::Wipe`](ferry_events::TransferKind)): after
//! a loan, what ferry copied there is erased for real, then the server is checked
//! empty before the transit pool may lend it to the next customer.
//!
//! - Files and mails: each account's directory under the files and mail roots (with
//!   rsync's partial files inside it), removed by name. Only an account name that is
//!   one plain path component is used, and only under a root that is an absolute,
//!   local path and not a system directory: never `/`, `/etc` or `..`.
//! - Databases: see [`crate::databases::erase`] (everything under the server's name
//!   prefix, or the accounts' databases by name, with their staging and kept-aside
//!   copies and their subscriptions).
//! - The check: both roots empty (anything left, ferry's or not, may be a customer's
//!   data) and none of ferry's databases left. A failure names what is left: the
//!   transit pool then takes the server out of service with that reason.

use super::databases::located;
use super::{Mover, Step, StepFailure, millis};
use crate::databases::erase::{self, Erasable};
use crate::domain::transfer::TransferCommand;
use ferry_events::{
    DatabaseEngine, ServerStorage, TransferPhase, TransferScheduled, TransferVerified,
};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Directories a root may never be: erasing names under them would break the system.
const SYSTEM_DIRS: &[&str] = &[
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr", "/var",
];

/// How many leftovers a failure names.
const NAMED: usize = 5;

/// Runs a started wipe to its check and completion.
pub(crate) async fn run(
    mover: &Mover,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Step<()> {
    let started = Instant::now();
    let outcome = erase_and_check(mover, &scheduled.destination.storage, scheduled, stop).await;
    let roots_checked = match outcome {
        Ok(roots) => roots,
        Err(failure) => return Ok(Err(failure)),
    };
    let verified = TransferVerified {
        files_checked: roots_checked,
        databases: vec![],
    };
    let complete = TransferCommand::Complete {
        run_id: None,
        bytes_copied: 0,
        duration_ms: millis(started),
        database_methods: vec![],
        test_address: None,
    };
    mover
        .verified_and_completed(scheduled, verified, complete)
        .await?;
    Ok(Ok(()))
}

fn failure(reason: impl Into<String>) -> StepFailure {
    StepFailure::new(TransferPhase::Erasing, reason, false)
}

/// Erases, then checks; gives the number of roots found empty.
async fn erase_and_check(
    mover: &Mover,
    storage: &ServerStorage,
    scheduled: &TransferScheduled,
    stop: &CancellationToken,
) -> Result<u64, StepFailure> {
    let mut names = Vec::with_capacity(scheduled.accounts.len());
    for account in &scheduled.accounts {
        names.push(account_dir_name(&account.name)?.to_owned());
    }
    let roots = [
        erasable_root(&storage.files_root)?,
        erasable_root(&storage.mail_root)?,
    ];
    for root in &roots {
        erase_accounts(root, &names).await?;
    }
    let databases = erasable_databases(mover.settings(), storage, scheduled)?;
    for (engine, erasable) in &databases {
        if stop.is_cancelled() {
            return Err(failure("interrupted"));
        }
        let erased = match engine {
            DatabaseEngine::Postgres => erase::erase_postgres(erasable).await,
            DatabaseEngine::Mysql => erase::erase_mysql(erasable).await,
        };
        let erased = erased.map_err(|e| failure(format!("erasing the databases: {e}")))?;
        tracing::info!(server = %scheduled.destination.server_id, ?engine,
            databases = erased.len(), "databases erased");
    }

    let mut left = Vec::new();
    for root in &roots {
        left.extend(left_in(root).await?);
    }
    for (engine, erasable) in &databases {
        let found = match engine {
            DatabaseEngine::Postgres => erase::postgres_left(erasable).await,
            DatabaseEngine::Mysql => erase::mysql_left(erasable).await,
        };
        let found = found.map_err(|e| failure(format!("checking the databases: {e}")))?;
        left.extend(found.into_iter().map(|name| format!("database {name}")));
    }
    if left.is_empty() {
        return Ok(roots.len() as u64);
    }
    let more = left.len().saturating_sub(NAMED);
    left.truncate(NAMED);
    Err(failure(format!(
        "{} still holds {}{}: erase what is not ferry's by hand, then return the server \
         to service (it is wiped again)",
        scheduled.destination.server_id,
        left.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )))
}

/// The account's directory name: one plain path component, nothing else.
fn account_dir_name(name: &str) -> Result<&str, StepFailure> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) if !name.contains('/') && !name.contains('\0') => {
            Ok(name)
        }
        _ => Err(failure(format!(
            "account name {name:?} is not a plain directory name: nothing was erased"
        ))),
    }
}

/// A root the wipe may erase names under: absolute, local, normalised, and not a
/// system directory.
fn erasable_root(root: &str) -> Result<PathBuf, StepFailure> {
    let refuse = |why: &str| {
        Err(failure(format!(
            "the root {root:?} {why}: nothing was erased; fix the transit server's storage"
        )))
    };
    if crate::files::is_remote(root) {
        return refuse("is on another host, which ferry's wipe does not reach");
    }
    let path = Path::new(root);
    if !path.is_absolute() {
        return refuse("is not an absolute path");
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return refuse("is not a normalised path");
    }
    let normalised: PathBuf = path.components().collect();
    if SYSTEM_DIRS.iter().any(|dir| normalised == Path::new(dir)) {
        return refuse("is a system directory");
    }
    Ok(normalised)
}

/// Removes each account's directory under `root` (a link is removed, never followed).
async fn erase_accounts(root: &Path, names: &[String]) -> Result<(), StepFailure> {
    let targets: Vec<PathBuf> = names.iter().map(|name| root.join(name)).collect();
    tokio::task::spawn_blocking(move || {
        for target in targets {
            let removed = match std::fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&target),
                Ok(_) => std::fs::remove_file(&target),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            removed.map_err(|e| failure(format!("erasing {}: {e}", target.display())))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| failure(format!("the erasing task ended: {e}")))?
}

/// What is left in `root`, named for a failure (nothing if it does not exist).
async fn left_in(root: &Path) -> Result<Vec<String>, StepFailure> {
    let root = root.to_owned();
    tokio::task::spawn_blocking(move || match std::fs::read_dir(&root) {
        Ok(entries) => entries
            .map(|entry| {
                entry
                    .map(|e| e.path().display().to_string())
                    .map_err(|e| failure(format!("listing {}: {e}", root.display())))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(failure(format!("listing {}: {e}", root.display()))),
    })
    .await
    .map_err(|e| failure(format!("the listing task ended: {e}")))?
}

/// The database servers to erase, with the accounts' database names on each engine.
/// Their URLs have their logins' passwords, from the secret store.
fn erasable_databases(
    settings: &crate::settings::MoverSettings,
    storage: &ServerStorage,
    scheduled: &TransferScheduled,
) -> Result<Vec<(DatabaseEngine, Erasable)>, StepFailure> {
    let mut erasable = Vec::new();
    for engine in [DatabaseEngine::Postgres, DatabaseEngine::Mysql] {
        let url = crate::credentials::connect_url(settings, storage, engine).map_err(|why| {
            failure(format!(
                "nothing of the {engine:?} databases was erased: cannot connect: {why}"
            ))
        })?;
        erasable.extend(url.map(|url| (engine, url)));
    }
    Ok(erasable
        .into_iter()
        .map(|(engine, url)| {
            let (url, prefix) = located(&url);
            let names = scheduled
                .accounts
                .iter()
                .flat_map(|a| &a.databases)
                .filter(|d| d.engine == engine)
                .map(|d| format!("{prefix}{}", d.name))
                .collect();
            (engine, Erasable { url, prefix, names })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_account_names_are_erased() {
        assert!(account_dir_name("bakery").is_ok());
        for bad in ["", ".", "..", "../etc", "a/b", "/abs", "a\0b"] {
            assert!(account_dir_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_root_is_absolute_local_normalised_and_no_system_directory() {
        assert_eq!(
            erasable_root("/var/tmp/ferry/tr-1/files/").ok(),
            Some(PathBuf::from("/var/tmp/ferry/tr-1/files"))
        );
        assert!(erasable_root("/home").is_ok());
        for bad in [
            "/",
            "/etc",
            "/etc/",
            "//usr",
            "files",
            "/srv/../etc",
            "host:/srv/files",
        ] {
            let refused = erasable_root(bad).expect_err(bad);
            assert!(
                refused.reason.contains("nothing was erased"),
                "{}",
                refused.reason
            );
        }
    }
}
