//! ferry-events: the contract every ferry service shares, and nothing else.
//!
//! This crate owns:
//! - the [`Envelope`] every stored event travels in (ids, aggregate, time,
//!   correlation, causation, [`Actor`]);
//! - the [`AggregateType`]s and the rule for aggregate ids
//!   ([`validate_aggregate_id`]: one NATS subject token);
//! - the complete catalogue of events, one module per aggregate, gathered in
//!   [`Event`] and listed in [`Event::TYPES`];
//! - the checks of inventory values that reach file systems, tools and database
//!   servers ([`input`]: storage roots, names, database URLs, sizes);
//! - credential references in place of passwords ([`credential`]) and the lenient
//!   reading of connection URLs that masks, strips or restores a password
//!   ([`url_text`]);
//! - the wire form ([`encode`], [`decode`]; [`encode_pretty`] for humans) and the
//!   [`upcast`] registry that keeps every schema version ever written readable.
//!
//! It does no I/O: no NATS, no database, no async. Golden fixtures of every event
//! type's wire form live in `fixtures/` and guard compatibility.
//!
//! Units, everywhere: sizes in bytes (`*_bytes`), durations in milliseconds (`*_ms`;
//! only DNS TTLs are in seconds, `ttl_secs`, as DNS states them), money as [`Money`] (integer cents and an ISO 4217 currency), instants as UTC
//! [`chrono::DateTime`], billing days as [`chrono::NaiveDate`].
//!
//! | module | aggregate | written by |
//! |---|---|---|
//! | [`server`] | `server` | accounts |
//! | [`target_infrastructure`] | `target_infrastructure` | accounts |
//! | [`migration`] | `migration` | accounts |
//! | [`optional_migration`] | `optional_migration` | accounts |
//! | [`transit_server`] | `transit_server` | transit-pool |
//! | [`transit_queue`] | `transit_queue` | transit-pool |
//! | [`transfer`] | `transfer` | data-mover |
//! | [`dns_zone`] | `dns_zone` | network |
//! | [`account_traffic`] | `account_traffic` | network |
//! | [`ip_route`] | `ip_route` | network |
//! | [`loan`] | `loan` | billing |
//! | [`notification`] | `notification` | notifications |
//! | [`api_token`] | `api_token` | access |
//! | [`user_grants`] | `user_grants` | access |
//!
//! Every payload struct is named after its event type and re-exported at the crate
//! root, so `Envelope::new(id, AccountMarkedReady { .. }, ..)` works directly.

#[macro_use]
mod macros;

pub mod aggregate;
pub mod catalogue;
pub mod codec;
pub mod credential;
pub mod envelope;
pub mod input;
pub mod upcast;
pub mod url_text;
pub mod values;
pub mod whole_number;

pub mod account_traffic;
pub mod api_token;
pub mod dns_zone;
pub mod ip_route;
pub mod loan;
pub mod migration;
pub mod migration_status;
pub mod notification;
pub mod optional_migration;
pub mod server;
pub mod target_infrastructure;
pub mod transfer;
pub mod transit_queue;
pub mod transit_server;
pub mod user_grants;

pub use aggregate::{
    AggregateIdProblem, AggregateType, ID_PATTERN, InvalidAggregateId, MAX_AGGREGATE_ID_LEN,
    validate_aggregate_id,
};
pub use catalogue::Event;
pub use codec::{CodecError, decode, decode_all, encode, encode_all, encode_pretty};
pub use credential::{CredentialRef, Secret};
pub use envelope::{Actor, ActorRole, Envelope};
pub use values::{
    DatabaseEngine, DatabaseVersion, LanguageVersion, Money, ServerStorage, TOKEN_PATTERN,
    is_blank, redact_url, validate_addresses, validate_token,
};

pub use account_traffic::*;
pub use api_token::*;
pub use dns_zone::*;
pub use ip_route::*;
pub use loan::*;
pub use migration::*;
pub use migration_status::MigrationStatus;
pub use notification::*;
pub use optional_migration::*;
pub use server::*;
pub use target_infrastructure::*;
pub use transfer::*;
pub use transit_queue::*;
pub use transit_server::*;
pub use user_grants::*;
