//! The projection runner against real NATS and PostgreSQL: exactly-once application
//! across a kill in the middle of a batch, rebuild equal to the live tables, and an
//! event that cannot be applied stalls the projection instead of being skipped.

use ferry_infra::event_log::{AggregateRef, EventLog};
use ferry_infra::projection::log_index::LogIndex;
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::projection::{
    Projection, ProjectionRunner, ProjectionState, RunnerSettings, StatusBoard,
};
use ferry_infra::testkit::TestStack;
use ferry_tests::{Recorder, eventually, new_migration, ready_events};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn settings(batch_size: usize) -> RunnerSettings {
    RunnerSettings {
        batch_size,
        apply_attempts: 2,
        retry_backoff: Duration::from_millis(10),
        stalled_retry: Duration::from_millis(200),
        lag_interval: Duration::from_millis(100),
        ..RunnerSettings::default()
    }
}

/// Appends `commands` commands of 1–3 events over `aggregates` aggregates; returns the
/// number of events.
async fn append_history(log: &EventLog, aggregates: &[AggregateRef], commands: usize) -> usize {
    let mut versions = vec![0; aggregates.len()];
    let mut total = 0;
    for c in 0..commands {
        let i = c % aggregates.len();
        let events = ready_events(&aggregates[i], 1 + c % 3, Uuid::now_v7());
        total += events.len();
        versions[i] = log
            .append(
                &aggregates[i],
                versions[i],
                &events,
                &Uuid::now_v7().to_string(),
            )
            .await
            .expect("append")
            .version;
    }
    total
}

async fn count(stack: &TestStack, sql: &str) -> i64 {
    stack
        .pool
        .get()
        .await
        .expect("connection")
        .query_one(sql, &[])
        .await
        .expect("query")
        .get(0)
}

fn spawn_runner<P: Projection>(
    stack: &TestStack,
    projection: Arc<P>,
    board: &StatusBoard,
    batch: usize,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let runner = ProjectionRunner::new(
        projection,
        stack.log.clone(),
        stack.pool.clone(),
        settings(batch),
        board.clone(),
    );
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { runner.run(token).await.expect("runner") });
    (shutdown, handle)
}

