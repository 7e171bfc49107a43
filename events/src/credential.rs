//! Credentials out of the log: the reference an event carries in place of a database
//! password ([`CredentialRef`]), how that reference derives from the login alone
//! ([`reference_for`]), the [`Secret`] it is resolved to at the edge, and taking the
//! passwords out of the storages of events recorded before references existed
//! ([`strip_storage_passwords`], used by the upcasters and by the redacting copy of
//! an old log).
//!
//! Pure: the secret store itself (files, permissions) is the infrastructure's.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::url_text::{Login, strip_password};
use crate::values::DatabaseEngine;

/// What a credential reference looks like: lowercase letters, digits, `.`, `_` and
/// `-`, starting with a letter or a digit, at most 128: a file name in the secret
/// store, never a path.
pub const CREDENTIAL_PATTERN: &str = "^[a-z0-9][a-z0-9._-]{0,127}$";

/// The name of a secret in the secret store, e.g. `postgres_db-0042_5432_ferry`:
/// what events and read models carry in place of a password.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = "^[a-z0-9][a-z0-9._-]{0,127}$", max_length = 128)
)]
pub struct CredentialRef(String);

impl CredentialRef {
    /// The reference `name`, checked against [`CREDENTIAL_PATTERN`].
    ///
    /// ```
    /// use ferry_events::credential::CredentialRef;
    /// assert!(CredentialRef::new("postgres_db-0042_5432_ferry").is_ok());
    /// for bad in ["", "../etc/passwd", "a/b", ".hidden", "-rf", "Upper", &"a".repeat(129)] {
    ///     assert!(CredentialRef::new(bad).is_err(), "{bad}");
    /// }
    /// ```
    pub fn new(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            let shown: String = name.chars().take(40).collect();
            Err(format!(
                "{shown:?} is not a credential reference: 1 to 128 lowercase letters, \
                 digits, '.', '_' or '-', starting with a letter or a digit"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CredentialRef {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(&name)
    }
}

impl From<CredentialRef> for String {
    fn from(reference: CredentialRef) -> Self {
        reference.0
    }
}

impl fmt::Display for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret (a password): never shown, `***` in debug output and messages. Its text
/// is read with [`Secret::expose`], right where a driver or a tool needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The default port of `engine`'s servers, which a URL without a port reaches.
pub fn default_port(engine: DatabaseEngine) -> u16 {
    match engine {
        DatabaseEngine::Postgres => 5432,
        DatabaseEngine::Mysql => 3306,
    }
}

/// The reference of `login`'s password on an `engine` server: derived from what
/// identifies the connection (engine, host, port, user), never from the password,
/// so that the same login always has the same reference, whoever registers it and
/// whenever: `postgres_db-0042_5432_ferry`, `mysql_127.0.0.1_13306_root`.
///
/// The host (which holds no `_`), then the port, then the user, each after a `_`:
/// two logins never share a reference. A host or user that does not fit the
/// pattern as it is (an IPv6 address, a user with capitals or `@`), or a reference
/// longer than 128, is written with what fits and a hash of the login itself.
///
/// ```
/// use ferry_events::DatabaseEngine;
/// use ferry_events::credential::reference_for;
/// use ferry_events::url_text::Login;
/// let login = |user: &str, host: &str, port| Login { scheme: "postgres".into(), user: user.into(), host: host.into(), port };
/// assert_eq!(reference_for(DatabaseEngine::Postgres, &login("ferry", "db-0042", None)).as_str(), "postgres_db-0042_5432_ferry");
/// assert_eq!(reference_for(DatabaseEngine::Postgres, &login("ferry", "db-0042", Some(5432))),
///            reference_for(DatabaseEngine::Postgres, &login("ferry", "DB-0042", None)));
/// assert_ne!(reference_for(DatabaseEngine::Postgres, &login("Ferry", "db", None)),
///            reference_for(DatabaseEngine::Postgres, &login("ferry", "db", None)));
/// ```
pub fn reference_for(engine: DatabaseEngine, login: &Login) -> CredentialRef {
    let engine_name = match engine {
        DatabaseEngine::Postgres => "postgres",
        DatabaseEngine::Mysql => "mysql",
    };
    let host = login.host.to_ascii_lowercase();
    let port = login.port.unwrap_or_else(|| default_port(engine));
    let plain_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
    let plain_user =
        login.user.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        }) && !looks_hashed(&login.user);
    let readable = format!(
        "{engine_name}_{}_{port}_{}",
        fitted(&host),
        fitted(&login.user)
    );
    let name = if plain_host && plain_user && readable.len() <= 128 {
        readable
    } else {
        let hash = fnv1a(&format!("{engine_name}\n{host}\n{port}\n{}", login.user));
        let kept: String = readable.chars().take(110).collect();
        format!("{kept}.{hash:016x}")
    };
    // Every piece is of the pattern's characters and starts with the engine's name.
    CredentialRef(name)
}

/// `text` with every character out of the pattern written `-`.
fn fitted(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Whether `user` ends as a hashed reference does (`.` and 16 hex digits): such a
/// user is hashed too, so that no readable reference equals a hashed one.
fn looks_hashed(user: &str) -> bool {
    user.len() >= 17
        && user.as_bytes()[user.len() - 17] == b'.'
        && user[user.len() - 16..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// FNV-1a, 64 bits: stable across versions and machines (no randomised hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A password taken out of a URL, with the reference it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrippedPassword {
    /// Where it belongs in the secret store.
    pub reference: CredentialRef,
    /// The password.
    pub secret: Secret,
}

/// `url` of `engine` without its password, and the password with its reference;
/// `None` when the URL holds no password.
///
/// ```
/// use ferry_events::DatabaseEngine;
/// use ferry_events::credential::split_credential;
/// let (url, found) = split_credential(DatabaseEngine::Mysql, "mysql://root:pw@127.0.0.1:13306?prefix=a_").unwrap();
/// assert_eq!(url, "mysql://root@127.0.0.1:13306?prefix=a_");
/// assert_eq!(found.reference.as_str(), "mysql_127.0.0.1_13306_root");
/// assert_eq!(found.secret.expose(), "pw");
/// ```
pub fn split_credential(engine: DatabaseEngine, url: &str) -> Option<(String, StrippedPassword)> {
    let (stripped, password, login) = strip_password(url)?;
    Some((
        stripped,
        StrippedPassword {
            reference: reference_for(engine, &login),
            secret: Secret::new(password),
        },
    ))
}

/// The event types whose payload carried storages with database URLs before
/// credential references, the schema version that added the references, and where
/// their storages are in the payload (JSON pointers).
pub const STORAGE_EVENTS: &[(&str, u16, &[&str])] = &[
    ("ServerRegistered", 2, &["/storage"]),
    ("ServerDetailsChanged", 2, &["/storage"]),
    ("TransitServerAdded", 2, &["/storage"]),
    ("TransferScheduled", 2, &["/source", "/destination"]),
];

/// The fields of a storage: each engine's URL and its credential.
const STORAGE_FIELDS: [(&str, &str, DatabaseEngine); 2] = [
    (
        "postgres_url",
        "postgres_credential",
        DatabaseEngine::Postgres,
    ),
    ("mysql_url", "mysql_credential", DatabaseEngine::Mysql),
];

/// Takes the passwords out of the storages of `payload`, a payload of `event_type`
/// written before credential references (see [`STORAGE_EVENTS`]): each URL loses its
/// password and its credential field names the password's reference (`null` for a
/// URL without password). Gives the passwords taken out, for the secret store.
/// Applied to a payload with references already, it changes nothing.
pub fn strip_storage_passwords(event_type: &str, payload: &mut Value) -> Vec<StrippedPassword> {
    let Some((_, _, pointers)) = STORAGE_EVENTS.iter().find(|(t, _, _)| *t == event_type) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for pointer in *pointers {
        let Some(storage) = payload.pointer_mut(pointer).and_then(Value::as_object_mut) else {
            continue;
        };
        for (url_field, credential_field, engine) in STORAGE_FIELDS {
            let split = storage
                .get(url_field)
                .and_then(Value::as_str)
                .and_then(|url| split_credential(engine, url));
            match split {
                Some((url, password)) => {
                    storage.insert(url_field.to_owned(), Value::String(url));
                    storage.insert(
                        credential_field.to_owned(),
                        Value::String(password.reference.to_string()),
                    );
                    found.push(password);
                }
                None => {
                    storage
                        .entry(credential_field.to_owned())
                        .or_insert(Value::Null);
                }
            }
        }
    }
    found
}

/// The upcaster of every [`STORAGE_EVENTS`] type from the version before references.
macro_rules! storage_upcaster {
    ($($name:ident: $event:literal),+ $(,)?) => {$(
        #[doc = concat!("`", $event, "` v1 → v2: passwords out of the URLs, references in.")]
        pub(crate) fn $name(mut payload: Value) -> Result<Value, crate::upcast::UpcastError> {
            if !payload.is_object() {
                return Err(crate::upcast::UpcastError::new(concat!(
                    "the ", $event, " v1 payload is not a JSON object"
                )));
            }
            strip_storage_passwords($event, &mut payload);
            Ok(payload)
        }
    )+};
}

storage_upcaster! {
    server_registered_v1_to_v2: "ServerRegistered",
    server_details_changed_v1_to_v2: "ServerDetailsChanged",
    transit_server_added_v1_to_v2: "TransitServerAdded",
    transfer_scheduled_v1_to_v2: "TransferScheduled",
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_checked_names() {
        assert!(serde_json::from_value::<CredentialRef>(json!("../../etc/shadow")).is_err());
        assert!(serde_json::from_value::<CredentialRef>(json!("a/b")).is_err());
        let ok: CredentialRef = serde_json::from_value(json!("mysql_db_3306_root")).expect("ok");
        assert_eq!(
            serde_json::to_value(&ok).expect("json"),
            json!("mysql_db_3306_root")
        );
    }

    #[test]
    fn a_secret_never_shows_itself() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        let stripped = split_credential(DatabaseEngine::Postgres, "postgres://u:hunter2@h/d")
            .expect("has one")
            .1;
        assert!(!format!("{stripped:?}").contains("hunter2"));
    }

    #[test]
    fn references_differ_per_login_and_fit_the_pattern() {
        let refs: Vec<String> = [
            "postgres://ferry:a@db:5432/x",
            "postgres://ferry:b@db:5433/x",
            "postgres://other:a@db:5432/x",
            "postgres://ferry:a@db2:5432/x",
            "postgres://Ferry:a@db:5432/x",
            "postgres://ferry:a@[2001:db8::1]:5432/x",
            "postgres://fe%40rry:a@db:5432/x",
            "postgres://fe-rry:a@db:5432/x",
        ]
        .iter()
        .map(|url| {
            split_credential(DatabaseEngine::Postgres, url)
                .expect("password")
                .1
                .reference
                .to_string()
        })
        .collect();
        for (i, a) in refs.iter().enumerate() {
            assert!(CredentialRef::new(a).is_ok(), "{a}");
            for b in &refs[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let long = format!("postgres://{}:a@db/x", "u".repeat(300));
        let long = split_credential(DatabaseEngine::Postgres, &long)
            .expect("pw")
            .1;
        assert!(long.reference.as_str().len() <= 128);
        // Same login, another database or password: the same reference.
        let same = |url| {
            split_credential(DatabaseEngine::Postgres, url)
                .expect("pw")
                .1
                .reference
        };
        assert_eq!(
            same("postgres://ferry:x@db/a"),
            same("postgresql://ferry:y@db:5432/b?prefix=p_")
        );
    }

    #[test]
    fn old_storages_lose_their_passwords_to_references() {
        let mut payload = json!({
            "transfer_id": "x",
            "source": {"server_id": "srv-1", "files_root": "/srv/a", "mail_root": "/srv/b",
                "postgres_url": "postgres://ferry:s3cret@db-1:5432/postgres?prefix=a_",
                "mysql_url": "mysql://root@db-1:3306"},
            "destination": {"server_id": "tr-1", "files_root": "/srv/c", "mail_root": "/srv/d",
                "postgres_url": null, "mysql_url": "mysql://root:m%21@db-2"},
        });
        let found = strip_storage_passwords("TransferScheduled", &mut payload);
        assert_eq!(
            payload["source"]["postgres_url"],
            json!("postgres://ferry@db-1:5432/postgres?prefix=a_")
        );
        assert_eq!(
            payload["source"]["postgres_credential"],
            json!("postgres_db-1_5432_ferry")
        );
        assert_eq!(payload["source"]["mysql_credential"], Value::Null);
        assert_eq!(payload["destination"]["postgres_credential"], Value::Null);
        assert_eq!(
            payload["destination"]["mysql_url"],
            json!("mysql://root@db-2")
        );
        assert_eq!(
            payload["destination"]["mysql_credential"],
            json!("mysql_db-2_3306_root")
        );
        let secrets: Vec<&str> = found.iter().map(|f| f.secret.expose()).collect();
        assert_eq!(secrets, ["s3cret", "m!"]);
        assert!(!payload.to_string().contains("s3cret"));
        // Again: nothing more to take, nothing changed.
        let before = payload.clone();
        assert!(strip_storage_passwords("TransferScheduled", &mut payload).is_empty());
        assert_eq!(payload, before);
        assert!(strip_storage_passwords("LoanOpened", &mut payload).is_empty());
    }
}
