//! The live check of a binary-log copy, and the frozen verification it shortens.
//!
//! [`BinlogCopy::check_live`]: caught up to a position `P1`, every table is hashed
//! in key-range chunks ([`crate::databases::mysql::chunks`]) at the live source and
//! at the staging copy (which nothing changes meanwhile); then a catch-up to `P2`,
//! whose row images name the chunks written. A change committed at the source
//! before its hash read it is in the binary log before `P2` (MariaDB writes the
//! binary log before the engine commits), so a chunk no row event touched in
//! `(P1, P2]` and equal at both ends holds the same rows at both.
//!
//! [`BinlogCopy::verify_after_live`], frozen after the last catch-up: the chunks
//! touched since `P1` (all of a table whose touched rows' keys were not read), or
//! that differed live, are hashed again at both ends; the others' live sums stand.
//! Tables that were not there live are hashed whole.

use std::collections::BTreeSet;

use tokio_util::sync::CancellationToken;

use super::BinlogCopy;
use super::filter::Touched;
use crate::databases::DbError;
use crate::databases::chunks::{self as shared, Rehash};
use crate::databases::mysql::chunks::{self, Chunks, Table, describe, table_check};
use crate::databases::mysql::client::Client;
use crate::databases::mysql::tables_of;
use crate::databases::verify::{DatabaseChecksums, TableCheck, compare};
use ferry_events::transfer::DatabaseCheck;
use ferry_events::values::DatabaseEngine;

/// Both ends' chunks of every table, hashed live.
#[derive(Debug, Clone)]
pub(super) struct LiveCheck {
    tables: Vec<(Table, Chunks, Chunks)>,
}

impl BinlogCopy {
    /// Caught up, the account live: hashes every table in chunks at both ends, then
    /// catches up again noting the chunks written meanwhile (see the module). The
    /// finish then hashes only those, and those written later. A failure to hash is
    /// logged and leaves the finish to hash everything; a catch-up's failure is
    /// returned as [`BinlogCopy::catch_up`]'s.
    pub async fn check_live(&mut self, cancel: &CancellationToken) -> Result<(), DbError> {
        self.catch_up(cancel).await?;
        match self.hash_live(cancel).await {
            Ok(live) => {
                self.live = Some(live);
                // `(P1, P2]`: what the hashes may have missed.
                self.catch_up(cancel).await?;
                tracing::info!(database = %self.spec.database, touched = self.touched.len(),
                    "mysql database checked live");
            }
            Err(DbError::Interrupted) => return Err(DbError::Interrupted),
            Err(e) => {
                self.keys.clear();
                tracing::warn!(database = %self.spec.database, error = %e,
                    "no live check: the whole database is hashed while frozen");
            }
        }
        Ok(())
    }

    /// Whether [`BinlogCopy::check_live`] hashed the database live.
    pub fn checked_live(&self) -> bool {
        self.live.is_some()
    }

    async fn hash_live(&mut self, cancel: &CancellationToken) -> Result<LiveCheck, DbError> {
        self.touched.clear();
        let names = tables_of(&self.src, &self.spec.database, &["BASE TABLE"], cancel).await?;
        let mut source = Client::connect(&self.src, cancel).await?;
        let mut staging = Client::connect(&self.dst, cancel).await?;
        let hashed = async {
            let mut tables = Vec::with_capacity(names.len());
            for name in &names {
                tables.push(describe(&mut source, &self.spec.database, name, cancel).await?);
            }
            // Known before anything is hashed: the next catch-ups read their keys.
            self.keys = tables
                .iter()
                .filter_map(|t| t.key.as_ref().map(|(_, at)| (t.name.clone(), *at)))
                .collect();
            let mut live = Vec::with_capacity(tables.len());
            for table in tables {
                let (a, b) = tokio::join!(
                    chunks::hash(&mut source, &self.spec.database, &table, None, cancel),
                    chunks::hash(&mut staging, &self.staging, &table, None, cancel),
                );
                live.push((table, a?, b?));
            }
            Ok::<_, DbError>(LiveCheck { tables: live })
        }
        .await;
        source.close().await;
        staging.close().await;
        hashed
    }

    /// Adds what a catch-up's row events touched.
    pub(super) fn touch(&mut self, touched: Touched) {
        crate::databases::chunks::touch(&mut self.touched, touched);
    }

    /// Frozen, after the last catch-up: the staging copy against the source, hashing
    /// again only what changed since the live check (see the module). `None` without
    /// a live check.
    pub(super) async fn verify_after_live(
        &self,
        cancel: &CancellationToken,
    ) -> Option<Result<(std::time::Duration, DatabaseCheck), DbError>> {
        let live = self.live.as_ref()?;
        let started = std::time::Instant::now();
        let checked = self.frozen_checks(live, cancel).await;
        Some(checked.and_then(|(source, mut destination)| {
            destination.name = self.spec.destination_name.clone();
            Ok((started.elapsed(), compare(&source, &destination)?))
        }))
    }

