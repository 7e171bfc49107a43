//! ferry notifications service: owns the outbox of the messages sent to customers
//! and support (aggregate `notification`), and delivers them by SMTP, or to a maildir
//! when no SMTP server is configured.
//!
//! - Emits: `NotificationQueued` (a message rendered from its template, in the
//!   recipient's language, once per cause event, template and audience),
//!   `NotificationSending` (before each attempt), `NotificationSent`,
//!   `NotificationFailed` (retried with backoff, then given up),
//!   `NotificationRequeued` (support puts a message back).
//! - Consumes (policy `notifications` over its view `notifications_view`): server
//!   events (contacts, locales, accounts), migration events (each step's start and
//!   end, test migrations, failures), `TransitInstallationFailed`,
//!   `MxRecordRemovalAdvised`, `LoanFreePeriodEnding` and the first `LoanDayCharged`
//!   of a loan; and its own `notification` events (the outbox projection
//!   `notifications_outbox`).
//!
//! Modules: [`domain`] (the pure decider and policy), [`templates`] (the texts),
//! [`mod@service`] (commands), [`reactions`] (the policy's edge), [`outbox`] (the
//! outbox in PostgreSQL and its queries), [`sender`] (delivery), [`mail`] (messages,
//! SMTP and maildir), [`routes`] (support's HTTP API).
//!
//! Tests: `tests/support/smtp.rs` starts a real SMTP server (aiosmtpd, from
//! `FERRY_AIOSMTPD`) and reads what it received; it depends on std and tokio only, so
//! another crate's test includes it with `#[path = …] mod smtp;`.
//!
//! Nothing a customer or support must hear of is lost: a message given up on stays
//! in the outbox, counted ([`given_up_count`], for `/ready`) until support puts it
//! back; an attempt whose outcome was never recorded is never sent again blindly
//! ([`interrupted_count`]).

pub use ferry_notifications_domain as domain;
pub mod mail;
pub mod outbox;
pub mod reactions;
pub mod routes;
pub mod sender;
pub mod service;
pub mod templates;

pub use outbox::query::{
    Audience, NotificationCounts, NotificationDetail, NotificationHistoryEntry, NotificationList,
    NotificationState, NotificationSummary, QueryError,
};
pub use reactions::{QueueExecutor, SupportContact};
pub use routes::{RequeueAnswer, RequeueBody};
pub use sender::SenderSettings;
pub use service::Outbox;

use ferry_infra::backoff::Backoff;
use ferry_infra::policy::PolicyContext;
use ferry_infra::runtime::Runtime;
use lettre::message::Mailbox;
use mail::Transport;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

/// Settings of the notifications service, from flags or environment variables.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct NotificationsArgs {
    /// SMTP server messages are handed to: `smtp://host:port` (plain),
    /// `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port` (TLS). Unset:
    /// messages are written to the maildir.
    #[arg(long = "smtp-url", env = "FERRY_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// File holding the SMTP login as `user:password` (never in the URL, never logged).
    #[arg(long = "smtp-credentials-file", env = "FERRY_SMTP_CREDENTIALS_FILE")]
    pub smtp_credentials_file: Option<PathBuf>,
    /// Seconds an SMTP exchange may take.
    #[arg(
        long = "smtp-timeout-secs",
        env = "FERRY_SMTP_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub smtp_timeout_secs: u64,
    /// Maildir messages are written to when no SMTP server is configured (`new/`,
    /// `tmp/`, `cur/`), relative to the working directory.
    #[arg(
        long = "mail-dir",
        env = "FERRY_MAILDIR",
        default_value = ".ferry/maildir"
    )]
    pub maildir: PathBuf,
    /// The sender of every message.
    #[arg(
        long = "mail-from",
        env = "FERRY_MAIL_FROM",
        default_value = "ferry <ferry@localhost>"
    )]
    pub mail_from: String,
    /// Support's address, for the messages support must act on.
    #[arg(
        long = "notify-support-email",
        env = "FERRY_SUPPORT_EMAIL",
        default_value = "support@localhost"
    )]
    pub support_email: String,
    /// The language of support's messages: `en` or `fr`.
    #[arg(
        long = "notify-support-locale",
        env = "FERRY_SUPPORT_LOCALE",
        default_value = "en"
    )]
    pub support_locale: String,
    /// Attempts at a message before it is given up on (support then puts it back).
    #[arg(
        long = "notify-max-attempts",
        env = "FERRY_NOTIFY_MAX_ATTEMPTS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub max_attempts: u32,
    /// Milliseconds before the first retry; doubled at each retry.
    #[arg(
        long = "notify-retry-first-ms",
        env = "FERRY_NOTIFY_RETRY_FIRST_MS",
        default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..=86_400_000)
    )]
    pub retry_first_ms: u64,
    /// Longest delay between two attempts, in milliseconds.
    #[arg(
        long = "notify-retry-max-ms",
        env = "FERRY_NOTIFY_RETRY_MAX_MS",
        default_value_t = 3_600_000,
        value_parser = clap::value_parser!(u64).range(1..=86_400_000)
    )]
    pub retry_max_ms: u64,
    /// Seconds after which an attempt whose outcome is not recorded counts as
    /// interrupted (shown for support to check and put back).
    #[arg(
        long = "notify-interrupted-after-secs",
        env = "FERRY_NOTIFY_INTERRUPTED_AFTER_SECS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=604_800)
    )]
    pub interrupted_after_secs: u64,
    /// Milliseconds between two looks at the outbox.
    #[arg(
        long = "notify-poll-ms",
        env = "FERRY_NOTIFY_POLL_MS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(10..=60_000)
    )]
    pub poll_ms: u64,
}

