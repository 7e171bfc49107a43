//! Who may see what: support and ferry's own services see everything; a customer sees
//! only their own servers, migrations and audits, and neither the transit pool nor
//! the queues; one of a customer's other users sees only the servers of that
//! customer it was granted something on (the whole server or one account).

use ferry_events::{Actor, ActorRole, Grants};

use crate::error::QueryError;

/// The actor of a query, as far as reading goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// A support agent or a ferry service: sees everything.
    Staff(Actor),
    /// A customer: sees their own things only.
    Customer(String),
    /// A customer's user: sees the customer's servers it was granted something on.
    User {
        /// Who.
        actor: Actor,
        /// Its customer.
        customer: String,
        /// The servers it was granted something on.
        servers: Vec<String>,
    },
}

impl Viewer {
    /// The viewer an actor is, with what it was granted (a customer's user's).
    pub fn of(actor: &Actor, grants: &Grants) -> Self {
        match actor.role {
            ActorRole::Customer => Viewer::Customer(actor.id.clone()),
            ActorRole::Support | ActorRole::System => Viewer::Staff(actor.clone()),
            ActorRole::User => Viewer::User {
                actor: actor.clone(),
                customer: actor.customer_id().unwrap_or_default().to_owned(),
                servers: grants.servers(),
            },
        }
    }

    /// The customer whose things only may be listed; `None` for staff.
    pub fn customer(&self) -> Option<&str> {
        match self {
            Viewer::Staff(_) => None,
            Viewer::Customer(id) | Viewer::User { customer: id, .. } => Some(id),
        }
    }

    /// The servers whose things only may be listed (a user's); `None`: no such limit.
    pub fn servers(&self) -> Option<&[String]> {
        match self {
            Viewer::User { servers, .. } => Some(servers),
            _ => None,
        }
    }

    /// Allows seeing `what` (e.g. `server srv-0042`) of server `server_id`, owned by
    /// `owner`.
    pub fn may_see(&self, what: &str, owner: &str, server_id: &str) -> Result<(), QueryError> {
        match self {
            Viewer::Customer(customer) if customer != owner => Err(QueryError::Forbidden(format!(
                "customer {customer} may not see {what}: it belongs to another customer"
            ))),
            Viewer::User {
                actor,
                customer,
                servers,
            } if customer != owner || !servers.iter().any(|s| s == server_id) => {
                Err(QueryError::Forbidden(format!(
                    "{actor} may not see {what}: nothing of server {server_id} was granted to it"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Allows what only support (and ferry's services) may see.
    pub fn staff_only(&self, what: &str) -> Result<(), QueryError> {
        match self {
            Viewer::Customer(customer) => Err(QueryError::Forbidden(format!(
                "customer {customer} may not see {what}: it is for support only"
            ))),
            Viewer::User { actor, .. } => Err(QueryError::Forbidden(format!(
                "{actor} may not see {what}: it is for support only"
            ))),
            Viewer::Staff(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_see_their_own_and_staff_everything() {
        let none = Grants::none();
        let customer = Viewer::of(&Actor::customer("c-42"), &none);
        assert!(customer.may_see("server srv-1", "c-42", "srv-1").is_ok());
        let refused = customer
            .may_see("server srv-2", "c-7", "srv-2")
            .expect_err("another's");
        assert!(refused.to_string().contains("belongs to another customer"));
        assert!(customer.staff_only("the transit pool").is_err());
        let support = Viewer::of(&Actor::support("alice"), &none);
        assert!(support.may_see("server srv-2", "c-7", "srv-2").is_ok());
        assert!(support.staff_only("the transit pool").is_ok());
        assert_eq!(support.customer(), None);
        assert_eq!(customer.customer(), Some("c-42"));
    }

    #[test]
    fn a_user_sees_the_servers_it_was_granted_something_on() {
        use ferry_events::GrantScope;
        let grants: Grants = [
            GrantScope::server("srv-1"),
            GrantScope::account("srv-2", "acc-7"),
        ]
        .into_iter()
        .collect();
        let user = Viewer::of(&Actor::user("c-42", "alice"), &grants);
        assert!(user.may_see("server srv-1", "c-42", "srv-1").is_ok());
        assert!(user.may_see("server srv-2", "c-42", "srv-2").is_ok());
        let refused = user
            .may_see("server srv-3", "c-42", "srv-3")
            .expect_err("not granted");
        assert!(
            refused.to_string().contains("nothing of server srv-3"),
            "{refused}"
        );
        // Granted once, since given to another customer: not seen.
        assert!(user.may_see("server srv-1", "c-7", "srv-1").is_err());
        assert!(user.staff_only("the transit pool").is_err());
        assert_eq!(user.customer(), Some("c-42"));
        assert_eq!(
            user.servers(),
            Some(&["srv-1".to_owned(), "srv-2".to_owned()][..])
        );
    }
}
