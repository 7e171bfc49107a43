//! Events of a transit server of the pool (aggregate `transit_server`, written by the
//! transit-pool service). Aggregate id: the transit server id, e.g. `tr-0007`.
//!
//! Life cycle: added → reserved → installing → lent → released → wiping → wiped
//! (free again); out of service and back at any free moment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::ServerStorage;

/// A server joined the transit pool, free.
///
/// Schema version 2: credential references in the storage, no password (see
/// [`crate::credential`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerAdded {
    /// Its host name, e.g. `transit-07.hosting.example`.
    pub name: String,
    /// Its hardware configuration; it is lent only to client servers with the same
    /// one, e.g. `vps-4c-8g`.
    pub configuration: String,
    /// The infrastructure version it runs now, e.g. `v2026`.
    pub infrastructure_version: String,
    /// Its IPv4 addresses, dotted decimal.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses, RFC 5952 text form.
    pub ipv6: Vec<String>,
    /// Where accounts' data lives on it.
    pub storage: ServerStorage,
}

/// The transit server was set aside for a migration (step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerReserved {
    /// The migration it is reserved for.
    pub migration_id: Uuid,
    /// The client server being migrated.
    pub client_server_id: String,
}

/// Installation of the transit server for a migration began (step 3): it takes
/// hours and pre-copies the client server's files and mails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitInstallationStarted {
    /// The migration it is installed for.
    pub migration_id: Uuid,
    /// The infrastructure version being installed (the migration's target),
    /// e.g. `v2026`.
    pub infrastructure_version: String,
    /// Expected duration, in milliseconds.
    pub expected_duration_ms: u64,
}

/// The transit server is installed (step 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitInstallationCompleted {
    /// The migration it was installed for.
    pub migration_id: Uuid,
}

/// The installation failed; the server stays reserved for the migration until
/// retried or released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitInstallationFailed {
    /// The migration it was installed for.
    pub migration_id: Uuid,
    /// Why, for support.
    pub reason: String,
}

/// The transit server was handed over to the migration's customer (step 4 begins;
/// the loan starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerLent {
    /// The migration it is lent to.
    pub migration_id: Uuid,
    /// When the loan started.
    pub lent_at: DateTime<Utc>,
}

/// The migration gave the transit server back (completed or cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerReleased {
    /// The migration that held it.
    pub migration_id: Uuid,
}

/// The wipe duration read for [`TransitServerWipeStarted`] events of schema version
/// 1, which did not record it: the pool's default of the time, ten minutes.
pub const WIPE_STARTED_V1_EXPECTED_DURATION_MS: u64 = 600_000;

/// Erasing the previous customer's data from the transit server began.
///
/// Schema version 2 added [`expected_duration_ms`](Self::expected_duration_ms), so
/// that when the wipe is due follows from the log alone; version 1 events are read
/// with [`WIPE_STARTED_V1_EXPECTED_DURATION_MS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerWipeStarted {
    /// How long the wipe is expected to take, in milliseconds.
    pub expected_duration_ms: u64,
}

/// `TransitServerWipeStarted` v1 → v2: v1 had no expected duration.
pub(crate) fn wipe_started_v1_to_v2(
    mut payload: serde_json::Value,
) -> Result<serde_json::Value, crate::upcast::UpcastError> {
    let object = payload.as_object_mut().ok_or_else(|| {
        crate::upcast::UpcastError::new(
            "the TransitServerWipeStarted v1 payload is not a JSON object",
        )
    })?;
    object.insert(
        "expected_duration_ms".to_owned(),
        serde_json::Value::from(WIPE_STARTED_V1_EXPECTED_DURATION_MS),
    );
    Ok(payload)
}

/// The transit server is erased and free again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerWiped {}

/// The transit server must not be lent (maintenance, hardware fault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerTakenOutOfService {
    /// Why, for support.
    pub reason: String,
}

/// The transit server can be lent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitServerReturnedToService {}

aggregate_events! {
    /// An event of a transit server (aggregate `transit_server`).
    pub enum TransitServerEvent for TransitServer {
        TransitServerAdded = 2,
        TransitServerReserved = 1,
        TransitInstallationStarted = 1,
        TransitInstallationCompleted = 1,
        TransitInstallationFailed = 1,
        TransitServerLent = 1,
        TransitServerReleased = 1,
        TransitServerWipeStarted = 2,
        TransitServerWiped = 1,
        TransitServerTakenOutOfService = 1,
        TransitServerReturnedToService = 1,
    }
}
