//! PostgreSQL connection pools.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;

/// PostgreSQL could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The URL is not a PostgreSQL connection string.
    #[error("invalid database URL: {0}")]
    InvalidUrl(tokio_postgres::Error),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Build(String),
    /// The server did not answer.
    #[error("cannot reach PostgreSQL: {0}")]
    Unreachable(String),
}

/// A pool of at most `max_size` connections to `url`; checks that one connection works.
pub async fn connect(url: &str, max_size: usize) -> Result<Pool, PostgresError> {
    let pool = pool(url, max_size)?;
    let client = pool
        .get()
        .await
        .map_err(|e| PostgresError::Unreachable(e.to_string()))?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| PostgresError::Unreachable(e.to_string()))?;
    Ok(pool)
}

/// A pool of at most `max_size` connections to `url`, connecting lazily.
pub fn pool(url: &str, max_size: usize) -> Result<Pool, PostgresError> {
    let config: tokio_postgres::Config = url.parse().map_err(PostgresError::InvalidUrl)?;
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| PostgresError::Build(e.to_string()))
}
