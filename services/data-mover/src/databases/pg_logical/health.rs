//! What a later start finds of an earlier replication for the same copy: absent,
//! healthy or broken.

use super::names::Names;
use super::session::{Session, with_session};
use super::setup::conninfo;
use crate::databases::postgres;
use crate::databases::{CopySpec, DbError};

/// What [`start`](super::start) finds of an earlier replication for the same copy.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Health {
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
pub(super) struct Subscription {
    pub(super) enabled: bool,
    slot: Option<String>,
    publications: Vec<String>,
    conninfo: String,
}

pub(super) async fn health(spec: &CopySpec, names: &Names) -> Result<Health, DbError> {
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

pub(super) async fn staging_exists(spec: &CopySpec, names: &Names) -> Result<bool, DbError> {
    let admin = Session::open(&spec.destination_url, None).await?;
    let exists = postgres::database_exists(&admin.endpoint, &admin.client, &names.staging).await;
    admin.close().await;
    exists
}

/// The subscription `object` of the session's database, if any.
pub(super) async fn subscription(
    staging: &Session,
    object: &str,
) -> Result<Option<Subscription>, DbError> {
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
