//! Binlog catch-up copies and freezes against the stack's MariaDB 10.11
//! (`FERRY_TEST_ADMIN_MYSQL_URL`, root, binary log on in ROW format), with the real
//! tools. Source and destination are the same server (other schema names); every test
//! uses fresh names, drops what it created, and tolerates the binlog events other tests
//! write meanwhile.

mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry_data_mover::databases::mysql_binlog::{self, Eligibility};
use ferry_data_mover::databases::{
    CancellationToken, CopySpec, DbError, checksum, compare, mysql, replaced_name, staging_name,
};
use ferry_events::transfer::DatabaseMethod;

use ferry_infra::testkit::eventually;
use support::{my, my_args, my_url, unique};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Drops the schemas and any bookkeeping row naming them when the test ends, even by
/// a failed assertion.
struct Cleanup(Vec<String>);

impl Cleanup {
    fn new(names: &[&str]) -> Self {
        Self(names.iter().map(|n| (*n).to_owned()).collect())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = my(&format!("DROP DATABASE IF EXISTS `{name}`"));
            let _ = my(&format!(
                "DELETE FROM ferry_mover.binlog_copies WHERE staging = '{name}'"
            ));
        }
    }
}

/// A writer as a separate `mariadb` process (its own connection), running `sql`.
fn writer(database: Option<&str>, sql: &str) -> AnyResult<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new("mariadb");
    cmd.args(my_args());
    if let Some(database) = database {
        cmd.arg(format!("--database={database}"));
    }
    cmd.args(["-e", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    Ok(cmd.spawn()?)
}

/// Waits until a session waits for a table lock with a statement naming `database`.
async fn wait_until_blocked(database: &str) -> TestResult {
    let blocked = eventually(10, || async {
        my(&format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE STATE LIKE 'Waiting for table%' AND LOCATE('{database}', INFO) > 0"
        ))
        .is_ok_and(|waiting| waiting != "0")
    })
    .await;
    if !blocked {
        return Err(format!("no writer blocked on {database}").into());
    }
    Ok(())
}

/// Waits until `database`'s `customers` has more than `rows` rows: a live writer's
/// rows committed, hence in the binary log.
async fn wait_for_rows(database: &str, rows: u64) -> TestResult {
    let count = || {
        my(&format!("SELECT COUNT(*) FROM `{database}`.customers"))
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
    };
    if !eventually(30, || async { count().is_some_and(|n| n > rows) }).await {
        return Err(format!("no rows written to {database} beyond {rows}: {:?}", count()).into());
    }
    Ok(())
}

/// A live shop: InnoDB tables with AUTO_INCREMENT, BLOB, DATETIME and utf8mb4 text, a
/// trigger and a view.
fn shop(name: &str) -> TestResult {
    my(&format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE `{name}`;
         CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
                                 bio TEXT, photo BLOB, created DATETIME(6) NOT NULL,
                                 orders INT NOT NULL DEFAULT 0) ENGINE=InnoDB;
         INSERT INTO customers (name, bio, photo, created)
           SELECT CONCAT('client ', seq, ' 🥐 café'), REPEAT('ü€', seq % 50), UNHEX(MD5(seq)),
                  '2024-01-01 00:00:00.123456' + INTERVAL seq MINUTE FROM seq_1_to_2000;
         CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
                              amount DECIMAL(10, 2), note VARCHAR(64)) ENGINE=InnoDB;
         INSERT INTO orders (customer_id, amount, note)
           SELECT 1 + seq % 2000, seq * 1.5, MD5(seq) FROM seq_1_to_5000;
         CREATE TRIGGER count_orders AFTER INSERT ON orders FOR EACH ROW
           UPDATE customers SET orders = orders + 1 WHERE id = NEW.customer_id;
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 1000;
         CREATE SEQUENCE invoice_no START WITH 1000 NOCACHE;"
    ))?;
    Ok(())
}

