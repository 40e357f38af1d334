//! Presentation: logging set-up, JSON printing, and turning engine errors into one line and an exit code.

use hhgitops_engine::{Error, ErrorClass};
use serde::Serialize;

pub const EXIT_OK: u8 = 0;
pub const EXIT_REJECTED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_RUNTIME: u8 = 3;

/// Exit status when stdout or stderr was closed by the reader (`… | head`): that of a process ended by SIGPIPE.
pub const EXIT_CLOSED_OUTPUT: i32 = 141;

/// A closed stdout or stderr (`hhgitops status --json | head -c 100`) ends the command at once and silently,
/// as SIGPIPE ends other Unix tools, instead of a panic (exit 101). Rust ignores SIGPIPE, so a write to a closed
/// pipe is an error, which `println!` turns into a panic; this hook recognises exactly that panic. The engine is
/// crash-safe, so ending at a print never leaves half-written state.
pub fn quiet_on_closed_output() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_output_panic(msg) {
            std::process::exit(EXIT_CLOSED_OUTPUT);
        }
        default_hook(info)
    }));
}

fn is_closed_output_panic(msg: &str) -> bool {
    (msg.starts_with("failed printing to stdout") || msg.starts_with("failed printing to stderr"))
        && msg.contains("Broken pipe")
}

/// Colours in log lines only when stderr is a terminal and `NO_COLOR` is not set.
pub fn use_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

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
        .with_ansi(use_colour())
        .with_target(false)
        .try_init();
}

/// A text (file or object name, message) as printed for a person: control characters escaped, so that a name
/// never sends terminal escapes. JSON output needs no such care (serde escapes them).
pub use hhgitops_core::diag::escape_controls as shown;

/// Prints an error as one line on stderr and returns its exit code.
pub fn report_error(e: &Error) -> u8 {
    eprintln!("hhgitops: error: {}", shown(&e.to_string()));
    exit_code_of(e)
}

/// With `--json`, a failed command prints the error on stdout in the one error shape of the HTTP API
/// (`{"error": {"code", "message", "details"}}`), its code chosen by the same mapping as the server's.
pub fn print_json_error(e: &Error) {
    print_json(&hhgitops_server::adapter::api_error(e).body());
}

/// The exit code of an error: from its class (the table is in the README).
pub fn exit_code_of(e: &Error) -> u8 {
    exit_code_of_class(e.class())
}

/// The exit code of an error class: what the operator must fix (usage, configuration, a name that does not
/// exist) is 2, input refused is 1, and what failed while running (busy, Git, cluster, database, I/O) is 3.
pub fn exit_code_of_class(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Usage | ErrorClass::NotFound => EXIT_USAGE,
        ErrorClass::Rejected => EXIT_REJECTED,
        ErrorClass::Conflict
        | ErrorClass::Git
        | ErrorClass::Cluster
        | ErrorClass::Database
        | ErrorClass::Io => EXIT_RUNTIME,
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

/// One line about the commit and push an operation made.
pub fn print_git(fabric: &str, git: Option<&hhgitops_engine::gitops::GitOutcome>) {
    let Some(g) = git else { return };
    match (&g.commit, g.pushed) {
        (Some(c), true) => println!(
            "{fabric}: committed {} and pushed: {}",
            &c[..c.len().min(12)],
            g.message.as_deref().unwrap_or("")
        ),
        (Some(c), false) => println!(
            "{fabric}: committed {}: {}",
            &c[..c.len().min(12)],
            g.message.as_deref().unwrap_or("")
        ),
        (None, true) => println!("{fabric}: pushed earlier commits"),
        (None, false) => {}
    }
}

/// Managed files the Hedgehog NetBox Plugin left, not cleaned up by this command: counted, with the command that
/// cleans them up; a copy that differs from its managed file is shown with its diff (a person decides).
pub fn print_hnp(fabric: &str, pending: &[hhgitops_engine::layout::Action]) {
    use hhgitops_engine::layout::Action;
    if pending.is_empty() {
        return;
    }
    let count = |f: fn(&Action) -> bool| pending.iter().filter(|a| f(a)).count();
    let identical = count(|a| matches!(a, Action::RemoveHnpDuplicate { .. }));
    let differing = count(|a| matches!(a, Action::SetAsideHnpDuplicate { .. }));
    let renamed = count(|a| matches!(a, Action::RenameHnpCopy { .. }));
    let marked = count(|a| matches!(a, Action::StripHnpMarks { .. }));
    eprintln!(
        "hhgitops: note: {fabric}: managed files left by the Hedgehog NetBox Plugin: {identical} copy(ies) identical to their managed file, {differing} differing, {renamed} whose original is gone, {marked} file(s) with its annotations or header; `hhgitops init --fabric {fabric} --migrate` cleans them up in one commit (`--dry-run` lists every step)"
    );
    for a in pending {
        if matches!(a, Action::SetAsideHnpDuplicate { .. }) {
            eprintln!("hhgitops: note: {fabric}: would {a}");
        }
    }
}

/// Loose YAML files left where they are: said once each, with the command that moves them.
pub fn print_loose(fabric: &str, loose: &[hhgitops_engine::layout::Action]) {
    for a in loose {
        if let hhgitops_engine::layout::Action::MoveLoose { from, to } = a {
            eprintln!(
                "hhgitops: note: {fabric}: loose YAML file {from} outside raw/ left where it is; `hhgitops init --fabric {fabric} --migrate` moves it to {to}"
            );
        }
    }
}

/// `ingested, +3 VPC ~1 VPCAttachment` or `unchanged, 4 object(s) unchanged`, for an accepted file.
pub fn accepted_summary(f: &hhgitops_engine::ingest::FileReport) -> String {
    let mut parts = counts(&f.created, '+');
    parts.extend(counts(&f.updated, '~'));
    let what = if f.status == hhgitops_engine::ingest::FileStatus::Ingested {
        "ingested"
    } else {
        "unchanged"
    };
    if parts.is_empty() {
        format!("{what}, {} object(s) unchanged", f.unchanged.len())
    } else {
        format!("{what}, {}", parts.join(" "))
    }
}

fn counts(list: &[String], sign: char) -> Vec<String> {
    let mut per: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for o in list {
        *per.entry(o.split('/').next().unwrap_or("")).or_default() += 1;
    }
    per.into_iter()
        .map(|(k, n)| format!("{sign}{n} {k}"))
        .collect()
}
