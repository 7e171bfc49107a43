//! Shared helpers: the facts other services would have logged (a client server, a
//! migration, a transit server lent and released), appended at the log's clock.

use chrono::{DateTime, Utc};
use ferry_billing::domain::loan::Loan;
use ferry_billing::{Billing, BillingReadModel, BillingState, routes, run};
use ferry_events::{
    Actor, AggregateType, Envelope, Event, MigrationOpened, Money, ServerKind, ServerRegistered,
    ServerStorage, TransitServerEvent, TransitServerLent, TransitServerReleased,
};
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::projection::{ProjectionRunner, RunnerSettings, StatusBoard};
use ferry_infra::testkit::{TestStack, eventually_some};
use std::future::Future;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a test waits for what it expects, in seconds.
pub const WAIT: u64 = 20;

/// Polls `check` until it gives `Some`, or panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_some(WAIT, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {WAIT}s waiting for {what}"))
}

/// Appends `event` to an aggregate, stamped with the log's clock, as `actor`.
pub async fn append(
    log: &EventLog,
    kind: AggregateType,
    id: &str,
    correlation_id: Uuid,
    event: impl Into<Event>,
) -> Envelope {
    let aggregate = AggregateRef::new(kind, id).expect("aggregate id");
    let version = log.load(&aggregate).await.expect("load").version;
    let causation = Uuid::now_v7();
    let mut envelope = Envelope::new(id, event, correlation_id, causation, Actor::system("test"));
    envelope.occurred_at = log.clock().now();
    log.append(
        &aggregate,
        version,
        std::slice::from_ref(&envelope),
        &causation.to_string(),
    )
    .await
    .expect("append test input");
    envelope
}

/// A client server of `customer` at `monthly_cents` EUR a month.
pub async fn server_registered(log: &EventLog, server: &str, customer: &str, monthly_cents: i64) {
    append(
        log,
        AggregateType::Server,
        server,
        Uuid::now_v7(),
        ServerRegistered {
            server_id: server.into(),
            name: format!("{server}.hosting.example"),
            kind: ServerKind::Vps,
            configuration: "vps-4c-8g".into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec!["192.0.2.10".into()],
            ipv6: vec![],
            monthly_price: Money::new(monthly_cents, "EUR"),
            customer_id: customer.into(),
            contact_email: format!("owner@{server}.example"),
            locale: "en".into(),
            storage: ServerStorage {
                files_root: format!("/srv/{server}/files"),
                mail_root: format!("/srv/{server}/mail"),
                postgres_url: None,
                mysql_url: None,
                postgres_credential: None,
                mysql_credential: None,
            },
        },
    )
    .await;
}

/// A migration of `server` for `customer`.
pub async fn migration_opened(log: &EventLog, migration_id: Uuid, server: &str, customer: &str) {
    append(
        log,
        AggregateType::Migration,
        &migration_id.to_string(),
        migration_id,
        MigrationOpened {
            migration_id,
            server_id: server.into(),
            customer_id: customer.into(),
            from_version: "v2020".into(),
            target_version: "v2026".into(),
            accounts: vec!["acc-1".into()],
        },
    )
    .await;
}

/// Transit server `transit` lent to the migration now (by the log's clock).
pub async fn lent(log: &EventLog, transit: &str, migration_id: Uuid) -> DateTime<Utc> {
    let envelope = append(
        log,
        AggregateType::TransitServer,
        transit,
        migration_id,
        TransitServerEvent::TransitServerLent(TransitServerLent {
            migration_id,
            lent_at: log.clock().now(),
        }),
    )
    .await;
    envelope.occurred_at
}

/// Transit server `transit` released by the migration now.
pub async fn released(log: &EventLog, transit: &str, migration_id: Uuid) -> DateTime<Utc> {
    append(
        log,
        AggregateType::TransitServer,
        transit,
        migration_id,
        TransitServerEvent::TransitServerReleased(TransitServerReleased { migration_id }),
    )
    .await
    .occurred_at
}

/// Billing's policy running on the test's stack.
pub struct Running {
    /// Stops it.
    pub shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Starts billing's policy (view, reactor, timers) on `log`.
    pub async fn start(stack: &TestStack, billing: &Billing, log: EventLog) -> Self {
        let shutdown = CancellationToken::new();
        let context = stack.policy_context_on(log).await;
        let task = tokio::spawn({
            let (billing, shutdown) = (billing.clone(), shutdown.clone());
            async move {
                run(billing, context, shutdown)
                    .await
                    .expect("billing policy");
            }
        });
        Self { shutdown, task }
    }

    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("stopped");
    }
}

/// Billing's read model (its projection) and HTTP API over `stack`, the actor header
/// trusted as the gate would set it, until `shutdown`: the API's base URL and its
/// OpenAPI description.
pub async fn serve_api(
    stack: &TestStack,
    billing: &Billing,
    shutdown: &CancellationToken,
) -> (String, utoipa::openapi::OpenApi) {
    let projection = ProjectionRunner::new(
        Arc::new(BillingReadModel),
        stack.log.clone(),
        stack.pool.clone(),
        RunnerSettings::default(),
        StatusBoard::default(),
    );
    tokio::spawn(projection.run(shutdown.clone()));
    let (router, openapi) = routes::router(BillingState {
        billing: billing.clone(),
        pool: stack.pool.clone(),
    })
    .split_for_parts();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
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
    (base, openapi)
}

/// Waits until the loan satisfies `check`, and returns it.
pub async fn loan_where(
    billing: &Billing,
    migration_id: Uuid,
    what: &str,
    check: impl Fn(&Loan) -> bool,
) -> Loan {
    eventually(what, || async {
        let loan = billing.loan(migration_id).await.expect("loan");
        check(&loan).then_some(loan)
    })
    .await
}
