//! Shared by the `ferry` process tests: starting `ferry up` on a test's own stream and
//! database, and playing the data mover and the network **as test inputs** (those
//! services are not built yet; the running system never fakes their events).

#![allow(dead_code)]

use ferry_accounts::domain::migration::{MigrationDecider, MigrationState};
use ferry_events::*;
use ferry_infra::command::Decider;
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::testkit::{TestStack, append_inputs};
use std::process::Stdio;
use std::time::Duration;
use uuid::Uuid;

/// A running `ferry up` on a test stack.
pub struct Ferry {
    /// The process.
    pub child: tokio::process::Child,
    /// Its API.
    pub base: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `ferry up` with instant transit installations and wipes and a calendar
/// open round the clock, and waits until it is ready.
pub async fn start(stack: &TestStack) -> Ferry {
    let port = free_port();
    let settings = stack.log.settings().clone();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("up")
        .env("FERRY_NATS_URL", &stack.nats_url)
        .env("FERRY_STREAM", &settings.stream)
        .env("FERRY_SUBJECT_PREFIX", &settings.subject_prefix)
        .env("FERRY_DATABASE_URL", &stack.database_url)
        .env("FERRY_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("FERRY_SHUTDOWN_GRACE_SECS", "5")
        .env("FERRY_TRANSIT_INSTALL_SECS", "0")
        .env("FERRY_TRANSIT_WIPE_SECS", "0")
        .env("FERRY_WORKING_DAYS", "mon-sun")
        .env("FERRY_WORKING_HOURS", "00:00-24:00")
        .env("FERRY_TIME_ZONE", "UTC")
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("ferry starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = client.get(format!("{base}/ready")).send().await
            && response.status().is_success()
        {
            return Ferry { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ferry up did not become ready");
}

impl Ferry {
    /// A CLI client acting as `actor`.
    pub fn api(&self, actor: &str) -> ferry::client::Api {
        ferry::client::Api::new(&self.base, actor).expect("valid actor")
    }

    /// Stops it with SIGTERM and waits for a clean exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .expect("kill runs");
        }
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("stops within its grace period")
            .expect("exit status");
        assert!(status.success(), "clean exit: {status:?}");
    }
}

/// A migration's state, folded from the log.
pub async fn migration(log: &EventLog, id: Uuid) -> MigrationState {
    let aggregate = AggregateRef::new(AggregateType::Migration, id.to_string()).expect("id");
    let loaded = log.load(&aggregate).await.expect("loads");
    MigrationDecider::fold(loaded.events.iter().map(|r| &r.envelope.event))
}

/// Waits until the migration is in `state` (its name in docs/process.md).
pub async fn wait_for_state(log: &EventLog, id: Uuid, state: &str) -> MigrationState {
    let mut last = String::new();
    for _ in 0..750 {
        let current = migration(log, id).await;
        if current.state_name() == state {
            return current;
        }
        last = current.state_name().to_owned();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("migration {id} never became {state}; it is {last}");
}

fn endpoint(server_id: &str) -> transfer::Endpoint {
    transfer::Endpoint {
        server_id: server_id.into(),
        storage: ServerStorage {
            files_root: format!("/srv/{server_id}/files"),
            mail_root: format!("/srv/{server_id}/mail"),
            postgres_url: None,
            mysql_url: None,
        },
    }
}

/// As the data mover would: a transfer scheduled and completed.
// The arguments mirror the two events' fields one for one.
#[allow(clippy::too_many_arguments)]
pub async fn transfer_done(
    log: &EventLog,
    migration_id: Uuid,
    transfer_id: Uuid,
    kind: TransferKind,
    accounts: Vec<AccountSpec>,
    (from, to): (&str, &str),
    downtime_ms: Option<u64>,
    test_address: Option<&str>,
) {
    let scheduled = TransferScheduled {
        transfer_id,
        kind,
        migration_id: Some(migration_id),
        server_id: from.into(),
        accounts,
        source: endpoint(from),
        destination: endpoint(to),
    };
    let completed = TransferCompleted {
        bytes_copied: 1_000,
        duration_ms: 2_000,
        downtime_ms,
        database_methods: vec![],
        test_address: test_address.map(str::to_owned),
    };
    append_inputs(
        log,
        AggregateType::Transfer,
        &transfer_id.to_string(),
        migration_id,
        vec![scheduled.into(), completed.into()],
        Actor::system("data-mover"),
    )
    .await;
}

/// As the network would: an account's traffic switched to a server.
pub async fn traffic_switched(log: &EventLog, migration_id: Uuid, account_id: &str, to: &str) {
    let switched = AccountTrafficSwitched {
        to_server_id: to.into(),
        method: TrafficSwitchMethod::ProviderDns,
        switched_at: chrono::Utc::now(),
    };
    append_inputs(
        log,
        AggregateType::AccountTraffic,
        account_id,
        migration_id,
        vec![switched.into()],
        Actor::system("network"),
    )
    .await;
}
