//! The `roster` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use roster::cli::{self, Cli};

fn main() -> ExitCode {
    roster::memory::limit_arenas();
    let cli = Cli::parse();
    cli::init_logging(&cli);
    // The server's work spreads over a worker per core. A one-shot command
    // (an import, a client, a token) runs its tasks on this thread alone:
    // no workers to start, and no hand-offs between them on every query
    // (docs/PERFORMANCE.md, "What one `roster import` costs").
    let runtime = match cli.command.serves() {
        true => tokio::runtime::Runtime::new(),
        false => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    }
    .expect("starting the async runtime");
    let outcome = runtime.block_on(cli::run(cli));
    drop(runtime);
    roster::logs::BufferedStderr::global().flush_now();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", roster::logs::chain(&*error));
            ExitCode::FAILURE
        }
    }
}
