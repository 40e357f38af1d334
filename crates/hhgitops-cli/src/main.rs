//! The `hhgitops` binary: parses flags, opens the engine, runs one command, prints the result and maps errors
//! to exit codes (SPEC §7: 0 success, 1 input rejected or drift, 2 usage or configuration, 3 runtime failure).
//! It holds no logic of its own beyond presentation.

mod cli;
mod commands;
mod hooks;
mod hydrate_cmd;
mod ingest_cmd;
mod output;
mod progress_bar;
mod serve_cmd;
mod watch_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    hhgitops_engine::memory::return_large_blocks();
    output::quiet_on_closed_output();
    let args = cli::Args::parse();
    match &args.command {
        cli::Command::Serve(s) => {
            hhgitops_server::init_logging(s.log_format == "json", args.verbose, args.quiet)
        }
        _ => output::init_logging(args.verbose, args.quiet),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hhgitops: error: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let code = runtime.block_on(commands::run(args));
    ExitCode::from(code)
}
