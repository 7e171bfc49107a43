//! The cutover's freeze against the stack's PostgreSQL and MariaDB, from the outside:
//! writers logged in as the account's own users keep trying (new connections, a
//! session that asks for read-write transactions, an owner trying to grant itself
//! its database back) through freeze → final sync → crash of ferry → thaw after the
//! restart → freeze → retire; not one write may land on the source while it is
//! frozen, the thaw must give back exactly what was there before, and a retired
//! source stays frozen until an operator deliberately unretires it.
//!
//! Each test has its own databases, roles and users (unique names), so they run in
//! parallel with the others.

mod support;

use ferry_data_mover::MoverSettings;
use ferry_data_mover::databases::{self, DbError, mysql, postgres};
use ferry_data_mover::engine::freeze::{retire_sources, thaw_sources};
use ferry_events::DatabaseEngine;
use ferry_infra::testkit::eventually;
use support::freeze::{
    my_locked, my_opts, my_write_once, my_writers, pg_writers, transfer, unique,
};
use support::{my, my_url, pg, pg_url};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// How many more attempts every writer must make in each frozen stage.
const TRIES: u64 = 20;

/// The database's owner and every privilege on it (grantee, grantor, privilege,
/// grant option), sorted: what a thaw must give back exactly.
async fn pg_acl(database: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = pg("postgres")
        .await?
        .query(
            "SELECT 'owner ' || d.datdba::regrole::text FROM pg_database d WHERE d.datname = $1
             UNION ALL
             SELECT format('%s %s %s %s', a.grantee::regrole, a.grantor::regrole,
                           a.privilege_type, a.is_grantable)
               FROM pg_database d,
                    aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
              WHERE d.datname = $1
              ORDER BY 1",
            &[&database],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn pg_rows(database: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(pg(database)
        .await?
        .query_one("SELECT count(*) FROM t", &[])
        .await?
        .get(0))
}

#[tokio::test]
async fn postgres_freeze_stops_every_write_of_the_accounts_users_across_a_crash_and_retire()
-> TestResult {
    let prefix = format!("{}_", unique("fzp"));
    let database = format!("{prefix}shop");
    let (app, other, third) = (
        format!("{prefix}app"),
        format!("{prefix}other"),
        format!("{prefix}third"),
    );
    let admin = pg("postgres").await?;
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{app}\" LOGIN PASSWORD 'pw';
             CREATE ROLE \"{other}\" LOGIN PASSWORD 'pw';
             CREATE ROLE \"{third}\" LOGIN PASSWORD 'pw';"
        ))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{database}\" OWNER \"{app}\""))
        .await?;
    let result = postgres_scenario(&database, &app, &other, &third).await;
    let _ = postgres::unretire(pg_url(), &database).await;
    let _ = admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE);
             DROP ROLE IF EXISTS \"{third}\"; DROP ROLE IF EXISTS \"{other}\";
             DROP ROLE IF EXISTS \"{app}\";"
        ))
        .await;
    result
}

