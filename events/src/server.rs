//! Events of a client server and its accounts (aggregate `server`, written by the
//! accounts service). Aggregate id: the server id, e.g. `srv-0042`.

use serde::{Deserialize, Serialize};

use crate::values::{DatabaseEngine, LanguageVersion, Money, ServerStorage};

/// The kind of a client server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ServerKind {
    /// A dedicated (physical) server.
    Dedicated,
    /// A virtual private server.
    Vps,
}

/// One account hosted on a server, as known at the time of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountSpec {
    /// The account id, e.g. `acc-1207`; unique across servers.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*$",
            min_length = 1,
            max_length = 128
        )
    )]
    pub account_id: String,
    /// The account name, also the name of its directories under the server's
    /// files and mail roots, e.g. `bakery`: lowercase letters, digits, `_`, `.`, `-`,
    /// starting with a letter or a digit, at most 63 ([`crate::input::NAME_PATTERN`]).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9][a-z0-9_.-]{0,62}$", max_length = 63)
    )]
    pub name: String,
    /// Size of the account's files, in bytes (at most 1 PiB).
    #[serde(deserialize_with = "crate::whole_number::unsigned")]
    #[cfg_attr(feature = "openapi", schema(maximum = 1_125_899_906_842_624_u64))]
    pub files_bytes: u64,
    /// Size of the account's mailboxes, in bytes (at most 1 PiB).
    #[serde(deserialize_with = "crate::whole_number::unsigned")]
    #[cfg_attr(feature = "openapi", schema(maximum = 1_125_899_906_842_624_u64))]
    pub mail_bytes: u64,
    /// The account's databases.
    pub databases: Vec<DatabaseSpec>,
    /// The domains the account serves.
    pub domains: Vec<DomainSpec>,
    /// The language versions the account's sites run on.
    pub languages: Vec<LanguageVersion>,
}

/// One database of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatabaseSpec {
    /// The engine serving it.
    pub engine: DatabaseEngine,
    /// The database name, unique on the server, e.g. `bakery_shop`: lowercase
    /// letters, digits, `_` and `-`, not starting with `-`, at most 63 with the
    /// server's prefix (PostgreSQL's limit; [`crate::input::DATABASE_NAME_PATTERN`]).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9_][a-z0-9_-]{0,62}$", max_length = 63)
    )]
    pub name: String,
    /// Size of the database, in bytes (at most 1 PiB).
    #[serde(deserialize_with = "crate::whole_number::unsigned")]
    #[cfg_attr(feature = "openapi", schema(maximum = 1_125_899_906_842_624_u64))]
    pub size_bytes: u64,
    /// The engine version serving it, e.g. `"15"`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._+-]+$", max_length = 64)
    )]
    pub version: String,
}

/// One domain of an account and where its DNS and mail are hosted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainSpec {
    /// The domain name, lowercase, without trailing dot, e.g. `bakery.example`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[a-z0-9][a-z0-9-]{0,62}([.][a-z0-9][a-z0-9-]{0,62})*$",
            max_length = 253
        )
    )]
    pub name: String,
    /// Who serves the domain's DNS zone.
    pub dns: DnsHosting,
    /// Who receives the domain's mail.
    pub mail: MailHosting,
}

/// Who serves a domain's DNS zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DnsHosting {
    /// The hosting provider's DNS servers: ferry switches the A/AAAA records itself.
    Hosted,
    /// Another DNS provider: the client server redirects the traffic transparently.
    External,
}

/// Who receives a domain's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MailHosting {
    /// The hosting provider's mail servers (MX records point at them).
    Hosted,
    /// Another mail provider.
    External,
}

/// A client server came under ferry's management.
///
/// Schema version 2: its storage's database URLs hold no password, and name the
/// logins' credential references instead (version 1 is read without the passwords,
/// see [`crate::credential`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRegistered {
    /// The server id (the aggregate id), e.g. `srv-0042`.
    pub server_id: String,
    /// The server's host name, e.g. `bakery.hosting.example`.
    pub name: String,
    /// Dedicated or VPS.
    pub kind: ServerKind,
    /// The hardware configuration; a transit server must have the same one,
    /// e.g. `vps-4c-8g`.
    pub configuration: String,
    /// The software infrastructure version it runs, e.g. `v2020`.
    pub infrastructure_version: String,
    /// Its IPv4 addresses, dotted decimal.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses, RFC 5952 text form.
    pub ipv6: Vec<String>,
    /// What the customer pays for it per month.
    pub monthly_price: Money,
    /// The owning customer's id, e.g. `c-42`.
    pub customer_id: String,
    /// Where the customer is notified.
    pub contact_email: String,
    /// The customer's language for notifications, e.g. `"fr"` or `"en"`.
    pub locale: String,
    /// Where its accounts' data lives.
    pub storage: ServerStorage,
}