    async fn frozen_checks(
        &self,
        live: &LiveCheck,
        cancel: &CancellationToken,
    ) -> Result<(DatabaseChecksums, DatabaseChecksums), DbError> {
        let names = tables_of(&self.src, &self.spec.database, &["BASE TABLE"], cancel).await?;
        let staged = tables_of(&self.dst, &self.staging, &["BASE TABLE"], cancel).await?;
        let mut source = Client::connect(&self.src, cancel).await?;
        let mut staging = Client::connect(&self.dst, cancel).await?;
        let checked = async {
            let (mut at_source, mut at_staging) = (Vec::new(), Vec::new());
            for name in &names {
                let known = live.tables.iter().find(|(t, ..)| &t.name == name);
                let (table, a, b) = match known {
                    Some((table, live_source, live_staging)) => {
                        let stale = self.stale(table, live_source, live_staging);
                        let all = live_source.len().max(live_staging.len());
                        let (a, b) = tokio::join!(
                            rehash(&mut source, &self.spec.database, table, &stale, all, cancel),
                            rehash(&mut staging, &self.staging, table, &stale, all, cancel),
                        );
                        (
                            table.clone(),
                            merged(live_source, &stale, a?),
                            merged(live_staging, &stale, b?),
                        )
                    }
                    None => {
                        let table =
                            describe(&mut source, &self.spec.database, name, cancel).await?;
                        let (a, b) = tokio::join!(
                            chunks::hash(&mut source, &self.spec.database, &table, None, cancel),
                            chunks::hash(&mut staging, &self.staging, &table, None, cancel),
                        );
                        (table, a?, b?)
                    }
                };
                at_source.push(table_check(&table, &a));
                at_staging.push(table_check(&table, &b));
            }
            // A table only at the staging copy: named by the comparison.
            for name in staged.iter().filter(|n| !names.contains(n)) {
                at_staging.push(TableCheck {
                    table: name.clone(),
                    rows: 0,
                    checksum: String::new(),
                });
            }
            Ok::<_, DbError>((at_source, at_staging))
        }
        .await;
        source.close().await;
        staging.close().await;
        let (mut at_source, mut at_staging) = checked?;
        at_source.sort();
        at_staging.sort();
        let side = |name: &str, tables| DatabaseChecksums {
            engine: DatabaseEngine::Mysql,
            name: name.to_owned(),
            tables,
        };
        Ok((
            side(&self.spec.database, at_source),
            side(&self.staging, at_staging),
        ))
    }

    /// The chunks of `table` to hash again: touched since the live check, or unequal
    /// live. `None`: all of them.
    fn stale(&self, table: &Table, source: &Chunks, staging: &Chunks) -> Option<BTreeSet<i64>> {
        let touched = match self.touched.get(&table.name) {
            Some(None) => return None,
            Some(Some(chunks)) => chunks.clone(),
            None => BTreeSet::new(),
        };
        let keys: BTreeSet<i64> = source.keys().chain(staging.keys()).copied().collect();
        let differing = keys.into_iter().filter(|k| source.get(k) != staging.get(k));
        Some(touched.into_iter().chain(differing).collect())
    }
}

/// Hashes `stale` chunks of `table` again (`None`: the whole table; see
/// [`chunks::rehash`]).
async fn rehash(
    client: &mut Client,
    database: &str,
    table: &Table,
    stale: &Option<BTreeSet<i64>>,
    count: usize,
    cancel: &CancellationToken,
) -> Result<Chunks, DbError> {
    let Some(stale) = stale else {
        return chunks::hash(client, database, table, None, cancel).await;
    };
    match shared::rehash(stale, count, table.key.is_some()) {
        Rehash::Nothing => Ok(Chunks::new()),
        Rehash::WholeTable => {
            let mut all = chunks::hash(client, database, table, None, cancel).await?;
            all.retain(|k, _| stale.contains(k));
            Ok(all)
        }
        Rehash::Ranges => {
            let mut fresh = Chunks::new();
            for chunk in stale {
                fresh.extend(chunks::hash(client, database, table, Some(*chunk), cancel).await?);
            }
            Ok(fresh)
        }
    }
}

/// The live chunks that stand, with those hashed again (`stale` `None`: all were).
fn merged(live: &Chunks, stale: &Option<BTreeSet<i64>>, fresh: Chunks) -> Chunks {
    match stale {
        Some(stale) => shared::merged(live, stale, fresh),
        None => fresh,
    }
}