async fn postgres_scenario(database: &str, app: &str, other: &str, third: &str) -> TestResult {
    // The account's table, its owner's; a grant with grant option, and one made by
    // its holder rather than by the owner, for the thaw to restore exactly.
    pg(database)
        .await?
        .batch_execute(&format!(
            "CREATE TABLE t (id bigserial PRIMARY KEY, who text);
             ALTER TABLE t OWNER TO \"{app}\";
             GRANT CONNECT ON DATABASE \"{database}\" TO \"{other}\" WITH GRANT OPTION;
             SET ROLE \"{other}\";
             GRANT CONNECT ON DATABASE \"{database}\" TO \"{third}\";
             RESET ROLE;"
        ))
        .await?;
    let before = pg_acl(database).await?;
    let prefix = database.trim_end_matches("shop");
    let scheduled = transfer(
        prefix,
        pg_url(),
        my_url(),
        &[(DatabaseEngine::Postgres, "shop")],
    );
    let settings = MoverSettings::default();

    let writers = pg_writers(app, database, "INSERT INTO t (who) VALUES ('w')")?;
    assert!(
        writers.keep_writing(3).await,
        "the writers write while live"
    );

    // Frozen: no write gets through, whatever the writers try.
    postgres::freeze(pg_url(), database).await?;
    writers.set_frozen(true);
    let frozen_rows = pg_rows(database).await?;
    assert!(writers.keep_trying(TRIES).await, "the writers keep trying");
    // The final sync and verification still read the source (ferry's login).
    databases::checksum(pg_url(), database).await?;
    // Freezing twice is harmless.
    postgres::freeze(pg_url(), database).await?;
    // ferry "crashes": it holds nothing, the server keeps the freeze.
    assert!(writers.keep_trying(TRIES).await);
    assert_eq!(
        pg_rows(database).await?,
        frozen_rows,
        "rows after the freeze"
    );
    assert_eq!(writers.through_freeze(), 0, "writes through the freeze");

    // After the restart: thawed from the transfer alone, exactly as before, twice.
    writers.set_frozen(false);
    thaw_sources(&settings, &scheduled).await;
    thaw_sources(&settings, &scheduled).await;
    assert_eq!(
        pg_acl(database).await?,
        before,
        "the thaw restores the grants"
    );
    assert!(writers.keep_writing(2).await, "the writers write again");

    // Frozen again, then retired: still no write, and no thaw.
    postgres::freeze(pg_url(), database).await?;
    writers.set_frozen(true);
    let frozen_rows = pg_rows(database).await?;
    assert!(writers.keep_trying(TRIES).await);
    postgres::retire(pg_url(), database).await?;
    assert!(writers.keep_trying(TRIES).await);
    retire_sources(&settings, &scheduled).await?;
    thaw_sources(&settings, &scheduled).await;
    let refused = postgres::thaw(pg_url(), database).await;
    assert!(
        matches!(refused, Err(DbError::Retired { .. })),
        "{refused:?}"
    );
    assert!(writers.keep_trying(TRIES).await);
    assert_eq!(pg_rows(database).await?, frozen_rows, "rows after retiring");
    assert_eq!(
        writers.through_freeze(),
        0,
        "writes through the retirement: {:?} {:?}",
        writers.names,
        writers.through_each()
    );
    let tries = writers.frozen_attempts();

    // The operator's deliberate undo.
    writers.set_frozen(false);
    postgres::unretire(pg_url(), database).await?;
    assert_eq!(
        pg_acl(database).await?,
        before,
        "unretire restores the grants"
    );
    assert!(writers.keep_writing(2).await, "the writers write again");
    println!(
        "postgres: 0 writes through the freeze out of {tries} attempts by {:?}",
        writers.names
    );
    writers.stop().await;
    Ok(())
}

fn my_rows(database: &str) -> Result<u64, String> {
    my(&format!("SELECT COUNT(*) FROM `{database}`.t"))?
        .parse()
        .map_err(|e| format!("{e}"))
}

#[tokio::test]
async fn mariadb_freeze_stops_every_write_of_the_accounts_users_across_a_crash_and_retire()
-> TestResult {
    let prefix = format!("{}_", unique("fzm"));
    let database = format!("{prefix}shop");
    let [app, table, roled, locked, role] =
        ["app", "tbl", "rl", "lck", "role"].map(|u| format!("{prefix}{u}"));
    my(&format!(
        "CREATE DATABASE `{database}`;
         CREATE TABLE `{database}`.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(10)) ENGINE=InnoDB;
         CREATE USER '{app}'@'%' IDENTIFIED BY 'pw';
         GRANT ALL ON `{database}`.* TO '{app}'@'%';
         CREATE USER '{table}'@'%' IDENTIFIED BY 'pw';
         GRANT SELECT, INSERT ON `{database}`.t TO '{table}'@'%';
         CREATE ROLE '{role}';
         GRANT INSERT ON `{database}`.* TO '{role}';
         CREATE USER '{roled}'@'%' IDENTIFIED BY 'pw';
         GRANT '{role}' TO '{roled}'@'%';
         SET DEFAULT ROLE '{role}' FOR '{roled}'@'%';
         CREATE USER '{locked}'@'%' IDENTIFIED BY 'pw' ACCOUNT LOCK;
         GRANT ALL ON `{database}`.* TO '{locked}'@'%';"
    ))?;
    let result = mariadb_scenario(&database, [&app, &table, &roled, &locked]).await;
    let _ = mysql::unretire(my_url(), &database).await;
    let _ = my(&format!(
        "DROP USER IF EXISTS '{app}'@'%', '{table}'@'%', '{roled}'@'%', '{locked}'@'%';
         DROP ROLE IF EXISTS '{role}';
         DROP DATABASE IF EXISTS `{database}`;
         DELETE FROM ferry_freeze.locked WHERE db = '{database}';
         DELETE FROM ferry_freeze.frozen WHERE db = '{database}';"
    ));
    result
}

