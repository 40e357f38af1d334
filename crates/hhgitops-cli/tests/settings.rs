//! The settings of README "Settings", resolved once from flags and `HHGITOPS_*` variables: each variable and
//! its flag change what they name (the flag winning), in every command that uses it; a bad value is a usage
//! error naming where it came from.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const NAMESPACES: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
";

fn hold_lock(root: &Path) -> std::fs::File {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(".hnp/lock"))
        .unwrap();
    lock.lock().unwrap();
    lock
}

/// Runs with `vars` set and returns (exit code, stderr, seconds taken).
fn timed(env: &TestEnv, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, f64) {
    let mut c = env.cmd();
    for (k, v) in vars {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.args(args).output().unwrap();
    (code(&out), stderr(&out), t.elapsed().as_secs_f64())
}

#[test]
fn the_lock_timeout_applies_to_every_locked_command_and_the_flag_wins() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    let lock = hold_lock(&root);
    // The variable: delete and reindex used to wait a fixed 60 s.
    for args in [
        &["ingest", "--fabric", "f"][..],
        &["delete", "--fabric", "f", "VLANNamespace/default"][..],
        &["reindex", "--fabric", "f"][..],
        &["init", "--fabric", "f"][..],
    ] {
        let (code, err, secs) = timed(&env, &[("HHGITOPS_LOCK_TIMEOUT", "0.3")], args);
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(err.contains("busy"), "{args:?}: {err}");
        assert!(secs < 20.0, "{args:?} waited {secs:.1} s");
    }
    // The flag over the variable (which alone would wait a minute).
    let (code, err, secs) = timed(
        &env,
        &[("HHGITOPS_LOCK_TIMEOUT", "60")],
        &["reindex", "--fabric", "f", "--lock-timeout", "200ms"],
    );
    assert_eq!(code, 3, "{err}");
    assert!(secs < 20.0, "waited {secs:.1} s");
    // And the lock is really waited for: with room to wait, a command outlasts a lock released meanwhile.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        lock.unlock().unwrap();
    });
    let (code, err, secs) = timed(
        &env,
        &[("HHGITOPS_LOCK_TIMEOUT", "0.1")],
        &["reindex", "--fabric", "f", "--lock-timeout", "30"],
    );
    release.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(secs >= 0.6, "it waited for the lock: {secs:.2} s");
}

#[test]
fn the_file_size_limit_comes_from_the_variable_or_the_flag() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    let out = env
        .cmd()
        .env("HHGITOPS_MAX_FILE_SIZE", "64")
        .args(["ingest", "--fabric", "f", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["files"][0]["status"], "rejected", "{r}");
    assert!(
        r["files"][0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"),
        "{r}"
    );
    let out = env
        .cmd()
        .env("HHGITOPS_MAX_FILE_SIZE", "64")
        .args([
            "ingest",
            "--fabric",
            "f",
            "--json",
            "--max-file-size",
            "100000",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["files"][0]["status"], "ingested");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Someone",
            "-c",
            "user.email=someone@example.com",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_git_author_comes_from_the_variable_or_the_flag() {
    let env = TestEnv::sqlite();
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["commit", "-q", "--allow-empty", "-m", "start"]);
    let root = work.join("fabrics/f/gitops");
    let out = env
        .cmd()
        .env("HHGITOPS_GIT_AUTHOR", "Var Person <var@example.com>")
        .args(["fabric", "add", "f", "--path", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        git(&work, &["log", "-1", "--format=%an <%ae> / %cn <%ce>"]),
        "Var Person <var@example.com> / Var Person <var@example.com>"
    );
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    let out = env
        .cmd()
        .env("HHGITOPS_GIT_AUTHOR", "Var Person <var@example.com>")
        .args([
            "ingest",
            "--fabric",
            "f",
            "--git-author",
            "Flag Person <flag@example.com>",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        git(&work, &["log", "-1", "--format=%an <%ae>"]),
        "Flag Person <flag@example.com>"
    );
}

#[test]
fn an_invalid_value_is_a_usage_error_naming_its_variable_or_flag() {
    let env = TestEnv::sqlite();
    fabric_at(&env, "f");
    for (var, bad, args) in [
        (
            "HHGITOPS_LOCK_TIMEOUT",
            "soon",
            &["reindex", "--fabric", "f"][..],
        ),
        ("HHGITOPS_KUBE_TIMEOUT", "0", &["status"][..]),
        ("HHGITOPS_KUBE_CONCURRENCY", "many", &["fabric", "list"][..]),
        (
            "HHGITOPS_GIT_AUTHOR",
            "nobody",
            &["ingest", "--fabric", "f"][..],
        ),
        (
            "HHGITOPS_MAX_FILE_SIZE",
            "-1",
            &["ingest", "--fabric", "f"][..],
        ),
        ("HHGITOPS_JOBS", "0", &["ingest", "--all"][..]),
        (
            "HHGITOPS_SYNC_INTERVAL",
            "often",
            &["serve", "--listen", "127.0.0.1:0"][..],
        ),
    ] {
        let (code, err, _) = timed(&env, &[(var, bad)], args);
        assert_eq!(code, 2, "{var}={bad}: {err}");
        assert!(err.contains(&format!("{var}={bad:?}")), "{var}: {err}");
        assert!(err.contains("expected"), "{var}: {err}");
    }
    for (flag, bad) in [
        ("--lock-timeout", "never"),
        ("--kube-concurrency", "0"),
        ("--max-file-size", "lots"),
    ] {
        let (code, err, _) = timed(&env, &[], &["status", flag, bad]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(err.contains(&format!("{flag} {bad:?}")), "{flag}: {err}");
    }
    // The flag's value is the one judged: a good flag over a bad variable works.
    let (code, err, _) = timed(
        &env,
        &[("HHGITOPS_LOCK_TIMEOUT", "soon")],
        &["reindex", "--fabric", "f", "--lock-timeout", "5"],
    );
    assert_eq!(code, 0, "{err}");
    // `--json` gives the API's error document with the same words.
    let out = env
        .cmd()
        .env("HHGITOPS_JOBS", "x")
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 2);
    let doc = json(&out);
    assert!(doc.to_string().contains("HHGITOPS_JOBS"), "{doc}");
}
