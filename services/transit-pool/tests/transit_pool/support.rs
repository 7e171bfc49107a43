//! Shared helpers: test inputs appended to the log, and waiting for the reactor.

use chrono::{DateTime, Utc};
use ferry_events::{
    Actor, AggregateType, Endpoint, Envelope, Event, MigrationCompleted, MigrationOpened,
    ObsoleteLanguagesRemoved, ServerStorage, TransferCompleted, TransferKind, TransferScheduled,
    TransferStarted, TransferVerified, TransitServerEvent, TransitServerRequested,
};
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::testkit::{append_inputs, eventually_some};
use ferry_transit_pool::service::ServerResult;
use ferry_transit_pool::{CommandMeta, NewTransitServer, PoolSettings, TransitPool};
use futures::StreamExt;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Settings with short durations, for tests.
pub fn quick(install_ms: u64, wipe_ms: u64) -> PoolSettings {
    PoolSettings {
        install_duration: Duration::from_millis(install_ms),
        wipe_duration: Duration::from_millis(wipe_ms),
        max_attempts: 100,
    }
}

/// Polls `check` until it gives `Some` (testkit's [`eventually_some`]), or panics
/// after `timeout` (whole seconds) naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_some(timeout.as_secs(), check)
        .await
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Appends `events` to an aggregate as test inputs, after its current version.
pub async fn append(
    log: &EventLog,
    kind: AggregateType,
    id: &str,
    correlation_id: Uuid,
    events: Vec<Event>,
) -> Vec<Envelope> {
    append_inputs(log, kind, id, correlation_id, events, Actor::system("test")).await
}

/// A migration opened for `client_server` that asked for a transit server of
/// `configuration` (what the accounts service would have written), without removing
/// its obsolete languages yet.
pub async fn migration_requesting(
    log: &EventLog,
    migration_id: Uuid,
    client_server: &str,
    configuration: &str,
) {
    append(
        log,
        AggregateType::Migration,
        &migration_id.to_string(),
        migration_id,
        vec![
            MigrationOpened {
                migration_id,
                server_id: client_server.into(),
                customer_id: "c-42".into(),
                from_version: "v2020".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1".into()],
            }
            .into(),
            TransitServerRequested {
                configuration: configuration.into(),
            }
            .into(),
        ],
    )
    .await;
}

/// Support removed the migration's obsolete languages: the transit request goes out.
pub async fn languages_removed(log: &EventLog, migration_id: Uuid) {
    append(
        log,
        AggregateType::Migration,
        &migration_id.to_string(),
        migration_id,
        vec![ObsoleteLanguagesRemoved { removals: vec![] }.into()],
    )
    .await;
}

/// The migration is over.
pub async fn migration_completed(log: &EventLog, migration_id: Uuid) {
    append(
        log,
        AggregateType::Migration,
        &migration_id.to_string(),
        migration_id,
        vec![
            MigrationCompleted {
                total_downtime_ms: 1_000,
            }
            .into(),
        ],
    )
    .await;
}

fn storage(server: &str) -> ServerStorage {
    ServerStorage {
        files_root: format!("/srv/ferry/{server}/files"),
        mail_root: format!("/srv/ferry/{server}/mail"),
        postgres_url: None,
        mysql_url: None,
        postgres_credential: None,
        mysql_credential: None,
    }
}

/// The data mover's pre-copy of the migration's files to `destination` completed:
/// test inputs standing for the data mover, a history its transfer decider writes
/// (scheduled, started, verified, completed). Returns when the transfer completed.
pub async fn pre_copy_completed(
    log: &EventLog,
    migration_id: Option<Uuid>,
    kind: TransferKind,
    destination: &str,
) -> DateTime<Utc> {
    let transfer_id = Uuid::now_v7();
    let scheduled = TransferScheduled {
        transfer_id,
        kind,
        migration_id,
        server_id: "srv-1".into(),
        accounts: vec![],
        source: Endpoint {
            server_id: "srv-1".into(),
            storage: storage("srv-1"),
        },
        destination: Endpoint {
            server_id: destination.into(),
            storage: storage(destination),
        },
    };
    transfer_completed(log, scheduled, 1 << 20).await
}