impl NotificationsArgs {
    /// The defaults (no SMTP server: the maildir `maildir`), for tests.
    pub fn with_maildir(maildir: impl Into<PathBuf>) -> Self {
        Self {
            smtp_url: None,
            smtp_credentials_file: None,
            smtp_timeout_secs: 30,
            maildir: maildir.into(),
            mail_from: "ferry <ferry@localhost>".into(),
            support_email: "support@localhost".into(),
            support_locale: "en".into(),
            max_attempts: 5,
            retry_first_ms: 30_000,
            retry_max_ms: 3_600_000,
            interrupted_after_secs: 300,
            poll_ms: 500,
        }
    }

    /// The same, delivering to the SMTP server at `url`.
    pub fn with_smtp(mut self, url: impl Into<String>) -> Self {
        self.smtp_url = Some(url.into());
        self
    }

    /// How long an attempt may stay unrecorded before it counts as interrupted.
    pub fn interrupted_after(&self) -> Duration {
        Duration::from_secs(self.interrupted_after_secs)
    }

    /// Checks the settings without creating anything (the maildir is created when
    /// the service starts): why they are not usable, if they are not.
    pub fn check(&self) -> Result<(), String> {
        self.resolve(false).map(|_| ())
    }

    /// The settings these arguments describe (the maildir created if it is used),
    /// or why they are not usable.
    pub fn settings(&self) -> Result<Settings, String> {
        self.resolve(true)
    }

    fn resolve(&self, create: bool) -> Result<Settings, String> {
        let from: Mailbox = self
            .mail_from
            .parse()
            .map_err(|_| mail::MailSetupError::From(self.mail_from.clone()).to_string())?;
        let language = match self.support_locale.as_str() {
            "en" | "fr" => self.support_locale.clone(),
            other => {
                return Err(format!(
                    "FERRY_SUPPORT_LOCALE {other:?}: support reads en or fr"
                ));
            }
        };
        if self.support_email.parse::<Mailbox>().is_err() {
            return Err(format!(
                "FERRY_SUPPORT_EMAIL {:?} is not an address",
                self.support_email
            ));
        }
        let transport = match &self.smtp_url {
            Some(url) if !url.trim().is_empty() => Transport::smtp(
                url.trim(),
                self.smtp_credentials_file.as_deref(),
                Duration::from_secs(self.smtp_timeout_secs),
            ),
            _ if create => Transport::maildir(&self.maildir),
            _ if self.maildir.is_file() => Err(mail::MailSetupError::Maildir {
                path: self.maildir.clone(),
                reason: "it is a file".into(),
            }),
            _ => Ok(Transport::Maildir(self.maildir.clone())),
        }
        .map_err(|e| e.to_string())?;
        Ok(Settings {
            transport,
            support: SupportContact {
                email: self.support_email.clone(),
                language,
            },
            sender: SenderSettings {
                max_attempts: self.max_attempts,
                backoff: Backoff::new(
                    Duration::from_millis(self.retry_first_ms),
                    Duration::from_millis(self.retry_max_ms.max(self.retry_first_ms)),
                ),
                poll: Duration::from_millis(self.poll_ms),
                from,
                halt_after_send: false,
            },
            interrupted_after: self.interrupted_after(),
        })
    }
}

/// The resolved settings of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where messages go.
    pub transport: Transport,
    /// Support's address and language.
    pub support: SupportContact,
    /// How the sender works.
    pub sender: SenderSettings,
    /// When an unrecorded attempt counts as interrupted.
    pub interrupted_after: Duration,
}

/// How many messages were given up on: they wait for support (listed in `/ready`).
pub async fn given_up_count(pool: &deadpool_postgres::Pool) -> Result<u64, QueryError> {
    outbox::query::given_up_count(pool).await
}

/// How many attempts began more than `interrupted_after` before `now` and were never
/// recorded (the sender stopped in between): they wait for support to check them.
pub async fn interrupted_count(
    pool: &deadpool_postgres::Pool,
    now: chrono::DateTime<chrono::Utc>,
    interrupted_after: Duration,
) -> Result<u64, QueryError> {
    outbox::query::interrupted_count(pool, outbox::query::cutoff(now, interrupted_after)).await
}

