//! PostgreSQL copies by logical replication ([`DatabaseMethod::LogicalReplication`]):
//! the low-downtime method. The account's database stays live at its source while a
//! subscription at the destination copies it and then follows its changes; only the
//! last changes are applied during the cutover's freeze.
//!
//! - [`eligibility`]: whether a database can be copied this way, in words if not.
//! - [`start`]: staging database `<name>__ferry_incoming` at the destination with the
//!   source's schema (`pg_dump --schema-only | pg_restore`), a publication of the
//!   source's tables and a `pgoutput` slot at the source, a subscription in the
//!   staging database copying the initial data. The source is never written to beyond
//!   that publication and slot. The objects are named `ferry_<hash>` after the copy's
//!   destination, so that a later [`start`] (another process, days later, after a
//!   crash) finds them: a healthy replication is reused, a broken one rebuilt.
//! - [`LogicalCopy::finish`]: with the source frozen ([`super::postgres::freeze`]),
//!   waits until everything is applied, copies the sequences' values (not
//!   replicated), removes the replication, verifies the staging database table by
//!   table and switches it to its final name, as [`super::postgres::copy`] does.
//! - [`abort`]: removes whatever replication exists for a copy. A forgotten slot
//!   makes the source keep its WAL forever, so every step is tried even when another
//!   failed, and what is left is found again by the next call.
//!
//! The publication lists the source's tables (rather than `FOR ALL TABLES`): a table
//! created later without a primary key is then not published, and its writes cannot
//! fail at the source; it is missing at the destination instead, which the
//! verification reports and the next [`start`] repairs by rebuilding the replication.
//!
//! The subscription connects to the source with the source URL's host, port, user and
//! password, as seen from the destination server: both servers must reach each other.
//! On the same cluster (tests) the slot is created apart from the subscription
//! (`create_slot = false`): `CREATE SUBSCRIPTION` would otherwise wait for itself.

use std::future::Future;
use std::time::{Duration, Instant};

use ferry_events::transfer::DatabaseMethod;
use ferry_events::values::DatabaseEngine;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::endpoint::Endpoint;
use super::postgres::{self, MAX_NAME, ident, literal, query_error};
use super::{CopyPhase, CopyReport, CopySpec, DbError, check_name, staging_name, verify};

/// How often the replication's progress is polled.
const POLL: Duration = Duration::from_millis(200);

/// How many worker errors a wait tolerates (a worker restarts after
/// `wal_retrieve_retry_interval`, 5 s by default) before reporting the replication
/// as failing: a lost connection is retried, a schema change at the source is not.
const MAX_WORKER_ERRORS: i64 = 3;

/// How long the slot's sender is given to stop once its subscription is disabled.
const SLOT_RELEASE: Duration = Duration::from_secs(10);

/// Free replication slots (and senders) a new replication needs at the source: its
/// own, and one for the initial copy of a table at a time.
const NEEDED_SLOTS: i32 = 2;

/// Tables and sequences of a database's own schemas (as [`postgres::checksum`] sees
/// them), as `(schema, name)` of relations of the given `relkind`.
const RELATIONS: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c
                           JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relkind = $1::text::\"char\" AND c.relpersistence <> 't'
                            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                          ORDER BY 1, 2";

/// Whether a database can be copied by logical replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// It can.
    Eligible,
    /// It cannot, for this reason (in words, naming the tables concerned); a dump and
    /// restore still can.
    NotEligible(String),
}

/// A logical replication set up by [`start`]: the staging database follows the source.
/// Dropping it leaves the replication running (a later [`start`] finds it again);
/// [`LogicalCopy::finish`] or [`abort`] removes it.
pub struct LogicalCopy {
    spec: CopySpec,
    names: Names,
    started: Instant,
}

impl std::fmt::Debug for LogicalCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the spec: its URLs carry passwords.
        f.debug_struct("LogicalCopy")
            .field("database", &self.spec.database)
            .field("staging", &self.names.staging)
            .field("replication", &self.names.object)
            .finish_non_exhaustive()
    }
}

/// The names of one copy's objects: publication, slot and subscription share one.
#[derive(Debug, Clone)]
struct Names {
    /// `ferry_<hash>`: publication and slot at the source, subscription at the
    /// destination.
    object: String,
    /// The staging database at the destination.
    staging: String,
}

impl Names {
    fn of(spec: &CopySpec) -> Result<Self, DbError> {
        check_name(&spec.database, MAX_NAME)?;
        check_name(&spec.destination_name, MAX_NAME)?;
        let (destination, _) = Endpoint::postgres(&spec.destination_url)?;
        let key = format!(
            "{}\n{}\n{}",
            destination.display(),
            spec.destination_name,
            spec.database
        );
        let hash = Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()).simple();
        Ok(Self {
            // 38 bytes: within PostgreSQL's 63.
            object: format!("ferry_{hash}"),
            staging: staging_name(&spec.destination_name),
        })
    }
}

/// One session on a server, with its endpoint for messages.
struct Session {
    endpoint: Endpoint,
    client: Client,
    task: JoinHandle<()>,
}

