//! PostgreSQL logical replication copies, freeze and thaw, and the dump/restore copy's
//! replacement of an existing database, against the stack's PostgreSQL 15
//! (`FERRY_TEST_ADMIN_DATABASE_URL`, postgres/postgres, `wal_level = logical`). Source and destination
//! are the same server; every test uses fresh names and removes what it created.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ferry_data_mover::databases::pg_logical::{self, Eligibility};
use ferry_data_mover::databases::{
    CancellationToken, CopySpec, DbError, checksum, compare, postgres, replaced_name, staging_name,
};
use ferry_events::transfer::DatabaseMethod;
use tokio_postgres::error::SqlState;

use ferry_infra::testkit::eventually;
use support::{pg, pg_drop, pg_exists, pg_url, unique};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn create_db(name: &str, schema: &str) -> TestResult {
    pg("postgres")
        .await?
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    pg(name).await?.batch_execute(schema).await?;
    Ok(())
}

/// Slots of `source`, publications in it, subscriptions in any of `destinations`.
async fn replication_objects(
    source: &str,
    destinations: &[&str],
) -> Result<(i64, i64, i64), Box<dyn std::error::Error + Send + Sync>> {
    let admin = pg("postgres").await?;
    let slots: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE database = $1",
            &[&source],
        )
        .await?
        .get(0);
    let subscriptions: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
              WHERE d.datname = ANY ($1)",
            &[&destinations],
        )
        .await?
        .get(0);
    let publications: i64 = pg(source)
        .await?
        .query_one("SELECT count(*) FROM pg_publication", &[])
        .await?
        .get(0);
    Ok((slots, publications, subscriptions))
}

/// Removes a test's replication (if any), thaws its source and drops its databases.
async fn clean_up(spec: &CopySpec, databases: &[&str]) {
    if let Err(e) = pg_logical::abort(spec).await {
        eprintln!("abort during clean-up: {e}");
    }
    let _ = postgres::thaw(pg_url(), &spec.database).await;
    pg_drop(databases).await;
}

fn is_read_only(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
}

const SHOP: &str = "
    CREATE SEQUENCE invoice_no START 1000;
    SELECT nextval('invoice_no') FROM generate_series(1, 5);
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL);
    INSERT INTO customers (name, created)
      SELECT 'customer ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
        FROM generate_series(1, 3000) g;
    CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                        customer_id int REFERENCES customers (id) ON DELETE CASCADE,
                        payload bytea, price numeric(10, 2), at timestamptz DEFAULT now());
    INSERT INTO items (customer_id, payload, price)
      SELECT 1 + g % 3000, decode(md5(g::text), 'hex'), g * 0.5 FROM generate_series(1, 10000) g;
    CREATE TABLE journal (msg text, at timestamptz);
    ALTER TABLE journal REPLICA IDENTITY FULL;
    INSERT INTO journal SELECT 'entry ' || g, now() FROM generate_series(1, 500) g;";

/// Writes to every table of the shop until told to stop or its session is ended (by
/// the freeze); returns how many rounds it committed.
fn writer(
    database: String,
    rounds: Arc<AtomicU64>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(client) = pg(&database).await else {
            return;
        };
        for i in 0_u64.. {
            if stop.is_cancelled() {
                return;
            }
            let sql = format!(
                "INSERT INTO customers (name, created) VALUES ('new {i}', now());
                 UPDATE customers SET name = name || '+' WHERE id = {};
                 DELETE FROM customers WHERE id = {};
                 INSERT INTO items (customer_id, payload, price)
                   VALUES ({}, decode(md5('{i}'), 'hex'), {i});
                 UPDATE items SET price = price + 1, at = now() WHERE id = {};
                 INSERT INTO journal VALUES ('written {i}', now());
                 UPDATE journal SET msg = msg || '!' WHERE msg = 'entry {}';
                 DELETE FROM journal WHERE msg = 'entry {}';
                 SELECT nextval('invoice_no');",
                i % 2000 + 1,
                2500 + i,
                i % 2000 + 1,
                i * 7 % 10_000 + 1,
                i % 250 + 1,
                i % 250 + 251,
            );
            if client.batch_execute(&sql).await.is_err() {
                return;
            }
            rounds.fetch_add(1, Ordering::SeqCst);
        }
    })
}

