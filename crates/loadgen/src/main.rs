//! `loadgen` binary: parse the CLI, run, print the summary.
//!
//! Exit status: 0 = all requests succeeded, 2 = the run completed but some requests
//! failed, 1 = the run could not be performed.

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = cli.scenario.common().threads {
        builder.worker_threads(n);
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(loadgen::run(&cli.scenario)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.scenario.common().json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("loadgen: cannot serialize report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.render_text());
    }
    if report.total_errors() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