/// Keeps inserting, updating and deleting in `database` (and in `other`, whose events
/// must be ignored) until stopped; counts the successful rounds.
fn busy_writer(
    database: String,
    other: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let (mut round, mut done) = (0_u64, 0_u64);
        while !stop.load(Ordering::SeqCst) {
            round += 1;
            let sql = format!(
                "START TRANSACTION;
                 INSERT INTO customers (name, bio, photo, created)
                   VALUES ('live {round} ✓', REPEAT('ß', {round} % 30), UNHEX(SHA1({round})), NOW(6));
                 INSERT INTO orders (customer_id, amount, note) VALUES (LAST_INSERT_ID(), {round}, 'x');
                 UPDATE customers SET bio = CONCAT(IFNULL(bio, ''), '+') WHERE id = 1 + {round} % 2000;
                 DELETE FROM orders WHERE id = 1 + ({round} * 7) % 5000;
                 COMMIT;
                 SELECT NEXTVAL(invoice_no);
                 INSERT INTO `{other}`.noise (v) VALUES ({round});"
            );
            let Ok(child) = writer(Some(&database), &sql) else {
                break;
            };
            if child
                .wait_with_output()
                .await
                .is_ok_and(|out| out.status.success())
            {
                done += 1;
            }
        }
        done
    })
}

fn auto_increment(db: &str, table: &str) -> Result<String, String> {
    my(&format!(
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{table}'"
    ))
}

fn bookkeeping(staging: &str) -> Result<String, String> {
    my(&format!(
        "SELECT COUNT(*) FROM ferry_mover.binlog_copies WHERE staging = '{staging}'"
    ))
}

#[tokio::test]
async fn binlog_copy_follows_a_live_source_and_switches_after_the_freeze() -> TestResult {
    let (src, dst, other) = (unique("bl_src"), unique("bl_dst"), unique("bl_other"));
    let _cleanup = Cleanup::new(&[&src, &dst, &other, &staging_name(&dst)]);
    async {
        shop(&src)?;
        my(&format!(
            "CREATE DATABASE `{other}`; CREATE TABLE `{other}`.noise (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
        ))?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        assert_eq!(mysql_binlog::eligibility(&spec).await?, Eligibility::Eligible);

        let stop = Arc::new(AtomicBool::new(false));
        let busy = busy_writer(src.clone(), other.clone(), stop.clone());
        // The copy starts while the writer writes.
        wait_for_rows(&src, 2000).await?;
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let mut copy = mysql_binlog::start(&spec, &cancel).await?;
        println!("start: {:?} at {:?}", started.elapsed(), copy.position());
        assert!(!copy.reused());
        assert_eq!(bookkeeping(&staging_name(&dst))?, "1");
        for _ in 0..3 {
            // Rows committed since the copy's position: each catch-up has some to apply.
            let rows: u64 = my(&format!("SELECT COUNT(*) FROM `{src}`.customers"))?.parse()?;
            wait_for_rows(&src, rows).await?;
            let started = Instant::now();
            let bytes = copy.catch_up(&cancel).await?;
            println!("catch-up: {bytes} bytes in {:?}", started.elapsed());
            assert!(bytes > 0, "the live writes were applied");
        }
        // Hashed live while written: the finish hashes again the chunks written since.
        copy.check_live(&cancel).await?;
        assert!(copy.checked_live());

        // The freeze: the busy writer's sessions are killed or block, and so does a
        // writer arriving now.
        let freeze_started = Instant::now();
        let mut frozen = mysql::freeze(my_url(), &src).await?;
        println!("freeze: {:?}", freeze_started.elapsed());
        stop.store(true, Ordering::SeqCst);
        let mut late = writer(
            None,
            &format!("INSERT INTO `{src}`.customers (name, created) VALUES ('late', NOW())"),
        )?;
        wait_until_blocked(&src).await?;
        frozen.still_held().await?;

        let report = copy.finish(&cancel).await?;
        println!(
            "finish (frozen part): {:?}, verify {:?}, {} tables, {} rows, {} bytes in all",
            report.duration, report.verify_duration, report.check.tables, report.check.rows, report.dump_bytes
        );
        assert_eq!(report.method, DatabaseMethod::BinlogReplication);
        assert_eq!(report.database, dst);
        assert_eq!(report.check.tables, 2);
        let check = compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?)?;
        assert_eq!(check, report.check);
        for table in ["customers", "orders"] {
            assert_eq!(auto_increment(&src, table)?, auto_increment(&dst, table)?, "{table}");
        }
        assert_eq!(bookkeeping(&staging_name(&dst))?, "0");
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{}'", staging_name(&dst)))?, "");
        let sequence =
            |db: &str| my(&format!("SELECT next_not_cached_value FROM `{db}`.invoice_no"));
        assert_eq!(sequence(&src)?, sequence(&dst)?, "the sequence followed");
        assert_ne!(sequence(&dst)?, "1000");
        // Objects came with the switch; the copy's trigger works.
        let orders = my(&format!("SELECT COUNT(*) FROM `{src}`.big_orders"))?;
        assert_eq!(my(&format!("SELECT COUNT(*) FROM `{dst}`.big_orders"))?, orders);
        my(&format!("INSERT INTO `{dst}`.orders (customer_id, amount) VALUES (1, 1)"))?;
        assert_eq!(
            my(&format!("SELECT orders - (SELECT orders FROM `{src}`.customers WHERE id = 1) FROM `{dst}`.customers WHERE id = 1"))?,
            "1"
        );

        // The cutover succeeded: retire kills the blocked writer; nothing lands on the
        // old copy.
        let killed = frozen.retire().await?;
        assert!(killed >= 1, "killed {killed}");
        let status = tokio::time::timeout(Duration::from_secs(10), late.wait()).await??;
        assert!(!status.success(), "the late writer was killed");
        let rounds = busy.await?;
        println!("busy writer: {rounds} rounds");
        assert!(rounds > 0);
        assert_eq!(my(&format!("SELECT COUNT(*) FROM `{src}`.customers WHERE name = 'late'"))?, "0");
        Ok(())
    }
    .await
}

