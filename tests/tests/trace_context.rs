//! A trace started by the publisher of an event continues in its consumer: the W3C
//! trace context travels in the NATS headers, also under a restrictive log filter.

use ferry_infra::config::LogFormat;
use ferry_infra::event_log::Recorded;
use ferry_infra::telemetry;
use ferry_infra::testkit::TestStack;
use ferry_tests::{new_migration, ready_events};
use futures::StreamExt;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

/// The W3C trace context header an event was stored with.
fn traceparent(event: &Recorded) -> String {
    event
        .trace
        .get("traceparent")
        .expect("traceparent header")
        .to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn the_publisher_trace_is_the_parent_seen_by_the_consumer() {
    let stack = TestStack::new().await;
    let provider = telemetry::tracer_provider("ferry-test", None).expect("provider");
    // Logs at warn only: the spans must still carry the trace.
    let subscriber = telemetry::subscriber("warn", LogFormat::Text, provider.tracer("ferry-test"))
        .expect("subscriber");
    let _guard = tracing::subscriber::set_default(subscriber);

    let aggregate = new_migration();
    let publisher = tracing::info_span!("publish command");
    let published = publisher.context().span().span_context().clone();
    assert!(published.is_valid(), "the publisher's span has a trace");
    stack
        .log
        .append(
            &aggregate,
            0,
            &ready_events(&aggregate, 2, Uuid::now_v7()),
            "traced",
        )
        .instrument(publisher.clone())
        .await
        .expect("append");

    // A consumer: the durable-consumer path and the replay path carry the same headers.
    let recorded: Vec<_> = stack
        .log
        .replay(1)
        .await
        .expect("replay")
        .map(|r| r.expect("decodes"))
        .collect()
        .await;
    assert_eq!(recorded.len(), 2);
    for event in &recorded {
        let consumer = tracing::info_span!("handle event");
        event.link_span(&consumer);
        let seen = consumer.context().span().span_context().clone();
        assert_eq!(seen.trace_id(), published.trace_id(), "same trace");
        assert_ne!(seen.span_id(), published.span_id(), "a span of its own");
        let traceparent = traceparent(event);
        assert!(
            traceparent.contains(&published.trace_id().to_string()),
            "{traceparent}"
        );
    }
    // Outside any trace, the append starts a trace of its own: a different one.
    let untraced = new_migration();
    stack
        .log
        .append(
            &untraced,
            0,
            &ready_events(&untraced, 1, Uuid::now_v7()),
            "untraced",
        )
        .await
        .expect("append");
    let loaded = stack.log.load(&untraced).await.expect("load");
    let traceparent = traceparent(&loaded.events[0]);
    assert!(
        !traceparent.contains(&published.trace_id().to_string()),
        "{traceparent}"
    );
}
