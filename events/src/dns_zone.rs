//! Events of the DNS of one domain: its zone when hosted on the provider's DNS
//! servers, the changes the customer must make when it is hosted elsewhere
//! (aggregate `dns_zone`, written by the network service). Aggregate id: see
//! [`dns_zone_id`].

use serde::{Deserialize, Serialize};

/// The aggregate id of a domain's DNS zone: the domain in lowercase, without a
/// trailing dot, with every `.` replaced by `_` (NATS subject tokens cannot hold
/// dots), e.g. `bakery.example` → `bakery_example`.
///
/// Zones are registrable domains, whose labels hold no `_`, so the mapping is
/// one-to-one. The result still has to pass
/// [`validate_aggregate_id`](crate::validate_aggregate_id) (internationalised
/// domains must be given in their `xn--` form).
///
/// ```
/// assert_eq!(ferry_events::dns_zone_id("Bakery.Example."), "bakery_example");
/// ```
pub fn dns_zone_id(domain: &str) -> String {
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
        .replace('.', "_")
}

/// The type of a DNS record ferry manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DnsRecordKind {
    /// An IPv4 address record.
    #[serde(rename = "A")]
    A,
    /// An IPv6 address record.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// A mail exchanger record.
    #[serde(rename = "MX")]
    Mx,
    /// A text record (SPF, verification tokens).
    #[serde(rename = "TXT")]
    Txt,
    /// An alias of another name.
    #[serde(rename = "CNAME")]
    Cname,
}

/// One DNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// The owner name, fully qualified without trailing dot, e.g. `www.bakery.example`.
    pub name: String,
    /// The record type.
    pub kind: DnsRecordKind,
    /// The data: an IP address for A/AAAA, the exchanger's host name for MX, the
    /// text for TXT, the target name for CNAME (host names without trailing dot).
    pub value: String,
    /// The MX preference (lower is preferred); `None` for A and AAAA.
    pub priority: Option<u16>,
    /// Time to live, in seconds.
    pub ttl_secs: u32,
}

/// The provider's DNS serves the zone of a domain on its DNS, with these records
/// (generated from the fleet: the account's server addresses, the mail exchangers).
/// Published again, whole, when what it derives from changes. SOA and NS records
/// are the DNS server's own, from its settings; their serial counts the zone's
/// events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsZonePublished {
    /// The domain (the zone).
    pub domain: String,
    /// The account the domain belongs to.
    pub account_id: String,
    /// The server the address records point at.
    pub server_id: String,
    /// Every record of the zone but SOA and NS.
    pub records: Vec<DnsRecord>,
}

/// The provider's DNS no longer serves the zone: the domain left the fleet, or
/// moved to another DNS provider. Queries for it are refused from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsZoneWithdrawn {
    /// The domain (the zone).
    pub domain: String,
    /// Why, for support.
    pub reason: String,
}

/// The address records' TTL was lowered while the account's server migrates, so
/// that its switches reach resolvers fast (a transit server was requested).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsTtlLowered {
    /// The domain (the zone).
    pub domain: String,
    /// The migration that asked for it.
    pub migration_id: uuid::Uuid,
    /// The TTL of the A and AAAA records now, in seconds.
    pub ttl_secs: u32,
    /// The records as they are now.
    pub records: Vec<DnsRecord>,
}

/// The address records' TTL is back to what it was before the migration (it
/// completed or was cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsTtlRestored {
    /// The domain (the zone).
    pub domain: String,
    /// The migration that had lowered it.
    pub migration_id: uuid::Uuid,
    /// The records as they are now.
    pub records: Vec<DnsRecord>,
}

/// An account's address records in the zone now point at another server (steps 4,
/// 6 and 7, for domains on the provider's DNS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecordsSwitched {
    /// The domain (the zone).
    pub domain: String,
    /// The account the domain belongs to.
    pub account_id: String,
    /// The records as they are now.
    pub records: Vec<DnsRecord>,
    /// The server the records pointed at.
    pub from_server_id: String,
    /// The server they point at now.
    pub to_server_id: String,
}

/// A switch was undone: the records point at the previous server again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecordsReverted {
    /// The domain (the zone).
    pub domain: String,
    /// The account the domain belongs to.
    pub account_id: String,
    /// The records as they are now.
    pub records: Vec<DnsRecord>,
    /// The server the records pointed at before the revert.
    pub from_server_id: String,
    /// The server they point at again.
    pub to_server_id: String,
}

/// A domain on an external DNS provider but using the provider's mail servers has a
/// record the customer must delete at their DNS provider (step 4 tip: the
/// `MX 5 <server>` record goes, the `mx1`/`mx2` records stay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxRecordRemovalAdvised {
    /// The domain (the zone).
    pub domain: String,
    /// The account the domain belongs to.
    pub account_id: String,
    /// The record to delete.
    pub record: DnsRecord,
    /// The provider's mail exchangers to keep (`MX 10 mx1…`, `MX 20 mx2…`): they
    /// receive the mail while the account moves. Empty in version 1.
    pub keep: Vec<DnsRecord>,
}

/// `MxRecordRemovalAdvised` v1 → v2: v1 did not list the records to keep.
pub(crate) fn mx_advised_v1_to_v2(
    mut payload: serde_json::Value,
) -> Result<serde_json::Value, crate::upcast::UpcastError> {
    let object = payload.as_object_mut().ok_or_else(|| {
        crate::upcast::UpcastError::new(
            "the MxRecordRemovalAdvised v1 payload is not a JSON object",
        )
    })?;
    object.insert("keep".to_owned(), serde_json::Value::Array(Vec::new()));
    Ok(payload)
}

aggregate_events! {
    /// An event of a DNS zone (aggregate `dns_zone`).
    pub enum DnsZoneEvent for DnsZone {
        DnsRecordsSwitched = 1,
        DnsRecordsReverted = 1,
        MxRecordRemovalAdvised = 2,
        DnsZonePublished = 1,
        DnsZoneWithdrawn = 1,
        DnsTtlLowered = 1,
        DnsTtlRestored = 1,
    }
}
