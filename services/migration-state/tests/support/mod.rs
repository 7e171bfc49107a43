//! Shared pieces of the read side's integration tests: appending histories as the
//! writing services would, running projections, serving the routes on a local port
//! and calling them as an actor.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_events::*;
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::projection::{Projection, ProjectionRunner, RunnerSettings, StatusBoard};
use ferry_infra::testkit::{TestStack, eventually};
use ferry_migration_state::projection::AGGREGATE_TYPES;
use ferry_migration_state::{ReadState, routes};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const SERVER: &str = "srv-0042";
pub const OTHER_SERVER: &str = "srv-0099";
pub const CONFIG: &str = "vps-4c-8g";
pub const TRANSIT: &str = "tr-0007";
pub const CUSTOMER: &str = "c-42";
pub const OTHER_CUSTOMER: &str = "c-7";

/// Appends commands to the log as the writing services would: one append per
/// command, at the aggregate's current version.
pub struct Script {
    log: EventLog,
    versions: HashMap<(AggregateType, String), u64>,
    /// Sequence of the last event the read side consumes.
    pub last_read: u64,
}

impl Script {
    pub fn new(log: &EventLog) -> Self {
        Self {
            log: log.clone(),
            versions: HashMap::new(),
            last_read: 0,
        }
    }

    /// Appends the events of one command to `aggregate_id`; returns the last sequence.
    pub async fn command(
        &mut self,
        aggregate_id: &str,
        correlation: Uuid,
        actor: &Actor,
        events: Vec<Event>,
    ) -> u64 {
        let kind = events[0].aggregate_type();
        let aggregate = AggregateRef::new(kind, aggregate_id).expect("a valid aggregate id");
        let envelopes: Vec<Envelope> = events
            .into_iter()
            .map(|event| {
                Envelope::new(
                    aggregate_id,
                    event,
                    correlation,
                    Uuid::now_v7(),
                    actor.clone(),
                )
            })
            .collect();
        let version = self
            .versions
            .get(&(kind, aggregate_id.to_owned()))
            .copied()
            .unwrap_or(0);
        let appended = self
            .log
            .append(&aggregate, version, &envelopes, &Uuid::now_v7().to_string())
            .await
            .expect("append");
        self.versions
            .insert((kind, aggregate_id.to_owned()), appended.version);
        if AGGREGATE_TYPES.contains(&kind) {
            self.last_read = appended.version;
        }
        appended.version
    }

    /// Appends one event.
    pub async fn one(
        &mut self,
        aggregate_id: &str,
        correlation: Uuid,
        actor: &Actor,
        event: impl Into<Event>,
    ) -> u64 {
        self.command(aggregate_id, correlation, actor, vec![event.into()])
            .await
    }
}

pub fn customer() -> Actor {
    Actor::customer(CUSTOMER)
}

pub fn support() -> Actor {
    Actor::support("alice")
}

pub fn system(service: &str) -> Actor {
    Actor::system(service)
}

/// Runs a projection until the returned token is cancelled.
pub fn run<P: Projection>(
    stack: &TestStack,
    projection: P,
    board: &StatusBoard,
    batch_size: usize,
) -> CancellationToken {
    let shutdown = CancellationToken::new();
    let runner = ProjectionRunner::new(
        Arc::new(projection),
        stack.log.clone(),
        stack.pool.clone(),
        RunnerSettings {
            batch_size,
            apply_attempts: 2,
            retry_backoff: Duration::from_millis(10),
            stalled_retry: Duration::from_millis(200),
            lag_interval: Duration::from_millis(100),
            ..RunnerSettings::default()
        },
        board.clone(),
    );
    let token = shutdown.clone();
    tokio::spawn(async move { runner.run(token).await.expect("runner") });
    shutdown
}

/// Waits until the projection `name` has applied the log up to `sequence`.
pub async fn caught_up(board: &StatusBoard, name: &str, sequence: u64) {
    let reached = eventually(20, || async {
        board.get(name).is_some_and(|s| s.checkpoint >= sequence)
    })
    .await;
    assert!(
        reached,
        "projection {name} did not reach sequence {sequence}: {:?}",
        board.get(name)
    );
}

/// The routes served on a local port.
pub struct Api {
    base: String,
    client: reqwest::Client,
}

/// An answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        assert_eq!(self.status, 200, "{}", self.body);
        serde_json::from_value(self.body.clone()).expect("the expected shape")
    }

    pub fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or_default()
    }
}

