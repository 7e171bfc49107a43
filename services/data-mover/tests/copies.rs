//! Test copies and service migrations for real, through the log: an account's
//! databases copied to the test servers while the original keeps serving, refreshed
//! and discarded; a server's PostgreSQL moved to its new version's server with every
//! account using it frozen at once.

mod support;

use ferry_data_mover::MoverSettings;
use ferry_data_mover::settings::ServiceServer;
use ferry_events::*;
use ferry_infra::testkit::eventually;
use support::*;
use uuid::Uuid;

fn my_exists(name: &str) -> bool {
    !my(&format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = '{name}'"
    ))
    .expect("queries")
    .is_empty()
}

async fn pg_test_copies(world: &World) -> Vec<String> {
    let admin = pg("postgres").await.expect("connects");
    admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1",
            &[&format!("{}%", world.prefix("test"))],
        )
        .await
        .expect("lists")
        .into_iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_test_copy_leaves_the_original_serving_and_can_be_refreshed_and_discarded() {
    let mut world = World::new().await;
    let shop = shop_with_both_databases();
    pg_shop(&world.db("srv-1", "shop_pg"), 500).await;
    my_shop(&world.db("srv-1", "shop_my"), 300);
    world.client_and_transit(vec![shop]).await;
    let test = world.storage("test");
    world.start(MoverSettings {
        test_postgres_url: test.postgres_url,
        test_mysql_url: test.mysql_url,
        test_postgres_credential: test.postgres_credential,
        test_mysql_credential: test.mysql_credential,
        test_address: Some("test-0001.hosting.example".into()),
        ..MoverSettings::default()
    });
    let request = |transfer_id| {
        vec![
            TestMigrationRequested {
                account_id: "acc-1".into(),
                transfer_id,
            }
            .into(),
        ]
    };
    let first = Uuid::now_v7();
    world.migration_events(request(first)).await;
    let events = world.ended(first, 60).await;
    let done = completed(&events).unwrap_or_else(|| panic!("{:?}", failed(&events)));
    let address = done.test_address.clone().expect("an address");
    assert!(
        address.starts_with("test-0001.hosting.example ("),
        "{address}"
    );
    assert_eq!(done.downtime_ms, None, "the original never stops");
    let copies = pg_test_copies(&world).await;
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(address.contains(&copies[0]), "{address} names {copies:?}");
    assert_eq!(pg_count(&copies[0]).await, 500);
    // The original is untouched and takes writes.
    let original = pg(&world.db("srv-1", "shop_pg")).await.expect("connects");
    original
        .execute(
            "INSERT INTO items (label) VALUES ('after the test copy')",
            &[],
        )
        .await
        .expect("the original serves");

    // A refresh replaces the same copy with the current data.
    let second = Uuid::now_v7();
    world.migration_events(request(second)).await;
    assert!(completed(&world.ended(second, 60).await).is_some());
    let refreshed = pg_test_copies(&world).await;
    assert!(refreshed.contains(&copies[0]));
    assert_eq!(pg_count(&copies[0]).await, 501, "refreshed");

    // Discarded: the copies (and the one the refresh replaced) are dropped.
    world
        .migration_events(vec![
            TestMigrationDiscarded {
                account_id: "acc-1".into(),
                transfer_id: second,
            }
            .into(),
        ])
        .await;
    let my_copies = || {
        my(&format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}%'",
            world.prefix("test")
        ))
        .expect("lists")
    };
    let gone = eventually(15, || async {
        pg_test_copies(&world).await.is_empty() && my_copies().is_empty()
    })
    .await;
    assert!(gone, "{:?} {}", pg_test_copies(&world).await, my_copies());
    assert!(
        pg_exists(&world.db("srv-1", "shop_pg"))
            .await
            .expect("queries")
            && my_exists(&world.db("srv-1", "shop_my"))
    );
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_test_copy_without_test_servers_fails_saying_so() {
    let mut world = World::new().await;
    let shop = account(
        "acc-1",
        "shop",
        vec![database(DatabaseEngine::Postgres, "shop_pg")],
    );
    world.client_and_transit(vec![shop]).await;
    world.start(MoverSettings::default());
    let transfer = Uuid::now_v7();
    world
        .migration_events(vec![
            TestMigrationRequested {
                account_id: "acc-1".into(),
                transfer_id: transfer,
            }
            .into(),
        ])
        .await;
    let events = world.ended(transfer, 60).await;
    let failure = failed(&events).expect("failed");
    assert!(
        failure.reason.contains("no PostgreSQL server"),
        "{}",
        failure.reason
    );
    assert!(!failure.retryable);
    world.stop().await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_migration_moves_every_accounts_databases_to_the_new_version() {
    let mut world = World::new().await;
    let shop = account(
        "acc-1",
        "shop",
        vec![database(DatabaseEngine::Postgres, "shop_pg")],
    );
    let blog = account(
        "acc-2",
        "blog",
        vec![database(DatabaseEngine::Postgres, "blog_pg")],
    );
    let mail = account(
        "acc-3",
        "mail",
        vec![database(DatabaseEngine::Mysql, "mail_my")],
    );
    pg_shop(&world.db("srv-1", "shop_pg"), 300).await;
    pg_shop(&world.db("srv-1", "blog_pg"), 200).await;
    my_shop(&world.db("srv-1", "mail_my"), 10);
    world.client_and_transit(vec![shop, blog, mail]).await;
    let optional = Uuid::now_v7();
    world
        .append(
            AggregateType::OptionalMigration,
            &optional.to_string(),
            vec![
                OptionalMigrationScheduled {
                    optional_migration_id: optional,
                    server_id: "srv-1".into(),
                    customer_id: "c-1".into(),
                    service: ServiceKind::Postgresql,
                    from_version: "15".into(),
                    to_version: "16".into(),
                    scheduled_for: None,
                }
                .into(),
            ],
        )
        .await;
    let new_server = world.storage("pg16");
    world.start(MoverSettings {
        service_servers: vec![ServiceServer {
            service: ServiceKind::Postgresql,
            version: "16".into(),
            url: new_server.postgres_url.expect("a url"),
            credential: new_server.postgres_credential,
        }],
        ..MoverSettings::default()
    });
    let transfer = Uuid::now_v7();
    world
        .append(
            AggregateType::OptionalMigration,
            &optional.to_string(),
            vec![
                OptionalMigrationStarted {
                    transfer_id: transfer,
                }
                .into(),
            ],
        )
        .await;
    let events = world.ended(transfer, 120).await;
    let done = completed(&events).unwrap_or_else(|| panic!("{:?}", failed(&events)));
    assert!(
        done.downtime_ms.is_some(),
        "measured from the first freeze to the last unfreeze"
    );
    let frozen = types(&events)
        .iter()
        .filter(|t| **t == "AccountFrozen")
        .count();
    assert_eq!(
        frozen, 2,
        "the two accounts using PostgreSQL, not the MariaDB one"
    );
    assert_eq!(pg_count(&world.db("pg16", "shop_pg")).await, 300);
    assert_eq!(pg_count(&world.db("pg16", "blog_pg")).await, 200);
    assert!(
        !my_exists(&world.db("pg16", "mail_my")),
        "MariaDB is not the service moved"
    );
    world.stop().await;
    world.cleanup().await;
}