async fn caught_up(stack: &TestStack, board: &StatusBoard, name: &str) -> bool {
    let last = stack.log.last_sequence().await.expect("last sequence");
    // Liveness, not speed: a loaded CI machine (the whole suite at once) once took
    // over 20 s to start a runner.
    eventually(60, || async {
        board.get(name).is_some_and(|s| s.checkpoint == last)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_killed_mid_batch_applies_every_event_exactly_once() {
    let stack = TestStack::new().await;
    let aggregates: Vec<_> = (0..5).map(|_| new_migration()).collect();
    let first = append_history(&stack.log, &aggregates, 20).await;

    let recorder = Recorder::default();
    let board = StatusBoard::default();
    let (_, handle) = spawn_runner(&stack, Arc::new(recorder.clone()), &board, 7);
    assert!(
        caught_up(&stack, &board, "recorder").await,
        "first events applied"
    );

    // The next batch writes its rows, then hangs before commit; the runner is killed there.
    recorder.hold_batches();
    let more: Vec<_> = (0..5).map(|_| new_migration()).collect();
    let second = append_history(&stack.log, &more, 30).await;
    tokio::time::timeout(Duration::from_secs(10), recorder.held.notified())
        .await
        .expect("a batch is held mid-way");
    handle.abort();
    let _ = handle.await;

    // A new runner (as after a restart) takes over from the checkpoint.
    recorder.stop_holding();
    let board = StatusBoard::default();
    let (shutdown, handle) = spawn_runner(&stack, Arc::new(recorder.clone()), &board, 7);
    assert!(
        caught_up(&stack, &board, "recorder").await,
        "the restarted runner catches up"
    );
    shutdown.cancel();
    handle.await.expect("runner stops");

    let total = (first + second) as i64;
    assert_eq!(
        count(&stack, "SELECT count(*) FROM proj_recorder.applied").await,
        total,
        "no event lost, none applied twice"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(DISTINCT event_id) FROM proj_recorder.applied"
        )
        .await,
        total
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM proj_recorder.applied a JOIN proj_recorder._ferry_checkpoint c ON a.sequence > c.sequence").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_produces_exactly_the_live_tables_and_swaps_in_under_traffic() {
    let stack = TestStack::new().await;
    let aggregates: Vec<_> = (0..8).map(|_| new_migration()).collect();
    let events = append_history(&stack.log, &aggregates, 60).await;

    let board = StatusBoard::default();
    let (shutdown, handle) = spawn_runner(&stack, Arc::new(LogIndex), &board, 16);
    assert!(caught_up(&stack, &board, "log_index").await);

    let shadow = build_shadow(&LogIndex, &stack.log, &stack.pool, 25)
        .await
        .expect("rebuild");
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(comparison.is_equal(), "{comparison:#?}");
    assert_eq!(comparison.tables.len(), 2);
    assert_eq!(
        comparison
            .tables
            .iter()
            .find(|t| t.table == "aggregates")
            .and_then(|t| t.live_rows),
        Some(8)
    );
    assert_eq!(
        count(
            &stack,
            "SELECT sum(events)::int8 FROM proj_log_index.aggregates"
        )
        .await,
        events as i64
    );

    // Events keep coming while the rebuild swaps in; the live runner carries on after it.
    let more = new_migration();
    let writer = {
        let log = stack.log.clone();
        tokio::spawn(async move { append_history(&log, std::slice::from_ref(&more), 40).await })
    };
    let report = shadow.swap().await.expect("swap");
    assert_eq!(
        count(&stack, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'proj_log_index' AND c.relkind = 'r' AND c.relpersistence <> 'p'").await,
        0,
        "the live tables are crash-safe (logged) after the swap"
    );
    let written = writer.await.expect("writer");
    assert!(report.events >= events as u64);
    assert!(
        caught_up(&stack, &board, "log_index").await,
        "the live runner continues on the swapped tables"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT sum(events)::int8 FROM proj_log_index.aggregates"
        )
        .await,
        (events + written) as i64
    );

    // And a second rebuild still equals the live tables.
    let shadow = build_shadow(&LogIndex, &stack.log, &stack.pool, 1000)
        .await
        .expect("rebuild");
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(comparison.is_equal(), "{comparison:#?}");
    shadow.discard().await.expect("discard");
    assert!(
        eventually(5, || async {
            board.get("log_index").and_then(|s| s.lag) == Some(0)
        })
        .await,
        "lag measured and zero"
    );
    shutdown.cancel();
    handle.await.expect("runner stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_cannot_be_applied_stalls_the_projection_and_is_recorded() {
    let stack = TestStack::new().await;
    let good = new_migration();
    let bad = new_migration();
    let mut version = stack
        .log
        .append(&good, 0, &ready_events(&good, 3, Uuid::now_v7()), "g1")
        .await
        .expect("append")
        .version;
    let poison = stack
        .log
        .append(&bad, 0, &ready_events(&bad, 1, Uuid::now_v7()), "b1")
        .await
        .expect("append")
        .version;
    version = stack
        .log
        .append(
            &good,
            version,
            &ready_events(&good, 2, Uuid::now_v7()),
            "g2",
        )
        .await
        .expect("append")
        .version;

    let recorder = Recorder::default();
    recorder.refuse(Some(bad.id.clone()));
    let board = StatusBoard::default();
    let (shutdown, handle) = spawn_runner(&stack, Arc::new(recorder.clone()), &board, 100);

    let stalled = eventually(10, || async {
        matches!(board.get("recorder").map(|s| s.state), Some(ProjectionState::Stalled { sequence, .. }) if sequence == poison)
    })
    .await;
    assert!(
        stalled,
        "stalled at the poison event: {:?}",
        board.get("recorder")
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM proj_recorder.applied").await,
        3,
        "the events before it were applied"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT sequence FROM proj_recorder._ferry_checkpoint"
        )
        .await,
        poison as i64 - 1
    );
    let recorded: (i64, String) = {
        let row = stack
            .pool
            .get()
            .await
            .expect("connection")
            .query_one(
                "SELECT sequence, error FROM proj_recorder._ferry_failures",
                &[],
            )
            .await
            .expect("a failure row");
        (row.get(0), row.get(1))
    };
    assert_eq!(recorded.0, poison as i64);
    assert!(recorded.1.contains("refusing"), "{}", recorded.1);
    assert!(
        ferry_infra::metrics::global()
            .render()
            .contains("ferry_projection_stalled{projection=\"recorder\"} 1")
    );

    // Once the cause is fixed, the projection resumes with that very event: nothing skipped.
    recorder.refuse(None);
    assert!(
        eventually(10, || async {
            board
                .get("recorder")
                .is_some_and(|s| s.checkpoint == version)
        })
        .await
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM proj_recorder.applied").await,
        6
    );
    assert_eq!(
        board.get("recorder").map(|s| s.state),
        Some(ProjectionState::Running)
    );
    shutdown.cancel();
    handle.await.expect("runner stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_stalls_the_projection() {
    let stack = TestStack::new().await;
    let good = new_migration();
    stack
        .log
        .append(&good, 0, &ready_events(&good, 2, Uuid::now_v7()), "g1")
        .await
        .expect("append");
    let corrupt = new_migration();
    let ack = stack
        .log
        .jetstream()
        .publish(stack.log.subject(&corrupt), "not an event".into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let board = StatusBoard::default();
    let (shutdown, handle) = spawn_runner(&stack, Arc::new(Recorder::default()), &board, 100);
    let stalled = eventually(10, || async {
        matches!(board.get("recorder").map(|s| s.state), Some(ProjectionState::Stalled { sequence, .. }) if sequence == ack.sequence)
    })
    .await;
    assert!(stalled, "{:?}", board.get("recorder"));
    assert_eq!(
        count(&stack, "SELECT count(*) FROM proj_recorder.applied").await,
        2
    );
    shutdown.cancel();
    handle.await.expect("runner stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_already_applied_by_someone_else_still_move_the_shown_checkpoint() {
    // What a rebuild's swap does under traffic: it applies the newest events with its
    // tables, and the live runner then receives them as already applied. Its
    // checkpoint as shown (readiness, metrics) must follow the stored one.
    let stack = TestStack::new().await;
    let aggregates: Vec<_> = (0..2).map(|_| new_migration()).collect();
    append_history(&stack.log, &aggregates, 5).await;
    let board = StatusBoard::default();
    let (shutdown, handle) = spawn_runner(&stack, Arc::new(LogIndex), &board, 16);
    assert!(caught_up(&stack, &board, "log_index").await);

    // Hold the projection's write lock, as the swap does; events arrive meanwhile.
    let mut client = stack.pool.get().await.expect("connection");
    let tx = client.transaction().await.expect("transaction");
    tx.batch_execute("SELECT pg_advisory_xact_lock(hashtext('ferry.projection.write.log_index'))")
        .await
        .expect("locked");
    append_history(&stack.log, &[new_migration()], 3).await;
    let last = stack.log.last_sequence().await.expect("last sequence");
    // The runner has them in hand and waits for the lock (the test's database is its
    // own: the one advisory lock waited for in it is the runner's).
    let monitor = stack.pool.get().await.expect("connection");
    assert!(
        eventually(10, || async {
            monitor
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                      WHERE l.locktype = 'advisory' AND NOT l.granted
                        AND d.datname = current_database()",
                    &[],
                )
                .await
                .expect("locks")
                .get::<_, i64>(0)
                > 0
        })
        .await,
        "the runner waits for the projection's write lock"
    );
    // Someone else applied them: the stored checkpoint says so.
    tx.batch_execute(&format!(
        "UPDATE proj_log_index._ferry_checkpoint SET sequence = {last}"
    ))
    .await
    .expect("checkpoint moved");
    tx.commit().await.expect("committed");
    assert!(
        eventually(10, || async {
            board.get("log_index").is_some_and(|s| s.checkpoint == last)
        })
        .await,
        "the shown checkpoint is the stored one: {:?}",
        board.get("log_index")
    );
    shutdown.cancel();
    handle.await.expect("joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_live_row_makes_the_rebuild_comparison_differ_naming_its_table() {
    let stack = TestStack::new().await;
    let aggregates: Vec<_> = (0..3).map(|_| new_migration()).collect();
    append_history(&stack.log, &aggregates, 4).await;
    let board = StatusBoard::default();
    let (shutdown, handle) = spawn_runner(&stack, Arc::new(LogIndex), &board, 16);
    assert!(caught_up(&stack, &board, "log_index").await);
    shutdown.cancel();
    handle.await.expect("joined");

    let shadow = build_shadow(&LogIndex, &stack.log, &stack.pool, 10)
        .await
        .expect("rebuild");
    assert!(
        shadow
            .compare_with_live()
            .await
            .expect("compare")
            .is_equal()
    );
    // One live row goes wrong (a bug, a hand edit): the checker must see it.
    let damaged = stack
        .pool
        .get()
        .await
        .expect("connection")
        .execute(
            "UPDATE proj_log_index.aggregates SET events = events + 1 WHERE aggregate_id = $1",
            &[&aggregates[1].id],
        )
        .await
        .expect("damaged");
    assert_eq!(damaged, 1);
    let comparison = shadow.compare_with_live().await.expect("compare");
    assert!(!comparison.is_equal(), "{comparison:#?}");
    let table = comparison
        .tables
        .iter()
        .find(|t| t.table == "aggregates")
        .expect("the aggregates table");
    assert_eq!(
        table.differing_rows, 2,
        "the live row and its rebuilt twin: {table:?}"
    );
    assert_eq!(
        table.live_rows, table.rebuilt_rows,
        "same count, other content"
    );
    shadow.discard().await.expect("discard");
}
