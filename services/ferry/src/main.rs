//! The `ferry` command. Everything lives in the library; this only parses and runs,
//! and reports an error once, with its causes, as a non-zero exit (a JSON object
//! with `--json`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = <ferry::Cli as clap::Parser>::parse();
    let json = cli.client.json;
    match ferry::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            ferry::report_error(&error, json);
            std::process::ExitCode::FAILURE
        }
    }
}
