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
//!   snapshot `T`. Before each snapshot, a change capture is opened on that side
//!   ([`super::capture`]: a temporary logical slot), and each side remembers its
//!   snapshot's **xmin horizon** (every transaction whose changes that snapshot does
//!   not see has an id at or above it) and its tables' **shapes** (their columns).
//! - [`frozen_check`], the source frozen and replication drained: what each side
//!   wrote since its snapshot is known
//!   - from its capture: the chunks of every row inserted, updated or deleted (at
//!     the destination, those written other than by the subscription, whose changes
//!     are the source's), or else
//!   - by scanning its tables once without hashing: per chunk the row count and
//!     whether a row's `xmin` lies between its horizon and the next transaction id
//!     (a deletion lowers the count, an insertion or update shows its xmin).
//!
//!   A chunk unchanged on both sides holds the very rows it held when hashed, so its
//!   live hashes stand if they were equal; every other chunk is hashed again on both
//!   sides. A table whose shape changed (a column added, dropped or retyped changes
//!   every row without writing one), written whole (a truncation, a change without
//!   its key), or not there live, is hashed whole on both sides. Then both sides'
//!   checks are compared as usual.
//!
//! `xmin` is the raw 32-bit id even on frozen tuples, so the test is modular; it
//! can only err towards hashing again (a chunk wrongly seen as changed), never the
//! other way, as long as fewer than 2^31 transactions ran in between.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::capture::{Capture, Origin};
use super::{close, connect, ident, list_tables, query_error, start_checks};
use crate::databases::DbError;
use crate::databases::chunks::{self, Chunks, Rehash, Sums, Touched, merged, parse_sum, total};
use crate::databases::endpoint::Endpoint;
use crate::databases::verify::{DatabaseChecksums, TableCheck};
use ferry_events::values::DatabaseEngine;

/// Key values per chunk, as a shift: 2^14.
pub(super) const CHUNK_BITS: u32 = 14;
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
    /// The integer primary key column, if the table has one.
    key: Option<String>,
    form: Form,
}

/// The live check of a database copy: both sides' chunks, horizons, shapes and
/// change captures.
#[derive(Debug)]
pub struct LiveCheck {
    tables: Vec<(Table, Chunks, Chunks)>,
    horizons: (i64, i64),
    shapes: (Shapes, Shapes),
    captures: (Option<Capture>, Option<Capture>),
    binary: bool,
}

impl LiveCheck {
    /// The chunks whose hashes differed live (changing meanwhile): hashed again
    /// when frozen.
    pub fn differing_chunks(&self) -> usize {
        self.tables
            .iter()
            .map(|(_, source, destination)| {
                let keys: BTreeSet<_> = source.keys().chain(destination.keys()).collect();
                keys.into_iter()
                    .filter(|k| source.get(k) != destination.get(k))
                    .count()
            })
            .sum()
    }

    /// Whether changes are captured at (source, destination).
    pub fn captured(&self) -> (bool, bool) {
        (self.captures.0.is_some(), self.captures.1.is_some())
    }

    /// Ends the change captures (dropping their slots).
    pub async fn close(self) {
        let (source, destination) = self.captures;
        for capture in [source, destination].into_iter().flatten() {
            capture.close().await;
        }
    }

    /// Each live table's integer key column, by name.
    fn keys(&self) -> BTreeMap<String, Option<String>> {
        self.tables
            .iter()
            .map(|(t, ..)| (t.name.clone(), t.key.clone()))
            .collect()
    }
}

