//! Progress and finish: the initial copy's and the catch-up's waits, the sequences'
//! values, the verification and the switch to the final name.

use std::time::Duration;

use ferry_events::transfer::DatabaseMethod;
use ferry_events::values::DatabaseEngine;
use tokio_util::sync::CancellationToken;

use super::LogicalCopy;
use super::names::Names;
use super::session::{Session, with_session};
use super::teardown::remove_replication;
use super::watchdog::{Watchdog, missing_slot, poll};
use crate::databases::postgres::{self, ident};
use crate::databases::{CopyPhase, CopyReport, CopySpec, DbError, verify};

impl LogicalCopy {
    /// Waits until every table has finished its initial copy (and follows the
    /// source's changes). Fails if the subscription's workers keep failing (see the
    /// destination server's log); [`DbError::Interrupted`] when cancelled.
    pub async fn wait_synced(&self, cancel: &CancellationToken) -> Result<(), DbError> {
        self.wait_tables(&["r", "s"], cancel).await
    }

    /// The account live, once synced: hashes every table in key-range chunks at the
    /// source, then at the destination once it applied the source's WAL up to that
    /// hash, so that [`LogicalCopy::finish`] hashes again only the chunks written
    /// since. A failure is logged and leaves the finish to hash everything;
    /// [`DbError::Interrupted`] when cancelled.
    pub async fn check_live(&mut self, cancel: &CancellationToken) -> Result<(), DbError> {
        let spec = &self.spec;
        let source = postgres::Side {
            url: &spec.source_url,
            database: &spec.database,
        };
        let destination = postgres::Side {
            url: &spec.destination_url,
            database: &self.names.staging,
        };
        let checked = async {
            let binary =
                postgres::row_hashes_at_both(&spec.source_url, &spec.destination_url).await?;
            let applied = |lsn: String| self.wait_applied(Some(lsn), cancel);
            postgres::live_check(source, destination, binary, applied).await
        };
        let checked = tokio::select! {
            checked = checked => checked,
            () = cancel.cancelled() => return Err(DbError::Interrupted),
        };
        match checked {
            Ok(live) => {
                tracing::info!(database = %spec.database, differing = live.differing_chunks(),
                    captured = ?live.captured(), "postgres database checked live");
                if let Some(earlier) = self.live.replace(live) {
                    earlier.close().await;
                }
            }
            Err(DbError::Interrupted) => return Err(DbError::Interrupted),
            Err(e) => {
                tracing::warn!(database = %spec.database, error = %e,
                    "no live check: the whole database is hashed while frozen");
            }
        }
        Ok(())
    }

    /// Whether [`LogicalCopy::check_live`] hashed the database live.
    pub fn checked_live(&self) -> bool {
        self.live.is_some()
    }

    /// Whether the live check captures the changes made since at (source,
    /// destination), rather than leaving the frozen check to scan the tables.
    pub fn captures_changes(&self) -> (bool, bool) {
        self.live
            .as_ref()
            .map_or((false, false), postgres::LiveCheck::captured)
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
    ///
    /// [`super::postgres::freeze`]: crate::databases::postgres::freeze
    /// [`start`]: super::start
    /// [`abort`]: super::abort
    pub async fn finish(mut self, cancel: &CancellationToken) -> Result<CopyReport, DbError> {
        let live = self.live.take();
        let spec = &self.spec;
        spec.phase(CopyPhase::Restoring);
        let frozen = std::time::Instant::now();
        let ms = || frozen.elapsed().as_millis();
        self.wait_tables(&["r"], cancel).await?;
        self.wait_applied(None, cancel).await?;
        tracing::debug!(database = %spec.database, ms = ms(), "postgres: changes applied");
        copy_sequences(spec, &self.names).await?;
        remove_replication(spec, &self.names).await?;
        tracing::debug!(database = %spec.database, ms = ms(), "postgres: replication removed");
        let result = verify_and_switch(spec, &self.names, live, cancel).await;
        tracing::debug!(database = %spec.database, ms = ms(), "postgres: verified and switched");
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

    /// Waits until the slot's subscriber confirmed the WAL position `target` (`None`:
    /// the source's current one).
    async fn wait_applied(
        &self,
        target: Option<String>,
        cancel: &CancellationToken,
    ) -> Result<(), DbError> {
        let staging = Session::open(&self.spec.destination_url, Some(&self.names.staging)).await?;
        let source = Session::source(&self.spec).await?;
        let object = &self.names.object;
        let result = async {
            let target: String = match target {
                Some(target) => target,
                None => source
                    .row(
                        "reading the source's WAL position",
                        "SELECT pg_current_wal_lsn()::text",
                        &[],
                    )
                    .await?
                    .get(0),
            };
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
    live: Option<postgres::LiveCheck>,
    cancel: &CancellationToken,
) -> Result<(Duration, ferry_events::transfer::DatabaseCheck), DbError> {
    let (verify_duration, check) = match live {
        Some(live) => verify_after_live(spec, names, live, cancel).await?,
        None => verify::staging_against_source(spec, &names.staging, cancel).await?,
    };
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

/// Verification against the frozen source after a live check: only the chunks
/// written since are hashed again (see [`postgres::frozen_check`]).
async fn verify_after_live(
    spec: &CopySpec,
    names: &Names,
    live: postgres::LiveCheck,
    cancel: &CancellationToken,
) -> Result<(Duration, ferry_events::transfer::DatabaseCheck), DbError> {
    spec.phase(CopyPhase::Verifying);
    let started = std::time::Instant::now();
    let source = postgres::Side {
        url: &spec.source_url,
        database: &spec.database,
    };
    let destination = postgres::Side {
        url: &spec.destination_url,
        database: &names.staging,
    };
    let checked = tokio::select! {
        checked = postgres::frozen_check(&live, source, destination) => checked,
        () = cancel.cancelled() => Err(DbError::Interrupted),
    };
    // The captures' sessions end before the switch renames the databases.
    live.close().await;
    let (source, mut destination) = checked?;
    tracing::debug!(database = %spec.database, ms = started.elapsed().as_millis(),
        "postgres: checked frozen");
    destination.name = spec.destination_name.clone();
    let check = verify::compare(&source, &destination)?;
    Ok((started.elapsed(), check))
}