impl Session {
    /// A session on `database`, or on the URL's own database.
    async fn open(url: &str, database: Option<&str>) -> Result<Self, DbError> {
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
    async fn source(spec: &CopySpec) -> Result<Self, DbError> {
        let session = Self::open(&spec.source_url, Some(&spec.database)).await?;
        session
            .execute(
                "session settings",
                "SET default_transaction_read_only = off",
            )
            .await?;
        Ok(session)
    }

    async fn close(self) {
        postgres::close(self.client, self.task).await;
    }

    fn error(&self, context: &str, e: &tokio_postgres::Error) -> DbError {
        query_error(&self.endpoint, context, e)
    }

    async fn execute(&self, context: &str, sql: &str) -> Result<(), DbError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.error(context, &e))
    }

    async fn rows(
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

    async fn row(
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
    async fn execute_cancellable(
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
    async fn relations(&self, relkind: &str) -> Result<Vec<(String, String)>, DbError> {
        let rows = self
            .rows("listing relations", RELATIONS, &[&relkind])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// `schema.table` of every table.
    async fn table_names(&self) -> Result<Vec<String>, DbError> {
        let tables = self.relations("r").await?;
        Ok(tables.iter().map(|(s, t)| format!("{s}.{t}")).collect())
    }
}

/// Runs `f` with a session, closing it afterwards whatever `f` returned.
async fn with_session<T>(
    session: Session,
    f: impl AsyncFnOnce(&Session) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let result = f(&session).await;
    session.close().await;
    result
}

/// The first error of several independent steps, the others logged.
#[derive(Default)]
struct FirstError(Option<DbError>);

impl FirstError {
    fn keep(&mut self, result: Result<(), DbError>, step: &str) {
        if let Err(e) = result {
            tracing::warn!(error = %e, step, "removing a logical replication");
            self.0.get_or_insert(e);
        }
    }

    fn into_result(self) -> Result<(), DbError> {
        self.0.map_or(Ok(()), Err)
    }
}

// ---------------------------------------------------------------------------------
// Eligibility

/// Whether `spec` can be copied by logical replication: server 10 or later at both
/// ends, `wal_level = logical` and free replication slots and senders at the source,
/// a replication-capable login at the source and a superuser at the destination,
/// every table logged and identifiable (primary key, or `REPLICA IDENTITY FULL` or
/// `USING INDEX`), no large objects (not replicated). Only reads.
pub async fn eligibility(spec: &CopySpec) -> Result<Eligibility, DbError> {
    let names = Names::of(spec)?;
    ensure_source_exists(spec).await?;
    let mut problems = with_session(Session::source(spec).await?, async |s| {
        source_problems(s, &names.object).await
    })
    .await?;
    problems.extend(
        with_session(
            Session::open(&spec.destination_url, None).await?,
            async |s| destination_problems(s).await,
        )
        .await?,
    );
    Ok(if problems.is_empty() {
        Eligibility::Eligible
    } else {
        Eligibility::NotEligible(problems.join("; "))
    })
}

async fn ensure_source_exists(spec: &CopySpec) -> Result<(), DbError> {
    let admin = Session::open(&spec.source_url, None).await?;
    let exists = postgres::database_exists(&admin.endpoint, &admin.client, &spec.database).await;
    admin.close().await;
    if exists? {
        Ok(())
    } else {
        Err(DbError::NotFound {
            name: spec.database.clone(),
        })
    }
}

/// What prevents replicating from this source database, in words.
async fn source_problems(source: &Session, slot: &str) -> Result<Vec<String>, DbError> {
    let row = source
        .row(
            "checking the source for replication",
            "SELECT current_setting('server_version_num')::int,
                    current_setting('wal_level'),
                    EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1),
                    current_setting('max_replication_slots')::int
                      - (SELECT count(*) FROM pg_replication_slots)::int,
                    current_setting('max_wal_senders')::int
                      - (SELECT count(*) FROM pg_stat_replication)::int,
                    (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user),
                    EXISTS (SELECT 1 FROM pg_largeobject_metadata)",
            &[&slot],
        )
        .await?;
    let mut problems = Vec::new();
    let version: i32 = row.get(0);
    if version < 100_000 {
        problems.push(format!(
            "the source runs PostgreSQL {version}, logical replication needs 10 or later"
        ));
        return Ok(problems);
    }
    let wal_level: String = row.get(1);
    if wal_level != "logical" {
        problems.push(format!(
            "the source has wal_level = {wal_level}, logical replication needs logical"
        ));
    }
    let (ours, free_slots, free_senders): (bool, i32, i32) = (row.get(2), row.get(3), row.get(4));
    if !ours && free_slots < NEEDED_SLOTS {
        problems.push(format!(
            "the source has {free_slots} free replication slot(s) (max_replication_slots), \
             {NEEDED_SLOTS} are needed"
        ));
    }
    if !ours && free_senders < NEEDED_SLOTS {
        problems.push(format!(
            "the source has {free_senders} free WAL sender(s) (max_wal_senders), \
             {NEEDED_SLOTS} are needed"
        ));
    }
    if !row.get::<_, Option<bool>>(5).unwrap_or(false) {
        problems
            .push("the source login may not replicate (neither superuser nor REPLICATION)".into());
    }
    if row.get::<_, bool>(6) {
        problems.push("the database has large objects, which are not replicated".into());
    }
    problems.extend(table_problems(source).await?);
    Ok(problems)
}

/// Tables that logical replication cannot carry: unlogged ones (never published) and
/// ones without a replica identity (their UPDATEs and DELETEs would fail at the
/// source once published).
async fn table_problems(source: &Session) -> Result<Vec<String>, DbError> {
    let rows = source
        .rows(
            "checking the tables' replica identities",
            "SELECT n.nspname || '.' || c.relname,
                    c.relpersistence = 'u',
                    CASE c.relreplident
                      WHEN 'f' THEN true
                      WHEN 'n' THEN false
                      WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i
                                             WHERE i.indrelid = c.oid AND i.indisreplident)
                      ELSE EXISTS (SELECT 1 FROM pg_index i
                                    WHERE i.indrelid = c.oid AND i.indisprimary)
                    END
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND c.relpersistence <> 't'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
              ORDER BY 1",
            &[],
        )
        .await?;
    let mut problems = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        if row.get::<_, bool>(1) {
            problems.push(format!("table {table} is unlogged, hence not replicated"));
        } else if !row.get::<_, bool>(2) {
            problems.push(format!(
                "table {table} has no primary key nor replica identity (its UPDATEs and \
                 DELETEs would fail at the source once published)"
            ));
        }
    }
    Ok(problems)
}

