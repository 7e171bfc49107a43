//! The `optional_migration` aggregate: one service of a server (say PostgreSQL 15 →
//! 16) migrated in place, with no preparation and no test phase (seeds 000/003).
//!
//! Emits `OptionalMigrationScheduled`, `OptionalMigrationStarted`,
//! `OptionalMigrationApplied`, `OptionalMigrationFailed`, `OptionalMigrationCancelled`.

use super::access::{Allowed, Target, check};
use chrono::{DateTime, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::Grants;
use ferry_events::{
    Actor, AggregateType, OptionalMigrationApplied, OptionalMigrationCancelled,
    OptionalMigrationEvent, OptionalMigrationFailed, OptionalMigrationScheduled,
    OptionalMigrationStarted, ServiceKind,
};
use uuid::Uuid;

/// Where an optional migration is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OptionalPhase {
    /// Not scheduled.
    #[default]
    NotScheduled,
    /// Scheduled, not applied yet.
    Scheduled,
    /// Being applied.
    Applying,
    /// Applied.
    Applied,
    /// The last attempt failed; the service still runs the old version.
    Failed,
    /// Called off.
    Cancelled,
}

/// An optional migration as its events tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionalState {
    /// Where it is.
    pub phase: OptionalPhase,
    /// Its schedule, as scheduled.
    pub scheduled: Option<OptionalMigrationScheduled>,
    /// The transfer applying it.
    pub transfer_id: Option<Uuid>,
}

/// A command to an optional migration.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionalCommand {
    /// Who asks.
    pub actor: Actor,
    /// What the actor was granted, if it is one of the customer's users.
    pub grants: Grants,
    /// What.
    pub action: OptionalAction,
}

/// What can be asked of an optional migration.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionalAction {
    /// Support offers and schedules it for a server.
    Schedule(OptionalMigrationScheduled),
    /// Applies it now, no earlier than scheduled: the owner or support, or ferry itself
    /// once a migration scheduled for a time is due.
    Apply {
        /// The transfer moving the service's data.
        transfer_id: Uuid,
        /// The time of the request.
        now: DateTime<Utc>,
    },
    /// The data mover finished: the measured downtime, or why it failed (ferry).
    RecordResult {
        /// The transfer.
        transfer_id: Uuid,
        /// Downtime in milliseconds, or the failure's reason.
        outcome: Result<u64, String>,
    },
    /// Calls it off before it is applied (owner or support).
    Cancel {
        /// Why.
        reason: String,
    },
}

/// Why an optional migration command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionalRefusal {
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not scheduled.
    #[error("no such optional migration")]
    NotScheduled,
    /// Malformed.
    #[error("{0}")]
    Invalid(String),
    /// Not possible now.
    #[error("{0}")]
    WrongState(String),
}

impl Refusal for OptionalRefusal {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::Forbidden(_) => RefusalKind::Forbidden,
            Self::NotScheduled => RefusalKind::NotFound,
            Self::Invalid(_) => RefusalKind::Invalid,
            Self::WrongState(_) => RefusalKind::Conflict,
        }
    }
}

/// The optional migration decider.
#[derive(Debug)]
pub struct OptionalMigrationDecider;

impl Decider for OptionalMigrationDecider {
    type State = OptionalState;
    type Command = OptionalCommand;
    type Event = OptionalMigrationEvent;
    type Rejection = OptionalRefusal;
    const AGGREGATE: AggregateType = AggregateType::OptionalMigration;