/// Each table's shape (a digest of its columns), by `schema.table`.
type Shapes = BTreeMap<String, String>;

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
    let source_capture = capture(source, Origin::All).await;
    let (endpoint, client, task) = open(source).await?;
    let hashed = async {
        let (horizon, lsn) = snapshot(&endpoint, &client).await?;
        let shapes = shapes(&endpoint, &client).await?;
        let mut tables = Vec::new();
        for (schema, name) in list_tables(&endpoint, &client).await? {
            let table = describe(&endpoint, &client, &schema, &name, binary).await?;
            let chunks = hash(&endpoint, &client, &table, None).await?;
            tables.push((table, chunks));
        }
        end(&endpoint, &client).await?;
        Ok::<_, DbError>((horizon, lsn, shapes, tables))
    }
    .await;
    close(client, task).await;
    let checked = async {
        let (source_horizon, lsn, source_shapes, hashed) = hashed.map_err(|e| (e, None))?;
        applied(lsn).await.map_err(|e| (e, None))?;
        let destination_capture = capture(destination, Origin::Local).await;
        let (endpoint, client, task) = match open(destination).await {
            Ok(opened) => opened,
            Err(e) => return Err((e, destination_capture)),
        };
        let checked = async {
            let (horizon, _) = snapshot(&endpoint, &client).await?;
            let shapes = shapes(&endpoint, &client).await?;
            let mut tables = Vec::new();
            for (table, source_chunks) in hashed {
                let chunks = hash(&endpoint, &client, &table, None).await?;
                tables.push((table, source_chunks, chunks));
            }
            end(&endpoint, &client).await?;
            Ok::<_, DbError>((horizon, shapes, tables))
        }
        .await;
        close(client, task).await;
        match checked {
            Ok((horizon, shapes, tables)) => Ok((
                (source_horizon, horizon),
                (source_shapes, shapes),
                tables,
                destination_capture,
            )),
            Err(e) => Err((e, destination_capture)),
        }
    }
    .await;
    match checked {
        Ok((horizons, shapes, tables, destination_capture)) => Ok(LiveCheck {
            tables,
            horizons,
            shapes,
            captures: (source_capture, destination_capture),
            binary,
        }),
        Err((e, destination_capture)) => {
            for capture in [source_capture, destination_capture].into_iter().flatten() {
                capture.close().await;
            }
            Err(e)
        }
    }
}

/// A change capture on `side`, if one can be had (else that side is scanned).
async fn capture(side: Side<'_>, origin: Origin) -> Option<Capture> {
    match Capture::open(side.url, side.database, origin).await {
        Ok(capture) => Some(capture),
        Err(e) => {
            tracing::info!(database = side.database, error = %e,
                "no change capture: the frozen check scans the tables");
            None
        }
    }
}

