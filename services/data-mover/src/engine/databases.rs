//! A transfer's databases: which to copy from where to where ([`plan`]), and how
//! ([`Move`]): by logical replication (PostgreSQL) or binary-log catch-up (MariaDB)
//! where the database allows it and low-downtime methods are on, prepared while the
//! account is live so that the freeze only waits for the last changes; by dump and
//! restore while frozen otherwise. The method is picked per database and reported.
//!
//! A server's URL may carry `?prefix=…`: its databases' names then start with that
//! prefix. This lets several (test) servers share one database server: on one machine,
//! a client server and its transit server are two prefixes of the local PostgreSQL.

use super::StepFailure;
use super::progress::Reporter;
use crate::databases::{
    self, CopyReport, CopySpec, DbError, mysql, mysql_binlog, pg_logical, postgres,
};
use crate::settings::MoverSettings;
use ferry_events::{
    DatabaseCheck, DatabaseEngine, DatabaseMethod, DatabaseMethodUsed, DatabaseSpec, TransferKind,
    TransferPhase, TransferScheduled,
};
use tokio_util::sync::CancellationToken;
use url::{Url, form_urlencoded};

/// What the databases are copied for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// For good: the destination takes over (a replaced older copy is kept aside).
    Move,
    /// A test copy under a name of its own on the test servers.
    Test,
}

/// One database to copy.
#[derive(Debug)]
pub(crate) struct Planned {
    pub engine: DatabaseEngine,
    pub spec: CopySpec,
    /// Its size per the inventory, for progress.
    pub size_bytes: u64,
}

/// A server URL without its `prefix` parameter, and that prefix (empty if none, or if
/// the text is not a URL, e.g. libpq's `key=value` form).
pub(crate) fn located(url: &str) -> (String, String) {
    let Ok(mut parsed) = Url::parse(url) else {
        return (url.to_owned(), String::new());
    };
    let Some(query) = parsed.query().map(str::to_owned) else {
        return (url.to_owned(), String::new());
    };
    let mut prefix = None;
    let mut kept = Vec::new();
    // The other parameters are the driver's: kept as written, not re-encoded (a
    // re-encoded space becomes `+`, which tokio-postgres would not read back as one).
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match form_urlencoded::parse(pair.as_bytes()).next() {
            Some((key, value)) if key == "prefix" => prefix = Some(value.into_owned()),
            _ => kept.push(pair),
        }
    }
    let Some(prefix) = prefix else {
        return (url.to_owned(), String::new());
    };
    let rest = kept.join("&");
    parsed.set_query((!rest.is_empty()).then_some(rest.as_str()));
    (parsed.into(), prefix)
}

fn url_for(storage: &ferry_events::ServerStorage, engine: DatabaseEngine) -> Option<&String> {
    match engine {
        DatabaseEngine::Postgres => storage.postgres_url.as_ref(),
        DatabaseEngine::Mysql => storage.mysql_url.as_ref(),
    }
}

fn engine_name(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "PostgreSQL",
        DatabaseEngine::Mysql => "MySQL/MariaDB",
    }
}

/// The name of an account's database on the test servers: unique per client server
/// and database, so that customers' copies never meet, and a refresh replaces the
/// same copy.
pub(crate) fn test_name(server_id: &str, database: &str) -> String {
    let tag = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{server_id}/{database}").as_bytes(),
    );
    let short: String = database.chars().take(36).collect();
    format!("t{}_{short}", &tag.simple().to_string()[..8])
}

/// Every database of the transfer's accounts to copy, with where from and to. A
/// service migration copies only the service whose server changes.
pub(crate) fn plan(
    settings: &MoverSettings,
    scheduled: &TransferScheduled,
    purpose: Purpose,
) -> Result<Vec<Planned>, StepFailure> {
    let (from, to) = (&scheduled.source.storage, &scheduled.destination.storage);
    let moved = |engine| {
        scheduled.kind != TransferKind::ServiceMigration
            || url_for(from, engine) != url_for(to, engine)
    };
    if scheduled.kind == TransferKind::ServiceMigration
        && !moved(DatabaseEngine::Postgres)
        && !moved(DatabaseEngine::Mysql)
    {
        return Err(StepFailure::new(
            TransferPhase::Databases,
            "no server is configured for the service's new version (FERRY_SERVICE_SERVERS), \
             or the service holds no PostgreSQL or MySQL data, the only data ferry moves",
            false,
        ));
    }
    let mut planned = Vec::new();
    for account in &scheduled.accounts {
        for database in account.databases.iter().filter(|d| moved(d.engine)) {
            planned.push(plan_one(settings, scheduled, purpose, database)?);
        }
    }
    Ok(planned)
}

