//! A client server: its details, its accounts (with the language versions support
//! removed for the migration) and a summary of its current migration.

use chrono::{DateTime, Utc};
use ferry_events::{
    AccountSpec, LanguageVersion, MigrationOutcome, Money, ServerEvent, ServerKind,
    ServerRegistered, ServerStorage,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::At;
use super::migration::{MigrationStatus, MigrationView};

/// An account hosted on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerAccount {
    /// The account as last described: id, name, sizes, databases, domains,
    /// languages (without the versions removed for the migration).
    #[schema(value_type = Object)]
    pub account: AccountSpec,
    /// Language versions support removed for the migration, not yet given back.
    #[schema(value_type = Vec<Object>)]
    pub removed_languages: Vec<LanguageVersion>,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// When its description last changed.
    pub changed_at: DateTime<Utc>,
}

/// The server's current (latest) migration, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MigrationSummary {
    /// The migration.
    pub migration_id: Uuid,
    /// Its state.
    pub state: MigrationStatus,
    /// Its step (`None` once cancelled).
    pub step: Option<u8>,
    /// Since when it is in that state.
    pub state_since: DateTime<Utc>,
    /// The version it migrates to.
    pub target_version: String,
}

impl MigrationSummary {
    /// The summary of `migration`.
    pub fn of(migration: &MigrationView) -> Self {
        Self {
            migration_id: migration.migration_id,
            state: migration.state,
            step: migration.step,
            state_since: migration.state_since,
            target_version: migration.target_version.clone(),
        }
    }
}

/// A change of the infrastructure version the server runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionChange {
    /// The version before.
    pub from: String,
    /// The version after.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A client server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerView {
    /// Its id, e.g. `srv-0042`.
    pub server_id: String,
    /// Its host name.
    pub name: String,
    /// `dedicated` or `vps`.
    #[schema(value_type = String)]
    pub kind: ServerKind,
    /// Its hardware configuration.
    pub configuration: String,
    /// The infrastructure version it runs.
    pub infrastructure_version: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<String>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<String>,
    /// What the customer pays for it per month.
    #[schema(value_type = Object)]
    pub monthly_price: Money,
    /// The owning customer.
    pub customer_id: String,
    /// Where the customer is notified.
    pub contact_email: String,
    /// The customer's language.
    pub locale: String,
    /// Where its accounts' data lives.
    #[schema(value_type = Object)]
    pub storage: ServerStorage,
    /// When it came under ferry's management.
    pub registered_at: DateTime<Utc>,
    /// Its accounts, in the order they were added.
    pub accounts: Vec<ServerAccount>,
    /// Its current (latest) migration.
    pub migration: Option<MigrationSummary>,
    /// Every change of its infrastructure version.
    pub version_changes: Vec<VersionChange>,
    /// The required migration holding the server (opened, not yet closed).
    pub open_migration_id: Option<Uuid>,
    /// Every required migration of the server, in the order they were opened.
    pub migrations: Vec<MigrationRecord>,
}

/// A required migration of the server, as the server records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MigrationRecord {
    /// The migration.
    pub migration_id: Uuid,
    /// The version it migrates to.
    pub target_version: String,
    /// When it was opened on the server.
    pub opened_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// How it ended: `completed` or `cancelled`.
    #[schema(value_type = Option<String>)]
    pub outcome: Option<MigrationOutcome>,
}

impl ServerView {
    /// A server registered.
    pub fn registered(event: &ServerRegistered, at: At) -> Self {
        Self {
            server_id: event.server_id.clone(),
            name: event.name.clone(),
            kind: event.kind,
            configuration: event.configuration.clone(),
            infrastructure_version: event.infrastructure_version.clone(),
            ipv4: event.ipv4.clone(),
            ipv6: event.ipv6.clone(),
            monthly_price: event.monthly_price.clone(),
            customer_id: event.customer_id.clone(),
            contact_email: event.contact_email.clone(),
            locale: event.locale.clone(),
            // Answers and read models show no password: masked before it is kept.
            storage: event.storage.redacted(),
            registered_at: at.occurred_at,
            accounts: Vec::new(),
            migration: None,
            version_changes: Vec::new(),
            open_migration_id: None,
            migrations: Vec::new(),
        }
    }

    /// The account `account_id`, if hosted here.
    pub fn account(&self, account_id: &str) -> Option<&ServerAccount> {
        self.accounts
            .iter()
            .find(|a| a.account.account_id == account_id)
    }

