//! Settings of a ferry process, from command-line flags or environment variables, each
//! with a documented default (`ferry up --help` lists them). A bad value is refused at
//! start with the setting's name and why.

use std::net::SocketAddr;

/// Where the event log is.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// NATS server with JetStream.
    #[arg(
        long = "nats-url",
        env = "FERRY_NATS_URL",
        default_value = "nats://127.0.0.1:14222"
    )]
    pub nats_url: String,
    /// JetStream stream holding every event.
    #[arg(long = "stream", env = "FERRY_STREAM", default_value = "FERRY_EVENTS", value_parser = parse_stream_name)]
    pub stream: String,
    /// First token of every ferry subject.
    #[arg(long = "subject-prefix", env = "FERRY_SUBJECT_PREFIX", default_value = "ferry", value_parser = parse_subject_token)]
    pub subject_prefix: String,
    /// Seconds the server remembers message ids to drop duplicates.
    #[arg(long = "duplicate-window-secs", env = "FERRY_DUPLICATE_WINDOW_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duplicate_window_secs: u64,
    /// Runs ferry as if it were this much later (`0`, or a whole number with s, m, h
    /// or d, e.g. `16d`): events are recorded and timers fire by the shifted clock.
    /// For rehearsing a migration's billing on a test fleet, never in production.
    #[arg(long = "clock-offset", env = "FERRY_CLOCK_OFFSET", default_value = "0", value_parser = crate::clock::parse_offset)]
    pub clock_offset: chrono::Duration,
    /// Who connects to NATS: each service's credential.
    #[command(flatten)]
    pub credentials: NatsCredentialArgs,
}

/// Where each NATS user's nkey seed is read from (see [`crate::nats_users`]): a
/// user's own file wins over `<user>.nk` in the directory.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsCredentialArgs {
    /// Directory holding each NATS user's nkey seed as `<user>.nk` (setup, accounts,
    /// transit-pool, data-mover, network, billing, notifications, access, read); `scripts/stack
    /// up` creates one and names it in .stack/env.
    #[arg(long = "nats-credentials-dir", env = "FERRY_NATS_CREDENTIALS_DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// The setup user's seed file (creates and updates the stream at start).
    #[arg(long = "nats-setup-nkey-file", env = "FERRY_NATS_SETUP_NKEY_FILE")]
    pub setup: Option<std::path::PathBuf>,
    /// The accounts service's seed file.
    #[arg(
        long = "nats-accounts-nkey-file",
        env = "FERRY_NATS_ACCOUNTS_NKEY_FILE"
    )]
    pub accounts: Option<std::path::PathBuf>,
    /// The transit pool's seed file.
    #[arg(
        long = "nats-transit-pool-nkey-file",
        env = "FERRY_NATS_TRANSIT_POOL_NKEY_FILE"
    )]
    pub transit_pool: Option<std::path::PathBuf>,
    /// The data mover's seed file.
    #[arg(
        long = "nats-data-mover-nkey-file",
        env = "FERRY_NATS_DATA_MOVER_NKEY_FILE"
    )]
    pub data_mover: Option<std::path::PathBuf>,
    /// The network service's seed file.
    #[arg(long = "nats-network-nkey-file", env = "FERRY_NATS_NETWORK_NKEY_FILE")]
    pub network: Option<std::path::PathBuf>,
    /// The billing service's seed file.
    #[arg(long = "nats-billing-nkey-file", env = "FERRY_NATS_BILLING_NKEY_FILE")]
    pub billing: Option<std::path::PathBuf>,
    /// The notifications service's seed file.
    #[arg(
        long = "nats-notifications-nkey-file",
        env = "FERRY_NATS_NOTIFICATIONS_NKEY_FILE"
    )]
    pub notifications: Option<std::path::PathBuf>,
    /// The access service's seed file (API tokens).
    #[arg(long = "nats-access-nkey-file", env = "FERRY_NATS_ACCESS_NKEY_FILE")]
    pub access: Option<std::path::PathBuf>,
    /// The read side's seed file (queries, audits, the log index, health).
    #[arg(long = "nats-read-nkey-file", env = "FERRY_NATS_READ_NKEY_FILE")]
    pub read: Option<std::path::PathBuf>,
}

