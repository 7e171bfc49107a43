//! The MySQL/MariaDB driver (`mysql_async`): one connection per unit of work, opened
//! from an [`Endpoint`] over TCP, statements run with their values bound as
//! parameters, identifiers quoted by [`ident`], a cancellation ending the wait, and the
//! driver's errors turned into [`DbError`]s.
//!
//! Only queries go through here: dumps, restores and binary-log reading stay with the
//! engine's tools (`mariadb-dump`, `mariadb`, `mariadb-binlog`).

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, OptsBuilder, Params, Row, Value};
use tokio_util::sync::CancellationToken;

use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;

/// `` `name` `` with inner backticks doubled: the one way a schema, table or other
/// object name (which cannot be a bound parameter) enters a statement.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `?, ?, …`: one placeholder per value of a list (`IN (…)`).
pub(crate) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// A statement the server refused, for callers that handle some refusals themselves.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The server's error code, e.g. 1007 (the database exists).
    pub code: u16,
    /// The server's message, as the `mariadb` tool shows it.
    pub message: String,
}

/// The server's code for "can't create database; database exists".
pub(crate) const ER_DB_CREATE_EXISTS: u16 = 1007;

/// One session on a server.
pub(crate) struct Client {
    conn: Conn,
    endpoint: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("id", &self.conn.id())
            .finish()
    }
}

