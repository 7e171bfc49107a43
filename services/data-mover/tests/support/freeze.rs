//! For the freeze tests: writers that keep trying to write to a source as its
//! account's own (non-superuser) login, each counting its attempts and the writes
//! that got through after the freeze, and the transfer whose sources
//! `engine::freeze::{thaw_sources, retire_sources}` act on.

#![allow(dead_code)] // each test uses its part

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_events::transfer::Endpoint;
use ferry_events::{
    AccountSpec, DatabaseEngine, DatabaseSpec, ServerStorage, TransferKind, TransferScheduled,
};
use ferry_infra::testkit::eventually;
use mysql_async::prelude::Queryable;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Between two attempts of a writer: pacing only (two cores), never a wait for
/// something to happen.
const PACE: Duration = Duration::from_millis(10);

/// What one writer saw.
#[derive(Default, Debug)]
pub struct Tally {
    pub attempts: AtomicU64,
    pub successes: AtomicU64,
    /// Attempts that began and ended while the freeze was in place.
    pub frozen_attempts: AtomicU64,
    /// Writes that succeeded although the attempt began after the freeze was in place.
    pub through_freeze: AtomicU64,
}

/// One attempt: connects if it has to, writes once; `Ok` if the write committed.
pub type Attempt = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send>;

/// Writers running until dropped or stopped.
pub struct Writers {
    pub names: Vec<String>,
    pub tallies: Vec<Arc<Tally>>,
    /// Odd while the freeze is in place (from the freeze call's return to the thaw
    /// call), bumped at each change.
    epoch: Arc<AtomicU64>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Writers {
    pub fn new() -> Self {
        Self {
            names: vec![],
            tallies: vec![],
            epoch: Arc::new(AtomicU64::new(0)),
            stop: CancellationToken::new(),
            tasks: vec![],
        }
    }

    /// Starts a writer making `attempt` again and again.
    pub fn spawn(&mut self, name: &str, mut attempt: Attempt) {
        let tally = Arc::new(Tally::default());
        let (epoch, stop, counted) = (self.epoch.clone(), self.stop.clone(), tally.clone());
        self.tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                // Read before the attempt begins and after it ended: a write that
                // began before the freeze (or ended after the thaw) and was answered
                // late is not one that got through it.
                let began = epoch.load(Ordering::SeqCst);
                let written = tokio::select! {
                    written = attempt() => written,
                    () = stop.cancelled() => break,
                };
                counted.attempts.fetch_add(1, Ordering::SeqCst);
                let frozen = began % 2 == 1 && epoch.load(Ordering::SeqCst) == began;
                if frozen {
                    counted.frozen_attempts.fetch_add(1, Ordering::SeqCst);
                }
                if written {
                    counted.successes.fetch_add(1, Ordering::SeqCst);
                    if frozen {
                        counted.through_freeze.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::time::sleep(PACE).await;
            }
        }));
        self.names.push(name.to_owned());
        self.tallies.push(tally);
    }

    /// The freeze is in place (or, `false`, the thaw is called).
    pub fn set_frozen(&self, frozen: bool) {
        let now = self.epoch.load(Ordering::SeqCst);
        if (now % 2 == 1) != frozen {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn sum(&self, f: impl Fn(&Tally) -> u64) -> Vec<u64> {
        self.tallies.iter().map(|t| f(t)).collect()
    }

    pub fn attempts(&self) -> Vec<u64> {
        self.sum(|t| t.attempts.load(Ordering::SeqCst))
    }

    pub fn successes(&self) -> Vec<u64> {
        self.sum(|t| t.successes.load(Ordering::SeqCst))
    }

    /// Attempts made while frozen, all writers together.
    pub fn frozen_attempts(&self) -> u64 {
        self.sum(|t| t.frozen_attempts.load(Ordering::SeqCst))
            .iter()
            .sum()
    }

    /// Writes that got through a freeze, per writer.
    pub fn through_each(&self) -> Vec<u64> {
        self.sum(|t| t.through_freeze.load(Ordering::SeqCst))
    }

    /// Writes that got through a freeze, all writers together.
    pub fn through_freeze(&self) -> u64 {
        self.sum(|t| t.through_freeze.load(Ordering::SeqCst))
            .iter()
            .sum()
    }

    /// Waits until every writer made `more` attempts from now on.
    pub async fn keep_trying(&self, more: u64) -> bool {
        let from = self.attempts();
        eventually(60, || {
            let now = self.attempts();
            let from = from.clone();
            async move { now.iter().zip(&from).all(|(n, f)| *n >= f + more) }
        })
        .await
    }

    /// Waits until every writer wrote `more` times from now on.
    pub async fn keep_writing(&self, more: u64) -> bool {
        let from = self.successes();
        eventually(60, || {
            let now = self.successes();
            let from = from.clone();
            async move { now.iter().zip(&from).all(|(n, f)| *n >= f + more) }
        })
        .await
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A short name unique to this test run, for databases, roles and users.
pub fn unique(stem: &str) -> String {
    let id = Uuid::now_v7().simple().to_string();
    format!("{stem}{}", &id[id.len() - 10..])
}

/// A transfer moving one account with `databases` (names without the prefix) from
/// the server whose names start with `prefix` to one with another prefix, on the
/// stack's servers: what the engine's restart functions plan from.
pub fn transfer(
    prefix: &str,
    pg_url: &str,
    my_url: &str,
    databases: &[(DatabaseEngine, &str)],
) -> TransferScheduled {
    let storage = |prefix: &str| ServerStorage {
        files_root: "/nonexistent/files".into(),
        mail_root: "/nonexistent/mail".into(),
        postgres_url: Some(format!("{pg_url}?prefix={prefix}")),
        mysql_url: Some(format!("{my_url}?prefix={prefix}")),
        postgres_credential: None,
        mysql_credential: None,
    };
    TransferScheduled {
        transfer_id: Uuid::now_v7(),
        kind: TransferKind::Cutover,
        migration_id: None,
        server_id: "srv-1".into(),
        accounts: vec![AccountSpec {
            account_id: "acc-1".into(),
            name: "shop".into(),
            files_bytes: 0,
            mail_bytes: 0,
            databases: databases
                .iter()
                .map(|(engine, name)| DatabaseSpec {
                    engine: *engine,
                    name: (*name).to_owned(),
                    size_bytes: 0,
                    version: match engine {
                        DatabaseEngine::Postgres => "15".into(),
                        DatabaseEngine::Mysql => "10.11".into(),
                    },
                })
                .collect(),
            domains: vec![],
            languages: vec![],
        }],
        source: Endpoint {
            server_id: "srv-1".into(),
            storage: storage(prefix),
        },
        destination: Endpoint {
            server_id: "tr-1".into(),
            storage: storage(&format!("{prefix}dst_")),
        },
    }
}

/// `pg_url()` with another login (password `pw`) and database.
pub fn pg_as(user: &str, database: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(super::pg_url())?;
    let _ = url.set_username(user);
    let _ = url.set_password(Some("pw"));
    url.set_path(&format!("/{database}"));
    url.set_query(None);
    Ok(url.into())
}

/// One write (`sql`) on a new connection at `url`.
pub async fn pg_write_once(url: String, sql: String) -> bool {
    let Ok((client, connection)) = tokio_postgres::connect(&url, NoTls).await else {
        return false;
    };
    tokio::spawn(connection);
    client.batch_execute(&sql).await.is_ok()
}

/// The PostgreSQL writers of `insert` into `database`, as `app` (its owner): on new
/// connections, in one session that turns read-only off, and as an owner that first
/// tries to grant its database back from the `postgres` database.
pub fn pg_writers(app: &str, database: &str, insert: &str) -> Result<Writers, url::ParseError> {
    let mut writers = Writers::new();
    let url = pg_as(app, database)?;
    let (fresh, sql) = (url.clone(), insert.to_owned());
    writers.spawn(
        "pg: new connection each time",
        Box::new(move || Box::pin(pg_write_once(fresh.clone(), sql.clone()))),
    );
    let (session_url, sql) = (url.clone(), format!("BEGIN READ WRITE; {insert}; COMMIT"));
    let session: Arc<Mutex<Option<tokio_postgres::Client>>> = Arc::default();
    writers.spawn(
        "pg: one session, read-only turned off",
        Box::new(move || {
            let (url, session, sql) = (session_url.clone(), session.clone(), sql.clone());
            Box::pin(async move {
                let mut session = session.lock().await;
                if session.is_none()
                    && let Ok((client, connection)) = tokio_postgres::connect(&url, NoTls).await
                {
                    tokio::spawn(connection);
                    let set = client
                        .batch_execute(
                            "SET default_transaction_read_only = off;
                             SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
                        )
                        .await;
                    if set.is_ok() {
                        *session = Some(client);
                    }
                }
                let Some(client) = session.as_ref() else {
                    return false;
                };
                let written = client.batch_execute(&sql).await.is_ok();
                if !written {
                    *session = None;
                }
                written
            })
        }),
    );
    let maintenance = pg_as(app, "postgres")?;
    let grant = format!(
        "GRANT CONNECT ON DATABASE \"{database}\" TO PUBLIC, \"{app}\";
         ALTER DATABASE \"{database}\" RESET default_transaction_read_only"
    );
    let sql = format!("SET default_transaction_read_only = off; {insert}");
    writers.spawn(
        "pg: owner granting itself back in",
        Box::new(move || {
            let (maintenance, grant, url, sql) =
                (maintenance.clone(), grant.clone(), url.clone(), sql.clone());
            Box::pin(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&maintenance, NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&grant).await;
                }
                pg_write_once(url, sql).await
            })
        }),
    );
    Ok(writers)
}

