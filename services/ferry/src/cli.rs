//! The `ferry` command line: `ferry up` runs the services; every other subcommand is a
//! client of their HTTP API, human-readable by default and JSON with `--json`.

use clap::{Args, Subcommand};
use ferry_infra::config::RuntimeArgs;
use std::path::PathBuf;

/// Where the API is and whose token asks.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of a running `ferry up`.
    #[arg(
        long = "api",
        env = "FERRY_API_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api: String,
    /// Act with the token saved under this name in the token directory (`ferry token
    /// create` saves one under its holder's name, e.g. `support:jdoe` or
    /// `customer:c-42`). Without it, the token is read from FERRY_TOKEN_FILE, then
    /// from the environment variable FERRY_TOKEN; never from the command line.
    #[arg(long = "as", env = "FERRY_AS", global = true)]
    pub profile: Option<String>,
    /// Where `--as` finds saved tokens (one file per name, readable by you only).
    #[arg(
        long = "token-dir",
        env = "FERRY_TOKEN_DIR",
        default_value = ".ferry/tokens",
        global = true
    )]
    pub token_dir: PathBuf,
    /// A file holding the token to use.
    #[arg(long = "token-file", env = "FERRY_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// Print the API's JSON instead of text, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process until SIGTERM/SIGINT.
    Up(Box<UpArgs>),
    /// Import a fleet file (YAML or JSON): target versions, transit servers, client
    /// servers with their accounts. Importing it again changes nothing.
    Import {
        /// The fleet file, e.g. `examples/fleet.yaml`.
        file: PathBuf,
    },
    /// Demo data on this machine (no API involved).
    Demo {
        /// What to do.
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// List servers with their migration step.
    Servers {
        /// Only servers at this step (1-8).
        #[arg(long)]
        step: Option<u8>,
    },
    /// Show a server: its accounts and its current migration.
    Server {
        /// The server id, e.g. `srv-0042`.
        server: String,
    },
    /// What of a server's accounts will not work on a target version.
    Compatibility {
        /// The server id.
        server: String,
        /// The target version, e.g. `v2026`.
        #[arg(long)]
        target: String,
    },
    /// Required migrations: the customer's and support's commands, step by step.
    #[command(subcommand)]
    Migration(MigrationCommand),
    /// Optional single-service migrations, applied in place.
    #[command(subcommand)]
    Optional(OptionalCommand),
    /// The transit server pool (support).
    #[command(subcommand)]
    Transit(TransitCommand),
    /// The whole timeline of a server's migrations, replayed from the event log.
    Audit {
        /// The server id.
        server: String,
    },
    /// How long each account of a server would be down while it moves, and how its
    /// databases would be copied, from the downtimes measured so far.
    Estimate {
        /// The server id.
        server: String,
    },
    /// Reactions ferry's services could not carry out (support): parked with their
    /// event and error, retried every few minutes, or now on demand.
    #[command(subcommand)]
    Reactions(ReactionsCommand),
    /// The transit server's loan, the charges after its free period, invoices.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// The messages to customers and support: what was sent, what waits, what was
    /// given up on (support).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// API tokens: issue one (where the log is, as the host's operator), list and
    /// revoke them (through the API).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The event log itself, as the host's operator (NATS directly, as its setup
    /// user; ferry stopped).
    #[command(subcommand)]
    Log(LogCommand),
    /// Who your token says you are (and, for a customer's user, what it was granted).
    Whoami,
    /// Migration rights a customer grants one of its users (`user:c-42/alice`) on one
    /// of its servers, or on one account of it.
    #[command(subcommand)]
    Grant(GrantCommand),
}

/// Grants of migration rights to a customer's users.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Let a user act on the migrations of a server, or of one account of it (the
    /// customer or support).
    Add {
        /// The user: `<customer id>/<login>`, e.g. `c-42/alice`.
        user: String,
        /// The server.
        #[arg(long)]
        server: String,
        /// Only this account of the server.
        #[arg(long)]
        account: Option<String>,
    },
    /// Take back what a user was granted (the customer, support, or the user itself).
    Revoke {
        /// The user: `<customer id>/<login>`.
        user: String,
        /// The server.
        #[arg(long)]
        server: String,
        /// The account, if the grant was for one account.
        #[arg(long)]
        account: Option<String>,
    },
    /// The grants in force of a customer's users (yours by default).
    List {
        /// The customer (support names one; a customer and its users see their own).
        #[arg(long)]
        customer: Option<String>,
    },
}

