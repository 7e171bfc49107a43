//! Who may see what: support and ferry's own services see everything; a customer sees
//! only their own servers, migrations and audits, and neither the transit pool nor
//! the queues.

use ferry_events::{Actor, ActorRole};

use crate::error::QueryError;

/// The actor of a query, as far as reading goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// A support agent or a ferry service: sees everything.
    Staff(Actor),
    /// A customer: sees their own things only.
    Customer(String),
}

impl Viewer {
    /// The viewer an actor is.
    pub fn of(actor: &Actor) -> Self {
        match actor.role {
            ActorRole::Customer => Viewer::Customer(actor.id.clone()),
            ActorRole::Support | ActorRole::System => Viewer::Staff(actor.clone()),
        }
    }

    /// The customer whose things only may be listed; `None` for staff.
    pub fn customer(&self) -> Option<&str> {
        match self {
            Viewer::Staff(_) => None,
            Viewer::Customer(id) => Some(id),
        }
    }

    /// Allows seeing `what` (e.g. `server srv-0042`) owned by `owner`.
    pub fn may_see(&self, what: &str, owner: &str) -> Result<(), QueryError> {
        match self {
            Viewer::Customer(customer) if customer != owner => Err(QueryError::Forbidden(format!(
                "customer {customer} may not see {what}: it belongs to another customer"
            ))),
            _ => Ok(()),
        }
    }

    /// Allows what only support (and ferry's services) may see.
    pub fn staff_only(&self, what: &str) -> Result<(), QueryError> {
        match self {
            Viewer::Customer(customer) => Err(QueryError::Forbidden(format!(
                "customer {customer} may not see {what}: it is for support only"
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
        let customer = Viewer::of(&Actor::customer("c-42"));
        assert!(customer.may_see("server srv-1", "c-42").is_ok());
        let refused = customer
            .may_see("server srv-2", "c-7")
            .expect_err("another's");
        assert!(refused.to_string().contains("belongs to another customer"));
        assert!(customer.staff_only("the transit pool").is_err());
        let support = Viewer::of(&Actor::support("alice"));
        assert!(support.may_see("server srv-2", "c-7").is_ok());
        assert!(support.staff_only("the transit pool").is_ok());
        assert_eq!(support.customer(), None);
        assert_eq!(customer.customer(), Some("c-42"));
    }
}
