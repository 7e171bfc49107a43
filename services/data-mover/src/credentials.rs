//! Where the data mover gets database passwords. Recorded storages carry none: a
//! URL names the login and its credential reference, resolved from the secret store
//! right before a connection ([`connect_url`]), the password put back into the URL
//! in memory only (the tools then get it through their environment, never argv). The
//! data mover's own settings (test servers, new versions' servers) may hold
//! passwords: at start they go to the secret store and the settings keep references
//! ([`MoverSettings::with_secrets`]), so that no transfer it schedules carries one.

use ferry_events::credential::split_credential;
use ferry_events::url_text::with_password;
use ferry_events::{CredentialRef, DatabaseEngine, ServerStorage};
use ferry_infra::secrets::SecretStore;

use crate::settings::MoverSettings;

/// The URL to connect to `engine`'s server of `storage` with, its password resolved
/// from the secret store; `None` when the storage has no such server. The error
/// says which secret is missing and what to do, for the transfer's failure.
pub(crate) fn connect_url(
    settings: &MoverSettings,
    storage: &ServerStorage,
    engine: DatabaseEngine,
) -> Result<Option<String>, String> {
    let Some((url, credential)) = storage.database(engine) else {
        return Ok(None);
    };
    let Some(reference) = credential else {
        return Ok(Some(url.to_owned()));
    };
    let store = settings.secrets.as_ref().ok_or_else(|| {
        format!(
            "the login's password is the secret {reference}, and this data mover has no \
             secret store (FERRY_SECRETS_DIR)"
        )
    })?;
    let secret = store.resolve(reference).map_err(|e| e.to_string())?;
    Ok(Some(with_password(url, secret.expose())))
}

/// `url` without its password, stored in `store` under its reference; the URL as it
/// is when it holds none.
fn taken(
    store: &SecretStore,
    engine: DatabaseEngine,
    url: &str,
) -> Result<(String, Option<CredentialRef>), String> {
    match split_credential(engine, url) {
        Some((stripped, found)) => {
            store
                .store(&found.reference, &found.secret)
                .map_err(|e| e.to_string())?;
            Ok((stripped, Some(found.reference)))
        }
        None => Ok((url.to_owned(), None)),
    }
}

impl MoverSettings {
    /// The same settings resolving passwords from `store`, their own URLs' passwords
    /// moved there (test servers, `FERRY_SERVICE_SERVERS`).
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn with_secrets(mut self, store: SecretStore) -> Result<Self, String> {
        if let Some(url) = self.test_postgres_url.take() {
            let (url, credential) = taken(&store, DatabaseEngine::Postgres, &url)
                .map_err(|e| format!("FERRY_TEST_POSTGRES_URL's password: {e}"))?;
            self.test_postgres_url = Some(url);
            self.test_postgres_credential = credential.or(self.test_postgres_credential);
        }
        if let Some(url) = self.test_mysql_url.take() {
            let (url, credential) = taken(&store, DatabaseEngine::Mysql, &url)
                .map_err(|e| format!("FERRY_TEST_MYSQL_URL's password: {e}"))?;
            self.test_mysql_url = Some(url);
            self.test_mysql_credential = credential.or(self.test_mysql_credential);
        }
        for server in &mut self.service_servers {
            let Some(engine) = crate::domain::policy::engine_of(server.service) else {
                continue;
            };
            let (url, credential) = taken(&store, engine, &server.url)
                .map_err(|e| format!("FERRY_SERVICE_SERVERS' password: {e}"))?;
            server.url = url;
            server.credential = credential.or(server.credential.take());
        }
        self.secrets = Some(store);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::parse_service_server;

    fn scratch() -> SecretStore {
        SecretStore::new(
            std::env::temp_dir().join(format!("ferry-mover-secrets-{}", uuid::Uuid::now_v7())),
        )
    }

    #[test]
    fn settings_lose_their_passwords_to_the_store_and_get_them_back_to_connect() {
        let store = scratch();
        let settings = MoverSettings {
            test_postgres_url: Some(
                "postgres://postgres:pg%21pw@127.0.0.1:15432/postgres?prefix=test_".into(),
            ),
            test_mysql_url: Some("mysql://root@127.0.0.1:13306?prefix=test_".into()),
            service_servers: vec![
                parse_service_server("postgresql:16=postgres://ferry:s3cret@pg16/postgres")
                    .expect("valid"),
            ],
            ..MoverSettings::default()
        }
        .with_secrets(store.clone())
        .expect("stored");
        assert_eq!(
            settings.test_postgres_url.as_deref(),
            Some("postgres://postgres@127.0.0.1:15432/postgres?prefix=test_")
        );
        assert_eq!(settings.test_mysql_credential, None);
        assert_eq!(
            settings.service_servers[0].url,
            "postgres://ferry@pg16/postgres"
        );
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("pg%21pw") && !shown.contains("s3cret"),
            "{shown}"
        );

        let endpoint = crate::engine::test_copy::test_endpoint(&settings);
        assert_eq!(
            connect_url(&settings, &endpoint.storage, DatabaseEngine::Postgres)
                .expect("resolved")
                .as_deref(),
            Some("postgres://postgres:pg%21pw@127.0.0.1:15432/postgres?prefix=test_")
        );
        assert_eq!(
            connect_url(&settings, &endpoint.storage, DatabaseEngine::Mysql)
                .expect("no password")
                .as_deref(),
            Some("mysql://root@127.0.0.1:13306?prefix=test_")
        );
        let _ = std::fs::remove_dir_all(store.dir());
    }

    #[test]
    fn a_missing_secret_is_an_error_never_an_empty_password() {
        let store = scratch();
        let settings = MoverSettings::default()
            .with_secrets(store.clone())
            .expect("nothing to store");
        let storage = ServerStorage {
            postgres_url: Some("postgres://ferry@db-1/postgres".into()),
            postgres_credential: Some(CredentialRef::new("postgres_db-1_5432_ferry").expect("ok")),
            ..ServerStorage::default()
        };
        let missing =
            connect_url(&settings, &storage, DatabaseEngine::Postgres).expect_err("not stored");
        assert!(missing.contains("postgres_db-1_5432_ferry"), "{missing}");
        assert!(
            missing.contains(&store.dir().display().to_string()),
            "{missing}"
        );
        let without_store = connect_url(
            &MoverSettings::default(),
            &storage,
            DatabaseEngine::Postgres,
        )
        .expect_err("no store");
        assert!(
            without_store.contains("FERRY_SECRETS_DIR"),
            "{without_store}"
        );
    }
}