impl Client {
    /// Opens a session on `endpoint` ([`DbError::Connection`] if it cannot;
    /// [`DbError::Interrupted`] if `cancel` fires first).
    pub(crate) async fn connect(
        endpoint: &Endpoint,
        cancel: &CancellationToken,
    ) -> Result<Self, DbError> {
        let opts = OptsBuilder::default()
            .ip_or_hostname(endpoint.host.clone())
            .tcp_port(endpoint.port)
            // Like the tools' `--user`: without one, the login name is used.
            .user(endpoint.user.clone().or_else(login_name))
            .pass(endpoint.password.clone())
            // TCP as asked, as the tools get `--protocol=TCP`: not the server's Unix
            // socket the driver would otherwise switch to on a local host, where
            // another authentication (unix_socket) may apply.
            .prefer_socket(false);
        let conn = until_cancelled(Conn::new(opts), cancel)
            .await?
            .map_err(|e| DbError::Connection {
                endpoint: endpoint.display(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            conn,
            endpoint: endpoint.display(),
        })
    }

    /// The session's connection id (`CONNECTION_ID()`).
    pub(crate) fn id(&self) -> u64 {
        u64::from(self.conn.id())
    }

    /// The rows of `statement`, each converted to `T` (a tuple of its columns).
    pub(crate) async fn rows<T: FromRow>(
        &mut self,
        statement: &str,
        params: impl Into<Params> + Send,
        cancel: &CancellationToken,
    ) -> Result<Vec<T>, DbError> {
        let rows = self.raw_rows(statement, params.into(), cancel).await?;
        rows.into_iter()
            .map(|row| {
                mysql_async::from_row_opt::<T>(row)
                    .map_err(|e| self.failed(statement, format!("unexpected row: {e}")))
            })
            .collect()
    }

    /// The first row of `statement`, if any (see [`Client::rows`]).
    pub(crate) async fn first<T: FromRow>(
        &mut self,
        statement: &str,
        params: impl Into<Params> + Send,
        cancel: &CancellationToken,
    ) -> Result<Option<T>, DbError> {
        Ok(self
            .rows(statement, params, cancel)
            .await?
            .into_iter()
            .next())
    }

    /// Runs `statement` for its effect.
    pub(crate) async fn execute(
        &mut self,
        statement: &str,
        params: impl Into<Params> + Send,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        self.raw_rows(statement, params.into(), cancel)
            .await
            .map(|_| ())
    }

    /// Runs `statement` for its effect; the server's refusal is returned apart
    /// (`Ok(Err(…))`), any other failure as a [`DbError`].
    pub(crate) async fn try_execute(
        &mut self,
        statement: &str,
        params: impl Into<Params> + Send,
        cancel: &CancellationToken,
    ) -> Result<Result<(), Refusal>, DbError> {
        match self.run(statement, params.into(), cancel).await? {
            Ok(_) => Ok(Ok(())),
            Err(mysql_async::Error::Server(e)) => Ok(Err(Refusal {
                code: e.code,
                message: e.to_string(),
            })),
            Err(e) => Err(self.failed(statement, e.to_string())),
        }
    }

    /// Checks the session still answers (its error if not: killed, connection lost).
    pub(crate) async fn ping(&mut self) -> Result<(), DbError> {
        self.conn
            .ping()
            .await
            .map_err(|e| self.failed("ping", e.to_string()))
    }

    /// Ends the session politely. After a failure, drop the client instead: closing
    /// would first wait for an interrupted statement's result, where dropping leaves
    /// the connection's end to the driver, in the background.
    pub(crate) async fn close(self) {
        let _ = self.conn.disconnect().await;
    }

    async fn raw_rows(
        &mut self,
        statement: &str,
        params: Params,
        cancel: &CancellationToken,
    ) -> Result<Vec<Row>, DbError> {
        self.run(statement, params, cancel)
            .await?
            .map_err(|e| self.failed(statement, e.to_string()))
    }

    /// Runs one statement: as plain text without values (as the `mariadb` tool would,
    /// and since many statements cannot be prepared: `SHOW`, `CHECKSUM TABLE`, DDL),
    /// prepared with its values bound otherwise.
    async fn run(
        &mut self,
        statement: &str,
        params: Params,
        cancel: &CancellationToken,
    ) -> Result<Result<Vec<Row>, mysql_async::Error>, DbError> {
        let conn = &mut self.conn;
        let query = async move {
            match params {
                Params::Empty => conn.query::<Row, _>(statement).await,
                params => conn.exec::<Row, _, _>(statement, params).await,
            }
        };
        until_cancelled(query, cancel).await
    }

    fn failed(&self, statement: &str, reason: String) -> DbError {
        DbError::Query {
            endpoint: self.endpoint.clone(),
            context: summary(statement),
            reason,
        }
    }
}

/// Opens a session on `endpoint`, returns the rows of `statement`, closes it.
pub(crate) async fn rows<T: FromRow>(
    endpoint: &Endpoint,
    statement: &str,
    params: impl Into<Params> + Send,
    cancel: &CancellationToken,
) -> Result<Vec<T>, DbError> {
    let mut client = Client::connect(endpoint, cancel).await?;
    let rows = client.rows(statement, params, cancel).await?;
    client.close().await;
    Ok(rows)
}

/// Opens a session on `endpoint`, returns the first row of `statement`, closes it.
pub(crate) async fn first<T: FromRow>(
    endpoint: &Endpoint,
    statement: &str,
    params: impl Into<Params> + Send,
    cancel: &CancellationToken,
) -> Result<Option<T>, DbError> {
    Ok(rows(endpoint, statement, params, cancel)
        .await?
        .into_iter()
        .next())
}

/// Opens a session on `endpoint`, runs `statement`, closes it.
pub(crate) async fn execute(
    endpoint: &Endpoint,
    statement: &str,
    params: impl Into<Params> + Send,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut client = Client::connect(endpoint, cancel).await?;
    client.execute(statement, params, cancel).await?;
    client.close().await;
    Ok(())
}

/// Opens a session on `endpoint`, runs `statements` in order (stopping at the first
/// failure, as the `mariadb` tool does), closes it.
pub(crate) async fn execute_all(
    endpoint: &Endpoint,
    statements: &[&str],
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut client = Client::connect(endpoint, cancel).await?;
    for statement in statements {
        client.execute(statement, (), cancel).await?;
    }
    client.close().await;
    Ok(())
}

/// A list of values to bind, e.g. for [`placeholders`].
pub(crate) fn values<'a>(items: impl IntoIterator<Item = &'a str>) -> Params {
    Params::Positional(items.into_iter().map(Value::from).collect())
}

/// `work`'s result, unless `cancel` fires first: [`DbError::Interrupted`], the driver's
/// future dropped (its session is then unusable, and dropped by the caller).
async fn until_cancelled<T>(
    work: impl Future<Output = T>,
    cancel: &CancellationToken,
) -> Result<T, DbError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(DbError::Interrupted),
        done = work => Ok(done),
    }
}

/// The user the `mariadb` tools log in as when none is given: the login name.
fn login_name() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|name| !name.is_empty())
}

/// What a statement was doing, for error messages: its first line, shortened. Values
/// are bound, never in the text, so nothing secret shows.
fn summary(statement: &str) -> String {
    const MAX: usize = 80;
    let line = statement.trim().lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_lists_get_placeholders() {
        assert_eq!(ident("shop"), "`shop`");
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(placeholders(3), "?, ?, ?");
        assert_eq!(placeholders(1), "?");
    }

    #[test]
    fn a_statement_is_summarised_by_its_first_line() {
        assert_eq!(summary("  SELECT 1\n FROM t"), "SELECT 1");
        let long = "x".repeat(100);
        assert_eq!(summary(&long).chars().count(), 81);
    }
}
