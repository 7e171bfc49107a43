//! Test helpers: each test gets its own PostgreSQL database and its own JetStream
//! stream and subject prefix on the local stack (`scripts/stack up`), so tests run in
//! parallel and leave nothing behind (both are removed when the [`TestStack`] drops,
//! also when the test panics). The test's stream is set up, and its inputs appended,
//! as the setup NATS user; [`TestStack::log_as`] connects as a service's own user. [`scenario`] is given/when/then for the pure deciders;
//! [`append_inputs`] publishes test inputs; [`eventually`] and [`eventually_some`] wait
//! (bounded) for their effects.

mod actor_header;
pub mod bulk;
mod inputs;
mod tools;
pub use ferry_core::scenario;

pub use actor_header::{TEST_ACTOR_HEADER, trusting_actor_header};
pub use inputs::{append_inputs, eventually, eventually_some};
pub use tools::{crash, slow_rsync};

use crate::event_log::{EventLog, LogSettings};
use crate::nats_users::{NatsCredentials, NatsIdentity, NatsUser};
use deadpool_postgres::Pool;
use std::time::Duration;

/// A setting of the local stack that tests read from the environment: `scripts/stack up`
/// writes them all to `.stack/env`. Panics naming the variable when it is unset: the tests
/// never guess a server (the machine's own servers are not ferry's).
pub fn stack_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: the tests run against ferry's local stack; \
             run `scripts/stack up` and `. .stack/env` first (or use scripts/test, which does both)"
        ),
    }
}

/// NATS of the local stack (`FERRY_NATS_URL`).
pub fn nats_url() -> String {
    stack_var("FERRY_NATS_URL")
}

/// The local stack's NATS credentials (`FERRY_NATS_CREDENTIALS_DIR`: one nkey seed per
/// ferry NATS user).
pub fn nats_credentials_dir() -> String {
    stack_var("FERRY_NATS_CREDENTIALS_DIR")
}

/// The credentials of the local stack's NATS users.
pub fn nats_credentials() -> NatsCredentials {
    NatsCredentials::from_dir(nats_credentials_dir())
}

/// `user`'s identity on the local stack's NATS. Panics naming the file when it
/// cannot be read.
pub fn nats_identity(user: NatsUser) -> NatsIdentity {
    nats_credentials()
        .load(user)
        .unwrap_or_else(|e| panic!("{e}: run scripts/stack up"))
}

/// A raw NATS connection to the local stack as `user` (for what the event log does
/// not do; the setup user may do anything).
pub async fn nats_client(user: NatsUser) -> async_nats::Client {
    try_nats_client(user)
        .await
        .unwrap_or_else(|e| panic!("{e}: run scripts/stack up"))
}

async fn try_nats_client(user: NatsUser) -> Result<async_nats::Client, String> {
    let file = nats_credentials()
        .file_of(user)
        .map_err(|e| e.to_string())?;
    let seed = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let url = nats_url();
    async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
        .custom_inbox_prefix(user.inbox_prefix())
        .connect(&url)
        .await
        .map_err(|e| format!("NATS at {url} as {user}: {e}"))
}

/// A PostgreSQL URL allowed to create databases (`FERRY_TEST_ADMIN_DATABASE_URL`), on
/// its `postgres` database: the stack's own PostgreSQL.
pub fn admin_database_url() -> String {
    stack_var("FERRY_TEST_ADMIN_DATABASE_URL")
}

/// The same server as [`admin_database_url`], on the database `database`.
pub fn database_url(database: &str) -> String {
    replace_database(&admin_database_url(), database)
}

/// A MariaDB URL allowed to create databases and read the binary log
/// (`FERRY_TEST_ADMIN_MYSQL_URL`, e.g. `mysql://root@127.0.0.1:13306`): the stack's own
/// MariaDB.
pub fn admin_mysql_url() -> String {
    stack_var("FERRY_TEST_ADMIN_MYSQL_URL")
}