async fn wait_rounds(rounds: &AtomicU64, at_least: u64) -> TestResult {
    if !eventually(60, || async { rounds.load(Ordering::SeqCst) >= at_least }).await {
        return Err("the writer does not progress".into());
    }
    Ok(())
}

#[tokio::test]
async fn a_live_database_is_replicated_frozen_finished_and_thawed() -> TestResult {
    let (src, dst) = (unique("pl_src"), unique("pl_dst"));
    let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
    let staging = staging_name(&dst);
    let result = async {
        create_db(&src, SHOP).await?;
        assert_eq!(pg_logical::eligibility(&spec).await?, Eligibility::Eligible);

        let (rounds, stop) = (Arc::new(AtomicU64::new(0)), CancellationToken::new());
        let writing = writer(src.clone(), rounds.clone(), stop.clone());
        wait_rounds(&rounds, 20).await?;
        let started = Instant::now();
        let mut copy = pg_logical::start(&spec, &CancellationToken::new()).await?;
        copy.wait_synced(&CancellationToken::new()).await?;
        let synced = started.elapsed();
        let lag = copy.lag_bytes().await?;
        // Hashed live while written: the finish hashes again what was written since.
        copy.check_live(&CancellationToken::new()).await?;
        assert!(copy.checked_live());
        let after_sync = rounds.load(Ordering::SeqCst);
        wait_rounds(&rounds, after_sync + 50).await?;

        let frozen_at = Instant::now();
        postgres::freeze(pg_url(), &src).await?;
        writing.await?;
        stop.cancel();
        let report = copy.finish(&CancellationToken::new()).await?;
        println!(
            "logical copy: synced in {synced:?} (lag then {lag} B), {} writer rounds, \
             finish {:?} after the freeze (verify {:?}), {} rows in {} tables",
            rounds.load(Ordering::SeqCst),
            frozen_at.elapsed(),
            report.verify_duration,
            report.check.rows,
            report.check.tables
        );
        assert_eq!(report.method, DatabaseMethod::LogicalReplication);
        assert_eq!(report.database, dst);
        assert_eq!(report.check.tables, 3);

        // Same content, checked again independently of the finish.
        let check = compare(
            &checksum(pg_url(), &src).await?,
            &checksum(pg_url(), &dst).await?,
        )?;
        assert_eq!(check, report.check);
        assert!(!pg_exists(&staging).await?);
        assert_eq!(
            replication_objects(&src, &[&dst, &staging]).await?,
            (0, 0, 0)
        );

        // Sequences continue after the source's values; the copy is writable.
        let source = pg(&src).await?;
        let copy_db = pg(&dst).await?;
        let last: i64 = source
            .query_one("SELECT last_value FROM invoice_no", &[])
            .await?
            .get(0);
        let next: i64 = copy_db
            .query_one("SELECT nextval('invoice_no')", &[])
            .await?
            .get(0);
        assert_eq!(next, last + 1);
        let max_customer: i32 = source
            .query_one("SELECT max(id) FROM customers", &[])
            .await?
            .get(0);
        let new_customer: i32 = copy_db
            .query_one(
                "INSERT INTO customers (name, created) VALUES ('after', now()) RETURNING id",
                &[],
            )
            .await?
            .get(0);
        assert!(
            new_customer > max_customer,
            "{new_customer} > {max_customer}"
        );
        let max_item: i64 = source
            .query_one("SELECT max(id) FROM items", &[])
            .await?
            .get(0);
        let new_item: i64 = copy_db
            .query_one("INSERT INTO items (price) VALUES (1) RETURNING id", &[])
            .await?
            .get(0);
        assert!(new_item > max_item, "{new_item} > {max_item}");

        // The source stays frozen until thawed.
        let write = "INSERT INTO journal VALUES ('late', now())";
        let refused = source.batch_execute(write).await;
        assert!(matches!(&refused, Err(e) if is_read_only(e)), "{refused:?}");
        postgres::thaw(pg_url(), &src).await?;
        pg(&src).await?.batch_execute(write).await?;
        Ok(())
    }
    .await;
    clean_up(&spec, &[&src, &dst, &staging]).await;
    result
}