async fn mariadb_scenario(database: &str, users: [&str; 4]) -> TestResult {
    let [app, table, roled, _] = users;
    let prefix = database.trim_end_matches("shop");
    let scheduled = transfer(
        prefix,
        pg_url(),
        my_url(),
        &[(DatabaseEngine::Mysql, "shop")],
    );
    let settings = MoverSettings::default();
    let live = vec![false, false, false, true];
    assert_eq!(my_locked(&users)?, live);

    let writers = my_writers(
        &format!("INSERT INTO `{database}`.t (who) VALUES ('w')"),
        &[
            ("my: new connection each time", app),
            ("my: table privilege", table),
            ("my: through a role", roled),
        ],
        app,
    )?;
    assert!(
        writers.keep_writing(3).await,
        "the writers write while live"
    );

    // Frozen: no write gets through.
    let frozen = mysql::freeze(my_url(), database).await?;
    writers.set_frozen(true);
    let frozen_rows = my_rows(database)?;
    assert_eq!(my_locked(&users)?, vec![true; 4]);
    assert!(writers.keep_trying(TRIES).await, "the writers keep trying");
    databases::checksum(my_url(), database).await?;
    // ferry crashes: its session, and the tables' read lock with it, are gone; the
    // accounts stay locked.
    drop(frozen);
    // Its read lock is gone indeed: an administrator (not locked out) writes again.
    let root_write = format!(
        "SET SESSION lock_wait_timeout = 1; INSERT INTO `{database}`.t (who) VALUES ('root')"
    );
    assert!(
        eventually(30, || async { my(&root_write).is_ok() }).await,
        "the read lock died with its session"
    );
    let frozen_rows = frozen_rows + 1;
    assert!(writers.keep_trying(TRIES).await);
    // Restarted, the cutover freezes again (harmless), and crashes again.
    drop(mysql::freeze(my_url(), database).await?);
    assert!(writers.keep_trying(TRIES).await);
    assert_eq!(my_rows(database)?, frozen_rows, "rows after the freeze");
    assert_eq!(writers.through_freeze(), 0, "writes through the freeze");

    // After the restart: thawed from the transfer alone, exactly as before, twice;
    // the account locked by someone else stays locked.
    writers.set_frozen(false);
    thaw_sources(&settings, &scheduled).await;
    thaw_sources(&settings, &scheduled).await;
    assert_eq!(my_locked(&users)?, live, "the thaw restores the accounts");
    assert!(writers.keep_writing(2).await, "the writers write again");

    // Frozen again, then retired: still no write, and no thaw.
    let frozen = mysql::freeze(my_url(), database).await?;
    writers.set_frozen(true);
    let frozen_rows = my_rows(database)?;
    assert!(writers.keep_trying(TRIES).await);
    frozen.retire().await?;
    assert!(writers.keep_trying(TRIES).await);
    retire_sources(&settings, &scheduled).await?;
    thaw_sources(&settings, &scheduled).await;
    let refused = mysql::thaw(my_url(), database).await;
    assert!(
        matches!(refused, Err(DbError::Retired { .. })),
        "{refused:?}"
    );
    assert!(writers.keep_trying(TRIES).await);
    assert_eq!(my_rows(database)?, frozen_rows, "rows after retiring");
    assert_eq!(
        writers.through_freeze(),
        0,
        "writes through the retirement: {:?} {:?}",
        writers.names,
        writers.through_each()
    );
    assert_eq!(my_locked(&users)?, vec![true; 4]);
    let tries = writers.frozen_attempts();

    // The operator's deliberate undo.
    writers.set_frozen(false);
    mysql::unretire(my_url(), database).await?;
    assert_eq!(my_locked(&users)?, live, "unretire restores the accounts");
    assert!(writers.keep_writing(2).await, "the writers write again");
    println!(
        "mariadb: 0 writes through the freeze out of {tries} attempts by {:?}",
        writers.names
    );
    writers.stop().await;
    Ok(())
}

