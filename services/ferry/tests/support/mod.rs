//! Shared by the `ferry` process tests: starting `ferry up` on a test's own stream and
//! database (inside the test's process, [`start`], or as the binary, [`spawn_up`]),
//! this run's fleet and data ([`Demo`]), following a migration and its transfers
//! through the log. Every service runs for real inside `ferry up`: the data mover's
//! transfers copy real files and databases, the network switches the traffic.

#![allow(dead_code)]

mod demo;
pub mod panel_browser;
// Only the tests that move real data use it.
#[allow(unused_imports)]
pub use demo::*;

use ferry_accounts::domain::migration::{MigrationDecider, MigrationState, Place};
use ferry_events::*;
use ferry_infra::command::Decider;
use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::testkit::{TestStack, eventually, eventually_some};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use uuid::Uuid;

/// A running `ferry up` on a test stack, inside the test's process (zero2prod's
/// `spawn_app`): served on a port bound at 0, stopped through an injected shutdown.
/// [`spawn_up`] starts the binary itself.
pub struct Ferry {
    /// Its API.
    pub base: String,
    /// Where its event log is (to issue tokens).
    pub log: ferry_infra::config::LogArgs,
    /// The token that reads `/ready`'s details and `/metrics`.
    pub metrics_token: String,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A port free for both UDP and TCP on 127.0.0.1 (the DNS server listens on both).
pub fn free_dns_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
        let port = udp.local_addr().expect("bound").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts `ferry up` with instant transit installations and wipes and a calendar
/// open round the clock, and waits until it is ready.
pub async fn start(stack: &TestStack) -> Ferry {
    start_with(stack, &[]).await
}

/// As [`start`], with more settings by their environment variable's name (e.g. the
/// data mover's `FERRY_TEST_POSTGRES_URL`); a variable given here wins over the
/// defaults. Each is passed as the flag that reads it, so nothing touches the
/// process's environment. `FERRY_TEST_LOGS=1` prints ferry's logs
/// (`FERRY_TEST_LOG_FILTER`, `info` by default).
pub async fn start_with(stack: &TestStack, env: &[(&str, &str)]) -> Ferry {
    if std::env::var_os("FERRY_TEST_LOGS").is_some() {
        let filter = std::env::var("FERRY_TEST_LOG_FILTER").unwrap_or_else(|_| "info".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .try_init();
    }
    let mut settings_env = up_settings(stack);
    let metrics_token = metrics_token_of(&settings_env);
    // A setting given here replaces the default (a flag may be given once).
    settings_env.retain(|(name, _)| env.iter().all(|(given, _)| given != name));
    settings_env.extend(env.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let args = up_args(&settings_env);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(ferry::up_embedded(args, listener, shutdown.clone()));
    let client = reqwest::Client::new();
    let ready = eventually(30, || async {
        assert!(!task.is_finished(), "ferry up stopped while starting");
        ready_with_read_models(&client, &base, &metrics_token).await
    })
    .await;
    assert!(ready, "ferry up did not become ready");
    Ferry {
        base,
        log: log_args(stack),
        metrics_token,
        shutdown,
        task,
    }
}

/// Where a test's event log is, as `ferry token create` is told.
pub fn log_args(stack: &TestStack) -> ferry_infra::config::LogArgs {
    let settings = stack.log.settings();
    ferry_infra::config::LogArgs {
        nats_url: stack.nats_url.clone(),
        stream: settings.stream.clone(),
        subject_prefix: settings.subject_prefix.clone(),
        duplicate_window_secs: 120,
        clock_offset: chrono::Duration::zero(),
        credentials: ferry_infra::config::NatsCredentialArgs {
            dir: Some(ferry_infra::testkit::nats_credentials_dir().into()),
            ..Default::default()
        },
    }
}

/// A token acting as `actor` (`customer:c-42`, `support:jdoe`), issued in the log
/// `log` as the host's operator would (`ferry token create`). It lives a year and a
/// day, so that a ferry run ahead of time still takes it.
pub async fn token(log: &ferry_infra::config::LogArgs, actor: &str) -> String {
    let holder = ferry_infra::api::parse_person(actor).expect("a person");
    ferry::token::issue(log, holder, "test", 366)
        .await
        .expect("a token is issued")
        .token
}

/// Saves a token for each of `actors` under its name in `dir`, with the real
/// `ferry token create`, for the CLI's `--as <actor>`.
pub async fn save_tokens(stack: &TestStack, dir: &std::path::Path, actors: &[&str]) {
    let settings = stack.log.settings();
    for actor in actors {
        let (role, id) = actor.split_once(':').expect("role:id");
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["token", "create", &format!("--{role}"), id, "--days", "366"])
            .env("FERRY_TOKEN_DIR", dir)
            .env("FERRY_NATS_URL", &stack.nats_url)
            .env("FERRY_STREAM", &settings.stream)
            .env("FERRY_SUBJECT_PREFIX", &settings.subject_prefix)
            .env(
                "FERRY_NATS_CREDENTIALS_DIR",
                ferry_infra::testkit::nats_credentials_dir(),
            )
            .output()
            .await
            .expect("ferry token create runs");
        assert!(
            output.status.success(),
            "ferry token create {actor}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Imports the example fleet (`examples/fleet.yaml`: customer c-42's srv-0042 with
/// acc-1207 and acc-1208, c-77's srv-0077, two transit servers) as support.
pub async fn import_example_fleet(ferry: &Ferry) {
    let fleet = ferry::fleet::Fleet::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/fleet.yaml"
    )))
    .expect("the example fleet");
    ferry::fleet::import(&ferry.api("support:fleet").await, &fleet)
        .await
        .expect("imported");
}

/// Opens the migration of `server` to v2026 as `actor` (`customer:c-42`); returns
/// its id.
pub async fn open_migration(ferry: &Ferry, actor: &str, server: &str) -> Uuid {
    let opened = ferry
        .api(actor)
        .await
        .send::<serde_json::Value>(
            reqwest::Method::POST,
            &format!("/servers/{server}/migrations"),
            Some(serde_json::json!({ "target_version": "v2026" })),
        )
        .await
        .expect("the migration is opened");
    opened.json()["migration_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("its id")
}

/// The metrics token in `settings` (its file's content).
fn metrics_token_of(settings: &[(&str, String)]) -> String {
    let (_, file) = settings
        .iter()
        .find(|(name, _)| *name == "FERRY_METRICS_TOKEN_FILE")
        .expect("a metrics token file");
    std::fs::read_to_string(file)
        .expect("the metrics token")
        .trim()
        .to_owned()
}

/// The settings `ferry up` runs with in these tests, by their environment variable's
/// name: the test's own stream, subject prefix and database, instant transit
/// installations and wipes, a calendar open round the clock, a metrics token.
fn up_settings(stack: &TestStack) -> Vec<(&'static str, String)> {
    let settings = stack.log.settings();
    let metrics_token_file =
        std::env::temp_dir().join(format!("ferry-test-metrics-token-{}", settings.stream));
    if !metrics_token_file.exists() {
        let token = format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple());
        std::fs::write(&metrics_token_file, token).expect("a metrics token file");
    }
    vec![
        (
            "FERRY_METRICS_TOKEN_FILE",
            metrics_token_file.display().to_string(),
        ),
        ("FERRY_NATS_URL", stack.nats_url.clone()),
        // Each service connects as its own NATS user, with the stack's credentials.
        (
            "FERRY_NATS_CREDENTIALS_DIR",
            ferry_infra::testkit::nats_credentials_dir(),
        ),
        ("FERRY_STREAM", settings.stream.clone()),
        ("FERRY_SUBJECT_PREFIX", settings.subject_prefix.clone()),
        ("FERRY_DATABASE_URL", stack.database_url.clone()),
        // Its own secret store, outside the source tree.
        (
            "FERRY_SECRETS_DIR",
            std::env::temp_dir()
                .join(format!("ferry-test-secrets-{}", settings.stream))
                .display()
                .to_string(),
        ),
        ("FERRY_SHUTDOWN_GRACE_SECS", "5".into()),
        ("FERRY_TRANSIT_INSTALL_SECS", "0".into()),
        ("FERRY_TRANSIT_WIPE_SECS", "0".into()),
        ("FERRY_WORKING_DAYS", "mon-sun".into()),
        ("FERRY_WORKING_HOURS", "00:00-24:00".into()),
        ("FERRY_TIME_ZONE", "UTC".into()),
        // Its own DNS server and redirect, beside the other tests'.
        ("FERRY_DNS_ADDR", format!("127.0.0.1:{}", free_dns_port())),
        ("FERRY_REDIRECT_ADDR", format!("127.0.0.1:{}", free_port())),
        // The tests' servers keep their data under the system's temporary directory.
        (
            "FERRY_STORAGE_ROOTS",
            format!(
                "{}:{}",
                std::env::temp_dir().display(),
                ferry_events::input::DEFAULT_ALLOWED_ROOTS
            ),
        ),
        // Its messages in a maildir of its own, not under the source tree.
        (
            "FERRY_MAILDIR",
            std::env::temp_dir()
                .join(format!("ferry-test-maildir-{}", settings.stream))
                .display()
                .to_string(),
        ),
    ]
}

/// How [`spawn_up`] starts the binary, besides [`up_settings`].
#[derive(Debug, Default, Clone)]
pub struct UpOptions {
    /// More settings by their environment variable's name; they win over the defaults
    /// (`FERRY_LOG` is `warn` unless given).
    pub env: Vec<(&'static str, String)>,
    /// Put first on its `PATH` (e.g. a directory with a slowed-down `rsync`).
    pub path_first: Option<PathBuf>,
    /// Where its output goes (nowhere without).
    pub log_file: Option<PathBuf>,
}

/// `ferry up` as a process of its own: the real binary, on a test's stack.
pub struct UpProcess {
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Its API.
    pub base: String,
    /// Where its event log is (to issue tokens).
    pub log: ferry_infra::config::LogArgs,
    /// The token that reads `/ready`'s details and `/metrics`.
    pub metrics_token: String,
    /// The process, killed when dropped.
    pub child: tokio::process::Child,
    log_file: Option<PathBuf>,
}

/// Starts the `ferry` binary's `up` on `stack` (its own stream, subject prefix and
/// database, [`up_settings`]) and waits until it is ready.
pub async fn spawn_up(stack: &TestStack, options: &UpOptions) -> UpProcess {
    let port = free_port();
    let metrics_token = metrics_token_of(&up_settings(stack));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .arg("up")
        .env("FERRY_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("FERRY_LOG", "warn")
        .envs(up_settings(stack))
        .envs(options.env.iter().cloned())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = &options.path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", dir.display()));
    }
    match &options.log_file {
        Some(file) => {
            let log = std::fs::File::create(file).expect("a log file");
            command
                .stdout(log.try_clone().expect("the log file"))
                .stderr(log);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let mut child = command.spawn().expect("ferry starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = eventually(30, || {
        let exited = child.try_wait().ok().flatten();
        let (client, base, metrics_token) = (client.clone(), base.clone(), metrics_token.clone());
        async move {
            if let Some(status) = exited {
                panic!("ferry up stopped while starting: {status}");
            }
            ready_with_read_models(&client, &base, &metrics_token).await
        }
    })
    .await;
    let process = UpProcess {
        port,
        base,
        log: log_args(stack),
        metrics_token,
        child,
        log_file: options.log_file.clone(),
    };
    assert!(ready, "ferry up did not become ready:\n{}", process.logs());
    process
}

impl UpProcess {
    /// A CLI client with a token acting as `actor`.
    pub async fn api(&self, actor: &str) -> ferry::client::Api {
        ferry::client::Api::new(&self.base, &token(&self.log, actor).await).expect("a token")
    }

    /// Kills it as a crash would (SIGKILL: nothing run on the way out) and reaps it.
    pub async fn crash(&mut self) {
        ferry_infra::testkit::crash(&mut self.child).await;
    }

    /// Stops it with SIGTERM and waits for its clean end within its grace period.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("stops within its grace period")
            .expect("exit status");
        assert!(
            status.success(),
            "clean exit on SIGTERM: {status:?}\n{}",
            self.logs()
        );
    }

    /// Its output so far (empty without a log file).
    pub fn logs(&self) -> String {
        self.log_file
            .as_ref()
            .and_then(|file| std::fs::read_to_string(file).ok())
            .unwrap_or_default()
    }
}

/// Whether the `ferry up` at `base` is ready (`/ready`) and has built every read model:
/// each projection running, its tables made. Ready alone is not enough for a test
/// that reads at once: a projection still starting answers "being built".
async fn ready_with_read_models(client: &reqwest::Client, base: &str, metrics_token: &str) -> bool {
    let Ok(response) = client
        .get(format!("{base}/ready"))
        .bearer_auth(metrics_token)
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let Ok(body) = response.json::<serde_json::Value>().await else {
        return false;
    };
    body["projections"].as_array().is_some_and(|projections| {
        !projections.is_empty() && projections.iter().all(|p| p["state"] == "running")
    })
}

/// `ferry up`'s settings from `(variable, value)` pairs, each given as the flag that
/// reads the variable (the last pair for a variable wins).
fn up_args(env: &[(&str, String)]) -> ferry::cli::UpArgs {
    use clap::{CommandFactory, Parser};
    let command = ferry::Cli::command();
    let up = command.find_subcommand("up").expect("ferry up");
    let mut argv = vec!["ferry".to_owned(), "up".to_owned()];
    for (name, value) in env {
        let flag = up
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|e| e == *name))
            .and_then(|arg| arg.get_long())
            .unwrap_or_else(|| panic!("no flag of ferry up reads {name}"));
        argv.push(format!("--{flag}={value}"));
    }
    match ferry::Cli::try_parse_from(&argv) {
        Ok(ferry::Cli {
            command: ferry::Command::Up(args),
            ..
        }) => *args,
        Ok(_) => panic!("not ferry up"),
        Err(e) => panic!("ferry up {argv:?}: {e}"),
    }
}

impl Ferry {
    /// A CLI client with a token acting as `actor`.
    pub async fn api(&self, actor: &str) -> ferry::client::Api {
        ferry::client::Api::new(&self.base, &token(&self.log, actor).await).expect("a token")
    }

