//! Verification: each table's row count and content checksum at both ends, compared
//! before any switch, and summarised into the event's [`DatabaseCheck`].
//!
//! - PostgreSQL: per table, `count(*)` and the sum (as two 64-bit halves) of the md5 of
//!   each row's text form, in a session with fixed output settings (UTC, ISO dates,
//!   hex bytea) so that both servers render rows alike. The sum does not depend on row
//!   order and, unlike `string_agg`, is not limited to 1 GB per table.
//! - MySQL/MariaDB: per table, the row count and the sum (as two 64-bit halves) of
//!   the md5 of each row's columns as bytes ([`mysql::checksum`], in key-range chunks).
//!
//! The event records one checksum over the per-table ones: SHA-256, its first 128 bits
//! in hex.

use ferry_events::transfer::DatabaseCheck;
use ferry_events::values::DatabaseEngine;
use sha2::{Digest, Sha256};
use url::Url;

use super::{CopyPhase, CopySpec, DbError, mysql, postgres};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One table's row count and content checksum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableCheck {
    /// The table: `schema.table` for PostgreSQL, `table` for MySQL.
    pub table: String,
    /// Its number of rows.
    pub rows: u64,
    /// Its content checksum (engine-specific form).
    pub checksum: String,
}

/// Every table of one database, checked at one end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseChecksums {
    /// The engine.
    pub engine: DatabaseEngine,
    /// The database name at that end.
    pub name: String,
    /// Its tables, sorted by name (views and sequences are not tables).
    pub tables: Vec<TableCheck>,
}

