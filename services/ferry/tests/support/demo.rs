//! This run's world for the `ferry up` tests that move real data: the example fleet
//! under a temp dir and behind a name tag of this run, srv-0042's accounts with
//! files, mail, a PostgreSQL and a MariaDB database, and the sessions to read and
//! write them where they land.

use ferry::fleet::Fleet;
use ferry_infra::testkit;
use std::path::{Path, PathBuf};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// Where customers reach the test copies.
pub const TEST_ADDRESS: &str = "test-0042.hosting.example";
/// Rows of the bakery's PostgreSQL shop (`orders`).
pub const BAKERY_ROWS: i64 = 50;
/// Rows of the blog's MariaDB WordPress (`posts`).
pub const BLOG_ROWS: u64 = 20;

/// This run's world: the example fleet with its directories under a temp dir and its
/// database names behind a tag of this run, so runs never meet. Dropping it drops
/// every database and directory it made (ferry must be stopped by then).
pub struct Demo {
    /// Starts every database name of this run.
    pub tag: String,
    /// Replaces `/var/tmp/ferry-demo`.
    pub root: PathBuf,
}

impl Demo {
    pub fn new() -> Self {
        let id = Uuid::now_v7().simple().to_string();
        // The end of a v7 id is random; short, so that the longest derived names
        // (`<tag>srv0042_bakery_shop__ferry_replaced`) stay within PostgreSQL's limit.
        let tag = format!("wk{}", &id[id.len() - 6..]);
        let root = std::env::temp_dir().join(format!("ferry-walkthrough-{tag}"));
        std::fs::create_dir_all(&root).expect("temp dir");
        Demo { tag, root }
    }

    /// examples/fleet.yaml, moved into this run's directory and name tag.
    pub fn fleet(&self) -> anyhow::Result<Fleet> {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet.yaml");
        let text = testkit::on_this_stack(&std::fs::read_to_string(example)?)
            .replace("/var/tmp/ferry-demo", &self.root.display().to_string())
            .replace("?prefix=", &format!("?prefix={}", self.tag));
        let path = self.root.join("fleet.yaml");
        std::fs::write(&path, text)?;
        let mut fleet = Fleet::read(&path)?;
        // This run's data is a few files and rows (`client_data`): its inventory says
        // so, since a pre-copy refuses sources much smaller than declared.
        for server in &mut fleet.servers {
            for account in &mut server.registration.accounts {
                account.files_bytes = 64;
                account.mail_bytes = if account.name == "bakery" { 32 } else { 0 };
                for database in &mut account.databases {
                    database.size_bytes = 64 << 10;
                }
            }
        }
        Ok(fleet)
    }

    /// A database's real name on a server of the fleet (`srv-0042` → `<tag>srv0042_`).
    pub fn db(&self, server: &str, name: &str) -> String {
        format!("{}{}_{name}", self.tag, server.replace('-', ""))
    }

    pub fn path(&self, server: &str, rest: &str) -> PathBuf {
        self.root.join(server).join(rest)
    }

    /// srv-0042's accounts as the customer left them: files, a mail, the bakery's
    /// PostgreSQL shop and the blog's MariaDB WordPress.
    pub async fn client_data(&self) -> anyhow::Result<()> {
        for (rest, text) in [
            ("files/bakery/index.php", "<?php echo 'Bonjour';"),
            ("files/bakery/images/croissant.svg", "<svg>croissant</svg>"),
            (
                "files/blog/wp-config.php",
                "<?php define('DB_NAME', 'blog_wp');",
            ),
            (
                "mail/bakery/Maildir/cur/1.eml",
                "Subject: order\n\n12 croissants",
            ),
        ] {
            write(&self.path("srv-0042", rest), text);
        }
        let admin = pg("postgres").await?;
        let shop = self.db("srv-0042", "bakery_shop");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{shop}\""))
            .await?;
        pg(&shop)
            .await?
            .batch_execute(&format!(
                "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL);
                 INSERT INTO orders (item)
                 SELECT 'croissant ' || g FROM generate_series(1, {BAKERY_ROWS}) g;"
            ))
            .await?;
        let blog = self.db("srv-0042", "blog_wp");
        my(&format!(
            "CREATE DATABASE `{blog}`; USE `{blog}`;
             CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(200) NOT NULL)
               ENGINE=InnoDB;
             INSERT INTO posts (title) SELECT CONCAT('post ', seq) FROM seq_1_to_{BLOG_ROWS};"
        ))
        .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The environment of `ferry up` for this run: test copies behind this run's tag.
    pub fn ferry_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "FERRY_TEST_POSTGRES_URL",
                format!("{}?prefix={}test_", testkit::admin_database_url(), self.tag),
            ),
            (
                "FERRY_TEST_MYSQL_URL",
                format!("{}?prefix={}test_", testkit::admin_mysql_url(), self.tag),
            ),
            ("FERRY_TEST_ADDRESS", TEST_ADDRESS.into()),
            (
                "FERRY_SERVICE_SERVERS",
                format!(
                    "postgresql:16={}?prefix={}pg16_",
                    testkit::admin_database_url(),
                    self.tag
                ),
            ),
        ]
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let tag = self.tag.clone();
        // Its own runtime on its own thread: drop runs inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(drop_tagged(&tag));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the databases of {}", self.tag);
        }
        std::fs::remove_dir_all(&self.root).ok();
    }
}

