//! The notifications service against real NATS, PostgreSQL and SMTP (aiosmtpd):
//! messages delivered in the customer's language, once; retried while the SMTP
//! server is down; given up, visible, put back and sent; never sent again blindly
//! after the sender died between sending and recording (the trace: `trace.rs`).

mod support;

use ferry_events::{AccountMoved, AggregateType, Envelope, Event, TransitServerRequested};
use ferry_infra::event_log::AggregateRef;
use ferry_infra::projection::rebuild::build_shadow;
use ferry_infra::testkit::TestStack;
use ferry_notifications::outbox::OutboxProjection;
use ferry_notifications::{NotificationState, given_up_count};
use serde_json::json;
use std::time::Duration;
use support::smtp::{SmtpServer, free_port};
use support::{args, get, list, on_migration, post, server_and_migration, start, until};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ferry-notify-{name}-{}", Uuid::now_v7()))
}

fn requested() -> Event {
    TransitServerRequested {
        configuration: "vps-4c-8g".into(),
    }
    .into()
}

#[tokio::test]
async fn messages_reach_the_smtp_server_in_the_customers_language_once() {
    let stack = TestStack::new().await;
    let server = SmtpServer::start(&temp("smtp")).await;
    let settings = args(&temp("unused"))
        .with_smtp(server.url())
        .settings()
        .expect("settings");
    let running = start(&stack, settings).await;

    let migration = server_and_migration(&stack, "fr_FR").await;
    let cause = on_migration(&stack, migration, vec![requested()]).await;
    // migration_opened, then transit_requested for the customer and for support.
    let mails = server.wait_for(3, WAIT).await;
    let to_customer: Vec<_> = mails
        .iter()
        .filter(|m| m.header("To") == Some("jane@example.org"))
        .collect();
    assert_eq!(to_customer.len(), 2);
    let request = to_customer
        .iter()
        .find(|m| m.header("Subject").is_some_and(|s| s.contains("Étape 2")))
        .unwrap_or_else(|| panic!("the transit request, in French: {to_customer:?}"));
    assert_eq!(request.header("Content-Language"), Some("fr"));
    assert_eq!(
        request.header("From"),
        Some("Hosting <noreply@hosting.example>")
    );
    assert!(request.header("Date").is_some());
    assert!(
        request
            .header("Content-Type")
            .is_some_and(|t| t.contains("utf-8")),
        "{request:?}"
    );
    assert!(
        request
            .body
            .contains("supprime de votre serveur toutes les versions des langages"),
        "{}",
        request.body
    );
    assert!(request.body.contains("vps-4c-8g"), "{}", request.body);
    let support = mails
        .iter()
        .find(|m| m.header("To") == Some("support@hosting.example"))
        .expect("support told");
    assert_eq!(support.header("Content-Language"), Some("en"));
    assert!(
        support.body.contains("languages' versions"),
        "{}",
        support.body
    );
    // Every message has its own Message-ID, derived from its notification id.
    let mut ids: Vec<&str> = mails
        .iter()
        .filter_map(|m| m.header("Message-ID"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    for mail in &mails {
        let id = mail
            .header("X-Ferry-Notification")
            .expect("the notification id");
        assert_eq!(
            mail.header("Message-ID"),
            Some(format!("<{id}@hosting.example>").as_str())
        );
    }

    // The same event delivered again (a replay) queues nothing new; a later one does.
    let log = &stack.log;
    let aggregate = AggregateRef::new(AggregateType::Migration, migration.to_string()).expect("id");
    let version = log.load(&aggregate).await.expect("load").version;
    let replayed: Vec<Envelope> = cause.clone();
    log.append(&aggregate, version, &replayed, "replayed")
        .await
        .expect("appended again");
    on_migration(
        &stack,
        migration,
        vec![
            AccountMoved {
                account_id: "acc-1".into(),
                transfer_id: Uuid::now_v7(),
                downtime_ms: 65_000,
            }
            .into(),
        ],
    )
    .await;
    let mails = server.wait_for(4, WAIT).await;
    let moved = mails
        .iter()
        .find(|m| m.body.contains("1 min 05 s"))
        .expect("the account moved, with its downtime");
    assert!(moved.header("Subject").is_some_and(|s| s.contains("shop")));
    let outbox = until("every message recorded sent", 30, || async {
        let outbox = list(&running.base, "").await;
        (outbox.counts.sent == 4).then_some(outbox)
    })
    .await;
    assert_eq!(server.messages().len(), 4, "nothing sent twice");
    assert_eq!(outbox.notifications.len(), 4);
    assert_eq!(outbox.counts.given_up + outbox.counts.queued, 0);

    // One message with its history: queued, attempt 1 began, sent.
    let id = outbox.notifications[0].notification_id;
    let (status, detail) = get(
        &running.base,
        &format!("/notifications/{id}"),
        "support:alice",
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    let events: Vec<&str> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["event"].as_str())
        .collect();
    assert_eq!(
        events,
        [
            "NotificationQueued",
            "NotificationSending",
            "NotificationSent"
        ]
    );
    assert!(detail["body"].as_str().is_some_and(|b| !b.is_empty()));
    let (status, _) = get(
        &running.base,
        &format!("/notifications/{id}"),
        "customer:c-42",
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = get(
        &running.base,
        &format!("/notifications/{}", Uuid::now_v7()),
        "support:alice",
    )
    .await;
    assert_eq!(status, 404);
    let sent = list(&running.base, "?state=sent&limit=2&offset=1").await;
    assert_eq!(
        (sent.notifications.len(), sent.limit, sent.offset),
        (2, 2, 1)
    );
    let (status, _) = get(&running.base, "/notifications?limit=0", "support:alice").await;
    assert_eq!(status, 400);
    running.stop().await.expect("stopped cleanly");
}

#[tokio::test]
async fn a_message_is_retried_until_the_smtp_server_is_back() {
    let stack = TestStack::new().await;
    let port = free_port();
    let settings = args(&temp("unused"))
        .with_smtp(format!("smtp://127.0.0.1:{port}"))
        .settings()
        .expect("settings");
    let running = start(&stack, settings).await;
    server_and_migration(&stack, "en").await;
    let failed = until("a failed attempt", 30, || async {
        let outbox = list(&running.base, "?state=retrying").await;
        outbox.notifications.into_iter().next()
    })
    .await;
    assert!(failed.last_error.is_some());
    let server = SmtpServer::start_on(port, &temp("smtp")).await;
    let mails = server.wait_for(1, WAIT).await;
    assert!(
        mails[0]
            .header("Subject")
            .is_some_and(|s| s.contains("step 1")),
        "{:?}",
        mails[0]
    );
    let sent = until("the message recorded sent", 30, || async {
        let outbox = list(&running.base, "?state=sent").await;
        outbox.notifications.into_iter().next()
    })
    .await;
    assert!(sent.attempts >= 2, "{sent:?}");
    assert_eq!(server.messages().len(), 1);
    running.stop().await.expect("stopped cleanly");
}

#[tokio::test]
async fn a_message_given_up_on_stays_visible_until_support_puts_it_back() {
    let stack = TestStack::new().await;
    let port = free_port();
    let mut args = args(&temp("unused")).with_smtp(format!("smtp://127.0.0.1:{port}"));
    args.max_attempts = 2;
    let running = start(&stack, args.settings().expect("settings")).await;
    server_and_migration(&stack, "en").await;
    let given_up = until("the message given up on", 30, || async {
        let outbox = list(&running.base, "?state=given_up").await;
        outbox.notifications.into_iter().next()
    })
    .await;
    assert_eq!(given_up.attempts, 2);
    assert_eq!(given_up_count(&stack.pool).await.expect("counted"), 1);
    assert_eq!(list(&running.base, "").await.counts.given_up, 1);
    let path = format!("/notifications/{}/requeue", given_up.notification_id);
    let (status, _) = post(
        &running.base,
        &path,
        "customer:c-42",
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = post(
        &running.base,
        &path,
        "support:alice",
        json!({"reason": " "}),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    let server = SmtpServer::start_on(port, &temp("smtp")).await;
    let (status, body) = post(
        &running.base,
        &path,
        "support:alice",
        json!({"reason": "relay mended"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], json!(["NotificationRequeued"]));
    server.wait_for(1, WAIT).await;
    let sent = until("the message sent", 30, || async {
        let outbox = list(&running.base, "?state=sent").await;
        outbox.notifications.into_iter().next()
    })
    .await;
    assert_eq!(sent.attempts, 3);
    assert_eq!(given_up_count(&stack.pool).await.expect("counted"), 0);
    let (status, body) = post(
        &running.base,
        &path,
        "support:alice",
        json!({"reason": "again"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (_, detail) = get(
        &running.base,
        &format!("/notifications/{}", sent.notification_id),
        "support:alice",
    )
    .await;
    let requeued = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|h| h["event"] == "NotificationRequeued")
        .cloned()
        .expect("the requeue in the history");
    assert_eq!(requeued["actor"], "support:alice");
    assert_eq!(requeued["detail"], "relay mended");
    running.stop().await.expect("stopped cleanly");

    // The outbox is a projection of the log: rebuilt, it equals the live one.
    let shadow = build_shadow(&OutboxProjection, &stack.log, &stack.pool, 3)
        .await
        .expect("rebuilt");
    let comparison = shadow.compare_with_live().await.expect("compared");
    assert!(comparison.is_equal(), "{comparison:#?}");
    shadow.discard().await.expect("discarded");
}

#[tokio::test]
async fn a_send_never_recorded_is_not_sent_again_until_support_checks_it() {
    let stack = TestStack::new().await;
    let server = SmtpServer::start(&temp("smtp")).await;
    let mut args = args(&temp("unused")).with_smtp(server.url());
    args.interrupted_after_secs = 1;
    let mut settings = args.settings().expect("settings");
    settings.sender.halt_after_send = true;
    let running = start(&stack, settings).await;
    let migration = server_and_migration(&stack, "en").await;
    // The sender hands the message over and dies before recording it.
    let ended = tokio::time::timeout(WAIT, running.task)
        .await
        .expect("the sender halts")
        .expect("joins");
    assert!(ended.expect_err("halted").contains("halted"));
    running.shutdown.cancel();
    let first = server.wait_for(1, WAIT).await;
    let first_id = first[0].header("Message-ID").expect("id").to_owned();

    // A new process: the message is neither lost nor sent again blindly.
    let running = start(&stack, args.settings().expect("settings")).await;
    let interrupted = until("the attempt shown interrupted", 30, || async {
        let outbox = list(&running.base, "?state=interrupted").await;
        outbox.notifications.into_iter().next()
    })
    .await;
    assert_eq!(interrupted.attempts, 1);
    assert_eq!(list(&running.base, "").await.counts.interrupted, 1);
    // Later messages go on.
    on_migration(&stack, migration, vec![requested()]).await;
    let mails = server.wait_for(3, WAIT).await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.header("Message-ID") == Some(first_id.as_str()))
            .count(),
        1,
        "the interrupted message was not sent again"
    );
    assert_eq!(mails.len(), 3);

    // Support checked it never arrived and puts it back: sent once more.
    let path = format!("/notifications/{}/requeue", interrupted.notification_id);
    let (status, body) = post(
        &running.base,
        &path,
        "support:alice",
        json!({"reason": "checked: never arrived"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mails = server.wait_for(4, WAIT).await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.header("Message-ID") == Some(first_id.as_str()))
            .count(),
        2
    );
    let sent = until("the message recorded sent", 30, || async {
        let outbox = list(&running.base, "?state=sent").await;
        outbox
            .notifications
            .into_iter()
            .find(|n| n.notification_id == interrupted.notification_id)
    })
    .await;
    assert_eq!(sent.state, NotificationState::Sent);
    assert_eq!(sent.attempts, 2);
    running.stop().await.expect("stopped cleanly");
}
