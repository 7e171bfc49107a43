//! Demo data: what a fleet file declares, made real on this machine, so that a new
//! user's walkthrough moves real files, mails and databases (`ferry demo seed`).
//!
//! For each client server: every account's files (`<files_root>/<name>/`: pages,
//! images and a ~1 MB archive) and mails (`<mail_root>/<name>/Maildir/`), and its
//! databases on the server's PostgreSQL and MariaDB (names behind the URL's
//! `?prefix=`), each a table of a few MB of rows. Transit servers get their empty
//! roots. Seeding again changes nothing that exists; `remove` takes away exactly what
//! seeding makes (never a root itself).
//!
//! Emits and consumes no event.

use crate::databases::endpoint::Endpoint;
use crate::databases::{DbError, check_name, mysql, postgres};
use crate::engine::databases::located;
use ferry_events::{AccountSpec, DatabaseEngine, DatabaseSpec, ServerStorage};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Rows of each seeded database table (~200 bytes each: a few MB).
const ROWS: u32 = 20_000;

/// What seeding or removing did, for the user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// Directories created (or removed).
    pub directories: usize,
    /// Databases created (or dropped).
    pub databases: usize,
    /// What already was (or was already gone).
    pub unchanged: usize,
}

/// Why demo data could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A path or name from the fleet file cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The file system refused.
    #[error("{path}: {reason}")]
    Io {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// A database server refused or could not be reached.
    #[error(transparent)]
    Database(#[from] DbError),
}

/// One server of the fleet: its storage and accounts (none for a transit server).
#[derive(Debug, Clone)]
pub struct DemoServer<'a> {
    /// Its id, for messages.
    pub server_id: &'a str,
    /// Where its data lives.
    pub storage: &'a ServerStorage,
    /// Its accounts.
    pub accounts: &'a [AccountSpec],
}

/// Makes the servers' data real; what exists is left as it is.
pub async fn seed(servers: &[DemoServer<'_>]) -> Result<DemoReport, DemoError> {
    let mut report = DemoReport::default();
    for server in servers {
        for root in [&server.storage.files_root, &server.storage.mail_root] {
            count(
                &mut report.directories,
                &mut report.unchanged,
                make_dir(&absolute(root)?)?,
            );
        }
        for account in server.accounts {
            let files = account_dir(&server.storage.files_root, &account.name)?;
            let made = whole(&files, seed_files(&files, account))?;
            count(&mut report.directories, &mut report.unchanged, made);
            let mail = account_dir(&server.storage.mail_root, &account.name)?;
            let made = whole(&mail, seed_mail(&mail, account))?;
            count(&mut report.directories, &mut report.unchanged, made);
            for database in &account.databases {
                let (url, name) = real_database(server, database)?;
                let created = match database.engine {
                    DatabaseEngine::Postgres => seed_postgres(&url, &name).await?,
                    DatabaseEngine::Mysql => seed_mysql(&url, &name).await?,
                };
                count(&mut report.databases, &mut report.unchanged, created);
            }
        }
    }
    Ok(report)
}

/// Takes away what [`seed`] makes: the accounts' directories and databases.
pub async fn remove(servers: &[DemoServer<'_>]) -> Result<DemoReport, DemoError> {
    let mut report = DemoReport::default();
    for server in servers {
        for account in server.accounts {
            for root in [&server.storage.files_root, &server.storage.mail_root] {
                let dir = account_dir(root, &account.name)?;
                let removed = match std::fs::remove_dir_all(&dir) {
                    Ok(()) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                    Err(e) => return Err(io(&dir, e)),
                };
                count(&mut report.directories, &mut report.unchanged, removed);
            }
            for database in &account.databases {
                let (url, name) = real_database(server, database)?;
                let dropped = match database.engine {
                    DatabaseEngine::Postgres => drop_postgres(&url, &name).await?,
                    DatabaseEngine::Mysql => drop_mysql(&url, &name).await?,
                };
                count(&mut report.databases, &mut report.unchanged, dropped);
            }
        }
    }
    Ok(report)
}

/// A directory seeded whole or not at all: half of one would be taken for a seeded
/// one next time.
fn whole(dir: &Path, seeded: Result<bool, DemoError>) -> Result<bool, DemoError> {
    if seeded.is_err() {
        std::fs::remove_dir_all(dir).ok();
    }
    seeded
}

fn count(done: &mut usize, unchanged: &mut usize, changed: bool) {
    if changed {
        *done += 1;
    } else {
        *unchanged += 1;
    }
}

/// Where a declared database lives: its server's URL (without `?prefix=`) and its
/// real name there (the prefix, then its name), checked against the engine's limit.
fn real_database(
    server: &DemoServer<'_>,
    database: &DatabaseSpec,
) -> Result<(String, String), DemoError> {
    let (url, field, longest) = match database.engine {
        DatabaseEngine::Postgres => (&server.storage.postgres_url, "postgres_url", 63),
        DatabaseEngine::Mysql => (&server.storage.mysql_url, "mysql_url", 64),
    };
    let url = url.as_deref().ok_or_else(|| {
        DemoError::Invalid(format!(
            "server {} has databases but no storage.{field}",
            server.server_id
        ))
    })?;
    let (url, prefix) = located(url);
    let name = format!("{prefix}{}", database.name);
    check_name(&name, longest)?;
    Ok((url, name))
}

fn absolute(root: &str) -> Result<PathBuf, DemoError> {
    let path = PathBuf::from(root);
    if !path.is_absolute() || path.components().count() < 3 {
        return Err(DemoError::Invalid(format!(
            "{root}: a storage root must be an absolute path at least two levels deep"
        )));
    }
    Ok(path)
}

/// `<root>/<name>`, the account's name being one plain directory name.
fn account_dir(root: &str, name: &str) -> Result<PathBuf, DemoError> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(DemoError::Invalid(format!(
            "account name {name:?} is not a plain directory name"
        )));
    }
    Ok(absolute(root)?.join(name))
}

