//! Who may ask what: every command carries an actor with a role, checked against the
//! customer owning the server concerned.

use ferry_events::{Actor, ActorRole};

/// Who may issue a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// The customer owning the server, or support.
    OwnerOrSupport,
    /// Support only.
    Support,
    /// Support, or a ferry service reacting to an event.
    SupportOrSystem,
    /// A ferry service reacting to an event.
    System,
}

/// Checks `actor` against `allowed` for a server owned by `owner`; the error is the
/// reason given back to the actor.
pub fn check(actor: &Actor, allowed: Allowed, owner: &str) -> Result<(), String> {
    let ok = match (allowed, actor.role) {
        (Allowed::OwnerOrSupport, ActorRole::Customer) => actor.id == owner,
        (
            Allowed::OwnerOrSupport | Allowed::Support | Allowed::SupportOrSystem,
            ActorRole::Support,
        ) => true,
        (Allowed::SupportOrSystem | Allowed::System, ActorRole::System) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(match (allowed, actor.role) {
        (Allowed::OwnerOrSupport, ActorRole::Customer) => format!(
            "customer {} does not own this server; only its owner or support may do this",
            actor.id
        ),
        (Allowed::OwnerOrSupport, _) => "only the server's owner or support may do this".into(),
        (Allowed::Support, _) => "only support may do this".into(),
        (Allowed::SupportOrSystem, _) => "only support or ferry itself may do this".into(),
        (Allowed::System, _) => {
            "only ferry itself records this, when the service doing the work reports it".into()
        }
    })
}

#[cfg(test)]
mod tests;
