//! One API token: issued to a person (a customer, one of its users, or a support
//! agent), accepted until it expires or is revoked. Support issues tokens for
//! anyone; a customer, for itself and its users; a user, for itself; the operator of
//! the host (a `system` actor: `ferry token create` run where the log is) for
//! anyone, which is how the first support token comes to be. The same people revoke
//! them.
//!
//! Emits `ApiTokenIssued`, `ApiTokenRevoked`.

use chrono::{DateTime, Duration, Utc};
use ferry_core::{Decider, Refusal, RefusalKind};
use ferry_events::{
    Actor, ActorRole, AggregateType, ApiTokenEvent, ApiTokenIssued, ApiTokenRevoked, Event,
    is_blank,
};

/// The longest a token lives: a year and a day, so that a yearly rotation never
/// leaves a gap.
pub const MAX_LIFETIME_DAYS: i64 = 366;
/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// The longest holder id (a customer id or a support login), in characters.
pub const MAX_HOLDER_ID_CHARS: usize = 64;

/// A token, as its events leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ApiTokenState {
    /// No such token.
    #[default]
    Unissued,
    /// Issued and not revoked (it may have expired: see [`ApiTokenState::accepts`]).
    Issued {
        /// Who it acts as.
        holder: Actor,
        /// When it stops being accepted.
        expires_at: DateTime<Utc>,
        /// Its argon2id hash.
        secret_hash: String,
    },
    /// Revoked: refused for good.
    Revoked {
        /// Who it acted as.
        holder: Actor,
    },
}

/// Why a presented token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// No token has that id.
    #[error("unknown token")]
    Unknown,
    /// It was revoked.
    #[error("this token was revoked")]
    Revoked,
    /// It expired.
    #[error("this token expired at {0}")]
    Expired(DateTime<Utc>),
}

impl ApiTokenState {
    /// Who a token in this state acts as at `now`, and the hash its secret must
    /// match; or why it is refused whatever its secret.
    pub fn accepts(&self, now: DateTime<Utc>) -> Result<(&Actor, &str), TokenRefused> {
        match self {
            ApiTokenState::Unissued => Err(TokenRefused::Unknown),
            ApiTokenState::Revoked { .. } => Err(TokenRefused::Revoked),
            ApiTokenState::Issued { expires_at, .. } if *expires_at <= now => {
                Err(TokenRefused::Expired(*expires_at))
            }
            ApiTokenState::Issued {
                holder,
                secret_hash,
                ..
            } => Ok((holder, secret_hash)),
        }
    }
}

/// What can be asked of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiTokenCommand {
    /// Issue it.
    Issue {
        /// Who asks.
        actor: Actor,
        /// Who it will act as.
        holder: Actor,
        /// What it is for.
        label: String,
        /// When it stops being accepted.
        expires_at: DateTime<Utc>,
        /// The argon2id hash of its secret, computed at the edge.
        secret_hash: String,
        /// The time of the request.
        now: DateTime<Utc>,
    },
    /// Revoke it.
    Revoke {
        /// Who asks.
        actor: Actor,
        /// Why.
        reason: String,
    },
}

/// Why a command on a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiTokenRejection {
    /// The command is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such token (or not one the actor may see).
    #[error("no such token")]
    NotFound,
    /// The token exists with other details.
    #[error("{0}")]
    Conflict(String),
}

impl Refusal for ApiTokenRejection {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::Invalid(_) => RefusalKind::Invalid,
            Self::Forbidden(_) => RefusalKind::Forbidden,
            Self::NotFound => RefusalKind::NotFound,
            Self::Conflict(_) => RefusalKind::Conflict,
        }
    }
}

/// The decider of API tokens.
pub struct ApiToken;

impl Decider for ApiToken {
    type State = ApiTokenState;
    type Command = ApiTokenCommand;
    type Event = ApiTokenEvent;
    type Rejection = ApiTokenRejection;

    const AGGREGATE: AggregateType = AggregateType::ApiToken;

    fn decide(
        state: &ApiTokenState,
        command: &ApiTokenCommand,
    ) -> Result<Vec<ApiTokenEvent>, ApiTokenRejection> {
        match command {
            ApiTokenCommand::Issue {
                actor,
                holder,
                label,
                expires_at,
                secret_hash,
                now,
            } => issue(state, actor, holder, label, *expires_at, secret_hash, *now),
            ApiTokenCommand::Revoke { actor, reason } => revoke(state, actor, reason),
        }
    }

    fn evolve(state: ApiTokenState, event: &ApiTokenEvent) -> ApiTokenState {
        match event {
            ApiTokenEvent::ApiTokenIssued(e) => ApiTokenState::Issued {
                holder: e.holder.clone(),
                expires_at: e.expires_at,
                secret_hash: e.secret_hash.clone(),
            },
            ApiTokenEvent::ApiTokenRevoked(_) => match state {
                ApiTokenState::Issued { holder, .. } | ApiTokenState::Revoked { holder } => {
                    ApiTokenState::Revoked { holder }
                }
                ApiTokenState::Unissued => ApiTokenState::Unissued,
            },
        }
    }