/// The live change captures' slots (temporary, held by their sessions) in
/// `database`.
async fn check_slots(database: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(pg("postgres")
        .await?
        .query_one(
            "SELECT count(*) FROM pg_replication_slots
              WHERE database = $1 AND temporary AND active
                AND slot_name LIKE 'ferry\\_check\\_%'",
            &[&database],
        )
        .await?
        .get(0))
}

#[tokio::test]
async fn a_destination_row_changed_after_the_live_check_is_found_when_frozen() -> TestResult {
    let (src, dst) = (unique("pl_src"), unique("pl_dst"));
    let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
    let staging = staging_name(&dst);
    let result = async {
        create_db(&src, SHOP).await?;
        // Items up to id 40,000: three chunks of 16,384 key values.
        pg(&src)
            .await?
            .batch_execute(
                "INSERT INTO items (customer_id, price) SELECT 1, g FROM generate_series(1, 30000) g",
            )
            .await?;
        let mut copy = pg_logical::start(&spec, &CancellationToken::new()).await?;
        copy.wait_synced(&CancellationToken::new()).await?;
        copy.check_live(&CancellationToken::new()).await?;
        assert!(copy.checked_live());
        assert_eq!(copy.captures_changes(), (true, true), "both sides captured");
        // The source changes in one chunk, the destination (by hand) in another that
        // the source left alone since the live check: that one is found.
        pg(&src)
            .await?
            .batch_execute("UPDATE items SET price = price + 1 WHERE id = 39000")
            .await?;
        pg(&staging)
            .await?
            .batch_execute("UPDATE items SET price = 0 WHERE id = 3")
            .await?;
        postgres::freeze(pg_url(), &src).await?;
        // The freeze ended every session on the source but the change captures'.
        for database in [&src, &staging] {
            assert_eq!(check_slots(database).await?, 1, "{database}'s capture lives");
        }
        match copy.finish(&CancellationToken::new()).await {
            Err(DbError::Mismatch { tables }) => assert_eq!(tables, ["public.items"]),
            other => panic!("the tampered row must be found: {other:?}"),
        }
        assert_eq!(check_slots(&src).await?, 0, "the captures end with the check");
        postgres::thaw(pg_url(), &src).await?;
        Ok(())
    }
    .await;
    clean_up(&spec, &[&src, &dst, &staging]).await;
    result
}

#[tokio::test]
async fn a_column_added_at_the_source_after_the_live_check_is_found_when_frozen() -> TestResult {
    let (src, dst) = (unique("pl_src"), unique("pl_dst"));
    let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
    let staging = staging_name(&dst);
    let result = async {
        create_db(&src, SHOP).await?;
        pg(&src)
            .await?
            .batch_execute(
                "INSERT INTO items (customer_id, price) SELECT 1, g FROM generate_series(1, 1000) g",
            )
            .await?;
        let mut copy = pg_logical::start(&spec, &CancellationToken::new()).await?;
        copy.wait_synced(&CancellationToken::new()).await?;
        copy.check_live(&CancellationToken::new()).await?;
        // Every row gains a value without a row written (a column's default), which
        // the replication does not carry: no chunk looks written, the table is.
        pg(&src)
            .await?
            .batch_execute("ALTER TABLE items ADD COLUMN note text NOT NULL DEFAULT 'gift'")
            .await?;
        postgres::freeze(pg_url(), &src).await?;
        match copy.finish(&CancellationToken::new()).await {
            Err(DbError::Mismatch { tables }) => assert_eq!(tables, ["public.items"]),
            other => panic!("the new column must be found: {other:?}"),
        }
        postgres::thaw(pg_url(), &src).await?;
        assert_eq!(check_slots(&src).await?, 0, "the change captures' slots are gone");
        Ok(())
    }
    .await;
    clean_up(&spec, &[&src, &dst, &staging]).await;
    result
}