/// What prevents subscribing at this destination server, in words.
async fn destination_problems(destination: &Session) -> Result<Vec<String>, DbError> {
    let row = destination
        .row(
            "checking the destination for replication",
            "SELECT current_setting('server_version_num')::int,
                    coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
                    OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'pg_create_subscription'
                                                         AND pg_has_role(r.oid, 'member')),
                    coalesce(current_setting('max_logical_replication_workers', true), '0')::int",
            &[],
        )
        .await?;
    let version: i32 = row.get(0);
    if version < 100_000 {
        return Ok(vec![format!(
            "the destination runs PostgreSQL {version}, logical replication needs 10 or later"
        )]);
    }
    let mut problems = Vec::new();
    if !row.get::<_, bool>(1) {
        problems.push("the destination login may not create subscriptions".to_owned());
    }
    if row.get::<_, i32>(2) < 1 {
        problems.push("the destination has max_logical_replication_workers = 0".to_owned());
    }
    Ok(problems)
}

// ---------------------------------------------------------------------------------
// Start

/// Starts (or finds again) the logical replication of `spec.database` into the
/// staging database at the destination, and returns once it is set up: the initial
/// copy then runs in the destination server ([`LogicalCopy::wait_synced`]).
///
/// Refuses a database that is not eligible ([`DbError::NotEligible`], removing any
/// replication left for it) and an existing final name unless
/// [`CopySpec::replace_existing`] ([`DbError::AlreadyExists`]). A healthy replication
/// for this copy is reused; a broken one is removed and set up again. If the set-up
/// fails (or is cancelled: [`DbError::Interrupted`]) what it created is removed.
pub async fn start(spec: &CopySpec, cancel: &CancellationToken) -> Result<LogicalCopy, DbError> {
    let started = Instant::now();
    let names = Names::of(spec)?;
    spec.phase(CopyPhase::Preparing);
    refuse_existing(spec).await?;
    if let Eligibility::NotEligible(reason) = eligibility(spec).await? {
        tear_down(spec, &names).await?;
        return Err(DbError::NotEligible {
            name: spec.database.clone(),
            reason,
        });
    }
    match health(spec, &names).await? {
        Health::Healthy => {
            tracing::info!(database = %spec.database, replication = %names.object,
                "logical replication found running, reused");
        }
        Health::Absent => set_up_or_undo(spec, &names, cancel).await?,
        Health::Broken(why) => {
            tracing::warn!(database = %spec.database, replication = %names.object, %why,
                "logical replication broken, set up again");
            tear_down(spec, &names).await?;
            set_up_or_undo(spec, &names, cancel).await?;
        }
    }
    Ok(LogicalCopy {
        spec: spec.clone(),
        names,
        started,
    })
}

async fn refuse_existing(spec: &CopySpec) -> Result<(), DbError> {
    if spec.replace_existing {
        return Ok(());
    }
    let admin = Session::open(&spec.destination_url, None).await?;
    let exists =
        postgres::database_exists(&admin.endpoint, &admin.client, &spec.destination_name).await;
    admin.close().await;
    if exists? {
        return Err(DbError::AlreadyExists {
            name: spec.destination_name.clone(),
        });
    }
    Ok(())
}

/// What [`start`] finds of an earlier replication for the same copy.
#[derive(Debug, PartialEq, Eq)]
enum Health {
    /// Nothing: neither slot, publication nor staging database.
    Absent,
    /// Everything, consistent.
    Healthy,
    /// Something, but not all of it or not as it should be (why, in words).
    Broken(String),
}

/// The replication's objects at the source, as found.
#[derive(Debug)]
struct SourceState {
    slot: Option<(Option<String>, String, Option<String>)>,
    publication: bool,
    published: Vec<String>,
    tables: Vec<String>,
}

/// The subscription in the staging database, as found.
#[derive(Debug)]
struct Subscription {
    enabled: bool,
    slot: Option<String>,
    publications: Vec<String>,
    conninfo: String,
}

