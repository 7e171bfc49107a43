//! Support calls off a move that cannot finish (`AccountTransferAborted`): here one
//! stuck with its account frozen, the worker that ran it gone. The data mover thaws
//! the sources (the operator's freeze command gets its `thaw`, PostgreSQL sources
//! take writes again), tears the replication down, and records the transfer cancelled
//! with the account unfrozen on its source: it serves from where it was.

mod support;

use ferry_data_mover::MoverSettings;
use ferry_events::*;
use ferry_infra::testkit::eventually;
use support::worker_process::{WorkerOptions, run_if_asked};
use support::*;

/// Not a test of its own: the body of the worker processes the tests start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process() {
    run_if_asked().await;
}

async fn until(world: &World, transfer: uuid::Uuid, what: &str, found: impl Fn(&[Event]) -> bool) {
    let seen = eventually(60, || async { found(&world.transfer(transfer).await) }).await;
    assert!(seen, "{what}: {:?}", types(&world.transfer(transfer).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_stuck_frozen_after_its_worker_died_is_called_off_and_its_source_thawed() {
    let mut world = World::new().await;
    write(&world.path("srv-1", "files/shop/index.php"), b"<?php");
    write(
        &world.path("srv-1", "mail/shop/Maildir/cur/1"),
        b"Subject: hi",
    );
    pg_shop(&world.db("srv-1", "shop_pg"), 100).await;
    let shop = account(
        "acc-1",
        "shop",
        vec![database(DatabaseEngine::Postgres, "shop_pg")],
    );
    world.client_and_transit(vec![shop.clone()]).await;
    // The freeze hangs (a service that will not stop); the thaw leaves a mark.
    let thawed = world.root.join("thawed");
    let hook = format!(
        "case \"$FERRY_FREEZE_ACTION\" in freeze) sleep 20;; thaw) touch '{}';; esac",
        thawed.display()
    );
    let options = WorkerOptions {
        freeze_command: Some(hook.clone()),
        ..WorkerOptions::default()
    };
    let mut worker = world.worker_process(1, &options);
    let transfer = uuid::Uuid::now_v7();
    world
        .account_transfer(TransferKind::Cutover, "acc-1", transfer)
        .await;
    world.start_policy(MoverSettings {
        freeze_command: Some(hook),
        ..MoverSettings::default()
    });
    until(&world, transfer, "the account frozen", |events| {
        events
            .iter()
            .any(|e| matches!(e, Event::Transfer(TransferEvent::AccountFrozen(_))))
    })
    .await;
    // The worker dies with the account frozen: nothing will finish this move.
    worker.child.start_kill().expect("killed");
    let _ = worker.child.wait().await;

    world
        .migration_events(vec![
            AccountTransferAborted {
                account_id: "acc-1".into(),
                transfer_id: transfer,
                reason: "the freeze never ends".into(),
            }
            .into(),
        ])
        .await;
    until(&world, transfer, "the transfer called off", |events| {
        events
            .iter()
            .any(|e| matches!(e, Event::Transfer(TransferEvent::TransferCancelled(_))))
    })
    .await;
    let events = world.transfer(transfer).await;
    let tail: Vec<&str> = types(&events).into_iter().rev().take(2).collect();
    assert_eq!(
        tail,
        ["TransferCancelled", "AccountUnfrozen"],
        "unfrozen on its source, then cancelled"
    );
    let reason = events.iter().find_map(|e| match e {
        Event::Transfer(TransferEvent::TransferCancelled(c)) => Some(c.reason.clone()),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("called off by support: the freeze never ends")
    );
    assert!(thawed.exists(), "the freeze command was told to thaw");
    // The source takes writes again.
    pg(&world.db("srv-1", "shop_pg"))
        .await
        .expect("connects")
        .batch_execute("INSERT INTO items (label) VALUES ('after the abort')")
        .await
        .expect("the source is writable");
    world.stop().await;
    world.cleanup().await;
}