/// A MariaDB session's options for `user` (password `pw`) on the stack's server.
pub fn my_opts(user: &str) -> Result<mysql_async::Opts, url::ParseError> {
    let url = url::Url::parse(super::my_url())?;
    Ok(mysql_async::OptsBuilder::default()
        .ip_or_hostname(url.host_str().unwrap_or("127.0.0.1").to_owned())
        .tcp_port(url.port().unwrap_or(3306))
        .user(Some(user.to_owned()))
        .pass(Some("pw"))
        .prefer_socket(false)
        // A write blocked by the read lock fails soon, and the writer tries again.
        .init(vec!["SET SESSION lock_wait_timeout = 1"])
        .into())
}

/// One write (`sql`) on a new connection with `opts`.
pub async fn my_write_once(opts: mysql_async::Opts, sql: String) -> bool {
    let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
        return false;
    };
    let written = conn.query_drop(&sql).await.is_ok();
    let _ = conn.disconnect().await;
    written
}

/// The MariaDB writers of `insert`: each `(name, user)` of `fresh` on new
/// connections, and `session_user` in one session asking for read-write
/// transactions.
pub fn my_writers(
    insert: &str,
    fresh: &[(&str, &str)],
    session_user: &str,
) -> Result<Writers, url::ParseError> {
    let mut writers = Writers::new();
    for (name, user) in fresh {
        let (opts, sql) = (my_opts(user)?, insert.to_owned());
        writers.spawn(
            name,
            Box::new(move || Box::pin(my_write_once(opts.clone(), sql.clone()))),
        );
    }
    let (opts, sql) = (my_opts(session_user)?, insert.to_owned());
    let session: Arc<Mutex<Option<mysql_async::Conn>>> = Arc::default();
    writers.spawn(
        "my: one session, read-write asked for",
        Box::new(move || {
            let (opts, sql, session) = (opts.clone(), sql.clone(), session.clone());
            Box::pin(async move {
                let mut session = session.lock().await;
                if session.is_none()
                    && let Ok(mut conn) = mysql_async::Conn::new(opts).await
                    && conn
                        .query_drop("SET SESSION TRANSACTION READ WRITE")
                        .await
                        .is_ok()
                {
                    *session = Some(conn);
                }
                let Some(conn) = session.as_mut() else {
                    return false;
                };
                let written = conn.query_drop(&sql).await.is_ok();
                if !written {
                    *session = None;
                }
                written
            })
        }),
    );
    Ok(writers)
}