    fn decide(
        state: &OptionalState,
        command: &OptionalCommand,
    ) -> Result<Vec<OptionalMigrationEvent>, OptionalRefusal> {
        let (actor, grants) = (&command.actor, &command.grants);
        if let OptionalAction::Schedule(scheduled) = &command.action {
            check(
                actor,
                grants,
                Allowed::Support,
                &scheduled.customer_id,
                Target::Server(&scheduled.server_id),
            )
            .map_err(OptionalRefusal::Forbidden)?;
            if let Some(existing) = &state.scheduled {
                return if existing == scheduled {
                    Ok(vec![])
                } else {
                    Err(OptionalRefusal::WrongState(
                        "this optional migration is already scheduled".into(),
                    ))
                };
            }
            if !moves_its_data(scheduled.service) {
                return Err(OptionalRefusal::Invalid(format!(
                    "ferry moves PostgreSQL and MySQL/MariaDB data only: a {} migration \
                     would be accepted and then fail; the host upgrades it in place",
                    service_name(scheduled.service)
                )));
            }
            for (field, version) in [
                ("from_version", &scheduled.from_version),
                ("to_version", &scheduled.to_version),
            ] {
                ferry_events::validate_token(field, version).map_err(OptionalRefusal::Invalid)?;
            }
            if scheduled.from_version == scheduled.to_version {
                return Err(OptionalRefusal::Invalid(format!(
                    "an optional migration goes from one {} version to another, not {:?} to {:?}",
                    service_name(scheduled.service),
                    scheduled.from_version,
                    scheduled.to_version
                )));
            }
            return Ok(vec![scheduled.clone().into()]);
        }
        let scheduled = state
            .scheduled
            .as_ref()
            .ok_or(OptionalRefusal::NotScheduled)?;
        let owner = scheduled.customer_id.as_str();
        // An optional migration changes a service of the whole server.
        let server = Target::Server(&scheduled.server_id);
        match &command.action {
            OptionalAction::Schedule(_) => Err(OptionalRefusal::NotScheduled),
            OptionalAction::Apply { transfer_id, now } => {
                // ferry itself applies a migration scheduled for a time, once due.
                let scheduled_by_time = actor.role == ferry_events::ActorRole::System
                    && scheduled.scheduled_for.is_some();
                if !scheduled_by_time {
                    check(actor, grants, Allowed::OwnerOrSupport, owner, server)
                        .map_err(OptionalRefusal::Forbidden)?;
                }
                match state.phase {
                    OptionalPhase::Scheduled | OptionalPhase::Failed => {}
                    OptionalPhase::Applying => {
                        return Err(OptionalRefusal::WrongState("it is being applied".into()));
                    }
                    other => {
                        return Err(OptionalRefusal::WrongState(format!(
                            "it is {}",
                            phase_name(other)
                        )));
                    }
                }
                if let Some(at) = scheduled.scheduled_for.filter(|at| now < at) {
                    return Err(OptionalRefusal::WrongState(format!(
                        "it is scheduled for {at}; it cannot be applied earlier"
                    )));
                }
                Ok(vec![
                    OptionalMigrationStarted {
                        transfer_id: *transfer_id,
                    }
                    .into(),
                ])
            }
            OptionalAction::RecordResult {
                transfer_id,
                outcome,
            } => {
                check(actor, grants, Allowed::System, owner, server)
                    .map_err(OptionalRefusal::Forbidden)?;
                if state.phase != OptionalPhase::Applying || state.transfer_id != Some(*transfer_id)
                {
                    return Ok(vec![]);
                }
                Ok(vec![match outcome {
                    Ok(downtime_ms) => OptionalMigrationApplied {
                        downtime_ms: *downtime_ms,
                    }
                    .into(),
                    Err(reason) => OptionalMigrationFailed {
                        reason: reason.clone(),
                    }
                    .into(),
                }])
            }
            OptionalAction::Cancel { reason } => {
                check(actor, grants, Allowed::OwnerOrSupport, owner, server)
                    .map_err(OptionalRefusal::Forbidden)?;
                match state.phase {
                    OptionalPhase::Scheduled | OptionalPhase::Failed => Ok(vec![
                        OptionalMigrationCancelled {
                            reason: reason.clone(),
                        }
                        .into(),
                    ]),
                    other => Err(OptionalRefusal::WrongState(format!(
                        "it is {}; only a migration not yet applied can be cancelled",
                        phase_name(other)
                    ))),
                }
            }
        }
    }

    fn evolve(mut state: OptionalState, event: &OptionalMigrationEvent) -> OptionalState {
        use OptionalMigrationEvent as E;
        match event {
            E::OptionalMigrationScheduled(e) => {
                state.phase = OptionalPhase::Scheduled;
                state.scheduled = Some(e.clone());
            }
            E::OptionalMigrationStarted(e) => {
                state.phase = OptionalPhase::Applying;
                state.transfer_id = Some(e.transfer_id);
            }
            E::OptionalMigrationApplied(_) => state.phase = OptionalPhase::Applied,
            E::OptionalMigrationFailed(_) => state.phase = OptionalPhase::Failed,
            E::OptionalMigrationCancelled(_) => state.phase = OptionalPhase::Cancelled,
        }
        state
    }

    fn select(event: &ferry_events::Event) -> Option<&OptionalMigrationEvent> {
        match event {
            ferry_events::Event::OptionalMigration(e) => Some(e),
            _ => None,
        }
    }
}

fn phase_name(phase: OptionalPhase) -> &'static str {
    match phase {
        OptionalPhase::NotScheduled => "not scheduled",
        OptionalPhase::Scheduled => "scheduled",
        OptionalPhase::Applying => "being applied",
        OptionalPhase::Applied => "applied",
        OptionalPhase::Failed => "failed",
        OptionalPhase::Cancelled => "cancelled",
    }
}

/// Whether ferry moves the service's data to its new version (the data mover copies
/// databases only: a cache or a queue holds nothing it could copy).
fn moves_its_data(service: ServiceKind) -> bool {
    matches!(service, ServiceKind::Postgresql | ServiceKind::Mysql)
}

fn service_name(service: ServiceKind) -> &'static str {
    match service {
        ServiceKind::Postgresql => "PostgreSQL",
        ServiceKind::Mysql => "MySQL/MariaDB",
        ServiceKind::Redis => "Redis",
        ServiceKind::Memcached => "Memcached",
        ServiceKind::Elasticsearch => "Elasticsearch",
        ServiceKind::RabbitMq => "RabbitMQ",
    }
}

#[cfg(test)]
mod tests;
