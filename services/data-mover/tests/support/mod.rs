//! A little world for the data mover's end-to-end tests: a client server and a
//! transit server as directories under a temp dir and as name prefixes on the stack's
//! PostgreSQL and MariaDB, their events in a fresh JetStream stream, and the data
//! mover's reactor and worker running on it. Every world has its own prefix, so
//! tests run in parallel; `cleanup` drops what it made.

#![allow(dead_code)] // each test file uses its part

pub mod freeze;
pub mod network;
pub mod worker_process;

use ferry_data_mover::MoverSettings;
use ferry_data_mover::domain::policy::MoverPolicy;
use ferry_data_mover::engine::Mover;
use ferry_data_mover::reactor::{MoverExecutor, TransferWorker};
use ferry_events::*;
use ferry_infra::command::CommandHandler;
use ferry_infra::event_log::EventLog;
use ferry_infra::testkit::{self, TestStack, append_inputs, eventually_some};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The stack's PostgreSQL, as its administrator on the `postgres` database
/// (`FERRY_TEST_ADMIN_DATABASE_URL`, written by `scripts/stack up`).
pub fn pg_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(testkit::admin_database_url)
}

/// The stack's MariaDB, as root (`FERRY_TEST_ADMIN_MYSQL_URL`).
pub fn my_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(testkit::admin_mysql_url)
}

pub struct World {
    pub stack: TestStack,
    pub log: EventLog,
    pub root: PathBuf,
    /// Unique to this world: starts every database name it makes.
    pub tag: String,
    pub migration: Uuid,
    stop: CancellationToken,
    network_stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    policy_context: ferry_infra::policy::PolicyContext,
}

impl World {
    pub async fn new() -> World {
        let stack = TestStack::new().await;
        let log = stack.log.clone();
        let id = Uuid::now_v7().simple().to_string();
        let tag = format!("w{}", &id[id.len() - 8..]);
        let root = std::env::temp_dir().join(format!("ferry-dm-{tag}"));
        let policy_context = stack.policy_context().await;
        World {
            policy_context,
            stack,
            log,
            root,
            tag,
            migration: Uuid::now_v7(),
            stop: CancellationToken::new(),
            network_stop: CancellationToken::new(),
            tasks: vec![],
        }
    }

    /// A server's storage: directories under the world's root, and its own name
    /// prefix on the local database servers; as recorded, the logins' passwords in
    /// the world's secret store and their references in the storage.
    pub fn storage(&self, server: &str) -> ServerStorage {
        let dir = self.root.join(server);
        let prefix = self.prefix(server);
        let mut storage = ServerStorage {
            files_root: dir.join("files").display().to_string(),
            mail_root: dir.join("mail").display().to_string(),
            postgres_url: Some(format!("{}?prefix={prefix}", pg_url())),
            mysql_url: Some(format!("{}?prefix={prefix}", my_url())),
            ..ServerStorage::default()
        };
        ferry_infra::secrets::edge::take_passwords(Some(&self.secrets()), "storage", &mut storage)
            .expect("the world's secret store takes the passwords");
        storage
    }

    /// The world's secret store, under its root.
    pub fn secrets(&self) -> ferry_infra::secrets::SecretStore {
        ferry_infra::secrets::SecretStore::new(self.root.join("secrets"))
    }

    /// `settings` resolving passwords from the world's secret store.
    pub fn with_secrets(&self, settings: MoverSettings) -> MoverSettings {
        settings
            .with_secrets(self.secrets())
            .expect("the world's secret store")
    }

    pub fn prefix(&self, server: &str) -> String {
        format!("{}{}_", self.tag, server.replace('-', ""))
    }

    /// A database's real name on `server`.
    pub fn db(&self, server: &str, name: &str) -> String {
        format!("{}{name}", self.prefix(server))
    }

    pub fn path(&self, server: &str, rest: &str) -> PathBuf {
        self.root.join(server).join(rest)
    }

    pub async fn append(&self, kind: AggregateType, id: &str, events: Vec<Event>) {
        append_inputs(
            &self.log,
            kind,
            id,
            self.migration,
            events,
            Actor::system("test"),
        )
        .await;
    }

