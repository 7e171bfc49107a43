//! The edge's part of keeping passwords out of the log: a storage as the API or a
//! fleet file gives it — database URLs with their passwords, as operators have them,
//! or URLs without and the references of stored secrets — made into one that may be
//! recorded. Each password is written to the secret store under its login's
//! reference ([`ferry_events::credential::reference_for`]) before any command is
//! decided; the storage keeps the URL without it and names the reference.

use axum::http::StatusCode;
use ferry_events::credential::split_credential;
use ferry_events::input::{credential_field, parse_database_url};
use ferry_events::{DatabaseEngine, ServerStorage};

use super::{SecretError, SecretStore};
use crate::api::ApiError;

/// Why a storage's credentials cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum CredentialRefusal {
    /// The request is wrong (422): a URL that cannot be read, a reference that names
    /// no stored secret, a password and another reference at once.
    #[error("{0}")]
    Invalid(String),
    /// The secret store failed (500): nothing was recorded.
    #[error("{0}")]
    Store(SecretError),
}

impl From<CredentialRefusal> for ApiError {
    fn from(refusal: CredentialRefusal) -> Self {
        match refusal {
            CredentialRefusal::Invalid(reason) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", reason)
            }
            CredentialRefusal::Store(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "secret_store",
                format!("{e}; nothing was recorded"),
            ),
        }
    }
}

/// Takes the passwords out of `storage` (named `at` in refusals, e.g. `storage`): a
/// URL with a password has it stored in `store` and its credential set to its
/// reference; a credential given without password must name a secret `store` holds.
/// A URL the strict checks refuse is left to the decider, which says why.
pub fn take_passwords(
    store: Option<&SecretStore>,
    at: &str,
    storage: &mut ServerStorage,
) -> Result<(), CredentialRefusal> {
    for engine in [DatabaseEngine::Postgres, DatabaseEngine::Mysql] {
        let (url, credential) = match engine {
            DatabaseEngine::Postgres => {
                (&mut storage.postgres_url, &mut storage.postgres_credential)
            }
            DatabaseEngine::Mysql => (&mut storage.mysql_url, &mut storage.mysql_credential),
        };
        let credential_at = format!("{at}.{}", credential_field(engine));
        let Some(given) = url.as_deref() else {
            continue;
        };
        let url_at = format!("{at}.{}_url", engine_field(engine));
        if parse_database_url(&url_at, engine, given).is_err() {
            continue;
        }
        let store = |what: &str| {
            store.ok_or_else(|| {
                CredentialRefusal::Invalid(format!(
                    "{what}: this service has no secret store (FERRY_SECRETS_DIR) to keep \
                     a password in"
                ))
            })
        };
        match split_credential(engine, given) {
            Some((stripped, found)) => {
                if credential
                    .as_ref()
                    .is_some_and(|named| *named != found.reference)
                {
                    return Err(CredentialRefusal::Invalid(format!(
                        "{url_at} holds a password and {credential_at} names another \
                         credential ({}): give the password or the reference, not both",
                        credential.as_ref().map_or("", |c| c.as_str())
                    )));
                }
                store(&url_at)?
                    .store(&found.reference, &found.secret)
                    .map_err(CredentialRefusal::Store)?;
                *url = Some(stripped);
                *credential = Some(found.reference);
            }
            None => {
                if let Some(named) = credential.as_ref() {
                    match store(&credential_at)?.contains(named) {
                        Ok(()) => {}
                        Err(e @ (SecretError::Missing { .. } | SecretError::Empty { .. })) => {
                            return Err(CredentialRefusal::Invalid(format!(
                                "{credential_at}: {e}"
                            )));
                        }
                        Err(e) => return Err(CredentialRefusal::Store(e)),
                    }
                }
            }
        }
    }
    Ok(())
}

fn engine_field(engine: DatabaseEngine) -> &'static str {
    match engine {
        DatabaseEngine::Postgres => "postgres",
        DatabaseEngine::Mysql => "mysql",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_events::CredentialRef;
    use ferry_events::credential::Secret;

    fn storage(postgres: &str, mysql: &str) -> ServerStorage {
        ServerStorage {
            files_root: "/srv/a".into(),
            mail_root: "/srv/b".into(),
            postgres_url: Some(postgres.into()),
            mysql_url: Some(mysql.into()),
            ..ServerStorage::default()
        }
    }

    fn scratch() -> SecretStore {
        SecretStore::new(std::env::temp_dir().join(format!("ferry-edge-{}", uuid::Uuid::now_v7())))
    }

    #[test]
    fn passwords_go_to_the_store_and_references_into_the_storage() {
        let store = scratch();
        let mut given = storage(
            "postgres://ferry:hunter2@db-1:5432/postgres?prefix=a_",
            "mysql://root@db-1:3306",
        );
        take_passwords(Some(&store), "storage", &mut given).expect("taken");
        assert_eq!(
            given.postgres_url.as_deref(),
            Some("postgres://ferry@db-1:5432/postgres?prefix=a_")
        );
        let reference = given.postgres_credential.clone().expect("a reference");
        assert_eq!(reference.as_str(), "postgres_db-1_5432_ferry");
        assert_eq!(given.mysql_credential, None);
        assert_eq!(
            store.resolve(&reference).expect("stored").expose(),
            "hunter2"
        );
        assert!(!format!("{given:?}").contains("hunter2"));
        // The same storage again (a re-import) gives the same storage.
        let mut again = storage(
            "postgres://ferry:hunter2@db-1:5432/postgres?prefix=a_",
            "mysql://root@db-1:3306",
        );
        take_passwords(Some(&store), "storage", &mut again).expect("taken");
        assert_eq!(again, given);
        // Named by its reference, without the password.
        let mut named = storage("postgres://ferry@db-1:5432/postgres", "mysql://root@db-1");
        named.postgres_credential = Some(reference);
        take_passwords(Some(&store), "storage", &mut named).expect("stored secret");
        let _ = std::fs::remove_dir_all(store.dir());
    }

    #[test]
    fn a_reference_to_nothing_or_a_password_without_store_is_refused() {
        let store = scratch();
        let mut named = storage("postgres://ferry@db-1/postgres", "mysql://root@db-1");
        named.mysql_credential = Some(CredentialRef::new("mysql_db-1_3306_root").expect("ok"));
        let refused = take_passwords(Some(&store), "storage", &mut named).expect_err("none");
        let text = refused.to_string();
        assert!(matches!(refused, CredentialRefusal::Invalid(_)), "{text}");
        assert!(
            text.contains("storage.mysql_credential") && text.contains("mysql_db-1_3306_root"),
            "{text}"
        );
        assert_eq!(
            ApiError::from(refused).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        let mut with_password = storage("postgres://ferry:pw@db-1/postgres", "mysql://root@db-1");
        let refused = take_passwords(None, "storage", &mut with_password).expect_err("no store");
        assert!(refused.to_string().contains("no secret store"), "{refused}");

        let mut both = storage("postgres://ferry:pw@db-1/postgres", "mysql://root@db-1");
        both.postgres_credential = Some(CredentialRef::new("other").expect("ok"));
        let refused = take_passwords(Some(&store), "storage", &mut both).expect_err("both");
        assert!(refused.to_string().contains("not both"), "{refused}");
        assert!(!refused.to_string().contains("pw@"));
        store
            .store(&CredentialRef::new("x").expect("ok"), &Secret::new("y"))
            .expect("store works");
        let _ = std::fs::remove_dir_all(store.dir());
    }
}