fn plan_one(
    settings: &MoverSettings,
    scheduled: &TransferScheduled,
    purpose: Purpose,
    database: &DatabaseSpec,
) -> Result<Planned, StepFailure> {
    let engine = database.engine;
    let missing = |end: &str, server: &str| {
        StepFailure::new(
            TransferPhase::Databases,
            format!(
                "database {}: the {end} ({server}) has no {} server",
                database.name,
                engine_name(engine)
            ),
            false,
        )
    };
    // The URLs to connect with: each login's password from the secret store.
    let resolve = |end: &str, endpoint: &ferry_events::transfer::Endpoint| {
        crate::credentials::connect_url(settings, &endpoint.storage, engine)
            .map_err(|why| {
                StepFailure::new(
                    TransferPhase::Databases,
                    format!(
                        "database {}: cannot connect to the {end} ({})'s {} server: {why}",
                        database.name,
                        endpoint.server_id,
                        engine_name(engine)
                    ),
                    false,
                )
            })?
            .ok_or_else(|| missing(end, &endpoint.server_id))
    };
    let source = resolve("source", &scheduled.source)?;
    let destination = resolve("destination", &scheduled.destination)?;
    let (source_url, source_prefix) = located(&source);
    let (destination_url, destination_prefix) = located(&destination);
    let source_name = format!("{source_prefix}{}", database.name);
    let destination_name = match purpose {
        Purpose::Move => format!("{destination_prefix}{}", database.name),
        Purpose::Test => format!(
            "{destination_prefix}{}",
            test_name(&scheduled.server_id, &database.name)
        ),
    };
    if source_url == destination_url && source_name == destination_name {
        // Two servers sharing one database server need prefixes (`?prefix=`): without
        // them the copy would replace its own source.
        return Err(StepFailure::new(
            TransferPhase::Databases,
            format!(
                "database {source_name}: {} and {} use the same database server without \
                 a name prefix, so source and destination would be the same database",
                scheduled.source.server_id, scheduled.destination.server_id
            ),
            false,
        ));
    }
    let mut spec = CopySpec::new(source_url, destination_url, source_name)
        .renamed(destination_name)
        .jobs(settings.pg_jobs);
    if scheduled.kind != TransferKind::ServiceMigration {
        // The destination is the account's own (client or lent transit) server, or its
        // test copy: an older copy there is the account's, kept aside, never lost. A
        // new version's server is shared: a name taken there is someone else's.
        spec = spec.replacing_existing();
    }
    spec.work_dir = settings.work_dir.clone();
    Ok(Planned {
        engine,
        spec,
        size_bytes: database.size_bytes,
    })
}

/// One database being moved.
pub(crate) enum Move {
    /// Dump and restore, while frozen.
    Dump(Planned),
    /// PostgreSQL logical replication, caught up.
    Logical(Planned, Box<pg_logical::LogicalCopy>),
    /// MariaDB binary-log catch-up.
    Binlog(Planned, Box<mysql_binlog::BinlogCopy>),
}

impl Move {
    /// The database.
    pub(crate) fn planned(&self) -> &Planned {
        match self {
            Self::Dump(p) | Self::Logical(p, _) | Self::Binlog(p, _) => p,
        }
    }

    /// The replication method, if it is one.
    pub(crate) fn method(&self) -> Option<DatabaseMethod> {
        match self {
            Self::Dump(_) => None,
            Self::Logical(..) => Some(DatabaseMethod::LogicalReplication),
            Self::Binlog(..) => Some(DatabaseMethod::BinlogReplication),
        }
    }