impl DatabaseChecksums {
    /// The summary of these checks as recorded in the event: number of tables, total
    /// rows, and one checksum over the per-table ones (the first 128 bits of their
    /// SHA-256, 32 hex digits: as long as the recorded checksums have always been).
    pub fn summary(&self) -> DatabaseCheck {
        let mut lines = String::new();
        for t in &self.tables {
            lines.push_str(&format!("{}\t{}\t{}\n", t.table, t.rows, t.checksum));
        }
        DatabaseCheck {
            engine: self.engine,
            name: self.name.clone(),
            tables: self.tables.len() as u64,
            rows: self.tables.iter().map(|t| t.rows).sum(),
            checksum: hex(&Sha256::digest(lines.as_bytes())[..16]),
        }
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The engine a connection URL points at, from its scheme.
pub fn engine_of(url: &str) -> Result<DatabaseEngine, DbError> {
    // The parser's message never quotes the URL, so no password reaches a log.
    let parsed = Url::parse(url).map_err(|e| DbError::InvalidUrl {
        reason: format!("{e} (postgres:// or mysql://)"),
    })?;
    match parsed.scheme() {
        "postgres" | "postgresql" => Ok(DatabaseEngine::Postgres),
        "mysql" | "mariadb" => Ok(DatabaseEngine::Mysql),
        scheme => Err(DbError::InvalidUrl {
            reason: format!("unknown scheme {scheme:?} (postgres:// or mysql://)"),
        }),
    }
}

/// Compares the staging copy `staging` at the destination with the source database,
/// both ends at once, in a form both servers compute alike (PostgreSQL: binary row
/// hashes when both run 14 or later, text otherwise). Returns the time it took and
/// the destination's check under its final name.
///
/// # Errors
/// [`DbError::Mismatch`] naming the tables that differ; [`DbError::Interrupted`].
pub async fn staging_against_source(
    spec: &CopySpec,
    staging: &str,
    cancel: &CancellationToken,
) -> Result<(Duration, DatabaseCheck), DbError> {
    spec.phase(CopyPhase::Verifying);
    let started = Instant::now();
    let engine = engine_of(&spec.source_url)?;
    let pair = async {
        let binary = match engine {
            DatabaseEngine::Postgres => {
                postgres::row_hashes_at_both(&spec.source_url, &spec.destination_url).await?
            }
            DatabaseEngine::Mysql => false,
        };
        let (source, destination) = tokio::join!(
            checksum_with(&spec.source_url, &spec.database, binary),
            checksum_with(&spec.destination_url, staging, binary),
        );
        Ok::<_, DbError>((source?, destination?))
    };
    let (source, mut destination) = tokio::select! {
        pair = pair => pair?,
        () = cancel.cancelled() => return Err(DbError::Interrupted),
    };
    destination.name = spec.destination_name.clone();
    let check = compare(&source, &destination)?;
    if cancel.is_cancelled() {
        return Err(DbError::Interrupted);
    }
    Ok((started.elapsed(), check))
}

async fn checksum_with(
    url: &str,
    database: &str,
    binary: bool,
) -> Result<DatabaseChecksums, DbError> {
    let engine = engine_of(url)?;
    let mut tables = match engine {
        DatabaseEngine::Postgres => postgres::checksum_in(url, database, binary).await?,
        DatabaseEngine::Mysql => mysql::checksum(url, database).await?,
    };
    tables.sort();
    Ok(DatabaseChecksums {
        engine,
        name: database.to_owned(),
        tables,
    })
}

/// Row counts and checksums of every table of `database` on the server at `url`
/// (PostgreSQL or MySQL/MariaDB, from the URL's scheme). Only reads.
///
/// PostgreSQL rows are hashed from their binary values when the server runs 14 or
/// later, from their text form otherwise: compare checksums of servers of either kind
/// only, as [`staging_against_source`] does.
pub async fn checksum(url: &str, database: &str) -> Result<DatabaseChecksums, DbError> {
    let binary = match engine_of(url)? {
        DatabaseEngine::Postgres => postgres::row_hashes_at_both(url, url).await?,
        DatabaseEngine::Mysql => false,
    };
    checksum_with(url, database, binary).await
}

/// Compares a destination with its source table by table: the destination's
/// [`DatabaseCheck`] if every table has the same rows and checksum at both ends,
/// else [`DbError::Mismatch`] naming the tables that differ or are missing at one end.
pub fn compare(
    source: &DatabaseChecksums,
    destination: &DatabaseChecksums,
) -> Result<DatabaseCheck, DbError> {
    let mut differing: Vec<String> = Vec::new();
    for s in &source.tables {
        match destination.tables.iter().find(|d| d.table == s.table) {
            Some(d) if d.rows == s.rows && d.checksum == s.checksum => {}
            _ => differing.push(s.table.clone()),
        }
    }
    for d in &destination.tables {
        if !source.tables.iter().any(|s| s.table == d.table) {
            differing.push(d.table.clone());
        }
    }
    if source.engine != destination.engine {
        differing.push("(engine)".to_owned());
    }
    if !differing.is_empty() {
        differing.sort();
        differing.dedup();
        return Err(DbError::Mismatch { tables: differing });
    }
    Ok(destination.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(name: &str, tables: &[(&str, u64, &str)]) -> DatabaseChecksums {
        DatabaseChecksums {
            engine: DatabaseEngine::Postgres,
            name: name.to_owned(),
            tables: tables
                .iter()
                .map(|(t, r, c)| TableCheck {
                    table: (*t).to_owned(),
                    rows: *r,
                    checksum: (*c).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn equal_databases_give_the_destination_summary() -> Result<(), DbError> {
        let a = checks("src", &[("public.a", 3, "x"), ("public.b", 2, "y")]);
        let b = checks("dst", &[("public.a", 3, "x"), ("public.b", 2, "y")]);
        let check = compare(&a, &b)?;
        assert_eq!(
            (check.name.as_str(), check.tables, check.rows),
            ("dst", 2, 5)
        );
        assert_eq!(check.checksum, a.summary().checksum);
        assert_eq!(check.checksum.len(), 32);
        assert!(check.checksum.chars().all(|c| c.is_ascii_hexdigit()));
        Ok(())
    }

    #[test]
    fn the_summary_checksum_is_sha256_of_the_table_lines() {
        let a = checks("src", &[("public.a", 3, "x"), ("public.b", 2, "y")]);
        // sha256("public.a\t3\tx\npublic.b\t2\ty\n"), its first 16 bytes.
        assert_eq!(a.summary().checksum, "912769046273e96a23788e57bc0b3982");
    }

    #[test]
    fn differences_and_missing_tables_are_named() {
        let a = checks("src", &[("public.a", 3, "x"), ("public.b", 2, "y")]);
        let b = checks("dst", &[("public.a", 3, "z"), ("public.c", 2, "y")]);
        match compare(&a, &b) {
            Err(DbError::Mismatch { tables }) => {
                assert_eq!(tables, ["public.a", "public.b", "public.c"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn engines_come_from_url_schemes() {
        assert!(matches!(
            engine_of("postgres://u@h/db"),
            Ok(DatabaseEngine::Postgres)
        ));
        assert!(matches!(
            engine_of("mysql://root@h:3306"),
            Ok(DatabaseEngine::Mysql)
        ));
        assert!(engine_of("redis://h").is_err());
        assert!(engine_of("host=/run/postgresql dbname=shop").is_err());
    }
}
