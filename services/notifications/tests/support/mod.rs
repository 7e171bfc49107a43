//! Shared helpers of the notifications tests: the service run against the test's
//! stack, its API served on a port, and the events other services would have written.
#![allow(dead_code)]

pub mod smtp;

use ferry_events::{
    AccountAdded, AccountSpec, Actor, AggregateType, Envelope, Event, MigrationOpened, Money,
    ServerKind, ServerRegistered, ServerStorage,
};
use ferry_infra::testkit::{TestStack, append_inputs};
use ferry_notifications::{NotificationList, NotificationsArgs, Settings};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The client server of the tests.
pub const SERVER: &str = "srv-0042";

/// The service running in a test.
pub struct Running {
    /// Stops it.
    pub shutdown: CancellationToken,
    /// Its task (the sender's error when halted).
    pub task: tokio::task::JoinHandle<Result<(), String>>,
    /// Its API's base URL.
    pub base: String,
}

impl Running {
    /// Stops it and waits for it.
    pub async fn stop(self) -> Result<(), String> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops")
            .expect("joins")
    }
}

/// Settings for a test: quick retries and polls.
pub fn args(maildir: &std::path::Path) -> NotificationsArgs {
    let mut args = NotificationsArgs::with_maildir(maildir);
    args.mail_from = "Hosting <noreply@hosting.example>".into();
    args.support_email = "support@hosting.example".into();
    args.retry_first_ms = 200;
    args.retry_max_ms = 400;
    args.poll_ms = 50;
    args
}

/// Starts the service with `settings` on the test's stack and serves its API.
pub async fn start(stack: &TestStack, settings: Settings) -> Running {
    let shutdown = CancellationToken::new();
    let context = stack.policy_context().await;
    let (routes, task) = ferry_notifications::run(settings, context, shutdown.clone());
    let (router, _) = routes.split_for_parts();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            ferry_infra::testkit::trusting_actor_header(router),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    });
    Running {
        shutdown,
        task,
        base,
    }
}

/// The outbox as support sees it (waiting, bounded, while the outbox is being
/// created: 503).
pub async fn list(base: &str, query: &str) -> NotificationList {
    for _ in 0..200 {
        let response = reqwest::Client::new()
            .get(format!("{base}/notifications{query}"))
            .header("x-ferry-actor", "support:alice")
            .send()
            .await
            .expect("answered");
        if response.status() == 503 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(response.status(), 200, "GET /notifications{query}");
        return response.json().await.expect("a list");
    }
    panic!("GET /notifications{query}: unavailable for 10 s");
}

/// A POST as `actor`, its status and JSON body.
pub async fn post(
    base: &str,
    path: &str,
    actor: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("x-ferry-actor", actor)
        .json(&body)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A GET as `actor`, its status and JSON body.
pub async fn get(base: &str, path: &str, actor: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("x-ferry-actor", actor)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Waits (bounded) until `check` gives `Some`.
pub async fn until<T, F, Fut>(what: &str, seconds: u64, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    ferry_infra::testkit::eventually_some(seconds, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {seconds} s waiting for {what}"))
}

/// Appends events to an aggregate, as the service owning it would have.
pub async fn append(
    stack: &TestStack,
    kind: AggregateType,
    id: &str,
    correlation: Uuid,
    events: Vec<Event>,
) -> Vec<Envelope> {
    append_inputs(
        &stack.log,
        kind,
        id,
        correlation,
        events,
        Actor::system("test"),
    )
    .await
}

/// The client server, its customer writing in `locale`, with one account `shop`,
/// and a migration of it opened: the migration's id.
pub async fn server_and_migration(stack: &TestStack, locale: &str) -> Uuid {
    let migration = Uuid::now_v7();
    append(
        stack,
        AggregateType::Server,
        SERVER,
        migration,
        vec![
            ServerRegistered {
                server_id: SERVER.into(),
                name: "vps42.hosting.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2020".into(),
                ipv4: vec!["192.0.2.42".into()],
                ipv6: vec![],
                monthly_price: Money {
                    amount_cents: 4_500,
                    currency: "EUR".into(),
                },
                customer_id: "c-42".into(),
                contact_email: "jane@example.org".into(),
                locale: locale.into(),
                storage: ServerStorage {
                    files_root: "/srv/files".into(),
                    mail_root: "/srv/mail".into(),
                    postgres_url: None,
                    mysql_url: None,
                    postgres_credential: None,
                    mysql_credential: None,
                },
            }
            .into(),
            AccountAdded {
                account: AccountSpec {
                    account_id: "acc-1".into(),
                    name: "shop".into(),
                    files_bytes: 0,
                    mail_bytes: 0,
                    databases: vec![],
                    domains: vec![],
                    languages: vec![],
                },
            }
            .into(),
        ],
    )
    .await;
    append(
        stack,
        AggregateType::Migration,
        &migration.to_string(),
        migration,
        vec![
            MigrationOpened {
                migration_id: migration,
                server_id: SERVER.into(),
                customer_id: "c-42".into(),
                from_version: "v2020".into(),
                target_version: "v2026".into(),
                accounts: vec!["acc-1".into()],
            }
            .into(),
        ],
    )
    .await;
    migration
}

/// Appends migration events.
pub async fn on_migration(stack: &TestStack, migration: Uuid, events: Vec<Event>) -> Vec<Envelope> {
    append(
        stack,
        AggregateType::Migration,
        &migration.to_string(),
        migration,
        events,
    )
    .await
}
