//! Bulk data for the cutover benchmarks (the data mover's and `ferry up`'s end to
//! end): a PostgreSQL table and a MariaDB table of a given size on the stack's
//! servers, trees of incompressible files, and writers that keep writing to both
//! databases until the freeze refuses them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

/// A session on a database of the stack's PostgreSQL.
async fn pg(database: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&super::database_url(database), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs `sql` with the `mariadb` client on the stack's MariaDB.
fn my(sql: &str) -> Result<(), String> {
    let out = std::process::Command::new("mariadb")
        .args(super::mysql_client_args())
        .args(["-N", "-B", "-e", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Adds a table `items` of `target` bytes to PostgreSQL database `name`, created if
/// missing (bigserial key, 200-byte rows).
pub async fn pg_items(name: &str, target: u64) {
    let admin = pg("postgres").await.expect("connects");
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("looked up");
    if exists.is_none() {
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("created");
    }
    let db = pg(name).await.expect("connects");
    db.batch_execute(
        "SET synchronous_commit = off;
         CREATE TABLE items (id bigserial PRIMARY KEY, payload text NOT NULL, n int NOT NULL);",
    )
    .await
    .expect("table");
    let mut from = 1i64;
    loop {
        let size: i64 = db
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .expect("size")
            .get(0);
        if u64::try_from(size).unwrap_or(0) >= target {
            break;
        }
        db.batch_execute(&format!(
            "INSERT INTO items (payload, n) SELECT repeat(md5(g::text), 6), g
               FROM generate_series({from}, {}) g",
            from + 249_999
        ))
        .await
        .expect("rows");
        from += 250_000;
    }
    db.batch_execute("VACUUM ANALYZE items")
        .await
        .expect("vacuum");
}

/// Creates MariaDB schema `name` with a table `orders` of `target` bytes
/// (auto-increment key, ~270 bytes per row); not written to the binary log.
pub fn my_orders(name: &str, target: u64) {
    my(&format!(
        "CREATE DATABASE `{name}`;
         CREATE TABLE `{name}`.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY,
           payload VARCHAR(255) NOT NULL, n INT NOT NULL) ENGINE=InnoDB;"
    ))
    .expect("created");
    // InnoDB's sizes in information_schema lag behind inserts: count rows instead
    // (~270 bytes each with the primary key, as measured after ANALYZE TABLE).
    let rows = target / 270;
    let mut done = 0;
    while done < rows {
        let batch = (rows - done).min(250_000);
        my(&format!(
            "SET SESSION sql_log_bin = 0; USE `{name}`;
             INSERT INTO orders (payload, n)
               SELECT REPEAT(MD5(seq), 6), seq FROM seq_1_to_{batch};"
        ))
        .expect("rows");
        done += batch;
    }
    my(&format!("ANALYZE TABLE `{name}`.orders")).expect("analyzed");
}

/// Writes `bytes` of incompressible files into `site` (1 MiB files, three quarters)
/// and `maildir` (16 KiB mails, a quarter); returns the bytes written.
pub fn files(site: &Path, maildir: &Path, bytes: u64) -> u64 {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut fill = |len: usize| -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(&state.to_le_bytes());
        }
        out.truncate(len);
        out
    };
    let write = |path: &Path, content: &[u8]| {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("directories");
        std::fs::write(path, content).expect("written");
    };
    let (site_bytes, mail_bytes) = (bytes * 3 / 4, bytes / 4);
    let mut written = 0u64;
    for i in 0..site_bytes / (1 << 20) {
        write(&site.join(format!("d{}/f{i}.bin", i % 64)), &fill(1 << 20));
        written += 1 << 20;
    }
    for i in 0..mail_bytes / (16 << 10) {
        write(
            &maildir.join(format!("cur/{}/m{i}", i % 256)),
            &fill(16 << 10),
        );
        written += 16 << 10;
    }
    written
}

/// Writers on `items` of a PostgreSQL database and `orders` of a MariaDB schema
/// ([`pg_items`], [`my_orders`]), each writing until its server refuses (the
/// freeze) or [`Writers::stop`].
pub struct Writers {
    done: Arc<AtomicBool>,
    pg: tokio::task::JoinHandle<u64>,
    my: std::thread::JoinHandle<u64>,
}

impl Writers {
    /// Starts writing: PostgreSQL every 2 ms, MariaDB as fast as its client goes.
    pub fn start(pg_name: String, my_name: String) -> Writers {
        let done = Arc::new(AtomicBool::new(false));
        let stop_pg = done.clone();
        let pg = tokio::spawn(async move {
            let Ok(db) = pg(&pg_name).await else { return 0 };
            let mut written = 0;
            while !stop_pg.load(Ordering::Relaxed)
                && db
                    .execute(
                        "INSERT INTO items (payload, n) VALUES (md5(random()::text), 0)",
                        &[],
                    )
                    .await
                    .is_ok()
            {
                written += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            written
        });
        let stop_my = done.clone();
        let my = std::thread::spawn(move || {
            let mut written = 0;
            while !stop_my.load(Ordering::Relaxed)
                && my(&format!(
                    "INSERT INTO `{my_name}`.orders (payload, n) VALUES (MD5(RAND()), 0)"
                ))
                .is_ok()
            {
                written += 1;
            }
            written
        });
        Writers { done, pg, my }
    }

    /// Stops them; the rows each wrote.
    pub async fn stop(self) -> (u64, u64) {
        self.done.store(true, Ordering::Relaxed);
        let pg = tokio::time::timeout(Duration::from_secs(30), self.pg)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        let my = self.my.join().unwrap_or(0);
        (pg, my)
    }
}