async fn health(spec: &CopySpec, names: &Names) -> Result<Health, DbError> {
    let source = with_session(Session::source(spec).await?, async |s| {
        source_state(s, &names.object).await
    })
    .await?;
    let staging = staging_exists(spec, names).await?;
    let subscription = if staging {
        with_session(
            Session::open(&spec.destination_url, Some(&names.staging)).await?,
            async |s| subscription(s, &names.object).await,
        )
        .await?
    } else {
        None
    };
    if source.slot.is_none() && !source.publication && !staging {
        return Ok(Health::Absent);
    }
    let problems = problems(spec, names, &source, staging, subscription.as_ref())?;
    Ok(if problems.is_empty() {
        Health::Healthy
    } else {
        Health::Broken(problems.join("; "))
    })
}

/// What is missing or wrong in a replication found at both ends.
fn problems(
    spec: &CopySpec,
    names: &Names,
    source: &SourceState,
    staging: bool,
    subscription: Option<&Subscription>,
) -> Result<Vec<String>, DbError> {
    let mut problems = Vec::new();
    match &source.slot {
        None => problems.push("no slot at the source".to_owned()),
        Some((database, plugin, wal_status)) => {
            if database.as_deref() != Some(spec.database.as_str()) || plugin != "pgoutput" {
                problems.push("the slot is not a pgoutput slot of the database".to_owned());
            }
            if wal_status.as_deref() == Some("lost") {
                problems.push("the slot lost WAL it still needed".to_owned());
            }
        }
    }
    if !source.publication {
        problems.push("no publication at the source".to_owned());
    } else if source.published != source.tables {
        problems.push("the source's tables changed since the publication".to_owned());
    }
    if !staging {
        problems.push("no staging database".to_owned());
    }
    match subscription {
        None => problems.push("no subscription".to_owned()),
        Some(sub) => {
            let expected = conninfo(&spec.source_url, &spec.database)?;
            if !sub.enabled
                || sub.slot.as_deref() != Some(names.object.as_str())
                || sub.publications != [names.object.clone()]
                || sub.conninfo != expected
            {
                problems.push("the subscription is disabled or set up otherwise".to_owned());
            }
        }
    }
    Ok(problems)
}

async fn source_state(source: &Session, object: &str) -> Result<SourceState, DbError> {
    let slot = source
        .rows(
            "looking for the slot",
            "SELECT database::text, plugin::text, to_jsonb(s) ->> 'wal_status'
               FROM pg_replication_slots s WHERE slot_name = $1",
            &[&object],
        )
        .await?
        .first()
        .map(|r| (r.get(0), r.get(1), r.get(2)));
    let publication = source
        .row(
            "looking for the publication",
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)",
            &[&object],
        )
        .await?
        .get(0);
    let mut published: Vec<String> = source
        .rows(
            "listing the published tables",
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1",
            &[&object],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Sorted here, alike: `name` and `text` columns sort by different collations.
    published.sort();
    let mut tables = source.table_names().await?;
    tables.sort();
    Ok(SourceState {
        slot,
        publication,
        published,
        tables,
    })
}

async fn staging_exists(spec: &CopySpec, names: &Names) -> Result<bool, DbError> {
    let admin = Session::open(&spec.destination_url, None).await?;
    let exists = postgres::database_exists(&admin.endpoint, &admin.client, &names.staging).await;
    admin.close().await;
    exists
}

/// The subscription `object` of the session's database, if any.
async fn subscription(staging: &Session, object: &str) -> Result<Option<Subscription>, DbError> {
    let rows = staging
        .rows(
            "looking for the subscription",
            "SELECT subenabled, subslotname::text, subpublications, subconninfo
               FROM pg_subscription
              WHERE subname = $1
                AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&object],
        )
        .await?;
    Ok(rows.first().map(|r| Subscription {
        enabled: r.get(0),
        slot: r.get(1),
        publications: r.get(2),
        conninfo: r.get(3),
    }))
}

/// The `CONNECTION` of the subscription: the source URL's host, port, login and SSL
/// mode, and the source database (libpq's `key='value'` form).
fn conninfo(source_url: &str, database: &str) -> Result<String, DbError> {
    let (endpoint, config) = Endpoint::postgres(source_url)?;
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = vec![
        format!("host={}", quote(&endpoint.host)),
        format!("port={}", endpoint.port),
        format!("dbname={}", quote(database)),
    ];
    if let Some(user) = &endpoint.user {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(password) = &endpoint.password {
        parts.push(format!("password={}", quote(password)));
    }
    let sslmode = match config.get_ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Require => "require",
        _ => "prefer",
    };
    parts.push(format!("sslmode={sslmode}"));
    Ok(parts.join(" "))
}

/// Sets the replication up; on failure removes what was created (best effort: the
/// next [`start`] or [`abort`] finds the rest).
async fn set_up_or_undo(
    spec: &CopySpec,
    names: &Names,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let result = set_up(spec, names, cancel).await;
    if result.is_err()
        && let Err(e) = tear_down(spec, names).await
    {
        tracing::warn!(error = %e, "could not remove a failed logical replication set-up");
    }
    result
}

