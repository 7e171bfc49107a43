//! The freeze of an account's database at its source, for a cutover: no
//! non-superuser session can write to it any more, whatever it `SET`s, and that holds
//! across a crash of ferry because it lives in the server's catalogs, not in a
//! session of ferry.
//!
//! [`freeze()`], in **one transaction** on ferry's admin session (the server URL's
//! own database, normally `postgres`), so that a crash leaves either all of it or
//! none of it:
//! 1. records, in `ferry_freeze.frozen` of that admin database, the database (by oid:
//!    a rename, e.g. a rollback keeping it aside, keeps its record) and its owner;
//! 2. revokes `CONNECT` on the database from `PUBLIC` and from every role holding it
//!    (the owner's implicit grant included; a superuser needs none, and a grant to
//!    one would let its role's members in), each recorded in `ferry_freeze.revoked`
//!    (grantee, grantor, grant option);
//! 3. makes ferry's login (a superuser) the database's owner: an owner can always
//!    grant itself `CONNECT` again, from any other database;
//! 4. sets `default_transaction_read_only = on` on the database, which also stops
//!    superusers' sessions from writing by mistake (they can still opt out, as
//!    ferry's logical replication does to remove its publication).
//!
//! Then every client session on the database is ended and waited for, and again
//! until no non-superuser one is left (a login that passed its `CONNECT` check just
//! before the revoke shows up only once started). Superusers, ferry's login and a
//! replication's walsender (a superuser or `REPLICATION` login of ferry's URL) still
//! connect: the final sync, the verification and the logical copy's drain go on.
//!
//! [`thaw`] restores exactly what was recorded: the owner, then each revoked grant
//! (by its original grantor, with its grant option), resets the read-only default,
//! drops the record and ends the sessions opened meanwhile (they began read-only).
//! [`retire`] is a freeze marked as final: [`thaw`] then refuses
//! ([`DbError::Retired`]); [`unretire`] is the operator's deliberate undo. All four
//! are idempotent.
//!
//! Limits: superusers are not locked out (they are the server's administrators);
//! a grant to ferry's own login on the database, made before the freeze, merges into
//! the owner's privileges and goes back to the owner with them at the thaw.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use super::{MAX_NAME, close, connect, ident, query_error, terminate_sessions, wait_until_ended};
use crate::databases::endpoint::Endpoint;
use crate::databases::{DbError, check_name};

/// Serialises ferry's freezes and thaws on a server (one record table, created once).
const FREEZE_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('ferry_freeze'))";

