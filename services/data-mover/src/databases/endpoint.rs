//! Connection URLs turned into what the drivers and tools need: host, port, user, and a
//! password passed only through the environment (`PGPASSWORD`, `MYSQL_PWD`).

use std::str::FromStr;

use tokio::process::Command;

use super::DbError;

/// One database server, as reached by the command-line tools.
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
        Ok((endpoint, config))
    }

    /// A MySQL/MariaDB endpoint from `mysql://user[:password]@host[:port][/db]`.
    pub fn mysql(url: &str) -> Result<Self, DbError> {
        let invalid = |reason: &str| DbError::InvalidUrl {
            reason: format!("{reason} (expected mysql://user[:password]@host[:port])"),
        };
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or_else(|| invalid("not a mysql:// URL"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(decode(u)), Some(decode(p))),
                None => (Some(decode(c)), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| invalid("invalid port"))?),
            None => (hostport, 3306),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            user,
            password,
        })
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

/// Percent-decoding of a URL's user or password.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        Ok(())
    }

    #[test]
    fn parses_postgres_urls_and_hides_passwords() -> Result<(), DbError> {
        let (e, _) = Endpoint::postgres("postgres://postgres:secret@127.0.0.1:5432/postgres")?;
        assert_eq!(e.display(), "127.0.0.1:5432");
        assert_eq!(e.password.as_deref(), Some("secret"));
        assert!(!format!("{e:?}").contains("secret"));
        Ok(())
    }
}