async fn set_up(spec: &CopySpec, names: &Names, cancel: &CancellationToken) -> Result<(), DbError> {
    create_staging(spec, names).await?;
    spec.phase(CopyPhase::Restoring);
    restore_schema(spec, names, cancel).await?;
    let tables = with_session(
        Session::open(&spec.destination_url, Some(&names.staging)).await?,
        async |s| s.relations("r").await,
    )
    .await?;
    with_session(Session::source(spec).await?, async |s| {
        publish(s, &names.object, &tables, cancel).await
    })
    .await?;
    let sql = create_subscription_sql(spec, names)?;
    with_session(
        Session::open(&spec.destination_url, Some(&names.staging)).await?,
        async |s| {
            s.execute_cancellable("creating the subscription", &sql, cancel)
                .await
        },
    )
    .await?;
    tracing::info!(database = %spec.database, replication = %names.object,
        tables = tables.len(), "logical replication set up");
    Ok(())
}

/// The staging database, created like the source (encoding, locale).
async fn create_staging(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
    let (source, source_config) = Endpoint::postgres(&spec.source_url)?;
    let options = postgres::source_options(&source, &source_config, &spec.database).await?;
    with_session(
        Session::open(&spec.destination_url, None).await?,
        async |admin| {
            postgres::drop_database(&admin.endpoint, &admin.client, &names.staging).await?;
            admin
                .execute(
                    &format!("creating {}", names.staging),
                    &format!("CREATE DATABASE {} {options}", ident(&names.staging)),
                )
                .await
        },
    )
    .await
}

/// `pg_dump --schema-only | pg_restore --no-owner` into the staging database.
async fn restore_schema(
    spec: &CopySpec,
    names: &Names,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let (source, _) = Endpoint::postgres(&spec.source_url)?;
    let (destination, _) = Endpoint::postgres(&spec.destination_url)?;
    let mut dump = super::process::command("pg_dump");
    dump.args(["-Fc", "--schema-only"]);
    source.postgres_args(&mut dump);
    dump.arg("-d").arg(&spec.database);
    let mut restore = super::process::command("pg_restore");
    restore.args(["--no-owner", "--exit-on-error"]);
    destination.postgres_args(&mut restore);
    restore.arg("-d").arg(&names.staging);
    super::process::pipe(("pg_dump", dump), ("pg_restore", restore), cancel).await?;
    Ok(())
}

/// The publication of `tables` and the slot, at the source. The publication comes
/// first: the slot's decoding looks it up as of each change.
async fn publish(
    source: &Session,
    object: &str,
    tables: &[(String, String)],
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let list: Vec<String> = tables
        .iter()
        .map(|(s, t)| format!("{}.{}", ident(s), ident(t)))
        .collect();
    let target = if list.is_empty() {
        String::new()
    } else {
        format!(" FOR TABLE {}", list.join(", "))
    };
    source
        .execute(
            "creating the publication",
            &format!("CREATE PUBLICATION {}{target}", ident(object)),
        )
        .await?;
    source
        .execute_cancellable(
            "creating the replication slot",
            &format!(
                "SELECT pg_create_logical_replication_slot({}, 'pgoutput')",
                literal(object)
            ),
            cancel,
        )
        .await
}

fn create_subscription_sql(spec: &CopySpec, names: &Names) -> Result<String, DbError> {
    let object = ident(&names.object);
    Ok(format!(
        "CREATE SUBSCRIPTION {object} CONNECTION {} PUBLICATION {object}
           WITH (create_slot = false, slot_name = {}, copy_data = true, enabled = true)",
        literal(&conninfo(&spec.source_url, &spec.database)?),
        literal(&names.object)
    ))
}

// ---------------------------------------------------------------------------------
// Progress and finish

impl LogicalCopy {
    /// Waits until every table has finished its initial copy (and follows the
    /// source's changes). Fails if the subscription's workers keep failing (see the
    /// destination server's log); [`DbError::Interrupted`] when cancelled.
    pub async fn wait_synced(&self, cancel: &CancellationToken) -> Result<(), DbError> {
        self.wait_tables(&["r", "s"], cancel).await
    }

    /// Bytes of WAL the destination still has to apply: the source's current WAL
    /// position minus what the slot's subscriber confirmed. Meaningful once
    /// [`LogicalCopy::wait_synced`] returned.
    pub async fn lag_bytes(&self) -> Result<u64, DbError> {
        let object = &self.names.object;
        with_session(Session::source(&self.spec).await?, async |s| {
            let row = s
                .rows(
                    "reading the replication lag",
                    "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint
                       FROM pg_replication_slots WHERE slot_name = $1",
                    &[object],
                )
                .await?;
            let Some(row) = row.first() else {
                return Err(missing_slot(&s.endpoint, object));
            };
            Ok(u64::try_from(row.get::<_, Option<i64>>(0).unwrap_or(0)).unwrap_or(0))
        })
        .await
    }