#[tokio::test]
async fn a_chunk_written_after_the_live_check_is_hashed_again_when_frozen() -> TestResult {
    let (src, dst) = (unique("bl_src"), unique("bl_dst"));
    let _cleanup = Cleanup::new(&[&src, &dst, &staging_name(&dst)]);
    async {
        shop(&src)?;
        // Orders up to id 40,000: three chunks of 16,384 key values.
        my(&format!(
            "USE `{src}`; INSERT INTO orders (customer_id, amount, note)
               SELECT 1, seq, 'bulk' FROM seq_1_to_35000"
        ))?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let cancel = CancellationToken::new();
        let mut copy = mysql_binlog::start(&spec, &cancel).await?;
        copy.check_live(&cancel).await?;
        assert!(copy.checked_live());
        // The source changes a row of the last chunk, whose row event the finish
        // applies; a neighbour of it at the staging copy is wrong (as a faulty
        // catch-up would leave it): the chunk is hashed again, the row found.
        let max: u64 = my(&format!("SELECT MAX(id) FROM `{src}`.orders"))?.parse()?;
        my(&format!(
            "UPDATE `{src}`.orders SET amount = amount + 1 WHERE id = {max}"
        ))?;
        my(&format!(
            "SET SESSION sql_log_bin = 0; UPDATE `{}`.orders SET note = 'forged' WHERE id = {}",
            staging_name(&dst),
            max - 1
        ))?;
        let frozen = mysql::freeze(my_url(), &src).await?;
        let finished = copy.finish(&cancel).await;
        frozen.thaw().await?;
        match finished {
            Err(DbError::Mismatch { tables }) => assert_eq!(tables, ["orders"]),
            other => panic!("the forged row must be found: {other:?}"),
        }
        Ok(())
    }
    .await
}

