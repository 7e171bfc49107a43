//! The redacting copy of a log recorded with passwords, against the real nats-server:
//! the new stream holds no password byte, every event means what it meant, the
//! secret store holds the passwords, and a second run copies nothing.

use async_nats::HeaderMap;
use ferry_events::{CredentialRef, Envelope, decode, decode_all};
use ferry_infra::secrets::SecretStore;
use ferry_infra::testkit::TestStack;
use ferry_tests::{new_migration, ready_events};
use serde_json::Value;
use std::path::Path;
use uuid::Uuid;

const PASSWORDS: [&str; 3] = ["pw-alpha%21", "pw-bravo", "pw-charlie"];

/// An old fixture (schema version 1) of `event_type`.
fn v1(event_type: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/fixtures/old")
        .join(format!("{event_type}.v1.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("the fixture")).expect("JSON")
}

fn with_urls(mut envelope: Value, pointer: &str, postgres: &str, mysql: Option<&str>) -> Value {
    let storage = envelope.pointer_mut(pointer).expect("a storage");
    storage["postgres_url"] = Value::from(postgres);
    storage["mysql_url"] = mysql.map_or(Value::Null, Value::from);
    envelope
}

/// A message's events: one envelope, or an array of them.
fn events(payload: &[u8]) -> Result<Vec<Envelope>, ferry_events::CodecError> {
    match payload.first() {
        Some(b'[') => decode_all(payload),
        _ => decode(payload).map(|one| vec![one]),
    }
}

async fn publish(stack: &TestStack, subject: &str, count: usize, payload: Vec<u8>) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        format!("{subject}:{}:0", Uuid::now_v7()).as_str(),
    );
    headers.insert("Ferry-Event-Count", count.to_string().as_str());
    let subject = format!("{}.events.{subject}", stack.log.settings().subject_prefix);
    stack
        .log
        .jetstream()
        .publish_with_headers(subject, headers, payload.into())
        .await
        .expect("published")
        .await
        .expect("acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_log_is_copied_without_a_password_byte_and_means_the_same() {
    let stack = TestStack::new().await;
    let secrets = SecretStore::new(
        std::env::temp_dir().join(format!("ferry-redact-copy-{}", Uuid::now_v7())),
    );
    // The old log, as written before references: passwords in the URLs.
    let registered = with_urls(
        v1("ServerRegistered"),
        "/data/storage",
        "postgres://ferry:pw-alpha%21@db-a:5432/postgres?prefix=a_",
        Some("mysql://root:pw-bravo@db-a:3306"),
    );
    publish(
        &stack,
        "server.srv-0042",
        1,
        serde_json::to_vec(&registered).expect("json"),
    )
    .await;
    let added = with_urls(
        v1("TransitServerAdded"),
        "/data/storage",
        "postgres://ferry:pw-charlie@db-t/postgres",
        None,
    );
    publish(
        &stack,
        "transit_server.tr-0007",
        1,
        serde_json::to_vec(&added).expect("json"),
    )
    .await;
    let scheduled = with_urls(
        with_urls(
            v1("TransferScheduled"),
            "/data/source",
            "postgres://ferry:pw-alpha%21@db-a/postgres?prefix=a_",
            None,
        ),
        "/data/destination",
        "postgres://ferry:pw-charlie@db-t:5432/postgres",
        None,
    );
    let command = Value::Array(vec![scheduled, v1("TransferProgressed")]);
    publish(
        &stack,
        "transfer.t-1",
        2,
        serde_json::to_vec(&command).expect("json"),
    )
    .await;
    let unchanged = v1("ServerDetailsChanged");
    publish(
        &stack,
        "server.srv-0043",
        1,
        serde_json::to_vec(&unchanged).expect("json"),
    )
    .await;
    let migration = new_migration();
    stack
        .log
        .append(
            &migration,
            0,
            &ready_events(&migration, 2, Uuid::now_v7()),
            "k",
        )
        .await
        .expect("a current command");
    publish(&stack, "server.garbage", 1, b"not an event".to_vec()).await;

    let from = stack.log.settings().stream.clone();
    let to = format!("{from}_REDACTED");
    let report = stack.log.redact_copy(&to, &secrets).await.expect("copied");
    assert_eq!(report.messages_copied, 6, "{report:?}");
    assert_eq!(report.events_copied, 7, "{report:?}");
    assert_eq!(report.events_changed, 3, "{report:?}");
    assert_eq!(report.secrets_stored, 3, "{report:?}");
    assert_eq!(report.unreadable, 1, "{report:?}");

    // Every message of the new stream, against the old one.
    let js = stack.log.jetstream();
    let old = js.get_stream(&from).await.expect("the old stream");
    let new = js.get_stream(&to).await.expect("the new stream");
    for sequence in 1..=6 {
        let theirs = old.get_raw_message(sequence).await.expect("old message");
        let ours = new.get_raw_message(sequence).await.expect("new message");
        assert_eq!(ours.subject, theirs.subject, "message {sequence}");
        assert_eq!(
            ours.headers.get("Nats-Msg-Id"),
            theirs.headers.get("Nats-Msg-Id"),
            "message {sequence}"
        );
        let text = String::from_utf8_lossy(&ours.payload);
        for password in PASSWORDS {
            assert!(
                !text.contains(password),
                "message {sequence} holds {password}: {text}"
            );
            assert!(!text.contains("pw-alpha!"), "message {sequence}: {text}");
        }
        match events(&theirs.payload) {
            // Upcast, the old events read as the copied ones are.
            Ok(old_events) => assert_eq!(
                events(&ours.payload).expect("readable"),
                old_events,
                "message {sequence}"
            ),
            Err(_) => assert_eq!(ours.payload, theirs.payload, "message {sequence}"),
        }
        if !String::from_utf8_lossy(&theirs.payload).contains("pw-") {
            assert_eq!(
                ours.payload, theirs.payload,
                "message {sequence}: byte for byte"
            );
        }
    }
    let changed: Value =
        serde_json::from_slice(&new.get_raw_message(1).await.expect("first").payload)
            .expect("json");
    assert_eq!(changed["schema_version"], Value::from(2));
    assert_eq!(
        changed["data"]["storage"]["postgres_credential"],
        Value::from("postgres_db-a_5432_ferry")
    );

    // The passwords are in the secret store, under their references.
    for (reference, password) in [
        ("postgres_db-a_5432_ferry", "pw-alpha!"),
        ("mysql_db-a_3306_root", "pw-bravo"),
        ("postgres_db-t_5432_ferry", "pw-charlie"),
    ] {
        let reference = CredentialRef::new(reference).expect("valid");
        assert_eq!(
            secrets.resolve(&reference).expect("stored").expose(),
            password
        );
    }

    // The old stream gave its subjects up; again, nothing more is copied.
    let mut old = old;
    let subjects = old.info().await.expect("info").config.subjects.clone();
    assert_eq!(
        subjects,
        [format!(
            "{}.retired.{from}",
            stack.log.settings().subject_prefix
        )]
    );
    let again = stack.log.redact_copy(&to, &secrets).await.expect("again");
    assert_eq!(again.already_copied, 6, "{again:?}");
    assert_eq!(again.messages_copied, 0, "{again:?}");

    let _ = js.delete_stream(&to).await;
    let _ = std::fs::remove_dir_all(secrets.dir());
}