/// The event log, as the host's operator.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Copy a log recorded with database passwords to a new stream without them:
    /// each password goes to the secret store under its login's reference, each
    /// event that held one is upcast to name the reference instead, the rest is
    /// copied byte for byte (same subjects, message ids, headers and sequences).
    /// The old stream gives its subjects up to the new one. Run again, it resumes;
    /// once done, start ferry with FERRY_STREAM=<to>.
    RedactCopy {
        /// The stream recorded with passwords, e.g. `FERRY_EVENTS`.
        #[arg(long)]
        from: String,
        /// The new stream, e.g. `FERRY_EVENTS_V2`.
        #[arg(long)]
        to: String,
        /// Where the passwords go.
        #[command(flatten)]
        secrets: ferry_infra::config::SecretsArgs,
        /// Where the event log is (its `--stream` is `--from`'s).
        #[command(flatten)]
        log: Box<ferry_infra::config::LogArgs>,
    },
}

/// API tokens.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token, as the host's operator: written to the event log directly
    /// (FERRY_NATS_URL, FERRY_STREAM), so that the first support token can be
    /// made. Saved in the token directory under its holder's name (readable by you
    /// only), or printed once with `--print`.
    Create {
        /// A token acting as this customer (its id, e.g. `c-42`).
        #[arg(
            long,
            conflicts_with_all = ["support", "user"],
            required_unless_present_any = ["support", "user"]
        )]
        customer: Option<String>,
        /// A token acting as this support agent (the login, e.g. `jdoe`).
        #[arg(long, conflicts_with = "user")]
        support: Option<String>,
        /// A token acting as one of a customer's users, `<customer id>/<login>` (e.g.
        /// `c-42/alice`): it may act on what the customer grants it only.
        #[arg(long)]
        user: Option<String>,
        /// What it is for, shown when tokens are listed.
        #[arg(long, default_value = "ferry CLI")]
        label: String,
        /// Days until it expires (1 to 366).
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Save it under this name instead of the holder's (`--as <name>` uses it).
        #[arg(long, conflicts_with = "print")]
        save: Option<String>,
        /// Print the token on stdout, once, instead of saving it.
        #[arg(long)]
        print: bool,
        /// Where the event log is.
        #[command(flatten)]
        log: Box<ferry_infra::config::LogArgs>,
    },
    /// Issue a token through the API: a customer for itself or one of its users,
    /// a user for itself, support for anyone. Saved like `create`'s.
    Issue {
        /// Who it acts as: `customer:<id>`, `user:<customer id>/<login>` or
        /// `support:<login>`.
        #[arg(long)]
        holder: String,
        /// What it is for, shown when tokens are listed.
        #[arg(long, default_value = "ferry CLI")]
        label: String,
        /// Days until it expires (1 to 366).
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Save it under this name instead of the holder's (`--as <name>` uses it).
        #[arg(long, conflicts_with = "print")]
        save: Option<String>,
        /// Print the token on stdout, once, instead of saving it.
        #[arg(long)]
        print: bool,
    },
    /// The tokens you may see (support: all; a customer: its own and its users'; a
    /// user: its own).
    List,
    /// Revoke a token: refused from the next request on.
    Revoke {
        /// The token's id (`ferry token list`).
        token: uuid::Uuid,
        /// Why (the audit reads it).
        #[arg(long)]
        reason: String,
    },
}

