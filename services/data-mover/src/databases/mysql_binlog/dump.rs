//! The dump: the live source dumped into a new staging schema, its binlog position
//! read from the dump and recorded.

use tokio_util::sync::CancellationToken;

use super::relay::relay;
use super::{BinlogCopy, BinlogPosition};
use crate::databases::mysql::{self, drop_schema, tables_of};
use crate::databases::{CopyPhase, DbError};

/// How many leading dump lines may hold the `CHANGE MASTER` comment.
const POSITION_LINES: usize = 500;

impl BinlogCopy {
    /// A new staging copy: the dump piped into it, its position recorded.
    pub(super) async fn dump(&mut self, cancel: &CancellationToken) -> Result<(), DbError> {
        drop_schema(&self.dst, &self.staging, cancel).await?;
        let charset = (self.charset.0.as_str(), self.charset.1.as_str());
        mysql::create_schema(&self.dst, &self.staging, charset, cancel).await?;
        let dumped = self.dump_into_staging(cancel).await;
        if dumped.is_err() {
            let cleanup = CancellationToken::new();
            if let Err(e) = drop_schema(&self.dst, &self.staging, &cleanup).await {
                tracing::warn!(error = %e, "could not drop the staging schema; the next attempt will");
            }
            self.forget_quietly().await;
        }
        dumped
    }

    async fn dump_into_staging(&mut self, cancel: &CancellationToken) -> Result<(), DbError> {
        // Recorded first: a crash during the load leaves a row that is not `ready`.
        self.record(None, "loading", cancel).await?;
        self.spec.phase(CopyPhase::Restoring);
        let views = tables_of(&self.src, &self.spec.database, &["VIEW"], cancel).await?;
        let dump = mysql::data_dump(&self.src, &self.spec.database, &views, &["--master-data=2"]);
        let load = self.loader(Some(&self.staging));
        let mut found: Option<BinlogPosition> = None;
        let mut lines = 0_usize;
        let mut scan = |line: &[u8], out: &mut Vec<u8>| {
            if found.is_none() && lines < POSITION_LINES {
                lines += 1;
                found = dump_position(line);
            }
            out.extend_from_slice(line);
            Ok(())
        };
        let bytes = relay(
            ("mariadb-dump", dump),
            Some(("mariadb", load)),
            &mut scan,
            cancel,
        )
        .await?;
        let position = found.ok_or_else(|| {
            self.impossible("mariadb-dump did not report the binary log position")
        })?;
        self.record(Some(&position), "ready", cancel).await?;
        tracing::info!(staging = %self.staging, ?position, bytes, "staging copy dumped");
        self.position = position;
        self.dump_bytes = bytes;
        Ok(())
    }
}

/// The position in a dump's `-- CHANGE MASTER TO MASTER_LOG_FILE='f', MASTER_LOG_POS=n;`
/// comment line (`--master-data=2`).
fn dump_position(line: &[u8]) -> Option<BinlogPosition> {
    let line = std::str::from_utf8(line).ok()?.trim();
    let rest = line.strip_prefix("-- CHANGE MASTER TO MASTER_LOG_FILE='")?;
    let (file, rest) = rest.split_once('\'')?;
    let digits: String = rest
        .split_once("MASTER_LOG_POS=")?
        .1
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(BinlogPosition {
        file: file.to_owned(),
        position: digits.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_dump_position() {
        let line =
            b"-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=3325;\n";
        assert_eq!(
            dump_position(line),
            Some(BinlogPosition {
                file: "mysql-bin.000003".into(),
                position: 3325
            })
        );
        assert_eq!(dump_position(b"-- MariaDB dump 10.19\n"), None);
    }
}
