//! Events of where one account's traffic goes (aggregate `account_traffic`, written
//! by the network service). Aggregate id: the account id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How an account's traffic was sent to another server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficSwitchMethod {
    /// The provider's DNS records were switched (domains on the provider's DNS).
    ProviderDns,
    /// The old server forwards the traffic transparently (domains on an external
    /// DNS, whose records still point at the old server's IPs).
    TransparentRedirect,
}

/// The old server now forwards the account's traffic to the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectEnabled {
    /// The server forwarding the traffic.
    pub from_server_id: String,
    /// The server receiving it.
    pub to_server_id: String,
}

/// The forwarding was removed (the account was moved back, or the traffic reaches
/// its server directly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectRemoved {
    /// The server that was forwarding the traffic.
    pub from_server_id: String,
}

/// All of the account's traffic now reaches another server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTrafficSwitched {
    /// The server now serving the account.
    pub to_server_id: String,
    /// How the traffic gets there.
    pub method: TrafficSwitchMethod,
    /// When the switch took effect.
    pub switched_at: DateTime<Utc>,
    /// The cutover, rollback or relocation whose verification it completes: the data
    /// mover retires the account's source once it sees it. `None` in version 1.
    pub transfer_id: Option<Uuid>,
}

/// The account's new requests are held at the client server's redirect for a
/// cutover about to freeze its source, and the requests forwarded before the hold
/// have finished (or were cut at the bound): the data mover may freeze the source
/// without failing a request. Released when the account is unfrozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTrafficHeld {
    /// The transfer that froze the account.
    pub transfer_id: Uuid,
    /// When the hold took effect.
    pub held_at: DateTime<Utc>,
    /// Requests being forwarded to the source when the hold began.
    pub in_flight: u64,
    /// Of those, the ones still running at the bound, cut off.
    pub cut: u64,
}

/// `AccountTrafficSwitched` v1 → v2: v1 did not name the transfer it completed.
pub(crate) fn switched_v1_to_v2(
    mut payload: serde_json::Value,
) -> Result<serde_json::Value, crate::upcast::UpcastError> {
    let object = payload.as_object_mut().ok_or_else(|| {
        crate::upcast::UpcastError::new(
            "the AccountTrafficSwitched v1 payload is not a JSON object",
        )
    })?;
    object.insert("transfer_id".to_owned(), serde_json::Value::Null);
    Ok(payload)
}

aggregate_events! {
    /// An event of an account's traffic (aggregate `account_traffic`).
    pub enum AccountTrafficEvent for AccountTraffic {
        RedirectEnabled = 1,
        RedirectRemoved = 1,
        AccountTrafficSwitched = 2,
        AccountTrafficHeld = 1,
    }
}
