//! The destination's bookkeeping table `ferry_mover.binlog_copies`: each staging
//! copy's source, binlog position and state, and whether it can be reused.

use tokio_util::sync::CancellationToken;

use super::server::binary_logs;
use super::{BinlogCopy, BinlogPosition};
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;
use crate::databases::mysql::client::{self, ident};
use crate::databases::mysql::{MARKER, REPLACING_MARKER, schema, tables_of};

/// The destination's bookkeeping schema.
const BOOKKEEPING: &str = "ferry_mover";
/// Its table of binlog copies.
const COPIES: &str = "binlog_copies";

/// A row of it: source, source database, state, binlog file and position.
type Recorded = (String, String, String, Option<String>, Option<u64>);

impl BinlogCopy {
    /// The recorded position, if the staging copy can be reused.
    pub(super) async fn reusable(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Option<BinlogPosition>, DbError> {
        let row: Option<Recorded> = client::first(
            &self.dst,
            &format!(
                "SELECT source, source_database, state, binlog_file, binlog_pos
                 FROM {}.{} WHERE staging = ?",
                ident(BOOKKEEPING),
                ident(COPIES),
            ),
            (self.staging.as_str(),),
            cancel,
        )
        .await?;
        let Some((source, database, state, file, pos)) = row else {
            return Ok(None);
        };
        let position = match (file, pos) {
            (Some(file), Some(position)) if !file.is_empty() => BinlogPosition { file, position },
            _ => return Ok(None),
        };
        if source != self.source || database != self.spec.database || state != "ready" {
            tracing::info!(staging = %self.staging, %state, "recorded staging copy not reusable");
            return Ok(None);
        }
        let tables = tables_of(&self.dst, &self.staging, &["BASE TABLE"], cancel).await?;
        if schema(&self.dst, &self.staging, cancel).await?.is_none()
            || tables.iter().any(|t| t == MARKER || t == REPLACING_MARKER)
        {
            return Ok(None);
        }
        let logs = binary_logs(&self.src, cancel).await?;
        let present = logs
            .iter()
            .any(|(name, size)| *name == position.file && *size >= position.position);
        Ok(present.then_some(position))
    }

    /// Records the copy's position and state at the destination.
    pub(super) async fn record(
        &self,
        position: Option<&BinlogPosition>,
        state: &str,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let (file, pos) = match position {
            Some(p) => (Some(p.file.as_str()), Some(p.position)),
            None => (None, None),
        };
        let statement = format!(
            "REPLACE INTO {}.{} (staging, source, source_database, binlog_file, binlog_pos, state)
             VALUES (?, ?, ?, ?, ?, ?)",
            ident(BOOKKEEPING),
            ident(COPIES),
        );
        let params = (
            self.staging.as_str(),
            self.source.as_str(),
            self.spec.database.as_str(),
            file,
            pos,
            state,
        );
        client::execute(&self.dst, &statement, params, cancel).await
    }

    pub(super) async fn set_state(
        &self,
        state: &str,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let statement = format!(
            "UPDATE {}.{} SET state = ? WHERE staging = ?",
            ident(BOOKKEEPING),
            ident(COPIES),
        );
        let params = (state, self.staging.as_str());
        client::execute(&self.dst, &statement, params, cancel).await
    }

    pub(super) async fn forget_quietly(&self) {
        if let Err(e) = forget(&self.dst, &self.staging, &CancellationToken::new()).await {
            tracing::warn!(error = %e, staging = %self.staging, "could not remove the binlog copy's bookkeeping");
        }
    }
}

/// Creates the bookkeeping schema and table at the destination if needed.
pub(super) async fn ensure_bookkeeping(
    dst: &Endpoint,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let schema = format!("CREATE DATABASE IF NOT EXISTS {}", ident(BOOKKEEPING));
    let table = format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (
           staging VARCHAR(64) NOT NULL PRIMARY KEY,
           source VARCHAR(512) NOT NULL,
           source_database VARCHAR(64) NOT NULL,
           binlog_file VARCHAR(255) NULL,
           binlog_pos BIGINT UNSIGNED NULL,
           state VARCHAR(16) NOT NULL,
           updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
         ) ENGINE=InnoDB",
        ident(BOOKKEEPING),
        ident(COPIES)
    );
    client::execute_all(dst, &[&schema, &table], cancel).await
}

/// Removes `staging`'s bookkeeping row, if the table exists.
pub(super) async fn forget(
    dst: &Endpoint,
    staging: &str,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let tables = tables_of(dst, BOOKKEEPING, &["BASE TABLE"], cancel).await?;
    if !tables.iter().any(|t| t == COPIES) {
        return Ok(());
    }
    let statement = format!(
        "DELETE FROM {}.{} WHERE staging = ?",
        ident(BOOKKEEPING),
        ident(COPIES)
    );
    client::execute(dst, &statement, (staging,), cancel).await
}