    /// Live: picks the method and, for replication, sets it up and catches up.
    pub(crate) async fn prepare(
        planned: Planned,
        settings: &MoverSettings,
        stop: &CancellationToken,
    ) -> Result<Move, StepFailure> {
        if !settings.low_downtime {
            return Ok(Self::Dump(planned));
        }
        let failed = |e: DbError| db_failure(TransferPhase::Databases, &e);
        match planned.engine {
            DatabaseEngine::Postgres => match pg_logical::eligibility(&planned.spec)
                .await
                .map_err(failed)?
            {
                pg_logical::Eligibility::Eligible => {
                    let copy = pg_logical::start(&planned.spec, stop)
                        .await
                        .map_err(failed)?;
                    copy.wait_synced(stop).await.map_err(failed)?;
                    Ok(Self::Logical(planned, Box::new(copy)))
                }
                pg_logical::Eligibility::NotEligible(reason) => {
                    tracing::info!(database = %planned.spec.database, %reason, "dump and restore while frozen");
                    Ok(Self::Dump(planned))
                }
            },
            DatabaseEngine::Mysql => match mysql_binlog::eligibility(&planned.spec)
                .await
                .map_err(failed)?
            {
                mysql_binlog::Eligibility::Eligible => {
                    let mut copy = mysql_binlog::start(&planned.spec, stop)
                        .await
                        .map_err(failed)?;
                    // Twice: the first catch-up covers the dump's duration, the second
                    // what came meanwhile.
                    for _ in 0..2 {
                        copy.catch_up(stop).await.map_err(failed)?;
                    }
                    Ok(Self::Binlog(planned, Box::new(copy)))
                }
                mysql_binlog::Eligibility::NotEligible(reason) => {
                    tracing::info!(database = %planned.spec.database, %reason, "dump and restore while frozen");
                    Ok(Self::Dump(planned))
                }
            },
        }
    }

    /// Live, replication running: hashes the database at both ends (catching up
    /// again for a binary-log copy), so that the freeze applies and hashes only what
    /// changes next. Nothing for a dump.
    async fn check_live(&mut self, stop: &CancellationToken) -> Result<(), StepFailure> {
        let failed = |e: DbError| db_failure(TransferPhase::Databases, &e);
        match self {
            Self::Dump(_) => Ok(()),
            Self::Logical(_, copy) => copy.check_live(stop).await.map_err(failed),
            Self::Binlog(_, copy) => copy.check_live(stop).await.map_err(failed),
        }
    }

    /// Frozen: the last changes, verification, the switch to the final name.
    async fn finish(self, stop: &CancellationToken) -> Result<CopyReport, DbError> {
        match self {
            Self::Dump(p) => match p.engine {
                DatabaseEngine::Postgres => postgres::copy(&p.spec, stop).await,
                DatabaseEngine::Mysql => mysql::copy(&p.spec, stop).await,
            },
            Self::Logical(_, copy) => copy.finish(stop).await,
            Self::Binlog(_, copy) => copy.finish(stop).await,
        }
    }

    /// Tears down a replication (best effort, logged): the source keeps no slot, the
    /// destination no staging database.
    async fn abort(&self) {
        let outcome = match self {
            Self::Dump(_) => Ok(()),
            Self::Logical(p, _) => pg_logical::abort(&p.spec).await,
            Self::Binlog(p, _) => mysql_binlog::abort(&p.spec).await,
        };
        if let Err(e) = outcome {
            tracing::warn!(database = %self.planned().spec.database, error = %e,
                "replication not torn down; the next attempt will");
        }
    }
}

/// Tears down the replication of every database `plan` gives for `scheduled`, if
/// any runs (a cancelled migration's pre-copies). Idempotent; best effort, logged.
pub(crate) async fn abort_planned(settings: &MoverSettings, scheduled: &TransferScheduled) {
    let Ok(planned) = plan(settings, scheduled, Purpose::Move) else {
        return;
    };
    for p in planned {
        let outcome = match p.engine {
            DatabaseEngine::Postgres => pg_logical::abort(&p.spec).await,
            DatabaseEngine::Mysql => mysql_binlog::abort(&p.spec).await,
        };
        if let Err(e) = outcome {
            tracing::warn!(database = %p.spec.database, error = %e, "replication not torn down");
        }
    }
}

/// Tears down every prepared replication.
pub(crate) async fn abort_all(moves: &[Move]) {
    for m in moves {
        m.abort().await;
    }
}

/// Every prepared database hashed live, all at once and as late as can be: right
/// before the freeze, so that what it hashes again is only what was written in
/// the last seconds (see [`Move::check_live`]).
pub(crate) async fn check_all_live(
    moves: &mut [Move],
    stop: &CancellationToken,
) -> Result<(), StepFailure> {
    futures::future::try_join_all(moves.iter_mut().map(|m| m.check_live(stop)))
        .await
        .map(|_| ())
}

