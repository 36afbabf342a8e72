//! The `roster` binary: parse the command line, set up logging, run.
//!
//! Depends on `cli`, `logs` and `memory`.

use std::process::ExitCode;

use clap::Parser;
use roster::cli::{self, Cli};

fn main() -> ExitCode {
    roster::memory::limit_arenas();
    let cli = Cli::parse();
    cli::init_logging(&cli);
    let runtime = tokio::runtime::Runtime::new().expect("starting the async runtime");
    let outcome = runtime.block_on(cli::run(cli));
    drop(runtime);
    roster::logs::BufferedStderr::global().flush_now();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
