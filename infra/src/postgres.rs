//! PostgreSQL connection pools. Their errors name the server by its URL without
//! password.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;

/// PostgreSQL could not be set up. `url` is the server's URL with its password
/// masked.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The URL is not a PostgreSQL connection string.
    #[error("invalid database URL {url}: {source}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// The driver's reason.
        source: tokio_postgres::Error,
    },
    /// The pool could not be built.
    #[error("cannot build the connection pool of {url}: {reason}")]
    Build {
        /// The URL, password masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server did not answer.
    #[error("cannot reach PostgreSQL at {url}: {reason}")]
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A pool of at most `max_size` connections to `url`; checks that one connection works.
pub async fn connect(url: &str, max_size: usize) -> Result<Pool, PostgresError> {
    let pool = pool(url, max_size)?;
    let unreachable = |e: &dyn std::fmt::Display| PostgresError::Unreachable {
        url: ferry_events::redact_url(url),
        reason: e.to_string(),
    };
    let client = pool.get().await.map_err(|e| unreachable(&e))?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| unreachable(&e))?;
    Ok(pool)
}

/// A pool of at most `max_size` connections to `url`, connecting lazily.
pub fn pool(url: &str, max_size: usize) -> Result<Pool, PostgresError> {
    let config: tokio_postgres::Config =
        url.parse().map_err(|source| PostgresError::InvalidUrl {
            url: ferry_events::redact_url(url),
            source,
        })?;
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
        .map_err(|e| PostgresError::Build {
            url: ferry_events::redact_url(url),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn errors_name_the_server_without_its_password() {
        // Nothing listens on port 1: refused at once.
        let error = super::connect("postgres://ferry:hunter2@127.0.0.1:1/ferry", 1)
            .await
            .expect_err("nothing there")
            .to_string();
        assert!(
            error.contains("postgres://ferry:***@127.0.0.1:1/ferry"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
}
