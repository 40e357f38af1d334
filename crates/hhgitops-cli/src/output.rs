//! Presentation: logging set-up, JSON printing, and turning engine errors into one line and an exit code.

use hhgitops_engine::{Error, ErrorClass};
use serde::Serialize;

pub const EXIT_OK: u8 = 0;
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_RUNTIME: u8 = 3;

pub fn init_logging(verbose: u8, quiet: bool) {
    let default = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    // The Kubernetes client logs every failed request as an error; hhgitops reports those itself, once.
    let default = if verbose >= 2 {
        default.to_string()
    } else {
        format!("{default},kube_client=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HHGITOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Prints an error as one line on stderr and returns its exit code.
pub fn report_error(e: &Error) -> u8 {
    eprintln!("hhgitops: error: {e}");
    exit_code_of(e)
}

/// The exit code of an error.
pub fn exit_code_of(e: &Error) -> u8 {
    match e.class() {
        ErrorClass::Usage => EXIT_USAGE,
        ErrorClass::Runtime => EXIT_RUNTIME,
    }
}

pub fn print_json<T: Serialize>(value: &T) -> u8 {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            println!("{s}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("hhgitops: error: cannot print JSON: {e}");
            EXIT_RUNTIME
        }
    }
}
