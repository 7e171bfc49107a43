//! Database copies against the stack's PostgreSQL 15 (`FERRY_TEST_ADMIN_DATABASE_URL`,
//! postgres/postgres) and MariaDB 10.11 (`FERRY_TEST_ADMIN_MYSQL_URL`, root) servers
//! (`scripts/stack up`), with the real tools. Source and
//! destination are the same server; the copy goes to another name. Every test uses
//! fresh names and drops what it created.

mod support;

use std::time::Instant;

use ferry_data_mover::databases::{
    CancellationToken, CopyPhase, CopySpec, DbError, checksum, compare, mysql, postgres,
    staging_name,
};
use ferry_events::transfer::DatabaseMethod;
use tokio::sync::watch;

use ferry_infra::testkit::eventually;
use support::{my, my_drop, my_url, pg, pg_drop, pg_exists, pg_url, unique};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A small shop: two tables with thousands of rows, a foreign key, an index, a view,
/// a sequence advanced to 1041.
async fn pg_shop(name: &str) -> TestResult {
    pg("postgres")
        .await?
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    pg(name)
        .await?
        .batch_execute(
            "CREATE SEQUENCE invoice_no START 1000;
             CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL,
                                     created timestamptz NOT NULL);
             INSERT INTO customers (name, created)
               SELECT 'customer ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
                 FROM generate_series(1, 5000) g;
             CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id),
                                  amount numeric(10, 2), note text, payload bytea, ratio float8);
             INSERT INTO orders (customer_id, amount, note, payload, ratio)
               SELECT 1 + g % 5000, g * 1.5, md5(g::text), decode(md5(g::text), 'hex'), g / 7.0
                 FROM generate_series(1, 20000) g;
             CREATE INDEX orders_customer ON orders (customer_id);
             CREATE VIEW best_customers AS
               SELECT c.name, sum(o.amount) AS total FROM customers c
                 JOIN orders o ON o.customer_id = c.id GROUP BY c.name;
             SELECT nextval('invoice_no') FROM generate_series(1, 42);",
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn postgres_copy_is_verified_keeps_sequences_and_detects_corruption() -> TestResult {
    let (src, dst) = (unique("dm_pgsrc"), unique("dm_pgdst"));
    let result = async {
        pg_shop(&src).await?;
        let spec = CopySpec::new(pg_url(), pg_url(), &src)
            .renamed(&dst)
            .jobs(2);
        let report = postgres::copy(&spec, &CancellationToken::new()).await?;
        println!(
            "postgres copy: {} tables, {} rows, dump {} bytes, {:?} (verify {:?})",
            report.check.tables,
            report.check.rows,
            report.dump_bytes,
            report.duration,
            report.verify_duration
        );
        assert_eq!(report.method, DatabaseMethod::DumpRestore);
        assert_eq!((report.check.tables, report.check.rows), (2, 25_000));
        assert!(report.dump_bytes > 0);
        assert!(!pg_exists(&staging_name(&dst)).await?);

        let check = compare(
            &checksum(pg_url(), &src).await?,
            &checksum(pg_url(), &dst).await?,
        )?;
        assert_eq!(check, report.check);

        let copy = pg(&dst).await?;
        let seq: i64 = copy
            .query_one("SELECT last_value FROM invoice_no", &[])
            .await?
            .get(0);
        assert_eq!(seq, 1041);
        let next: i32 = copy
            .query_one(
                "INSERT INTO customers (name, created) VALUES ('new', now()) RETURNING id",
                &[],
            )
            .await?
            .get(0);
        assert_eq!(next, 5001, "serial sequence preserved");
        let view: i64 = copy
            .query_one("SELECT count(*) FROM best_customers", &[])
            .await?
            .get(0);
        assert_eq!(view, 5000);
        let index = copy
            .query_opt(
                "SELECT 1 FROM pg_indexes WHERE indexname = 'orders_customer'",
                &[],
            )
            .await?;
        assert!(index.is_some());
        copy.batch_execute("DELETE FROM customers WHERE id = 5001")
            .await?;

        // One corrupted row at the destination fails the comparison, naming its table.
        copy.batch_execute("UPDATE orders SET note = 'corrupted' WHERE id = 7")
            .await?;
        drop(copy);
        match compare(
            &checksum(pg_url(), &src).await?,
            &checksum(pg_url(), &dst).await?,
        ) {
            Err(DbError::Mismatch { tables }) => assert_eq!(tables, ["public.orders"]),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        Ok(())
    }
    .await;
    pg_drop(&[&src, &dst]).await;
    result
}

#[tokio::test]
async fn postgres_refuses_an_existing_destination_and_leaves_it_untouched() -> TestResult {
    let (src, dst) = (unique("dm_pgsrc"), unique("dm_pgdst"));
    let result = async {
        pg_shop(&src).await?;
        pg("postgres")
            .await?
            .batch_execute(&format!("CREATE DATABASE \"{dst}\""))
            .await?;
        pg(&dst)
            .await?
            .batch_execute(
                "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')",
            )
            .await?;
        let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
        let err = postgres::copy(&spec, &CancellationToken::new()).await;
        assert!(
            matches!(&err, Err(DbError::AlreadyExists { name }) if *name == dst),
            "{err:?}"
        );
        println!(
            "refused: {}",
            err.err().map(|e| e.to_string()).unwrap_or_default()
        );
        let kept: String = pg(&dst)
            .await?
            .query_one("SELECT v FROM precious", &[])
            .await?
            .get(0);
        assert_eq!(kept, "keep me");
        let tables: i64 = pg(&dst)
            .await?
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .await?
            .get(0);
        assert_eq!(tables, 1);
        assert!(!pg_exists(&staging_name(&dst)).await?);
        Ok(())
    }
    .await;
    pg_drop(&[&src, &dst]).await;
    result
}

#[tokio::test]
async fn killing_pg_restore_leaves_no_database_and_a_retry_succeeds() -> TestResult {
    let (src, dst) = (unique("dm_pgsrc"), unique("dm_pgdst"));
    let result = async {
        pg("postgres").await?.batch_execute(&format!("CREATE DATABASE \"{src}\"")).await?;
        let started = Instant::now();
        pg(&src)
            .await?
            .batch_execute(
                "CREATE TABLE big (id int PRIMARY KEY, payload text);
                 INSERT INTO big SELECT g, repeat(md5(g::text), 2) FROM generate_series(1, 800000) g;
                 CREATE TABLE small AS SELECT g AS id FROM generate_series(1, 1000) g;",
            )
            .await?;
        let size: i64 = pg(&src)
            .await?
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?
            .get(0);
        println!("source generated: {} MB in {:?}", size / 1_000_000, started.elapsed());

        let (phases, mut watcher) = watch::channel(CopyPhase::Preparing);
        let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst).with_phases(phases);
        let cancel = CancellationToken::new();
        let killer = {
            let (cancel, staging) = (cancel.clone(), staging_name(&dst));
            tokio::spawn(async move {
                let _ = watcher.wait_for(|p| *p == CopyPhase::Restoring).await;
                // Killed mid-restore: once pg_restore writes into the staging database.
                let restoring = eventually(30, || async {
                    let sessions = async {
                        pg("postgres")
                            .await?
                            .query_one(
                                "SELECT count(*) FROM pg_stat_activity
                                  WHERE application_name = 'pg_restore' AND datname = $1",
                                &[&staging],
                            )
                            .await
                            .map(|row| row.get::<_, i64>(0))
                    };
                    sessions.await.is_ok_and(|n| n > 0)
                })
                .await;
                cancel.cancel();
                (restoring, Instant::now())
            })
        };
        let err = postgres::copy(&spec, &cancel).await;
        let (restoring, cancelled_at) = killer.await?;
        println!("cancel to return: {:?}", cancelled_at.elapsed());
        assert!(restoring, "pg_restore was running when cancelled");
        assert!(matches!(err, Err(DbError::Interrupted)), "{err:?}");
        assert!(!pg_exists(&dst).await?, "no final database after a kill");
        let restores = pg("postgres")
            .await?
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_restore'",
                &[],
            )
            .await?
            .get::<_, i64>(0);
        assert_eq!(restores, 0, "pg_restore and its workers are gone");

        // Simulate a crash that left the staging database behind: the retry drops it.
        pg("postgres")
            .await?
            .batch_execute(&format!("CREATE DATABASE \"{}\"", staging_name(&dst)))
            .await?;
        let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
        let report = postgres::copy(&spec, &CancellationToken::new()).await?;
        println!(
            "retry: {} rows, dump {} MB, {:?} (verify {:?})",
            report.check.rows,
            report.dump_bytes / 1_000_000,
            report.duration,
            report.verify_duration
        );
        assert_eq!(report.check.rows, 801_000);
        assert!(!pg_exists(&staging_name(&dst)).await?);
        compare(&checksum(pg_url(), &src).await?, &checksum(pg_url(), &dst).await?)?;
        Ok(())
    }
    .await;
    pg_drop(&[&src, &dst, &staging_name(&dst)]).await;
    result
}