/// Billing: loans of transit servers, charges and invoices. A customer reads its
/// own; support reads all and may change a loan's free period.
#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// A migration's loan: days used, free until, days charged, amount so far.
    Loan {
        /// Migration id or server id (its current migration).
        migration: MigrationRef,
    },
    /// Support: give an open loan another free period (days from its start).
    FreePeriod {
        /// Migration id or server id (its current migration).
        migration: MigrationRef,
        /// The new number of free days from the loan's start.
        #[arg(long)]
        days: u32,
        /// Why (the customer and the audit read it).
        #[arg(long)]
        reason: String,
    },
    /// A customer's charges, every day charged.
    Charges {
        /// The customer id, e.g. `c-42`.
        customer: String,
        /// Only this month (`YYYY-MM`).
        #[arg(long)]
        month: Option<String>,
    },
    /// A customer's invoices: one per month with charges.
    Invoices {
        /// The customer id.
        customer: String,
    },
    /// One invoice with its lines.
    Invoice {
        /// The customer id.
        customer: String,
        /// The month, `YYYY-MM`.
        month: String,
        /// Print it as CSV (one line per charge) instead.
        #[arg(long)]
        csv: bool,
    },
}

/// The notifications outbox (support).
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List messages, newest first, with the counts per state.
    List {
        /// Only messages in this state: queued, sending, sent, retrying, given_up.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One message: recipient, subject, body and every attempt.
    Show {
        /// The notification id.
        id: uuid::Uuid,
    },
    /// Put a message given up on (or whose last attempt was interrupted) back in the
    /// outbox, once the mail system is mended or after checking it did not arrive.
    Requeue {
        /// The notification id.
        id: uuid::Uuid,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
    },
}

/// Parked reactions (support).
#[derive(Debug, Subcommand)]
pub enum ReactionsCommand {
    /// List the parked reactions, in log order per reactor.
    List {
        /// Only this reactor's (e.g. `accounts`, `transit_pool`, `data_mover`).
        #[arg(long)]
        reactor: Option<String>,
    },
    /// Retry the parked reactions now (after a fix, or once a missing fact arrived).
    Retry {
        /// Only this reactor's.
        #[arg(long)]
        reactor: Option<String>,
    },
}

/// `ferry up`'s settings.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Process settings.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Accounts service settings.
    #[command(flatten)]
    pub accounts: ferry_accounts::AccountsArgs,
    /// Transit pool settings.
    #[command(flatten)]
    pub transit: ferry_transit_pool::TransitPoolArgs,
    /// Data mover settings.
    #[command(flatten)]
    pub data_mover: ferry_data_mover::DataMoverArgs,
    /// Network settings (DNS, redirect, IP routes).
    #[command(flatten)]
    pub network: ferry_network::NetworkArgs,
    /// Billing settings (the free period of new loans).
    #[command(flatten)]
    pub billing: ferry_billing::BillingArgs,
    /// Notification settings (SMTP or maildir, support's address, retries).
    #[command(flatten)]
    pub notifications: ferry_notifications::NotificationsArgs,
    /// Access settings (the identity provider's JWTs, the metrics token).
    #[command(flatten)]
    pub access: ferry_access::AccessArgs,
}

/// A migration is named by its id, or by its server (the server's current migration).
pub type MigrationRef = String;