    /// Stops it (as SIGTERM would) and waits for a clean end.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("stops within its grace period")
            .expect("joined")
            .expect("clean end");
    }
}

/// A migration's state, folded from the log.
pub async fn migration(log: &EventLog, id: Uuid) -> MigrationState {
    let aggregate = AggregateRef::new(AggregateType::Migration, id.to_string()).expect("id");
    let loaded = log.load(&aggregate).await.expect("loads");
    MigrationDecider::fold(loaded.events.iter().map(|r| &r.envelope.event))
}

/// Seconds a real transfer may take here: a few, but creating a replication slot can
/// wait a minute on the shared PostgreSQL (another test's `DROP DATABASE` waits for
/// every backend to take its signal, a slot being created waits for that drop's
/// transaction, until `wal_sender_timeout` ends a walsender stuck in between).
pub const TRANSFER_SECS: u64 = 180;

/// Waits (up to [`TRANSFER_SECS`]: real transfers may be under way) until the
/// migration is in `state` (its name in docs/process.md).
pub async fn wait_for_state(log: &EventLog, id: Uuid, state: &str) -> MigrationState {
    let reached = eventually_some(TRANSFER_SECS, || async {
        let current = migration(log, id).await;
        (current.state_name() == state).then_some(current)
    })
    .await;
    match reached {
        Some(current) => current,
        None => panic!(
            "migration {id} never became {state}; it is {}",
            migration(log, id).await.state_name()
        ),
    }
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
    let ended = eventually_some(seconds, || async {
        outcome(&transfer_events(log, transfer_id).await)
    })
    .await;
    match ended {
        Some(Ok(completed)) => completed,
        Some(Err(reason)) => panic!("transfer {transfer_id}: {reason}"),
        None => panic!(
            "transfer {transfer_id} did not end in {seconds} s: {:?}",
            transfer_events(log, transfer_id)
                .await
                .iter()
                .map(Event::event_type)
                .collect::<Vec<_>>()
        ),
    }
}

/// Waits until `account` is at `place`; panics early with the reason if the transfer
/// moving it fails, or after `seconds`.
pub async fn wait_for_place(log: &EventLog, id: Uuid, account: &str, place: &Place, seconds: u64) {
    let reached = eventually_some(seconds, || async {
        let current = migration(log, id).await.accounts[account].place.clone();
        if current == *place {
            return Some(Ok(()));
        }
        if let Place::MovingToTransit { transfer_id }
        | Place::RollingBack { transfer_id }
        | Place::Relocating { transfer_id } = current
            && let Some(Err(reason)) = outcome(&transfer_events(log, transfer_id).await)
        {
            return Some(Err(format!("transfer {transfer_id}: {reason}")));
        }
        None
    })
    .await;
    match reached {
        Some(Ok(())) => {}
        Some(Err(reason)) => panic!("{account} never reached {place:?}: {reason}"),
        None => panic!(
            "{account} never reached {place:?} in {seconds} s; it is {:?}",
            migration(log, id).await.accounts[account].place
        ),
    }
}
