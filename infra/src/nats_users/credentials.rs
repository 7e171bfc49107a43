//! Where each NATS user's nkey seed comes from, and reading it.
//!
//! A user's seed is read from the file named by its own variable
//! (`FERRY_NATS_<USER>_NKEY_FILE`, the usual `*_FILE` convention: a container's
//! secret), else from `<user>.nk` in the credentials directory
//! (`FERRY_NATS_CREDENTIALS_DIR`, which `scripts/stack up` fills). A user with
//! neither, a file that cannot be read, or one that holds no user seed, is an error
//! naming the file (never its content): ferry never falls back to connecting
//! without credentials.

use super::NatsUser;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A user's credential could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Neither a file nor a directory is configured.
    #[error(
        "no NATS credential for the {user} user: set FERRY_NATS_CREDENTIALS_DIR (a directory holding {file_name}) or {variable} (`scripts/stack up` writes them and .stack/env names the directory)"
    )]
    NotConfigured {
        /// The user.
        user: NatsUser,
        /// Its file name in a credentials directory.
        file_name: String,
        /// The variable naming its file.
        variable: String,
    },
    /// The file could not be read.
    #[error("cannot read the NATS credential of the {user} user from {}: {reason}", file.display())]
    Unreadable {
        /// The user.
        user: NatsUser,
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file does not hold a user's nkey seed.
    #[error(
        "{} does not hold a NATS user nkey seed for the {user} user (one line of 58 characters starting with SU)", file.display()
    )]
    Malformed {
        /// The user.
        user: NatsUser,
        /// The file.
        file: PathBuf,
    },
}

/// Where the users' seeds are: a directory, and files per user that win over it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsCredentials {
    dir: Option<PathBuf>,
    files: BTreeMap<NatsUser, PathBuf>,
}

impl NatsCredentials {
    /// Every user's seed as `<user>.nk` in `dir`.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            files: BTreeMap::new(),
        }
    }

    /// Nothing configured yet (add a directory or files).
    pub fn none() -> Self {
        Self::default()
    }

    /// The directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// `user`'s seed from `file`, whatever the directory holds.
    pub fn with_file(mut self, user: NatsUser, file: impl Into<PathBuf>) -> Self {
        self.files.insert(user, file.into());
        self
    }

    /// The file `user`'s seed is read from.
    pub fn file_of(&self, user: NatsUser) -> Result<PathBuf, CredentialError> {
        if let Some(file) = self.files.get(&user) {
            return Ok(file.clone());
        }
        match &self.dir {
            Some(dir) => Ok(dir.join(user.file_name())),
            None => Err(CredentialError::NotConfigured {
                user,
                file_name: user.file_name(),
                variable: user.file_variable(),
            }),
        }
    }

    /// Reads `user`'s seed.
    pub fn load(&self, user: NatsUser) -> Result<NatsIdentity, CredentialError> {
        let file = self.file_of(user)?;
        let text = std::fs::read_to_string(&file).map_err(|e| CredentialError::Unreadable {
            user,
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let seed = text.trim();
        if !is_user_seed(seed) {
            return Err(CredentialError::Malformed { user, file });
        }
        warn_if_exposed(user, &file);
        Ok(NatsIdentity {
            user,
            seed: seed.to_owned(),
            file,
        })
    }
}

/// An nkey user seed: `SU` and 56 more base32 characters (the client checks its
/// checksum when it signs).
fn is_user_seed(text: &str) -> bool {
    text.len() == 58
        && text.starts_with("SU")
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// A seed other users of the machine can read is logged (not refused: a container's
/// secret may be mounted so).
fn warn_if_exposed(user: NatsUser, file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                nats_user = %user,
                file = %file.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the NATS credential is readable by other users of the machine: chmod 600 it"
            );
        }
    }
}

/// A user and its seed, read from a file. The seed is never shown (`Debug` hides it).
#[derive(Clone)]
pub struct NatsIdentity {
    user: NatsUser,
    seed: String,
    file: PathBuf,
}

impl NatsIdentity {
    /// The user.
    pub fn user(&self) -> NatsUser {
        self.user
    }

    /// The file its seed was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The seed, for the client to sign the server's nonce.
    pub(crate) fn seed(&self) -> &str {
        &self.seed
    }
}

impl std::fmt::Debug for NatsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsIdentity")
            .field("user", &self.user)
            .field("file", &self.file)
            .field("seed", &"<hidden>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A seed made for this test only, registered with no server.
    const SEED: &str = "SUAJSDKZZLUTGMXFUVPK6K62OKMJGZD542EDI3ZSPXLA3RT7B3OK3XKZXE";

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ferry-credentials-test-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        dir
    }

    #[test]
    fn a_seed_is_read_from_the_directory_or_its_own_file_and_never_shown() {
        let dir = dir();
        std::fs::write(dir.join("accounts.nk"), format!("{SEED}\n")).expect("written");
        std::fs::write(dir.join("elsewhere"), SEED).expect("written");
        let credentials = NatsCredentials::from_dir(&dir);
        let identity = credentials.load(NatsUser::Accounts).expect("read");
        assert_eq!(identity.user(), NatsUser::Accounts);
        assert_eq!(identity.seed(), SEED);
        assert!(!format!("{identity:?}").contains(SEED));
        let credentials = credentials.with_file(NatsUser::Billing, dir.join("elsewhere"));
        assert_eq!(
            credentials.load(NatsUser::Billing).expect("read").file(),
            dir.join("elsewhere")
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_missing_unreadable_or_wrong_credential_is_an_error_naming_the_file() {
        let error = NatsCredentials::none()
            .load(NatsUser::DataMover)
            .expect_err("nothing configured")
            .to_string();
        assert!(
            error.contains("FERRY_NATS_CREDENTIALS_DIR")
                && error.contains("FERRY_NATS_DATA_MOVER_NKEY_FILE")
                && error.contains("data-mover.nk"),
            "{error}"
        );
        let dir = dir();
        let error = NatsCredentials::from_dir(&dir)
            .load(NatsUser::Network)
            .expect_err("no file")
            .to_string();
        assert!(
            error.contains(&dir.join("network.nk").display().to_string()),
            "{error}"
        );
        let password = "hunter2-not-a-seed";
        std::fs::write(dir.join("network.nk"), password).expect("written");
        let error = NatsCredentials::from_dir(&dir)
            .load(NatsUser::Network)
            .expect_err("not a seed")
            .to_string();
        assert!(
            error.contains("network.nk") && !error.contains(password),
            "{error}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
