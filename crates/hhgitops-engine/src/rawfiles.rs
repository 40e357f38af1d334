//! Finding the raw files of a GitOps root (SPEC §3): `*.yaml`/`*.yml` (any case) under `raw/`, recursively,
//! skipping dotfiles and dot-folders, editor temp files, `*.archived` and anything else.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::layout::{is_yaml_name, rel_path, RAW};

/// A candidate raw file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Relative to the GitOps root, `/`-separated: `raw/sub/vpcs.yaml`.
    pub rel: String,
    pub abs: PathBuf,
}

/// A file in raw/ that is refused outright (never read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedFile {
    pub file: String,
    pub reason: String,
}

/// True for names the ingester ignores: dotfiles, editor temp files, archives, non-YAML.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name.starts_with('#')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.to_ascii_lowercase().ends_with(".archived")
        || name.starts_with(crate::atomic::TMP_PREFIX)
        || !is_yaml_name(name)
}

/// One candidate found under raw/: a regular file or a symbolic link with an ingestible name.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Relative to the GitOps root: `raw/sub/vpcs.yaml`.
    pub rel: String,
    pub path: PathBuf,
    pub is_symlink: bool,
}

/// A folder under raw/ that could not be listed (the walk goes on without it).
#[derive(Debug)]
pub struct UnreadableFolder {
    /// Relative to the GitOps root.
    pub rel: String,
    pub error: std::io::Error,
}

/// The one walk of raw/ with the naming rules of SPEC §3 (dot-folders skipped, ignored names skipped), used by
/// ingestion and by the watcher. An unreadable subfolder does not block the rest of raw/: it is returned. Fails
/// only when raw/ itself cannot be listed.
pub fn walk_raw(
    root: &Path,
    mut visit: impl FnMut(RawEntry),
) -> std::io::Result<Vec<UnreadableFolder>> {
    let raw = root.join(RAW);
    let mut problems = Vec::new();
    let mut stack = vec![(raw.clone(), Some(std::fs::read_dir(&raw)?))];
    while let Some((dir, listing)) = stack.pop() {
        let entries = match listing.map_or_else(|| std::fs::read_dir(&dir), Ok) {
            Ok(l) => l,
            // Removed between listing its parent and now: nothing to see.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                problems.push(UnreadableFolder {
                    rel: rel_path(root, &dir),
                    error,
                });
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(error) => {
                    problems.push(UnreadableFolder {
                        rel: rel_path(root, &dir),
                        error,
                    });
                    break;
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                stack.push((path, None));
            } else if (ft.is_file() || ft.is_symlink()) && !is_ignored_name(&name) {
                visit(RawEntry {
                    rel: rel_path(root, &path),
                    path,
                    is_symlink: ft.is_symlink(),
                });
            }
        }
    }
    Ok(problems)
}

/// Lists raw files in a stable (sorted) order, and the ones refused (symbolic links leading out of the root,
/// folders that cannot be read).
pub fn discover(root: &Path) -> Result<(Vec<RawFile>, Vec<RefusedFile>)> {
    let raw = root.join(RAW);
    if !raw.is_dir() {
        return Err(Error::usage(format!(
            "{} is missing: run `hhgitops init` for this fabric",
            raw.display()
        )));
    }
    let canon_root =
        std::fs::canonicalize(root).map_err(|e| Error::io("cannot resolve", root, e))?;
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let problems = walk_raw(root, |e| {
        if e.is_symlink {
            let reason = match std::fs::canonicalize(&e.path) {
                Ok(target) if target.starts_with(&canon_root) && target.is_file() => None,
                Ok(target) if target.starts_with(&canon_root) => return,
                Ok(target) => Some(format!(
                    "symbolic link to {} outside the GitOps root: refused; copy the file into raw/ instead",
                    target.display()
                )),
                Err(_) => Some("dangling symbolic link: refused".to_string()),
            };
            if let Some(reason) = reason {
                refused.push(RefusedFile { file: e.rel, reason });
                return;
            }
        }
        files.push(RawFile { rel: e.rel, abs: e.path });
    })
    .map_err(|e| Error::io("cannot list", &raw, e))?;
    refused.extend(problems.into_iter().map(|p| RefusedFile {
        file: format!("{}/", p.rel),
        reason: format!(
            "cannot read this folder ({}): its files are not ingested",
            p.error
        ),
    }));
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    refused.sort_by(|a, b| a.file.cmp(&b.file));
    Ok((files, refused))
}

/// The first free archive name for a raw file: `a.yaml.archived`, then `a.yaml.2.archived`, `a.yaml.3.archived`…
/// `taken` holds names already chosen in this run.
pub fn archive_name(root: &Path, rel: &str, taken: &std::collections::BTreeSet<String>) -> String {
    let first = format!("{rel}.archived");
    if !root.join(&first).exists() && !taken.contains(&first) {
        return first;
    }
    let mut n = 2u64;
    loop {
        let cand = format!("{rel}.{n}.archived");
        if !root.join(&cand).exists() && !taken.contains(&cand) {
            return cand;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_names() {
        for n in [
            ".hidden.yaml",
            "a.yaml~",
            "a.yaml.swp",
            ".#a.yaml",
            "a.yaml.archived",
            "a.txt",
            "a.yaml.2.archived",
        ] {
            assert!(is_ignored_name(n), "{n}");
        }
        for n in ["a.yaml", "B.YML", "c.Yaml"] {
            assert!(!is_ignored_name(n), "{n}");
        }
    }

    #[test]
    fn discovery_is_sorted_recursive_and_refuses_outside_links() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("raw/sub/.hidden")).unwrap();
        std::fs::write(root.join("raw/b.yaml"), "").unwrap();
        std::fs::write(root.join("raw/sub/a.yml"), "").unwrap();
        std::fs::write(root.join("raw/sub/.hidden/x.yaml"), "").unwrap();
        std::fs::write(root.join("raw/a.yaml.archived"), "").unwrap();
        std::fs::write(d.path().join("outside.yaml"), "").unwrap();
        std::os::unix::fs::symlink(d.path().join("outside.yaml"), root.join("raw/link.yaml"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("raw/b.yaml"), root.join("raw/inside.yaml")).unwrap();
        let (files, refused) = discover(&root).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, ["raw/b.yaml", "raw/inside.yaml", "raw/sub/a.yml"]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].file, "raw/link.yaml");
    }

    #[test]
    fn archive_names_never_collide() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("raw")).unwrap();
        let mut taken = std::collections::BTreeSet::new();
        assert_eq!(
            archive_name(d.path(), "raw/a.yaml", &taken),
            "raw/a.yaml.archived"
        );
        std::fs::write(d.path().join("raw/a.yaml.archived"), "").unwrap();
        assert_eq!(
            archive_name(d.path(), "raw/a.yaml", &taken),
            "raw/a.yaml.2.archived"
        );
        taken.insert("raw/a.yaml.2.archived".into());
        assert_eq!(
            archive_name(d.path(), "raw/a.yaml", &taken),
            "raw/a.yaml.3.archived"
        );
    }
}
