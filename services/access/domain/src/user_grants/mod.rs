//! One user's migration rights (aggregate `user_grants`, id =
//! [`ferry_events::user_grants_id`] of the customer and the login): a customer
//! grants one of its users the right to act on the migrations of one of its servers,
//! or of one account of it, and takes it back. Support does either for any customer.
//! A user cannot pass its rights on, but may give them up.
//!
//! A grant names a server the customer owns and, for an account, an account of that
//! server: the server's events say so, read at the edge and given to the decider as
//! [`ServerFacts`]. Ownership is checked again whenever the user acts (the server may
//! have changed hands since): a grant never lets a user act on another customer's
//! server.
//!
//! Emits `MigrationRightsGranted`, `MigrationRightsRevoked`.

use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    Actor, ActorRole, AggregateType, Event, GrantScope, Grants, MigrationRightsGranted,
    MigrationRightsRevoked, ServerEvent, UserGrantsEvent, validate_aggregate_id,
};

/// The longest login, in characters.
pub const MAX_LOGIN_CHARS: usize = 64;

/// What the server a grant names is, as its events say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    /// The customer owning it now.
    pub owner: String,
    /// Its accounts now.
    pub accounts: Vec<String>,
}

impl ServerFacts {
    /// What `events` (a server's, in order) say of it; `None` when they do not
    /// register it.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a ServerEvent>) -> Option<Self> {
        events.into_iter().fold(None, |facts, event| match event {
            ServerEvent::ServerRegistered(e) => Some(ServerFacts {
                owner: e.customer_id.clone(),
                accounts: Vec::new(),
            }),
            ServerEvent::ServerDetailsChanged(e) => facts.map(|f| ServerFacts {
                owner: e.customer_id.clone(),
                ..f
            }),
            ServerEvent::AccountAdded(e) => facts.map(|mut f| {
                if !f.accounts.contains(&e.account.account_id) {
                    f.accounts.push(e.account.account_id.clone());
                }
                f
            }),
            ServerEvent::AccountRemoved(e) => facts.map(|mut f| {
                f.accounts.retain(|a| *a != e.account_id);
                f
            }),
            _ => facts,
        })
    }
}

/// A user's rights, as its events leave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserGrantsState {
    /// What it may act on now.
    pub grants: Grants,
}

/// What can be asked of a user's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserGrantsCommand {
    /// Grant `scope` to user `login` of `customer_id`.
    Grant {
        /// Who asks.
        actor: Actor,
        /// The customer.
        customer_id: String,
        /// Its user.
        login: String,
        /// What the user may act on.
        scope: GrantScope,
        /// The server `scope` names, as its events say (`None`: no such server).
        server: Option<ServerFacts>,
    },
    /// Take `scope` back from user `login` of `customer_id`.
    Revoke {
        /// Who asks.
        actor: Actor,
        /// The customer.
        customer_id: String,
        /// Its user.
        login: String,
        /// What the user may no longer act on.
        scope: GrantScope,
    },
}

/// Why a command on a user's rights is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserGrantsRejection {
    /// The command is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The server or the account does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl Refusal for UserGrantsRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::Invalid(_) => RefusalKind::Invalid,
            Self::Forbidden(_) => RefusalKind::Forbidden,
            Self::NotFound(_) => RefusalKind::NotFound,
        }
    }
}

/// The decider of users' rights.
pub struct UserGrants;

impl Decider for UserGrants {
    type State = UserGrantsState;
    type Command = UserGrantsCommand;
    type Event = UserGrantsEvent;
    type Rejection = UserGrantsRejection;

    const AGGREGATE: AggregateType = AggregateType::UserGrants;

    fn decide(
        state: &UserGrantsState,
        command: &UserGrantsCommand,
    ) -> Result<Vec<UserGrantsEvent>, UserGrantsRejection> {
        match command {
            UserGrantsCommand::Grant {
                actor,
                customer_id,
                login,
                scope,
                server,
            } => grant(state, actor, customer_id, login, scope, server.as_ref()),
            UserGrantsCommand::Revoke {
                actor,
                customer_id,
                login,
                scope,
            } => revoke(state, actor, customer_id, login, scope),
        }
    }

