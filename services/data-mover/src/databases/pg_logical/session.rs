//! Sessions on the source and destination servers, and helpers shared by every step.

use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use tokio_util::sync::CancellationToken;

use crate::databases::endpoint::Endpoint;
use crate::databases::postgres::{self, query_error};
use crate::databases::{CopySpec, DbError};

/// Tables and sequences of a database's own schemas (as [`postgres::checksum_in`] sees
/// them), as `(schema, name)` of relations of the given `relkind`.
const RELATIONS: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c
                           JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relkind = $1::text::\"char\" AND c.relpersistence <> 't'
                            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                          ORDER BY 1, 2";
/// One session on a server, with its endpoint for messages.
pub(super) struct Session {
    pub(super) endpoint: Endpoint,
    pub(super) client: Client,
    task: JoinHandle<()>,
}

impl Session {
    /// A session on `database`, or on the URL's own database.
    pub(super) async fn open(url: &str, database: Option<&str>) -> Result<Self, DbError> {
        let (endpoint, config) = Endpoint::postgres(url)?;
        let (client, task) = postgres::connect(&endpoint, &config, database).await?;
        Ok(Self {
            endpoint,
            client,
            task,
        })
    }

    /// A session on the copy's source database that may write even while it is
    /// frozen: ferry's own publication and slot must still be removable.
    pub(super) async fn source(spec: &CopySpec) -> Result<Self, DbError> {
        let session = Self::open(&spec.source_url, Some(&spec.database)).await?;
        session
            .execute(
                "session settings",
                "SET default_transaction_read_only = off",
            )
            .await?;
        Ok(session)
    }

    pub(super) async fn close(self) {
        postgres::close(self.client, self.task).await;
    }

    pub(super) fn error(&self, context: &str, e: &tokio_postgres::Error) -> DbError {
        query_error(&self.endpoint, context, e)
    }

    pub(super) async fn execute(&self, context: &str, sql: &str) -> Result<(), DbError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.error(context, &e))
    }

    pub(super) async fn rows(
        &self,
        context: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        self.client
            .query(sql, params)
            .await
            .map_err(|e| self.error(context, &e))
    }

    pub(super) async fn row(
        &self,
        context: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, DbError> {
        self.client
            .query_one(sql, params)
            .await
            .map_err(|e| self.error(context, &e))
    }

    /// Runs `sql`, cancelling it on the server when `cancel` fires (a slot's creation
    /// waits for every running transaction of the cluster).
    pub(super) async fn execute_cancellable(
        &self,
        context: &str,
        sql: &str,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let token = self.client.cancel_token();
        tokio::select! {
            result = self.execute(context, sql) => result,
            () = cancel.cancelled() => {
                let _ = token.cancel_query(NoTls).await;
                Err(DbError::Interrupted)
            }
        }
    }

    /// The `(schema, name)` of the relations of kind `relkind` (`r` tables, `S`
    /// sequences).
    pub(super) async fn relations(&self, relkind: &str) -> Result<Vec<(String, String)>, DbError> {
        let rows = self
            .rows("listing relations", RELATIONS, &[&relkind])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// `schema.table` of every table.
    pub(super) async fn table_names(&self) -> Result<Vec<String>, DbError> {
        let tables = self.relations("r").await?;
        Ok(tables.iter().map(|(s, t)| format!("{s}.{t}")).collect())
    }
}

/// Runs `f` with a session, closing it afterwards whatever `f` returned.
pub(super) async fn with_session<T>(
    session: Session,
    f: impl AsyncFnOnce(&Session) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let result = f(&session).await;
    session.close().await;
    result
}

/// The first error of several independent steps, the others logged.
#[derive(Default)]
pub(super) struct FirstError(Option<DbError>);

impl FirstError {
    pub(super) fn keep(&mut self, result: Result<(), DbError>, step: &str) {
        if let Err(e) = result {
            tracing::warn!(error = %e, step, "removing a logical replication");
            self.0.get_or_insert(e);
        }
    }

    pub(super) fn into_result(self) -> Result<(), DbError> {
        self.0.map_or(Ok(()), Err)
    }
}
