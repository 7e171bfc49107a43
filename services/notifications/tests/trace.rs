//! The trace of the event a message tells about continues into its queuing and its
//! delivery (its own test binary: the spans need the test's subscriber, installed
//! for its thread, to be the only one the process has seen).

mod support;

use ferry_events::{AggregateType, Event, NotificationEvent, TransitServerRequested};
use ferry_infra::event_log::AggregateRef;
use ferry_infra::testkit::TestStack;
use support::{args, list, on_migration, server_and_migration, start, until};
use uuid::Uuid;

/// The notification events of one message.
async fn notification_events(stack: &TestStack, id: Uuid) -> Vec<ferry_infra::event_log::Recorded> {
    stack
        .log
        .load(&AggregateRef::new(AggregateType::Notification, id.to_string()).expect("id"))
        .await
        .expect("loaded")
        .events
}

#[tokio::test(flavor = "current_thread")]
async fn the_cause_trace_continues_into_the_queuing_and_the_delivery() {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let stack = TestStack::new().await;
    let provider = ferry_infra::telemetry::tracer_provider("ferry-test", None).expect("provider");
    let subscriber = ferry_infra::telemetry::subscriber(
        "warn",
        ferry_infra::config::LogFormat::Text,
        provider.tracer("ferry-test"),
    )
    .expect("subscriber");
    let _guard = tracing::subscriber::set_default(subscriber);

    let maildir = std::env::temp_dir().join(format!("ferry-notify-trace-{}", Uuid::now_v7()));
    let running = start(&stack, args(&maildir).settings().expect("settings")).await;
    let migration = server_and_migration(&stack, "en").await;
    let publisher = tracing::info_span!("accounts: request a transit server");
    let trace_id = publisher.context().span().span_context().trace_id();
    on_migration(
        &stack,
        migration,
        vec![
            TransitServerRequested {
                configuration: "vps-4c-8g".into(),
            }
            .into(),
        ],
    )
    .instrument(publisher)
    .await;
    let outbox = until("the transit request sent", 30, || async {
        let outbox = list(&running.base, "?state=sent").await;
        let found: Vec<_> = outbox
            .notifications
            .into_iter()
            .filter(|n| n.template == "transit_requested")
            .collect();
        (found.len() == 2).then_some(found)
    })
    .await;
    for message in outbox {
        let events = notification_events(&stack, message.notification_id).await;
        let traced: Vec<(&str, bool)> = events
            .iter()
            .map(|r| {
                let kind = match &r.envelope.event {
                    Event::Notification(NotificationEvent::NotificationQueued(_)) => "queued",
                    Event::Notification(NotificationEvent::NotificationSending(_)) => "sending",
                    Event::Notification(NotificationEvent::NotificationSent(_)) => "sent",
                    _ => "other",
                };
                let same = r
                    .trace
                    .get("traceparent")
                    .is_some_and(|t| t.contains(&trace_id.to_string()));
                (kind, same)
            })
            .collect();
        assert_eq!(
            traced,
            [("queued", true), ("sending", true), ("sent", true)],
            "every event of the message continues the cause's trace"
        );
    }
    running.stop().await.expect("stopped cleanly");
    std::fs::remove_dir_all(&maildir).ok();
}
