//! Events of the queue of migrations waiting for a transit server of one
//! configuration, served first come, first served (aggregate `transit_queue`, written
//! by the transit-pool service). Aggregate id: the configuration, e.g. `vps-4c-8g`
//! (configuration names are therefore valid aggregate ids).

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

aggregate_events! {
    /// An event of a transit waiting queue (aggregate `transit_queue`).
    pub enum TransitQueueEvent for TransitQueue {
        TransitRequestQueued = 1,
        TransitRequestServed = 1,
        TransitRequestWithdrawn = 1,
    }
}
