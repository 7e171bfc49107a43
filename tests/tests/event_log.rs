//! The JetStream event log against a real nats-server: optimistic concurrency,
//! idempotency, atomicity of multi-event commands, load and replay.

use ferry_infra::event_log::{AppendError, EventLog};
use ferry_infra::testkit::TestStack;
use ferry_tests::{eventually, new_migration, ready_events};
use futures::StreamExt;
use uuid::Uuid;

async fn last_sequence(log: &EventLog) -> u64 {
    log.last_sequence().await.expect("stream info")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_racing_on_one_version_exactly_one_wins() {
    let stack = TestStack::new().await;
    let other = stack.second_log().await;
    for round in 0..20 {
        let aggregate = new_migration();
        // Start from a non-zero version half of the time.
        let expected = if round % 2 == 0 {
            0
        } else {
            stack
                .log
                .append(
                    &aggregate,
                    0,
                    &ready_events(&aggregate, 1, Uuid::now_v7()),
                    &Uuid::now_v7().to_string(),
                )
                .await
                .expect("seed")
                .version
        };
        let (a_events, b_events) = (
            ready_events(&aggregate, 1, Uuid::now_v7()),
            ready_events(&aggregate, 2, Uuid::now_v7()),
        );
        let (a_key, b_key) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
        let (a, b) = tokio::join!(
            stack.log.append(&aggregate, expected, &a_events, &a_key),
            other.append(&aggregate, expected, &b_events, &b_key),
        );
        let (winner, loser) = match (a, b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            (a, b) => panic!("round {round}: expected exactly one winner, got {a:?} and {b:?}"),
        };
        match loser {
            AppendError::Conflict {
                expected: e,
                actual,
                ..
            } => {
                assert_eq!(e, expected);
                assert_eq!(
                    actual, winner.version,
                    "the conflict reports the version that won"
                );
            }
            other => panic!("the loser must get a Conflict, got {other:?}"),
        }
        let loaded = stack.log.load(&aggregate).await.expect("load");
        assert_eq!(loaded.version, winner.version);
        let appended = loaded.events.len() - usize::from(expected > 0);
        assert!(
            appended == 1 || appended == 2,
            "only the winner's events are in the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_command_retried_appends_once() {
    let stack = TestStack::new().await;
    for count in [1, 3] {
        let aggregate = new_migration();
        let command = Uuid::now_v7();
        let events = ready_events(&aggregate, count, command);
        let first = stack
            .log
            .append(&aggregate, 0, &events, &command.to_string())
            .await
            .expect("first append");
        assert!(!first.duplicate);
        // The caller never saw that ack (lost) and sends the same command again, as is.
        let retry = stack
            .log
            .append(&aggregate, 0, &events, &command.to_string())
            .await
            .expect("the retry succeeds");
        assert!(
            retry.duplicate,
            "the retry is recognised as already appended"
        );
        assert_eq!(retry.version, first.version);
        // ... and once more from another connection, as a restarted process would.
        let other = stack.second_log().await;
        let again = other
            .append(&aggregate, 0, &events, &command.to_string())
            .await
            .expect("the retry succeeds");
        assert!(again.duplicate);
        let loaded = stack.log.load(&aggregate).await.expect("load");
        assert_eq!(loaded.events.len(), count, "appended once");
        assert_eq!(loaded.version, first.version);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_somebody_else_appended_is_still_recognised() {
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let command = Uuid::now_v7();
    let events = ready_events(&aggregate, 2, command);
    let first = stack
        .log
        .append(&aggregate, 0, &events, &command.to_string())
        .await
        .expect("append");
    let next = ready_events(&aggregate, 1, Uuid::now_v7());
    stack
        .log
        .append(
            &aggregate,
            first.version,
            &next,
            &Uuid::now_v7().to_string(),
        )
        .await
        .expect("another command");
    let retry = stack
        .log
        .append(&aggregate, 0, &events, &command.to_string())
        .await
        .expect("ours, not a conflict");
    assert!(retry.duplicate);
    assert_eq!(retry.version, first.version);
    // A different command at the stale version is a real conflict.
    let stale = stack
        .log
        .append(
            &aggregate,
            0,
            &ready_events(&aggregate, 1, Uuid::now_v7()),
            "another-key",
        )
        .await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { expected: 0, .. })),
        "{stale:?}"
    );
    assert_eq!(
        stack.log.load(&aggregate).await.expect("load").events.len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_event_command_is_all_or_nothing() {
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let seeded = stack
        .log
        .append(
            &aggregate,
            0,
            &ready_events(&aggregate, 1, Uuid::now_v7()),
            "seed",
        )
        .await
        .expect("seed");
    let before = last_sequence(&stack.log).await;

    // A stale version: none of the five events may land.
    let stale = stack
        .log
        .append(
            &aggregate,
            0,
            &ready_events(&aggregate, 5, Uuid::now_v7()),
            "stale",
        )
        .await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { .. })),
        "{stale:?}"
    );
    assert_eq!(
        last_sequence(&stack.log).await,
        before,
        "nothing was stored"
    );

    // Two writers racing with three events each: one batch lands whole, never a mix.
    let other = stack.second_log().await;
    let (a_events, b_events) = (
        ready_events(&aggregate, 3, Uuid::now_v7()),
        ready_events(&aggregate, 3, Uuid::now_v7()),
    );
    let (a, b) = tokio::join!(
        stack.log.append(&aggregate, seeded.version, &a_events, "a"),
        other.append(&aggregate, seeded.version, &b_events, "b"),
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one batch wins: {a:?} / {b:?}"
    );
    let loaded = stack.log.load(&aggregate).await.expect("load");
    assert_eq!(loaded.events.len(), 4);
    let causes: std::collections::HashSet<_> = loaded.events[1..]
        .iter()
        .map(|e| e.envelope.causation_id)
        .collect();
    assert_eq!(causes.len(), 1, "the three events come from one command");
    let positions: Vec<(u64, u32)> = loaded.events[1..]
        .iter()
        .map(|e| (e.sequence, e.index))
        .collect();
    let sequence = positions[0].0;
    assert_eq!(
        positions,
        [(sequence, 0), (sequence, 1), (sequence, 2)],
        "a command's events are one message, in order"
    );
    assert_eq!(loaded.version, sequence);
    assert_eq!(
        last_sequence(&stack.log).await,
        before + 1,
        "one message for the winning command, nothing for the other"
    );
    // Read back by a consumer as by a load: the same events, in the same order.
    let replayed: Vec<_> = stack
        .log
        .replay_filtered(sequence, vec![stack.log.subject(&aggregate)])
        .await
        .expect("replay")
        .map(|r| r.expect("decodes"))
        .collect()
        .await;
    let replayed: Vec<_> = replayed.iter().map(|r| &r.envelope).collect();
    let loaded: Vec<_> = loaded.events[1..].iter().map(|r| &r.envelope).collect();
    assert_eq!(replayed, loaded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_returns_every_event_in_log_order_and_load_one_aggregate() {
    let stack = TestStack::new().await;
    let aggregates: Vec<_> = (0..4).map(|_| new_migration()).collect();
    let mut versions = vec![0u64; aggregates.len()];
    let mut appended = Vec::new();
    // Interleave commands of several aggregates, some with several events.
    for round in 0..5 {
        for (i, aggregate) in aggregates.iter().enumerate() {
            let events = ready_events(aggregate, 1 + (round + i) % 3, Uuid::now_v7());
            let done = stack
                .log
                .append(aggregate, versions[i], &events, &Uuid::now_v7().to_string())
                .await
                .expect("append");
            versions[i] = done.version;
            appended.extend(events.into_iter().map(|e| e.event_id));
        }
    }
    let replayed: Vec<_> = stack
        .log
        .replay(1)
        .await
        .expect("replay")
        .map(|r| r.expect("decodes"))
        .collect()
        .await;
    assert_eq!(
        replayed
            .iter()
            .map(|r| r.envelope.event_id)
            .collect::<Vec<_>>(),
        appended,
        "every event, in log order"
    );
    assert!(
        replayed
            .windows(2)
            .all(|w| (w[0].sequence, w[0].index) < (w[1].sequence, w[1].index)),
        "log order: by message, then by position in the command"
    );

    // From a sequence: that message's events and every later one.
    let from = replayed[10].sequence;
    let first = replayed.partition_point(|r| r.sequence < from);
    let tail: Vec<_> = stack
        .log
        .replay(from)
        .await
        .expect("replay")
        .map(|r| r.expect("decodes").sequence)
        .collect()
        .await;
    assert_eq!(
        tail,
        replayed[first..]
            .iter()
            .map(|r| r.sequence)
            .collect::<Vec<_>>()
    );

    for (i, aggregate) in aggregates.iter().enumerate() {
        let loaded = stack.log.load(aggregate).await.expect("load");
        let expected: Vec<_> = replayed
            .iter()
            .filter(|r| r.envelope.aggregate_id == aggregate.id)
            .map(|r| r.envelope.event_id)
            .collect();
        assert_eq!(
            loaded
                .events
                .iter()
                .map(|r| r.envelope.event_id)
                .collect::<Vec<_>>(),
            expected
        );
        assert_eq!(loaded.version, versions[i]);
    }
    let empty = stack
        .log
        .load(&new_migration())
        .await
        .expect("load of a new aggregate");
    assert!(empty.events.is_empty());
    assert_eq!(empty.version, 0);
    let nothing: Vec<_> = stack
        .log
        .replay(replayed.last().map_or(1, |r| r.sequence + 1))
        .await
        .expect("replay")
        .collect()
        .await;
    assert!(
        nothing.is_empty(),
        "a replay past the end is empty and ends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_appends_are_refused_and_change_nothing() {
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let other = new_migration();
    let before = last_sequence(&stack.log).await;
    assert!(matches!(
        stack.log.append(&aggregate, 0, &[], "k").await,
        Err(AppendError::Empty(_))
    ));
    let stray = ready_events(&other, 1, Uuid::now_v7());
    assert!(matches!(
        stack.log.append(&aggregate, 0, &stray, "k").await,
        Err(AppendError::WrongAggregate { .. })
    ));
    let too_many = ready_events(
        &aggregate,
        ferry_infra::event_log::MAX_EVENTS_PER_APPEND + 1,
        Uuid::now_v7(),
    );
    assert!(matches!(
        stack.log.append(&aggregate, 0, &too_many, "k").await,
        Err(AppendError::TooManyEvents { .. })
    ));
    // A command's events are one message: beyond the server's largest, refused whole.
    let mut too_large = ready_events(&aggregate, 3, Uuid::now_v7());
    for event in &mut too_large {
        if let ferry_events::Event::Migration(ferry_events::MigrationEvent::AccountMarkedReady(
            ready,
        )) = &mut event.event
        {
            ready.account_id = "a".repeat(400_000);
        }
    }
    let refused = stack.log.append(&aggregate, 0, &too_large, "k").await;
    assert!(
        matches!(&refused, Err(AppendError::TooLarge { bytes, max, .. }) if bytes > max),
        "{refused:?}"
    );
    assert!(
        ferry_infra::event_log::AggregateRef::new(ferry_events::AggregateType::Migration, "a.b")
            .is_err()
    );
    assert_eq!(last_sequence(&stack.log).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_consumer_resumes_where_it_acknowledged_and_redelivers_the_rest() {
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let filters = stack
        .log
        .filters_for(&[ferry_events::AggregateType::Migration]);
    // Four commands, four messages.
    let mut version = 0;
    for _ in 0..4 {
        version = stack
            .log
            .append(
                &aggregate,
                version,
                &ready_events(&aggregate, 1, Uuid::now_v7()),
                &Uuid::now_v7().to_string(),
            )
            .await
            .expect("append")
            .version;
    }

    let consumer = stack
        .log
        .durable_consumer(
            "reactor",
            filters.clone(),
            std::time::Duration::from_millis(300),
        )
        .await
        .expect("consumer");
    let mut messages = consumer
        .fetch()
        .max_messages(4)
        .messages()
        .await
        .expect("fetch");
    let mut seen = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        let recorded = ferry_infra::event_log::Recorded::from_message(&message).expect("decodes");
        let [recorded] = recorded.as_slice() else {
            panic!("one event per message here: {recorded:?}");
        };
        // The first two are handled; the process dies before handling the others.
        if seen.len() < 2 {
            message.ack().await.expect("ack");
        }
        seen.push(recorded.sequence);
    }
    assert_eq!(seen.len(), 4);
    drop(consumer);

    // A restart (or another instance) finds the same consumer: the two unacknowledged
    // events come again, then what was appended since; never the acknowledged ones.
    let later = stack.log.load(&aggregate).await.expect("load").version;
    stack
        .log
        .append(
            &aggregate,
            later,
            &ready_events(&aggregate, 1, Uuid::now_v7()),
            "second",
        )
        .await
        .expect("append");
    let new = last_sequence(&stack.log).await;
    let consumer = stack
        .log
        .durable_consumer("reactor", filters, std::time::Duration::from_millis(300))
        .await
        .expect("consumer again");
    // Fetched (and acknowledged) until the unacknowledged ones, back once their ack
    // wait is over, and the new one are in: the acknowledged ones, never redelivered,
    // would have come before the new one.
    let again = std::sync::Mutex::new(Vec::new());
    let all_in = eventually(10, || async {
        let mut messages = consumer
            .fetch()
            .max_messages(10)
            .expires(std::time::Duration::from_millis(200))
            .messages()
            .await
            .expect("fetch");
        while let Some(message) = messages.next().await {
            let message = message.expect("message");
            message.ack().await.expect("ack");
            let sequence = message.info().expect("metadata").stream_sequence;
            again.lock().expect("lock").push(sequence);
        }
        let again = again.lock().expect("lock");
        seen[2..].iter().all(|s| again.contains(s)) && again.contains(&new)
    })
    .await;
    let mut again = again.into_inner().expect("lock");
    assert!(all_in, "the unacknowledged ones are redelivered: {again:?}");
    again.sort();
    assert_eq!(
        again,
        [seen[2], seen[3], new],
        "the unacknowledged ones, the new one, and nothing acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_may_drive_commands_to_several_aggregates() {
    let stack = TestStack::new().await;
    // A reactor keys its commands by the event it handles; one event may concern two
    // aggregates. Each gets its event: deduplication is per aggregate, not per stream.
    let key = Uuid::now_v7().to_string();
    for count in [1, 2] {
        let (a, b) = (new_migration(), new_migration());
        let first = stack
            .log
            .append(&a, 0, &ready_events(&a, count, Uuid::now_v7()), &key)
            .await
            .expect("append to a");
        let second = stack
            .log
            .append(&b, 0, &ready_events(&b, count, Uuid::now_v7()), &key)
            .await
            .expect("append to b");
        assert!(!first.duplicate && !second.duplicate);
        assert_eq!(
            stack.log.load(&b).await.expect("load").events.len(),
            count,
            "b got its own events"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_with_atomic_batches_is_taken_over_and_read() {
    let stack = TestStack::new().await;
    let js = stack.log.jetstream();
    // The log as an earlier ferry left it: atomic batches allowed, and a 2-event
    // command stored as a batch of two messages of one event each.
    let mut config = js
        .get_stream(&stack.log.settings().stream)
        .await
        .expect("stream")
        .cached_info()
        .config
        .clone();
    config.allow_atomic_publish = true;
    js.update_stream(config)
        .await
        .expect("the earlier configuration");
    let aggregate = new_migration();
    let subject = stack.log.subject(&aggregate);
    let events = ready_events(&aggregate, 2, Uuid::now_v7());
    for (i, event) in events.iter().enumerate() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Batch-Id", "earlier");
        headers.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
        headers.insert("Ferry-Event-Type", event.event_type());
        if i == 1 {
            headers.insert("Nats-Batch-Commit", "1");
        }
        let body = ferry_events::encode(event).expect("encode");
        let reply = stack
            .log
            .client()
            .request_with_headers(subject.clone(), headers, body.into())
            .await
            .expect("batch message received");
        let reply = String::from_utf8_lossy(&reply.payload).into_owned();
        assert!(!reply.contains("error"), "{reply}");
    }

    // This version opens it (its configuration applied) and reads those events.
    let log = stack.second_log().await;
    let loaded = log.load(&aggregate).await.expect("load");
    let read: Vec<_> = loaded.events.iter().map(|r| &r.envelope).collect();
    assert_eq!(read, events.iter().collect::<Vec<_>>());
    assert_eq!(loaded.events[1].sequence, loaded.events[0].sequence + 1);
    // ...and appends after them as usual.
    log.append(
        &aggregate,
        loaded.version,
        &ready_events(&aggregate, 3, Uuid::now_v7()),
        "next",
    )
    .await
    .expect("append after the earlier format");
    assert_eq!(log.load(&aggregate).await.expect("load").events.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_reads_a_long_history_whole_and_only_its_aggregate() {
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let neighbour = new_migration();
    // More messages than one direct get returns, some with several events, with
    // another aggregate's events interleaved.
    let mut version = 0;
    let mut neighbour_version = 0;
    let mut appended = Vec::new();
    for i in 0..1100 {
        let events = ready_events(&aggregate, 1 + i % 3 / 2, Uuid::now_v7());
        appended.extend(events.iter().map(|e| e.event_id));
        version = stack
            .log
            .append(&aggregate, version, &events, &Uuid::now_v7().to_string())
            .await
            .expect("append")
            .version;
        if i % 100 == 0 {
            neighbour_version = stack
                .log
                .append(
                    &neighbour,
                    neighbour_version,
                    &ready_events(&neighbour, 1, Uuid::now_v7()),
                    &Uuid::now_v7().to_string(),
                )
                .await
                .expect("append")
                .version;
        }
    }
    let loaded = stack.log.load(&aggregate).await.expect("load");
    let read: Vec<_> = loaded.events.iter().map(|r| r.envelope.event_id).collect();
    assert_eq!(read.len(), appended.len());
    assert!(read == appended, "every event of the aggregate, in order");
    assert_eq!(loaded.version, version);
    assert_eq!(
        stack.log.load(&neighbour).await.expect("load").events.len(),
        11
    );
    let nobody = stack.log.load(&new_migration()).await.expect("load");
    assert_eq!((nobody.events.len(), nobody.version), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_loads_leaves_nothing_behind_and_commands_keep_working() {
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let first = stack
        .log
        .append(
            &aggregate,
            0,
            &ready_events(&aggregate, 1, Uuid::now_v7()),
            "a",
        )
        .await
        .expect("append");
    // 5,000 loads at once, many in flight: more than the 1,000 consumers a stream
    // allows, had a load left one behind (an audit reads dozens of aggregates).
    let loads = futures::stream::iter(0..5_000)
        .map(|i| {
            let log = stack.log.clone();
            let aggregate = if i % 2 == 0 {
                aggregate.clone()
            } else {
                new_migration()
            };
            async move { log.load(&aggregate).await.map(|l| l.events.len()) }
        })
        .buffer_unordered(200)
        .collect::<Vec<_>>()
        .await;
    let failed: Vec<_> = loads.iter().filter_map(|l| l.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} loads failed: {:?}",
        failed.len(),
        failed.first()
    );
    let stream = stack
        .log
        .jetstream()
        .get_stream(&stack.log.settings().stream)
        .await
        .expect("stream");
    assert_eq!(
        stream.cached_info().state.consumer_count,
        0,
        "nothing left behind"
    );
    // Appends, loads and consumers go on.
    stack
        .log
        .append(
            &aggregate,
            first.version,
            &ready_events(&aggregate, 1, Uuid::now_v7()),
            "b",
        )
        .await
        .expect("a command after the burst");
    stack
        .log
        .durable_consumer(
            "after",
            vec![stack.log.subject(&aggregate)],
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("a consumer after the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_consumer_opened_again_with_a_shorter_ack_wait_takes_it() {
    // A consumer made by an older version (the data mover's worker had 60 s) is
    // updated where it is, keeping its position and its messages in hand.
    let stack = TestStack::new().await;
    let aggregate = new_migration();
    let filters = stack
        .log
        .filters_for(&[ferry_events::AggregateType::Migration]);
    stack
        .log
        .append(
            &aggregate,
            0,
            &ready_events(&aggregate, 1, Uuid::now_v7()),
            "one",
        )
        .await
        .expect("append");
    let long = std::time::Duration::from_secs(60);
    let consumer = stack
        .log
        .durable_consumer("worker", filters.clone(), long)
        .await
        .expect("consumer");
    let mut messages = consumer
        .fetch()
        .max_messages(1)
        .messages()
        .await
        .expect("fetch");
    let first = messages
        .next()
        .await
        .expect("a message")
        .expect("delivered");
    let sequence = first.info().expect("metadata").stream_sequence;
    drop(messages);
    // The process holding it dies; the new version opens the consumer with 1 s.
    let short = std::time::Duration::from_secs(1);
    let mut consumer = stack
        .log
        .durable_consumer("worker", filters, short)
        .await
        .expect("consumer again");
    let info = consumer.info().await.expect("info");
    assert_eq!(info.config.ack_wait, short);
    // The old ack wait would keep it in hand for a minute: a fetch that gives up
    // after a third of that gets it only under the new one.
    let mut messages = consumer
        .fetch()
        .max_messages(1)
        .expires(std::time::Duration::from_secs(20))
        .messages()
        .await
        .expect("fetch");
    let again = messages
        .next()
        .await
        .expect("handed out again after the new ack wait, not the old")
        .expect("delivered");
    let info = again.info().expect("metadata");
    assert_eq!(info.stream_sequence, sequence);
    assert_eq!(info.delivered, 2);
    again.ack().await.expect("ack");
}
