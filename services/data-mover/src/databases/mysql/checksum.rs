//! The MySQL/MariaDB side of verification ([`crate::databases::verify`]): each base
//! table's `COUNT(*)` and `CHECKSUM TABLE`.

use tokio_util::sync::CancellationToken;

use super::client::{Client, ident};
use super::schema::tables_of;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;
use crate::databases::verify::TableCheck;

/// Row counts (`COUNT(*)`) and `CHECKSUM TABLE` of every base table of `database`,
/// in one session.
pub async fn checksum(url: &str, database: &str) -> Result<Vec<TableCheck>, DbError> {
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    let tables = tables_of(&endpoint, database, &["BASE TABLE"], &cancel).await?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let mut client = Client::connect(&endpoint, &cancel).await?;
    let mut checks = Vec::with_capacity(tables.len());
    for table in tables {
        let name = format!("{}.{}", ident(database), ident(&table));
        let count: Option<(u64,)> = client
            .first(&format!("SELECT COUNT(*) FROM {name}"), (), &cancel)
            .await?;
        // `CHECKSUM TABLE` answers (name, checksum); NULL where the server cannot
        // compute it, recorded as the `mariadb` tool prints it, "NULL".
        let sum: Option<(String, Option<String>)> = client
            .first(&format!("CHECKSUM TABLE {name}"), (), &cancel)
            .await?;
        match (count, sum) {
            (Some((rows,)), Some((_, checksum))) => checks.push(TableCheck {
                table,
                rows,
                checksum: checksum.unwrap_or_else(|| "NULL".to_owned()),
            }),
            (count, sum) => {
                return Err(DbError::Query {
                    endpoint: endpoint.display(),
                    context: format!("checksum of {table}"),
                    reason: format!("unexpected answers {count:?} and {sum:?}"),
                });
            }
        }
    }
    client.close().await;
    Ok(checks)
}
