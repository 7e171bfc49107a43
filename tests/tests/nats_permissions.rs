//! ferry's NATS users against the real nats-server of `scripts/stack`: no anonymous
//! client, each service's credential publishes only its own aggregates' subjects
//! (the accounts service's cannot append a transfer event), and receives answers on
//! its own inbox only. Every test has its own stream and subject prefix.

use async_nats::{Event, ServerError};
use ferry_events::{AggregateType, Envelope, TransferStarted};
use ferry_infra::event_log::{AggregateRef, AppendError, EventLog, SetupError};
use ferry_infra::nats_users::{NatsCredentials, NatsUser};
use ferry_infra::testkit::{TestStack, nats_url};
use ferry_tests::{new_migration, ready_events};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn transfer_started(transfer: &AggregateRef) -> Envelope {
    Envelope::new(
        transfer.id.clone(),
        TransferStarted {},
        Uuid::now_v7(),
        Uuid::now_v7(),
        ferry_events::Actor::system("data-mover"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accounts_service_s_credential_is_refused_a_transfer_event() {
    let stack = TestStack::new().await;
    let accounts = stack.log_as(NatsUser::Accounts).await;
    let transfer = AggregateRef::new(AggregateType::Transfer, Uuid::now_v7().to_string())
        .expect("a transfer id");

    let started = Instant::now();
    let refused = accounts
        .append(
            &transfer,
            0,
            &[transfer_started(&transfer)],
            &Uuid::now_v7().to_string(),
        )
        .await;
    let error = match refused {
        Err(error @ AppendError::Forbidden { .. }) => error.to_string(),
        other => panic!("expected the server to refuse the accounts user, got {other:?}"),
    };
    // The server's refusal, told at once: not a timeout taken for an outage.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused after {:?}",
        started.elapsed()
    );
    assert!(
        error.contains("accounts")
            && error.contains(&format!(
                "{}.events.transfer.",
                stack.log.settings().subject_prefix
            ))
            && error.contains("Permissions Violation"),
        "{error}"
    );
    assert_eq!(
        stack.log.load(&transfer).await.expect("load").version,
        0,
        "nothing was appended"
    );

    // The same connection still appends to the accounts service's own aggregates.
    let migration = new_migration();
    let appended = accounts
        .append(
            &migration,
            0,
            &ready_events(&migration, 2, Uuid::now_v7()),
            &Uuid::now_v7().to_string(),
        )
        .await
        .expect("its own aggregate");
    assert!(!appended.duplicate);

    // And the data mover's credential appends the transfer event.
    let mover = stack.log_as(NatsUser::DataMover).await;
    mover
        .append(
            &transfer,
            0,
            &[transfer_started(&transfer)],
            &Uuid::now_v7().to_string(),
        )
        .await
        .expect("the data mover writes transfers");
}

#[tokio::test]
async fn an_anonymous_client_is_refused_altogether() {
    let url = nats_url();
    let error = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .expect_err("no anonymous client");
    assert_eq!(
        error.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "{error}"
    );
    // A user name and password are no way in either.
    let error = async_nats::ConnectOptions::with_user_and_password("accounts".into(), "x".into())
        .connection_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .expect_err("no password users");
    assert_eq!(
        error.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "{error}"
    );
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_refused_naming_its_file() {
    let dir = std::env::temp_dir().join(format!("ferry-unknown-key-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    // A well-formed user seed, registered with no server.
    std::fs::write(
        dir.join("accounts.nk"),
        "SUAJSDKZZLUTGMXFUVPK6K62OKMJGZD542EDI3ZSPXLA3RT7B3OK3XKZXE\n",
    )
    .expect("written");
    let identity = NatsCredentials::from_dir(&dir)
        .load(NatsUser::Accounts)
        .expect("read");
    let error = EventLog::connect(&nats_url(), &identity, Default::default())
        .await
        .expect_err("unknown key");
    assert!(matches!(error, SetupError::Refused { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("accounts")
            && message.contains(&dir.join("accounts.nk").display().to_string()),
        "{message}"
    );
    assert!(
        !message.contains("SUAJ"),
        "the seed is never shown: {message}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A raw connection as `user` that reports the subjects the server refused it.
async fn reporting_client(
    user: NatsUser,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let file = ferry_infra::testkit::nats_credentials()
        .file_of(user)
        .expect("configured");
    let seed = std::fs::read_to_string(file).expect("the seed");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
        .custom_inbox_prefix(user.inbox_prefix())
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let Event::ServerError(ServerError::Other(message)) = event {
                    let _ = tx.send(message);
                }
            }
        })
        .connect(nats_url())
        .await
        .expect("connect");
    (client, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_publishes_exactly_its_own_aggregates_subjects() {
    let stack = TestStack::new().await;
    let prefix = stack.log.settings().subject_prefix.clone();
    for user in NatsUser::ALL
        .iter()
        .copied()
        .filter(|u| *u != NatsUser::Setup)
    {
        let (client, mut refusals) = reporting_client(user).await;
        for kind in AggregateType::ALL {
            let subject = format!("{prefix}.events.{kind}.probe-{}", user.name());
            client
                .publish(subject, "not an event".into())
                .await
                .expect("sent");
        }
        client.flush().await.expect("flushed");
        let denied_kinds: BTreeSet<AggregateType> = AggregateType::ALL
            .iter()
            .copied()
            .filter(|kind| NatsUser::owner(*kind) != user)
            .collect();
        let mut refused = BTreeSet::new();
        while refused.len() < denied_kinds.len() {
            let message = tokio::time::timeout(Duration::from_secs(5), refusals.recv())
                .await
                .unwrap_or_else(|_| panic!("{user}: only {refused:?} refused"))
                .expect("reports");
            let kind = AggregateType::ALL
                .iter()
                .copied()
                .find(|kind| message.contains(&format!(".events.{kind}.probe-")))
                .unwrap_or_else(|| panic!("{user}: unexpected report {message}"));
            assert!(
                message.contains("Permissions Violation for Publish"),
                "{message}"
            );
            refused.insert(kind);
        }
        assert_eq!(refused, denied_kinds, "{user}");
        // What it may publish reached the stream; nothing else did.
        for kind in AggregateType::ALL {
            let stored = stack
                .log
                .jetstream()
                .get_stream_no_info(&stack.log.settings().stream)
                .await
                .expect("stream")
                .direct_get_last_for_subject(format!(
                    "{prefix}.events.{kind}.probe-{}",
                    user.name()
                ))
                .await
                .is_ok();
            assert_eq!(stored, NatsUser::owner(*kind) == user, "{user} on {kind}");
        }
    }
}

#[tokio::test]
async fn a_service_may_not_listen_to_another_s_answers_nor_manage_streams() {
    let (accounts, mut refusals) = reporting_client(NatsUser::Accounts).await;
    let _subscription = accounts
        .subscribe("_INBOX.data-mover.>")
        .await
        .expect("sent");
    accounts.flush().await.expect("flushed");
    let message = tokio::time::timeout(Duration::from_secs(5), refusals.recv())
        .await
        .expect("a report")
        .expect("reports");
    assert!(
        message.contains("Permissions Violation for Subscription")
            && message.contains("_INBOX.data-mover.>"),
        "{message}"
    );
    // Creating (or deleting) a stream is the setup user's.
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(accounts.clone());
    let name = format!("T_ROGUE_{}", Uuid::now_v7().simple());
    let created = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("rogue{}.>", Uuid::now_v7().simple())],
            ..Default::default()
        })
        .await;
    assert!(created.is_err(), "a service created a stream");
    let message = tokio::time::timeout(Duration::from_secs(5), refusals.recv())
        .await
        .expect("a report")
        .expect("reports");
    assert!(message.contains("$JS.API.STREAM.CREATE"), "{message}");
}

/// Everything a service reads the log with works on `log`'s connection: loads, stream
/// info, replays and live follows (ordered consumers), durable consumers and their
/// lag, acknowledgements.
async fn reads_the_log(log: &EventLog, migration: &AggregateRef, user: NatsUser) {
    use futures::StreamExt;
    let within = Duration::from_secs(10);
    assert_eq!(
        log.load(migration).await.expect("load").events.len(),
        3,
        "{user}"
    );
    assert_eq!(log.last_sequence().await.expect("stream info"), 1, "{user}");
    let replayed: Vec<_> =
        tokio::time::timeout(within, log.replay(1).await.expect("replay").collect())
            .await
            .unwrap_or_else(|_| panic!("{user}: replay"));
    assert_eq!(replayed.len(), 3, "{user}");
    let followed = log
        .follow_filtered(1, log.filters_for(&[AggregateType::Migration]))
        .await
        .expect("follow");
    let first_three: Vec<_> = tokio::time::timeout(within, followed.take(3).collect())
        .await
        .unwrap_or_else(|_| panic!("{user}: follow"));
    assert!(first_three.iter().all(Result::is_ok), "{user}");
    let name = format!("probe_{}", user.name().replace('-', "_"));
    let consumer = log
        .durable_consumer(&name, vec![log.all_filter()], Duration::from_secs(30))
        .await
        .expect("durable consumer");
    let mut batch = tokio::time::timeout(within, consumer.fetch().max_messages(1).messages())
        .await
        .unwrap_or_else(|_| panic!("{user}: fetch"))
        .expect("fetch");
    let message = tokio::time::timeout(within, batch.next())
        .await
        .unwrap_or_else(|_| panic!("{user}: a message"))
        .expect("a message")
        .expect("delivered");
    message.ack().await.expect("acknowledged");
    assert!(
        tokio::time::timeout(within, async {
            loop {
                if log.consumer_lag(&name).await.expect("lag") == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .is_ok(),
        "{user}: the acknowledgement went through"
    );
    log.reset_durable_consumer(&name, vec![log.all_filter()], 1, Duration::from_secs(30))
        .await
        .expect("reset (delete and create)");
}

/// A test stack whose log holds one migration of three events, for the users to read.
async fn stack_with_a_migration() -> (TestStack, AggregateRef) {
    let stack = TestStack::new().await;
    let migration = new_migration();
    stack
        .log
        .append(
            &migration,
            0,
            &ready_events(&migration, 3, Uuid::now_v7()),
            &Uuid::now_v7().to_string(),
        )
        .await
        .expect("an input");
    (stack, migration)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reads_the_log_as_it_needs() {
    let (stack, migration) = stack_with_a_migration().await;
    for user in NatsUser::ALL
        .iter()
        .copied()
        .filter(|u| *u != NatsUser::Setup)
    {
        reads_the_log(&stack.log_as(user).await, &migration, user).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_side_reads_the_log_and_publishes_nothing() {
    let (stack, migration) = stack_with_a_migration().await;
    let read = stack.log_as(NatsUser::Read).await;
    reads_the_log(&read, &migration, NatsUser::Read).await;
    let refused = read
        .append(
            &migration,
            1,
            &ready_events(&migration, 1, Uuid::now_v7()),
            &Uuid::now_v7().to_string(),
        )
        .await;
    assert!(
        matches!(refused, Err(AppendError::Forbidden { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_refused_append_is_a_fault_to_show_not_an_outage_to_retry() {
    use ferry_infra::api::ApiError;
    use ferry_infra::command::HandleError;
    use ferry_infra::reactor::{ReactionError, command_outcome};
    let forbidden = || {
        HandleError::<std::convert::Infallible>::Append(AppendError::Forbidden {
            aggregate: AggregateRef::new(AggregateType::Transfer, "t-1").expect("an id"),
            user: "accounts".into(),
            reason: r#"Permissions Violation for Publish to "ferry.events.transfer.t-1""#.into(),
        })
    };
    // The API answers 500 with the reason, not 503 "unavailable, try again".
    let answer = ApiError::from(forbidden());
    assert_eq!(answer.status.as_u16(), 500);
    assert_eq!(answer.body.error, "forbidden_append");
    assert!(answer.body.reason.contains("accounts"), "{answer}");
    // A reaction is parked with the reason (retried slowly, shown), not retried as transient.
    match command_outcome::<(), _>(Err(forbidden())) {
        Err(ReactionError::Failed(reason)) => {
            assert!(reason.contains("Permissions Violation"), "{reason}")
        }
        other => panic!("expected a failed reaction, got {other:?}"),
    }
}
