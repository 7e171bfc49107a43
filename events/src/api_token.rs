//! Events of one API token (aggregate `api_token`, written by the access service).
//! Aggregate id: the token's uuid, hyphenated lowercase.
//!
//! A token is shown once, to whoever had it issued; the log keeps only its argon2
//! hash (a PHC string: algorithm, parameters, salt and hash), from which the token
//! cannot be recovered. Who issued or revoked it is the envelope's actor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::envelope::Actor;

/// A token was issued to a person: whoever presents it acts as `holder` until it
/// expires or is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenIssued {
    /// Who the token acts as: a customer (`customer:c-42`) or a support agent.
    pub holder: Actor,
    /// What it is for, for whoever lists tokens (e.g. `backup script`).
    pub label: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The token's argon2id hash, as a PHC string.
    pub secret_hash: String,
}

/// A token was revoked: it is refused from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRevoked {
    /// Why, for the audit.
    pub reason: String,
}

aggregate_events! {
    /// An event of an API token (aggregate `api_token`).
    pub enum ApiTokenEvent for ApiToken {
        ApiTokenIssued = 1,
        ApiTokenRevoked = 1,
    }
}
