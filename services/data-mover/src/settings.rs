//! The data mover's settings: concurrency limits, where test copies and new service
//! versions live, whether low-downtime methods may be used, the freeze hook.

use std::path::PathBuf;
use std::time::Duration;

use ferry_events::ServiceKind;

/// Command-line and environment settings of the data mover.
#[derive(Debug, Clone, clap::Args)]
pub struct DataMoverArgs {
    /// Transfers running at once, in all.
    #[arg(long = "transfers-total", env = "FERRY_TRANSFERS_TOTAL", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub transfers_total: u16,
    /// Transfers running at once from or to one server (its disks and network are
    /// shared with its live accounts). A server's accounts still move one at a time.
    #[arg(long = "transfers-per-server", env = "FERRY_TRANSFERS_PER_SERVER", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub transfers_per_server: u16,
    /// Directory for database dumps in progress (the system's temp dir by default).
    #[arg(long = "work-dir", env = "FERRY_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Parallel jobs of pg_dump/pg_restore.
    #[arg(long = "pg-jobs", env = "FERRY_PG_JOBS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    pub pg_jobs: u16,
    /// Use PostgreSQL logical replication and MariaDB binary-log catch-up where a
    /// database allows it (`false`: dump and restore while frozen, always).
    #[arg(long = "low-downtime", env = "FERRY_LOW_DOWNTIME", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub low_downtime: bool,
    /// PostgreSQL server receiving test copies (step 1), e.g.
    /// `postgres://ferry:secret@test-pg.hosting.example:5432/postgres`.
    #[arg(long = "test-postgres-url", env = "FERRY_TEST_POSTGRES_URL")]
    pub test_postgres_url: Option<String>,
    /// MySQL/MariaDB server receiving test copies.
    #[arg(long = "test-mysql-url", env = "FERRY_TEST_MYSQL_URL")]
    pub test_mysql_url: Option<String>,
    /// Address customers use to reach the test servers (host name shown with the
    /// copies' database names); the test server URLs' host by default.
    #[arg(long = "test-address", env = "FERRY_TEST_ADDRESS")]
    pub test_address: Option<String>,
    /// Servers running the new versions of services for optional migrations, as
    /// `service:version=url`, comma-separated, e.g.
    /// `postgresql:16=postgres://ferry@pg16.hosting.example/postgres`.
    #[arg(
        long = "service-servers",
        env = "FERRY_SERVICE_SERVERS",
        value_delimiter = ','
    )]
    pub service_servers: Vec<String>,
    /// Command run to stop (and restart) an account's own services around a cutover,
    /// with `FERRY_FREEZE_ACTION` (`freeze`, `thaw` or `retire`), `FERRY_ACCOUNT`,
    /// `FERRY_ACCOUNT_NAME` and `FERRY_SERVER` in its environment, e.g. a script
    /// pausing the account's PHP pool and deferring its mail.
    #[arg(long = "freeze-command", env = "FERRY_FREEZE_COMMAND")]
    pub freeze_command: Option<String>,
    /// Least seconds between two progress events of one transfer.
    #[arg(long = "progress-secs", env = "FERRY_PROGRESS_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub progress_secs: u64,
    /// Most seconds a cutover waits, before freezing, for the network service to
    /// hold the accounts' requests at the client server's redirect; past it the
    /// cutover fails (nothing frozen yet) and is tried again.
    #[arg(long = "hold-wait-secs", env = "FERRY_HOLD_WAIT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub hold_wait_secs: u64,
    /// Most paths a cutover's watch of a source tree records (from before its live
    /// sync to the freeze) for the frozen final sync to copy only those; beyond, or
    /// whenever the watch may have missed a change, the tree is synced and checked
    /// whole. 0: no watch, every tree whole.
    #[arg(long = "watch-max-changes", env = "FERRY_WATCH_MAX_CHANGES",
          default_value_t = crate::files::DEFAULT_MAX_CHANGES)]
    pub watch_max_changes: usize,
}

/// A server running one version of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceServer {
    /// The service.
    pub service: ServiceKind,
    /// Its version there, e.g. `"16"`.
    pub version: String,
    /// Its connection URL (without password once [`MoverSettings::with_secrets`]).
    pub url: String,
    /// The reference of its login's password in the secret store, if it has one.
    pub credential: Option<ferry_events::CredentialRef>,
}

