//! The `ferry` command. Everything lives in the library; this only parses and runs,
//! and reports an error once, with its causes, as a non-zero exit.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match ferry::run(<ferry::Cli as clap::Parser>::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
