//! A real cutover, through the log, while the account's own users (not superusers)
//! keep writing to its source databases, and go on trying after it completed: no
//! row may exist only on the old copy, during the cutover or after it (the source
//! is retired, frozen for good).

mod support;

use ferry_data_mover::MoverSettings;
use ferry_data_mover::databases::{DbError, mysql, postgres};
use ferry_events::*;
use support::freeze::{Writers, shop_writers};
use support::*;
use uuid::Uuid;

/// How many more attempts every writer must make after the cutover.
const TRIES: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cutover_lets_no_write_of_the_accounts_users_land_on_the_old_copy() {
    let mut world = World::new().await;
    let (app, src_pg, src_my) = support::freeze::shop_owned_by_its_users(&world).await;

    world
        .client_and_transit(vec![shop_with_both_databases()])
        .await;
    world.start(MoverSettings::default());
    let (pg_writers, my_writers) = shop_writers(&app, &src_pg, &src_my).await;

    let moving = Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", moving)
        .await;
    let events = world.ended(moving, 180).await;
    assert!(
        completed(&events).is_some(),
        "{:?} {:?}",
        types(&events),
        failed(&events)
    );
    let (dst_pg, dst_my) = (world.db("tr-1", "shop_pg"), world.db("tr-1", "shop_my"));
    let same = |when: &str| {
        let (src_pg, dst_pg, src_my, dst_my) = (&src_pg, &dst_pg, &src_my, &dst_my);
        let when = when.to_owned();
        async move {
            assert_eq!(
                pg_count(src_pg).await,
                pg_count(dst_pg).await,
                "PostgreSQL rows only on the old copy {when}"
            );
            assert_eq!(
                my_count(src_my),
                my_count(dst_my),
                "MariaDB rows only on the old copy {when}"
            );
        }
    };
    same("at the switch").await;
    let attempts = |w: &Writers| w.attempts().iter().sum::<u64>();
    let before = attempts(&pg_writers) + attempts(&my_writers);
    assert!(pg_writers.keep_trying(TRIES).await && my_writers.keep_trying(TRIES).await);
    same("after the switch").await;

    // Retired: no thaw lets them in, whatever asks.
    let refused = postgres::thaw(pg_url(), &src_pg).await;
    assert!(
        matches!(refused, Err(DbError::Retired { .. })),
        "{refused:?}"
    );
    let refused = mysql::thaw(my_url(), &src_my).await;
    assert!(
        matches!(refused, Err(DbError::Retired { .. })),
        "{refused:?}"
    );
    assert!(pg_writers.keep_trying(TRIES).await && my_writers.keep_trying(TRIES).await);
    same("after a thaw was refused").await;
    let after = attempts(&pg_writers) + attempts(&my_writers);
    println!(
        "cutover: 0 rows only on the old copy, {} write attempts on it after the switch",
        after - before
    );

    pg_writers.stop().await;
    my_writers.stop().await;
    world.stop().await;
    let _ = postgres::unretire(pg_url(), &src_pg).await;
    let _ = mysql::unretire(my_url(), &src_my).await;
    world.cleanup().await;
    let _ = pg("postgres")
        .await
        .expect("connects")
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{app}\""))
        .await;
    let _ = my(&format!("DROP USER IF EXISTS '{app}'@'%'"));
}
