//! The progress bar on a terminal: a deliberately slow `sync` of the ~5,600-object reference fabric against the
//! test API server, run under a pseudo-terminal (`script`), draws a bar that moves — several redraws with
//! growing counts — and the same sync with `--json`, or with standard error piped, draws none.

mod common;
mod kube_support;

use std::process::Command;
use std::time::Duration;

use common::*;
use hhgitops_testapi::FaultRule;

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs hhgitops under a pseudo-terminal; returns (exit code, everything the terminal received).
fn on_terminal(k: &kube_support::Kube, args: &[&str]) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("hhgitops");
    let mut line = quote(bin.to_str().unwrap());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let out = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env_remove("HHGITOPS_DATABASE_URL")
        .env("HHGITOPS_HOME", k.env.home())
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .env("NO_COLOR", "1")
        .output()
        .expect("script (util-linux) runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Every `done/total` a bar drew, in order, per total.
fn bar_counts(screen: &str) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let b = screen.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && i > 0 && b[i - 1].is_ascii_digit() {
            let mut s = i;
            while s > 0 && b[s - 1].is_ascii_digit() {
                s -= 1;
            }
            let mut e = i + 1;
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            // A bar's count follows its `]`: `[=====>    ] 1234/5669`.
            let after_bar = s >= 2 && &screen[s - 2..s] == "] ";
            if e > i + 1 && after_bar {
                let done: u64 = screen[s..i].parse().unwrap_or(0);
                let total: u64 = screen[i + 1..e].parse().unwrap_or(0);
                out.push((done, total));
            }
            i = e;
        } else {
            i += 1;
        }
    }
    out
}

fn setup(k: &kube_support::Kube, input: &[u8]) {
    let root = k.fabric("f");
    std::fs::write(root.join("raw/fabric.yaml"), input).unwrap();
}

#[test]
fn a_slow_sync_on_a_terminal_draws_a_moving_bar_and_none_with_json_or_piped() {
    let Some(input) = reference_fabric() else {
        return;
    };
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`script` (Debian package bsdutils) is required in CI"
        );
        eprintln!("note: `script` not found: pseudo-terminal test skipped");
        return;
    }
    let objects = String::from_utf8_lossy(&input)
        .lines()
        .filter(|l| l.starts_with("kind:"))
        .count();
    assert!(objects > 5000, "{objects}");

    // On a terminal, every write slowed down.
    let Some(k) = kube_support::start() else {
        return;
    };
    setup(&k, &input);
    k.server
        .faults()
        .inject(FaultRule::delay(Duration::from_millis(4)).method("PATCH"));
    let (code, screen) = on_terminal(&k, &["sync", "--fabric", "f"]);
    assert_eq!(code, 0, "{}", &screen[screen.len().saturating_sub(3000)..]);
    assert!(k.total() >= objects - 50, "applied: {}", k.total());
    let counts = bar_counts(&screen);
    // Each stage with a total draws its own run of counts (a new stage starts again from 0): the longest run
    // grows through several distinct values towards its total.
    let mut runs: Vec<(u64, Vec<u64>)> = Vec::new();
    for (done, total) in &counts {
        match runs.last_mut() {
            Some((t, d)) if t == total && d.last().is_some_and(|l| l <= done) => {
                if d.last() != Some(done) {
                    d.push(*done);
                }
            }
            _ => runs.push((*total, vec![*done])),
        }
    }
    let (total, seen) = runs
        .iter()
        .max_by_key(|(_, d)| d.len())
        .cloned()
        .unwrap_or_else(|| panic!("no bar drawn: {}", &screen[..screen.len().min(3000)]));
    assert!(
        seen.len() >= 4,
        "a moving bar: {seen:?} of {total} in {}",
        &screen[..screen.len().min(3000)]
    );
    assert!(
        total as usize >= objects - 50,
        "a bar over the fabric's objects: {total}"
    );
    assert!(
        *seen.last().unwrap() * 10 >= total * 9,
        "it reached (nearly) its total: {seen:?}"
    );
    let big_stages = runs
        .iter()
        .filter(|(t, d)| *t as usize >= objects - 50 && d.len() >= 3)
        .count();
    assert!(big_stages >= 1, "{runs:?}");
    // The report follows, the bar cleared before it.
    assert!(screen.contains("created"), "the report");

    // `--json` on a terminal: the JSON alone.
    let Some(k) = kube_support::start() else {
        return;
    };
    setup(&k, &input);
    let (code, screen) = on_terminal(&k, &["sync", "--fabric", "f", "--json"]);
    assert_eq!(code, 0, "{}", &screen[screen.len().saturating_sub(3000)..]);
    assert!(bar_counts(&screen).is_empty(), "no bar with --json");
    assert!(!screen.contains('\u{1b}'), "no terminal control sequence");
    let doc: serde_json::Value = serde_json::from_str(&screen.replace("\r\n", "\n")).unwrap();
    assert!(doc["apply"]["summary"]["created"].as_u64().unwrap() >= 5000);

    // Standard error piped: nothing drawn.
    let Some(k) = kube_support::start() else {
        return;
    };
    setup(&k, &input);
    let out = k.run(&["sync", "--fabric", "f"], 0);
    let err = stderr(&out);
    assert!(bar_counts(&err).is_empty(), "no bar when piped: {err}");
    assert!(!err.contains('\u{1b}'), "no control sequence when piped");
    assert!(stdout(&out).contains("created"));
}
