//! Shared by the `ferry` process tests: starting `ferry up` on a test's own stream and
//! database, following a migration and its transfers through the log, and playing the
//! network **as test inputs**. The data mover runs for real inside `ferry up` (its
//! transfers copy real files and databases); only the network service (IP rerouting,
//! DNS: `AccountTrafficSwitched`) is not built yet, and the running system never fakes
//! its events.

#![allow(dead_code)]

use ferry_accounts::domain::migration::{MigrationDecider, MigrationState, Place};
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
    start_with(stack, &[]).await
}

/// As [`start`], with more environment (e.g. the data mover's
/// `FERRY_TEST_POSTGRES_URL`); a variable given here wins over the defaults.
pub async fn start_with(stack: &TestStack, env: &[(&str, &str)]) -> Ferry {
    let port = free_port();
    let settings = stack.log.settings().clone();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
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
        // FERRY_TEST_LOG_FILTER (e.g. `info`) shows more of what ferry did.
        .env(
            "FERRY_LOG",
            std::env::var("FERRY_TEST_LOG_FILTER").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().copied())
        .stdout(if std::env::var_os("FERRY_TEST_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = command.spawn().expect("ferry starts");
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

/// Waits (up to a minute: real transfers may be under way) until the migration is in
/// `state` (its name in docs/process.md).
pub async fn wait_for_state(log: &EventLog, id: Uuid, state: &str) -> MigrationState {
    let mut last = String::new();
    for _ in 0..3_000 {
        let current = migration(log, id).await;
        if current.state_name() == state {
            return current;
        }
        last = current.state_name().to_owned();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("migration {id} never became {state}; it is {last}");
}

/// The events of a transfer so far (none before it is scheduled).
pub async fn transfer_events(log: &EventLog, transfer_id: Uuid) -> Vec<Event> {
    let aggregate =
        AggregateRef::new(AggregateType::Transfer, transfer_id.to_string()).expect("id");
    match log.load(&aggregate).await {
        Ok(loaded) => loaded
            .events
            .into_iter()
            .map(|r| r.envelope.event)
            .collect(),
        Err(_) => vec![],
    }
}

/// How a transfer ended, if it did: completed, or failed with its reason.
pub fn outcome(events: &[Event]) -> Option<Result<TransferCompleted, String>> {
    events.iter().find_map(|e| match e {
        Event::Transfer(TransferEvent::TransferCompleted(c)) => Some(Ok(c.clone())),
        Event::Transfer(TransferEvent::TransferFailed(f)) => Some(Err(format!(
            "{:?} failed ({}retryable): {}",
            f.phase,
            if f.retryable { "" } else { "not " },
            f.reason
        ))),
        Event::Transfer(TransferEvent::TransferCancelled(c)) => {
            Some(Err(format!("cancelled: {}", c.reason)))
        }
        _ => None,
    })
}

/// Waits until the data mover completed the transfer; panics with the reason if it
/// failed, or with the events so far if it did not end within `seconds`.
pub async fn wait_for_transfer(
    log: &EventLog,
    transfer_id: Uuid,
    seconds: u64,
) -> TransferCompleted {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let events = transfer_events(log, transfer_id).await;
        match outcome(&events) {
            Some(Ok(completed)) => return completed,
            Some(Err(reason)) => panic!("transfer {transfer_id}: {reason}"),
            None if tokio::time::Instant::now() > deadline => panic!(
                "transfer {transfer_id} did not end in {seconds} s: {:?}",
                events.iter().map(Event::event_type).collect::<Vec<_>>()
            ),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits until `account` is at `place`; panics early with the reason if the transfer
/// moving it fails, or after `seconds`.
pub async fn wait_for_place(log: &EventLog, id: Uuid, account: &str, place: &Place, seconds: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let current = migration(log, id).await.accounts[account].place.clone();
        if current == *place {
            return;
        }
        if let Place::MovingToTransit { transfer_id }
        | Place::RollingBack { transfer_id }
        | Place::Relocating { transfer_id } = current
            && let Some(Err(reason)) = outcome(&transfer_events(log, transfer_id).await)
        {
            panic!("{account} never reached {place:?}: transfer {transfer_id}: {reason}");
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{account} never reached {place:?} in {seconds} s; it is {current:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
