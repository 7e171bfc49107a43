//! Schemas as the copies see them: whether one exists and with which character set,
//! its tables, its creation, and its removal (after ending the sessions using it).

use std::iter;

use tokio_util::sync::CancellationToken;

use super::client::{self, Client, ident, placeholders, values};
use super::sessions;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;

/// The names of `database`'s objects of these types (`BASE TABLE`, `VIEW`, `SEQUENCE`),
/// sorted.
pub(crate) async fn tables_of(
    endpoint: &Endpoint,
    database: &str,
    types: &[&str],
    cancel: &CancellationToken,
) -> Result<Vec<String>, DbError> {
    let statement = format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ({}) ORDER BY TABLE_NAME",
        placeholders(types.len())
    );
    let params = values(iter::once(database).chain(types.iter().copied()));
    let rows: Vec<(String,)> = client::rows(endpoint, &statement, params, cancel).await?;
    Ok(rows.into_iter().map(|(table,)| table).collect())
}

/// The default character set and collation of a schema, if it exists.
pub(crate) async fn schema(
    endpoint: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<Option<(String, String)>, DbError> {
    client::first(
        endpoint,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        (database,),
        cancel,
    )
    .await
}

/// `CREATE DATABASE` with the source's default character set and collation.
pub(crate) async fn create_schema(
    endpoint: &Endpoint,
    database: &str,
    charset: (&str, &str),
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    client::execute(endpoint, &create_statement(database, charset), (), cancel).await
}

/// The `CREATE DATABASE` of [`create_schema`]. The character set and collation are
/// names, not values (they cannot be bound): quoted as identifiers.
pub(crate) fn create_statement(database: &str, (charset, collation): (&str, &str)) -> String {
    format!(
        "CREATE DATABASE {} CHARACTER SET {} COLLATE {}",
        ident(database),
        ident(charset),
        ident(collation)
    )
}

/// `ALTER DATABASE` to this default character set and collation.
pub(crate) fn alter_statement(database: &str, (charset, collation): (&str, &str)) -> String {
    format!(
        "ALTER DATABASE {} CHARACTER SET {} COLLATE {}",
        ident(database),
        ident(charset),
        ident(collation)
    )
}

/// Kills the sessions using `database` (an orphaned loader of an earlier attempt),
/// then drops it.
pub(crate) async fn drop_schema(
    endpoint: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut client = Client::connect(endpoint, cancel).await?;
    sessions::kill_users(&mut client, database, cancel).await?;
    let statement = format!("DROP DATABASE IF EXISTS {}", ident(database));
    client.execute(&statement, (), cancel).await?;
    client.close().await;
    Ok(())
}