    /// Ends the copy, the source being frozen ([`super::postgres::freeze`]): waits
    /// until the destination applied everything up to the source's current WAL
    /// position, sets every sequence to the source's value, removes the subscription,
    /// the slots and the publication, verifies the staging database table by table
    /// against the source, and switches it to its final name (an existing one kept
    /// aside with [`CopySpec::replace_existing`]).
    ///
    /// If it fails or is cancelled while waiting, the replication is left running
    /// ([`start`] finds it again, [`abort`] removes it); once the replication is
    /// removed, a failure drops the staging database.
    pub async fn finish(self, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
        let spec = &self.spec;
        spec.phase(CopyPhase::Restoring);
        self.wait_tables(&["r"], cancel).await?;
        self.wait_caught_up(cancel).await?;
        copy_sequences(spec, &self.names).await?;
        remove_replication(spec, &self.names).await?;
        let result = verify_and_switch(spec, &self.names, cancel).await;
        if result.is_err() {
            let dropped = with_session(
                Session::open(&spec.destination_url, None).await?,
                async |a| {
                    postgres::drop_database(&a.endpoint, &a.client, &self.names.staging).await
                },
            )
            .await;
            if let Err(e) = dropped {
                tracing::warn!(error = %e, "could not drop the staging database; abort will");
            }
        }
        let (verify_duration, check) = result?;
        spec.phase(CopyPhase::Done);
        tracing::info!(database = %spec.database, destination = %spec.destination_name,
            "postgres database copied by logical replication and verified");
        Ok(CopyReport {
            engine: DatabaseEngine::Postgres,
            source_database: spec.database.clone(),
            database: spec.destination_name.clone(),
            method: DatabaseMethod::LogicalReplication,
            dump_bytes: 0,
            duration: self.started.elapsed(),
            verify_duration,
            check,
        })
    }

    /// Waits until every table of the subscription is in one of `states`.
    async fn wait_tables(
        &self,
        states: &[&str],
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let staging = Session::open(&self.spec.destination_url, Some(&self.names.staging)).await?;
        let object = &self.names.object;
        with_session(staging, async |s| {
            let watchdog = Watchdog::new(s, object).await?;
            poll(cancel, || async {
                watchdog.check(s).await?;
                let row = s
                    .row(
                        "reading the tables' copy states",
                        "SELECT count(*) FROM pg_subscription_rel r
                           JOIN pg_subscription s ON s.oid = r.srsubid
                          WHERE s.subname = $1 AND NOT r.srsubstate::text = ANY ($2)
                            AND s.subdbid = (SELECT oid FROM pg_database
                                              WHERE datname = current_database())",
                        &[object, &states],
                    )
                    .await?;
                Ok(row.get::<_, i64>(0) == 0)
            })
            .await
        })
        .await
    }

    /// Waits until the slot's subscriber confirmed the source's current WAL position.
    async fn wait_caught_up(&self, cancel: &CancellationToken) -> Result<(), DbError> {
        let staging = Session::open(&self.spec.destination_url, Some(&self.names.staging)).await?;
        let source = Session::source(&self.spec).await?;
        let object = &self.names.object;
        let result = async {
            let target: String = source
                .row(
                    "reading the source's WAL position",
                    "SELECT pg_current_wal_lsn()::text",
                    &[],
                )
                .await?
                .get(0);
            let watchdog = Watchdog::new(&staging, object).await?;
            poll(cancel, || async {
                watchdog.check(&staging).await?;
                let rows = source
                    .rows(
                        "reading the slot's position",
                        "SELECT coalesce(confirmed_flush_lsn >= $2::text::pg_lsn, false)
                           FROM pg_replication_slots WHERE slot_name = $1",
                        &[object, &target],
                    )
                    .await?;
                match rows.first() {
                    Some(row) => Ok(row.get::<_, bool>(0)),
                    None => Err(missing_slot(&source.endpoint, object)),
                }
            })
            .await
        }
        .await;
        source.close().await;
        staging.close().await;
        result
    }
}

fn missing_slot(endpoint: &Endpoint, object: &str) -> DbError {
    DbError::Query {
        endpoint: endpoint.display(),
        context: "logical replication".to_owned(),
        reason: format!("replication slot {object} is missing at the source"),
    }
}

/// Polls `done` until it says so; [`DbError::Interrupted`] as soon as `cancel` fires.
async fn poll<F, Fut>(cancel: &CancellationToken, mut done: F) -> Result<(), DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, DbError>>,
{
    loop {
        tokio::select! {
            finished = done() => {
                if finished? {
                    return Ok(());
                }
            }
            () = cancel.cancelled() => return Err(DbError::Interrupted),
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = cancel.cancelled() => return Err(DbError::Interrupted),
        }
    }
}

/// Notices a subscription that stopped or whose workers keep failing, so that a wait
/// does not last forever: the errors themselves are only in the destination's log.
struct Watchdog {
    object: String,
    /// Worker errors counted so far (PostgreSQL 15 or later), if counted.
    baseline: Option<i64>,
}

impl Watchdog {
    async fn new(staging: &Session, object: &str) -> Result<Self, DbError> {
        let counted: bool = staging
            .row(
                "looking for subscription statistics",
                "SELECT to_regclass('pg_catalog.pg_stat_subscription_stats') IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        let mut watchdog = Self {
            object: object.to_owned(),
            baseline: None,
        };
        if counted {
            watchdog.baseline = Some(watchdog.errors(staging).await?);
        }
        Ok(watchdog)
    }

    async fn errors(&self, staging: &Session) -> Result<i64, DbError> {
        Ok(staging
            .row(
                "reading the subscription's errors",
                "SELECT coalesce(sum(apply_error_count + sync_error_count), 0)::bigint
                   FROM pg_stat_subscription_stats WHERE subname = $1",
                &[&self.object],
            )
            .await?
            .get(0))
    }