    /// Registers the client server with `accounts`, a transit server, and a
    /// migration of the one to the other.
    pub async fn client_and_transit(&self, accounts: Vec<AccountSpec>) {
        let mut events: Vec<Event> = vec![
            ServerRegistered {
                server_id: "srv-1".into(),
                name: "bakery.example".into(),
                kind: ServerKind::Vps,
                configuration: "vps-4c-8g".into(),
                infrastructure_version: "v2020".into(),
                ipv4: vec!["192.0.2.1".into()],
                ipv6: vec![],
                monthly_price: Money::new(4_900, "EUR"),
                customer_id: "c-1".into(),
                contact_email: "a@b.example".into(),
                locale: "fr".into(),
                storage: self.storage("srv-1"),
            }
            .into(),
        ];
        let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
        events.extend(
            accounts
                .into_iter()
                .map(|account| AccountAdded { account }.into()),
        );
        self.append(AggregateType::Server, "srv-1", events).await;
        self.append(
            AggregateType::TransitServer,
            "tr-1",
            vec![
                TransitServerAdded {
                    name: "transit-1".into(),
                    configuration: "vps-4c-8g".into(),
                    infrastructure_version: "v2026".into(),
                    ipv4: vec!["198.51.100.1".into()],
                    ipv6: vec![],
                    storage: self.storage("tr-1"),
                }
                .into(),
            ],
        )
        .await;
        self.migration_events(vec![
            MigrationOpened {
                migration_id: self.migration,
                server_id: "srv-1".into(),
                customer_id: "c-1".into(),
                from_version: "v2020".into(),
                target_version: "v2026".into(),
                accounts: ids,
            }
            .into(),
            TransitServerAssigned {
                transit_server_id: "tr-1".into(),
            }
            .into(),
        ])
        .await;
    }

    /// The accounts service asking for an account's move (`Cutover`), rollback or
    /// relocation with `transfer_id`.
    pub async fn account_transfer(&self, kind: TransferKind, account_id: &str, transfer_id: Uuid) {
        let (account_id, estimated_downtime_ms) = (account_id.to_owned(), 60_000);
        let event: Event = match kind {
            TransferKind::Rollback => AccountRollbackStarted {
                account_id,
                transfer_id,
                estimated_downtime_ms,
            }
            .into(),
            TransferKind::Relocation => AccountRelocationStarted {
                account_id,
                transfer_id,
                estimated_downtime_ms,
            }
            .into(),
            _ => AccountMoveStarted {
                account_id,
                transfer_id,
                estimated_downtime_ms,
            }
            .into(),
        };
        self.migration_events(vec![event]).await;
    }

    /// Appends a transfer of `accounts` from srv-1 to tr-1 as scheduled, as the data
    /// mover's policy would; its id.
    pub async fn schedule(&self, kind: TransferKind, accounts: Vec<AccountSpec>) -> Uuid {
        let transfer_id = Uuid::now_v7();
        let scheduled = TransferScheduled {
            transfer_id,
            kind,
            migration_id: Some(self.migration),
            server_id: "srv-1".into(),
            accounts,
            source: transfer::Endpoint {
                server_id: "srv-1".into(),
                storage: self.storage("srv-1"),
            },
            destination: transfer::Endpoint {
                server_id: "tr-1".into(),
                storage: self.storage("tr-1"),
            },
        };
        self.append(
            AggregateType::Transfer,
            &transfer_id.to_string(),
            vec![scheduled.into()],
        )
        .await;
        transfer_id
    }

    pub async fn migration_events(&self, events: Vec<Event>) {
        self.append(
            AggregateType::Migration,
            &self.migration.to_string(),
            events,
        )
        .await;
    }

    /// Starts the data mover's policy (view and reactor) and worker, and the
    /// network's part of the handshake.
    pub fn start(&mut self, settings: MoverSettings) {
        self.start_mover_alone(settings);
        self.start_network();
    }

    /// Starts the data mover's policy (view and reactor) and worker, with a network
    /// that holds frozen accounts' requests but switches nothing: verified cutovers
    /// wait for a traffic switch nobody makes.
    pub fn start_mover(&mut self, settings: MoverSettings) {
        let (log, stop) = (self.log.clone(), self.network_stop.clone());
        self.tasks
            .push(tokio::spawn(network::hold_frozen_accounts(log, stop)));
        self.start_mover_alone(settings);
    }

    /// Starts the data mover's policy and worker without any network: cutovers wait
    /// for a hold nobody makes.
    pub fn start_mover_alone(&mut self, settings: MoverSettings) {
        self.stop = CancellationToken::new();
        let mover = Mover::new(
            CommandHandler::new(self.log.clone(), 20),
            self.with_secrets(settings),
        );
        let executor = MoverExecutor::new(mover.clone());
        let worker = TransferWorker::new(mover, self.stop.clone());
        let stop = self.stop.clone();
        let context = self.policy_context.clone();
        self.tasks.push(tokio::spawn(async move {
            ferry_infra::policy::run::<MoverPolicy, _>(context, executor, stop)
                .await
                .expect("policy runs");
        }));
        let log = self.log.clone();
        let parked = self.policy_context.parked.clone();
        self.tasks.push(tokio::spawn(async move {
            worker.run(log, parked).await.expect("worker runs");
        }));
    }

