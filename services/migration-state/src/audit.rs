//! The audit of a client server: the whole timeline of its migrations replayed from
//! the event log — never from the read model's documents — in log order, each event
//! with its sequence, time, actor, type, a one-line summary and its downtime.
//!
//! What belongs to the timeline ([`Scope`]): every event of the server aggregate, and
//! every event about one of its (required or optional) migrations — correlated with
//! it, of its own aggregate, or naming it (a transit server reserved for it, a queue
//! serving it, its transfers). The read model only says which migrations the server
//! had and which aggregates took part; the log index (`proj_log_index.correlations`)
//! adds every other aggregate correlated with them (network, billing,
//! notifications). Without a log index in the database, the whole log is replayed
//! and filtered instead.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ferry_events::{ActorRole, AggregateType, Envelope, Event, TransferEvent};
use ferry_infra::event_log::{AggregateRef, EventLog, Recorded};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::QueryError;
use crate::narrate::Narrator;
use crate::query;
use crate::view::model::{queue_subjects, transit_migration};
use crate::view::{MigrationView, OptionalMigrationView, ServerView};

/// Aggregates loaded from the log at once.
const LOADS_IN_FLIGHT: usize = 8;

/// Who caused an event, as the audit shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// `customer`, `support`, `system` or `user` (a customer's user).
    #[schema(value_type = String)]
    pub role: ActorRole,
    /// The customer id, support login, service name, or a user's
    /// `<customer id>/<login>`.
    pub id: String,
}

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The stream sequence of its message: its position in the whole log (the events
    /// of one command share their message, and are listed in their order).
    pub sequence: u64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: AuditActor,
    /// The type of aggregate it belongs to, e.g. `migration`.
    pub aggregate_type: String,
    /// The aggregate it belongs to.
    pub aggregate_id: String,
    /// Its type, e.g. `AccountMoved`.
    pub event_type: String,
    /// The server's migration it is part of (its correlation), if any.
    pub migration_id: Option<Uuid>,
    /// What happened, in one line.
    pub summary: String,
    /// The downtime it measured, in milliseconds, if it has one.
    pub downtime_ms: Option<u64>,
}

/// How the timeline's events were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditSource {
    /// Each aggregate taking part, found through the log index, loaded from the log.
    LogIndex,
    /// The whole log replayed and filtered (no log index in this database).
    Replay,
}

/// The audit of a client server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditTimeline {
    /// The server.
    pub server_id: String,
    /// Its required migrations, oldest first.
    pub migration_ids: Vec<Uuid>,
    /// Its optional migrations, oldest first.
    pub optional_migration_ids: Vec<Uuid>,
    /// How the events were found.
    pub source: AuditSource,
    /// Every event, in log order.
    pub entries: Vec<AuditEntry>,
}

/// What belongs to the timeline of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The server.
    pub server_id: String,
    /// Its migrations (required and optional): the correlations followed.
    pub migrations: BTreeSet<Uuid>,
    /// The transfers its migrations know of.
    pub transfers: BTreeSet<String>,
    /// The aggregates to load from the log.
    pub aggregates: BTreeSet<(AggregateType, String)>,
}

impl Scope {
    /// The scope of `server`'s timeline, from what the read model knows.
    pub fn of(
        server: &ServerView,
        migrations: &[MigrationView],
        optionals: &[OptionalMigrationView],
    ) -> Self {
        let mut scope = Scope {
            server_id: server.server_id.clone(),
            ..Scope::default()
        };
        scope.add(AggregateType::Server, &server.server_id);
        scope.add(AggregateType::IpRoute, &server.server_id);
        for record in &server.migrations {
            scope.migrations.insert(record.migration_id);
        }
        for migration in migrations {
            scope.migrations.insert(migration.migration_id);
            if let Some(transit) = &migration.transit {
                scope.add(AggregateType::TransitServer, &transit.transit_server_id);
            }
            if let Some(request) = &migration.transit_request {
                scope.add(AggregateType::TransitQueue, &request.configuration);
            }
            if let Some(queue) = &migration.queue {
                scope.add(AggregateType::TransitQueue, &queue.configuration);
                if let Some(transit) = &queue.served_with {
                    scope.add(AggregateType::TransitServer, transit);
                }
            }
            for transfer in &migration.transfers {
                scope.transfers.insert(transfer.transfer_id.to_string());
            }
        }
        for migration in scope.migrations.clone() {
            scope.add(AggregateType::Migration, &migration.to_string());
            scope.add(AggregateType::Loan, &migration.to_string());
        }
        for optional in optionals {
            scope.migrations.insert(optional.optional_migration_id);
            let id = optional.optional_migration_id.to_string();
            scope.add(AggregateType::OptionalMigration, &id);
            if let Some(transfer) = &optional.transfer {
                scope.transfers.insert(transfer.transfer_id.to_string());
            }
        }
        for transfer in scope.transfers.clone() {
            scope.add(AggregateType::Transfer, &transfer);
        }
        scope
    }

