//! JWTs signed by the host's identity provider: accepted when signed by one of the
//! configured keys (a JWKS file), by that key's algorithm (the token's header never
//! chooses it), from the configured issuer, for the configured audience, unexpired.
//! Their claims say who the person is: the role claim (`ferry_role` by default) is
//! `support` (the login is `sub`), `customer` (the customer id is the customer
//! claim, `customer_id` by default) or `user`, one of a customer's other users (the
//! customer claim names the customer, `sub` is its login), who acts on what the
//! customer granted it only.

use ferry_access_domain::api_token::validate_holder;
use ferry_events::Actor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::path::Path;

/// A JWT refused, and why (said to the client: nothing secret in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwtRefused(pub String);

/// A key of the identity provider, ready to check signatures.
struct Key {
    id: Option<String>,
    algorithm: Algorithm,
    decoding: DecodingKey,
}

/// Checks JWTs against the identity provider's settings.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    keys: Vec<Key>,
    role_claim: String,
    customer_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The signature algorithm a key is for: its `alg` if it says, else its type's.
/// HMAC keys are refused: a shared secret in a file is not the provider's key.
fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, String> {
    let named = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(other) => return Err(format!("a key for {other} cannot check a JWT's signature")),
        None => None,
    };
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => Algorithm::ES384,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "a shared-secret (HMAC) key is not accepted: give the provider's public keys"
                    .into(),
            );
        }
        _ => return Err("unsupported key type or curve".into()),
    };
    Ok(named.unwrap_or(by_type))
}

impl JwtVerifier {
    /// A verifier with the keys of the JWKS file `path`.
    pub fn from_file(
        issuer: &str,
        audience: &str,
        path: &Path,
        role_claim: &str,
        customer_claim: &str,
    ) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a JWKS (JSON {{\"keys\": [...]}}): {e}",
                path.display()
            )
        })?;
        Self::new(issuer, audience, &set, role_claim, customer_claim)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A verifier with the keys of `set`.
    pub fn new(
        issuer: &str,
        audience: &str,
        set: &JwkSet,
        role_claim: &str,
        customer_claim: &str,
    ) -> Result<Self, String> {
        if set.keys.is_empty() {
            return Err("no key".into());
        }
        let keys = set
            .keys
            .iter()
            .enumerate()
            .map(|(at, jwk)| {
                let algorithm = algorithm_of(jwk).map_err(|e| format!("key {at}: {e}"))?;
                let decoding = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {at}: {e}"))?;
                Ok(Key {
                    id: jwk.common.key_id.clone(),
                    algorithm,
                    decoding,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys,
            role_claim: role_claim.to_owned(),
            customer_claim: customer_claim.to_owned(),
        })
    }

    /// The person `token` is, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Actor, JwtRefused> {
        let refused = |reason: String| JwtRefused(format!("JWT refused: {reason}"));
        let header = jsonwebtoken::decode_header(token).map_err(|e| refused(e.to_string()))?;
        // The key named by `kid`, else (a provider with one key) the only one.
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.id.as_deref() == Some(kid.as_str())),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or_else(|| refused("signed by no key of the identity provider".into()))?;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(
            token,
            &key.decoding,
            &validation,
        )
        .map_err(|e| refused(e.to_string()))?
        .claims;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
        let actor = match text(&self.role_claim) {
            Some("support") => Actor::support(text("sub").unwrap_or_default()),
            Some(role @ ("customer" | "user")) => {
                let customer = text(&self.customer_claim).ok_or_else(|| {
                    refused(format!(
                        "a {role}'s JWT names its customer in `{}`",
                        self.customer_claim
                    ))
                })?;
                match role {
                    "user" => Actor::user(customer, text("sub").unwrap_or_default()),
                    _ => Actor::customer(customer),
                }
            }
            _ => {
                return Err(refused(format!(
                    "`{}` must be `support`, `customer` or `user`",
                    self.role_claim
                )));
            }
        };
        validate_holder(&actor).map_err(|e| refused(e.to_string()))?;
        Ok(actor)
    }
}