    fn evolve(mut state: UserGrantsState, event: &UserGrantsEvent) -> UserGrantsState {
        match event {
            UserGrantsEvent::MigrationRightsGranted(e) => {
                state.grants.add(e.scope.clone());
            }
            UserGrantsEvent::MigrationRightsRevoked(e) => {
                state.grants.remove(&e.scope);
            }
        }
        state
    }

    fn select(event: &Event) -> Option<&UserGrantsEvent> {
        match event {
            Event::UserGrants(e) => Some(e),
            _ => None,
        }
    }
}

/// A login names one user of a customer: 1 to [`MAX_LOGIN_CHARS`] letters, digits,
/// `.`, `_`, `-` or `@` (an e-mail address is a fine login).
pub fn validate_login(login: &str) -> Result<(), UserGrantsRejection> {
    let well_formed = !login.is_empty()
        && login.chars().count() <= MAX_LOGIN_CHARS
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if well_formed {
        Ok(())
    } else {
        Err(UserGrantsRejection::Invalid(format!(
            "{login:?} is not a login: 1 to {MAX_LOGIN_CHARS} letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// Whether `actor` may change the rights of user `login` of `customer_id`: support
/// (or the host's operator), or that customer; the user itself only to give them up.
fn may_change(
    actor: &Actor,
    customer_id: &str,
    login: &str,
    giving_up: bool,
) -> Result<(), UserGrantsRejection> {
    let allowed = match actor.role {
        ActorRole::Support | ActorRole::System => true,
        ActorRole::Customer => actor.id == customer_id,
        ActorRole::User => {
            giving_up && actor.customer_id() == Some(customer_id) && actor.login() == Some(login)
        }
    };
    if allowed {
        return Ok(());
    }
    Err(UserGrantsRejection::Forbidden(match actor.role {
        ActorRole::User => {
            format!("{actor} may not grant rights: only customer {customer_id} or support may")
        }
        _ => format!(
            "{actor} may not change the rights of customer {customer_id}'s users: only the customer or support may"
        ),
    }))
}

fn check_names(
    customer_id: &str,
    login: &str,
    scope: &GrantScope,
) -> Result<(), UserGrantsRejection> {
    validate_login(login)?;
    let id = |what: &str, value: &str| {
        validate_aggregate_id(value)
            .map_err(|e| UserGrantsRejection::Invalid(format!("{what}: {e}")))
    };
    id("customer id", customer_id)?;
    id("server id", &scope.server_id)?;
    if let Some(account) = &scope.account_id {
        id("account id", account)?;
    }
    Ok(())
}

fn grant(
    state: &UserGrantsState,
    actor: &Actor,
    customer_id: &str,
    login: &str,
    scope: &GrantScope,
    server: Option<&ServerFacts>,
) -> Result<Vec<UserGrantsEvent>, UserGrantsRejection> {
    check_names(customer_id, login, scope)?;
    may_change(actor, customer_id, login, false)?;
    let server = server
        .ok_or_else(|| UserGrantsRejection::NotFound(format!("no server {}", scope.server_id)))?;
    if server.owner != customer_id {
        return Err(UserGrantsRejection::Forbidden(format!(
            "server {} is not customer {customer_id}'s: its rights are not the customer's to grant",
            scope.server_id
        )));
    }
    if let Some(account) = &scope.account_id
        && !server.accounts.contains(account)
    {
        return Err(UserGrantsRejection::NotFound(format!(
            "no account {account} on server {}",
            scope.server_id
        )));
    }
    if state.grants.holds(scope) {
        return Ok(vec![]);
    }
    Ok(vec![UserGrantsEvent::MigrationRightsGranted(
        MigrationRightsGranted {
            customer_id: customer_id.to_owned(),
            login: login.to_owned(),
            scope: scope.clone(),
        },
    )])
}

fn revoke(
    state: &UserGrantsState,
    actor: &Actor,
    customer_id: &str,
    login: &str,
    scope: &GrantScope,
) -> Result<Vec<UserGrantsEvent>, UserGrantsRejection> {
    check_names(customer_id, login, scope)?;
    may_change(actor, customer_id, login, true)?;
    if !state.grants.holds(scope) {
        return Ok(vec![]);
    }
    Ok(vec![UserGrantsEvent::MigrationRightsRevoked(
        MigrationRightsRevoked {
            customer_id: customer_id.to_owned(),
            login: login.to_owned(),
            scope: scope.clone(),
        },
    )])
}

#[cfg(test)]
mod tests;
