//! Verification in key-range chunks, so that a cutover does not hash a whole
//! database again while it is frozen.
//!
//! A table's checksum is a **sum** of row hashes (see [`super::checksum_in`]), so it
//! is the sum of its chunks' sums: rows grouped by their single-column integer
//! primary key (`key >> 14`, 16,384 key values per chunk; a table without one is a
//! single chunk). The tables' checks built from chunks are therefore exactly those
//! [`super::checksum_in`] computes.
//!
//! - [`live_check`], the account live: every chunk hashed at the source in one
//!   snapshot `S`, then at the destination (once it applied the WAL up to `S`) in a
//!   snapshot `T`; each side remembers its snapshot's **xmin horizon**: every
//!   transaction whose changes that snapshot does not see has an id at or above it.
//! - [`frozen_check`], the source frozen and replication drained: each side scans
//!   its tables once without hashing, per chunk the row count and whether a row's
//!   `xmin` lies between its horizon and the next transaction id (written, inserted
//!   or updated, since its snapshot). A chunk unchanged on both sides (no such row,
//!   the same count: a deletion lowers it, an insertion or update shows its xmin)
//!   holds the very rows it held when hashed, so its live hashes stand if they were
//!   equal; every other chunk, and every table that was not there live, is hashed
//!   again on both sides. Then both sides' checks are compared as usual.
//!
//! `xmin` is the raw 32-bit id even on frozen tuples, so the test is modular; it
//! can only err towards hashing again (a chunk wrongly seen as changed), never the
//! other way, as long as fewer than 2^31 transactions ran in between.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::{close, connect, ident, list_tables, query_error, start_checks};
use crate::databases::DbError;
use crate::databases::chunks::{self, Chunks, Rehash, Sums, merged, parse_sum, total};
use crate::databases::endpoint::Endpoint;
use crate::databases::verify::{DatabaseChecksums, TableCheck};
use ferry_events::values::DatabaseEngine;

/// Key values per chunk, as a shift: 2^14.
const CHUNK_BITS: u32 = 14;
/// xids are 32-bit on disk.
const XID_SPACE: i64 = 1 << 32;

/// How a table's rows are hashed (as [`super::checksum_in`] does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `hash_record_extended` of the row (both servers 14 or later, and every
    /// column type has a hash function).
    Binary,
    /// md5 of the row's text form, as two 64-bit halves.
    Text,
}

/// A table as both checks know it.
#[derive(Debug, Clone)]
struct Table {
    /// `schema.table`.
    name: String,
    /// Quoted, for SQL.
    relation: String,
    /// The quoted integer primary key column, if the table has one.
    key: Option<String>,
    form: Form,
}

/// The live check of a database copy: both sides' chunks and horizons.
#[derive(Debug, Clone)]
pub struct LiveCheck {
    tables: Vec<(Table, Chunks, Chunks)>,
    horizons: (i64, i64),
    binary: bool,
}

impl LiveCheck {
    /// The chunks whose hashes differed live (changing meanwhile): hashed again
    /// when frozen.
    pub fn differing_chunks(&self) -> usize {
        self.tables
            .iter()
            .map(|(_, source, destination)| {
                let keys: std::collections::BTreeSet<_> =
                    source.keys().chain(destination.keys()).collect();
                keys.into_iter()
                    .filter(|k| source.get(k) != destination.get(k))
                    .count()
            })
            .sum()
    }
}

/// A database to check: the server's URL and the database's name there.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The server.
    pub url: &'a str,
    /// The database.
    pub database: &'a str,
}