/// The routes' state for `settings` over `log` and `pool`.
fn api_state(
    log: ferry_infra::event_log::EventLog,
    pool: deadpool_postgres::Pool,
    settings: &Settings,
) -> routes::ApiState {
    routes::ApiState {
        outbox: Outbox::new(log),
        pool,
        interrupted_after: settings.interrupted_after,
    }
}

/// Starts the notifications service in `runtime`: its policy (view, reactor), the
/// outbox projection and the sender run until `runtime.shutdown`; returns its HTTP
/// routes. What waits for support ([`given_up_count`], [`interrupted_count`]) is for
/// the process to list in `/ready`.
pub fn service(runtime: &Runtime, args: &NotificationsArgs) -> Result<OpenApiRouter, String> {
    let settings = args.settings()?;
    let outbox = Outbox::new(runtime.log.clone());
    runtime.spawn_projection(
        outbox::OutboxProjection,
        ferry_infra::projection::RunnerSettings::default(),
    );
    runtime.spawn_policy::<domain::policy::NotificationsPolicy, _>(QueueExecutor::new(
        outbox.clone(),
        Arc::new(templates::Templates::new()),
        settings.support.clone(),
    ));
    runtime.spawn(
        "notifications_sender",
        sender::run(
            outbox.clone(),
            runtime.pool.clone(),
            settings.transport.clone(),
            settings.sender.clone(),
            runtime.shutdown.clone(),
        ),
    );
    Ok(routes::router(api_state(
        runtime.log.clone(),
        runtime.pool.clone(),
        &settings,
    )))
}

/// Runs the whole service without a [`Runtime`] (tests, embedding) until `shutdown`:
/// the policy, the outbox projection and the sender. Returns the routes at once and
/// the task running it all; the task ends with the sender's error (a test's
/// [`SenderSettings::halt_after_send`]) or when stopped.
pub fn run(
    settings: Settings,
    context: PolicyContext,
    shutdown: CancellationToken,
) -> (OpenApiRouter, tokio::task::JoinHandle<Result<(), String>>) {
    let outbox = Outbox::new(context.log.clone());
    let routes = routes::router(api_state(
        context.log.clone(),
        context.pool.clone(),
        &settings,
    ));
    let task = tokio::spawn(async move {
        let projection = ferry_infra::projection::ProjectionRunner::new(
            Arc::new(outbox::OutboxProjection),
            context.log.clone(),
            context.pool.clone(),
            ferry_infra::projection::RunnerSettings::default(),
            context.board.clone(),
        );
        let executor = QueueExecutor::new(
            outbox.clone(),
            Arc::new(templates::Templates::new()),
            settings.support.clone(),
        );
        let pool = context.pool.clone();
        let stop_all = shutdown.clone();
        let sender = async {
            let result = sender::run(
                outbox.clone(),
                pool,
                settings.transport.clone(),
                settings.sender.clone(),
                shutdown.clone(),
            )
            .await;
            // A halted sender stands for a dead process: everything stops.
            stop_all.cancel();
            result
        };
        let (projected, policy, sent) = tokio::join!(
            projection.run(shutdown.clone()),
            ferry_infra::policy::run::<domain::policy::NotificationsPolicy, _>(
                context,
                executor,
                shutdown.clone()
            ),
            sender,
        );
        projected.map_err(|e| e.to_string())?;
        policy.map_err(|e| e.to_string())?;
        sent.map_err(|e| e.to_string())
    });
    (routes, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        notifications: NotificationsArgs,
    }

    #[test]
    fn the_defaults_write_to_a_maildir_and_retry_five_times() {
        let cli = Cli::try_parse_from(["ferry"]).expect("defaults");
        assert_eq!(
            cli.notifications,
            NotificationsArgs::with_maildir(".ferry/maildir")
        );
        let cli = Cli::try_parse_from([
            "ferry",
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--notify-max-attempts",
            "3",
            "--notify-support-locale",
            "fr",
            "--mail-from",
            "Hosting <noreply@hosting.example>",
        ])
        .expect("flags");
        assert_eq!(cli.notifications.max_attempts, 3);
        let settings = cli.notifications.settings().expect("usable");
        assert!(matches!(settings.transport, Transport::Smtp { .. }));
        assert_eq!(settings.support.language, "fr");
        assert!(Cli::try_parse_from(["ferry", "--notify-max-attempts", "0"]).is_err());
    }

    #[test]
    fn unusable_settings_say_why() {
        let mut args = NotificationsArgs::with_maildir(std::env::temp_dir().join("ferry-x"));
        args.support_locale = "de".into();
        assert!(args.settings().expect_err("de").contains("en or fr"));
        let mut args = NotificationsArgs::with_maildir(std::env::temp_dir().join("ferry-x"));
        args.mail_from = "nobody".into();
        assert!(args.check().expect_err("from").contains("FERRY_MAIL_FROM"));
        let never = std::env::temp_dir().join(format!("ferry-never-{}", uuid::Uuid::now_v7()));
        NotificationsArgs::with_maildir(&never)
            .check()
            .expect("usable");
        assert!(!never.exists(), "a check creates nothing");
    }
}
