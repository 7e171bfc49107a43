//! Eligibility: whether a database can be copied by binary-log catch-up, in words if
//! not.

use tokio_util::sync::CancellationToken;

use super::Eligibility;
use crate::databases::endpoint::Endpoint;
use crate::databases::mysql::client::Client;
use crate::databases::mysql::{MAX_NAME, schema};
use crate::databases::{CopySpec, DbError, check_name};

/// Whether `spec` can be copied by binlog catch-up: the binary log is on at the source
/// in ROW format, the source user may read it and its positions, the destination user
/// may apply row events, and every table is InnoDB (for a consistent
/// `--single-transaction` dump). Privileges are read from `SHOW GRANTS` (global
/// grants; those held through a role are not seen). Fails only if the servers cannot
/// be asked.
pub async fn eligibility(spec: &CopySpec) -> Result<Eligibility, DbError> {
    check_name(&spec.database, MAX_NAME)?;
    check_name(&spec.destination_name, MAX_NAME)?;
    let src = Endpoint::mysql(&spec.source_url)?;
    let dst = Endpoint::mysql(&spec.destination_url)?;
    let cancel = CancellationToken::new();
    if schema(&src, &spec.database, &cancel).await?.is_none() {
        return Err(DbError::NotFound {
            name: spec.database.clone(),
        });
    }
    let reasons = obstacles(&src, &dst, &spec.database, &cancel).await?;
    Ok(if reasons.is_empty() {
        Eligibility::Eligible
    } else {
        Eligibility::NotEligible(reasons.join("; "))
    })
}

/// What prevents a binlog copy of `database`, in words (empty: nothing).
pub(super) async fn obstacles(
    src: &Endpoint,
    dst: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<Vec<String>, DbError> {
    let mut reasons = Vec::new();
    let mut source = Client::connect(src, cancel).await?;
    let vars: Option<(String, String)> = source
        .first("SELECT @@log_bin, @@binlog_format", (), cancel)
        .await?;
    match vars {
        Some((log_bin, format)) => {
            if log_bin != "1" {
                reasons.push("the binary log is off at the source (log_bin)".to_owned());
            }
            if format != "ROW" {
                reasons.push(format!(
                    "the source logs in {format} format (binlog_format), ROW is needed"
                ));
            }
        }
        None => reasons.push("cannot read log_bin and binlog_format at the source".to_owned()),
    }
    if let Err(e) = source.execute("SHOW MASTER STATUS", (), cancel).await {
        reasons.push(format!(
            "the source user cannot read binlog positions (BINLOG MONITOR): {e}"
        ));
    }
    if !granted(
        &mut source,
        &["REPLICATION SLAVE", "REPLICATION REPLICA"],
        cancel,
    )
    .await?
    {
        reasons.push("the source user may not read the binary log (REPLICATION SLAVE)".into());
    }
    let others: Vec<(String,)> = source
        .rows(
            "SELECT CONCAT(TABLE_NAME, ' (', IFNULL(ENGINE, '?'), ')') FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND IFNULL(ENGINE, '') <> 'InnoDB'
             ORDER BY TABLE_NAME",
            (database,),
            cancel,
        )
        .await?;
    source.close().await;
    let mut destination = Client::connect(dst, cancel).await?;
    let may_apply = granted(&mut destination, &["BINLOG REPLAY", "SUPER"], cancel).await?;
    destination.close().await;
    if !may_apply {
        reasons.push("the destination user may not apply binlog events (BINLOG REPLAY)".into());
    }
    if !others.is_empty() {
        let names: Vec<String> = others.into_iter().map(|(name,)| name).collect();
        reasons.push(format!(
            "tables not in InnoDB cannot be dumped consistently while live: {}",
            names.join(", ")
        ));
    }
    Ok(reasons)
}

/// Whether the session's user holds one of `privileges` (or all privileges) globally.
async fn granted(
    session: &mut Client,
    privileges: &[&str],
    cancel: &CancellationToken,
) -> Result<bool, DbError> {
    let grants: Vec<(String,)> = session.rows("SHOW GRANTS", (), cancel).await?;
    Ok(grants.iter().any(|(grant,)| {
        let grant = grant.to_ascii_uppercase();
        grant.contains(" ON *.* ")
            && (grant.contains("ALL PRIVILEGES") || privileges.iter().any(|p| grant.contains(p)))
    }))
}