/// Hashes every chunk of `source`, then (once `applied` says the destination has
/// applied the source's WAL up to the source's snapshot, an LSN) of `destination`.
/// `binary`: both servers hash binary rows (see [`super::row_hashes_at_both`]).
pub async fn live_check<F, Fut>(
    source: Side<'_>,
    destination: Side<'_>,
    binary: bool,
    applied: F,
) -> Result<LiveCheck, DbError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), DbError>>,
{
    let (endpoint, client, task) = open(source).await?;
    let hashed = async {
        let (horizon, lsn) = snapshot(&endpoint, &client).await?;
        let mut tables = Vec::new();
        for (schema, name) in list_tables(&endpoint, &client).await? {
            let table = describe(&endpoint, &client, &schema, &name, binary).await?;
            let chunks = hash(&endpoint, &client, &table, None).await?;
            tables.push((table, chunks));
        }
        end(&endpoint, &client).await?;
        Ok::<_, DbError>((horizon, lsn, tables))
    }
    .await;
    close(client, task).await;
    let (source_horizon, lsn, hashed) = hashed?;
    applied(lsn).await?;
    let (endpoint, client, task) = open(destination).await?;
    let checked = async {
        let (horizon, _) = snapshot(&endpoint, &client).await?;
        let mut tables = Vec::new();
        for (table, source_chunks) in hashed {
            let chunks = hash(&endpoint, &client, &table, None).await?;
            tables.push((table, source_chunks, chunks));
        }
        end(&endpoint, &client).await?;
        Ok::<_, DbError>((horizon, tables))
    }
    .await;
    close(client, task).await;
    let (destination_horizon, tables) = checked?;
    Ok(LiveCheck {
        tables,
        horizons: (source_horizon, destination_horizon),
        binary,
    })
}

/// Both sides' checks, frozen, hashing again only what changed since `live` (see
/// the module). Compare them with [`crate::databases::verify::compare`].
pub async fn frozen_check(
    live: &LiveCheck,
    source: Side<'_>,
    destination: Side<'_>,
) -> Result<(DatabaseChecksums, DatabaseChecksums), DbError> {
    let (source_scan, destination_scan) = tokio::join!(
        Scan::open(source, live.horizons.0, live),
        Scan::open(destination, live.horizons.1, live),
    );
    let (source_scan, destination_scan) = match (source_scan, destination_scan) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), Ok(open)) | (Ok(open), Err(e)) => {
            open.close().await;
            return Err(e);
        }
        (Err(e), Err(_)) => return Err(e),
    };
    let result = async {
        let mut source_checks = Vec::new();
        let mut destination_checks = Vec::new();
        for table in source_scan.tables.clone() {
            let known = live.tables.iter().find(|(t, ..)| t.name == table.name);
            let (source_chunks, destination_chunks) = match known {
                Some((_, live_source, live_destination)) => {
                    let (a, b) = tokio::join!(
                        source_scan.changed(&table),
                        destination_scan.changed(&table)
                    );
                    let (a, b) = (a?, b?);
                    let stale = stale_chunks(live_source, live_destination, &a, &b);
                    tracing::debug!(table = %table.name, chunks = a.len(), stale = stale.len(),
                        "frozen check: chunks hashed again");
                    let (fresh_source, fresh_destination) = tokio::join!(
                        source_scan.rehash(&table, &stale, a.len()),
                        destination_scan.rehash(&table, &stale, b.len())
                    );
                    (
                        merged(live_source, &stale, fresh_source?),
                        merged(live_destination, &stale, fresh_destination?),
                    )
                }
                None => {
                    let (a, b) = tokio::join!(
                        hash(&source_scan.endpoint, &source_scan.client, &table, None),
                        hash(
                            &destination_scan.endpoint,
                            &destination_scan.client,
                            &table,
                            None
                        )
                    );
                    (a?, b?)
                }
            };
            source_checks.push(table_check(&table, &source_chunks));
            destination_checks.push(table_check(&table, &destination_chunks));
        }
        // Tables only at the destination: counted there, so the comparison names them.
        for table in destination_scan.tables.clone() {
            if !source_scan.tables.iter().any(|t| t.name == table.name) {
                let chunks = hash(
                    &destination_scan.endpoint,
                    &destination_scan.client,
                    &table,
                    None,
                )
                .await?;
                destination_checks.push(table_check(&table, &chunks));
            }
        }
        Ok::<_, DbError>((source_checks, destination_checks))
    }
    .await;
    let (source_side, destination_side) = (source_scan.side_name(), destination_scan.side_name());
    source_scan.close().await;
    destination_scan.close().await;
    let (mut source_checks, mut destination_checks) = result?;
    source_checks.sort();
    destination_checks.sort();
    Ok((
        DatabaseChecksums {
            engine: DatabaseEngine::Postgres,
            name: source_side,
            tables: source_checks,
        },
        DatabaseChecksums {
            engine: DatabaseEngine::Postgres,
            name: destination_side,
            tables: destination_checks,
        },
    ))
}