    fn account_mut(&mut self, account_id: &str) -> Option<&mut ServerAccount> {
        self.accounts
            .iter_mut()
            .find(|a| a.account.account_id == account_id)
    }

    /// Folds one event of the server aggregate.
    pub fn apply(&mut self, event: &ServerEvent, at: At) {
        match event {
            ServerEvent::ServerRegistered(e) => {
                *self = Self {
                    accounts: std::mem::take(&mut self.accounts),
                    migration: self.migration.take(),
                    version_changes: std::mem::take(&mut self.version_changes),
                    open_migration_id: self.open_migration_id.take(),
                    migrations: std::mem::take(&mut self.migrations),
                    ..Self::registered(e, at)
                };
            }
            ServerEvent::ServerDetailsChanged(e) => {
                self.name = e.name.clone();
                self.kind = e.kind;
                self.configuration = e.configuration.clone();
                self.ipv4 = e.ipv4.clone();
                self.ipv6 = e.ipv6.clone();
                self.monthly_price = e.monthly_price.clone();
                self.customer_id = e.customer_id.clone();
                self.contact_email = e.contact_email.clone();
                self.locale = e.locale.clone();
                self.storage = e.storage.redacted();
            }
            ServerEvent::AccountAdded(e) => self.describe(&e.account, at),
            ServerEvent::AccountChanged(e) => self.describe(&e.account, at),
            ServerEvent::AccountRemoved(e) => self
                .accounts
                .retain(|a| a.account.account_id != e.account_id),
            ServerEvent::LanguageVersionsRemoved(e) => {
                if let Some(account) = self.account_mut(&e.account_id) {
                    for version in &e.versions {
                        account.account.languages.retain(|l| l != version);
                        if !account.removed_languages.contains(version) {
                            account.removed_languages.push(version.clone());
                        }
                    }
                }
            }
            ServerEvent::LanguageVersionsRestored(e) => {
                if let Some(account) = self.account_mut(&e.account_id) {
                    for version in &e.versions {
                        account.removed_languages.retain(|l| l != version);
                        if !account.account.languages.contains(version) {
                            account.account.languages.push(version.clone());
                        }
                    }
                }
            }
            ServerEvent::InfrastructureVersionChanged(e) => {
                self.infrastructure_version = e.to.clone();
                self.version_changes.push(VersionChange {
                    from: e.from.clone(),
                    to: e.to.clone(),
                    at: at.occurred_at,
                });
            }
            ServerEvent::RequiredMigrationOpened(e) => {
                self.open_migration_id = Some(e.migration_id);
                self.migrations.push(MigrationRecord {
                    migration_id: e.migration_id,
                    target_version: e.target_version.clone(),
                    opened_at: at.occurred_at,
                    closed_at: None,
                    outcome: None,
                });
            }
            ServerEvent::RequiredMigrationClosed(e) => {
                if self.open_migration_id == Some(e.migration_id) {
                    self.open_migration_id = None;
                }
                if let Some(record) = self
                    .migrations
                    .iter_mut()
                    .find(|m| m.migration_id == e.migration_id)
                {
                    record.closed_at = Some(at.occurred_at);
                    record.outcome = Some(e.outcome);
                }
            }
            // The optional migrations' own view (`optional_migrations`) shows them.
            ServerEvent::ServiceMigrationClaimed(_) | ServerEvent::ServiceMigrationReleased(_) => {}
        }
    }

    /// Adds the account, or replaces its description.
    fn describe(&mut self, spec: &AccountSpec, at: At) {
        match self.account_mut(&spec.account_id) {
            Some(account) => {
                account.account = spec.clone();
                account
                    .account
                    .languages
                    .retain(|l| !account.removed_languages.contains(l));
                account.changed_at = at.occurred_at;
            }
            None => self.accounts.push(ServerAccount {
                account: spec.clone(),
                removed_languages: Vec::new(),
                added_at: at.occurred_at,
                changed_at: at.occurred_at,
            }),
        }
    }

    /// Follows a change of one of its migrations: a newly opened migration becomes the
    /// current one; a change of the current one refreshes the summary; the late events
    /// of an older migration change nothing.
    pub fn follow(&mut self, migration: &MigrationView, opened: bool) {
        let current = self
            .migration
            .as_ref()
            .is_none_or(|summary| summary.migration_id == migration.migration_id);
        if opened || current {
            self.migration = Some(MigrationSummary::of(migration));
        }
    }
}
