//! Roots that cannot hurt: what a folder must not be to become a fabric's GitOps root. Checked when a fabric is
//! registered (`fabric add`, `onboard`), after its clone exists, before anything is written.
//!
//! Refused: `/`; system folders (and anything inside the ones that hold the system itself); the home directory
//! of any user (and `$HOME`); the hhgitops home, or a folder containing it; a folder containing another GitOps
//! root (a `.hnp/` folder or an HNP layout — `raw/` beside `managed/` — anywhere below it) or lying inside
//! one; a folder that is, contains or lies inside another registered fabric's root once symbolic links are
//! resolved.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::home::Home;

/// Folders that hold the system itself: neither they nor anything inside them can be a root.
const SYSTEM_TREES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
    "/sbin", "/sys", "/usr",
];
/// Top-level folders that hold many things: they cannot be a root, folders inside them can.
const SYSTEM_FOLDERS: &[&str] = &[
    "/home",
    "/root",
    "/var",
    "/srv",
    "/opt",
    "/mnt",
    "/media",
    "/tmp",
    "/data",
    "/var/lib",
    "/var/tmp",
    "/usr/local",
];
/// Most entries looked at below a new root when searching for other GitOps roots.
const MAX_SCAN: usize = 200_000;

/// `p` with symbolic links resolved as far as it exists; the rest appended as written (made absolute).
pub fn resolve(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = std::fs::canonicalize(&existing) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

fn refuse(root: &Path, why: String) -> Error {
    Error::usage(format!("{} cannot be a GitOps root: {why}", root.display()))
}

/// The home folders of the system's users (from /etc/passwd) and `$HOME`.
fn user_homes() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(5))
        .filter(|h| h.starts_with('/') && *h != "/" && *h != "/nonexistent")
        .map(PathBuf::from)
        .collect();
    if let Some(h) = std::env::var_os("HOME") {
        out.push(PathBuf::from(h));
    }
    out.into_iter().map(|h| resolve(&h)).collect()
}

/// True when `dir` is itself a GitOps root: a `.hnp/` folder, or an HNP layout (`raw/` beside `managed/`).
fn is_gitops_root(dir: &Path) -> bool {
    let real_dir = |p: PathBuf| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    real_dir(dir.join(".hnp")) || (real_dir(dir.join("raw")) && real_dir(dir.join("managed")))
}

/// A GitOps root somewhere strictly below `root` (links not followed, `.git` skipped), or an error when the
/// tree is too large to look through.
fn root_below(root: &Path) -> std::result::Result<Option<PathBuf>, String> {
    let mut seen = 0usize;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > MAX_SCAN {
                return Err(format!(
                    "it holds more than {MAX_SCAN} files and folders, too many to check that no other GitOps root is inside; choose a smaller folder"
                ));
            }
            if !e.file_type().is_ok_and(|t| t.is_dir()) || e.file_name() == ".git" {
                continue;
            }
            let p = e.path();
            if is_gitops_root(&p) {
                return Ok(Some(p));
            }
            stack.push(p);
        }
    }
    Ok(None)
}

/// Checks that `root` may become the GitOps root of a new fabric (see the module doc). `others` are the
/// fabrics already registered.
pub fn check_new_root(root: &Path, home: &Home, others: &[Fabric]) -> Result<()> {
    let real = resolve(root);
    if real.parent().is_none() {
        return Err(refuse(root, "it is the file system's root".into()));
    }
    for t in SYSTEM_TREES {
        if real.starts_with(t) {
            return Err(refuse(root, format!("{t} holds the system itself")));
        }
    }
    for f in SYSTEM_FOLDERS {
        if real == Path::new(f) {
            return Err(refuse(
                root,
                format!(
                    "{f} is a system folder; give a folder of its own (e.g. {f}/hhgitops/<fabric>)"
                ),
            ));
        }
    }
    for h in user_homes() {
        if real == h {
            return Err(refuse(
                root,
                "it is a user's home directory; give a folder of its own inside it".into(),
            ));
        }
    }
    let home_dir = resolve(home.dir());
    if home_dir.starts_with(&real) {
        return Err(refuse(
            root,
            format!(
                "it is or contains the hhgitops home {}; fabrics live in their own folders",
                home_dir.display()
            ),
        ));
    }
    for f in others {
        let other = resolve(&f.root);
        if real.starts_with(&other) || other.starts_with(&real) {
            return Err(refuse(
                root,
                format!(
                    "once symbolic links are resolved it is, contains or lies inside the root {} of fabric {:?}; two fabrics never share or nest roots",
                    other.display(),
                    f.name
                ),
            ));
        }
    }
    let mut anc = real.parent();
    while let Some(a) = anc {
        if is_gitops_root(a) {
            return Err(refuse(
                root,
                format!(
                    "it lies inside another GitOps root, {}; a root never holds another",
                    a.display()
                ),
            ));
        }
        anc = a.parent();
    }
    match root_below(&real) {
        Ok(Some(inner)) => Err(refuse(
            root,
            format!(
                "it contains another GitOps root, {}; a root never holds another (give that folder, or a folder beside it)",
                inner.display()
            ),
        )),
        Ok(None) => Ok(()),
        Err(why) => Err(refuse(root, why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_that_hurt_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::from_dir(d.path().join("home")).unwrap();
        let check = |p: &Path| check_new_root(p, &home, &[]);
        assert!(check(Path::new("/")).is_err());
        assert!(check(Path::new("/etc")).is_err());
        assert!(check(Path::new("/usr/share/x")).is_err());
        assert!(check(Path::new("/var")).is_err());
        assert!(check(d.path()).is_err(), "contains the hhgitops home");
        assert!(check(&d.path().join("home")).is_err(), "the home itself");
        std::fs::create_dir_all(d.path().join("outer/inner/.hnp")).unwrap();
        assert!(check(&d.path().join("outer")).is_err(), "contains a root");
        assert!(
            check(&d.path().join("outer/inner/x")).is_err(),
            "inside a root"
        );
        std::fs::create_dir_all(d.path().join("hnp/sub/raw")).unwrap();
        std::fs::create_dir_all(d.path().join("hnp/sub/managed")).unwrap();
        assert!(
            check(&d.path().join("hnp")).is_err(),
            "contains an HNP layout"
        );
        assert!(check(&d.path().join("fresh/root")).is_ok());
    }
}