/// The chunks to hash again: changed on either side since hashed live, or whose
/// live hashes differed, or present on one side only (gone ones among them).
fn stale_chunks(
    live_source: &Chunks,
    live_destination: &Chunks,
    source: &BTreeMap<i64, (u64, bool)>,
    destination: &BTreeMap<i64, (u64, bool)>,
) -> BTreeSet<i64> {
    let keys: BTreeSet<i64> = live_source
        .keys()
        .chain(live_destination.keys())
        .chain(source.keys())
        .chain(destination.keys())
        .copied()
        .collect();
    keys.into_iter()
        .filter(|k| {
            let unchanged =
                |live: &Chunks, now: &BTreeMap<i64, (u64, bool)>| match (live.get(k), now.get(k)) {
                    (Some(sums), Some((rows, changed))) => !changed && sums.rows == *rows,
                    (None, None) => true,
                    _ => false,
                };
            let verified = live_source.get(k) == live_destination.get(k);
            !(verified
                && unchanged(live_source, source)
                && unchanged(live_destination, destination))
        })
        .collect()
}

fn table_check(table: &Table, chunks: &Chunks) -> TableCheck {
    let total = total(chunks);
    let checksum = match table.form {
        Form::Binary => format!("b:{}", total.a),
        Form::Text => format!("t:{}:{}", total.a, total.b),
    };
    TableCheck {
        table: table.name.clone(),
        rows: total.rows,
        checksum,
    }
}

/// One side, frozen, in one snapshot: its tables and the window of transaction ids
/// since its live snapshot.
struct Scan {
    endpoint: Endpoint,
    client: Client,
    task: tokio::task::JoinHandle<()>,
    database: String,
    tables: Vec<Table>,
    /// The live horizon, modulo 2^32, and how many ids were assigned from it on.
    horizon: i64,
    window: i64,
}

impl Scan {
    async fn open(side: Side<'_>, horizon: i64, live: &LiveCheck) -> Result<Scan, DbError> {
        let (endpoint, client, task) = open(side).await?;
        let described = async {
            let next: i64 = client
                .query_one("SELECT txid_snapshot_xmax(txid_current_snapshot())", &[])
                .await
                .map_err(|e| query_error(&endpoint, "reading the next transaction id", &e))?
                .get(0);
            let mut tables = Vec::new();
            for (schema, name) in list_tables(&endpoint, &client).await? {
                let known = live
                    .tables
                    .iter()
                    .find(|(t, ..)| t.name == format!("{schema}.{name}"));
                tables.push(match known {
                    Some((table, ..)) => table.clone(),
                    None => describe(&endpoint, &client, &schema, &name, live.binary).await?,
                });
            }
            Ok::<_, DbError>((next, tables))
        }
        .await;
        match described {
            Ok((next, tables)) => Ok(Scan {
                endpoint,
                client,
                task,
                database: side.database.to_owned(),
                tables,
                horizon: horizon.rem_euclid(XID_SPACE),
                window: next - horizon,
            }),
            Err(e) => {
                close(client, task).await;
                Err(e)
            }
        }
    }

    fn side_name(&self) -> String {
        self.database.clone()
    }