    fn select(event: &Event) -> Option<&ApiTokenEvent> {
        match event {
            Event::ApiToken(e) => Some(e),
            _ => None,
        }
    }
}

fn issue(
    state: &ApiTokenState,
    actor: &Actor,
    holder: &Actor,
    label: &str,
    expires_at: DateTime<Utc>,
    secret_hash: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ApiTokenEvent>, ApiTokenRejection> {
    validate_holder(holder)?;
    if !may_manage(actor, holder) {
        return Err(ApiTokenRejection::Forbidden(match actor.role {
            ActorRole::User => {
                format!("{actor} may issue tokens for itself only, not for {holder}")
            }
            _ => format!(
                "customer {} may issue tokens for itself and its users only, not for {holder}",
                actor.id
            ),
        }));
    }
    if is_blank(label) || label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiTokenRejection::Invalid(format!(
            "a token's label says what it is for: 1 to {MAX_LABEL_CHARS} characters, not blank"
        )));
    }
    if expires_at <= now {
        return Err(ApiTokenRejection::Invalid(format!(
            "a token must expire after now, not at {expires_at}"
        )));
    }
    if expires_at > now + Duration::days(MAX_LIFETIME_DAYS) {
        return Err(ApiTokenRejection::Invalid(format!(
            "a token lives {MAX_LIFETIME_DAYS} days at most: it cannot expire at {expires_at}"
        )));
    }
    if !secret_hash.starts_with("$argon2id$") {
        return Err(ApiTokenRejection::Invalid(
            "a token's secret is kept as an argon2id hash".into(),
        ));
    }
    match state {
        ApiTokenState::Unissued => Ok(vec![ApiTokenEvent::ApiTokenIssued(ApiTokenIssued {
            holder: holder.clone(),
            label: label.to_owned(),
            expires_at,
            secret_hash: secret_hash.to_owned(),
        })]),
        // The same request again (a retry): nothing more to do.
        ApiTokenState::Issued {
            holder: issued_to,
            secret_hash: issued_hash,
            ..
        } if issued_to == holder && issued_hash == secret_hash => Ok(vec![]),
        _ => Err(ApiTokenRejection::Conflict(
            "a token with this id was already issued".into(),
        )),
    }
}

/// A holder is a person: a customer or a support agent, with an id made of letters,
/// digits, `.`, `_`, `-` and `@` (whoever authenticates them, a token or a JWT).
pub fn validate_holder(holder: &Actor) -> Result<(), ApiTokenRejection> {
    if holder.role == ActorRole::System {
        return Err(ApiTokenRejection::Invalid(
            "ferry's services act through events: a token is for a customer or a support agent"
                .into(),
        ));
    }
    let well_formed = |id: &str| {
        !id.is_empty()
            && id.chars().count() <= MAX_HOLDER_ID_CHARS
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    };
    let ok = match holder.role {
        ActorRole::User => holder
            .id
            .split_once('/')
            .is_some_and(|(customer, login)| well_formed(customer) && well_formed(login)),
        _ => well_formed(&holder.id),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiTokenRejection::Invalid(format!(
            "{:?} is not a customer id, a login or <customer id>/<login>: 1 to {MAX_HOLDER_ID_CHARS} letters, digits, '.', '_', '-' or '@' each",
            holder.id
        )))
    }
}

/// Whether `actor` may have tokens issued to `holder`, or revoke them: support and
/// the host's operator anyone's; a customer its own and its users'; a user its own.
pub fn may_manage(actor: &Actor, holder: &Actor) -> bool {
    match actor.role {
        ActorRole::Support | ActorRole::System => true,
        ActorRole::Customer => holder.customer_id() == Some(actor.id.as_str()),
        ActorRole::User => holder == actor,
    }
}

fn revoke(
    state: &ApiTokenState,
    actor: &Actor,
    reason: &str,
) -> Result<Vec<ApiTokenEvent>, ApiTokenRejection> {
    let holder = match state {
        ApiTokenState::Unissued => return Err(ApiTokenRejection::NotFound),
        ApiTokenState::Issued { holder, .. } | ApiTokenState::Revoked { holder } => holder,
    };
    if !may_manage(actor, holder) {
        // Another customer's token is none of this customer's business: not found.
        return Err(ApiTokenRejection::NotFound);
    }
    if is_blank(reason) {
        return Err(ApiTokenRejection::Invalid(
            "say why the token is revoked (the audit reads it)".into(),
        ));
    }
    match state {
        ApiTokenState::Revoked { .. } => Ok(vec![]),
        _ => Ok(vec![ApiTokenEvent::ApiTokenRevoked(ApiTokenRevoked {
            reason: reason.to_owned(),
        })]),
    }
}

#[cfg(test)]
mod tests;