/// A client server's details changed. Carries every detail, with its new value.
/// The infrastructure version only changes through [`InfrastructureVersionChanged`].
///
/// Schema version 2: credential references in the storage, as [`ServerRegistered`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerDetailsChanged {
    /// The server's host name.
    pub name: String,
    /// Dedicated or VPS.
    pub kind: ServerKind,
    /// The hardware configuration, e.g. `vps-4c-8g`.
    pub configuration: String,
    /// Its IPv4 addresses, dotted decimal.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses, RFC 5952 text form.
    pub ipv6: Vec<String>,
    /// What the customer pays for it per month.
    pub monthly_price: Money,
    /// The owning customer's id.
    pub customer_id: String,
    /// Where the customer is notified.
    pub contact_email: String,
    /// The customer's language for notifications, e.g. `"fr"`.
    pub locale: String,
    /// Where its accounts' data lives.
    pub storage: ServerStorage,
}

/// An account was created on the server (or found there at registration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAdded {
    /// The account.
    pub account: AccountSpec,
}

/// An account's description changed (sizes, databases, domains, languages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChanged {
    /// The complete new description; `account.account_id` names the account.
    pub account: AccountSpec,
}

/// An account was deleted from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRemoved {
    /// The removed account.
    pub account_id: String,
}

/// Support removed from an account the language versions the target infrastructure
/// no longer supports (step 2); reversible with [`LanguageVersionsRestored`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageVersionsRemoved {
    /// The account.
    pub account_id: String,
    /// The versions removed from it.
    pub versions: Vec<LanguageVersion>,
}

/// Support gave an account back language versions removed in step 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageVersionsRestored {
    /// The account.
    pub account_id: String,
    /// The versions given back.
    pub versions: Vec<LanguageVersion>,
}

/// The server was reinstalled on another infrastructure version (step 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfrastructureVersionChanged {
    /// The version it ran before, e.g. `v2020`.
    pub from: String,
    /// The version it runs now, e.g. `v2026`.
    pub to: String,
}

/// A required migration of the server was opened: the server takes part in no other
/// until it is closed. Written before the migration's own [`MigrationOpened`], so that
/// two racing requests cannot open two migrations of one server.
///
/// [`MigrationOpened`]: crate::MigrationOpened
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredMigrationOpened {
    /// The migration.
    pub migration_id: uuid::Uuid,
    /// The infrastructure version it migrates to, e.g. `v2026`.
    pub target_version: String,
}

/// How a required migration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationOutcome {
    /// Every account is back on the reinstalled server.
    Completed,
    /// Abandoned before any account moved.
    Cancelled,
}

/// The server's required migration ended; another may be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredMigrationClosed {
    /// The migration.
    pub migration_id: uuid::Uuid,
    /// How it ended.
    pub outcome: MigrationOutcome,
}

/// One service of the server is claimed for an optional migration: another one of
/// the same service is refused until this one is applied or cancelled. It carries
/// the optional migration as scheduled, so that the accounts service schedules it
/// even if the request that claimed the service went no further.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMigrationClaimed {
    /// The optional migration, as it is to be scheduled.
    pub schedule: crate::OptionalMigrationScheduled,
}

/// The service's optional migration was applied or cancelled; another may be
/// scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMigrationReleased {
    /// The optional migration.
    pub optional_migration_id: uuid::Uuid,
    /// The service it migrated.
    pub service: crate::ServiceKind,
}

aggregate_events! {
    /// An event of a client server (aggregate `server`).
    pub enum ServerEvent for Server {
        ServerRegistered = 2,
        ServerDetailsChanged = 2,
        AccountAdded = 1,
        AccountChanged = 1,
        AccountRemoved = 1,
        LanguageVersionsRemoved = 1,
        LanguageVersionsRestored = 1,
        InfrastructureVersionChanged = 1,
        RequiredMigrationOpened = 1,
        RequiredMigrationClosed = 1,
        ServiceMigrationClaimed = 1,
        ServiceMigrationReleased = 1,
    }
}
