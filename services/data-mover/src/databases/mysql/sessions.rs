//! Other sessions on a schema, ended with `KILL CONNECTION`: an earlier attempt's
//! loader before its schema is dropped, and the writers of a schema being frozen or
//! retired (also every session of its locked accounts), waited for until gone.

use std::time::{Duration, Instant};

use mysql_async::{Params, Value};
use tokio_util::sync::CancellationToken;

use super::client::{Client, placeholders};
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

/// How long killed sessions are waited for (a killed transaction rolls back first;
/// a commit under way may still land until the session is gone).
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How many times the sessions are looked for, again for those that logged in just
/// before their account was locked, and how long apart.
const PASSES: u32 = 4;
const STRAGGLER_GAP: Duration = Duration::from_millis(100);

/// Which sessions a freeze ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Targets<'a> {
    /// The schema: sessions whose default database it is.
    pub database: &'a str,
    /// Sessions of these users (the schema's locked accounts), wherever they are.
    pub users: &'a [String],
    /// Also those waiting for a table lock whose statement names the schema.
    pub waiting: bool,
    /// This session is never killed (the one holding the freeze's lock).
    pub own: u64,
}

/// Kills the [`Targets`] (never the server's own threads nor replication) and waits
/// until they are gone, again until none is found. Returns how many were killed.
pub(crate) async fn kill_sessions(
    endpoint: &Endpoint,
    targets: Targets<'_>,
) -> Result<usize, DbError> {
    let cancel = CancellationToken::new();
    let mut client = Client::connect(endpoint, &cancel).await?;
    let result = kill_passes(&mut client, targets, &cancel).await;
    client.close().await;
    result
}

async fn kill_passes(
    client: &mut Client,
    targets: Targets<'_>,
    cancel: &CancellationToken,
) -> Result<usize, DbError> {
    let users = if targets.users.is_empty() {
        // `IN ()` is not SQL; no user is named by NULL.
        "NULL".to_owned()
    } else {
        placeholders(targets.users.len())
    };
    let statement = format!(
        "SELECT ID FROM information_schema.PROCESSLIST
          WHERE ID <> ? AND ID <> CONNECTION_ID() AND USER <> 'system user'
            AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID')
            AND (DB = ? OR USER IN ({users})
                 OR (? AND STATE LIKE 'Waiting for table%' AND LOCATE(?, INFO) > 0))"
    );
    let mut params: Vec<Value> = vec![targets.own.into(), targets.database.into()];
    params.extend(targets.users.iter().map(|u| Value::from(u.as_str())));
    params.extend([targets.waiting.into(), targets.database.into()]);
    let mut killed = 0;
    for pass in 0..PASSES {
        if pass > 0 {
            // A login authenticated just before its account was locked shows its user
            // only once logged in: looked for once more, a moment later.
            tokio::time::sleep(STRAGGLER_GAP).await;
        }
        let ids: Vec<(u64,)> = client
            .rows(&statement, Params::Positional(params.clone()), cancel)
            .await?;
        if ids.is_empty() {
            if pass > 0 {
                break;
            }
            continue;
        }
        killed += ids.len();
        let ids: Vec<u64> = ids.into_iter().map(|(id,)| id).collect();
        kill(client, ids.iter().map(|id| (*id,)).collect(), cancel).await;
        wait_gone(client, &ids, cancel).await?;
    }
    Ok(killed)
}

/// Waits until none of these sessions is left (at most [`KILL_WAIT`]).
async fn wait_gone(
    client: &mut Client,
    ids: &[u64],
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let statement = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({})",
        placeholders(ids.len())
    );
    let params: Vec<Value> = ids.iter().map(|id| Value::from(*id)).collect();
    let deadline = Instant::now() + KILL_WAIT;
    while Instant::now() < deadline {
        let left: Option<(i64,)> = client
            .first(&statement, Params::Positional(params.clone()), cancel)
            .await?;
        if matches!(left, Some((0,)) | None) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(
        sessions = ids.len(),
        "killed sessions still there after the wait"
    );
    Ok(())
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