/// The data mover's settings, checked.
#[derive(Debug, Clone)]
pub struct MoverSettings {
    /// See [`DataMoverArgs::transfers_total`].
    pub transfers_total: usize,
    /// See [`DataMoverArgs::transfers_per_server`].
    pub transfers_per_server: usize,
    /// See [`DataMoverArgs::work_dir`].
    pub work_dir: PathBuf,
    /// See [`DataMoverArgs::pg_jobs`].
    pub pg_jobs: u16,
    /// See [`DataMoverArgs::low_downtime`].
    pub low_downtime: bool,
    /// See [`DataMoverArgs::test_postgres_url`].
    pub test_postgres_url: Option<String>,
    /// See [`DataMoverArgs::test_mysql_url`].
    pub test_mysql_url: Option<String>,
    /// The reference of the PostgreSQL test server's password, once
    /// [`MoverSettings::with_secrets`] took it out of the URL.
    pub test_postgres_credential: Option<ferry_events::CredentialRef>,
    /// The same for the MySQL test server.
    pub test_mysql_credential: Option<ferry_events::CredentialRef>,
    /// Where database passwords are resolved from (`FERRY_SECRETS_DIR`): none, a
    /// transfer needing one fails saying so.
    pub secrets: Option<ferry_infra::secrets::SecretStore>,
    /// See [`DataMoverArgs::test_address`].
    pub test_address: Option<String>,
    /// See [`DataMoverArgs::service_servers`].
    pub service_servers: Vec<ServiceServer>,
    /// See [`DataMoverArgs::freeze_command`].
    pub freeze_command: Option<String>,
    /// See [`DataMoverArgs::progress_secs`].
    pub progress_every: Duration,
    /// See [`DataMoverArgs::hold_wait_secs`].
    pub hold_wait: Duration,
    /// See [`DataMoverArgs::watch_max_changes`].
    pub watch_max_changes: usize,
}

impl Default for MoverSettings {
    fn default() -> Self {
        Self {
            transfers_total: 4,
            transfers_per_server: 2,
            work_dir: std::env::temp_dir(),
            pg_jobs: 2,
            low_downtime: true,
            test_postgres_url: None,
            test_mysql_url: None,
            test_postgres_credential: None,
            test_mysql_credential: None,
            secrets: None,
            test_address: None,
            service_servers: vec![],
            freeze_command: None,
            progress_every: Duration::from_secs(5),
            hold_wait: Duration::from_secs(30),
            watch_max_changes: crate::files::DEFAULT_MAX_CHANGES,
        }
    }
}

impl DataMoverArgs {
    /// The settings these arguments describe.
    ///
    /// # Errors
    /// A service server not written `service:version=url`, naming an unknown service.
    pub fn settings(&self) -> Result<MoverSettings, String> {
        Ok(MoverSettings {
            transfers_total: usize::from(self.transfers_total),
            transfers_per_server: usize::from(self.transfers_per_server),
            work_dir: self.work_dir.clone().unwrap_or_else(std::env::temp_dir),
            pg_jobs: self.pg_jobs,
            low_downtime: self.low_downtime,
            test_postgres_url: self.test_postgres_url.clone(),
            test_mysql_url: self.test_mysql_url.clone(),
            test_postgres_credential: None,
            test_mysql_credential: None,
            secrets: None,
            test_address: self.test_address.clone(),
            service_servers: self
                .service_servers
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_service_server(s))
                .collect::<Result<_, _>>()?,
            freeze_command: self.freeze_command.clone().filter(|c| !c.trim().is_empty()),
            progress_every: Duration::from_secs(self.progress_secs),
            hold_wait: Duration::from_secs(self.hold_wait_secs),
            watch_max_changes: self.watch_max_changes,
        })
    }
}

/// `postgresql:16=postgres://…` as a [`ServiceServer`].
pub fn parse_service_server(text: &str) -> Result<ServiceServer, String> {
    let wrong = || format!("service server {text:?}: expected service:version=url");
    let (name, url) = text.trim().split_once('=').ok_or_else(wrong)?;
    let (service, version) = name.split_once(':').ok_or_else(wrong)?;
    let service: ServiceKind = serde_json::from_value(serde_json::Value::String(service.into()))
        .map_err(|_| format!("service server {text:?}: unknown service {service:?}"))?;
    if version.is_empty() || url.is_empty() {
        return Err(wrong());
    }
    Ok(ServiceServer {
        service,
        version: version.to_owned(),
        url: url.to_owned(),
        credential: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_servers_are_parsed_with_clear_errors() {
        let server = parse_service_server("postgresql:16=postgres://u@h/postgres").expect("valid");
        assert_eq!(server.service, ServiceKind::Postgresql);
        assert_eq!(server.version, "16");
        assert_eq!(server.url, "postgres://u@h/postgres");
        assert!(parse_service_server("postgresql=x").is_err());
        let unknown = parse_service_server("oracle:19=x").expect_err("unknown");
        assert!(unknown.contains("oracle"), "{unknown}");
    }
}
