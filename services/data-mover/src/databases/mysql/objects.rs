//! A schema's triggers, routines, events and views: dumped as SQL with `mariadb-dump`
//! (no data), created in another schema by `mariadb`, or dropped. They travel apart
//! from the tables because MariaDB cannot move tables carrying triggers between
//! schemas (see `switch`).

use tokio_util::sync::CancellationToken;

use super::client::{Client, ident};
use crate::databases::endpoint::Endpoint;
use crate::databases::{DbError, process};

/// Dumps `database`'s triggers, routines and events, then its views (no data).
pub(crate) async fn dump_objects(
    src: &Endpoint,
    database: &str,
    views: &[String],
    cancel: &CancellationToken,
) -> Result<Vec<u8>, DbError> {
    let dump = |args: &[&str], views: &[String]| {
        let mut cmd = process::command("mariadb-dump");
        src.mysql_args(&mut cmd);
        // `--`: the database and views are names, never options.
        cmd.args(args).arg("--").arg(database).args(views);
        process::run("mariadb-dump", cmd, None, cancel)
    };
    // No LOCK TABLES: it would wait behind writers queued on a frozen schema (and
    // briefly block a live one); definitions need no lock.
    let mut objects = dump(
        &[
            "--skip-lock-tables",
            "--no-data",
            "--no-create-info",
            "--skip-comments",
            "--routines",
            "--events",
            "--triggers",
        ],
        &[],
    )
    .await?;
    if !views.is_empty() {
        let args = [
            "--skip-lock-tables",
            "--no-data",
            "--skip-comments",
            "--skip-triggers",
        ];
        objects.extend(dump(&args, views).await?);
    }
    Ok(objects)
}

/// Runs `objects` (SQL from [`dump_objects`]) in `database` with the `mariadb` tool:
/// a dump's SQL (delimiters, conditional comments) is the tool's to read.
pub(crate) async fn load_objects(
    dst: &Endpoint,
    database: &str,
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut load = process::command("mariadb");
    dst.mysql_args(&mut load);
    load.arg("--").arg(database);
    process::run("mariadb", load, Some(objects), cancel)
        .await
        .map(|_| ())
}

/// Drops the triggers, routines, events and views of `database` (its tables stay).
pub(crate) async fn drop_objects(
    dst: &Endpoint,
    database: &str,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut client = Client::connect(dst, cancel).await?;
    let objects: Vec<(String, String)> = client
        .rows(
            "SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
             UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
             UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
             UNION ALL SELECT 'VIEW', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
            (database, database, database, database),
            cancel,
        )
        .await?;
    for (kind, name) in &objects {
        let kind = object_kind(kind).ok_or_else(|| DbError::Query {
            endpoint: dst.display(),
            context: format!("dropping the objects of {database}"),
            reason: format!("unknown object type {kind:?}"),
        })?;
        let statement = format!("DROP {kind} IF EXISTS {}.{}", ident(database), ident(name));
        client.execute(&statement, (), cancel).await?;
    }
    client.close().await;
    Ok(())
}

/// The keyword of an object type as information_schema names it: it enters the
/// statement as is, so only the known ones pass.
fn object_kind(kind: &str) -> Option<&'static str> {
    [
        "TRIGGER",
        "PROCEDURE",
        "FUNCTION",
        "PACKAGE",
        "PACKAGE BODY",
        "EVENT",
        "VIEW",
    ]
    .into_iter()
    .find(|known| *known == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_object_types_reach_a_statement() {
        assert_eq!(object_kind("PROCEDURE"), Some("PROCEDURE"));
        assert_eq!(object_kind("TABLE; DROP DATABASE x"), None);
    }
}
