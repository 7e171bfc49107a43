//! Value types shared by the events of several aggregates.

use serde::{Deserialize, Serialize};

use crate::credential::CredentialRef;
pub use crate::url_text::redact_url;

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in cents (hundredths of the currency unit); negative for a credit.
    #[serde(deserialize_with = "crate::whole_number::signed")]
    pub amount_cents: i64,
    /// The ISO 4217 currency code, e.g. `"EUR"`.
    pub currency: String,
}

/// `12.34 EUR`: hundredths of the currency unit, the sign first.
impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.amount_cents < 0 { "-" } else { "" };
        let cents = self.amount_cents.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:02} {}",
            cents / 100,
            cents % 100,
            self.currency
        )
    }
}

impl Money {
    /// `amount_cents` hundredths of `currency` (an ISO 4217 code).
    pub fn new(amount_cents: i64, currency: impl Into<String>) -> Self {
        Money {
            amount_cents,
            currency: currency.into(),
        }
    }
}

/// Where the data of a server's accounts lives. On a single machine these are local
/// directories and local database servers; in production, remote hosts.
///
/// No password is recorded: a database URL names the login, and the login's password
/// is in the secret store under the engine's credential reference (events of the
/// schema versions before references carried it in the URL; their upcasters take it
/// out, see [`crate::credential`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerStorage {
    /// Directory holding one sub-directory of files per account, e.g.
    /// `/srv/ferry/srv-0042/files` (or `host:/path` for a remote server): absolute,
    /// normalised, no system directory, inside the roots ferry is configured to
    /// allow (`FERRY_STORAGE_ROOTS`); see [`crate::input::check_storage_root`].
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^([A-Za-z0-9_][A-Za-z0-9_.-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*:)?(/[A-Za-z0-9._][A-Za-z0-9._-]*)+$",
            max_length = 1024
        )
    )]
    pub files_root: String,
    /// Directory holding one sub-directory of mailboxes per account (same rules).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^([A-Za-z0-9_][A-Za-z0-9_.-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*:)?(/[A-Za-z0-9._][A-Za-z0-9._-]*)+$",
            max_length = 1024
        )
    )]
    pub mail_root: String,
    /// Connection URL of the server's PostgreSQL instance, if it runs one, without
    /// password, e.g. `postgres://ferry@db-0042:5432/postgres` (parameters: `prefix`,
    /// `sslmode`, `connect_timeout`; see [`crate::input::parse_database_url`]). The
    /// API and fleet files also take it with its password, which ferry moves to its
    /// secret store before anything is recorded.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^postgres(ql)?://[^\\s`$;|<>(){}'\"\\\\!*#^]+$",
            max_length = 1024
        )
    )]
    pub postgres_url: Option<String>,
    /// Connection URL of the server's MySQL/MariaDB instance, if it runs one, e.g.
    /// `mysql://ferry@db-0042:3306` (parameter: `prefix`).
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^(mysql|mariadb)://[^\\s`$;|<>(){}'\"\\\\!*#^]+$",
            max_length = 1024
        )
    )]
    pub mysql_url: Option<String>,
    /// The name in ferry's secret store of the PostgreSQL login's password, e.g.
    /// `postgres_db-0042_5432_ferry`; none when the login needs no password. Given
    /// to the API, it must name a stored secret.
    pub postgres_credential: Option<CredentialRef>,
    /// The same for the MySQL/MariaDB login, e.g. `mysql_db-0042_3306_ferry`.
    pub mysql_credential: Option<CredentialRef>,
}

impl ServerStorage {
    /// The same places with the database URLs' passwords masked (`***`): what an
    /// API answer, a read model or a log line may show. Recorded URLs hold no
    /// password; this masks one that a value from elsewhere (a setting, a request
    /// not yet checked) would hold.
    pub fn redacted(&self) -> ServerStorage {
        ServerStorage {
            files_root: self.files_root.clone(),
            mail_root: self.mail_root.clone(),
            postgres_url: self.postgres_url.as_deref().map(redact_url),
            mysql_url: self.mysql_url.as_deref().map(redact_url),
            postgres_credential: self.postgres_credential.clone(),
            mysql_credential: self.mysql_credential.clone(),
        }
    }

