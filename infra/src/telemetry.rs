//! Logs and traces: `tracing` everywhere, exported through OpenTelemetry (OTLP/gRPC)
//! when an endpoint is configured.
//!
//! The log filter applies to the log output only; the OpenTelemetry layer has its own
//! level filter. A restrictive log filter (say `warn`) therefore never disables the
//! spans that carry trace context from one service to the next.

use crate::config::{LogFormat, TelemetryArgs};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    InvalidFilter {
        /// The filter given.
        filter: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot export traces to {endpoint}: {reason}")]
    Exporter {
        /// The endpoint given.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A global subscriber was already installed.
    #[error("telemetry already initialised: {0}")]
    AlreadyInitialised(String),
}

/// Installed telemetry; flush it with [`Telemetry::shutdown`] before the process exits.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes and stops the trace exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "trace exporter shutdown");
        }
    }
}

/// Telemetry for `service` running inside a process that set up its own (a test):
/// nothing is installed globally; the trace context still propagates through NATS
/// headers, under the process's propagator.
pub fn embedded(service: &'static str) -> Telemetry {
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    Telemetry { provider }
}

/// A tracer provider for `service`, exporting to `otlp_endpoint` when given. Without an
/// endpoint, spans still get trace ids, so trace context is propagated all the same.
pub fn tracer_provider(
    service: &'static str,
    otlp_endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter {
                endpoint: endpoint.to_owned(),
                reason: e.to_string(),
            })?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The subscriber: logs filtered by `log_filter`, spans to `tracer` at INFO and above.
pub fn subscriber(
    log_filter: &str,
    format: LogFormat,
    tracer: SdkTracer,
) -> Result<impl Subscriber + Send + Sync, TelemetryError> {
    let filter = EnvFilter::try_new(log_filter).map_err(|e| TelemetryError::InvalidFilter {
        filter: log_filter.to_owned(),
        reason: e.to_string(),
    })?;
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(true)
            // Colours for a person at a terminal, never escape codes in a file.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_filter(filter)
            .boxed(),
    };
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(LevelFilter::INFO);
    Ok(tracing_subscriber::registry().with(logs).with(traces))
}

/// Installs logs and traces for the whole process.
pub fn init(args: &TelemetryArgs, service: &'static str) -> Result<Telemetry, TelemetryError> {
    let provider = tracer_provider(service, args.otlp_endpoint.as_deref())?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    subscriber(&args.log, args.log_format, provider.tracer(service))?
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInitialised(e.to_string()))?;
    Ok(Telemetry { provider })
}