impl NatsCredentialArgs {
    /// The credentials these arguments describe.
    pub fn credentials(&self) -> crate::nats_users::NatsCredentials {
        use crate::nats_users::{NatsCredentials, NatsUser};
        let mut credentials = match &self.dir {
            Some(dir) => NatsCredentials::from_dir(dir),
            None => NatsCredentials::none(),
        };
        for user in NatsUser::ALL {
            let file = match user {
                NatsUser::Setup => &self.setup,
                NatsUser::Accounts => &self.accounts,
                NatsUser::TransitPool => &self.transit_pool,
                NatsUser::DataMover => &self.data_mover,
                NatsUser::Network => &self.network,
                NatsUser::Billing => &self.billing,
                NatsUser::Notifications => &self.notifications,
                NatsUser::Access => &self.access,
                NatsUser::Read => &self.read,
            };
            if let Some(file) = file {
                credentials = credentials.with_file(*user, file);
            }
        }
        credentials
    }
}

impl LogArgs {
    /// The event log settings these arguments describe.
    pub fn settings(&self) -> crate::event_log::LogSettings {
        crate::event_log::LogSettings {
            stream: self.stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            duplicate_window: std::time::Duration::from_secs(self.duplicate_window_secs),
            clock: crate::clock::Clock::offset_by(self.clock_offset),
        }
    }
}

/// Where the read models are.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL holding the read models.
    #[arg(
        long = "database-url",
        env = "FERRY_DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:15432/ferry"
    )]
    pub database_url: String,
    /// Most connections the process opens.
    #[arg(long = "database-pool-size", env = "FERRY_DATABASE_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub pool_size: u16,
}

/// Logs and traces.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `ferry_infra=debug,info`.
    /// The DNS server's library logs every query at `info`: kept to warnings.
    #[arg(
        long = "log",
        env = "FERRY_LOG",
        default_value = "info,hickory_server=warn"
    )]
    pub log: String,
    /// Log format.
    #[arg(long = "log-format", env = "FERRY_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint receiving traces (e.g. http://127.0.0.1:4317); unset: traces are
    /// propagated but not exported.
    #[arg(long = "otlp-endpoint", env = "FERRY_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The process's HTTP endpoint and shutdown.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address of the HTTP endpoint (health, readiness, metrics, API).
    #[arg(
        long = "http-addr",
        env = "FERRY_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: SocketAddr,
    /// Seconds given to in-flight work to finish after SIGTERM/SIGINT.
    #[arg(long = "shutdown-grace-secs", env = "FERRY_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,
}

/// What ferry takes from outside: the largest request body, and where storage roots
/// may lie.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Largest request body the API reads, in bytes; a larger one is answered 413.
    #[arg(long = "max-body-bytes", env = "FERRY_MAX_BODY_BYTES", default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1024..=67_108_864))]
    pub max_body_bytes: u64,
    /// Directories the servers' storage roots (`files_root`, `mail_root`) must lie
    /// in, separated by `:`: absolute, never `/` nor a system directory. A server or
    /// transit server with a root elsewhere is refused (422).
    #[arg(long = "storage-roots", env = "FERRY_STORAGE_ROOTS", default_value = ferry_events::input::DEFAULT_ALLOWED_ROOTS, value_parser = parse_storage_roots)]
    pub storage_roots: AllowedRoots,
}

impl InputArgs {
    /// The largest body, as a byte count for the HTTP layer.
    pub fn max_body(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }
}

/// The directories storage roots may lie in ([`InputArgs::storage_roots`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRoots(pub Vec<String>);

impl Default for AllowedRoots {
    fn default() -> Self {
        parse_storage_roots(ferry_events::input::DEFAULT_ALLOWED_ROOTS)
            .unwrap_or_else(|_| AllowedRoots(Vec::new()))
    }
}

impl AllowedRoots {
    /// Refuses a root outside every allowed directory, naming the field and the
    /// directories allowed; the other checks of a root are the deciders'
    /// ([`ferry_events::input::check_storage_root`]).
    pub fn check(&self, field: &str, root: &str) -> Result<(), String> {
        // A root the pure check refuses is the decider's to refuse, with its reason
        // (`/etc` is a system directory, before being outside the allowed ones).
        let malformed = ferry_events::input::check_storage_root(field, root).is_err();
        if malformed || ferry_events::input::root_within(root, &self.0) {
            return Ok(());
        }
        let shown: String = root.chars().take(80).collect();
        Err(format!(
            "{field}: {shown:?} is outside the directories ferry may use ({}; \
             FERRY_STORAGE_ROOTS)",
            self.0.join(", ")
        ))
    }

    /// [`AllowedRoots::check`] of a server's files and mail roots.
    pub fn check_storage(&self, storage: &ferry_events::ServerStorage) -> Result<(), String> {
        self.check("storage.files_root", &storage.files_root)?;
        self.check("storage.mail_root", &storage.mail_root)
    }
}

