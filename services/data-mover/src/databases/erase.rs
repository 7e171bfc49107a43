//! Erasing the databases ferry put on a server (a transit server's wipe), and
//! listing what is left of them.
//!
//! Which databases are ferry's: on a server whose URL carries `?prefix=…` (several
//! servers sharing one database server), every database whose name starts with that
//! prefix; otherwise the accounts' databases by name, with the staging
//! (`__ferry_incoming`) and kept-aside (`__ferry_replaced`) copies beside them. Never
//! a database the engine itself needs. A PostgreSQL database is dropped with its
//! logical-replication subscriptions: dropped normally, they also drop their slot on
//! the client server, which would otherwise keep its WAL for ever.

use tokio_util::sync::CancellationToken;

use super::endpoint::Endpoint;
use super::{DbError, mysql, postgres, replaced_name, staging_name};

/// The engines' own databases: never erased, never counted as left.
const SYSTEM: &[&str] = &[
    "postgres",
    "template0",
    "template1",
    "information_schema",
    "mysql",
    "performance_schema",
    "sys",
];

/// What to erase on one database server: the prefix of ferry's databases there (may
/// be empty), and the accounts' database names there.
#[derive(Debug, Clone)]
pub struct Erasable {
    /// The server's URL without its `prefix` parameter.
    pub url: String,
    /// The prefix of every database ferry put there; empty if none.
    pub prefix: String,
    /// The accounts' databases as named on this server (with the prefix, if any).
    pub names: Vec<String>,
}

impl Erasable {
    /// Whether `database` is one ferry put there.
    fn covers(&self, database: &str) -> bool {
        if SYSTEM.contains(&database) {
            return false;
        }
        if !self.prefix.is_empty() {
            return database.starts_with(&self.prefix);
        }
        self.names.iter().any(|name| {
            [name.clone(), staging_name(name), replaced_name(name)]
                .iter()
                .any(|n| n == database)
        })
    }
}

/// The PostgreSQL databases of `erasable` that exist.
pub async fn postgres_left(erasable: &Erasable) -> Result<Vec<String>, DbError> {
    let (endpoint, config) = Endpoint::postgres(&erasable.url)?;
    let (client, task) = postgres::connect(&endpoint, &config, Some("postgres")).await?;
    let rows = client
        .query("SELECT datname::text FROM pg_database ORDER BY 1", &[])
        .await
        .map_err(|e| postgres::query_error(&endpoint, "listing the databases", &e));
    postgres::close(client, task).await;
    Ok(rows?
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|name| erasable.covers(name))
        .collect())
}

/// Drops every PostgreSQL database of `erasable`, its subscriptions first; gives the
/// names dropped.
pub async fn erase_postgres(erasable: &Erasable) -> Result<Vec<String>, DbError> {
    let found = postgres_left(erasable).await?;
    let (endpoint, config) = Endpoint::postgres(&erasable.url)?;
    for database in &found {
        drop_subscriptions(&endpoint, &config, database).await?;
        let (admin, task) = postgres::connect(&endpoint, &config, Some("postgres")).await?;
        let dropped = postgres::drop_database(&endpoint, &admin, database).await;
        postgres::close(admin, task).await;
        dropped?;
    }
    Ok(found)
}

/// Drops the subscriptions living in `database`. Dropped normally, a subscription
/// drops its slot at the publisher too; if the publisher cannot be reached, it is
/// detached from its slot first (the slot is then named in the log, for support).
async fn drop_subscriptions(
    endpoint: &Endpoint,
    config: &tokio_postgres::Config,
    database: &str,
) -> Result<(), DbError> {
    let (client, task) = postgres::connect(endpoint, config, Some(database)).await?;
    let dropped = async {
        let rows = client
            .query(
                "SELECT subname::text, subslotname::text FROM pg_subscription
                  WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .map_err(|e| postgres::query_error(endpoint, "listing the subscriptions", &e))?;
        for row in rows {
            let (name, slot): (String, Option<String>) = (row.get(0), row.get(1));
            let sub = postgres::ident(&name);
            let run = |sql: String| {
                let client = &client;
                async move { client.batch_execute(&sql).await }
            };
            run(format!("ALTER SUBSCRIPTION {sub} DISABLE"))
                .await
                .map_err(|e| postgres::query_error(endpoint, "disabling a subscription", &e))?;
            if run(format!("DROP SUBSCRIPTION {sub}")).await.is_ok() {
                continue;
            }
            tracing::warn!(%database, subscription = %name, slot = ?slot,
                "the publisher could not drop this subscription's slot: drop it there by hand");
            run(format!("ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"))
                .await
                .map_err(|e| postgres::query_error(endpoint, "detaching a subscription", &e))?;
            run(format!("DROP SUBSCRIPTION {sub}"))
                .await
                .map_err(|e| postgres::query_error(endpoint, "dropping a subscription", &e))?;
        }
        Ok(())
    }
    .await;
    postgres::close(client, task).await;
    dropped
}

/// The MySQL/MariaDB schemas of `erasable` that exist.
pub async fn mysql_left(erasable: &Erasable) -> Result<Vec<String>, DbError> {
    let endpoint = Endpoint::mysql(&erasable.url)?;
    let cancel = CancellationToken::new();
    let mut client = mysql::client::Client::connect(&endpoint, &cancel).await?;
    let names: Result<Vec<(String,)>, DbError> = client
        .rows(
            "SELECT schema_name FROM information_schema.schemata ORDER BY 1",
            (),
            &cancel,
        )
        .await;
    client.close().await;
    Ok(names?
        .into_iter()
        .map(|(name,)| name)
        .filter(|name| erasable.covers(name))
        .collect())
}

/// Drops every MySQL/MariaDB schema of `erasable`; gives the names dropped.
pub async fn erase_mysql(erasable: &Erasable) -> Result<Vec<String>, DbError> {
    let found = mysql_left(erasable).await?;
    let endpoint = Endpoint::mysql(&erasable.url)?;
    for schema in &found {
        mysql::drop_schema(&endpoint, schema, &CancellationToken::new()).await?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erasable(prefix: &str) -> Erasable {
        Erasable {
            url: "postgres://h/postgres".into(),
            prefix: prefix.into(),
            names: vec!["shop".into()],
        }
    }

    #[test]
    fn with_a_prefix_every_database_under_it_is_ferrys() {
        let e = erasable("tr1_");
        assert!(e.covers("tr1_shop") && e.covers("tr1_anything__ferry_incoming"));
        assert!(!e.covers("tr2_shop") && !e.covers("shop") && !e.covers("postgres"));
    }

    #[test]
    fn without_one_only_the_accounts_databases_and_their_copies_are() {
        let e = erasable("");
        assert!(e.covers("shop") && e.covers("shop__ferry_incoming"));
        assert!(e.covers("shop__ferry_replaced"));
        assert!(!e.covers("shop2") && !e.covers("ferry") && !e.covers("mysql"));
    }
}
