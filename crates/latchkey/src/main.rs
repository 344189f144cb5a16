use std::process::ExitCode;

use clap::Parser;

/// mimalloc: per-thread free lists suit a server whose requests allocate many small,
/// short-lived values on whichever worker thread runs them (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = latchkey::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(latchkey::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(latchkey::cli::Fatal(msg)) => {
            eprintln!("latchkey: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