/// The records, in the admin database; only superusers may read or change them.
const RECORDS: &str = "CREATE SCHEMA IF NOT EXISTS ferry_freeze;
     REVOKE ALL ON SCHEMA ferry_freeze FROM PUBLIC;
     CREATE TABLE IF NOT EXISTS ferry_freeze.frozen (
       datoid oid PRIMARY KEY,
       datname text NOT NULL,
       owner oid NOT NULL,
       owner_name text NOT NULL,
       retired boolean NOT NULL DEFAULT false,
       frozen_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE IF NOT EXISTS ferry_freeze.revoked (
       datoid oid NOT NULL REFERENCES ferry_freeze.frozen ON DELETE CASCADE,
       grantee oid NOT NULL,
       grantee_name text NOT NULL,
       grantor oid NOT NULL,
       grantable boolean NOT NULL,
       PRIMARY KEY (datoid, grantee, grantor));";

/// How many times the freeze's transaction is tried when a concurrent change of the
/// database's catalog row made it fail.
const LOCK_OUT_ATTEMPTS: u32 = 5;

/// How many times the non-superuser sessions are looked for again after the first
/// termination, and how long apart.
const STRAGGLER_PASSES: u32 = 3;
const STRAGGLER_GAP: Duration = Duration::from_millis(100);

/// Freezes `database` on the server at `url` (see the module): non-superusers
/// locked out durably, its client sessions ended. Idempotent; a retired database
/// stays retired. Needs a superuser login ([`DbError::Query`] otherwise); an unknown
/// database is [`DbError::NotFound`].
pub async fn freeze(url: &str, database: &str) -> Result<(), DbError> {
    apply(url, database, false).await
}

/// Freezes `database` for good (its account now serves elsewhere): like [`freeze()`],
/// and [`thaw`] then refuses. Idempotent.
pub async fn retire(url: &str, database: &str) -> Result<(), DbError> {
    apply(url, database, true).await
}

async fn apply(url: &str, database: &str, retired: bool) -> Result<(), DbError> {
    check_name(database, MAX_NAME)?;
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (mut admin, task) = connect(&endpoint, &config, None).await?;
    let result = async {
        let mut attempt = 1;
        let revoked = loop {
            match lock_out(&endpoint, &mut admin, database, retired).await {
                Ok(revoked) => break revoked,
                // Someone changed the database's grants at the same moment (its owner
                // granting itself back in): again, from a fresh look at them.
                Err(LockOutError::Conflict(e)) if attempt < LOCK_OUT_ATTEMPTS => {
                    tracing::debug!(%database, error = %e, "freeze conflicted; once more");
                    attempt += 1;
                }
                Err(LockOutError::Conflict(e) | LockOutError::Failed(e)) => return Err(e),
            }
        };
        end_sessions(&endpoint, &admin, database).await?;
        Ok(revoked)
    }
    .await;
    close(admin, task).await;
    if let Ok(revoked) = result {
        tracing::info!(%database, revoked, retired, endpoint = %endpoint.display(), "postgres database frozen");
    }
    result.map(|_| ())
}

/// The database's oid and owner, [`DbError::NotFound`] if it does not exist. Its
/// catalog row is locked until the transaction ends: a concurrent `GRANT` (its owner
/// granting itself back in) waits, then fails, instead of failing this transaction.
async fn database_row(
    endpoint: &Endpoint,
    tx: &Transaction<'_>,
    database: &str,
) -> Result<(u32, u32), DbError> {
    let row = tx
        .query_opt(
            "SELECT oid, datdba FROM pg_database WHERE datname = $1 FOR UPDATE",
            &[&database],
        )
        .await
        .map_err(|e| query_error(endpoint, "reading the database", &e))?;
    let row = row.ok_or_else(|| DbError::NotFound {
        name: database.to_owned(),
    })?;
    Ok((row.get(0), row.get(1)))
}

/// Why the freeze's transaction failed: a conflict with a concurrent change (worth
/// another try), or anything else.
enum LockOutError {
    Conflict(DbError),
    Failed(DbError),
}

impl From<DbError> for LockOutError {
    fn from(e: DbError) -> Self {
        Self::Failed(e)
    }
}

/// Whether a statement failed on a concurrent change of the same catalog rows: a
/// deadlock, a serialization failure, or "tuple concurrently updated" (an internal
/// error, for catalogs).
fn conflict(e: &tokio_postgres::Error) -> bool {
    [
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::INTERNAL_ERROR,
    ]
    .iter()
    .any(|code| e.code() == Some(code))
}

/// Steps 1-4 of the freeze, in one transaction; how many grants it revoked.
async fn lock_out(
    endpoint: &Endpoint,
    admin: &mut Client,
    database: &str,
    retired: bool,
) -> Result<usize, LockOutError> {
    let err = |context: &str, e: tokio_postgres::Error| {
        let failure = query_error(endpoint, context, &e);
        if conflict(&e) {
            LockOutError::Conflict(failure)
        } else {
            LockOutError::Failed(failure)
        }
    };
    let tx = admin
        .transaction()
        .await
        .map_err(|e| err("beginning the freeze", e))?;
    tx.batch_execute(FREEZE_LOCK)
        .await
        .map_err(|e| err("waiting for other freezes", e))?;
    let superuser: bool = tx
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| err("reading ferry's login", e))?
        .get(0);
    if !superuser {
        return Err(LockOutError::Failed(DbError::Query {
            endpoint: endpoint.display(),
            context: format!("freezing {database}"),
            reason: "ferry's login must be a superuser to lock the database's users out".into(),
        }));
    }
    let (oid, owner) = database_row(endpoint, &tx, database).await?;
    tx.batch_execute(RECORDS)
        .await
        .map_err(|e| err("creating the freeze records", e))?;
    // A record whose database was dropped since is of no use any more.
    tx.execute(
        "DELETE FROM ferry_freeze.frozen
          WHERE datoid NOT IN (SELECT oid FROM pg_database)",
        &[],
    )
    .await
    .map_err(|e| err("forgetting dropped databases", e))?;
    tx.execute(
        "INSERT INTO ferry_freeze.frozen (datoid, datname, owner, owner_name)
         VALUES ($1, $2, $3, (SELECT rolname FROM pg_roles WHERE oid = $3))
         ON CONFLICT (datoid) DO NOTHING",
        &[&oid, &database, &owner],
    )
    .await
    .map_err(|e| err("recording the freeze", e))?;
    if retired {
        tx.execute(
            "UPDATE ferry_freeze.frozen SET retired = true WHERE datoid = $1",
            &[&oid],
        )
        .await
        .map_err(|e| err("recording the retirement", e))?;
    }
    // Every CONNECT granted, the owner's implicit one included: a superuser needs
    // none, and a grant to one would let its roles' members in.
    let grants = tx
        .query(
            "SELECT a.grantee, coalesce(g.rolname, 'PUBLIC'), a.grantor, r.rolname, a.is_grantable
               FROM pg_database d
              CROSS JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
               LEFT JOIN pg_roles g ON g.oid = a.grantee
               JOIN pg_roles r ON r.oid = a.grantor
              WHERE d.oid = $1 AND a.privilege_type = 'CONNECT'",
            &[&oid],
        )
        .await
        .map_err(|e| err("reading the database's grants", e))?;
    let on = ident(database);
    for row in &grants {
        let (grantee, grantee_name): (u32, String) = (row.get(0), row.get(1));
        let (grantor, grantor_name): (u32, String) = (row.get(2), row.get(3));
        let grantable: bool = row.get(4);
        // Recorded before it is revoked, in the same transaction: never one without
        // the other. A grant already recorded (a second freeze) keeps its record.
        tx.execute(
            "INSERT INTO ferry_freeze.revoked (datoid, grantee, grantee_name, grantor, grantable)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&oid, &grantee, &grantee_name, &grantor, &grantable],
        )
        .await
        .map_err(|e| err("recording a revoked grant", e))?;
        let revoke = format!(
            "REVOKE CONNECT ON DATABASE {on} FROM {} CASCADE",
            role(grantee, &grantee_name)
        );
        // A superuser's REVOKE acts as the owner: a grant by another grantor is
        // revoked as that grantor.
        let sql = if grantor == owner {
            revoke
        } else {
            format!(
                "SET LOCAL ROLE {}; {revoke}; RESET ROLE",
                ident(&grantor_name)
            )
        };
        tx.batch_execute(&sql)
            .await
            .map_err(|e| err(&format!("revoking CONNECT from {grantee_name}"), e))?;
    }
    tx.batch_execute(&format!(
        "ALTER DATABASE {on} OWNER TO CURRENT_USER;
         ALTER DATABASE {on} SET default_transaction_read_only = on"
    ))
    .await
    .map_err(|e| err(&format!("taking over {database}"), e))?;
    tx.commit()
        .await
        .map_err(|e| err("committing the freeze", e))?;
    Ok(grants.len())
}