#[tokio::test]
async fn myisam_tables_are_not_eligible() -> TestResult {
    let src = unique("bl_myisam");
    let _cleanup = Cleanup::new(&[&src]);
    async {
        my(&format!(
            "CREATE DATABASE `{src}`; CREATE TABLE `{src}`.fine (id INT PRIMARY KEY) ENGINE=InnoDB;
             CREATE TABLE `{src}`.legacy (id INT PRIMARY KEY) ENGINE=MyISAM"
        ))?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(unique("bl_dst"));
        match mysql_binlog::eligibility(&spec).await? {
            Eligibility::NotEligible(reason) => {
                println!("not eligible: {reason}");
                assert!(reason.contains("legacy (MyISAM)"), "{reason}");
                assert!(!reason.contains("fine"), "{reason}");
            }
            Eligibility::Eligible => panic!("a MyISAM table must not be eligible"),
        }
        let err = mysql_binlog::start(&spec, &CancellationToken::new()).await;
        assert!(matches!(err, Err(DbError::NotEligible { .. })), "{err:?}");
        Ok(())
    }
    .await
}

#[tokio::test]
async fn start_reuses_a_ready_copy_redoes_a_broken_one_and_abort_leaves_nothing() -> TestResult {
    let (src, dst) = (unique("bl_src"), unique("bl_dst"));
    let staging = staging_name(&dst);
    let _cleanup = Cleanup::new(&[&src, &dst, &staging]);
    async {
        shop(&src)?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let cancel = CancellationToken::new();
        let first = mysql_binlog::start(&spec, &cancel).await?;
        assert!(!first.reused());
        let position = first.position().clone();
        // The process "crashes": no finish, no abort.
        drop(first);
        my(&format!(
            "UPDATE `{src}`.customers SET name = 'changed' WHERE id <= 10"
        ))?;
        // The binary log rotates meanwhile: the catch-up reads across files.
        my("FLUSH BINARY LOGS")?;
        my(&format!("DELETE FROM `{src}`.orders WHERE id <= 10"))?;

        let mut again = mysql_binlog::start(&spec, &cancel).await?;
        assert!(again.reused(), "a ready staging copy is reused");
        assert_eq!(again.position(), &position);
        assert!(again.catch_up(&cancel).await? > 0);
        assert_ne!(again.position().file, position.file);
        assert_eq!(
            my(&format!("SELECT COUNT(*) FROM `{staging}`.orders"))?,
            my(&format!("SELECT COUNT(*) FROM `{src}`.orders"))?
        );
        drop(again);

        // A crash in the middle of a catch-up: the copy is not reused.
        my(&format!(
            "UPDATE ferry_mover.binlog_copies SET state = 'applying' WHERE staging = '{staging}'"
        ))?;
        let fresh = mysql_binlog::start(&spec, &cancel).await?;
        assert!(
            !fresh.reused(),
            "a copy caught in a catch-up is dumped again"
        );
        let report = fresh.finish(&cancel).await?;
        assert_eq!(report.check.rows, 6990);
        compare(
            &checksum(my_url(), &src).await?,
            &checksum(my_url(), &dst).await?,
        )?;

        // Abort removes the staging schema and the bookkeeping; it is idempotent.
        my(&format!("DROP DATABASE `{dst}`"))?;
        let copy = mysql_binlog::start(&spec, &cancel).await?;
        drop(copy);
        assert_eq!(bookkeeping(&staging)?, "1");
        mysql_binlog::abort(&spec).await?;
        mysql_binlog::abort(&spec).await?;
        assert_eq!(bookkeeping(&staging)?, "0");
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{staging}'"))?, "");
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{dst}'"))?, "");
        assert_eq!(
            my(&format!("SELECT COUNT(*) FROM `{src}`.customers"))?,
            "2000"
        );
        Ok(())
    }
    .await
}

