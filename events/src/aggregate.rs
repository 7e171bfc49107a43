//! Aggregate types and aggregate ids: what an event is about.
//!
//! Every event belongs to one aggregate instance, named by its type and its id. Both
//! end up as tokens of the NATS subject the event is stored under
//! (`<prefix>.events.<aggregate_type>.<aggregate_id>`), which is why ids are restricted
//! to characters that are safe in one subject token.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of aggregate an event belongs to. Each is written by exactly one service.
///
/// Serialized (and used in NATS subjects) as its [`as_str`](Self::as_str) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateType {
    /// A client's dedicated or VPS server and its accounts (accounts service).
    /// Id: the server id, e.g. `srv-0042`.
    Server,
    /// A version of the hosting software infrastructure and what it supports
    /// (accounts service). Id: the version, e.g. `v2026`.
    TargetInfrastructure,
    /// One required migration of one client server through the eight steps
    /// (accounts service). Id: the migration uuid.
    Migration,
    /// An optional migration of a single service, applied directly on a server
    /// (accounts service). Id: the optional migration uuid.
    OptionalMigration,
    /// A transit server of the pool (transit-pool service). Id: e.g. `tr-0007`.
    TransitServer,
    /// The FIFO queue of migrations waiting for a transit server of one configuration
    /// (transit-pool service). Id: the configuration, e.g. `vps-4c-8g`.
    TransitQueue,
    /// One copy of accounts' data between two servers (data-mover service).
    /// Id: the transfer uuid.
    Transfer,
    /// The DNS of one domain: its zone on the provider's DNS, or advice for an
    /// external DNS provider (network service).
    /// Id: see [`dns_zone_id`](crate::dns_zone_id).
    DnsZone,
    /// Where the traffic of one account goes (network service). Id: the account id.
    AccountTraffic,
    /// The routing of one client server's IP addresses (network service).
    /// Id: the client server id.
    IpRoute,
    /// The loan of a transit server to one migration, for billing (billing service).
    /// Id: the migration uuid.
    Loan,
    /// One message to a customer or to support (notifications service).
    /// Id: the notification uuid.
    Notification,
    /// A token giving a person access to ferry's API (access service).
    /// Id: the token uuid.
    ApiToken,
    /// The migration rights a customer granted one of its users (access service).
    /// Id: see [`user_grants_id`](crate::user_grants_id).
    UserGrants,
}

impl AggregateType {
    /// Every aggregate type, in declaration order.
    pub const ALL: &'static [AggregateType] = &[
        AggregateType::Server,
        AggregateType::TargetInfrastructure,
        AggregateType::Migration,
        AggregateType::OptionalMigration,
        AggregateType::TransitServer,
        AggregateType::TransitQueue,
        AggregateType::Transfer,
        AggregateType::DnsZone,
        AggregateType::AccountTraffic,
        AggregateType::IpRoute,
        AggregateType::Loan,
        AggregateType::Notification,
        AggregateType::ApiToken,
        AggregateType::UserGrants,
    ];

    /// The snake_case name used on the wire and in NATS subjects, e.g. `"dns_zone"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AggregateType::Server => "server",
            AggregateType::TargetInfrastructure => "target_infrastructure",
            AggregateType::Migration => "migration",
            AggregateType::OptionalMigration => "optional_migration",
            AggregateType::TransitServer => "transit_server",
            AggregateType::TransitQueue => "transit_queue",
            AggregateType::Transfer => "transfer",
            AggregateType::DnsZone => "dns_zone",
            AggregateType::AccountTraffic => "account_traffic",
            AggregateType::IpRoute => "ip_route",
            AggregateType::Loan => "loan",
            AggregateType::Notification => "notification",
            AggregateType::ApiToken => "api_token",
            AggregateType::UserGrants => "user_grants",
        }
    }

    /// The aggregate type named `s` (its [`as_str`](Self::as_str) form), if any.
    pub fn parse(s: &str) -> Option<AggregateType> {
        AggregateType::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for AggregateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The characters of an aggregate id, as [`validate_aggregate_id`] checks them, in
/// the API's description.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]+$";

/// The longest aggregate id accepted, in characters.
pub const MAX_AGGREGATE_ID_LEN: usize = 128;

/// Why an aggregate id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateIdProblem {
    /// The id is the empty string.
    Empty,
    /// The id is longer than [`MAX_AGGREGATE_ID_LEN`] characters.
    TooLong {
        /// The id's length, in characters.
        len: usize,
    },
    /// The id holds a character outside `[A-Za-z0-9_-]`.
    ForbiddenCharacter {
        /// The first offending character.
        character: char,
        /// Its position, in characters from the start (0-based).
        position: usize,
    },
}

