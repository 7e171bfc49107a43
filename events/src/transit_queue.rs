//! Events of the queue of migrations waiting for a transit server of one
//! configuration, served first come, first served (aggregate `transit_queue`, written
//! by the transit-pool service). Aggregate id: the configuration, e.g. `vps-4c-8g`
//! (configuration names are therefore valid aggregate ids).
//!
//! The queue is also the allocator of its configuration's transit servers: it knows
//! which are free ([`TransitServerAvailable`], [`TransitServerWithdrawn`]) and which
//! migration holds which ([`TransitRequestServed`], [`TransitAssignmentEnded`]). Every
//! allocation is one optimistic append to this one aggregate, so no transit server is
//! ever lent twice and no migration ever gets two, whatever the concurrency.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A migration joined the end of the queue: no free transit server matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitRequestQueued {
    /// The waiting migration.
    pub migration_id: Uuid,
    /// Its client server.
    pub client_server_id: String,
    /// When the transit server was requested (the order of service).
    pub requested_at: DateTime<Utc>,
}

/// The request at the head of the queue got a transit server and left the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitRequestServed {
    /// The migration served.
    pub migration_id: Uuid,
    /// The transit server reserved for it.
    pub transit_server_id: String,
}

/// A request left the queue unserved (migration cancelled or back to step 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitRequestWithdrawn {
    /// The migration that stopped waiting.
    pub migration_id: Uuid,
    /// Why.
    pub reason: String,
}

/// A transit server of this configuration is free to be lent: it joined the pool, was
/// wiped after a loan, or came back into service. If a request is waiting, it is
/// served at once with this server (a [`TransitRequestServed`] follows in the same
/// command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerAvailable {
    /// The transit server, e.g. `tr-0007`.
    pub transit_server_id: String,
}

/// A free transit server of this configuration stopped being lendable (taken out of
/// service); only a free server can be withdrawn, so no waiting request loses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerWithdrawn {
    /// The transit server.
    pub transit_server_id: String,
    /// Why, for support.
    pub reason: String,
}

/// A migration gave back the transit server it was served (completed, cancelled or
/// back to step 1). The server is wiped before it is [`TransitServerAvailable`] again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitAssignmentEnded {
    /// The migration that held the server.
    pub migration_id: Uuid,
    /// The transit server it gives back.
    pub transit_server_id: String,
}

aggregate_events! {
    /// An event of a transit waiting queue (aggregate `transit_queue`).
    pub enum TransitQueueEvent for TransitQueue {
        TransitRequestQueued = 1,
        TransitRequestServed = 1,
        TransitRequestWithdrawn = 1,
        TransitServerAvailable = 1,
        TransitServerWithdrawn = 1,
        TransitAssignmentEnded = 1,
    }
}