    async fn check(&self, staging: &Session) -> Result<(), DbError> {
        let failing = |reason: String| DbError::Query {
            endpoint: staging.endpoint.display(),
            context: "logical replication".to_owned(),
            reason,
        };
        match subscription(staging, &self.object).await? {
            Some(sub) if sub.enabled => {}
            _ => {
                return Err(failing(format!(
                    "subscription {} is gone or disabled",
                    self.object
                )));
            }
        }
        if let Some(baseline) = self.baseline {
            let errors = self.errors(staging).await? - baseline;
            if errors >= MAX_WORKER_ERRORS {
                return Err(failing(format!(
                    "the subscription's workers failed {errors} times (see the destination \
                     server's log: schema changed at the source, replication refused?)"
                )));
            }
        }
        Ok(())
    }
}

/// Sets every sequence of the staging database to its value at the source (sequences
/// are not replicated).
async fn copy_sequences(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
    let source = Session::source(spec).await?;
    let values = async {
        let mut values = Vec::new();
        for (schema, name) in source.relations("S").await? {
            let qualified = format!("{}.{}", ident(&schema), ident(&name));
            let row = source
                .row(
                    &format!("reading sequence {schema}.{name}"),
                    &format!("SELECT last_value, is_called FROM {qualified}"),
                    &[],
                )
                .await?;
            values.push((qualified, row.get::<_, i64>(0), row.get::<_, bool>(1)));
        }
        Ok::<_, DbError>(values)
    }
    .await;
    source.close().await;
    let values = values?;
    let staging = Session::open(&spec.destination_url, Some(&names.staging)).await?;
    with_session(staging, async |s| {
        for (qualified, value, called) in &values {
            s.row(
                &format!("setting sequence {qualified}"),
                "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                &[qualified, value, called],
            )
            .await?;
        }
        Ok(())
    })
    .await
}

/// Verification against the (frozen) source, then the switch to the final name.
async fn verify_and_switch(
    spec: &CopySpec,
    names: &Names,
    cancel: &CancellationToken,
) -> Result<(Duration, ferry_events::transfer::DatabaseCheck), DbError> {
    let (verify_duration, check) =
        verify::staging_against_source(spec, &names.staging, cancel).await?;
    spec.phase(CopyPhase::Switching);
    with_session(
        Session::open(&spec.destination_url, None).await?,
        async |a| {
            postgres::switch_in(
                &a.endpoint,
                &a.client,
                &names.staging,
                &spec.destination_name,
                spec.replace_existing,
            )
            .await
        },
    )
    .await?;
    Ok((verify_duration, check))
}

// ---------------------------------------------------------------------------------
// Removal

/// Removes whatever replication exists for `spec`: subscription, slots (the
/// subscription's and its table copies'), publication, and the staging database. The
/// source's data is untouched. Idempotent; each step is tried even if another failed
/// (the first error is returned, and a later call carries on).
pub async fn abort(spec: &CopySpec) -> Result<(), DbError> {
    let names = Names::of(spec)?;
    tear_down(spec, &names).await
}

async fn tear_down(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
    let mut first = FirstError::default();
    first.keep(remove_replication(spec, names).await, "replication");
    let dropped = async {
        let admin = Session::open(&spec.destination_url, None).await?;
        with_session(admin, async |a| {
            postgres::drop_database(&a.endpoint, &a.client, &names.staging).await
        })
        .await
    }
    .await;
    first.keep(dropped, "staging database");
    first.into_result()
}

/// Removes the subscription, the slots and the publication, keeping the staging
/// database. The subscription is disabled and detached from its slot first, then the
/// slots go at the source, and only then the subscription: its id names the table
/// copies' slots, so it is kept until they are gone.
async fn remove_replication(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
    let mut first = FirstError::default();
    let detached = detach_subscriptions(spec, names).await;
    let subscription = match detached {
        Ok(oid) => oid,
        Err(e) => {
            first.keep(Err(e), "subscription");
            None
        }
    };
    let source = async {
        with_session(Session::source(spec).await?, async |s| {
            drop_source_objects(s, &names.object, subscription).await
        })
        .await
    }
    .await;
    let source_done = source.is_ok();
    first.keep(source, "slots and publication");
    if source_done && let Some(oid) = subscription {
        first.keep(drop_subscription(spec, names, oid).await, "subscription");
    }
    first.into_result()
}

