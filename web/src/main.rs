//! The `scimbridge` binary.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = scimbridge::cli::Cli::parse();
    match scimbridge::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
