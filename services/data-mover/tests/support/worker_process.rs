//! The data mover's worker in a process of its own, to be killed as a crash would kill
//! it (SIGKILL): the test binary started again on its `worker_process` test, which runs
//! the worker when [`ROLE`] is set in its environment and returns at once otherwise.
//! Its settings travel in the environment; its logs go to a file under the world's
//! root (`worker-<n>.log`), shown when a test fails.

use super::World;
use ferry_data_mover::MoverSettings;
use ferry_data_mover::engine::Mover;
use ferry_data_mover::reactor::TransferWorker;
use ferry_infra::command::CommandHandler;
use ferry_infra::event_log::{EventLog, LogSettings};
use ferry_infra::policy::parked::ParkedReactions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Set in a worker process's environment: it runs the worker.
pub const ROLE: &str = "FERRY_TEST_WORKER_PROCESS";
const STREAM: &str = "FERRY_TEST_WORKER_STREAM";
const PREFIX: &str = "FERRY_TEST_WORKER_PREFIX";
const DATABASE: &str = "FERRY_TEST_WORKER_DATABASE_URL";
const SECRETS: &str = "FERRY_TEST_WORKER_SECRETS_DIR";
const FREEZE_COMMAND: &str = "FERRY_TEST_WORKER_FREEZE_COMMAND";

/// What a worker process is started with, besides the world's log and database.
#[derive(Debug, Default, Clone)]
pub struct WorkerOptions {
    /// The operator's freeze command.
    pub freeze_command: Option<String>,
    /// Put first on its `PATH` (e.g. a directory with a slowed-down `rsync`).
    pub path_first: Option<PathBuf>,
}

impl WorkerOptions {
    /// An operator's command that takes two seconds the first time it is run for
    /// `action` (`freeze`, `retire`, …), leaving the marker `once`: a kill then lands
    /// inside that step however fast the rest is.
    pub fn pausing_first(action: &str, once: &std::path::Path) -> Self {
        Self {
            freeze_command: Some(format!(
                "if [ \"$FERRY_FREEZE_ACTION\" = {action} ] && [ ! -e {once} ]; then touch {once}; sleep 2; fi",
                once = once.display()
            )),
            ..Self::default()
        }
    }
}

/// A worker process; killed (SIGKILL) when dropped.
pub struct WorkerProcess {
    pub child: tokio::process::Child,
    pub log_file: PathBuf,
}

impl World {
    /// Starts the data mover's worker in a process of its own, on this world.
    pub fn worker_process(&self, n: u32, options: &WorkerOptions) -> WorkerProcess {
        std::fs::create_dir_all(&self.root).expect("the world's root");
        let log_file = self.root.join(format!("worker-{n}.log"));
        let log = std::fs::File::create(&log_file).expect("a log file");
        let settings = self.log.settings();
        let mut cmd = tokio::process::Command::new(std::env::current_exe().expect("this test"));
        cmd.args(["--exact", "worker_process", "--nocapture"])
            .env(ROLE, "1")
            .env(STREAM, &settings.stream)
            .env(PREFIX, &settings.subject_prefix)
            .env(DATABASE, &self.stack.database_url)
            .env(SECRETS, self.secrets().dir())
            .env("RUST_LOG", "info,ferry_data_mover=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .kill_on_drop(true);
        if let Some(command) = &options.freeze_command {
            cmd.env(FREEZE_COMMAND, command);
        }
        if let Some(dir) = &options.path_first {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", dir.display()));
        }
        WorkerProcess {
            child: cmd.spawn().expect("the worker process starts"),
            log_file,
        }
    }
}

impl WorkerProcess {
    /// Kills it as a crash would (SIGKILL, nothing run on the way out) and reaps it.
    pub async fn crash(&mut self) {
        ferry_infra::testkit::crash(&mut self.child).await;
    }

    /// Its logs so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

/// The worker process's body: runs the worker on the log and database its environment
/// names until it is killed. Does nothing without [`ROLE`].
pub async fn run_if_asked() {
    if std::env::var_os(ROLE).is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let settings = LogSettings {
        stream: var(STREAM),
        subject_prefix: var(PREFIX),
        duplicate_window: Duration::from_secs(120),
        ..LogSettings::default()
    };
    // As the data mover connects: its own NATS user.
    let log = EventLog::connect(
        &ferry_infra::testkit::nats_url(),
        &ferry_infra::testkit::nats_identity(ferry_infra::nats_users::NatsUser::DataMover),
        settings,
    )
    .await
    .expect("the log");
    let pool = ferry_infra::postgres::connect(&var(DATABASE), 4)
        .await
        .expect("the database");
    let parked = ParkedReactions::open(pool).await.expect("parked reactions");
    let settings = MoverSettings {
        progress_every: Duration::ZERO,
        freeze_command: std::env::var(FREEZE_COMMAND).ok(),
        ..MoverSettings::default()
    }
    .with_secrets(ferry_infra::secrets::SecretStore::new(var(SECRETS)))
    .expect("the world's secret store");
    let mover = Mover::new(CommandHandler::new(log.clone(), 20), settings);
    let worker = TransferWorker::new(mover, CancellationToken::new());
    tracing::info!("worker process running");
    worker.run(log, parked).await.expect("the worker runs");
}