/// Disables the staging database's subscriptions and detaches them from their slots
/// (ferry's, and any the schema restore brought along); returns the id of ferry's.
async fn detach_subscriptions(spec: &CopySpec, names: &Names) -> Result<Option<u32>, DbError> {
    if !staging_exists(spec, names).await? {
        return Ok(None);
    }
    let staging = Session::open(&spec.destination_url, Some(&names.staging)).await?;
    with_session(staging, async |s| {
        let rows = s
            .rows(
                "listing the subscriptions",
                "SELECT oid, subname::text FROM pg_subscription
                  WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await?;
        let mut ours = None;
        for row in rows {
            let (oid, name): (u32, String) = (row.get(0), row.get(1));
            let sub = ident(&name);
            s.execute(
                &format!("detaching subscription {name}"),
                &format!(
                    "ALTER SUBSCRIPTION {sub} DISABLE; ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"
                ),
            )
            .await?;
            if name == names.object {
                wait_workers_gone(s, oid).await?;
                ours = Some(oid);
            } else {
                s.execute(
                    &format!("dropping subscription {name}"),
                    &format!("DROP SUBSCRIPTION {sub}"),
                )
                .await?;
            }
        }
        Ok(ours)
    })
    .await
}

/// Waits until the workers of a disabled subscription are gone: a table copy's
/// worker still running could create its slot after they were listed for removal.
async fn wait_workers_gone(staging: &Session, oid: u32) -> Result<(), DbError> {
    let deadline = Instant::now() + SLOT_RELEASE;
    loop {
        let running: i64 = staging
            .row(
                "waiting for the subscription's workers",
                "SELECT count(*) FROM pg_stat_subscription WHERE subid = $1 AND pid IS NOT NULL",
                &[&oid],
            )
            .await?
            .get(0);
        if running == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DbError::Query {
                endpoint: staging.endpoint.display(),
                context: "disabling the subscription".to_owned(),
                reason: format!("{running} worker(s) still running"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn drop_subscription(spec: &CopySpec, names: &Names, oid: u32) -> Result<(), DbError> {
    let staging = Session::open(&spec.destination_url, Some(&names.staging)).await?;
    with_session(staging, async |s| {
        // By id: the name is ours, but only this one was detached.
        let name: Option<String> = s
            .rows(
                "looking for the subscription",
                "SELECT subname::text FROM pg_subscription WHERE oid = $1",
                &[&oid],
            )
            .await?
            .first()
            .map(|r| r.get(0));
        match name {
            Some(name) => {
                s.execute(
                    "dropping the subscription",
                    &format!("DROP SUBSCRIPTION IF EXISTS {}", ident(&name)),
                )
                .await
            }
            None => Ok(()),
        }
    })
    .await
}

/// Drops ferry's slot, the slots of its subscription's table copies (`pg_<id>_sync_…`)
/// and the publication, at the source.
async fn drop_source_objects(
    source: &Session,
    object: &str,
    subscription: Option<u32>,
) -> Result<(), DbError> {
    let mut slots = vec![object.to_owned()];
    if let Some(oid) = subscription {
        let pattern = format!("pg\\_{oid}\\_sync\\_%");
        let rows = source
            .rows(
                "listing the table copies' slots",
                "SELECT slot_name::text FROM pg_replication_slots
                  WHERE slot_name LIKE $1 AND database = current_database()",
                &[&pattern],
            )
            .await?;
        slots.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    for slot in &slots {
        drop_slot(source, slot).await?;
    }
    source
        .execute(
            "dropping the publication",
            &format!("DROP PUBLICATION IF EXISTS {}", ident(object)),
        )
        .await
}

/// Drops a slot if it exists, ending the sender still using it (the subscription is
/// disabled, but its sender may take a moment to notice).
async fn drop_slot(source: &Session, slot: &str) -> Result<(), DbError> {
    let deadline = Instant::now() + SLOT_RELEASE;
    loop {
        let active = source
            .rows(
                "ending the slot's sender",
                "SELECT active_pid, pg_terminate_backend(active_pid)
                   FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL",
                &[&slot],
            )
            .await?;
        if active.is_empty() {
            let dropped = source
                .client
                .query(
                    "SELECT pg_drop_replication_slot(slot_name)
                       FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
                    &[&slot],
                )
                .await;
            match dropped {
                Ok(_) if !slot_exists(source, slot).await? => return Ok(()),
                Ok(_) => {}
                // Taken again between the two statements: try again.
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, %slot, "slot still in use");
                }
                Err(e) => return Err(source.error(&format!("dropping slot {slot}"), &e)),
            }
        }
        if Instant::now() >= deadline {
            return Err(DbError::Query {
                endpoint: source.endpoint.display(),
                context: format!("dropping slot {slot}"),
                reason: "the slot stays in use".to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn slot_exists(source: &Session, slot: &str) -> Result<bool, DbError> {
    Ok(source
        .row(
            "looking for a slot",
            "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
            &[&slot],
        )
        .await?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_short() -> Result<(), DbError> {
        let url = "postgres://postgres:secret@10.0.0.7:5432/postgres";
        let a = Names::of(&CopySpec::new(url, url, "shop").renamed("shop_copy"))?;
        let b = Names::of(&CopySpec::new(url, url, "shop").renamed("shop_copy"))?;
        let c = Names::of(&CopySpec::new(url, url, "shop").renamed("other"))?;
        assert_eq!(a.object, b.object);
        assert_ne!(a.object, c.object);
        assert!(a.object.starts_with("ferry_") && a.object.len() <= MAX_NAME);
        assert_eq!(a.staging, "shop_copy__ferry_incoming");
        Ok(())
    }

    #[test]
    fn the_connection_string_quotes_its_values() -> Result<(), DbError> {
        let info = conninfo("postgres://ferry:it%27s@db-7:5433/postgres", "shop")?;
        assert_eq!(
            info,
            "host='db-7' port=5433 dbname='shop' user='ferry' password='it\\'s' sslmode=prefer"
        );
        Ok(())
    }
}