/// Migration commands, in the order of the steps.
#[derive(Debug, Subcommand)]
pub enum MigrationCommand {
    /// Show a migration (by id, or the current one of a server).
    Show {
        /// Migration id or server id.
        migration: MigrationRef,
    },
    /// Step 1: open the migration of a server to a target version.
    Open {
        /// The server id.
        server: String,
        /// The target version, e.g. `v2026`.
        #[arg(long)]
        target: String,
    },
    /// Step 1: check the accounts against the target again.
    Recheck {
        /// Migration id or server id.
        migration: MigrationRef,
    },
    /// Step 1: copy an account's databases to a test server (again: refresh it).
    Test {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
        /// Throw the test copy away instead.
        #[arg(long)]
        discard: bool,
    },
    /// Step 1: declare an account ready.
    Ready {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
        /// Take the readiness back instead.
        #[arg(long)]
        withdraw: bool,
    },
    /// Step 2: ask for the transit server (every account ready).
    RequestTransit {
        /// Migration id or server id.
        migration: MigrationRef,
    },
    /// Step 2 (support): remove the language versions the target lacks and hand the
    /// request to the transit pool.
    RemoveLanguages {
        /// Migration id or server id.
        migration: MigrationRef,
        /// Give them back instead (the migration returns to step 1).
        #[arg(long)]
        restore: bool,
    },
    /// Step 4: move an account to the transit server.
    Move {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
        /// Wait until it is done, showing its progress; exit 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// Step 5: confirm a moved account works.
    Verify {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
    },
    /// Step 5: move an account back to the client server (before the reinstall).
    Rollback {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
        /// Wait until it is done, showing its progress; exit 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// End of step 5: ask for the reinstall (every account on the transit server).
    RequestReinstall {
        /// Migration id or server id.
        migration: MigrationRef,
    },
    /// Step 6 (support): start the reinstall; the IPs are rerouted.
    StartReinstall {
        /// Migration id or server id.
        migration: MigrationRef,
    },
    /// End of step 6 (support): the server was reinstalled with this version.
    Reinstalled {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The infrastructure version the reinstall installed (must be the target).
        #[arg(long = "version")]
        infrastructure_version: String,
    },
    /// Step 7 (support, working hours): move an account back to the server.
    Relocate {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
        /// Wait until it is done, showing its progress; exit 1 if it failed.
        #[arg(long)]
        wait: bool,
    },
    /// Steps 3 and 6 (support): try a failed pre-copy of files and mails again, once
    /// its reason is dealt with.
    RetryPreCopy {
        /// Migration id or server id.
        migration: MigrationRef,
    },
    /// Steps 4, 5 and 7 (support): call off an account's move, rollback or relocation
    /// that cannot finish; it serves from where it was.
    Abort {
        /// Migration id or server id.
        migration: MigrationRef,
        /// The account id.
        account: String,
        /// Why (the customer reads it).
        #[arg(long)]
        reason: String,
    },
    /// Abandon a migration before any account has moved.
    Cancel {
        /// Migration id or server id.
        migration: MigrationRef,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Optional migration commands.
#[derive(Debug, Subcommand)]
pub enum OptionalCommand {
    /// List a server's optional migrations.
    List {
        /// The server id.
        server: String,
    },
    /// Schedule the migration of one service of a server (support).
    Schedule {
        /// The server id.
        server: String,
        /// postgresql, mysql, redis, memcached, elasticsearch or rabbitmq.
        #[arg(long)]
        service: String,
        /// The version it runs.
        #[arg(long)]
        from: String,
        /// The version it will run.
        #[arg(long)]
        to: String,
        /// Not before this time (RFC 3339).
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Apply it now.
    Apply {
        /// The optional migration id.
        id: uuid::Uuid,
    },
    /// Call it off.
    Cancel {
        /// The optional migration id.
        id: uuid::Uuid,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Transit pool commands (support).
#[derive(Debug, Subcommand)]
pub enum TransitCommand {
    /// List the transit servers and their state.
    List,
    /// The waiting lines, per configuration.
    Queues,
    /// Take a free transit server out of service.
    OutOfService {
        /// The transit server id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Put a transit server back in service (after a failed wipe: wiped again first).
    InService {
        /// The transit server id.
        id: String,
    },
    /// Retry a failed installation.
    RetryInstall {
        /// The transit server id.
        id: String,
    },
}

/// `ferry demo …`.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Makes the files, mails and databases a fleet file declares real on this
    /// machine, for a walkthrough: a few MB per account. Seeding again changes
    /// nothing that exists; `--remove` takes it all away.
    Seed {
        /// The fleet file.
        #[arg(default_value = "examples/fleet.yaml")]
        fleet: PathBuf,
        /// Remove the demo data instead.
        #[arg(long)]
        remove: bool,
    },
    /// Builds the provider's network for a fleet file in network namespaces (a
    /// router, one namespace per server answering HTTP on its public addresses),
    /// writes the router's description for `FERRY_IP_ROUTES`, and keeps it up until
    /// Ctrl-C: the reinstallation's IP reroute (step 6) is then applied for real.
    /// Needs root, iproute2 and nftables; the host's own network is not touched.
    Network {
        /// The fleet file.
        #[arg(default_value = "examples/fleet.yaml")]
        fleet: PathBuf,
        /// Where to write the router's description.
        #[arg(long, default_value = ".stack/routes.json")]
        out: PathBuf,
    },
}
