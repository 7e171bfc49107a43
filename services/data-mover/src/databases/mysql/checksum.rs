//! The MySQL/MariaDB side of verification ([`crate::databases::verify`]): each base
//! table's row count and sum of row hashes ([`super::chunks`]).

use tokio_util::sync::CancellationToken;

use super::chunks::{self, describe, table_check};
use super::client::Client;
use super::schema::tables_of;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;
use crate::databases::verify::TableCheck;

/// Row counts and row-hash sums of every base table of `database`, in one session
/// and one consistent snapshot.
pub async fn checksum(url: &str, database: &str) -> Result<Vec<TableCheck>, DbError> {
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    let tables = tables_of(&endpoint, database, &["BASE TABLE"], &cancel).await?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let mut client = Client::connect(&endpoint, &cancel).await?;
    let checks = checks_in(&mut client, database, &tables, &cancel).await;
    client.close().await;
    checks
}

async fn checks_in(
    client: &mut Client,
    database: &str,
    tables: &[String],
    cancel: &CancellationToken,
) -> Result<Vec<TableCheck>, DbError> {
    client
        .execute("START TRANSACTION WITH CONSISTENT SNAPSHOT", (), cancel)
        .await?;
    let mut checks = Vec::with_capacity(tables.len());
    for table in tables {
        let described = describe(client, database, table, cancel).await?;
        let hashed = chunks::hash(client, database, &described, None, cancel).await?;
        checks.push(table_check(&described, &hashed));
    }
    client.execute("COMMIT", (), cancel).await?;
    Ok(checks)
}