fn io(path: &Path, e: std::io::Error) -> DemoError {
    DemoError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Creates `dir`; false if it was there.
fn make_dir(dir: &Path) -> Result<bool, DemoError> {
    if dir.is_dir() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    Ok(true)
}

fn write(path: &Path, content: &[u8]) -> Result<(), DemoError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    std::fs::write(path, content).map_err(|e| io(path, e))
}

/// Bytes that do not compress away (a site's images and archives do not), the same
/// on every run.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

fn seed_files(dir: &Path, account: &AccountSpec) -> Result<bool, DemoError> {
    if dir.is_dir() {
        return Ok(false);
    }
    let site = account
        .domains
        .first()
        .map_or(account.name.as_str(), |d| d.name.as_str());
    write(
        &dir.join("index.html"),
        format!("<!doctype html><title>{site}</title><h1>{site}</h1>").as_bytes(),
    )?;
    for page in ["about", "contact", "news"] {
        write(
            &dir.join(format!("{page}.html")),
            format!(
                "<h1>{page}</h1><p>{}</p>",
                "Lorem ipsum dolor sit amet. ".repeat(40)
            )
            .as_bytes(),
        )?;
    }
    for (i, image) in ["logo.png", "banner.jpg", "photo.jpg"].iter().enumerate() {
        write(&dir.join("images").join(image), &noise(64 * 1024, i as u64))?;
    }
    write(&dir.join("backups/site.tar.gz"), &noise(1024 * 1024, 7))?;
    Ok(true)
}

fn seed_mail(dir: &Path, account: &AccountSpec) -> Result<bool, DemoError> {
    if dir.is_dir() {
        return Ok(false);
    }
    for sub in ["new", "tmp"] {
        std::fs::create_dir_all(dir.join("Maildir").join(sub)).map_err(|e| io(dir, e))?;
    }
    for n in 1..=20 {
        write(
            &dir.join(format!("Maildir/cur/{n}.demo:2,S")),
            format!(
                "From: customer{n}@example.org\nTo: contact@{}\nSubject: order {n}\n\n{}",
                account.name,
                "Bonjour, je voudrais commander. ".repeat(30)
            )
            .as_bytes(),
        )?;
    }
    Ok(true)
}

async fn pg_exists(client: &tokio_postgres::Client, name: &str) -> Result<bool, DemoError> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| DemoError::Invalid(format!("cannot list databases: {e}")))?
        .is_some())
}