impl Api {
    /// Serves the read side's routes of `stack` on 127.0.0.1.
    pub async fn serve(stack: &TestStack) -> Self {
        let state = ReadState {
            pool: stack.pool.clone(),
            log: stack.log.clone(),
        };
        let (router, _) = routes::router(state).split_for_parts();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            axum::serve(
                listener,
                ferry_infra::testkit::trusting_actor_header(router),
            )
            .await
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    /// `GET path` as `actor` (`customer:c-42`, ...), or with no actor header.
    pub async fn get(&self, path: &str, actor: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(actor) = actor {
            request = request.header("x-ferry-actor", actor);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        Answer { status, body }
    }
}

/// Event builders.
pub mod make {
    use super::*;

    pub fn storage(root: &str) -> ServerStorage {
        ServerStorage {
            files_root: format!("/srv/{root}/files"),
            mail_root: format!("/srv/{root}/mail"),
            postgres_url: Some(format!("postgres://ferry@{root}:5432/postgres")),
            mysql_url: None,
            postgres_credential: None,
            mysql_credential: None,
        }
    }

    pub fn php(version: &str) -> LanguageVersion {
        LanguageVersion {
            language: "php".into(),
            version: version.into(),
        }
    }

    pub fn account(id: &str, name: &str) -> AccountSpec {
        AccountSpec {
            account_id: id.into(),
            name: name.into(),
            files_bytes: 2_000_000_000,
            mail_bytes: 300_000_000,
            databases: vec![DatabaseSpec {
                engine: DatabaseEngine::Postgres,
                name: format!("{name}_db"),
                size_bytes: 40_000_000,
                version: "13".into(),
            }],
            domains: vec![DomainSpec {
                name: format!("{name}.example"),
                dns: DnsHosting::Hosted,
                mail: MailHosting::Hosted,
            }],
            languages: vec![php("7.4"), php("8.2")],
        }
    }

    pub fn server(id: &str, customer: &str) -> ServerRegistered {
        ServerRegistered {
            server_id: id.into(),
            name: format!("{id}.hosting.example"),
            kind: ServerKind::Vps,
            configuration: CONFIG.into(),
            infrastructure_version: "v2020".into(),
            ipv4: vec!["192.0.2.10".into()],
            ipv6: vec!["2001:db8::10".into()],
            monthly_price: Money::new(3_000, "EUR"),
            customer_id: customer.into(),
            contact_email: format!("{customer}@example.net"),
            locale: "fr".into(),
            storage: storage(id),
        }
    }

    pub fn transit() -> TransitServerAdded {
        TransitServerAdded {
            name: "transit-07.hosting.example".into(),
            configuration: CONFIG.into(),
            infrastructure_version: "v2026".into(),
            ipv4: vec!["192.0.2.70".into()],
            ipv6: Vec::new(),
            storage: storage(TRANSIT),
        }
    }

    pub fn opened(
        migration: Uuid,
        server: &str,
        customer: &str,
        accounts: &[&str],
    ) -> MigrationOpened {
        MigrationOpened {
            migration_id: migration,
            server_id: server.into(),
            customer_id: customer.into(),
            from_version: "v2020".into(),
            target_version: "v2026".into(),
            accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    pub fn transfer(
        transfer: Uuid,
        migration: Uuid,
        kind: TransferKind,
        accounts: &[AccountSpec],
        from: &str,
        to: &str,
    ) -> TransferScheduled {
        TransferScheduled {
            transfer_id: transfer,
            kind,
            migration_id: Some(migration),
            server_id: SERVER.into(),
            accounts: accounts.to_vec(),
            source: Endpoint {
                server_id: from.into(),
                storage: storage(from),
            },
            destination: Endpoint {
                server_id: to.into(),
                storage: storage(to),
            },
        }
    }

    pub fn progressed(
        phase: TransferPhase,
        account: Option<&str>,
        done: u64,
        total: u64,
    ) -> TransferProgressed {
        TransferProgressed {
            phase,
            account_id: account.map(str::to_owned),
            bytes_done: done,
            bytes_total: total,
            run_id: None,
            run_bytes_copied: 0,
            bytes_copied: 0,
        }
    }

    pub fn completed(downtime_ms: Option<u64>, test_address: Option<&str>) -> TransferCompleted {
        TransferCompleted {
            bytes_copied: 2_340_000_000,
            duration_ms: 95_000,
            downtime_ms,
            database_methods: Vec::new(),
            test_address: test_address.map(str::to_owned),
        }
    }
}
