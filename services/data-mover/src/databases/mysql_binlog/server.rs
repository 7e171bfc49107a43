//! What ferry reads of a server: its identity, its current binlog position and its
//! binlog files.

use tokio_util::sync::CancellationToken;

use super::BinlogPosition;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;
use crate::databases::mysql::sql;

/// A server's identity, to tell whether two URLs reach the same server and whether a
/// recorded position belongs to this source.
pub(super) async fn identity(
    endpoint: &Endpoint,
    cancel: &CancellationToken,
) -> Result<String, DbError> {
    let rows = sql(
        endpoint,
        "SELECT CONCAT_WS(':', @@server_id, @@hostname, @@port, IFNULL(@@log_bin_basename, ''));"
            .into(),
        cancel,
    )
    .await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .unwrap_or_default())
}

/// The source's current binlog position (`SHOW MASTER STATUS`).
pub(super) async fn master_status(
    src: &Endpoint,
    cancel: &CancellationToken,
) -> Result<BinlogPosition, DbError> {
    let rows = sql(src, "SHOW MASTER STATUS;".into(), cancel).await?;
    match rows.first().map(Vec::as_slice) {
        Some([file, position, ..]) => match position.parse() {
            Ok(position) => Ok(BinlogPosition {
                file: file.clone(),
                position,
            }),
            Err(_) => Err(status_error(src, format!("position {position:?}"))),
        },
        _ => Err(status_error(src, "no binary log (log_bin off?)".to_owned())),
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
    let rows = sql(src, "SHOW BINARY LOGS;".into(), cancel).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [name, size, ..] => size.parse().ok().map(|size| (name.clone(), size)),
            _ => None,
        })
        .collect())
}
