//! Value types shared by the events of several aggregates.

use serde::{Deserialize, Serialize};

/// An amount of money.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in cents (hundredths of the currency unit); negative for a credit.
    pub amount_cents: i64,
    /// The ISO 4217 currency code, e.g. `"EUR"`.
    pub currency: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerStorage {
    /// Directory holding one sub-directory of files per account, e.g.
    /// `/srv/ferry/srv-0042/files` (or `host:/path` for a remote server).
    pub files_root: String,
    /// Directory holding one sub-directory of mailboxes per account.
    pub mail_root: String,
    /// Connection URL of the server's PostgreSQL instance, if it runs one, e.g.
    /// `postgres://ferry@db-0042:5432/postgres`.
    pub postgres_url: Option<String>,
    /// Connection URL of the server's MySQL/MariaDB instance, if it runs one, e.g.
    /// `mysql://ferry@db-0042:3306`.
    pub mysql_url: Option<String>,
}

/// A database engine offered to accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseEngine {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

/// A version of a programming language runtime, e.g. PHP 8.1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LanguageVersion {
    /// The language, lowercase, e.g. `"php"`, `"python"`, `"ruby"`, `"nodejs"`.
    pub language: String,
    /// The version, e.g. `"8.1"`.
    pub version: String,
}

/// A version of a database engine, e.g. PostgreSQL 16.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatabaseVersion {
    /// The engine.
    pub engine: DatabaseEngine,
    /// The version, e.g. `"16"` or `"10.11"`.
    pub version: String,
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
    fn addresses_are_checked_and_named() {
        let v4 = |s: &str| vec![s.to_owned()];
        assert!(validate_addresses(&v4("192.0.2.1"), &v4("2001:db8::1")).is_ok());
        assert!(validate_addresses(&[], &[]).is_err_and(|e| e.contains("at least one")));
        assert!(validate_addresses(&v4("300.1.1.1"), &[]).is_err_and(|e| e.contains("ipv4")));
        assert!(validate_addresses(&[], &v4("nope")).is_err_and(|e| e.contains("ipv6")));
    }
}
