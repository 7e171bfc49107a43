//! ferry access service: who may use ferry's API.
//!
//! - **API tokens** issued by ferry (aggregate `api_token`, id = the token's uuid):
//!   to a customer or a support agent, with a label and an expiry, shown once, kept
//!   only as an argon2id hash, revocable ([`service`], [`token`]). `ferry token
//!   create` issues them where the log is (the host's operator; the first support
//!   token comes that way), `POST /tokens` through the API.
//! - **JWTs** signed by the host's identity provider, with the issuer, audience and
//!   keys (a JWKS file) configured, their claims mapped to a customer or support
//!   ([`jwt`]).
//! - The [`authenticator::Authenticator`] behind `ferry up`'s gate
//!   (`ferry_infra::api::auth`), which checks either on every request, and reads a
//!   customer's user's grants with it.
//! - **Grants** (aggregate `user_grants`, one per user of a customer): a customer
//!   grants one of its users (`user:c-42/alice`) migration rights on one of its
//!   servers or on one account of it, and takes them back ([`grant_routes`]); every
//!   service checks a user's commands against them.
//!
//! - Emits: `ApiTokenIssued`, `ApiTokenRevoked` (api_token);
//!   `MigrationRightsGranted`, `MigrationRightsRevoked` (user_grants).
//! - Consumes: its own events, into the read model `proj_access` (tokens listed by
//!   `GET /tokens`, without their hashes; grants in force) ([`projection`]);
//!   authentication reads a token's events and a user's grants from the log itself,
//!   so that a revocation counts at once; a grant reads the server it names.
//!
//! Modules: [`domain`] (the pure decider), [`service`] (commands), [`token`] (a
//! token's text and hash), [`jwt`], [`authenticator`], [`projection`],
//! [`routes`] (the HTTP API).

pub use ferry_access_domain as domain;
pub mod authenticator;
pub mod grant_routes;
pub mod jwt;
pub mod projection;
pub mod routes;
pub mod service;
pub mod token;

pub use authenticator::Authenticator;
pub use service::{Access, IssueError, Issued};

use ferry_infra::api::auth::Gate;
use ferry_infra::projection::RunnerSettings;
use ferry_infra::runtime::Runtime;
use std::path::PathBuf;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// The access service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A setting is wrong (named).
    #[error("{0}")]
    Setting(String),
}

/// Settings of access, from flags or environment variables.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct AccessArgs {
    /// Issuer (`iss`) of the identity provider's JWTs; with the audience and the keys,
    /// JWTs are accepted besides ferry's own tokens.
    #[arg(long = "jwt-issuer", env = "FERRY_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Audience (`aud`) the identity provider's JWTs must name: ferry.
    #[arg(long = "jwt-audience", env = "FERRY_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The identity provider's public keys, a JWKS file (JSON `{"keys": [...]}`).
    #[arg(long = "jwt-keys-file", env = "FERRY_JWT_KEYS_FILE")]
    pub jwt_keys_file: Option<PathBuf>,
    /// The claim saying whether the person is `support`, a `customer` or one of a
    /// customer's other `user`s (whose login is `sub`).
    #[arg(
        long = "jwt-role-claim",
        env = "FERRY_JWT_ROLE_CLAIM",
        default_value = "ferry_role"
    )]
    pub jwt_role_claim: String,
    /// The claim holding a customer's id (support's login is `sub`).
    #[arg(
        long = "jwt-customer-claim",
        env = "FERRY_JWT_CUSTOMER_CLAIM",
        default_value = "customer_id"
    )]
    pub jwt_customer_claim: String,
    /// A file holding the token that opens `/metrics` and `/ready`'s details to a
    /// monitoring system (any other use of the API needs a person's token).
    #[arg(long = "metrics-token-file", env = "FERRY_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Failed authentications a client address may make within a minute; past it,
    /// its requests are refused (429) until the minute is over.
    #[arg(
        long = "auth-max-failures",
        env = "FERRY_AUTH_MAX_FAILURES",
        default_value_t = ferry_infra::api::auth::MAX_FAILURES,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub auth_max_failures: u32,
}

impl AccessArgs {
    /// The JWT settings, if JWTs are configured; an error names a missing or bad one.
    pub fn jwt(&self) -> Result<Option<jwt::JwtVerifier>, AccessError> {
        match (&self.jwt_issuer, &self.jwt_audience, &self.jwt_keys_file) {
            (None, None, None) => Ok(None),
            (Some(issuer), Some(audience), Some(keys)) => jwt::JwtVerifier::from_file(
                issuer,
                audience,
                keys,
                &self.jwt_role_claim,
                &self.jwt_customer_claim,
            )
            .map(Some)
            .map_err(|e| AccessError::Setting(format!("FERRY_JWT_KEYS_FILE: {e}"))),
            _ => Err(AccessError::Setting(
                "JWTs need FERRY_JWT_ISSUER, FERRY_JWT_AUDIENCE and FERRY_JWT_KEYS_FILE together"
                    .into(),
            )),
        }
    }

    /// The metrics token, read from its file (trimmed), if one is configured.
    pub fn metrics_token(&self) -> Result<Option<String>, AccessError> {
        let Some(path) = &self.metrics_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            AccessError::Setting(format!("FERRY_METRICS_TOKEN_FILE {}: {e}", path.display()))
        })?;
        let token = text.trim();
        if token.len() < 32 {
            return Err(AccessError::Setting(format!(
                "FERRY_METRICS_TOKEN_FILE {}: the token must be at least 32 characters",
                path.display()
            )));
        }
        Ok(Some(token.to_owned()))
    }

    /// Checks every setting before anything starts.
    pub fn check(&self) -> Result<(), AccessError> {
        self.jwt()?;
        self.metrics_token()?;
        Ok(())
    }
}

/// Starts the access service in `runtime`: its read model, its routes and the gate
/// every request of the process goes through.
pub fn service(runtime: &Runtime, args: &AccessArgs) -> Result<(OpenApiRouter, Gate), AccessError> {
    let access = Access::new(runtime.log.clone());
    runtime.spawn_projection(projection::AccessReadModel, RunnerSettings::default());
    let authenticator = Authenticator::new(access.clone(), args.jwt()?);
    let gate = Gate::new(
        Arc::new(authenticator),
        args.metrics_token()?,
        args.auth_max_failures,
    );
    let routes = routes::router(routes::AccessState {
        access,
        pool: runtime.pool.clone(),
    });
    Ok((routes, gate))
}
