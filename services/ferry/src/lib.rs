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

pub mod cli;
pub mod client;
pub mod commands;
mod demo;
pub mod fleet;
pub mod render;
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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::up(*args).await,
        Command::Demo { command } => demo::run(command, cli.client.json).await,
        command => commands::run(&cli.client, command).await,
    }
}
