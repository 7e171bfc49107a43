//! Who may ask what: every command carries an actor with a role, checked against the
//! customer owning the server concerned, and, for one of that customer's other
//! users, against what the customer granted it (a whole server, or one account).

use ferry_events::{Actor, ActorRole, Grants};

/// Who may issue a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// The customer owning the server (or one of its users it granted the server, or
    /// the account concerned), or support.
    OwnerOrSupport,
    /// Support only.
    Support,
    /// Support, or a ferry service reacting to an event.
    SupportOrSystem,
    /// A ferry service reacting to an event.
    System,
}

/// What a command acts on: a whole server, or one account of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The whole server.
    Server(&'a str),
    /// One account of the server: `(server id, account id)`.
    Account(&'a str, &'a str),
}

impl Target<'_> {
    fn granted(&self, grants: &Grants) -> bool {
        match *self {
            Target::Server(server) => grants.covers_server(server),
            Target::Account(server, account) => grants.covers_account(server, account),
        }
    }
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Server(server) => write!(f, "server {server}"),
            Target::Account(server, account) => write!(f, "account {account} of server {server}"),
        }
    }
}

/// Checks `actor`, granted `grants` (nothing but for a customer's user), against
/// `allowed` for `target`, a server owned by `owner`; the error is the reason given
/// back to the actor.
pub fn check(
    actor: &Actor,
    grants: &Grants,
    allowed: Allowed,
    owner: &str,
    target: Target,
) -> Result<(), String> {
    let ok = match (allowed, actor.role) {
        (Allowed::OwnerOrSupport, ActorRole::Customer) => actor.id == owner,
        // A grant never reaches past its customer's servers: the server may have
        // changed hands since it was granted.
        (Allowed::OwnerOrSupport, ActorRole::User) => {
            actor.customer_id() == Some(owner) && target.granted(grants)
        }
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
        (Allowed::OwnerOrSupport, ActorRole::User) => format!(
            "{actor} was not granted {target}: its customer (or support) may grant it with `ferry grant add`"
        ),
        (Allowed::OwnerOrSupport, _) => "only the server's owner or support may do this".into(),
        (Allowed::Support, _) => "only support may do this".into(),
        (Allowed::SupportOrSystem, _) => "only support or ferry itself may do this".into(),
        (Allowed::System, _) => {
            "only ferry itself records this, when the service doing the work reports it".into()
        }
    })
}

/// Checks that `actor` may read what concerns server `server`, owned by `owner`:
/// its owner, support, or a user of the owner granted the server or any account of
/// it (which it must see the server to act on).
pub fn check_read(actor: &Actor, grants: &Grants, owner: &str, server: &str) -> Result<(), String> {
    match actor.role {
        ActorRole::User if actor.customer_id() == Some(owner) && grants.touches_server(server) => {
            Ok(())
        }
        ActorRole::User => Err(format!(
            "{actor} was not granted anything of server {server}"
        )),
        _ => check(
            actor,
            grants,
            Allowed::OwnerOrSupport,
            owner,
            Target::Server(server),
        ),
    }
}

#[cfg(test)]
mod tests;