/// Arguments of the `mariadb` client for [`admin_mysql_url`]: TCP, host, port, user
/// (and the password, if the URL has one), no option file of the machine read.
pub fn mysql_client_args() -> Vec<String> {
    let url = admin_mysql_url();
    let rest = url
        .strip_prefix("mysql://")
        .unwrap_or_else(|| panic!("FERRY_TEST_ADMIN_MYSQL_URL={url}: not a mysql:// URL"));
    let rest = rest.split(['/', '?']).next().unwrap_or_default();
    let (login, address) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = login.split_once(':').unwrap_or((login, ""));
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "3306"));
    let mut args = vec![
        "--no-defaults".to_owned(),
        "--protocol=TCP".to_owned(),
        format!("-h{host}"),
        format!("-P{port}"),
    ];
    if !user.is_empty() {
        args.push(format!("-u{user}"));
    }
    if !password.is_empty() {
        args.push(format!("-p{password}"));
    }
    args
}

/// The server URLs named by files written for the default stack (examples/fleet.yaml):
/// its PostgreSQL and MariaDB on their default ports, as administrators.
pub const DEFAULT_STACK_URLS: [&str; 2] = [
    "postgres://postgres:postgres@127.0.0.1:15432/postgres",
    "mysql://root@127.0.0.1:13306",
];

/// `text` (a fleet file written for the default stack) with the default stack's server
/// URLs replaced by those of the stack the tests run on, whatever its ports.
pub fn on_this_stack(text: &str) -> String {
    text.replace(DEFAULT_STACK_URLS[0], &admin_database_url())
        .replace(DEFAULT_STACK_URLS[1], &admin_mysql_url())
}

/// A private database and event log for one test.
pub struct TestStack {
    /// The test's event log (its own stream and subject prefix).
    pub log: EventLog,
    /// A pool on the test's database.
    pub pool: Pool,
    /// URL of the test's database.
    pub database_url: String,
    /// URL of NATS.
    pub nats_url: String,
    database: String,
    stream: String,
}

impl TestStack {
    /// Creates the database and the stream. Panics with a hint when the stack is not up.
    pub async fn new() -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let database = format!("ferry_test_{id}");
        let admin = admin_database_url();
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin} unreachable ({e}): run scripts/stack up")
            });
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .expect("create the test database");
        let database_url = replace_database(&admin, &database);
        let pool = crate::postgres::connect(&database_url, 8)
            .await
            .expect("connect to the test database");

        let nats_url = nats_url();
        let settings = LogSettings {
            stream: format!("T_{id}"),
            subject_prefix: format!("t{id}"),
            duplicate_window: Duration::from_secs(120),
            clock: crate::clock::Clock::system(),
        };
        let stream = settings.stream.clone();
        let log = EventLog::set_up(&nats_url, &nats_identity(NatsUser::Setup), settings)
            .await
            .unwrap_or_else(|e| panic!("NATS at {nats_url} unusable ({e}): run scripts/stack up"));
        Self {
            log,
            pool,
            database_url,
            nats_url,
            database,
            stream,
        }
    }

    /// Another connection to the same stream, as a second process would have (as the
    /// setup user, like [`TestStack::log`]).
    pub async fn second_log(&self) -> EventLog {
        self.log_as(NatsUser::Setup).await
    }

    /// A connection to the test's stream as `user`, as that service connects: it may
    /// append only to its own aggregates.
    pub async fn log_as(&self, user: NatsUser) -> EventLog {
        EventLog::connect(
            &self.nats_url,
            &nats_identity(user),
            self.log.settings().clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
    }

    /// What a policy runs on in this test: its log, database and parked reactions,
    /// with a fresh status board (a process of its own).
    pub async fn policy_context(&self) -> crate::policy::PolicyContext {
        self.policy_context_on(self.log.clone()).await
    }

    /// The same on another connection to the log (a second or restarted process).
    pub async fn policy_context_on(&self, log: EventLog) -> crate::policy::PolicyContext {
        crate::policy::PolicyContext {
            log,
            pool: self.pool.clone(),
            board: crate::projection::StatusBoard::default(),
            parked: crate::policy::parked::ParkedReactions::open(self.pool.clone())
                .await
                .expect("parked reactions' tables"),
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let (database, stream, admin) = (
            self.database.clone(),
            self.stream.clone(),
            admin_database_url(),
        );
        self.pool.close();
        // Drop runs inside the test's runtime: clean up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(client) = try_nats_client(NatsUser::Setup).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await;
                }
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

fn replace_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, rest)) => {
            let query = rest
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            format!("{base}/{database}{query}")
        }
        None => format!("{url}/{database}"),
    }
}