    /// The URL and credential reference of `engine`'s server, if the storage has one.
    pub fn database(&self, engine: DatabaseEngine) -> Option<(&str, Option<&CredentialRef>)> {
        match engine {
            DatabaseEngine::Postgres => self
                .postgres_url
                .as_deref()
                .map(|url| (url, self.postgres_credential.as_ref())),
            DatabaseEngine::Mysql => self
                .mysql_url
                .as_deref()
                .map(|url| (url, self.mysql_credential.as_ref())),
        }
    }
}

/// A database engine offered to accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DatabaseEngine {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

/// A version of a programming language runtime, e.g. PHP 8.1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LanguageVersion {
    /// The language, lowercase, e.g. `"php"`, `"python"`, `"ruby"`, `"nodejs"`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._+-]+$", max_length = 64)
    )]
    pub language: String,
    /// The version, e.g. `"8.1"`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._+-]+$", max_length = 64)
    )]
    pub version: String,
}

/// A version of a database engine, e.g. PostgreSQL 16.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatabaseVersion {
    /// The engine.
    pub engine: DatabaseEngine,
    /// The version, e.g. `"16"` or `"10.11"`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9._+-]+$", max_length = 64)
    )]
    pub version: String,
}

/// True when `text` has nothing but spaces: Unicode's White_Space characters and the
/// information separators U+001C to U+001F, which the regular expression `\S` of
/// the description (as Python and most JSON Schema tools read it) also counts as
/// spaces. Every "must not be blank" rule uses this, so the API and its description
/// agree on what is blank.
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// A short name that programs compare: a language (`php`), a version (`8.3`,
/// `10.11`, `16`): letters, digits, `.`, `_`, `+`, `-`, at most 64.
pub const TOKEN_PATTERN: &str = "^[A-Za-z0-9._+-]+$";

/// Checks a [`TOKEN_PATTERN`] value; the error names `field`.
pub fn validate_token(field: &str, value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{field}: {value:?} is not 1 to 64 letters, digits, '.', '_', '+' or '-'"
        ))
    }
}

/// Checks a server's addresses: at least one, each a valid IPv4 or IPv6 address in
/// its list. The error names the list and the address.
pub fn validate_addresses(ipv4: &[String], ipv6: &[String]) -> Result<(), String> {
    if ipv4.is_empty() && ipv6.is_empty() {
        return Err("a server needs at least one IP address".into());
    }
    if let Some(bad) = ipv4
        .iter()
        .find(|ip| ip.parse::<std::net::Ipv4Addr>().is_err())
    {
        return Err(format!("ipv4: {bad:?} is not an IPv4 address"));
    }
    if let Some(bad) = ipv6
        .iter()
        .find(|ip| ip.parse::<std::net::Ipv6Addr>().is_err())
    {
        return Err(format!("ipv6: {bad:?} is not an IPv6 address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_text_is_what_the_pattern_calls_blank() {
        for blank in ["", " ", "\t\n", "\u{a0}\u{2028}", "\u{1c}\u{1f}"] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for text in ["x", " disk fault ", "移行"] {
            assert!(!is_blank(text), "{text:?}");
        }
    }

    #[test]
    fn addresses_are_checked_and_named() {
        let v4 = |s: &str| vec![s.to_owned()];
        assert!(validate_addresses(&v4("192.0.2.1"), &v4("2001:db8::1")).is_ok());
        assert!(validate_addresses(&[], &[]).is_err_and(|e| e.contains("at least one")));
        assert!(validate_addresses(&v4("300.1.1.1"), &[]).is_err_and(|e| e.contains("ipv4")));
        assert!(validate_addresses(&[], &v4("nope")).is_err_and(|e| e.contains("ipv6")));
    }
}