    /// Per chunk: its rows, and whether one was written since the live snapshot.
    async fn changed(&self, table: &Table) -> Result<BTreeMap<i64, (u64, bool)>, DbError> {
        let sql = format!(
            "SELECT {chunk}, count(*)::bigint,
                    bool_or((xmin::text::bigint - $1 + {XID_SPACE}) % {XID_SPACE} < $2)
               FROM ONLY {relation} t GROUP BY 1",
            chunk = chunk_of(table),
            relation = table.relation,
        );
        let rows = self
            .client
            .query(&sql, &[&self.horizon, &self.window])
            .await
            .map_err(|e| query_error(&self.endpoint, &format!("changes of {}", table.name), &e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let count: i64 = r.get(1);
                let changed: Option<bool> = r.get(2);
                (
                    r.get::<_, i64>(0),
                    (
                        u64::try_from(count).unwrap_or_default(),
                        changed.unwrap_or(true),
                    ),
                )
            })
            .collect())
    }

    /// Hashes `stale` chunks again (see [`chunks::rehash`]).
    async fn rehash(
        &self,
        table: &Table,
        stale: &BTreeSet<i64>,
        chunks: usize,
    ) -> Result<Chunks, DbError> {
        let (endpoint, client) = (&self.endpoint, &self.client);
        match chunks::rehash(stale, chunks, table.key.is_some()) {
            Rehash::Nothing => Ok(Chunks::new()),
            Rehash::WholeTable => {
                let mut all = hash(endpoint, client, table, None).await?;
                all.retain(|k, _| stale.contains(k));
                Ok(all)
            }
            Rehash::Ranges => {
                let mut fresh = Chunks::new();
                for chunk in stale {
                    fresh.extend(hash(endpoint, client, table, Some(*chunk)).await?);
                }
                Ok(fresh)
            }
        }
    }

    async fn close(self) {
        let ended = end(&self.endpoint, &self.client).await;
        if let Err(e) = ended {
            tracing::debug!(error = %e, "end of a frozen check");
        }
        close(self.client, self.task).await;
    }
}

/// A session on `side` in the checks' settings and a repeatable-read transaction.
async fn open(side: Side<'_>) -> Result<(Endpoint, Client, tokio::task::JoinHandle<()>), DbError> {
    let (endpoint, config) = Endpoint::postgres(side.url)?;
    let (client, task) = connect(&endpoint, &config, Some(side.database)).await?;
    match start_checks(&endpoint, &client).await {
        Ok(()) => Ok((endpoint, client, task)),
        Err(e) => {
            close(client, task).await;
            Err(e)
        }
    }
}

async fn end(endpoint: &Endpoint, client: &Client) -> Result<(), DbError> {
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| query_error(endpoint, "end of checksums", &e))
}

/// The transaction's snapshot horizon (64-bit) and the WAL position then.
async fn snapshot(endpoint: &Endpoint, client: &Client) -> Result<(i64, String), DbError> {
    let row = client
        .query_one(
            "SELECT txid_snapshot_xmin(txid_current_snapshot()), pg_current_wal_lsn()::text",
            &[],
        )
        .await
        .map_err(|e| query_error(endpoint, "reading the snapshot", &e))?;
    Ok((row.get(0), row.get(1)))
}

/// A table's key (single-column integer primary key) and hash form.
async fn describe(
    endpoint: &Endpoint,
    client: &Client,
    schema: &str,
    name: &str,
    binary: bool,
) -> Result<Table, DbError> {
    let relation = format!("{}.{}", ident(schema), ident(name));
    let key = client
        .query_opt(
            "SELECT a.attname::text FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
              WHERE i.indrelid = $1::text::regclass AND i.indisprimary
                AND i.indnkeyatts = 1
                AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)",
            &[&relation],
        )
        .await
        .map_err(|e| query_error(endpoint, &format!("primary key of {schema}.{name}"), &e))?
        .map(|row| ident(&row.get::<_, String>(0)));
    let mut table = Table {
        name: format!("{schema}.{name}"),
        relation,
        key,
        form: if binary { Form::Binary } else { Form::Text },
    };
    if binary && !hashes_binary(client, &table).await {
        table.form = Form::Text;
    }
    Ok(table)
}

/// Whether every column of the table has a binary hash function (tried on no row).
async fn hashes_binary(client: &Client, table: &Table) -> bool {
    if client.batch_execute("SAVEPOINT ferry_form").await.is_err() {
        return false;
    }
    let sql = format!(
        "SELECT hash_record_extended(t, 0) FROM ONLY {} t LIMIT 0",
        table.relation
    );
    let ok = client.query(&sql, &[]).await.is_ok();
    let undo = if ok {
        "RELEASE SAVEPOINT ferry_form"
    } else {
        "ROLLBACK TO SAVEPOINT ferry_form"
    };
    client.batch_execute(undo).await.is_ok() && ok
}

