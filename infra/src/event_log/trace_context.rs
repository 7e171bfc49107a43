//! W3C trace context through NATS headers, so one trace follows a migration across
//! services: the appender injects the context of its current span, the consumer
//! extracts it and makes it the parent of the span that handles the event.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        // The W3C propagator only asks for the keys it knows; listing is not needed.
        Vec::new()
    }
}

/// Writes the trace context of the current `tracing` span into `headers`
/// (`traceparent`, `tracestate`). Does nothing when there is no active trace.
pub fn inject_current(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}

/// The trace context carried by `headers` (an empty context if none).
pub fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes the trace context carried by `headers` the parent of `span`.
pub fn set_parent_from(span: &tracing::Span, headers: &HeaderMap) {
    let parent = extract(headers);
    if parent.span().span_context().is_valid() {
        // Failing to set a parent only loses the link in the trace; never fail the event for it.
        let _ = span.set_parent(parent);
    }
}

/// The trace context an event was stored with, kept with the event once read: only
/// the W3C headers (`traceparent`, `tracestate`), shared by the events of one message,
/// nothing when the appender had no trace (reading a million events then allocates
/// nothing for it).
#[derive(Debug, Clone, Default)]
pub struct Carried(Option<std::sync::Arc<HeaderMap>>);

/// The W3C trace context headers.
const W3C_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

impl Carried {
    /// The trace context in a stored message's headers.
    pub fn from_headers(headers: Option<&HeaderMap>) -> Self {
        let Some(headers) = headers.filter(|h| h.get(W3C_HEADERS[0]).is_some()) else {
            return Self(None);
        };
        let mut kept = HeaderMap::new();
        for name in W3C_HEADERS {
            if let Some(value) = headers.get(name) {
                kept.insert(name, value.as_str());
            }
        }
        Self(Some(std::sync::Arc::new(kept)))
    }

    /// The value of one of the W3C headers, if the event carried it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.as_ref()?.get(name).map(|v| v.as_str())
    }

    /// Makes this trace context the parent of `span`.
    pub fn set_parent_of(&self, span: &tracing::Span) {
        if let Some(headers) = &self.0 {
            set_parent_from(span, headers);
        }
    }
}
