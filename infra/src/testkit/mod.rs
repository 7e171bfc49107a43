//! Test helpers: each test gets its own PostgreSQL database and its own JetStream
//! stream and subject prefix on the local stack (`scripts/stack up`), so tests run in
//! parallel and leave nothing behind (both are removed when the [`TestStack`] drops,
//! also when the test panics). [`scenario`] is given/when/then for the pure deciders;
//! [`append_inputs`] and [`eventually`] publish test inputs and wait for their effects.

mod inputs;
pub use ferry_core::scenario;

pub use inputs::{append_inputs, eventually};

use crate::event_log::{EventLog, LogSettings};
use deadpool_postgres::Pool;
use std::time::Duration;

/// NATS of the local stack (`FERRY_NATS_URL`).
pub fn nats_url() -> String {
    std::env::var("FERRY_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:14222".into())
}

/// A PostgreSQL URL allowed to create databases (`FERRY_TEST_ADMIN_DATABASE_URL`).
pub fn admin_database_url() -> String {
    std::env::var("FERRY_TEST_ADMIN_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
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
        };
        let stream = settings.stream.clone();
        let log = EventLog::connect(&nats_url, settings)
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

    /// Another connection to the same stream, as a second process would have.
    pub async fn second_log(&self) -> EventLog {
        EventLog::connect(&self.nats_url, self.log.settings().clone())
            .await
            .expect("second connection")
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
        let (database, stream, admin, nats) = (
            self.database.clone(),
            self.stream.clone(),
            admin_database_url(),
            self.nats_url.clone(),
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
                if let Ok(client) = async_nats::connect(&nats).await {
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