/// Drops every PostgreSQL database and MariaDB schema whose name starts with `tag`
/// (copies kept aside and staging ones included), with any logical replication left
/// on them (a database with a subscription or a slot cannot be dropped).
async fn drop_tagged(tag: &str) {
    let pattern = format!("{tag}%");
    if let Ok(admin) = pg("postgres").await {
        let with_subscriptions = admin
            .query(
                "SELECT DISTINCT d.datname FROM pg_subscription s
                 JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname LIKE $1",
                &[&pattern],
            )
            .await
            .unwrap_or_default();
        for row in with_subscriptions {
            let database: String = row.get(0);
            let Ok(db) = pg(&database).await else {
                continue;
            };
            let _ = db
                .batch_execute("SET default_transaction_read_only = off")
                .await;
            let names = db
                .query(
                    "SELECT subname FROM pg_subscription
                     WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[],
                )
                .await
                .unwrap_or_default();
            for name in names {
                let name: String = name.get(0);
                let _ = db
                    .batch_execute(&format!(
                        "ALTER SUBSCRIPTION \"{name}\" DISABLE;
                         ALTER SUBSCRIPTION \"{name}\" SET (slot_name = NONE);
                         DROP SUBSCRIPTION \"{name}\";"
                    ))
                    .await;
            }
        }
        let _ = admin
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                 WHERE database LIKE $1 AND NOT active",
                &[&pattern],
            )
            .await;
        let databases = admin
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE $1",
                &[&pattern],
            )
            .await
            .unwrap_or_default();
        for row in databases {
            let name: String = row.get(0);
            if let Err(e) = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
            {
                eprintln!("cannot drop {name}: {e}");
            }
        }
    }
    if let Ok(names) = my(&format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{pattern}'"
    )) {
        for name in names.lines().filter(|n| !n.is_empty()) {
            if let Err(e) = my(&format!("DROP DATABASE IF EXISTS `{name}`")) {
                eprintln!("cannot drop {name}: {e}");
            }
        }
    }
}

pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("directories");
    std::fs::write(path, content).expect("written");
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A session on a database of the stack's PostgreSQL.
pub async fn pg(database: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&testkit::database_url(database), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

pub async fn pg_rows(database: &str) -> i64 {
    let db = pg(database)
        .await
        .unwrap_or_else(|e| panic!("{database}: {e}"));
    db.query_one("SELECT count(*) FROM orders", &[])
        .await
        .expect("counts")
        .get(0)
}

pub async fn pg_insert(database: &str, item: &str) -> Result<(), tokio_postgres::Error> {
    pg(database)
        .await?
        .execute("INSERT INTO orders (item) VALUES ($1)", &[&item])
        .await
        .map(drop)
}

pub async fn pg_has(database: &str, item: &str) -> bool {
    let db = pg(database)
        .await
        .unwrap_or_else(|e| panic!("{database}: {e}"));
    db.query_one("SELECT count(*) FROM orders WHERE item = $1", &[&item])
        .await
        .expect("counts")
        .get::<_, i64>(0)
        == 1
}

pub async fn pg_databases(like: &str) -> Vec<String> {
    let admin = pg("postgres").await.expect("connects");
    admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&like],
        )
        .await
        .expect("lists")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A statement run by the `mariadb` client on the stack's MariaDB: its output.
pub fn my(sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("mariadb")
        .args(testkit::mysql_client_args())
        .args(["-N", "-B", "-e", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn my_rows(schema: &str) -> u64 {
    my(&format!("SELECT COUNT(*) FROM `{schema}`.posts"))
        .unwrap_or_else(|e| panic!("{schema}: {e}"))
        .parse()
        .expect("a number")
}

pub fn my_insert(schema: &str, title: &str) {
    my(&format!(
        "INSERT INTO `{schema}`.posts (title) VALUES ('{title}')"
    ))
    .unwrap_or_else(|e| panic!("{schema}: {e}"));
}

pub fn my_has(schema: &str, title: &str) -> bool {
    my(&format!(
        "SELECT COUNT(*) FROM `{schema}`.posts WHERE title = '{title}'"
    ))
    .unwrap_or_else(|e| panic!("{schema}: {e}"))
        == "1"
}
