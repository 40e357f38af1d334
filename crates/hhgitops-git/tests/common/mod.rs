//! Shared fixtures: local bare repositories as remotes, and a raw `git` for setting up and inspecting them
//! independently of the library under test.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use hhgitops_git::{CommandRecord, Git, Timeouts};

/// Run git for fixtures, isolated from the operator's configuration, with a fixed identity.
pub fn raw_git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Fixture",
            "-c",
            "user.email=fixture@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An empty bare repository whose HEAD is `main`.
pub fn bare_repo(parent: &Path, name: &str) -> PathBuf {
    let path = parent.join(name);
    fs::create_dir_all(&path).unwrap();
    raw_git(
        &path,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    path
}

/// Push a commit with these files to `branch` of `bare`, building on what is there.
pub fn seed(bare: &Path, branch: &str, files: &[(&str, &str)], message: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("w");
    let url = bare.to_str().unwrap();
    let heads = raw_git(scratch.path(), &["ls-remote", "--heads", url, branch]);
    if heads.trim().is_empty() {
        fs::create_dir_all(&work).unwrap();
        raw_git(&work, &["init", "--quiet", "--initial-branch", branch]);
        raw_git(&work, &["remote", "add", "origin", url]);
    } else {
        raw_git(
            scratch.path(),
            &["clone", "--quiet", "--branch", branch, url, "w"],
        );
    }
    for (path, content) in files {
        let p = work.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    raw_git(&work, &["add", "-A"]);
    raw_git(&work, &["commit", "--quiet", "-m", message]);
    raw_git(
        &work,
        &[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ],
    );
}

/// Subjects of `branch` on the bare remote, newest first.
pub fn remote_subjects(bare: &Path, branch: &str) -> Vec<String> {
    raw_git(bare, &["log", "--format=%s", branch])
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn remote_head(bare: &Path, branch: &str) -> String {
    raw_git(bare, &["rev-parse", branch]).trim().to_owned()
}

/// A client that records every git process it runs.
pub fn recording_git() -> (Git, Arc<Mutex<Vec<CommandRecord>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let git = Git::new()
        .with_timeouts(Timeouts {
            local: std::time::Duration::from_secs(60),
            network: std::time::Duration::from_secs(60),
        })
        .with_observer(Arc::new(move |r: &CommandRecord| {
            sink.lock().unwrap().push(r.clone())
        }));
    (git, log)
}

pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}
