//! Before a pre-copy: every declared account's sources are there, and not much
//! smaller than the inventory says. A files directory, a mail directory (when mail is
//! declared) or a database that does not exist, or holds less than a tenth of its
//! declared size, fails the pre-copy for good (not retryable): the migration stops
//! there with the reason, instead of lending a transit server holding nothing and
//! failing at the first move. Support fixes the inventory or the server, then retries.
//!
//! Sizes are measured on local roots only ([`TreeSize`]; a `host:/path` root is
//! checked by the copy itself); declared sizes under [`MEASURED_FROM`] are not compared, a small inventory
//! being noise.

use super::databases::{self, Purpose};
use super::trees::Tree;
use super::{StepFailure, trees};
use crate::databases::endpoint::Endpoint;
use crate::databases::{DbError, mysql, postgres};
use crate::files::{FileError, TreeSize};
use crate::settings::MoverSettings;
use ferry_events::{DatabaseEngine, TransferPhase, TransferScheduled};
use tokio_util::sync::CancellationToken;

/// How much smaller than declared a source may be: a tenth.
const MUCH_SMALLER: u64 = 10;

/// Declared sizes from which the measured size is compared (1 MiB).
pub(crate) const MEASURED_FROM: u64 = 1 << 20;

/// Checks the sources of `scheduled` (see the module).
pub(crate) async fn check(
    settings: &MoverSettings,
    scheduled: &TransferScheduled,
) -> Result<(), StepFailure> {
    for tree in trees::trees(scheduled) {
        check_tree(scheduled, &tree).await?;
    }
    let planned = databases::plan(settings, scheduled, Purpose::Move)?;
    for p in &planned {
        let measured = match p.engine {
            DatabaseEngine::Postgres => postgres_size(&p.spec.source_url, &p.spec.database)
                .await
                .map(|size| size.map(Some)),
            DatabaseEngine::Mysql => mysql_size(&p.spec.source_url, &p.spec.database).await,
        };
        let what = format!("database {}", p.spec.database);
        match measured {
            Ok(Some(Some(bytes))) => compare(&what, bytes, p.size_bytes, TransferPhase::Databases)?,
            Ok(Some(None)) => {}
            Ok(None) => {
                return Err(StepFailure::new(
                    TransferPhase::Databases,
                    format!(
                        "{what} does not exist on {}: fix the inventory or the server, then \
                         retry the pre-copy",
                        scheduled.source.server_id
                    ),
                    false,
                ));
            }
            Err(e) => {
                return Err(StepFailure::new(
                    TransferPhase::Databases,
                    format!("{what}: cannot measure it: {e}"),
                    true,
                ));
            }
        }
    }
    Ok(())
}

fn compare(
    what: &str,
    measured: u64,
    declared: u64,
    phase: TransferPhase,
) -> Result<(), StepFailure> {
    if declared < MEASURED_FROM || measured.saturating_mul(MUCH_SMALLER) >= declared {
        return Ok(());
    }
    Err(StepFailure::new(
        phase,
        format!(
            "{what} holds {measured} bytes where the inventory declares {declared}: data is \
             missing, or the inventory is wrong; fix it, then retry the pre-copy"
        ),
        false,
    ))
}

/// A tree's source: it must exist (a mail tree only when mail is declared), and not be
/// much smaller than declared.
async fn check_tree(scheduled: &TransferScheduled, tree: &Tree) -> Result<(), StepFailure> {
    // `host:/path`: on another host, which only the copy reaches.
    if crate::files::is_remote(&tree.source) {
        return Ok(());
    }
    let kind = if tree.phase == TransferPhase::Mails {
        "mail"
    } else {
        "files"
    };
    let what = format!(
        "account {} ({kind} directory {})",
        tree.account_id, tree.source
    );
    match TreeSize::measure(&tree.source).await {
        Ok(size) => compare(&what, size.bytes, tree.bytes, tree.phase),
        Err(FileError::SourceMissing { .. })
            if tree.phase == TransferPhase::Mails && tree.bytes == 0 =>
        {
            Ok(())
        }
        Err(FileError::SourceMissing { detail, .. }) => Err(StepFailure::new(
            tree.phase,
            format!(
                "{what} does not exist on {} ({detail}): fix the inventory or the server, \
                 then retry the pre-copy",
                scheduled.source.server_id
            ),
            false,
        )),
        Err(e) => Err(StepFailure::new(
            tree.phase,
            format!("{what}: cannot measure it: {e}"),
            true,
        )),
    }
}

/// The size of a PostgreSQL database; `None` if it does not exist.
async fn postgres_size(url: &str, database: &str) -> Result<Option<u64>, DbError> {
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (client, task) = postgres::connect(&endpoint, &config, None).await?;
    let row = client
        .query_opt(
            "SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|e| postgres::query_error(&endpoint, "measuring a database", &e));
    postgres::close(client, task).await;
    Ok(row?.map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
}

/// The size of a MySQL/MariaDB schema: its InnoDB files' size, which the server
/// keeps exact (the tables' own statistics lag behind a bulk load by a lot); `None`
/// if the schema does not exist, `Some(None)` if the login may not read the files'
/// sizes (the `PROCESS` privilege): then only its existence is checked.
async fn mysql_size(url: &str, database: &str) -> Result<Option<Option<u64>>, DbError> {
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    let mut client = mysql::client::Client::connect(&endpoint, &cancel).await?;
    let exists: Result<Option<(String,)>, DbError> = client
        .first(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (database,),
            &cancel,
        )
        .await;
    let files: Result<Option<(Option<u64>,)>, DbError> = client
        .first(
            "SELECT CAST(SUM(file_size) AS UNSIGNED)
               FROM information_schema.INNODB_SYS_TABLESPACES
              WHERE SUBSTRING_INDEX(name, '/', 1) = ?",
            (database,),
            &cancel,
        )
        .await;
    client.close().await;
    if exists?.is_none() {
        return Ok(None);
    }
    Ok(Some(match files {
        Ok(row) => Some(row.and_then(|(bytes,)| bytes).unwrap_or(0)),
        Err(e) => {
            tracing::info!(%database, error = %e, "cannot read its files' size: existence checked only");
            None
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_much_smaller_than_declared_is_refused_a_small_inventory_is_noise() {
        assert!(compare("x", 100, 999, TransferPhase::Files).is_ok());
        assert!(compare("x", 0, MEASURED_FROM - 1, TransferPhase::Files).is_ok());
        assert!(compare("x", 200 << 20, 2 << 30, TransferPhase::Files).is_err());
        assert!(compare("x", 300 << 20, 2 << 30, TransferPhase::Files).is_ok());
        let refused = compare("account a (files)", 1, 10 << 20, TransferPhase::Files)
            .expect_err("much smaller");
        assert!(!refused.retryable);
        assert!(
            refused.reason.contains("declares 10485760"),
            "{}",
            refused.reason
        );
    }
}
