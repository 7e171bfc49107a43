//! The `ferry` command. Everything lives in the library; this only parses and runs.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ferry::run(<ferry::Cli as clap::Parser>::parse()).await
}
