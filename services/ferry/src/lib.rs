//! The `ferry` command.
//!
//! `ferry up` runs every ferry service in one process against NATS JetStream and
//! PostgreSQL (the single-machine default), with the read models they feed and the HTTP
//! endpoint (health, readiness, Prometheus metrics). It emits no event of its own: the
//! services it starts do.
//!
//! Services run so far: the log index read model (every aggregate and correlation in
//! the log). Later services join here as they are built.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferry_infra::config::RuntimeArgs;
use ferry_infra::projection::RunnerSettings;
use ferry_infra::projection::log_index::LogIndex;
use ferry_infra::runtime::Runtime;

/// ferry: moves a web host's customer servers onto new infrastructure, account by
/// account, through a lent transit server.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process until SIGTERM/SIGINT.
    Up(RuntimeArgs),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up(args).await,
    }
}

async fn up(args: RuntimeArgs) -> anyhow::Result<()> {
    let runtime = Runtime::start(args, "ferry")
        .await
        .context("starting ferry")?;
    runtime.spawn_projection(LogIndex, RunnerSettings::default());
    runtime
        .serve(axum::Router::new())
        .await
        .context("serving")?;
    tracing::info!("ferry stopped");
    Ok(())
}
