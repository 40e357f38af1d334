//! `ingest --watch`: runs the engine's [`WatchSet`] over the selected fabrics and prints its events — one line
//! per event on stdout (errors on stderr), or JSON lines with `--json` (the shape is documented on
//! [`hhgitops_engine::watch::WatchEvent`]) — until SIGINT or SIGTERM. The first signal stops cleanly (the
//! ingestion in progress finishes); a second one exits at once.

use std::collections::BTreeSet;
use std::time::Duration;

use hhgitops_engine::ingest::FileStatus;
use hhgitops_engine::watch::{
    FabricSelection, WatchEvent, WatchEventKind, WatchMode, WatchModeName, WatchOptions, WatchSet,
    DEFAULT_DEBOUNCE,
};
use hhgitops_engine::{Engine, Error};

use crate::cli::IngestArgs;
use crate::output::{shown, EXIT_OK};

/// Parses an interval: `500ms`, `2s`, `1.5s`, `1m`; a bare number is seconds.
pub fn parse_interval(flag: &str, s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let factor = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        _ => f64::NAN,
    };
    let secs = num.parse::<f64>().map(|n| n * factor).unwrap_or(f64::NAN);
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(Error::usage(format!(
            "{flag} {s:?}: expected an interval such as 100ms, 2s or 1m"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub async fn watch(engine: &Engine, a: IngestArgs) -> Result<u8, Error> {
    let debounce = match &a.debounce {
        Some(s) => parse_interval("--debounce", s)?,
        None => DEFAULT_DEBOUNCE,
    };
    let mode = match &a.poll {
        Some(s) => {
            let d = parse_interval("--poll", s)?;
            if d < Duration::from_millis(10) {
                return Err(Error::usage(format!(
                    "--poll {s:?}: the interval must be at least 10ms"
                )));
            }
            WatchMode::Poll(d)
        }
        None => WatchMode::Events,
    };
    let selection = match (&a.select.fabric, a.select.all) {
        (Some(name), _) => {
            // An unknown fabric is a usage error now, not a silent wait.
            engine.fabric(name).await?;
            FabricSelection::Names(BTreeSet::from([name.clone()]))
        }
        (None, true) => FabricSelection::All,
        (None, false) => return Err(Error::usage("give --fabric NAME or --all")),
    };
    let ingest = hhgitops_engine::ingest::IngestOptions {
        failpoint: crate::hooks::failpoint(),
        after_read: crate::hooks::after_read_hook(),
        ..hhgitops_engine::ingest::IngestOptions::from_settings(engine.settings())
    };
    let options = WatchOptions {
        mode,
        debounce,
        follow: Some(selection),
        ingest,
        ..WatchOptions::default()
    };
    let mut signals = Signals::new()?;
    let printer = Printer {
        json: a.json,
        prefix: a.select.all,
    };
    let (set, mut events) = WatchSet::start(engine.clone(), options);
    if a.select.all
        && engine
            .fabrics()
            .await
            .map(|f| f.is_empty())
            .unwrap_or(false)
        && !a.json
    {
        eprintln!("hhgitops: no fabrics registered yet: watching for `hhgitops fabric add`");
    }

    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => printer.print(&ev),
                None => break,
            },
            _ = signals.next() => break,
        }
    }
    if !a.json {
        eprintln!("hhgitops: stopping: finishing the ingestion in progress (signal again to exit at once)");
    }
    let stop = set.stop();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = events.recv() => if let Some(ev) = ev { printer.print(&ev) },
            sig = signals.next() => {
                eprintln!("hhgitops: second signal: exiting at once (the next run completes or discards the interrupted ingestion)");
                std::process::exit(128 + sig);
            }
        }
    }
    while let Some(ev) = events.try_recv() {
        printer.print(&ev);
    }
    Ok(EXIT_OK)
}