/// Frozen: finishes every database at once (each is its own copy, most often on
/// different servers: the freeze lasts as long as the longest, not their sum).
/// Returns the checks, the methods and the bytes dumped, in the planned order. A
/// database switched before another failed stays at its destination under its final
/// name: the account does not use it, and the next attempt replaces it.
pub(crate) async fn finish_all(
    moves: Vec<Move>,
    reporter: &Reporter,
    stop: &CancellationToken,
) -> Result<(Vec<DatabaseCheck>, Vec<DatabaseMethodUsed>, u64), StepFailure> {
    let total: u64 = ferry_events::input::total_bytes(moves.iter().map(|m| m.planned().size_bytes));
    reporter.report(TransferPhase::Databases, None, 0, total);
    let mut running = tokio::task::JoinSet::new();
    for (index, m) in moves.into_iter().enumerate() {
        let stop = stop.clone();
        running.spawn(async move {
            let (engine, spec) = (m.planned().engine, m.planned().spec.clone());
            let replicated = !matches!(m, Move::Dump(_));
            let finished = m.finish(&stop).await;
            if finished.is_err() && replicated {
                // Restart from scratch next time; never leave a slot holding the
                // source's WAL, nor a half-caught-up staging copy.
                let outcome = match engine {
                    DatabaseEngine::Postgres => pg_logical::abort(&spec).await,
                    DatabaseEngine::Mysql => mysql_binlog::abort(&spec).await,
                };
                if let Err(e) = outcome {
                    tracing::warn!(database = %spec.database, error = %e, "replication not torn down");
                }
            }
            (index, spec.database, finished)
        });
    }
    let mut reports = Vec::new();
    let mut first_error = None;
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, _, Ok(report))) => {
                tracing::info!(database = %report.database, method = ?report.method,
                    took_ms = report.duration.as_millis() as u64, "database moved");
                reporter.copied(report.dump_bytes);
                reports.push((index, report));
            }
            Ok((_, database, Err(e))) => {
                tracing::warn!(%database, error = %e, "database not moved");
                first_error.get_or_insert_with(|| db_failure(TransferPhase::Databases, &e));
            }
            Err(e) => {
                first_error.get_or_insert_with(|| {
                    StepFailure::new(
                        TransferPhase::Databases,
                        format!("database copy task: {e}"),
                        true,
                    )
                });
            }
        }
    }
    if let Some(failure) = first_error {
        return Err(failure);
    }
    reports.sort_by_key(|(index, _)| *index);
    reporter.report(TransferPhase::Databases, None, total, total);
    let bytes = ferry_events::input::total_bytes(reports.iter().map(|(_, r)| r.dump_bytes));
    let (checks, methods) = reports
        .into_iter()
        .map(|(_, r)| (r.check.clone(), r.method_used()))
        .unzip();
    Ok((checks, methods, bytes))
}

pub(crate) fn db_failure(phase: TransferPhase, error: &DbError) -> StepFailure {
    let phase = if matches!(error, DbError::Mismatch { .. }) {
        TransferPhase::Verifying
    } else {
        phase
    };
    StepFailure::new(phase, error.to_string(), error.retryable())
}

/// Drops a copy (a discarded test copy), with the copy it replaced if any.
pub(crate) async fn drop_copy(
    engine: DatabaseEngine,
    url: &str,
    name: &str,
) -> Result<(), DbError> {
    for name in [name.to_owned(), databases::replaced_name(name)] {
        match engine {
            DatabaseEngine::Postgres => databases::discard::postgres_copy(url, &name).await?,
            DatabaseEngine::Mysql => databases::discard::mysql_copy(url, &name).await?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_taken_out_of_the_url() {
        assert_eq!(
            located("postgres://u@h:5432/postgres?prefix=tr1_"),
            ("postgres://u@h:5432/postgres".to_owned(), "tr1_".to_owned())
        );
        assert_eq!(
            located("postgres://u@h/postgres?sslmode=disable&prefix=a_"),
            (
                "postgres://u@h/postgres?sslmode=disable".to_owned(),
                "a_".to_owned()
            )
        );
        assert_eq!(
            located("mysql://root@h"),
            ("mysql://root@h".to_owned(), String::new())
        );
        assert_eq!(
            located("postgres://u@h/postgres?options=-c%20x%3D1&prefix=t%5F1_"),
            (
                "postgres://u@h/postgres?options=-c%20x%3D1".to_owned(),
                "t_1_".to_owned()
            )
        );
        assert_eq!(
            located("host=/run/postgresql dbname=x"),
            ("host=/run/postgresql dbname=x".to_owned(), String::new())
        );
    }

    #[test]
    fn test_names_are_short_unique_and_stable() {
        let a = test_name("srv-1", "shop");
        assert_eq!(a, test_name("srv-1", "shop"));
        assert_ne!(a, test_name("srv-2", "shop"));
        assert!(a.ends_with("_shop") && a.len() <= 47, "{a}");
        assert!(test_name("s", &"x".repeat(60)).len() <= 47);
    }
}
