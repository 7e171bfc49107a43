//! Dropping a copy ferry made and no longer needs (a discarded test copy): only ever
//! called with names ferry chose for its own copies.

use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::{DbError, check_name, mysql, postgres};

/// Drops the PostgreSQL database `name` at `url` if it exists, ending its sessions.
pub async fn postgres_copy(url: &str, name: &str) -> Result<(), DbError> {
    check_name(name, 63)?;
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (client, task) = postgres::connect(&endpoint, &config, None).await?;
    let dropped = postgres::drop_database(&endpoint, &client, name).await;
    postgres::close(client, task).await;
    dropped
}

/// Drops the MySQL/MariaDB schema `name` at `url` if it exists, ending its sessions.
pub async fn mysql_copy(url: &str, name: &str) -> Result<(), DbError> {
    check_name(name, 64)?;
    let endpoint = Endpoint::mysql(url)?;
    mysql::drop_schema(&endpoint, name, &CancellationToken::new()).await
}