    /// Starts the network's part of the handshake: verified cutovers switched.
    pub fn start_network(&mut self) {
        let (log, stop) = (self.log.clone(), self.network_stop.clone());
        self.tasks
            .push(tokio::spawn(network::switch_verified_transfers(
                log,
                stop,
                Duration::ZERO,
            )));
    }

    /// Starts the data mover's policy alone (view and reactor, with its executor):
    /// the worker runs elsewhere, or not at all.
    pub fn start_policy(&mut self, settings: MoverSettings) {
        self.stop = CancellationToken::new();
        let mover = Mover::new(
            CommandHandler::new(self.log.clone(), 20),
            self.with_secrets(settings),
        );
        let executor = MoverExecutor::new(mover);
        let (context, stop) = (self.policy_context.clone(), self.stop.clone());
        self.tasks.push(tokio::spawn(async move {
            ferry_infra::policy::run::<MoverPolicy, _>(context, executor, stop)
                .await
                .expect("policy runs");
        }));
    }

    /// Stops them, as a SIGTERM would.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        self.network_stop.cancel();
        self.network_stop = CancellationToken::new();
        for task in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("stops in time")
                .expect("joined");
        }
    }

    /// The events of a transfer so far.
    pub async fn transfer(&self, transfer_id: Uuid) -> Vec<Event> {
        let aggregate = ferry_infra::event_log::AggregateRef::new(
            AggregateType::Transfer,
            transfer_id.to_string(),
        )
        .expect("id");
        match self.log.load(&aggregate).await {
            Ok(loaded) => loaded
                .events
                .into_iter()
                .map(|r| r.envelope.event)
                .collect(),
            Err(_) => vec![],
        }
    }

    /// Waits until the transfer completed or failed; its events.
    pub async fn ended(&self, transfer_id: Uuid, seconds: u64) -> Vec<Event> {
        let ended = eventually_some(seconds, || async {
            let events = self.transfer(transfer_id).await;
            events
                .iter()
                .any(|e| {
                    matches!(
                        e,
                        Event::Transfer(
                            TransferEvent::TransferCompleted(_) | TransferEvent::TransferFailed(_)
                        )
                    )
                })
                .then_some(events)
        })
        .await;
        match ended {
            Some(events) => events,
            None => panic!(
                "transfer {transfer_id} did not end in {seconds} s: {:?}",
                types(&self.transfer(transfer_id).await)
            ),
        }
    }

    /// Transfers scheduled so far.
    pub async fn scheduled(&self) -> Vec<TransferScheduled> {
        let replay = self
            .log
            .replay_filtered(1, vec![self.log.type_filter(AggregateType::Transfer)])
            .await
            .expect("replay");
        replay
            .filter_map(|r| async move {
                match r.ok()?.envelope.event {
                    Event::Transfer(TransferEvent::TransferScheduled(s)) => Some(s),
                    _ => None,
                }
            })
            .collect()
            .await
    }

    /// The data mover's pre-copy of srv-1's `accounts` to tr-1, for real: the server,
    /// the transit server and the migration registered, the transit server's
    /// installation completed, the data mover started with `settings`. Gives the
    /// pre-copy and its events once it ended.
    pub async fn pre_copy(
        &mut self,
        accounts: Vec<AccountSpec>,
        settings: MoverSettings,
    ) -> (TransferScheduled, Vec<Event>) {
        self.client_and_transit(accounts).await;
        self.append(
            AggregateType::TransitServer,
            "tr-1",
            vec![
                TransitInstallationCompleted {
                    migration_id: self.migration,
                }
                .into(),
            ],
        )
        .await;
        self.start(settings);
        let scheduled = self.scheduled_one("the pre-copy", 60, |_| true).await;
        let events = self.ended(scheduled.transfer_id, 60).await;
        (scheduled, events)
    }

    /// The first transfer scheduled that `wanted` accepts, waited for at most
    /// `seconds` (a panic naming `what` after that).
    pub async fn scheduled_one(
        &self,
        what: &str,
        seconds: u64,
        wanted: impl Fn(&TransferScheduled) -> bool,
    ) -> TransferScheduled {
        eventually_some(seconds, || async {
            self.scheduled().await.into_iter().find(|s| wanted(s))
        })
        .await
        .unwrap_or_else(|| panic!("no {what} scheduled within {seconds} s"))
    }

    /// Drops the world's databases and directories.
    pub async fn cleanup(&self) {
        if let Ok(admin) = pg("postgres").await
            && let Ok(rows) = admin
                .query(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1",
                    &[&format!("{}%", self.tag)],
                )
                .await
        {
            let names: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            pg_drop(&names.iter().map(String::as_str).collect::<Vec<_>>()).await;
        }
        if let Ok(names) = my(&format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}%'",
            self.tag
        )) {
            my_drop(&names.lines().filter(|n| !n.is_empty()).collect::<Vec<_>>());
        }
        std::fs::remove_dir_all(&self.root).ok();
    }
}