/// Whether each account `user@'%'` is locked, in order.
pub fn my_locked(users: &[&str]) -> Result<Vec<bool>, String> {
    users
        .iter()
        .map(|user| {
            super::my(&format!(
                "SELECT COALESCE(JSON_VALUE(Priv, '$.account_locked'), 'false') IN ('true', '1')
                   FROM mysql.global_priv WHERE User = '{user}' AND Host = '%'"
            ))
            .map(|out| out == "1")
        })
        .collect()
}

/// The client server's shop (`shop_with_both_databases`: files, mail, 500 rows in
/// each database) owned by the account's own users, as a host sets it up: a
/// PostgreSQL role owning the database and its table, a MariaDB user with every
/// privilege on its schema, all named `<tag>app` with password `pw`. Gives that
/// name and the two source databases' names.
pub async fn shop_owned_by_its_users(world: &super::World) -> (String, String, String) {
    let app = format!("{}app", world.tag);
    let (src_pg, src_my) = (world.db("srv-1", "shop_pg"), world.db("srv-1", "shop_my"));
    super::write(&world.path("srv-1", "files/shop/www/index.php"), b"<?php");
    super::write(
        &world.path("srv-1", "mail/shop/Maildir/cur/1"),
        b"Subject: x",
    );
    super::pg_shop(&src_pg, 500).await;
    super::my_shop(&src_my, 500);
    super::pg("postgres")
        .await
        .expect("connects")
        .batch_execute(&format!(
            "CREATE ROLE \"{app}\" LOGIN PASSWORD 'pw';
             ALTER DATABASE \"{src_pg}\" OWNER TO \"{app}\";"
        ))
        .await
        .expect("the account's role");
    super::pg(&src_pg)
        .await
        .expect("connects")
        .batch_execute(&format!("ALTER TABLE items OWNER TO \"{app}\""))
        .await
        .expect("the account's table");
    super::my(&format!(
        "CREATE USER '{app}'@'%' IDENTIFIED BY 'pw';
         GRANT ALL ON `{src_my}`.* TO '{app}'@'%';"
    ))
    .expect("the account's user");
    (app, src_pg, src_my)
}

/// Writers as the shop's own user (`shop_owned_by_its_users`), inserting into its
/// PostgreSQL `items` and its MariaDB `orders`, each with a new connection per
/// write; writing once three writes went through on each.
pub async fn shop_writers(app: &str, src_pg: &str, src_my: &str) -> (Writers, Writers) {
    let pg = pg_writers(app, src_pg, "INSERT INTO items (label) VALUES ('w')").expect("pg writers");
    let my = my_writers(
        &format!("INSERT INTO `{src_my}`.orders (note) VALUES ('w')"),
        &[("my: new connection each time", app)],
        app,
    )
    .expect("my writers");
    assert!(pg.keep_writing(3).await && my.keep_writing(3).await);
    (pg, my)
}