/// SIGINT and SIGTERM.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let err =
                |e: std::io::Error| Error::Runtime(format!("cannot install signal handlers: {e}"));
            Ok(Signals {
                term: signal(SignalKind::terminate()).map_err(err)?,
                int: signal(SignalKind::interrupt()).map_err(err)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal; returns its number.
    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => 15,
                _ = self.int.recv() => 2,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}

struct Printer {
    json: bool,
    /// Prefix lines with the fabric name (several fabrics).
    prefix: bool,
}

impl Printer {
    fn print(&self, ev: &WatchEvent) {
        if self.json {
            match serde_json::to_string(ev) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("hhgitops: error: cannot print an event as JSON: {e}"),
            }
            return;
        }
        let fabric = ev.fabric.as_deref().unwrap_or("");
        let p = if self.prefix && !fabric.is_empty() {
            format!("{fabric}: ")
        } else {
            String::new()
        };
        match &ev.kind {
            WatchEventKind::Watching {
                raw,
                mode,
                poll_ms,
                debounce_ms,
                ..
            } => {
                let how = match (mode, poll_ms) {
                    (WatchModeName::Poll, Some(ms)) => format!("polling every {ms}ms"),
                    _ => "file-system events".to_string(),
                };
                println!("watching {fabric}: {raw} ({how}, debounce {debounce_ms}ms)");
            }
            WatchEventKind::File(f) => match f.status {
                FileStatus::Ingested | FileStatus::Unchanged => {
                    println!(
                        "{p}{}: {}",
                        shown(&f.file),
                        crate::output::accepted_summary(f)
                    );
                }
                FileStatus::Rejected => {
                    let again = if f.previously_rejected {
                        " (unchanged since it was rejected)"
                    } else {
                        ""
                    };
                    let n = f.errors.len();
                    println!(
                        "{p}{}: rejected{again}, {n} error{}",
                        shown(&f.file),
                        if n == 1 { "" } else { "s" }
                    );
                    for e in &f.errors {
                        eprintln!("{}", e.display(&f.file));
                    }
                }
                FileStatus::Skipped => println!(
                    "{p}{}: skipped: {}",
                    shown(&f.file),
                    shown(f.note.as_deref().unwrap_or(""))
                ),
            },
            WatchEventKind::Refused { file, reason } => {
                println!("{p}{}: refused: {}", shown(file), shown(reason))
            }
            WatchEventKind::Run {
                recovery,
                git,
                git_error,
                ..
            } => {
                if let Some(e) = git_error {
                    eprintln!("{p}ingested, but {}", shown(e));
                }
                if recovery.rolled_forward + recovery.discarded > 0 {
                    println!(
                        "{p}recovered an interrupted run ({} completed, {} discarded)",
                        recovery.rolled_forward, recovery.discarded
                    );
                }
                crate::output::print_git(fabric, git.as_ref());
            }
            WatchEventKind::Managed(m) => {
                for e in &m.errors {
                    eprintln!("{e}");
                }
                for (what, list) in [
                    ("edited by hand", &m.edited),
                    ("added by hand", &m.adopted),
                    ("removed by hand", &m.removed),
                ] {
                    if !list.is_empty() {
                        println!("{p}managed objects {what}: {}", shown(&list.join(", ")));
                    }
                }
            }
            WatchEventKind::Error { message, file } => {
                let at = file
                    .as_deref()
                    .map(|f| format!("{f}: "))
                    .unwrap_or_default();
                let who = if fabric.is_empty() {
                    String::new()
                } else {
                    format!("{fabric}: ")
                };
                eprintln!("hhgitops: error: {who}{}{}", shown(&at), shown(message));
            }
            WatchEventKind::Stopped { reason } => println!("stopped watching {fabric}: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        let ms = |n| Duration::from_millis(n);
        for (s, d) in [
            ("100ms", ms(100)),
            ("2s", ms(2000)),
            ("1.5s", ms(1500)),
            ("1m", ms(60_000)),
            ("3", ms(3000)),
            ("0ms", ms(0)),
        ] {
            assert_eq!(parse_interval("--poll", s).unwrap(), d, "{s}");
        }
        for bad in ["", "fast", "-1s", "10h", "1e9s", "ms"] {
            assert!(parse_interval("--poll", bad).is_err(), "{bad}");
        }
    }
}
