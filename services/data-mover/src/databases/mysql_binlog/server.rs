//! What ferry reads of a server: its identity, its current binlog position and its
//! binlog files.

use tokio_util::sync::CancellationToken;

use super::BinlogPosition;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;
use crate::databases::mysql::client;

/// A server's identity, to tell whether two URLs reach the same server and whether a
/// recorded position belongs to this source.
pub(super) async fn identity(
    endpoint: &Endpoint,
    cancel: &CancellationToken,
) -> Result<String, DbError> {
    let row: Option<(Option<String>,)> = client::first(
        endpoint,
        "SELECT CONCAT_WS(':', @@server_id, @@hostname, @@port, IFNULL(@@log_bin_basename, ''))",
        (),
        cancel,
    )
    .await?;
    Ok(row.and_then(|(identity,)| identity).unwrap_or_default())
}

/// The source's current binlog position (`SHOW MASTER STATUS`).
pub(super) async fn master_status(
    src: &Endpoint,
    cancel: &CancellationToken,
) -> Result<BinlogPosition, DbError> {
    let rows: Vec<mysql_async::Row> = client::rows(src, "SHOW MASTER STATUS", (), cancel).await?;
    let Some(row) = rows.first() else {
        return Err(status_error(src, "no binary log (log_bin off?)".to_owned()));
    };
    match (row.get_opt::<String, _>(0), row.get_opt::<u64, _>(1)) {
        (Some(Ok(file)), Some(Ok(position))) => Ok(BinlogPosition { file, position }),
        (file, position) => Err(status_error(
            src,
            format!("unexpected file {file:?} and position {position:?}"),
        )),
    }
}

fn status_error(src: &Endpoint, reason: String) -> DbError {
    DbError::Query {
        endpoint: src.display(),
        context: "SHOW MASTER STATUS".to_owned(),
        reason,
    }
}

/// The source's binlog files and sizes, oldest first (`SHOW BINARY LOGS`).
pub(super) async fn binary_logs(
    src: &Endpoint,
    cancel: &CancellationToken,
) -> Result<Vec<(String, u64)>, DbError> {
    let rows: Vec<mysql_async::Row> = client::rows(src, "SHOW BINARY LOGS", (), cancel).await?;
    Ok(rows
        .iter()
        .filter_map(|row| match (row.get_opt(0), row.get_opt(1)) {
            (Some(Ok(name)), Some(Ok(size))) => Some((name, size)),
            _ => None,
        })
        .collect())
}