fn my_shop(name: &str) -> TestResult {
    my(&format!(
        "CREATE DATABASE `{name}`; USE `{name}`;
         CREATE SEQUENCE invoice_no START WITH 1000 NOCACHE;
         CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL,
                                 created DATETIME NOT NULL, orders INT NOT NULL DEFAULT 0);
         INSERT INTO customers (name, created)
           SELECT CONCAT('customer ', seq), '2024-01-01' + INTERVAL seq MINUTE FROM seq_1_to_5000;
         CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
                              amount DECIMAL(10, 2), note VARCHAR(64), KEY orders_customer (customer_id),
                              FOREIGN KEY (customer_id) REFERENCES customers (id));
         CREATE TRIGGER count_orders AFTER INSERT ON orders FOR EACH ROW
           UPDATE customers SET orders = orders + 1 WHERE id = NEW.customer_id;
         CREATE FUNCTION vat(amount DECIMAL(10, 2)) RETURNS DECIMAL(10, 2) DETERMINISTIC
           RETURN amount * 1.2;
         CREATE VIEW best_customers AS SELECT c.name, vat(SUM(o.amount)) AS total
           FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name;
         INSERT INTO orders (customer_id, amount, note)
           SELECT 1 + seq % 5000, seq * 1.5, MD5(seq) FROM seq_1_to_20000;
         SELECT NEXTVAL(invoice_no) FROM seq_1_to_42;"
    ))?;
    Ok(())
}