/// A grantee in a GRANT or REVOKE: `PUBLIC` (oid 0) or a quoted role name.
fn role(oid: u32, name: &str) -> String {
    if oid == 0 {
        "PUBLIC".to_owned()
    } else {
        ident(name)
    }
}

/// Ends every client session on `database` but ferry's change captures (a
/// superuser's session holding a temporary `ferry_check_…` slot: the frozen check
/// reads what was written up to the freeze from it, see `capture`), then, until
/// none is found, the non-superuser ones that got in before the revoke but started
/// only now. Sparing a superuser's session weakens nothing: superusers are not
/// locked out.
async fn end_sessions(endpoint: &Endpoint, admin: &Client, database: &str) -> Result<(), DbError> {
    let rows = admin
        .query(
            "SELECT pid FROM (SELECT a.pid FROM pg_stat_activity a
                               WHERE a.datname = $1 AND a.pid <> pg_backend_pid()
                                 AND a.backend_type = 'client backend'
                                 AND NOT EXISTS (
                                   SELECT 1 FROM pg_replication_slots s
                                     JOIN pg_roles r ON r.oid = a.usesysid
                                    WHERE s.active_pid = a.pid AND s.temporary AND r.rolsuper
                                      AND s.slot_name LIKE 'ferry\\_check\\_%')
                              OFFSET 0) v
              WHERE pg_terminate_backend(pid)",
            &[&database],
        )
        .await
        .map_err(|e| query_error(endpoint, &format!("ending the sessions on {database}"), &e))?;
    let pids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    wait_until_ended(admin, endpoint, &pids).await?;
    for _ in 0..STRAGGLER_PASSES {
        tokio::time::sleep(STRAGGLER_GAP).await;
        if end_non_superusers(endpoint, admin, database).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// Ends the non-superuser client sessions on `database` and waits until they are
/// gone; how many there were.
async fn end_non_superusers(
    endpoint: &Endpoint,
    admin: &Client,
    database: &str,
) -> Result<usize, DbError> {
    let rows = admin
        .query(
            "SELECT pid FROM (SELECT a.pid FROM pg_stat_activity a
                                LEFT JOIN pg_roles r ON r.oid = a.usesysid
                               WHERE a.datname = $1 AND a.pid <> pg_backend_pid()
                                 AND a.backend_type = 'client backend'
                                 AND NOT coalesce(r.rolsuper, false)
                              OFFSET 0) v
              WHERE pg_terminate_backend(pid)",
            &[&database],
        )
        .await
        .map_err(|e| query_error(endpoint, &format!("ending the sessions on {database}"), &e))?;
    let pids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    wait_until_ended(admin, endpoint, &pids).await?;
    Ok(pids.len())
}