#[tokio::test]
async fn ddl_and_statement_logged_writes_are_refused_and_never_reach_the_source() -> TestResult {
    let (src, dst) = (unique("bl_src"), unique("bl_dst"));
    let staging = staging_name(&dst);
    let _cleanup = Cleanup::new(&[&src, &dst, &staging]);
    async {
        shop(&src)?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let cancel = CancellationToken::new();
        let mut copy = mysql_binlog::start(&spec, &cancel).await?;
        // A qualified ALTER from another default database: the --database filter
        // does not see it, and applied as is it would alter the source again.
        my(&format!("ALTER TABLE `{src}`.orders ADD COLUMN extra INT"))?;
        let err = copy.catch_up(&cancel).await;
        println!("refused: {err:?}");
        assert!(matches!(err, Err(DbError::CatchUpImpossible { .. })), "{err:?}");
        assert!(matches!(copy.catch_up(&cancel).await, Err(DbError::CatchUpImpossible { .. })));
        let columns = |db: &str| {
            my(&format!(
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' AND COLUMN_NAME = 'extra'"
            ))
        };
        assert_eq!(columns(&src)?, "1");
        assert_eq!(columns(&staging)?, "0");
        drop(copy);

        // Start again: a fresh dump, with the new column.
        let mut copy = mysql_binlog::start(&spec, &cancel).await?;
        assert!(!copy.reused());
        assert_eq!(columns(&staging)?, "1");
        my(&format!(
            "SET SESSION binlog_format = 'STATEMENT'; INSERT INTO `{src}`.orders (customer_id, amount) VALUES (1, 2)"
        ))?;
        let err = copy.catch_up(&cancel).await;
        assert!(matches!(err, Err(DbError::CatchUpImpossible { .. })), "{err:?}");
        drop(copy);
        // An unqualified DDL in the schema is refused as well.
        let mut copy = mysql_binlog::start(&spec, &cancel).await?;
        assert!(!copy.reused());
        my(&format!("USE `{src}`; CREATE INDEX by_note ON orders (note)"))?;
        let err = copy.catch_up(&cancel).await;
        assert!(matches!(err, Err(DbError::CatchUpImpossible { .. })), "{err:?}");
        drop(copy);
        mysql_binlog::abort(&spec).await?;
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{staging}'"))?, "");
        Ok(())
    }
    .await
}

#[tokio::test]
async fn cancelling_a_catch_up_interrupts_it_promptly_and_a_new_start_recovers() -> TestResult {
    let (src, dst) = (unique("bl_src"), unique("bl_dst"));
    let staging = staging_name(&dst);
    let _cleanup = Cleanup::new(&[&src, &dst, &staging]);
    async {
        shop(&src)?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let mut copy = mysql_binlog::start(&spec, &CancellationToken::new()).await?;
        for round in 0..5 {
            my(&format!(
                "UPDATE `{src}`.customers SET bio = CONCAT(IFNULL(bio, ''), '{round}')"
            ))?;
        }
        let cancel = CancellationToken::new();
        let canceller = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                // The scenario: cancelled while the catch-up runs, not before it starts.
                tokio::time::sleep(Duration::from_millis(30)).await;
                cancel.cancel();
                Instant::now()
            })
        };
        let err = copy.catch_up(&cancel).await;
        let cancelled_at = canceller.await?;
        println!("cancel to return: {:?}, {err:?}", cancelled_at.elapsed());
        assert!(matches!(err, Err(DbError::Interrupted)), "{err:?}");
        // Interrupted, not run to its end: the last round (every bio ends with its
        // `4`) never reached the staging copy.
        assert_eq!(
            my(&format!(
                "SELECT COUNT(*) FROM `{staging}`.customers WHERE bio LIKE '%4'"
            ))?,
            "0",
            "the catch-up stopped before its end"
        );
        drop(copy);
        // Whether or not the cancelled catch-up had begun applying, starting again
        // gives a copy that finishes verified.
        let copy = mysql_binlog::start(&spec, &CancellationToken::new()).await?;
        println!("reused after the cancel: {}", copy.reused());
        copy.finish(&CancellationToken::new()).await?;
        compare(
            &checksum(my_url(), &src).await?,
            &checksum(my_url(), &dst).await?,
        )?;
        Ok(())
    }
    .await
}