#[tokio::test]
async fn a_replication_is_reused_rebuilt_when_broken_and_aborted_without_leftovers() -> TestResult {
    let (src, dst) = (unique("pl_src"), unique("pl_dst"));
    let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
    let staging = staging_name(&dst);
    let result = async {
        create_db(
            &src,
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 300000) g;",
        )
        .await?;
        // Aborted during the initial copy: no slot left, not even the table copy's.
        let aborted = pg_logical::start(&spec, &CancellationToken::new()).await?;
        // Aborted once the table's data is being copied (its own slot on the source).
        let copying = eventually(30, || async {
            let copying: Result<i64, tokio_postgres::Error> = async {
                let row = pg(&staging)
                    .await?
                    .query_one(
                        "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate = 'd'",
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            }
            .await;
            copying.is_ok_and(|tables| tables > 0)
        })
        .await;
        let (slots, _, _) = replication_objects(&src, &[&staging]).await?;
        println!("slots of the source during the initial copy: {slots}");
        assert!(copying, "the initial copy got under way");
        pg_logical::abort(&spec).await?;
        drop(aborted);
        assert_eq!(replication_objects(&src, &[&staging]).await?, (0, 0, 0));
        assert!(!pg_exists(&staging).await?);

        let subscription_id = || async {
            let row = pg(&staging)
                .await?
                .query_one(
                    "SELECT oid FROM pg_subscription WHERE subdbid = \
                            (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[],
                )
                .await?;
            Ok::<u32, tokio_postgres::Error>(row.get(0))
        };

        let first = pg_logical::start(&spec, &CancellationToken::new()).await?;
        first.wait_synced(&CancellationToken::new()).await?;
        let id = subscription_id().await?;
        // A process that crashed: the copy is dropped, the replication stays.
        drop(first);
        let second = pg_logical::start(&spec, &CancellationToken::new()).await?;
        assert_eq!(
            subscription_id().await?,
            id,
            "the running replication is reused"
        );
        assert_eq!(replication_objects(&src, &[&staging]).await?, (1, 1, 1));
        second.wait_synced(&CancellationToken::new()).await?;
        pg(&src)
            .await?
            .batch_execute("UPDATE t SET v = 'changed' WHERE id < 100")
            .await?;

        // A cancelled wait returns at once.
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let err = second.finish(&cancelled).await;
        assert!(matches!(err, Err(DbError::Interrupted)), "{err:?}");
        // It did nothing: the replication runs on, nothing was switched.
        assert_eq!(replication_objects(&src, &[&staging]).await?, (1, 1, 1));
        assert!(!pg_exists(&dst).await?, "nothing switched");

        // Broken (its publication removed behind its back): set up again.
        pg(&src)
            .await?
            .batch_execute(&format!(
                "DROP PUBLICATION {}",
                pg(&src)
                    .await?
                    .query_one("SELECT pubname::text FROM pg_publication", &[])
                    .await?
                    .get::<_, String>(0)
            ))
            .await?;
        let third = pg_logical::start(&spec, &CancellationToken::new()).await?;
        assert_ne!(
            subscription_id().await?,
            id,
            "a broken replication is rebuilt"
        );
        assert_eq!(replication_objects(&src, &[&staging]).await?, (1, 1, 1));
        third.wait_synced(&CancellationToken::new()).await?;
        let copied: i64 = pg(&staging)
            .await?
            .query_one("SELECT count(*) FROM t WHERE v = 'changed'", &[])
            .await?
            .get(0);
        assert_eq!(copied, 99);
        let rows: i64 = pg(&staging)
            .await?
            .query_one("SELECT count(*) FROM t", &[])
            .await?
            .get(0);
        assert_eq!(rows, 300_000);

        pg_logical::abort(&spec).await?;
        assert_eq!(replication_objects(&src, &[&staging]).await?, (0, 0, 0));
        assert!(!pg_exists(&staging).await?);
        pg_logical::abort(&spec).await?;
        Ok(())
    }
    .await;
    clean_up(&spec, &[&src, &dst, &staging]).await;
    result
}