/// The data mover's wipe of `transit` completed (test inputs standing for the data
/// mover, a history its transfer decider writes): what frees it.
pub async fn wipe_completed(log: &EventLog, transit: &str, transfer_id: Uuid) {
    let server = Endpoint {
        server_id: transit.into(),
        storage: storage(transit),
    };
    let scheduled = TransferScheduled {
        transfer_id,
        kind: TransferKind::Wipe,
        migration_id: None,
        server_id: transit.into(),
        accounts: vec![],
        source: server.clone(),
        destination: server,
    };
    transfer_completed(log, scheduled, 0).await;
}

/// A transfer's whole history as the data mover's decider writes it: scheduled,
/// started, verified, completed having copied `bytes`. Gives when it completed.
async fn transfer_completed(
    log: &EventLog,
    scheduled: TransferScheduled,
    bytes: u64,
) -> DateTime<Utc> {
    let transfer_id = scheduled.transfer_id;
    let appended = append(
        log,
        AggregateType::Transfer,
        &transfer_id.to_string(),
        scheduled.migration_id.unwrap_or(transfer_id),
        vec![
            scheduled.into(),
            TransferStarted {}.into(),
            TransferVerified {
                files_checked: 12,
                databases: vec![],
            }
            .into(),
            TransferCompleted {
                bytes_copied: bytes,
                duration_ms: 1_000,
                downtime_ms: None,
                database_methods: vec![],
                test_address: None,
            }
            .into(),
        ],
    )
    .await;
    appended.last().expect("the completion").occurred_at
}

/// Stands in for the data mover's wipes until `stop`: every `TransitServerWipeStarted`
/// in the log gets its wipe, completed (test inputs, once each).
pub fn wipes_completed(log: EventLog, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut next = 1;
        while !stop.is_cancelled() {
            let filters = vec![log.type_filter(AggregateType::TransitServer)];
            if let Ok(stream) = log.replay_filtered(next, filters).await {
                let recorded: Vec<_> = stream.collect().await;
                for recorded in recorded.into_iter().flatten() {
                    next = recorded.sequence + 1;
                    let envelope = &recorded.envelope;
                    if let Event::TransitServer(TransitServerEvent::TransitServerWipeStarted(_)) =
                        &envelope.event
                    {
                        let transfer_id = Uuid::new_v5(&envelope.event_id, b"wipe");
                        wipe_completed(&log, &envelope.aggregate_id, transfer_id).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// The details of a transit server of `configuration`.
pub fn transit_server(id: &str, configuration: &str) -> NewTransitServer {
    NewTransitServer {
        name: format!("{id}.hosting.example"),
        configuration: configuration.into(),
        infrastructure_version: "v2020".into(),
        ipv4: vec!["192.0.2.10".into()],
        ipv6: vec![],
        storage: storage(id),
    }
}

/// Support adds a transit server.
pub async fn add_server(pool: &TransitPool, id: &str, configuration: &str) -> ServerResult {
    pool.add_server(
        &CommandMeta::fresh(Actor::support("alice")),
        id,
        transit_server(id, configuration),
    )
    .await
}

/// The event types of an aggregate, in order.
pub async fn types(pool: &TransitPool, kind: AggregateType, id: &str) -> Vec<&'static str> {
    history(pool, kind, id)
        .await
        .iter()
        .map(|e| e.event_type())
        .collect()
}

/// The events of an aggregate, in order.
pub async fn history(pool: &TransitPool, kind: AggregateType, id: &str) -> Vec<Envelope> {
    pool.history(AggregateRef::new(kind, id).expect("id"))
        .await
        .expect("history")
}

/// Waits until the reactor has handled every event so far.
pub async fn reactor_idle(log: &EventLog) {
    eventually(
        "the reactor to catch up",
        Duration::from_secs(20),
        || async {
            match log.consumer_lag(ferry_transit_pool::REACTOR_NAME).await {
                Ok(0) => Some(()),
                _ => None,
            }
        },
    )
    .await
}