#[tokio::test]
async fn replace_existing_keeps_the_old_copy_aside() -> TestResult {
    let (src, dst) = (unique("bl_src"), unique("bl_dst"));
    let (staging, kept) = (staging_name(&dst), replaced_name(&dst));
    let _cleanup = Cleanup::new(&[&src, &dst, &staging, &kept]);
    async {
        shop(&src)?;
        // The destination holds an older copy of the account, with its own objects.
        my(&format!(
            "CREATE DATABASE `{dst}`; USE `{dst}`;
             CREATE TABLE customers (id INT PRIMARY KEY, name TEXT, orders INT DEFAULT 0);
             INSERT INTO customers VALUES (1, 'old', 0);
             CREATE TABLE precious (v TEXT); INSERT INTO precious VALUES ('keep me');
             CREATE TRIGGER old_trigger BEFORE INSERT ON precious FOR EACH ROW SET NEW.v = UPPER(NEW.v);
             CREATE VIEW big_orders AS SELECT * FROM precious;
             CREATE FUNCTION old_f() RETURNS INT DETERMINISTIC RETURN 1;"
        ))?;
        let cancel = CancellationToken::new();
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let err = mysql::copy(&spec, &cancel).await;
        assert!(matches!(&err, Err(DbError::AlreadyExists { name }) if *name == dst), "{err:?}");
        assert_eq!(my(&format!("SELECT v FROM `{dst}`.precious"))?, "keep me");

        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst).replacing_existing();
        let report = mysql::copy(&spec, &cancel).await?;
        assert_eq!(report.check.rows, 7000);
        compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?)?;
        assert_eq!(my(&format!("SELECT v FROM `{kept}`.precious"))?, "keep me");
        assert_eq!(my(&format!("SELECT name FROM `{kept}`.customers"))?, "old");
        let saved = my(&format!("SELECT objects FROM `{kept}`.__ferry_objects"))?;
        assert!(saved.contains("old_trigger") && saved.contains("old_f"), "{saved}");
        assert_eq!(my(&format!("SHOW TABLES FROM `{dst}` LIKE 'precious'"))?, "");
        assert_eq!(
            my(&format!("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{dst}'"))?,
            "0"
        );
        assert_eq!(
            my(&format!("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{dst}'"))?,
            "utf8mb4_unicode_ci"
        );
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{staging}'"))?, "");

        // Replacing again, by binlog catch-up: the older kept copy gives way.
        let copy = mysql_binlog::start(&spec, &cancel).await?;
        let report = copy.finish(&cancel).await?;
        assert_eq!(report.method, DatabaseMethod::BinlogReplication);
        compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?)?;
        assert_eq!(my(&format!("SHOW TABLES FROM `{kept}` LIKE 'precious'"))?, "");
        compare(&checksum(my_url(), &src).await?, &{
            let mut kept_check = checksum(my_url(), &kept).await?;
            kept_check.tables.retain(|t| t.table != "__ferry_objects");
            kept_check
        })?;
        Ok(())
    }
    .await
}

#[tokio::test]
async fn thaw_lets_a_blocked_writer_proceed() -> TestResult {
    let src = unique("bl_thaw");
    let _cleanup = Cleanup::new(&[&src]);
    async {
        my(&format!(
            "CREATE DATABASE `{src}`; CREATE TABLE `{src}`.t (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)"
        ))?;
        // An idle session in the schema is killed by the freeze.
        let mut idle = writer(Some(&src), "SELECT SLEEP(30)")?;
        assert!(
            eventually(10, || async {
                my(&format!(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                     WHERE DB = '{src}' AND INFO LIKE 'SELECT SLEEP%'"
                ))
                .is_ok_and(|sessions| sessions != "0")
            })
            .await,
            "the idle session is connected"
        );
        let mut frozen = mysql::freeze(my_url(), &src).await?;
        let idle_status = tokio::time::timeout(Duration::from_secs(5), idle.wait()).await??;
        assert!(!idle_status.success(), "the schema's session was killed");

        let mut blocked = writer(None, &format!("INSERT INTO `{src}`.t (v) VALUES ('after thaw')"))?;
        // The server says the writer waits for the lock: it is not merely slow.
        wait_until_blocked(&src).await?;
        assert!(blocked.try_wait()?.is_none(), "the writer waits while frozen");
        assert_eq!(my(&format!("SELECT COUNT(*) FROM `{src}`.t"))?, "0", "reads still work");
        frozen.still_held().await?;
        frozen.thaw().await?;
        let status = tokio::time::timeout(Duration::from_secs(10), blocked.wait()).await??;
        assert!(status.success());
        assert_eq!(my(&format!("SELECT v FROM `{src}`.t"))?, "after thaw");
        Ok(())
    }
    .await
}
