//! Removal: the subscription, the slots, the publication and the staging database,
//! every step tried even when another failed.

use std::time::{Duration, Instant};

use super::health::staging_exists;
use super::names::Names;
use super::session::{FirstError, Session, with_session};
use super::watchdog::Pauses;
use crate::databases::postgres::{self, ident};
use crate::databases::{CopySpec, DbError};

/// How long the slot's sender is given to stop once its subscription is disabled.
const SLOT_RELEASE: Duration = Duration::from_secs(10);

/// Removes whatever replication exists for `spec`: subscription, slots (the
/// subscription's and its table copies'), publication, and the staging database. The
/// source's data is untouched. Idempotent; each step is tried even if another failed
/// (the first error is returned, and a later call carries on).
pub async fn abort(spec: &CopySpec) -> Result<(), DbError> {
    let names = Names::of(spec)?;
    tear_down(spec, &names).await
}

pub(super) async fn tear_down(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
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
pub(super) async fn remove_replication(spec: &CopySpec, names: &Names) -> Result<(), DbError> {
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

/// Ends the workers of a disabled subscription and waits until they are gone: a
/// table copy's worker still running could create its slot after they were listed
/// for removal. Ended rather than left to notice the change, which an idle apply
/// worker does only at its next wake-up (up to a second, all of it downtime in a
/// cutover); not restarted, the subscription being disabled.
async fn wait_workers_gone(staging: &Session, oid: u32) -> Result<(), DbError> {
    let ended = staging
        .client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_subscription
              WHERE subid = $1 AND pid IS NOT NULL",
            &[&oid],
        )
        .await;
    if let Err(e) = ended {
        // Not allowed to: they stop by themselves.
        tracing::debug!(error = %e, "subscription workers left to stop");
    }
    let deadline = Instant::now() + SLOT_RELEASE;
    let mut pauses = Pauses::new();
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
        tokio::time::sleep(pauses.next()).await;
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
    let mut pauses = Pauses::new();
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
        tokio::time::sleep(pauses.next()).await;
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
