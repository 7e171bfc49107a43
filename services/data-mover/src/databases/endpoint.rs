//! Connection URLs turned into what the drivers and tools need: host, port, user, and a
//! password passed to the tools only through the environment (`PGPASSWORD`,
//! `MYSQL_PWD`). PostgreSQL URLs are read by tokio-postgres (which also takes libpq's
//! `key=value` form), MySQL/MariaDB ones by the `url` crate.

use std::str::FromStr;

use percent_encoding::percent_decode_str;
use tokio::process::Command;
use url::{Host, Url};

use super::DbError;

/// One database server, as reached by the drivers and the command-line tools.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// Host name, address, or (PostgreSQL) socket directory.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login, if given.
    pub user: Option<String>,
    /// Password, if given; never logged nor put on a command line.
    pub password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Endpoint {
    /// `host:port`, for messages.
    pub fn display(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A PostgreSQL endpoint from a `postgres://` URL (or key=value string).
    pub fn postgres(url: &str) -> Result<(Self, tokio_postgres::Config), DbError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| DbError::InvalidUrl {
            reason: format!("not a PostgreSQL URL: {e}"),
        })?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let endpoint = Self {
            host,
            port,
            user: config.get_user().map(str::to_owned),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        };
        endpoint.as_tool_arguments()?;
        Ok((endpoint, config))
    }

    /// A MySQL/MariaDB endpoint from `mysql://user[:password]@host[:port][/db]` (or
    /// `mariadb://`); the path and query are not the server's business and are ignored.
    pub fn mysql(url: &str) -> Result<Self, DbError> {
        let invalid = |reason: &str| DbError::InvalidUrl {
            reason: format!("{reason} (expected mysql://user[:password]@host[:port])"),
        };
        // The parser's message never quotes the URL, so no password reaches a log.
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(invalid("not a mysql:// URL"));
        }
        let host = match parsed.host() {
            // The tools and the driver want an IPv6 address without its brackets.
            Some(Host::Ipv6(address)) => address.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let user = Some(decode(parsed.username())).filter(|u| !u.is_empty());
        let endpoint = Self {
            host,
            port: parsed.port().unwrap_or(3306),
            user,
            password: parsed.password().map(decode),
        };
        endpoint.as_tool_arguments()?;
        Ok(endpoint)
    }

    /// Refuses a host or a user that a tool would read as an option (`-o…`), or that
    /// holds a control character: they go on the tools' command lines. The URLs of
    /// the inventory are checked strictly before they are recorded
    /// ([`ferry_events::input::parse_database_url`]); this catches the others
    /// (settings, events recorded before those checks).
    fn as_tool_arguments(&self) -> Result<(), DbError> {
        let unsafe_text = |text: &str| text.starts_with('-') || text.chars().any(char::is_control);
        if unsafe_text(&self.host) || self.user.as_deref().is_some_and(unsafe_text) {
            return Err(DbError::InvalidUrl {
                reason: "its host or user starts with '-' or holds a control character: \
                         the tools would read it as an option"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// Adds `-h/-p/-U` and `PGPASSWORD` to a PostgreSQL tool.
    pub fn postgres_args(&self, cmd: &mut Command) {
        cmd.arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("--no-password");
        if let Some(user) = &self.user {
            cmd.arg("-U").arg(user);
        }
        cmd.env_remove("PGPASSWORD");
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
    }

    /// Adds `--host/--port/--user`, TCP, and `MYSQL_PWD` to a MariaDB tool.
    pub fn mysql_args(&self, cmd: &mut Command) {
        cmd.arg("--protocol=TCP")
            .arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port));
        if let Some(user) = &self.user {
            cmd.arg(format!("--user={user}"));
        }
        cmd.env_remove("MYSQL_PWD");
        if let Some(password) = &self.password {
            cmd.env("MYSQL_PWD", password);
        }
    }
}

/// A URL's user or password, percent-decoded (`p%40ss` → `p@ss`).
fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mysql_urls() -> Result<(), DbError> {
        let e = Endpoint::mysql("mysql://root@127.0.0.1:3306")?;
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 3306));
        assert_eq!(e.user.as_deref(), Some("root"));
        assert_eq!(e.password, None);
        let e = Endpoint::mysql("mysql://ferry:p%40ss@db-0042/shop")?;
        assert_eq!((e.host.as_str(), e.port), ("db-0042", 3306));
        assert_eq!(e.password.as_deref(), Some("p@ss"));
        assert!(Endpoint::mysql("postgres://x@y").is_err());
        assert!(Endpoint::mysql("mysql://x@y:port").is_err());
        assert!(Endpoint::mysql("mysql:///shop").is_err());
        let e = Endpoint::mysql("mariadb://[::1]:3307?prefix=t_")?;
        assert_eq!((e.host.as_str(), e.port, e.user), ("::1", 3307, None));
        assert!(Endpoint::mysql("mysql://-oProxyCommand%3Dsh@db").is_err());
        let err = Endpoint::mysql("mysql://root:secret@db:99999").map_err(|e| e.to_string());
        assert!(matches!(&err, Err(m) if !m.contains("secret")), "{err:?}");
        Ok(())
    }

    #[test]
    fn parses_postgres_urls_and_hides_passwords() -> Result<(), DbError> {
        let (e, _) = Endpoint::postgres("postgres://postgres:secret@127.0.0.1:5432/postgres")?;
        assert_eq!(e.display(), "127.0.0.1:5432");
        assert_eq!(e.password.as_deref(), Some("secret"));
        assert!(!format!("{e:?}").contains("secret"));
        assert!(Endpoint::postgres("host=-oProxyCommand=sh user=u").is_err());
        assert!(Endpoint::postgres("postgres://-U@db/x").is_err());
        Ok(())
    }
}