fn pg_error(endpoint: &Endpoint, e: tokio_postgres::Error) -> DemoError {
    DemoError::Invalid(format!(
        "PostgreSQL {}: {}",
        endpoint.display(),
        e.as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned())
    ))
}

/// An administrative session on the PostgreSQL server of `url`.
async fn pg_admin(
    url: &str,
) -> Result<(Endpoint, tokio_postgres::Config, tokio_postgres::Client), DemoError> {
    let (endpoint, config) = Endpoint::postgres(url)?;
    let (admin, _connection) = postgres::connect(&endpoint, &config, Some("postgres")).await?;
    Ok((endpoint, config, admin))
}

/// Creates the database `name` with an `orders` table; false if it existed.
async fn seed_postgres(url: &str, name: &str) -> Result<bool, DemoError> {
    let (endpoint, config, admin) = pg_admin(url).await?;
    if pg_exists(&admin, name).await? {
        return Ok(false);
    }
    admin
        .batch_execute(&format!("CREATE DATABASE {}", postgres::ident(name)))
        .await
        .map_err(|e| pg_error(&endpoint, e))?;
    let filled = async {
        let (client, _connection) = postgres::connect(&endpoint, &config, Some(name)).await?;
        client
            .batch_execute(&format!(
                "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, note text NOT NULL,
                                      ordered_at timestamptz NOT NULL DEFAULT now());
                 INSERT INTO orders (item, note)
                 SELECT 'croissant ' || g, repeat(md5(g::text), 5) FROM generate_series(1, {ROWS}) g;"
            ))
            .await
            .map_err(|e| pg_error(&endpoint, e))
    }
    .await;
    if let Err(e) = filled {
        // Half a database would be taken for a seeded one next time: none instead.
        drop_postgres(url, name).await.ok();
        return Err(e);
    }
    Ok(true)
}

/// Drops the database `name`, whoever is connected; false if it was not there.
async fn drop_postgres(url: &str, name: &str) -> Result<bool, DemoError> {
    let (endpoint, _, admin) = pg_admin(url).await?;
    let existed = pg_exists(&admin, name).await?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            postgres::ident(name)
        ))
        .await
        .map_err(|e| pg_error(&endpoint, e))?;
    Ok(existed)
}

async fn my_exists(
    endpoint: &Endpoint,
    name: &str,
    cancel: &CancellationToken,
) -> Result<bool, DemoError> {
    let found: Option<(String,)> = mysql::client::first(
        endpoint,
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        mysql::client::values([name]),
        cancel,
    )
    .await?;
    Ok(found.is_some())
}

/// Creates the database `name` with a `posts` table; false if it existed.
async fn seed_mysql(url: &str, name: &str) -> Result<bool, DemoError> {
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    if my_exists(&endpoint, name, &cancel).await? {
        return Ok(false);
    }
    let db = mysql::client::ident(name);
    mysql::client::execute(&endpoint, &format!("CREATE DATABASE {db}"), (), &cancel).await?;
    let filled = mysql::client::execute_all(
        &endpoint,
        &[
            &format!("USE {db}"),
            "CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY,
               title VARCHAR(200) NOT NULL, body TEXT NOT NULL) ENGINE=InnoDB",
            &format!(
                "INSERT INTO posts (title, body)
                 SELECT CONCAT('post ', seq), REPEAT(MD5(seq), 5) FROM seq_1_to_{ROWS}"
            ),
        ],
        &cancel,
    )
    .await;
    if let Err(e) = filled {
        // Half a database would be taken for a seeded one next time: none instead.
        drop_mysql(url, name).await.ok();
        return Err(e.into());
    }
    Ok(true)
}

/// Drops the database `name`; false if it was not there.
async fn drop_mysql(url: &str, name: &str) -> Result<bool, DemoError> {
    let endpoint = Endpoint::mysql(url)?;
    let cancel = CancellationToken::new();
    let existed = my_exists(&endpoint, name, &cancel).await?;
    let drop = format!("DROP DATABASE IF EXISTS {}", mysql::client::ident(name));
    mysql::client::execute(&endpoint, &drop, (), &cancel).await?;
    Ok(existed)
}
