//! The switch: a verified staging schema given its final name, its tables moved in
//! one atomic `RENAME TABLE` (MariaDB cannot rename a schema), with the source's
//! triggers, routines, events and views created after them; an existing final schema
//! kept aside when the copy replaces it. Shared by the dump copy ([`super::copy()`]) and
//! the binary-log copy ([`crate::databases::mysql_binlog`]). A freeze ferry recorded
//! for the final name (a retired source the copy replaces) is lifted afterwards.

use tokio_util::sync::CancellationToken;

use super::accounts;
use super::client::{self, Client, ER_DB_CREATE_EXISTS, ident};
use super::objects::{drop_objects, dump_objects, load_objects};
use super::schema::{
    alter_statement, create_schema, create_statement, drop_schema, schema, tables_of,
};
use super::{KEPT_OBJECTS, MARKER, REPLACING_MARKER};
use crate::databases::endpoint::Endpoint;
use crate::databases::{CopyPhase, CopySpec, DbError, replaced_name};

/// Gives the verified staging schema the final name, with the source's `objects`
/// (triggers, routines, events, views).
///
/// - No final schema: the marker goes into the staging schema, the final schema is
///   created, every table moves there in one atomic `RENAME TABLE`, the objects are
///   created, the staging schema is dropped.
/// - A final schema exists and `spec.replace_existing`: an older [`replaced_name`]
///   schema is dropped; the existing schema's triggers, routines, events and views
///   are saved as SQL (table `__ferry_objects` of the kept schema) and dropped, since
///   MariaDB cannot move tables with triggers across schemas, views would point at the
///   new copy and events would run in the kept one; then **one atomic** `RENAME TABLE`
///   moves the existing tables to [`replaced_name`] and the staging tables (with the
///   replacing marker) to the final name; the new objects are created, the staging
///   schema and the marker dropped. A crash before the rename leaves the existing
///   schema's tables in place (its objects possibly dropped, saved in the kept schema);
///   after it, the marker in the final schema tells the retry to drop and redo it,
///   the replaced tables being safe under [`replaced_name`].
/// - A final schema exists otherwise: [`DbError::AlreadyExists`].
pub(crate) async fn switch(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    charset: (&str, &str),
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    spec.phase(CopyPhase::Switching);
    match schema(dst, &spec.destination_name, cancel).await? {
        None => switch_new(spec, dst, staging, charset, objects, cancel).await?,
        Some(old) if spec.replace_existing => {
            let old = (old.0.as_str(), old.1.as_str());
            switch_replacing(spec, dst, staging, (charset, old), objects, cancel).await?;
        }
        Some(_) => {
            return Err(DbError::AlreadyExists {
                name: spec.destination_name.clone(),
            });
        }
    }
    // The name may have been a retired source's (a rollback onto the server the
    // account left): its accounts, locked for that copy, must reach this one.
    if let Err(e) = accounts::release(dst, &spec.destination_name).await {
        tracing::error!(database = %spec.destination_name, error = %e,
            "the accounts locked for the replaced copy stay locked; unretire the schema");
    }
    Ok(())
}

/// `RENAME TABLE a TO b, …` for `(from schema, to schema, table)` moves.
fn renames<'a>(moves: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> String {
    let pairs: Vec<String> = moves
        .into_iter()
        .map(|(from, to, t)| format!("{}.{} TO {}.{}", ident(from), ident(t), ident(to), ident(t)))
        .collect();
    format!("RENAME TABLE {}", pairs.join(", "))
}

/// `CREATE TABLE` of a marker table in `database`.
fn create_marker(database: &str, marker: &str) -> String {
    format!(
        "CREATE TABLE {}.{} (started TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        ident(database),
        ident(marker)
    )
}