pub fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::event_type).collect()
}

pub fn completed(events: &[Event]) -> Option<&TransferCompleted> {
    events.iter().find_map(|e| match e {
        Event::Transfer(TransferEvent::TransferCompleted(c)) => Some(c),
        _ => None,
    })
}

pub fn failed(events: &[Event]) -> Option<&TransferFailed> {
    events.iter().find_map(|e| match e {
        Event::Transfer(TransferEvent::TransferFailed(f)) => Some(f),
        _ => None,
    })
}

pub fn account(id: &str, name: &str, databases: Vec<DatabaseSpec>) -> AccountSpec {
    AccountSpec {
        account_id: id.into(),
        name: name.into(),
        files_bytes: 300_000,
        mail_bytes: 1_000,
        databases,
        domains: vec![],
        languages: vec![],
    }
}

/// `acc-1` (`shop`) with a PostgreSQL database, `shop_pg`, and a MariaDB one,
/// `shop_my`: the account most transfer tests move.
pub fn shop_with_both_databases() -> AccountSpec {
    account(
        "acc-1",
        "shop",
        vec![
            database(DatabaseEngine::Postgres, "shop_pg"),
            database(DatabaseEngine::Mysql, "shop_my"),
        ],
    )
}

pub fn database(engine: DatabaseEngine, name: &str) -> DatabaseSpec {
    DatabaseSpec {
        engine,
        name: name.into(),
        size_bytes: 1_000_000,
        version: if engine == DatabaseEngine::Postgres {
            "15"
        } else {
            "10.11"
        }
        .into(),
    }
}

/// A fresh database name, `ferry_<prefix>_` and 12 hex digits: tests running at once
/// never share one.
pub fn unique(prefix: &str) -> String {
    let id = Uuid::now_v7().simple().to_string();
    format!("ferry_{prefix}_{}", &id[id.len() - 12..])
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, bytes).expect("written");
}

pub async fn pg(database: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&testkit::database_url(database), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Whether the PostgreSQL database `name` exists.
pub async fn pg_exists(name: &str) -> Result<bool, tokio_postgres::Error> {
    let row = pg("postgres")
        .await?
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?;
    Ok(row.is_some())
}

/// Drops these PostgreSQL databases if they exist, sessions and all (errors ignored).
pub async fn pg_drop(names: &[&str]) {
    if let Ok(admin) = pg("postgres").await {
        for name in names {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

/// Creates a PostgreSQL database with a table of `rows` rows (serial key).
pub async fn pg_shop(name: &str, rows: i64) {
    let admin = pg("postgres").await.expect("connects");
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("created");
    let db = pg(name).await.expect("connects");
    db.batch_execute(&format!(
        "CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL, at timestamptz DEFAULT now());
         INSERT INTO items (label) SELECT 'item ' || g FROM generate_series(1, {rows}) g;"
    ))
    .await
    .expect("filled");
}

pub async fn pg_count(name: &str) -> i64 {
    let db = pg(name).await.expect("connects");
    db.query_one("SELECT count(*) FROM items", &[])
        .await
        .expect("counts")
        .get(0)
}

/// The `mariadb` client's arguments for the stack's MariaDB: root over TCP, batch
/// output without column names, utf8mb4.
pub fn my_args() -> Vec<String> {
    let mut args = testkit::mysql_client_args();
    args.extend(["-N", "-B", "--default-character-set=utf8mb4"].map(String::from));
    args
}

/// Runs `sql` on the stack's MariaDB; its output, trimmed, or its stderr.
pub fn my(sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("mariadb")
        .args(my_args())
        .args(["-e", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Drops these MariaDB schemas if they exist (errors ignored).
pub fn my_drop(names: &[&str]) {
    for name in names {
        let _ = my(&format!("DROP DATABASE IF EXISTS `{name}`"));
    }
}

/// Creates a MariaDB schema with a table of `rows` rows (auto-increment key).
pub fn my_shop(name: &str, rows: u32) {
    my(&format!(
        "CREATE DATABASE `{name}`; USE `{name}`;
         CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200) NOT NULL) ENGINE=InnoDB;
         INSERT INTO orders (note) SELECT CONCAT('order ', seq) FROM seq_1_to_{rows};"
    ))
    .expect("created");
}

pub fn my_count(name: &str) -> u64 {
    my(&format!("SELECT COUNT(*) FROM `{name}`.orders"))
        .expect("counts")
        .parse()
        .expect("a number")
}