    fn add(&mut self, kind: AggregateType, id: &str) {
        self.aggregates.insert((kind, id.to_owned()));
    }

    fn names(&self, id: &str) -> bool {
        Uuid::parse_str(id).is_ok_and(|m| self.migrations.contains(&m))
    }

    /// The migration of the server an event is part of, if any.
    pub fn migration_of(&self, envelope: &Envelope) -> Option<Uuid> {
        Some(envelope.correlation_id).filter(|c| self.migrations.contains(c))
    }

    /// True when the event belongs to the timeline.
    pub fn includes(&self, envelope: &Envelope) -> bool {
        if self.migrations.contains(&envelope.correlation_id) {
            return true;
        }
        let id = envelope.aggregate_id.as_str();
        let named = |m: Option<Uuid>| m.is_some_and(|m| self.migrations.contains(&m));
        match &envelope.event {
            Event::Server(_) | Event::IpRoute(_) => id == self.server_id,
            Event::Migration(_) | Event::OptionalMigration(_) | Event::Loan(_) => self.names(id),
            Event::TransitServer(e) => named(transit_migration(e)),
            Event::TransitQueue(e) => named(queue_subjects(e).0),
            Event::Transfer(e) => {
                self.transfers.contains(id)
                    || matches!(e, TransferEvent::TransferScheduled(s) if named(s.migration_id))
            }
            _ => false,
        }
    }
}

/// The audit of `server`, replayed from the log.
pub async fn timeline(
    log: &EventLog,
    pool: &Pool,
    server: &ServerView,
) -> Result<AuditTimeline, QueryError> {
    let migrations = query::migrations_of(pool, &server.server_id).await?;
    let optionals = query::optional_migrations(pool, Some(&server.server_id), None, None).await?;
    let mut scope = Scope::of(server, &migrations, &optionals);
    let correlations: Vec<Uuid> = scope.migrations.iter().copied().collect();
    let (events, source) = match query::correlated_aggregates(pool, &correlations).await? {
        Some(aggregates) => {
            scope.aggregates.extend(aggregates);
            (load_each(log, &scope).await?, AuditSource::LogIndex)
        }
        None => (replay_all(log, &scope).await?, AuditSource::Replay),
    };
    Ok(AuditTimeline {
        server_id: server.server_id.clone(),
        migration_ids: migrations.iter().map(|m| m.migration_id).collect(),
        optional_migration_ids: optionals.iter().map(|o| o.optional_migration_id).collect(),
        source,
        entries: tell(&scope, events.values()),
    })
}

/// The timeline's lines, in the order given (log order).
pub fn tell<'a>(scope: &Scope, events: impl IntoIterator<Item = &'a Recorded>) -> Vec<AuditEntry> {
    let mut narrator = Narrator::new(scope.server_id.clone());
    events
        .into_iter()
        .map(|recorded| {
            let envelope = &recorded.envelope;
            let narration = narrator.tell(envelope);
            AuditEntry {
                sequence: recorded.sequence,
                occurred_at: envelope.occurred_at,
                actor: AuditActor {
                    role: envelope.actor.role,
                    id: envelope.actor.id.clone(),
                },
                aggregate_type: envelope.aggregate_type.as_str().to_owned(),
                aggregate_id: envelope.aggregate_id.clone(),
                event_type: envelope.event_type().to_owned(),
                migration_id: scope.migration_of(envelope),
                summary: narration.summary,
                downtime_ms: narration.downtime_ms,
            }
        })
        .collect()
}

/// Loads each aggregate of the scope and keeps its events that belong, by position
/// (sequence, then index within the command).
async fn load_each(
    log: &EventLog,
    scope: &Scope,
) -> Result<BTreeMap<(u64, u32), Recorded>, QueryError> {
    let refs: Vec<AggregateRef> = scope
        .aggregates
        .iter()
        .filter_map(|(kind, id)| AggregateRef::new(*kind, id.clone()).ok())
        .collect();
    let loaded: Vec<Vec<Recorded>> = futures::stream::iter(refs)
        .map(|aggregate| async move { log.load(&aggregate).await.map(|l| l.events) })
        .buffer_unordered(LOADS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(loaded
        .into_iter()
        .flatten()
        .filter(|r| scope.includes(&r.envelope))
        .map(|r| ((r.sequence, r.index), r))
        .collect())
}

/// Replays the whole log and keeps the events that belong, by position.
async fn replay_all(
    log: &EventLog,
    scope: &Scope,
) -> Result<BTreeMap<(u64, u32), Recorded>, QueryError> {
    let replay = log.replay(1).await?;
    let mut events = BTreeMap::new();
    let mut replay = std::pin::pin!(replay);
    while let Some(recorded) = replay.next().await {
        let recorded = recorded?;
        if scope.includes(&recorded.envelope) {
            events.insert((recorded.sequence, recorded.index), recorded);
        }
    }
    Ok(events)
}
