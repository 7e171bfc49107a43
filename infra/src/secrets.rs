//! The secret store: the passwords of database logins, out of the event log and the
//! read models, which carry only their references ([`CredentialRef`]).
//!
//! A directory (`FERRY_SECRETS_DIR`, `.ferry/secrets` by default) of one file per
//! reference, the file's content the secret (a trailing newline is not part of it).
//! The directory is made mode 0700, each file written mode 0600 through a temporary
//! file renamed over it, so a reader sees the old secret or the new one, never half
//! of one. The edge writes a password it is given ([`SecretStore::store`]) before
//! the command that names it is decided; the data mover reads it
//! ([`SecretStore::resolve`]) when it connects. A missing secret is an error naming
//! the reference and the directory, never an empty password.

pub mod edge;

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

pub use ferry_events::credential::{CredentialRef, Secret};

/// The default directory of the secret store, under the working directory.
pub const DEFAULT_SECRETS_DIR: &str = ".ferry/secrets";

/// What went wrong with a secret. No variant holds the secret itself.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret under this reference.
    #[error(
        "no secret {reference} in the secret store {dir}: write the password of that \
         login to the file {dir}/{reference} (mode 0600, the password alone), or register \
         the server again with the password in its URL, which stores it there \
         (FERRY_SECRETS_DIR names the store)"
    )]
    Missing {
        /// The reference asked for.
        reference: CredentialRef,
        /// The store's directory.
        dir: String,
    },
    /// The secret's file is empty: ferry never connects with an empty password.
    #[error(
        "the secret {reference} in the secret store {dir} is empty: write the login's \
         password to {dir}/{reference}"
    )]
    Empty {
        /// The reference.
        reference: CredentialRef,
        /// The store's directory.
        dir: String,
    },
    /// The secret's file is not UTF-8 text.
    #[error("the secret {reference} in the secret store {dir} is not UTF-8 text")]
    NotText {
        /// The reference.
        reference: CredentialRef,
        /// The store's directory.
        dir: String,
    },
    /// Reading or writing the store failed.
    #[error("the secret store {dir}: cannot {action}: {source}")]
    Io {
        /// The store's directory.
        dir: String,
        /// What was being done, e.g. `write postgres_db_5432_ferry`.
        action: String,
        /// The system's error.
        source: std::io::Error,
    },
}

/// A directory of secrets, one file per reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretStore {
    dir: PathBuf,
}

impl SecretStore {
    /// The store in `dir` (nothing is read or made until it is used).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn shown_dir(&self) -> String {
        self.dir.display().to_string()
    }

    fn io(&self, action: String) -> impl FnOnce(std::io::Error) -> SecretError + '_ {
        move |source| SecretError::Io {
            dir: self.shown_dir(),
            action,
            source,
        }
    }

    /// Stores `secret` under `reference`, replacing what was there: the directory
    /// made (0700) if need be, the file written whole (0600) then renamed into place.
    pub fn store(&self, reference: &CredentialRef, secret: &Secret) -> Result<(), SecretError> {
        if secret.expose().is_empty() {
            return Err(SecretError::Empty {
                reference: reference.clone(),
                dir: self.shown_dir(),
            });
        }
        self.make_dir()?;
        let target = self.dir.join(reference.as_str());
        // A name no reference can have (they start with a letter or a digit).
        let temporary = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            reference.as_str(),
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(secret.expose().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&temporary, &target)?;
            // The rename itself, durable.
            fs::File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written.map_err(self.io(format!("write {reference}")))
    }

    /// The directory, made with mode 0700 if it is missing.
    fn make_dir(&self) -> Result<(), SecretError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(self.io("create the directory".into()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(self.io("make the directory private (0700)".into()))
    }

    /// The secret stored under `reference`, without its trailing newline.
    pub fn resolve(&self, reference: &CredentialRef) -> Result<Secret, SecretError> {
        let path = self.dir.join(reference.as_str());
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SecretError::Missing {
                    reference: reference.clone(),
                    dir: self.shown_dir(),
                });
            }
            Err(e) => return Err(self.io(format!("read {reference}"))(e)),
        };
        let text = String::from_utf8(bytes).map_err(|_| SecretError::NotText {
            reference: reference.clone(),
            dir: self.shown_dir(),
        })?;
        let secret = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if secret.is_empty() {
            return Err(SecretError::Empty {
                reference: reference.clone(),
                dir: self.shown_dir(),
            });
        }
        Ok(Secret::new(secret))
    }

    /// Whether a secret is stored under `reference` (and can be read).
    pub fn contains(&self, reference: &CredentialRef) -> Result<(), SecretError> {
        self.resolve(reference).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> CredentialRef {
        CredentialRef::new(name).expect("valid")
    }

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("ferry-secrets-{}", uuid::Uuid::now_v7()))
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_private_files_read_back_without_their_newline() {
        let root = scratch();
        let store = SecretStore::new(root.join("nested/secrets"));
        let name = reference("postgres_db-1_5432_ferry");
        store
            .store(&name, &Secret::new("p@ss word"))
            .expect("stored");
        assert_eq!(mode(store.dir()), 0o700);
        let file = store.dir().join(name.as_str());
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::read_to_string(&file).expect("file"), "p@ss word\n");
        assert_eq!(store.resolve(&name).expect("read").expose(), "p@ss word");
        // Replaced whole, and nothing left beside it.
        store.store(&name, &Secret::new("new")).expect("replaced");
        assert_eq!(store.resolve(&name).expect("read").expose(), "new");
        let entries: Vec<_> = fs::read_dir(store.dir()).expect("dir").collect();
        assert_eq!(entries.len(), 1, "no temporary file left");
        // Written by hand without a newline, or with CRLF.
        fs::write(&file, "by-hand").expect("write");
        assert_eq!(store.resolve(&name).expect("read").expose(), "by-hand");
        fs::write(&file, "crlf\r\n").expect("write");
        assert_eq!(store.resolve(&name).expect("read").expose(), "crlf");
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn a_missing_or_empty_secret_is_an_error_saying_what_to_do() {
        let root = scratch();
        let store = SecretStore::new(&root);
        let name = reference("mysql_db_3306_root");
        let missing = store.resolve(&name).expect_err("missing").to_string();
        assert!(missing.contains("mysql_db_3306_root"), "{missing}");
        assert!(missing.contains(&root.display().to_string()), "{missing}");
        assert!(missing.contains("write the password"), "{missing}");
        assert!(
            store.store(&name, &Secret::new("")).is_err(),
            "no empty password"
        );
        fs::create_dir_all(&root).expect("dir");
        fs::write(root.join(name.as_str()), "\n").expect("write");
        let empty = store.resolve(&name).expect_err("empty").to_string();
        assert!(empty.contains("is empty"), "{empty}");
        assert!(store.contains(&name).is_err());
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn errors_and_debug_never_show_the_secret() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        let root = scratch();
        fs::create_dir_all(root.join("x")).expect("dir");
        // The target is a directory: the rename fails, the error names no secret.
        let store = SecretStore::new(&root);
        let error = store
            .store(&reference("x"), &secret)
            .expect_err("a directory is in the way");
        assert!(!format!("{error} {error:?}").contains("hunter2"));
        let _ = fs::remove_dir_all(root);
    }
}