/// The switch to a final schema that does not exist yet.
async fn switch_new(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    charset: (&str, &str),
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let tables = tables_of(dst, staging, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let fin = spec.destination_name.as_str();
    let mut client = Client::connect(dst, cancel).await?;
    client
        .execute(&create_marker(staging, MARKER), (), cancel)
        .await?;
    // Created meanwhile by someone else: theirs, never ours to drop.
    let created = client
        .try_execute(&create_statement(fin, charset), (), cancel)
        .await?;
    match created {
        Ok(()) => {}
        Err(refusal) if refusal.code == ER_DB_CREATE_EXISTS => {
            return Err(DbError::AlreadyExists {
                name: fin.to_owned(),
            });
        }
        Err(refusal) => {
            return Err(DbError::Query {
                endpoint: dst.display(),
                context: format!("creating {fin}"),
                reason: refusal.message,
            });
        }
    }
    client.close().await;
    // The final schema is ours from here (the marker says so to a retry): no more
    // cancellation, and on failure it is dropped with the staging schema.
    let finish = CancellationToken::new();
    let switched = async {
        if !tables.is_empty() {
            let moves = tables.iter().map(|t| (staging, fin, t.as_str()));
            client::execute(dst, &renames(moves), (), &finish).await?;
        }
        load_objects(dst, fin, objects, &finish).await?;
        let drop = format!("DROP DATABASE {}", ident(staging));
        client::execute(dst, &drop, (), &finish).await
    }
    .await;
    if let Err(e) = switched {
        if let Err(e) = drop_schema(dst, fin, &finish).await {
            tracing::warn!(error = %e, "could not drop the unfinished final schema; the next attempt will");
        }
        return Err(e);
    }
    Ok(())
}

/// The switch over an existing final schema, kept aside (see [`switch`]).
async fn switch_replacing(
    spec: &CopySpec,
    dst: &Endpoint,
    staging: &str,
    (charset, old_charset): ((&str, &str), (&str, &str)),
    objects: Vec<u8>,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let fin = spec.destination_name.as_str();
    let kept = replaced_name(fin);
    let new_tables = tables_of(dst, staging, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let old_tables = tables_of(dst, fin, &["BASE TABLE", "SEQUENCE"], cancel).await?;
    let old_views = tables_of(dst, fin, &["VIEW"], cancel).await?;
    let old_objects = dump_objects(dst, fin, &old_views, cancel).await?;
    drop_schema(dst, &kept, cancel).await?;
    create_schema(dst, &kept, old_charset, cancel).await?;
    let mut client = Client::connect(dst, cancel).await?;
    let saved = format!(
        "CREATE TABLE {}.{} (objects LONGBLOB NOT NULL) ENGINE=InnoDB",
        ident(&kept),
        ident(KEPT_OBJECTS)
    );
    client.execute(&saved, (), cancel).await?;
    let save = format!(
        "INSERT INTO {}.{} VALUES (?)",
        ident(&kept),
        ident(KEPT_OBJECTS)
    );
    client
        .execute(&save, (old_objects.as_slice(),), cancel)
        .await?;
    client
        .execute(&create_marker(staging, REPLACING_MARKER), (), cancel)
        .await?;
    client.close().await;
    tracing::info!(database = %fin, kept = %kept, "replacing an existing destination schema");
    // From here the existing schema is being changed: no more cancellation.
    let finish = CancellationToken::new();
    drop_objects(dst, fin, &finish).await?;
    let moves = old_tables
        .iter()
        .map(|t| (fin, kept.as_str(), t.as_str()))
        .chain(
            new_tables
                .iter()
                .map(String::as_str)
                .chain([REPLACING_MARKER])
                .map(|t| (staging, fin, t)),
        );
    if let Err(e) = client::execute(dst, &renames(moves), (), &finish).await {
        // Nothing moved (the rename is atomic): give the existing schema its objects back.
        if let Err(e) = load_objects(dst, fin, old_objects, &finish).await {
            tracing::warn!(error = %e, database = %fin, "could not restore the objects of the existing schema; they are saved in {kept}.{KEPT_OBJECTS}");
        }
        return Err(e);
    }
    client::execute(dst, &alter_statement(fin, charset), (), &finish).await?;
    load_objects(dst, fin, objects, &finish).await?;
    // Staging first, marker last: a crash in between leaves the marker, and the retry
    // redoes the copy rather than replacing this one (and losing the kept schema).
    let drop_staging = format!("DROP DATABASE {}", ident(staging));
    let drop_marker = format!("DROP TABLE {}.{}", ident(fin), ident(REPLACING_MARKER));
    client::execute_all(dst, &[&drop_staging, &drop_marker], &finish).await
}
