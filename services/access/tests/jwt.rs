//! JWTs of an identity provider, signed for real (Ed25519 keys made by `ring`), read
//! by the access service's verifier with a JWKS: who they say, and every way a
//! token is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_access::jwt::JwtVerifier;
use ferry_events::Actor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

const ISSUER: &str = "https://id.hosting.example";
const AUDIENCE: &str = "ferry";

struct Provider {
    kid: &'static str,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl Provider {
    fn new(kid: &'static str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("a key")
            .as_ref()
            .to_vec();
        let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .expect("the key reads back")
            .public_key()
            .as_ref()
            .to_vec();
        Self { kid, pkcs8, public }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(&self.public),
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8))
            .expect("signed")
    }
}

fn verifier(keys: &[&Provider]) -> JwtVerifier {
    let set: JwkSet = serde_json::from_value(json!({
        "keys": keys.iter().map(|p| p.jwk()).collect::<Vec<_>>()
    }))
    .expect("a JWKS");
    JwtVerifier::new(ISSUER, AUDIENCE, &set, "ferry_role", "customer_id").expect("a verifier")
}

fn claims(extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now + 600, "iat": now,
        "ferry_role": "customer", "customer_id": "c-42",
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            if value.is_null() {
                claims.remove(key);
            } else {
                claims.insert(key.clone(), value.clone());
            }
        }
    }
    claims
}

#[test]
fn a_customers_and_a_support_agents_jwts_say_who_they_are() {
    let provider = Provider::new("k1");
    let other = Provider::new("k2");
    let verifier = verifier(&[&provider, &other]);
    assert_eq!(
        verifier.verify(&provider.sign(&claims(json!({})))),
        Ok(Actor::customer("c-42"))
    );
    let support = claims(json!({ "ferry_role": "support", "sub": "jdoe", "customer_id": null }));
    assert_eq!(
        verifier.verify(&other.sign(&support)),
        Ok(Actor::support("jdoe"))
    );
}

#[test]
fn every_wrong_jwt_is_refused_with_its_reason() {
    let provider = Provider::new("k1");
    let stranger = Provider::new("k1");
    let verifier = verifier(&[&provider]);
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("another key", stranger.sign(&claims(json!({})))),
        (
            "expired",
            provider.sign(&claims(json!({ "exp": now - 3600 }))),
        ),
        (
            "another issuer",
            provider.sign(&claims(json!({ "iss": "https://evil.example" }))),
        ),
        (
            "another audience",
            provider.sign(&claims(json!({ "aud": "billing" }))),
        ),
        (
            "no role",
            provider.sign(&claims(json!({ "ferry_role": null }))),
        ),
        (
            "a role ferry has not",
            provider.sign(&claims(json!({ "ferry_role": "system" }))),
        ),
        (
            "a customer without its id",
            provider.sign(&claims(json!({ "customer_id": null }))),
        ),
        (
            "a malformed customer id",
            provider.sign(&claims(json!({ "customer_id": "../c-42" }))),
        ),
        ("no subject", provider.sign(&claims(json!({ "sub": null })))),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let refused = verifier.verify(&token);
        assert!(refused.is_err(), "{what}: {refused:?}");
        assert!(
            refused.is_err_and(|e| e.0.starts_with("JWT refused: ")),
            "{what}"
        );
    }
}

#[test]
fn the_tokens_header_never_chooses_the_algorithm() {
    let provider = Provider::new("k1");
    let verifier = verifier(&[&provider]);
    // `alg: none`, and an HMAC signed with the public key as its secret: the
    // classic confusions.
    let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    let none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#)
    );
    assert!(verifier.verify(&none).is_err());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let hmac = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &EncodingKey::from_secret(&provider.public),
    )
    .expect("signed");
    assert!(verifier.verify(&hmac).is_err());
}

#[test]
fn a_shared_secret_is_no_provider_key() {
    let set: JwkSet = serde_json::from_value(json!({
        "keys": [{ "kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"secret"), "kid": "s" }]
    }))
    .expect("a JWKS");
    let refused = JwtVerifier::new(ISSUER, AUDIENCE, &set, "ferry_role", "customer_id");
    assert!(refused.is_err_and(|e| e.contains("HMAC")));
}
