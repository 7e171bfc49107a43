//! The text of an API token and its hash.
//!
//! A token reads `ferry_<id>_<secret>`: the token's uuid (32 hex digits, which
//! names its aggregate) and 32 random bytes (64 hex digits) from the operating
//! system. Only the secret's argon2id hash is kept (in the `ApiTokenIssued` event):
//! the token is shown once, to whoever had it issued.

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::fmt::Write as _;
use uuid::Uuid;

/// What every ferry token starts with.
pub const PREFIX: &str = "ferry_";
const SECRET_BYTES: usize = 32;

/// A token as presented: its id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenText {
    /// The token's id (its aggregate).
    pub id: Uuid,
    secret: String,
}

impl std::fmt::Debug for TokenText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenText")
            .field("id", &self.id)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// The hashing failed (a bug: the parameters are fixed).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash a token: {0}")]
pub struct HashError(String);

impl TokenText {
    /// A new token with id `id` and a fresh secret.
    pub fn generate(id: Uuid) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let secret = bytes.iter().fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
        Self { id, secret }
    }

    /// Reads a presented token; `None` when it is not a ferry token's shape.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(id, 32) || !hex(secret, SECRET_BYTES * 2) {
            return None;
        }
        Some(Self {
            id: Uuid::try_parse(id).ok()?,
            secret: secret.to_ascii_lowercase(),
        })
    }

    /// The whole token, to show once.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}_{}", self.id.simple(), self.secret)
    }

    /// The secret's argon2id hash (a PHC string with a fresh salt).
    pub fn hash(&self) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(self.secret.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether the secret matches `phc`, an argon2id hash. Slow on purpose
    /// (tens of milliseconds): call it off the async threads.
    pub fn matches(&self, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(self.secret.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// A digest of the secret, to remember a verified token without keeping it.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.secret.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_and_matches_its_hash_only() {
        let token = TokenText::generate(Uuid::now_v7());
        let text = token.reveal();
        assert!(
            text.starts_with("ferry_") && text.len() == 6 + 32 + 1 + 64,
            "{text}"
        );
        let read = TokenText::parse(&text).expect("a token");
        assert_eq!(read, token);
        let hash = token.hash().expect("hashed");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(&text[39..]), "the hash holds the secret");
        assert!(read.matches(&hash));
        let other = TokenText::generate(token.id);
        assert!(!other.matches(&hash));
        assert!(!read.matches("not a hash"));
    }

    #[test]
    fn anything_else_is_not_a_token() {
        let text = TokenText::generate(Uuid::now_v7()).reveal();
        for bad in [
            "",
            "ferry_",
            &text[..text.len() - 1],
            &text.replace("ferry_", "ferri_"),
            &format!("{text}0"),
            &format!("{}g", &text[..text.len() - 1]),
            "eyJhbGciOiJFZERTQSJ9.e30.sig",
        ] {
            assert_eq!(TokenText::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_debug_form_hides_the_secret() {
        let token = TokenText::generate(Uuid::now_v7());
        let shown = format!("{token:?}");
        assert!(!shown.contains(&token.reveal()[39..]), "{shown}");
    }
}
