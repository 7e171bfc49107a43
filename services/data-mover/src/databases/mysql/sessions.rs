//! Other sessions on a schema, ended with `KILL CONNECTION`: an earlier attempt's
//! loader before its schema is dropped, and the writers of a schema being frozen or
//! retired.

use tokio_util::sync::CancellationToken;

use super::client::Client;
use crate::databases::DbError;
use crate::databases::endpoint::Endpoint;

/// Kills the sessions whose default database is `database`, except `client`'s own.
pub(crate) async fn kill_users(
    client: &mut Client,
    database: &str,
    cancel: &CancellationToken,
) -> Result<usize, DbError> {
    let ids: Vec<(u64,)> = client
        .rows(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND ID <> CONNECTION_ID()",
            (database,),
            cancel,
        )
        .await?;
    Ok(kill(client, ids, cancel).await)
}

/// Kills the sessions whose default database is `database` (except `own` and the
/// server's own threads); with `waiting`, also those waiting for a table lock whose
/// statement names the schema. Returns how many were killed.
pub(crate) async fn kill_sessions(
    endpoint: &Endpoint,
    database: &str,
    own: u64,
    waiting: bool,
) -> Result<usize, DbError> {
    let cancel = CancellationToken::new();
    let mut client = Client::connect(endpoint, &cancel).await?;
    let ids: Vec<(u64,)> = client
        .rows(
            "SELECT ID FROM information_schema.PROCESSLIST
             WHERE ID <> ? AND ID <> CONNECTION_ID() AND USER <> 'system user'
               AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID')
               AND (DB = ? OR (? AND STATE LIKE 'Waiting for table%' AND LOCATE(?, INFO) > 0))",
            (own, database, waiting, database),
            &cancel,
        )
        .await?;
    let killed = kill(&mut client, ids, &cancel).await;
    client.close().await;
    Ok(killed)
}

/// Kills these sessions; returns how many there were.
async fn kill(client: &mut Client, ids: Vec<(u64,)>, cancel: &CancellationToken) -> usize {
    for (id,) in &ids {
        // `KILL` takes no parameter; the id is a number read from the server.
        let statement = format!("KILL CONNECTION {id}");
        // A session may end by itself meanwhile: its KILL failing is harmless.
        let _ = client.execute(&statement, (), cancel).await;
    }
    ids.len()
}