fn parse_storage_roots(value: &str) -> Result<AllowedRoots, String> {
    ferry_events::input::parse_allowed_roots(value).map(AllowedRoots)
}

/// Where the passwords of database logins are kept ([`crate::secrets`]).
#[derive(Debug, Clone, clap::Args)]
pub struct SecretsArgs {
    /// Directory of the secret store: one file per credential reference (mode 0600,
    /// the password alone), made mode 0700 if missing. A server registered with a
    /// password in a database URL has it written here; events carry the reference.
    #[arg(long = "secrets-dir", env = "FERRY_SECRETS_DIR", default_value = crate::secrets::DEFAULT_SECRETS_DIR)]
    pub secrets_dir: std::path::PathBuf,
}

impl SecretsArgs {
    /// The store these settings name.
    pub fn store(&self) -> crate::secrets::SecretStore {
        crate::secrets::SecretStore::new(&self.secrets_dir)
    }
}

/// Every setting of a service process.
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Event log.
    #[command(flatten)]
    pub log: LogArgs,
    /// Read models.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// HTTP and shutdown.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Limits of what comes from outside.
    #[command(flatten)]
    pub input: InputArgs,
    /// The secret store.
    #[command(flatten)]
    pub secrets: SecretsArgs,
}

fn parse_subject_token(value: &str) -> Result<String, String> {
    ferry_events::validate_aggregate_id(value)
        .map(|_| value.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_stream_name(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err("a stream name is 1 to 64 letters, digits, _ or -".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }

    #[test]
    fn defaults_are_usable() {
        let cli = Cli::try_parse_from(["ferry"]).expect("defaults parse");
        assert_eq!(cli.runtime.log.stream, "FERRY_EVENTS");
        assert_eq!(cli.runtime.server.shutdown_grace_secs, 10);
        assert_eq!(cli.runtime.log.settings().duplicate_window.as_secs(), 120);
        assert_eq!(cli.runtime.input.max_body_bytes, 1 << 20);
        assert_eq!(cli.runtime.input.storage_roots, AllowedRoots::default());
        assert!(
            cli.runtime
                .input
                .storage_roots
                .check("files_root", "/var/tmp/ferry-demo/srv-0042/files")
                .is_ok()
        );
        let outside = cli
            .runtime
            .input
            .storage_roots
            .check("files_root", "/data/files")
            .expect_err("outside");
        assert!(outside.contains("FERRY_STORAGE_ROOTS"), "{outside}");
    }

    #[test]
    fn storage_roots_are_checked_at_start() {
        let cli = Cli::try_parse_from(["ferry", "--storage-roots", "/data:/srv/hosting"])
            .expect("parsed");
        assert_eq!(
            cli.runtime.input.storage_roots.0,
            vec!["/data", "/srv/hosting"]
        );
        for bad in ["/", "/etc", "data", "/srv/../etc"] {
            let error = Cli::try_parse_from(["ferry", "--storage-roots", bad])
                .expect_err(bad)
                .to_string();
            assert!(error.contains("--storage-roots"), "{error}");
        }
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let error = Cli::try_parse_from(["ferry", "--shutdown-grace-secs", "soon"])
            .expect_err("refused")
            .to_string();
        assert!(error.contains("--shutdown-grace-secs"), "{error}");
        let error = Cli::try_parse_from(["ferry", "--subject-prefix", "a.b"])
            .expect_err("refused")
            .to_string();
        assert!(error.contains("--subject-prefix"), "{error}");
        let error = Cli::try_parse_from(["ferry", "--http-addr", "localhost"])
            .expect_err("refused")
            .to_string();
        assert!(error.contains("--http-addr"), "{error}");
    }

    #[test]
    fn a_user_s_own_credential_file_wins_over_the_directory() {
        use crate::nats_users::NatsUser;
        let cli = Cli::try_parse_from([
            "ferry",
            "--nats-credentials-dir",
            "/run/ferry/nats",
            "--nats-data-mover-nkey-file",
            "/run/secrets/mover",
        ])
        .expect("parses");
        let credentials = cli.runtime.log.credentials.credentials();
        assert_eq!(
            credentials.file_of(NatsUser::DataMover),
            Ok("/run/secrets/mover".into())
        );
        assert_eq!(
            credentials.file_of(NatsUser::Network),
            Ok("/run/ferry/nats/network.nk".into())
        );
    }
}
