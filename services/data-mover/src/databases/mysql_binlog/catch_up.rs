//! The catch-up: the source's binlog range scanned for schema changes, then its row
//! events applied to the staging schema.

use std::time::Instant;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::filter::{BinlogFilter, DdlScan};
use super::relay::relay;
use super::server::{binary_logs, master_status};
use super::{BinlogCopy, BinlogPosition};
use crate::databases::{DbError, process};

impl BinlogCopy {
    /// Applies the source's binlog events for this schema from the recorded position
    /// up to the source's current one, then records the new position. Returns the
    /// bytes of row events applied (base64 text; 0 when the schema did not change).
    /// Call it repeatedly while the source is live to shrink what remains.
    ///
    /// The range is first scanned for statements changing the schema (DDL, a
    /// statement-logged write): if there is one, nothing is applied and the copy is
    /// refused ([`DbError::CatchUpImpossible`]). A failure or cancellation while
    /// applying leaves the staging copy in an unknown state: it is discarded too. In
    /// both cases later calls fail the same way and [`start`] dumps again; any other
    /// failure (before applying) leaves the copy usable.
    ///
    /// [`start`]: super::start
    pub async fn catch_up(&mut self, cancel: &CancellationToken) -> Result<u64, DbError> {
        if self.broken {
            return Err(self.impossible("an earlier catch-up failed or was cancelled"));
        }
        let began = Instant::now();
        let target = master_status(&self.src, cancel).await?;
        if target == self.position {
            return Ok(0);
        }
        let files = self.files_to(&target, cancel).await?;
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "binlog catch-up: range known"
        );
        // Before anything is applied. A refused range leaves the staging copy as it
        // was, but it can never be finished: marked so, [`start`] dumps again.
        if let Err(e) = self.scan(&files, &target, cancel).await {
            if matches!(e, DbError::CatchUpImpossible { .. }) {
                self.broken = true;
                if let Err(e) = self.set_state("stale", cancel).await {
                    tracing::warn!(error = %e, "could not mark the staging copy stale");
                }
            }
            return Err(e);
        }
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "binlog catch-up: range scanned"
        );
        self.set_state("applying", cancel).await?;
        let applied = self.apply(&files, &target, cancel).await;
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "binlog catch-up: applied"
        );
        let recorded = match applied {
            Ok(bytes) => self
                .record(Some(&target), "ready", cancel)
                .await
                .map(|()| bytes),
            Err(e) => Err(e),
        };
        match recorded {
            Ok(bytes) => {
                tracing::debug!(staging = %self.staging, ?target, bytes, "binlog caught up");
                self.position = target;
                self.applied_bytes += bytes;
                Ok(bytes)
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    /// The binlog files from the recorded position's to `target`'s, in order.
    async fn files_to(
        &self,
        target: &BinlogPosition,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, DbError> {
        let logs: Vec<String> = binary_logs(&self.src, cancel)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let first = logs.iter().position(|l| *l == self.position.file);
        let last = logs.iter().position(|l| *l == target.file);
        match (first, last) {
            (Some(first), Some(last)) if first <= last => Ok(logs[first..=last].to_vec()),
            _ => Err(self.impossible(format!(
                "binary log {} is no longer on the source (purged?)",
                self.position.file
            ))),
        }
    }

    /// `mariadb-binlog` reading the source's `files` remotely, from the recorded
    /// position to `target`, with the options `extra`; the files come last, after
    /// `--`, so that none is ever read as an option.
    fn reader(&self, files: &[String], target: &BinlogPosition, extra: &[String]) -> Command {
        let mut read = process::command("mariadb-binlog");
        self.src.mysql_args(&mut read);
        // Not `--skip-annotate-row-events`: read remotely without them, the tool
        // miscounts offsets and reads past `--stop-position` (seen with 10.11).
        read.arg("--read-from-remote-server")
            .arg(format!("--start-position={}", self.position.position))
            .arg(format!("--stop-position={}", target.position))
            .args(extra)
            .arg("--")
            .args(files);
        read
    }

    /// Refuses the range if a statement (not a row event) changes the schema: the
    /// whole server's statements, read first, so that nothing is applied then.
    async fn scan(
        &self,
        files: &[String],
        target: &BinlogPosition,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let read = self.reader(files, target, &["--short-form".to_owned()]);
        let mut scan = DdlScan::new(&self.spec.database);
        let mut lines = |line: &[u8], _: &mut Vec<u8>| scan.line(line);
        relay(("mariadb-binlog", read), None, &mut lines, cancel)
            .await
            .map(|_| ())
    }

    /// `mariadb-binlog` from the source, filtered, into `mariadb` at the destination.
    /// The chunks its row events touch are added to `touched` (see [`super::live`]).
    async fn apply(
        &mut self,
        files: &[String],
        target: &BinlogPosition,
        cancel: &CancellationToken,
    ) -> Result<u64, DbError> {
        let database = &self.spec.database;
        let read = self.reader(
            files,
            target,
            &[
                format!("--database={database}"),
                format!("--rewrite-db={database}->{}", self.staging),
                // Row images as comments, read for the chunks they touch.
                "--verbose".to_owned(),
            ],
        );
        let mut filter = BinlogFilter::new(database, &self.staging).tracking(self.keys.clone());
        if let [_single] = files {
            filter.stop = Some(target.position);
        }
        let mut lines = |line: &[u8], out: &mut Vec<u8>| filter.line(line, out);
        let apply = self.loader(None);
        relay(
            ("mariadb-binlog", read),
            Some(("mariadb", apply)),
            &mut lines,
            cancel,
        )
        .await?;
        let bytes = filter.row_bytes;
        self.touch(filter.touched());
        Ok(bytes)
    }
}
