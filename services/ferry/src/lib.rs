//! The `ferry` command.
//!
//! `ferry up` runs every ferry service in one process against NATS JetStream and
//! PostgreSQL (the single-machine default): the accounts service, the transit pool,
//! the data mover (so far its pre-copies), the read side with its query API, and the
//! log index, behind one HTTP endpoint
//! that also serves health, readiness, Prometheus metrics and the OpenAPI
//! description (`/openapi.json`). It emits no event of its own: the services do.
//!
//! Every other subcommand is a client of that API (see [`cli`]).

/// `println!` for what a command answers: a reader that went away (`ferry … | head`)
/// ends the command quietly, as shell tools do, instead of a panic.
macro_rules! outln {
    () => {
        $crate::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod billing;
pub mod cli;
pub mod client;
pub mod commands;
mod demo;
pub mod fleet;
mod grants;
mod log_copy;
mod outbox;
pub mod render;
pub mod token;
mod up;
mod wait;

pub use up::up_embedded;

use clap::Parser;
pub use cli::Command;

/// ferry: moves a web host's customer servers onto new infrastructure, account by
/// account, through a lent transit server.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    /// Where the API is, who is asking, and how to print.
    #[command(flatten)]
    pub client: cli::ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Writes one line of the answer on stdout (see `outln!`).
pub(crate) fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        // Whoever reads has read enough: not a failure of the command.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write the answer: {e}");
            std::process::exit(1)
        }
    }
}

/// Reports a failed command: with `--json`, as a JSON object on stdout
/// (`{"error", "reason"}` as the API words its errors, with its `status` when the API
/// refused); otherwise as text on stderr. The exit code is the caller's.
pub fn report_error(error: &anyhow::Error, json: bool) {
    if !json {
        eprintln!("error: {error:#}");
        return;
    }
    // The chain as `{:#}` writes it, but the API's own part by its reason alone:
    // its code and status have their own fields.
    let reason = error
        .chain()
        .map(|cause| match cause.downcast_ref::<client::ApiFailure>() {
            Some(failure) => failure.reason.clone(),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ");
    let body = match error.downcast_ref::<client::ApiFailure>() {
        Some(failure) => serde_json::json!({
            "error": failure.error,
            "reason": reason,
            "status": failure.status,
        }),
        None => serde_json::json!({ "error": "failed", "reason": format!("{error:#}") }),
    };
    outln!("{body}");
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::up(*args).await,
        Command::Demo { command } => demo::run(command, cli.client.json).await,
        Command::Token(cli::TokenCommand::Create {
            customer,
            support,
            user,
            label,
            days,
            save,
            print,
            log,
        }) => {
            let holder = match (customer, support, user) {
                (Some(customer), None, None) => ferry_events::Actor::customer(customer),
                (None, Some(login), None) => ferry_events::Actor::support(login),
                (None, None, Some(user)) => grants::user_actor(&user)?,
                _ => anyhow::bail!(
                    "say whose token it is: --customer <id>, --support <login> or --user <customer id>/<login>"
                ),
            };
            let request = token::Create {
                holder,
                label,
                days,
                save,
                print,
            };
            token::create(&cli.client, request, &log, cli.client.json).await
        }
        Command::Log(cli::LogCommand::RedactCopy {
            from,
            to,
            secrets,
            log,
        }) => log_copy::redact_copy(&from, &to, &secrets, &log, cli.client.json).await,
        command => commands::run(&cli.client, command).await,
    }
}