/// Both sides' checks, frozen, hashing again only what changed since `live` (see
/// the module). Compare them with [`crate::databases::verify::compare`].
pub async fn frozen_check(
    live: &LiveCheck,
    source: Side<'_>,
    destination: Side<'_>,
) -> Result<(DatabaseChecksums, DatabaseChecksums), DbError> {
    let (source_scan, destination_scan) = tokio::join!(
        Scan::open(source, live, Either::Source),
        Scan::open(destination, live, Either::Destination),
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
            let (source_chunks, destination_chunks) =
                check_table(live, &table, &source_scan, &destination_scan).await?;
            source_checks.push(table_check(&table, &source_chunks));
            destination_checks.push(table_check(&table, &destination_chunks));
        }
        // Tables only at the destination: counted there, so the comparison names them.
        for table in destination_scan.tables.clone() {
            if !source_scan.tables.iter().any(|t| t.name == table.name) {
                let chunks = destination_scan.hash_whole(&table).await?;
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

/// Both sides' chunks of `table` now: those hashed live that stand, the others
/// hashed again.
async fn check_table(
    live: &LiveCheck,
    table: &Table,
    source: &Scan,
    destination: &Scan,
) -> Result<(Chunks, Chunks), DbError> {
    let known = live
        .tables
        .iter()
        .find(|(t, ..)| t.name == table.name)
        .filter(|_| !source.reshaped.contains(&table.name))
        .filter(|_| !destination.reshaped.contains(&table.name));
    let Some((_, live_source, live_destination)) = known else {
        let (a, b) = tokio::join!(source.hash_whole(table), destination.hash_whole(table));
        return Ok((a?, b?));
    };
    let (a, b) = tokio::join!(source.changes(table), destination.changes(table));
    let (a, b) = (a?, b?);
    let Some(stale) = stale_chunks(live_source, live_destination, &a, &b) else {
        tracing::debug!(table = %table.name, "frozen check: written whole, hashed again");
        let (a, b) = tokio::join!(source.hash_whole(table), destination.hash_whole(table));
        return Ok((a?, b?));
    };
    tracing::debug!(table = %table.name, stale = stale.len(), "frozen check: chunks hashed again");
    let (fresh_source, fresh_destination) = tokio::join!(
        source.rehash(table, &stale, a.chunks(live_source)),
        destination.rehash(table, &stale, b.chunks(live_destination))
    );
    Ok((
        merged(live_source, &stale, fresh_source?),
        merged(live_destination, &stale, fresh_destination?),
    ))
}

/// What one side wrote in a table since its live snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Changes {
    /// Captured: the chunks written (`None`: the whole table).
    Captured(Option<BTreeSet<i64>>),
    /// Scanned: per chunk its rows and whether one was written.
    Scanned(BTreeMap<i64, (u64, bool)>),
}

impl Changes {
    /// How many chunks the table has now, as far as known.
    fn chunks(&self, live: &Chunks) -> usize {
        match self {
            Self::Captured(_) => live.len(),
            Self::Scanned(now) => now.len(),
        }
    }

    fn keys(&self) -> impl Iterator<Item = i64> + '_ {
        let (captured, scanned) = match self {
            Self::Captured(Some(chunks)) => (Some(chunks.iter().copied()), None),
            Self::Captured(None) => (None, None),
            Self::Scanned(now) => (None, Some(now.keys().copied())),
        };
        captured
            .into_iter()
            .flatten()
            .chain(scanned.into_iter().flatten())
    }

    /// Whether chunk `k`, as hashed `live`, holds the same rows now.
    fn unchanged(&self, live: &Chunks, k: i64) -> bool {
        match self {
            Self::Captured(Some(written)) => !written.contains(&k),
            Self::Captured(None) => false,
            Self::Scanned(now) => match (live.get(&k), now.get(&k)) {
                (Some(sums), Some((rows, changed))) => !changed && sums.rows == *rows,
                (None, None) => true,
                _ => false,
            },
        }
    }
}

/// The chunks to hash again: changed on either side since hashed live, or whose
/// live hashes differed, or present on one side only (gone ones among them).
/// `None`: the whole table (written whole on a side).
fn stale_chunks(
    live_source: &Chunks,
    live_destination: &Chunks,
    source: &Changes,
    destination: &Changes,
) -> Option<BTreeSet<i64>> {
    if [source, destination].contains(&&Changes::Captured(None)) {
        return None;
    }
    let keys: BTreeSet<i64> = live_source
        .keys()
        .chain(live_destination.keys())
        .copied()
        .chain(source.keys())
        .chain(destination.keys())
        .collect();
    Some(
        keys.into_iter()
            .filter(|k| {
                let verified = live_source.get(k) == live_destination.get(k);
                !(verified
                    && source.unchanged(live_source, *k)
                    && destination.unchanged(live_destination, *k))
            })
            .collect(),
    )
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

/// Which side of the live check.
#[derive(Debug, Clone, Copy)]
enum Either {
    Source,
    Destination,
}

/// One side, frozen, in one snapshot: its tables, what it wrote since its live
/// snapshot (captured), or the window of transaction ids since (to scan).
struct Scan {
    endpoint: Endpoint,
    client: Client,
    task: tokio::task::JoinHandle<()>,
    database: String,
    tables: Vec<Table>,
    /// The tables whose shape is not the one hashed live.
    reshaped: BTreeSet<String>,
    /// What the side's capture decoded, if it has one that worked.
    captured: Option<Touched>,
    /// The live horizon, modulo 2^32, and how many ids were assigned from it on.
    horizon: i64,
    window: i64,
}

impl Scan {
    async fn open(side: Side<'_>, live: &LiveCheck, which: Either) -> Result<Scan, DbError> {
        let (horizon, live_shapes, capture) = match which {
            Either::Source => (live.horizons.0, &live.shapes.0, live.captures.0.as_ref()),
            Either::Destination => (live.horizons.1, &live.shapes.1, live.captures.1.as_ref()),
        };
        let decoded = async {
            let capture = capture?;
            match capture.touched(&live.keys()).await {
                Ok(touched) => Some(touched),
                Err(e) => {
                    tracing::warn!(database = side.database, error = %e,
                        "change capture lost: the frozen check scans the tables");
                    None
                }
            }
        };
        let started = std::time::Instant::now();
        let (captured, opened) = tokio::join!(decoded, open(side));
        tracing::debug!(
            database = side.database,
            captured = captured.is_some(),
            ms = started.elapsed().as_millis(),
            "frozen check: changes read"
        );
        let (endpoint, client, task) = opened?;
        let described = async {
            let next: i64 = client
                .query_one("SELECT txid_snapshot_xmax(txid_current_snapshot())", &[])
                .await
                .map_err(|e| query_error(&endpoint, "reading the next transaction id", &e))?
                .get(0);
            let now = shapes(&endpoint, &client).await?;
            let reshaped = now
                .iter()
                .filter(|(name, shape)| live_shapes.get(*name) != Some(*shape))
                .map(|(name, _)| name.clone())
                .collect();
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
            Ok::<_, DbError>((next, reshaped, tables))
        }
        .await;
        match described {
            Ok((next, reshaped, tables)) => Ok(Scan {
                endpoint,
                client,
                task,
                database: side.database.to_owned(),
                tables,
                reshaped,
                captured,
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

    /// What the side wrote in `table` since its live snapshot.
    async fn changes(&self, table: &Table) -> Result<Changes, DbError> {
        match &self.captured {
            Some(touched) => Ok(Changes::Captured(
                touched
                    .get(&table.name)
                    .cloned()
                    .unwrap_or_else(|| Some(BTreeSet::new())),
            )),
            None => self.scanned(table).await.map(Changes::Scanned),
        }
    }

    /// Per chunk: its rows, and whether one was written since the live snapshot.
    async fn scanned(&self, table: &Table) -> Result<BTreeMap<i64, (u64, bool)>, DbError> {
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

    /// Every chunk of `table`.
    async fn hash_whole(&self, table: &Table) -> Result<Chunks, DbError> {
        hash(&self.endpoint, &self.client, table, None).await
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

/// Every table's shape: a digest of its columns (number, name, type, dropped), which
/// a column added, dropped or retyped changes.
async fn shapes(endpoint: &Endpoint, client: &Client) -> Result<Shapes, DbError> {
    let rows = client
        .query(
            "SELECT n.nspname::text || '.' || c.relname::text,
                    md5(string_agg(concat_ws(':', a.attnum, a.attname, a.atttypid, a.atttypmod,
                                             a.attisdropped), ',' ORDER BY a.attnum))
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
              WHERE c.relkind = 'r'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              GROUP BY 1",
            &[],
        )
        .await
        .map_err(|e| query_error(endpoint, "reading the tables' columns", &e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
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
        .map(|row| row.get::<_, String>(0));
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
        Some(key) => format!("({}::bigint >> {CHUNK_BITS})", ident(key)),
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
        // Both bounds, so that even a table never analyzed (a fresh copy) is read
        // through its key's index, not scanned whole.
        (Some(c), Some(key)) => format!(
            "WHERE {key} BETWEEN {lo}::bigint AND {hi}::bigint AND {number} = {c}",
            key = ident(key),
            lo = c << CHUNK_BITS,
            hi = (c << CHUNK_BITS) + ((1 << CHUNK_BITS) - 1)
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
        let source = Changes::Scanned(
            [
                (0, (10, false)),
                (1, (10, true)),
                (2, (5, false)),
                (3, (1, true)),
            ]
            .into(),
        );
        let mut scanned: BTreeMap<i64, (u64, bool)> = [
            (0, (9, false)), // a row deleted at the destination
            (1, (10, false)),
            (2, (5, false)),
            (3, (1, true)),
        ]
        .into();
        let destination = Changes::Scanned(scanned.clone());
        assert_eq!(
            stale_chunks(&live_source, &live_destination, &source, &destination),
            Some(BTreeSet::from([0, 1, 2, 3]))
        );
        scanned.insert(0, (10, false));
        let destination = Changes::Scanned(scanned);
        assert_eq!(
            stale_chunks(&live_source, &live_destination, &source, &destination),
            Some(BTreeSet::from([1, 2, 3]))
        );
    }

    #[test]
    fn captured_changes_name_the_stale_chunks_and_a_whole_write_the_table() {
        let live: Chunks = [(0, sums(10, 1)), (1, sums(10, 2)), (2, sums(5, 3))].into();
        let source = Changes::Captured(Some([1, 7].into()));
        let untouched = Changes::Captured(Some(BTreeSet::new()));
        assert_eq!(
            stale_chunks(&live, &live, &source, &untouched),
            Some(BTreeSet::from([1, 7]))
        );
        // One side captured, the other scanned: a deletion there still counts.
        let scanned =
            Changes::Scanned([(0, (10, false)), (1, (10, false)), (2, (4, false))].into());
        assert_eq!(
            stale_chunks(&live, &live, &untouched, &scanned),
            Some(BTreeSet::from([2]))
        );
        assert_eq!(
            stale_chunks(&live, &live, &source, &Changes::Captured(None)),
            None
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
