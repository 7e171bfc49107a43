//! [`Authenticator`]: says who a bearer token stands for, for `ferry up`'s gate.
//!
//! A ferry token (`ferry_<id>_<secret>`) is checked against its events, read from
//! the log on every request (one direct get: a revocation or an expiry counts at
//! once), and its secret against the argon2id hash they hold. Argon2 is slow on
//! purpose, so a secret once verified is remembered by its SHA-256 digest (never
//! the secret itself) for the next requests. Anything else is read as a JWT of the
//! identity provider, when one is configured.
//!
//! A customer's user's grants are read from the log with it (one more direct get),
//! so that a grant or a revocation counts from the next request.

use crate::jwt::JwtVerifier;
use crate::service::Access;
use crate::token::TokenText;
use ferry_access_domain::api_token::TokenRefused;
use ferry_events::{Actor, ActorRole, Grants};
use ferry_infra::api::auth::{AuthFailure, AuthFuture, Authenticate, Identity};
use ferry_infra::command::HandleError;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How many verified tokens are remembered.
const VERIFIED_CAPACITY: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

/// Checks ferry's tokens and the identity provider's JWTs.
#[derive(Clone)]
pub struct Authenticator {
    access: Access,
    jwt: Option<Arc<JwtVerifier>>,
    verified: Arc<Mutex<LruCache<Uuid, [u8; 32]>>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt", &self.jwt)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Tokens checked against `access`'s log; JWTs with `jwt`, if configured.
    pub fn new(access: Access, jwt: Option<JwtVerifier>) -> Self {
        Self {
            access,
            jwt: jwt.map(Arc::new),
            verified: Arc::new(Mutex::new(LruCache::new(VERIFIED_CAPACITY))),
        }
    }

    /// The person `bearer` stands for, and what it was granted.
    pub async fn who(&self, bearer: &str) -> Result<Identity, AuthFailure> {
        let actor = self.actor(bearer).await?;
        let grants = match (actor.role, actor.customer_id(), actor.login()) {
            (ActorRole::User, Some(customer), Some(login)) => self
                .access
                .grants(customer, login)
                .await
                .map_err(|e| AuthFailure::Unavailable(e.to_string()))?,
            (ActorRole::User, _, _) => {
                return Err(AuthFailure::Refused(format!(
                    "{actor} is not a user's name"
                )));
            }
            _ => Grants::none(),
        };
        Ok(Identity { actor, grants })
    }

    async fn actor(&self, bearer: &str) -> Result<Actor, AuthFailure> {
        match TokenText::parse(bearer) {
            Some(token) => self.ferry_token(token).await,
            None => match &self.jwt {
                Some(jwt) => jwt
                    .verify(bearer)
                    .map_err(|e| AuthFailure::Refused(e.to_string())),
                None => Err(AuthFailure::Refused(
                    "not a ferry token (`ferry_…`), and no identity provider is configured for JWTs"
                        .into(),
                )),
            },
        }
    }

    async fn ferry_token(&self, token: TokenText) -> Result<Actor, AuthFailure> {
        let state = self.access.token(token.id).await.map_err(|e| match e {
            HandleError::Read(e) => AuthFailure::Unavailable(e.to_string()),
            other => AuthFailure::Refused(other.to_string()),
        })?;
        let now = self.access.log().clock().now();
        let (holder, hash) = state.accepts(now).map_err(|refused| {
            AuthFailure::Refused(match refused {
                // The same words whatever the id: a guess learns nothing.
                TokenRefused::Unknown => "unknown token".to_owned(),
                other => other.to_string(),
            })
        })?;
        let digest = token.digest();
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&token.id)
            .is_some_and(|known| *known == digest);
        if !remembered {
            let hash = hash.to_owned();
            let checking = token.clone();
            let matches = tokio::task::spawn_blocking(move || checking.matches(&hash))
                .await
                .map_err(|e| AuthFailure::Unavailable(format!("the check failed: {e}")))?;
            if !matches {
                return Err(AuthFailure::Refused("unknown token".into()));
            }
            self.verified
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .put(token.id, digest);
        }
        Ok(holder.clone())
    }
}

impl Authenticate for Authenticator {
    fn authenticate<'a>(&'a self, bearer: &'a str) -> AuthFuture<'a> {
        Box::pin(self.who(bearer))
    }
}
