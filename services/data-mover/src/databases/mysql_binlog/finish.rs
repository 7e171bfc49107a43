//! The finish, the source frozen: a last catch-up, the AUTO_INCREMENT counters
//! aligned, the verification and the switch to the final name.

use std::time::Instant;

use ferry_events::transfer::DatabaseMethod;
use ferry_events::values::DatabaseEngine;
use tokio_util::sync::CancellationToken;

use super::BinlogCopy;
use crate::databases::endpoint::Endpoint;
use crate::databases::mysql::client::{self, ident};
use crate::databases::mysql::{self, drop_schema, tables_of};
use crate::databases::{CopyPhase, CopyReport, DbError};

impl BinlogCopy {
    /// With the source frozen: a last catch-up, the AUTO_INCREMENT counters aligned
    /// with the source's, verification table by table, the switch to the final name
    /// (replacing an existing schema if [`CopySpec::replace_existing`]) and the
    /// bookkeeping removed. The report's `duration` is this call's (the frozen part);
    /// its `dump_bytes` the dump's (0 if reused) plus the row events applied.
    ///
    /// [`CopySpec::replace_existing`]: crate::databases::CopySpec::replace_existing
    pub async fn finish(mut self, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
        let started = Instant::now();
        self.catch_up(cancel).await?;
        let views = tables_of(&self.src, &self.spec.database, &["VIEW"], cancel).await?;
        let objects = mysql::dump_objects(&self.src, &self.spec.database, &views, cancel).await?;
        self.align_auto_increments(cancel).await?;
        let verified = match self.verify_after_live(cancel).await {
            Some(verified) => verified,
            None => mysql::verify_staging(&self.spec, &self.staging, cancel).await,
        };
        if let Err(DbError::Mismatch { .. }) = &verified {
            // The staging copy is wrong: never reuse it.
            self.forget_quietly().await;
        }
        let (verify_duration, check) = verified?;
        let charset = (self.charset.0.as_str(), self.charset.1.as_str());
        let switched = mysql::switch(
            &self.spec,
            &self.dst,
            &self.staging,
            charset,
            objects,
            cancel,
        )
        .await;
        if switched.is_err() {
            // A failed switch leaves a marker: the staging copy cannot be reused.
            let cleanup = CancellationToken::new();
            if let Err(e) = drop_schema(&self.dst, &self.staging, &cleanup).await {
                tracing::warn!(error = %e, "could not drop the staging schema; the next attempt will");
            }
        }
        self.forget_quietly().await;
        switched?;
        self.spec.phase(CopyPhase::Done);
        tracing::info!(
            database = %self.spec.database,
            destination = %self.spec.destination_name,
            applied = self.applied_bytes,
            "mysql database copied by binlog catch-up and verified"
        );
        Ok(CopyReport {
            engine: DatabaseEngine::Mysql,
            source_database: self.spec.database.clone(),
            database: self.spec.destination_name.clone(),
            method: DatabaseMethod::BinlogReplication,
            dump_bytes: self.dump_bytes.saturating_add(self.applied_bytes),
            duration: started.elapsed(),
            verify_duration,
            check,
        })
    }

    /// Raises the staging tables' AUTO_INCREMENT counters to the source's (inserts
    /// rolled back at the source consume values that no row event shows).
    async fn align_auto_increments(&self, cancel: &CancellationToken) -> Result<(), DbError> {
        let source = auto_increments(&self.src, &self.spec.database, cancel).await?;
        let staging = auto_increments(&self.dst, &self.staging, cancel).await?;
        let mut statements = Vec::new();
        for (table, value) in &source {
            let behind = staging.iter().any(|(t, v)| t == table && v < value);
            if behind {
                // A table option, not a value: it cannot be bound; `value` is a number.
                statements.push(format!(
                    "ALTER TABLE {}.{} AUTO_INCREMENT = {value}",
                    ident(&self.staging),
                    ident(table)
                ));
            }
        }
        if statements.is_empty() {
            return Ok(());
        }
        let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
        client::execute_all(&self.dst, &statements, cancel).await
    }
}

/// Each table's AUTO_INCREMENT counter in `database`.
async fn auto_increments(
    endpoint: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<Vec<(String, u64)>, DbError> {
    client::rows(
        endpoint,
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL",
        (database,),
        cancel,
    )
    .await
}
