//! Prometheus metrics of the process, served on `/metrics`.
//!
//! One registry per process, created on first use, so that every part of ferry
//! (command handlers, projection runners, services) records into the same place
//! without threading a handle through every call.

use ferry_events::AggregateType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

/// Labels of a command outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// Aggregate type.
    pub aggregate_type: &'static str,
    /// accepted, rejected, conflict, contention, duplicate, no_change.
    pub outcome: &'static str,
}

/// Labels naming a projection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectionLabels {
    /// Projection name.
    pub projection: String,
}

/// Command outcomes.
#[derive(Debug, Default)]
pub struct CommandMetrics {
    outcomes: Family<CommandLabels, Counter>,
}

impl CommandMetrics {
    /// Counts one outcome.
    pub fn record(&self, aggregate: AggregateType, outcome: &'static str) {
        self.outcomes
            .get_or_create(&CommandLabels {
                aggregate_type: aggregate.as_str(),
                outcome,
            })
            .inc();
    }
}

/// Labels of a reaction outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReactionLabels {
    /// Reactor name.
    pub reactor: String,
    /// handled, retried, failed.
    pub outcome: &'static str,
}

/// Reaction outcomes.
#[derive(Debug, Default)]
pub struct ReactionMetrics {
    outcomes: Family<ReactionLabels, Counter>,
    parked: Family<ParkedLabels, Gauge>,
}

/// Labels of the parked reactions gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ParkedLabels {
    /// Reactor name.
    pub reactor: String,
}

impl ReactionMetrics {
    /// Counts one outcome.
    pub fn record(&self, reactor: &str, outcome: &'static str) {
        self.outcomes
            .get_or_create(&ReactionLabels {
                reactor: reactor.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts one parked reaction (the parked gauge is set by the store).
    pub fn record_parked(&self, reactor: &str) {
        self.outcomes
            .get_or_create(&ReactionLabels {
                reactor: reactor.to_owned(),
                outcome: "parked",
            })
            .inc();
    }

    /// Sets how many reactions of `reactor` are parked (see
    /// [`crate::policy::parked`]).
    pub fn set_parked(&self, reactor: &str, count: i64) {
        self.parked
            .get_or_create(&ParkedLabels {
                reactor: reactor.to_owned(),
            })
            .set(count);
    }
}

/// Projection progress.
#[derive(Debug, Default)]
pub struct ProjectionMetrics {
    /// Stream sequence covered by the read model.
    pub checkpoint: Family<ProjectionLabels, Gauge>,
    /// Events in the log not yet applied.
    pub lag: Family<ProjectionLabels, Gauge>,
    /// Events applied since start.
    pub applied: Family<ProjectionLabels, Counter>,
    /// 1 while the projection is stopped on an event it cannot apply.
    pub stalled: Family<ProjectionLabels, Gauge>,
}

impl ProjectionMetrics {
    /// The label set of one projection.
    pub fn labels(name: &str) -> ProjectionLabels {
        ProjectionLabels {
            projection: name.to_owned(),
        }
    }
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Command outcomes.
    pub commands: CommandMetrics,
    /// Projection progress.
    pub projections: ProjectionMetrics,
    /// Reaction outcomes.
    pub reactions: ReactionMetrics,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry");
        let commands = CommandMetrics::default();
        let projections = ProjectionMetrics::default();
        let reactions = ReactionMetrics::default();
        registry.register(
            "reactions",
            "Events handled by reactors, by reactor and outcome",
            reactions.outcomes.clone(),
        );
        registry.register(
            "reactions_parked",
            "Reactions parked (recorded, retried, never passed over), by reactor",
            reactions.parked.clone(),
        );
        registry.register(
            "commands",
            "Commands handled, by aggregate type and outcome",
            commands.outcomes.clone(),
        );
        registry.register(
            "projection_checkpoint",
            "Stream sequence covered by the read model",
            projections.checkpoint.clone(),
        );
        registry.register(
            "projection_lag_events",
            "Events in the log not yet applied by the projection",
            projections.lag.clone(),
        );
        registry.register(
            "projection_events_applied",
            "Events applied by the projection",
            projections.applied.clone(),
        );
        registry.register(
            "projection_stalled",
            "1 while the projection is stopped on an event it cannot apply",
            projections.stalled.clone(),
        );
        Self {
            registry,
            commands,
            projections,
            reactions,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
