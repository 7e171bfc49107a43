//! Events of the migration rights a customer granted one of its users (aggregate
//! `user_grants`, written by the access service). Aggregate id: [`user_grants_id`]
//! of the customer and the user's login.
//!
//! A customer's other users (its developer, its agency: actor `user:<customer
//! id>/<login>`) may do nothing on their own. The customer (or support) grants one
//! of them the right to act on the migrations of one server, or of one account of a
//! server, and revokes it. Who granted or revoked is the envelope's actor. The
//! [`Grants`] a user holds now is what every service checks its commands against.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a grant covers: a whole server, or one account of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantScope {
    /// The server.
    pub server_id: String,
    /// One account of it; absent: the whole server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl GrantScope {
    /// The whole server `server_id`.
    pub fn server(server_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            account_id: None,
        }
    }

    /// Account `account_id` of server `server_id`.
    pub fn account(server_id: impl Into<String>, account_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            account_id: Some(account_id.into()),
        }
    }
}

/// `server srv-0042` or `account acc-1 of server srv-0042`.
impl std::fmt::Display for GrantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.account_id {
            None => write!(f, "server {}", self.server_id),
            Some(account) => write!(f, "account {account} of server {}", self.server_id),
        }
    }
}

/// A customer granted one of its users migration rights on `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRightsGranted {
    /// The customer.
    pub customer_id: String,
    /// Its user's login.
    pub login: String,
    /// What the user may now act on.
    pub scope: GrantScope,
}

/// A grant was taken back: the user may no longer act on `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRightsRevoked {
    /// The customer.
    pub customer_id: String,
    /// Its user's login.
    pub login: String,
    /// What the user may no longer act on.
    pub scope: GrantScope,
}

aggregate_events! {
    /// An event of a user's grants (aggregate `user_grants`).
    pub enum UserGrantsEvent for UserGrants {
        MigrationRightsGranted = 1,
        MigrationRightsRevoked = 1,
    }
}

/// Names the `user_grants` aggregates' ids (UUID v5), so that the same user's grants
/// always land in one aggregate whatever characters its login holds.
const USER_GRANTS_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_53c2_9d1e_4a57_8a0c_2f4e_9b7d_1c35);

/// The `user_grants` aggregate id of login `login` of customer `customer_id`.
pub fn user_grants_id(customer_id: &str, login: &str) -> String {
    Uuid::new_v5(
        &USER_GRANTS_NAMESPACE,
        format!("{customer_id}/{login}").as_bytes(),
    )
    .to_string()
}

/// The migration rights a user holds now: what its commands are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(std::collections::BTreeSet<GrantScope>);

impl Grants {
    /// No rights at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Holds `scope` from now on; false if it already did.
    pub fn add(&mut self, scope: GrantScope) -> bool {
        self.0.insert(scope)
    }

    /// No longer holds `scope`; false if it did not.
    pub fn remove(&mut self, scope: &GrantScope) -> bool {
        self.0.remove(scope)
    }

    /// Whether `scope` was granted as such.
    pub fn holds(&self, scope: &GrantScope) -> bool {
        self.0.contains(scope)
    }

    /// Whether the whole server `server_id` was granted.
    pub fn covers_server(&self, server_id: &str) -> bool {
        self.holds(&GrantScope::server(server_id))
    }

    /// Whether account `account_id` of `server_id` may be acted on: the account, or
    /// its whole server, was granted.
    pub fn covers_account(&self, server_id: &str, account_id: &str) -> bool {
        self.covers_server(server_id) || self.holds(&GrantScope::account(server_id, account_id))
    }

    /// Whether anything of `server_id` was granted (a grant on one account lets the
    /// user see the server it is on).
    pub fn touches_server(&self, server_id: &str) -> bool {
        self.0.iter().any(|scope| scope.server_id == server_id)
    }

    /// The servers anything was granted on, each once, sorted.
    pub fn servers(&self) -> Vec<String> {
        let mut servers: Vec<String> = self.0.iter().map(|s| s.server_id.clone()).collect();
        servers.dedup();
        servers
    }

    /// The scopes, sorted.
    pub fn scopes(&self) -> impl Iterator<Item = &GrantScope> {
        self.0.iter()
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<GrantScope> for Grants {
    fn from_iter<I: IntoIterator<Item = GrantScope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_grant_covers_its_accounts_and_an_account_grant_only_itself() {
        let grants: Grants = [
            GrantScope::server("srv-1"),
            GrantScope::account("srv-2", "acc-7"),
        ]
        .into_iter()
        .collect();
        assert!(grants.covers_server("srv-1"));
        assert!(grants.covers_account("srv-1", "acc-anything"));
        assert!(grants.covers_account("srv-2", "acc-7"));
        assert!(!grants.covers_account("srv-2", "acc-8"));
        assert!(!grants.covers_server("srv-2"));
        assert!(grants.touches_server("srv-2"));
        assert!(!grants.touches_server("srv-3"));
        assert_eq!(grants.servers(), ["srv-1", "srv-2"]);
        assert!(!Grants::none().touches_server("srv-1"));
    }

    #[test]
    fn a_users_grants_have_one_stable_aggregate() {
        let id = user_grants_id("c-42", "alice");
        assert_eq!(id, user_grants_id("c-42", "alice"));
        assert_ne!(id, user_grants_id("c-42", "bob"));
        assert_ne!(id, user_grants_id("c-4", "2/alice"));
        assert!(crate::validate_aggregate_id(&id).is_ok());
    }
}