#[tokio::test]
async fn a_table_without_replica_identity_is_not_eligible() -> TestResult {
    let (src, dst) = (unique("pl_src"), unique("pl_dst"));
    let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
    let result = async {
        create_db(
            &src,
            "CREATE TABLE fine (id int PRIMARY KEY);
             CREATE TABLE full_identity (v text); ALTER TABLE full_identity REPLICA IDENTITY FULL;
             CREATE TABLE no_key (v text);",
        )
        .await?;
        match pg_logical::eligibility(&spec).await? {
            Eligibility::NotEligible(reason) => {
                println!("not eligible: {reason}");
                assert!(reason.contains("public.no_key"), "{reason}");
                assert!(!reason.contains("full_identity"), "{reason}");
            }
            Eligibility::Eligible => return Err("a table without key was accepted".into()),
        }
        let err = pg_logical::start(&spec, &CancellationToken::new()).await;
        assert!(
            matches!(&err, Err(DbError::NotEligible { name, .. }) if *name == src),
            "{err:?}"
        );
        assert_eq!(
            replication_objects(&src, &[&staging_name(&dst)]).await?,
            (0, 0, 0)
        );
        assert!(!pg_exists(&staging_name(&dst)).await?);
        Ok(())
    }
    .await;
    clean_up(&spec, &[&src, &dst, &staging_name(&dst)]).await;
    result
}

#[tokio::test]
async fn a_dump_restore_copy_replaces_an_existing_database_only_when_asked() -> TestResult {
    let (src, dst) = (unique("pl_src"), unique("pl_dst"));
    let kept = replaced_name(&dst);
    let spec = CopySpec::new(pg_url(), pg_url(), &src).renamed(&dst);
    let result = async {
        create_db(&src, SHOP).await?;
        // The account's older copy, frozen when it left this server, and an even older
        // one kept aside by an earlier replacement.
        create_db(
            &dst,
            "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')",
        )
        .await?;
        postgres::freeze(pg_url(), &dst).await?;
        create_db(&kept, "CREATE TABLE ancient (v text)").await?;

        let err = postgres::copy(&spec, &CancellationToken::new()).await;
        assert!(
            matches!(&err, Err(DbError::AlreadyExists { name }) if *name == dst),
            "{err:?}"
        );

        let spec = CopySpec::new(pg_url(), pg_url(), &src)
            .renamed(&dst)
            .replacing_existing();
        let report = postgres::copy(&spec, &CancellationToken::new()).await?;
        assert_eq!(report.check.tables, 3);
        compare(
            &checksum(pg_url(), &src).await?,
            &checksum(pg_url(), &dst).await?,
        )?;
        let precious: String = pg(&kept)
            .await?
            .query_one("SELECT v FROM precious", &[])
            .await?
            .get(0);
        assert_eq!(precious, "keep me");
        assert!(!pg_exists(&staging_name(&dst)).await?);
        pg(&dst)
            .await?
            .batch_execute("INSERT INTO journal VALUES ('writable', now())")
            .await?;
        Ok(())
    }
    .await;
    clean_up(&spec, &[&src, &dst, &kept, &staging_name(&dst)]).await;
    result
}

#[tokio::test]
async fn freeze_ends_open_writes_and_thaw_undoes_it_both_idempotent() -> TestResult {
    let db = unique("pl_frz");
    let spec = CopySpec::new(pg_url(), pg_url(), &db);
    let result = async {
        create_db(&db, "CREATE TABLE t (v int)").await?;
        let open = pg(&db).await?;
        open.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
            .await?;

        postgres::freeze(pg_url(), &db).await?;
        postgres::freeze(pg_url(), &db).await?;
        assert!(
            open.batch_execute("COMMIT").await.is_err(),
            "the open session was ended"
        );
        let during = pg(&db).await?;
        let refused = during.batch_execute("INSERT INTO t VALUES (2)").await;
        assert!(matches!(&refused, Err(e) if is_read_only(e)), "{refused:?}");
        let rows: i64 = during
            .query_one("SELECT count(*) FROM t", &[])
            .await?
            .get(0);
        assert_eq!(
            rows, 0,
            "the uncommitted write was lost, none slipped through"
        );

        postgres::thaw(pg_url(), &db).await?;
        // Sessions opened while frozen began read-only: they are ended too.
        assert!(during.batch_execute("SELECT 1").await.is_err());
        postgres::thaw(pg_url(), &db).await?;
        pg(&db)
            .await?
            .batch_execute("INSERT INTO t VALUES (3)")
            .await?;

        let missing = postgres::freeze(pg_url(), &unique("pl_none")).await;
        assert!(
            matches!(missing, Err(DbError::NotFound { .. })),
            "{missing:?}"
        );
        Ok(())
    }
    .await;
    clean_up(&spec, &[&db]).await;
    result
}