#[tokio::test]
async fn mysql_copy_is_verified_keeps_objects_and_detects_corruption() -> TestResult {
    let (src, dst) = (unique("dm_mysrc"), unique("dm_mydst"));
    let result = async {
        my_shop(&src)?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let report = mysql::copy(&spec, &CancellationToken::new()).await?;
        println!(
            "mariadb copy: {} tables, {} rows, dump {} bytes, {:?} (verify {:?})",
            report.check.tables, report.check.rows, report.dump_bytes, report.duration, report.verify_duration
        );
        assert_eq!(report.method, DatabaseMethod::DumpRestore);
        assert_eq!((report.check.tables, report.check.rows), (2, 25_000));
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{}'", staging_name(&dst)))?, "");

        let check = compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?)?;
        assert_eq!(check, report.check);

        assert_eq!(my(&format!("SELECT NEXTVAL(`{dst}`.invoice_no)"))?, "1042");
        let auto = |db: &str| {
            my(&format!(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'orders'"
            ))
        };
        assert_eq!(auto(&src)?, auto(&dst)?);
        assert_eq!(my(&format!("SELECT COUNT(*) FROM `{dst}`.best_customers"))?, "5000");
        assert_eq!(my(&format!("SELECT `{dst}`.vat(10)"))?, "12.00");
        // The trigger moved with its table and works in the copy.
        my(&format!("INSERT INTO `{dst}`.orders (customer_id, amount) VALUES (1, 1)"))?;
        assert_eq!(my(&format!("SELECT orders FROM `{dst}`.customers WHERE id = 1"))?, "5");
        my(&format!("DELETE FROM `{dst}`.orders WHERE amount = 1 AND note IS NULL; UPDATE `{dst}`.customers SET orders = 4 WHERE id = 1"))?;
        compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?)?;

        // One corrupted row at the destination fails the comparison, naming its table.
        my(&format!("UPDATE `{dst}`.orders SET note = 'corrupted' WHERE id = 7"))?;
        match compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?) {
            Err(DbError::Mismatch { tables }) => assert_eq!(tables, ["orders"]),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        Ok(())
    }
    .await;
    my_drop(&[&src, &dst, &staging_name(&dst)]);
    result
}

#[tokio::test]
async fn mysql_refuses_an_existing_destination_and_retries_after_a_crash() -> TestResult {
    let (src, dst) = (unique("dm_mysrc"), unique("dm_mydst"));
    let result = async {
        my_shop(&src)?;
        my(&format!("CREATE DATABASE `{dst}`; CREATE TABLE `{dst}`.precious (v TEXT); INSERT INTO `{dst}`.precious VALUES ('keep me')"))?;
        let spec = CopySpec::new(my_url(), my_url(), &src).renamed(&dst);
        let err = mysql::copy(&spec, &CancellationToken::new()).await;
        assert!(matches!(&err, Err(DbError::AlreadyExists { name }) if *name == dst), "{err:?}");
        assert_eq!(my(&format!("SELECT v FROM `{dst}`.precious"))?, "keep me");
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{}'", staging_name(&dst)))?, "");
        my(&format!("DROP DATABASE `{dst}`"))?;

        // A crash in the middle of the switch: final schema half filled, marker in
        // the staging schema. The next attempt drops both and copies from scratch.
        let staging = staging_name(&dst);
        my(&format!(
            "CREATE DATABASE `{staging}`; CREATE TABLE `{staging}`.__ferry_switching (started TIMESTAMP);
             CREATE DATABASE `{dst}`; CREATE TABLE `{dst}`.customers (half INT)"
        ))?;
        let report = mysql::copy(&spec, &CancellationToken::new()).await?;
        assert_eq!(report.check.rows, 25_000);
        compare(&checksum(my_url(), &src).await?, &checksum(my_url(), &dst).await?)?;
        assert_eq!(my(&format!("SHOW DATABASES LIKE '{staging}'"))?, "");
        Ok(())
    }
    .await;
    my_drop(&[&src, &dst, &staging_name(&dst)]);
    result
}