/// Lets `database` on the server at `url` be written again after a [`freeze()`] (a
/// cutover that failed: the account stays on its source): its owner and the grants
/// recorded restored, the read-only default reset, the sessions opened while frozen
/// ended (they began read-only). Idempotent; a database that was not frozen is left
/// alone; a retired one is refused ([`DbError::Retired`]).
pub async fn thaw(url: &str, database: &str) -> Result<(), DbError> {
    check_name(database, MAX_NAME)?;
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (mut admin, task) = connect(&endpoint, &config, None).await?;
    let result = async {
        let mut attempt = 1;
        let thawed = loop {
            match restore(&endpoint, &mut admin, database).await {
                Ok(thawed) => break thawed,
                // Another freeze or thaw changed the same catalog rows at the same
                // moment (a deadlock on the shared ownership records): again.
                Err(LockOutError::Conflict(e)) if attempt < LOCK_OUT_ATTEMPTS => {
                    tracing::debug!(%database, error = %e, "thaw conflicted; once more");
                    attempt += 1;
                }
                Err(LockOutError::Conflict(e) | LockOutError::Failed(e)) => return Err(e),
            }
        };
        if thawed {
            terminate_sessions(&endpoint, &admin, database, true).await?;
            tracing::info!(%database, endpoint = %endpoint.display(), "postgres database thawed");
        }
        Ok(())
    }
    .await;
    close(admin, task).await;
    result
}

/// The operator's deliberate undo of a [`retire`]: the database is thawed (see
/// [`thaw`]) as if the cutover had failed. Its account must not be serving from
/// elsewhere any more, or the two copies drift apart.
pub async fn unretire(url: &str, database: &str) -> Result<(), DbError> {
    check_name(database, MAX_NAME)?;
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (admin, task) = connect(&endpoint, &config, None).await?;
    let result = admin
        .execute(
            "UPDATE ferry_freeze.frozen SET retired = false
              WHERE datoid = (SELECT oid FROM pg_database WHERE datname = $1)
                AND to_regclass('ferry_freeze.frozen') IS NOT NULL",
            &[&database],
        )
        .await;
    close(admin, task).await;
    match result {
        Ok(_) => {}
        // No record table: nothing was ever frozen here.
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {}
        Err(e) => return Err(query_error(&endpoint, "unretiring", &e)),
    }
    thaw(url, database).await
}

/// The thaw's transaction; whether the database was frozen.
async fn restore(
    endpoint: &Endpoint,
    admin: &mut Client,
    database: &str,
) -> Result<bool, LockOutError> {
    let err = |context: &str, e: tokio_postgres::Error| {
        let failure = query_error(endpoint, context, &e);
        if conflict(&e) {
            LockOutError::Conflict(failure)
        } else {
            LockOutError::Failed(failure)
        }
    };
    let tx = admin
        .transaction()
        .await
        .map_err(|e| err("beginning the thaw", e))?;
    tx.batch_execute(FREEZE_LOCK)
        .await
        .map_err(|e| err("waiting for other freezes", e))?;
    let (oid, _) = database_row(endpoint, &tx, database).await?;
    let read_only = is_read_only(endpoint, &tx, database).await?;
    let recorded: bool = tx
        .query_one("SELECT to_regclass('ferry_freeze.frozen') IS NOT NULL", &[])
        .await
        .map_err(|e| err("looking for the freeze records", e))?
        .get(0);
    let record = if recorded {
        tx.query_opt(
            "SELECT f.retired, r.rolname FROM ferry_freeze.frozen f
               LEFT JOIN pg_roles r ON r.oid = f.owner
              WHERE f.datoid = $1 FOR UPDATE OF f",
            &[&oid],
        )
        .await
        .map_err(|e| err("reading the freeze record", e))?
    } else {
        None
    };
    let on = ident(database);
    if let Some(record) = &record {
        let (retired, owner): (bool, Option<String>) = (record.get(0), record.get(1));
        if retired {
            return Err(LockOutError::Failed(DbError::Retired {
                name: database.to_owned(),
            }));
        }
        match owner {
            Some(owner) => tx
                .batch_execute(&format!("ALTER DATABASE {on} OWNER TO {}", ident(&owner)))
                .await
                .map_err(|e| err(&format!("giving {database} back to {owner}"), e))?,
            None => {
                tracing::warn!(%database, "its owner was dropped while frozen: ferry's login keeps it")
            }
        }
        regrant(endpoint, &tx, oid, &on).await?;
        tx.execute("DELETE FROM ferry_freeze.frozen WHERE datoid = $1", &[&oid])
            .await
            .map_err(|e| err("removing the freeze record", e))?;
    }
    if record.is_some() || read_only {
        tx.batch_execute(&format!(
            "ALTER DATABASE {on} RESET default_transaction_read_only"
        ))
        .await
        .map_err(|e| err(&format!("altering {database}"), e))?;
    }
    tx.commit()
        .await
        .map_err(|e| err("committing the thaw", e))?;
    Ok(record.is_some() || read_only)
}