impl fmt::Display for AggregateIdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggregateIdProblem::Empty => f.write_str("it is empty"),
            AggregateIdProblem::TooLong { len } => write!(
                f,
                "it is {len} characters long, the limit is {MAX_AGGREGATE_ID_LEN}"
            ),
            AggregateIdProblem::ForbiddenCharacter {
                character,
                position,
            } => write!(
                f,
                "character {character:?} at position {position} is not one of [A-Za-z0-9_-]"
            ),
        }
    }
}

/// An aggregate id that cannot be one NATS subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid aggregate id {id:?}: {problem}")]
pub struct InvalidAggregateId {
    /// The refused id.
    pub id: String,
    /// Why it was refused.
    pub problem: AggregateIdProblem,
}

/// An aggregate id must be usable as one NATS subject token: 1..=128 chars of [A-Za-z0-9_-].
///
/// ```
/// use ferry_events::validate_aggregate_id;
/// assert!(validate_aggregate_id("srv-0042").is_ok());
/// assert!(validate_aggregate_id("0196a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b").is_ok());
/// assert!(validate_aggregate_id("example.com").is_err());
/// assert!(validate_aggregate_id("").is_err());
/// ```
pub fn validate_aggregate_id(id: &str) -> Result<(), InvalidAggregateId> {
    let refuse = |problem| {
        Err(InvalidAggregateId {
            id: id.to_owned(),
            problem,
        })
    };
    if id.is_empty() {
        return refuse(AggregateIdProblem::Empty);
    }
    let mut len = 0;
    for (position, character) in id.chars().enumerate() {
        if !(character.is_ascii_alphanumeric() || character == '_' || character == '-') {
            return refuse(AggregateIdProblem::ForbiddenCharacter {
                character,
                position,
            });
        }
        len = position + 1;
    }
    if len > MAX_AGGREGATE_ID_LEN {
        return refuse(AggregateIdProblem::TooLong { len });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in AggregateType::ALL {
            assert_eq!(AggregateType::parse(t.as_str()), Some(*t));
            assert_eq!(t.to_string(), t.as_str());
            let json = serde_json::to_string(t).expect("serializes");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            let back: AggregateType = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, *t);
            assert!(validate_aggregate_id(t.as_str()).is_ok());
        }
        assert_eq!(AggregateType::ALL.len(), 14);
        assert_eq!(AggregateType::parse("Server"), None);
    }

    #[test]
    fn aggregate_ids() {
        assert!(validate_aggregate_id("srv-0042").is_ok());
        assert!(validate_aggregate_id("example_com").is_ok());
        assert!(validate_aggregate_id(&"a".repeat(128)).is_ok());
        let long = validate_aggregate_id(&"a".repeat(129)).expect_err("too long");
        assert_eq!(long.problem, AggregateIdProblem::TooLong { len: 129 });
        let empty = validate_aggregate_id("").expect_err("empty");
        assert_eq!(empty.problem, AggregateIdProblem::Empty);
        for bad in ["a.b", "a*", ">", "a b", "é", "a/b"] {
            assert!(validate_aggregate_id(bad).is_err(), "{bad} must be refused");
        }
        let dot = validate_aggregate_id("example.com").expect_err("dot");
        assert_eq!(
            dot.problem,
            AggregateIdProblem::ForbiddenCharacter {
                character: '.',
                position: 7
            }
        );
        assert!(dot.to_string().contains("example.com"));
    }
}
