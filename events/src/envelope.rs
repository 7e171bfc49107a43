//! The envelope: the metadata every stored event carries around its payload.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::AggregateType;
use crate::catalogue::Event;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorRole {
    /// The hosting customer, acting from the panel or the API.
    Customer,
    /// A support agent of the hosting provider.
    Support,
    /// A ferry service acting on its own (reacting to another event, a timer, ...).
    System,
    /// One of a customer's other users (its developer, its agency), acting on what
    /// the customer granted it (see [`crate::user_grants`]) and nothing else.
    User,
}

/// Who caused an event: a role and the identity within that role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The kind of actor.
    pub role: ActorRole,
    /// The customer id (e.g. `c-42`), the support agent's login (e.g. `jdoe`), the
    /// service name (e.g. `transit-pool`), or a customer's user as `<customer
    /// id>/<login>` (e.g. `c-42/alice`), depending on [`role`](Self::role).
    pub id: String,
}

impl Actor {
    /// The customer with this customer id.
    pub fn customer(id: impl Into<String>) -> Self {
        Actor {
            role: ActorRole::Customer,
            id: id.into(),
        }
    }

    /// The support agent with this login.
    pub fn support(id: impl Into<String>) -> Self {
        Actor {
            role: ActorRole::Support,
            id: id.into(),
        }
    }

    /// The ferry service with this name.
    pub fn system(id: impl Into<String>) -> Self {
        Actor {
            role: ActorRole::System,
            id: id.into(),
        }
    }

    /// The user `login` of customer `customer_id`.
    pub fn user(customer_id: &str, login: &str) -> Self {
        Actor {
            role: ActorRole::User,
            id: format!("{customer_id}/{login}"),
        }
    }

    /// The customer this actor acts for: a customer itself, or the customer whose
    /// user it is; `None` for support and ferry's services.
    pub fn customer_id(&self) -> Option<&str> {
        match self.role {
            ActorRole::Customer => Some(&self.id),
            ActorRole::User => self.id.split_once('/').map(|(customer, _)| customer),
            ActorRole::Support | ActorRole::System => None,
        }
    }

    /// A customer's user's login; `None` for any other actor.
    pub fn login(&self) -> Option<&str> {
        match self.role {
            ActorRole::User => self.id.split_once('/').map(|(_, login)| login),
            _ => None,
        }
    }
}

impl ActorRole {
    /// The role as the API and the CLI write it: `customer`, `support`, `system`, `user`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActorRole::Customer => "customer",
            ActorRole::Support => "support",
            ActorRole::System => "system",
            ActorRole::User => "user",
        }
    }
}

/// `role:id`, as the API and the CLI write an actor (`support:jdoe`, `customer:c-42`,
/// `user:c-42/alice`).
impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.role.as_str(), self.id)
    }
}

/// One event with its metadata, as stored in the log.
///
/// The wire form (see [`encode`](crate::encode)) adds the event type and schema version,
/// both derived from [`event`](Self::event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id of this event (UUID v7, so ids sort by creation time).
    pub event_id: Uuid,
    /// The type of the aggregate the event belongs to; always `event.aggregate_type()`.
    pub aggregate_type: AggregateType,
    /// The id of the aggregate instance the event belongs to (see
    /// [`validate_aggregate_id`](crate::validate_aggregate_id)).
    pub aggregate_id: String,
    /// When the fact happened, UTC, with microsecond precision at most.
    pub occurred_at: DateTime<Utc>,
    /// The migration this event is part of (or the originating command when outside a
    /// migration): follows a whole process across services.
    pub correlation_id: Uuid,
    /// The command or event that directly caused this event.
    pub causation_id: Uuid,
    /// Who caused the event.
    pub actor: Actor,
    /// The event itself.
    pub event: Event,
}

impl Envelope {
    /// New envelope with a fresh v7 event id and occurred_at = now; aggregate type taken from the event.
    ///
    /// `occurred_at` is truncated to whole microseconds, the precision of PostgreSQL
    /// timestamps, so that read models store exactly the instant the log holds.
    pub fn new(
        aggregate_id: impl Into<String>,
        event: impl Into<Event>,
        correlation_id: Uuid,
        causation_id: Uuid,
        actor: Actor,
    ) -> Self {
        let event = event.into();
        Envelope {
            event_id: Uuid::now_v7(),
            aggregate_type: event.aggregate_type(),
            aggregate_id: aggregate_id.into(),
            occurred_at: Utc::now().trunc_subsecs(6),
            correlation_id,
            causation_id,
            actor,
            event,
        }
    }

    /// The PascalCase event type, e.g. `"AccountMarkedReady"`.
    pub fn event_type(&self) -> &'static str {
        self.event.event_type()
    }

    /// The current schema version of the event's type.
    pub fn schema_version(&self) -> u16 {
        self.event.schema_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::AccountMarkedReady;

    #[test]
    fn new_fills_metadata_from_the_event() {
        let migration = Uuid::now_v7();
        let envelope = Envelope::new(
            migration.to_string(),
            AccountMarkedReady {
                account_id: "acc-1".into(),
            },
            migration,
            migration,
            Actor::customer("c-42"),
        );
        assert_eq!(envelope.aggregate_type, AggregateType::Migration);
        assert_eq!(envelope.event_type(), "AccountMarkedReady");
        assert_eq!(envelope.schema_version(), 1);
        assert_eq!(envelope.event_id.get_version_num(), 7);
        assert_eq!(envelope.occurred_at.timestamp_subsec_nanos() % 1_000, 0);
        assert_eq!(envelope.actor.role, ActorRole::Customer);
    }
}
