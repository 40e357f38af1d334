//! Real `git` with local bare repositories as remotes (no network): a remote, someone else's clone of it,
//! commits pushed "from elsewhere", and what the remote holds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TestEnv;

/// Runs `git` in `dir` as "Someone Else" (so the commits a test makes are told apart from hhgitops' own),
/// asserts that it succeeded, and returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Someone Else",
            "-c",
            "user.email=else@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An empty bare repository `<name>.git` in the test's directory, with `main` as its default branch.
pub fn bare_remote(env: &TestEnv, name: &str) -> PathBuf {
    let p = env.path(&format!("{name}.git"));
    std::fs::create_dir_all(&p).unwrap();
    git(&p, &["init", "-q", "--bare", "-b", "main"]);
    p
}

/// The `file://` URL of a local repository.
pub fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Someone else's fresh clone of `remote`, to push changes "from elsewhere".
pub fn clone_of(env: &TestEnv, remote: &Path) -> PathBuf {
    let dir = env.path(&format!("other-{}", uuid::Uuid::new_v4().simple()));
    git(
        env.dir.path(),
        &["clone", "-q", &file_url(remote), dir.to_str().unwrap()],
    );
    dir
}

/// Pushes one commit with `files` (`(path, content)`) to `remote`'s `main`, made in someone else's clone.
pub fn seed(env: &TestEnv, remote: &Path, files: &[(&str, &str)], message: &str) {
    let o = clone_of(env, remote);
    for (rel, content) in files {
        let p = o.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(&o, &["add", "-A"]);
    git(&o, &["commit", "-q", "-m", message]);
    git(&o, &["push", "-q", "origin", "HEAD:main"]);
}

/// The subjects of `main`'s commits on `remote`, newest first.
pub fn remote_log(remote: &Path) -> Vec<String> {
    git(remote, &["log", "--format=%s", "main"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The files of `main`'s tree on `remote`.
pub fn remote_files(remote: &Path) -> Vec<String> {
    git(remote, &["ls-tree", "-r", "--name-only", "main"])
        .lines()
        .map(str::to_string)
        .collect()
}