/// Grants again what the freeze revoked: the owner's grants first, then those made
/// by a role once that role holds its grant option again.
async fn regrant(
    endpoint: &Endpoint,
    tx: &Transaction<'_>,
    oid: u32,
    on: &str,
) -> Result<(), DbError> {
    let rows = tx
        .query(
            "SELECT v.grantee, g.rolname, v.grantee_name, v.grantor = d.datdba, r.rolname,
                    v.grantable
               FROM ferry_freeze.revoked v
               JOIN pg_database d ON d.oid = v.datoid
               LEFT JOIN pg_roles g ON g.oid = v.grantee
               LEFT JOIN pg_roles r ON r.oid = v.grantor
              WHERE v.datoid = $1",
            &[&oid],
        )
        .await
        .map_err(|e| query_error(endpoint, "reading the revoked grants", &e))?;
    let mut pending: Vec<Regrant> = Vec::with_capacity(rows.len());
    for row in &rows {
        let grantee: u32 = row.get(0);
        let grantee_role: Option<String> = row.get(1);
        let recorded_name: String = row.get(2);
        let Some(to) = (grantee == 0)
            .then(|| "PUBLIC".to_owned())
            .or_else(|| grantee_role.as_deref().map(ident))
        else {
            tracing::warn!(role = %recorded_name, "a role dropped while frozen gets no grant back");
            continue;
        };
        let by_owner: bool = row.get(3);
        let grantor: Option<String> = row.get(4);
        pending.push(Regrant {
            to,
            grantee: grantee_role,
            // A grantor dropped meanwhile: the owner grants instead.
            by: if by_owner { None } else { grantor },
            grantable: row.get(5),
        });
    }
    // Grantors holding their grant option again, by name.
    let mut can_grant: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|g| g.by.as_ref().is_none_or(|by| can_grant.contains(by)))
            // A chain that cannot be rebuilt: the owner grants the rest.
            .unwrap_or(0);
        let mut grant = pending.swap_remove(ready);
        if grant.by.as_ref().is_some_and(|by| !can_grant.contains(by)) {
            grant.by = None;
        }
        let option = if grant.grantable {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        let sql = format!("GRANT CONNECT ON DATABASE {on} TO {}{option}", grant.to);
        let sql = match &grant.by {
            None => sql,
            Some(by) => format!("SET LOCAL ROLE {}; {sql}; RESET ROLE", ident(by)),
        };
        tx.batch_execute(&sql)
            .await
            .map_err(|e| query_error(endpoint, &format!("granting CONNECT to {}", grant.to), &e))?;
        if grant.grantable
            && let Some(grantee) = grant.grantee
        {
            can_grant.push(grantee);
        }
    }
    Ok(())
}

/// One revoked grant to restore.
struct Regrant {
    /// `PUBLIC` or the quoted role.
    to: String,
    /// The grantee's name (none for `PUBLIC`).
    grantee: Option<String>,
    /// The grantor, if not the owner.
    by: Option<String>,
    grantable: bool,
}

/// Whether `database` has `default_transaction_read_only = on` as its own setting
/// (also what an older ferry's freeze left).
async fn is_read_only(
    endpoint: &Endpoint,
    tx: &Transaction<'_>,
    database: &str,
) -> Result<bool, DbError> {
    tx.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s
                          JOIN pg_database d ON d.oid = s.setdatabase
                         WHERE d.datname = $1 AND s.setrole = 0
                           AND 'default_transaction_read_only=on' = ANY (s.setconfig))",
        &[&database],
    )
    .await
    .map(|row| row.get(0))
    .map_err(|e| query_error(endpoint, &format!("reading the settings of {database}"), &e))
}