/// A rollback onto the server the account left: the copy switched in under the
/// retired source's name lifts its freeze (the old copy is kept aside under another
/// name), so that the account's users reach the new copy.
#[tokio::test]
async fn a_copy_switched_in_over_a_retired_mariadb_source_unlocks_its_accounts() -> TestResult {
    let prefix = format!("{}_", unique("fzr"));
    let (database, incoming, app) = (
        format!("{prefix}shop"),
        format!("{prefix}back"),
        format!("{prefix}app"),
    );
    my(&format!(
        "CREATE DATABASE `{database}`;
         CREATE TABLE `{database}`.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(10)) ENGINE=InnoDB;
         CREATE DATABASE `{incoming}`;
         CREATE TABLE `{incoming}`.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(10)) ENGINE=InnoDB;
         INSERT INTO `{incoming}`.t (who) VALUES ('new');
         CREATE USER '{app}'@'%' IDENTIFIED BY 'pw';
         GRANT ALL ON `{database}`.* TO '{app}'@'%';"
    ))?;
    let result = async {
        mysql::retire(my_url(), &database).await?;
        assert_eq!(my_locked(&[&app])?, vec![true]);
        let spec = databases::CopySpec::new(my_url(), my_url(), &incoming)
            .renamed(&database)
            .replacing_existing();
        mysql::copy(&spec, &databases::CancellationToken::new()).await?;
        assert_eq!(
            my_locked(&[&app])?,
            vec![false],
            "the account reaches the new copy"
        );
        let insert = format!("INSERT INTO `{database}`.t (who) VALUES ('app')");
        assert!(
            my_write_once(my_opts(&app)?, insert).await,
            "the account writes"
        );
        let refused = mysql::thaw(my_url(), &database).await;
        assert!(refused.is_ok(), "nothing left to thaw: {refused:?}");
        Ok(())
    }
    .await;
    let kept = databases::replaced_name(&database);
    let _ = my(&format!(
        "DROP USER IF EXISTS '{app}'@'%';
         DROP DATABASE IF EXISTS `{database}`; DROP DATABASE IF EXISTS `{incoming}`;
         DROP DATABASE IF EXISTS `{kept}`;
         DELETE FROM ferry_freeze.locked WHERE db = '{database}';
         DELETE FROM ferry_freeze.frozen WHERE db = '{database}';"
    ));
    result
}

/// A MariaDB grant to PUBLIC lets every account in: the freeze refuses (the cutover
/// fails, the account stays live on its source) rather than leave a way in.
#[tokio::test]
async fn a_mariadb_schema_granted_to_public_is_not_frozen_but_refused() -> TestResult {
    let database = format!("{}_shop", unique("fzq"));
    my(&format!(
        "CREATE DATABASE `{database}`;
         CREATE TABLE `{database}`.t (id BIGINT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB;
         GRANT INSERT ON `{database}`.* TO PUBLIC;"
    ))?;
    let refused = mysql::freeze(my_url(), &database).await;
    let _ = my(&format!(
        "REVOKE INSERT ON `{database}`.* FROM PUBLIC;
         DROP DATABASE IF EXISTS `{database}`;
         DELETE FROM ferry_freeze.frozen WHERE db = '{database}';"
    ));
    assert!(
        matches!(&refused, Err(DbError::Query { reason, .. }) if reason.contains("PUBLIC")),
        "{refused:?}"
    );
    Ok(())
}