/// The SQL of a row's chunk number.
fn chunk_of(table: &Table) -> String {
    match &table.key {
        Some(key) => format!("({key}::bigint >> {CHUNK_BITS})"),
        None => "0::bigint".to_owned(),
    }
}

/// Hashes `table`'s chunks: all of them, or only `chunk` (by its key range).
async fn hash(
    endpoint: &Endpoint,
    client: &Client,
    table: &Table,
    chunk: Option<i64>,
) -> Result<Chunks, DbError> {
    let number = chunk_of(table);
    let only = match (chunk, &table.key) {
        (Some(c), Some(key)) => format!(
            "WHERE {key} >= {lo}::bigint AND {number} = {c}",
            lo = c << CHUNK_BITS
        ),
        _ => String::new(),
    };
    let relation = &table.relation;
    let sql = match table.form {
        Form::Binary => format!(
            "SELECT {number}, count(*)::bigint,
                    coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text, '0'
               FROM ONLY {relation} t {only} GROUP BY 1"
        ),
        Form::Text => format!(
            "SELECT c, count(*)::bigint,
                    coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text,
                    coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
               FROM (SELECT {number} AS c, md5(t::text) AS h FROM ONLY {relation} t {only}) q
              GROUP BY 1"
        ),
    };
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| query_error(endpoint, &format!("checksum of {}", table.name), &e))?;
    let parse = |text: String| parse_sum(&text, &table.name, endpoint.display());
    let mut chunks = Chunks::new();
    for row in rows {
        let count: i64 = row.get(1);
        chunks.insert(
            row.get(0),
            Sums {
                rows: u64::try_from(count).unwrap_or_default(),
                a: parse(row.get(2))?,
                b: parse(row.get(3))?,
            },
        );
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(rows: u64, a: i128) -> Sums {
        Sums { rows, a, b: 0 }
    }

    #[test]
    fn only_chunks_unchanged_on_both_sides_and_equal_live_stand() {
        let live_source: Chunks = [(0, sums(10, 1)), (1, sums(10, 2)), (2, sums(5, 3))].into();
        let mut live_destination = live_source.clone();
        live_destination.insert(2, sums(4, 9)); // differed live (in flux)
        let source: BTreeMap<i64, (u64, bool)> = [
            (0, (10, false)),
            (1, (10, true)),
            (2, (5, false)),
            (3, (1, true)),
        ]
        .into();
        let mut destination = source.clone();
        destination.insert(1, (10, false));
        destination.insert(0, (9, false)); // a row deleted at the destination
        assert_eq!(
            stale_chunks(&live_source, &live_destination, &source, &destination),
            BTreeSet::from([0, 1, 2, 3])
        );
        destination.insert(0, (10, false));
        assert_eq!(
            stale_chunks(&live_source, &live_destination, &source, &destination),
            BTreeSet::from([1, 2, 3])
        );
    }

    #[test]
    fn a_tables_check_is_the_sum_of_its_chunks_in_the_full_checks_form() {
        let table = |form| Table {
            name: "public.items".into(),
            relation: "\"public\".\"items\"".into(),
            key: None,
            form,
        };
        let chunks: Chunks = [
            (
                0,
                Sums {
                    rows: 2,
                    a: -5,
                    b: 7,
                },
            ),
            (
                1,
                Sums {
                    rows: 1,
                    a: 3,
                    b: 1,
                },
            ),
        ]
        .into();
        assert_eq!(table_check(&table(Form::Binary), &chunks).checksum, "b:-2");
        assert_eq!(table_check(&table(Form::Text), &chunks).checksum, "t:-2:8");
        assert_eq!(table_check(&table(Form::Text), &chunks).rows, 3);
        assert_eq!(
            table_check(&table(Form::Binary), &Chunks::new()).checksum,
            "b:0"
        );
    }
}
