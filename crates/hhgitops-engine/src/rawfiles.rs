//! Finding the raw files of a GitOps root (SPEC §3): `*.yaml`/`*.yml` (any case) under `raw/`, recursively,
//! skipping dotfiles and dot-folders, editor temp files, `*.archived` and anything else. Links, FIFOs, sockets,
//! devices and names that are not UTF-8 or too long to archive are refused and reported, never read.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::names::{is_yaml_name, RAW};
use crate::sandbox::{FileKind, RootDir};

/// A candidate raw file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Relative to the GitOps root, `/`-separated: `raw/sub/vpcs.yaml`.
    pub rel: String,
    pub abs: PathBuf,
    /// Read from `abs`, outside the root (only `ingest --dry-run --file` of a file outside raw/).
    pub outside: bool,
}

/// A file in raw/ that is refused outright (never read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
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

/// One candidate found under raw/: an entry with an ingestible name (a link, FIFO, socket or device too: those
/// are refused, never read).
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Relative to the GitOps root: `raw/sub/vpcs.yaml` (lossy for a name that is not UTF-8).
    pub rel: String,
    /// For messages and the watcher's metadata only; reading goes through the root's sandbox.
    pub path: PathBuf,
    pub kind: FileKind,
    pub is_symlink: bool,
    /// Why this entry is refused outright (a link, a special file, a name that is not UTF-8 or too long).
    pub refused: Option<String>,
}

/// A folder under raw/ that could not be listed (the walk goes on without it).
#[derive(Debug)]
pub struct UnreadableFolder {
    /// Relative to the GitOps root.
    pub rel: String,
    pub error: std::io::Error,
}

/// Longest raw file name accepted, in bytes: its archived copy `<name>.<n>.archived` must fit the file systems'
/// 255-byte names.
pub const MAX_RAW_NAME: usize = crate::sandbox::NAME_MAX - ".99999.archived".len();

/// Why an entry with an ingestible name is refused outright, `None` for a regular file that may be read.
fn refusal(kind: FileKind, name_len: usize) -> Option<String> {
    match kind {
        FileKind::File if name_len > MAX_RAW_NAME => Some(format!(
            "file name is {name_len} bytes: its archived copy would not fit the file system's 255-byte limit; rename it (at most {MAX_RAW_NAME} bytes)"
        )),
        FileKind::File => None,
        FileKind::Symlink => Some(
            "symbolic link: refused (hhgitops never follows links inside a GitOps root); copy the file into raw/ instead".into(),
        ),
        FileKind::Dir => None,
        k => Some(format!(
            "{}: refused, only regular files are read; remove it from raw/",
            k.describe()
        )),
    }
}

/// The one walk of raw/ with the naming rules of SPEC §3 (dot-folders skipped, ignored names skipped), used by
/// ingestion and by the watcher, through the root's sandbox (raw/ and its subfolders are never entered through
/// a link). An unreadable subfolder does not block the rest of raw/: it is returned. Fails only when raw/
/// itself cannot be listed.
pub fn walk_raw(
    root: &RootDir,
    mut visit: impl FnMut(RawEntry),
) -> std::io::Result<Vec<UnreadableFolder>> {
    let mut problems = Vec::new();
    let mut stack = vec![(RAW.to_string(), Some(root.list(RAW)?))];
    while let Some((dir, listing)) = stack.pop() {
        let entries = match listing.map_or_else(|| root.list(&dir), Ok) {
            Ok(l) => l,
            // Removed between listing its parent and now: nothing to see.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                problems.push(UnreadableFolder { rel: dir, error });
                continue;
            }
        };
        for entry in entries {
            let lossy = entry.name.to_string_lossy().into_owned();
            if lossy.starts_with('.') {
                continue;
            }
            let rel = format!("{dir}/{lossy}");
            let Some(name) = entry.utf8() else {
                // Refused whatever it would be: no name that is not UTF-8 is read, archived or entered.
                visit(RawEntry {
                    path: root.abs(&rel),
                    rel,
                    kind: entry.kind,
                    is_symlink: entry.kind == FileKind::Symlink,
                    refused: Some(
                        "the name is not valid UTF-8: refused; rename it (e.g. `mv -- <name> new-name.yaml`)".into(),
                    ),
                });
                continue;
            };
            if entry.kind == FileKind::Dir {
                stack.push((rel, None));
            } else if !is_ignored_name(name) {
                visit(RawEntry {
                    path: root.abs(&rel),
                    refused: refusal(entry.kind, name.len()),
                    rel,
                    kind: entry.kind,
                    is_symlink: entry.kind == FileKind::Symlink,
                });
            }
        }
    }
    Ok(problems)
}

/// Lists raw files in a stable (sorted) order, and the ones refused (symbolic links, special files, names
/// that are not UTF-8 or too long, folders that cannot be read).
pub fn discover(root: &RootDir) -> Result<(Vec<RawFile>, Vec<RefusedFile>)> {
    if !root.is_dir(RAW) {
        return Err(Error::usage(format!(
            "{} is missing or not a folder: run `hhgitops init` for this fabric",
            root.abs(RAW).display()
        )));
    }
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let problems = walk_raw(root, |e| match e.refused {
        Some(reason) => refused.push(RefusedFile {
            file: e.rel,
            reason,
        }),
        None => files.push(RawFile {
            rel: e.rel,
            abs: e.path,
            outside: false,
        }),
    })
    .map_err(|e| Error::io("cannot list", root.abs(RAW), e))?;
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
/// `taken` holds names already chosen in this run. Anything at a name (a dangling link too) makes it taken.
pub fn archive_name(
    root: &RootDir,
    rel: &str,
    taken: &std::collections::BTreeSet<String>,
) -> String {
    let first = format!("{rel}.archived");
    if !root.exists(&first) && !taken.contains(&first) {
        return first;
    }
    let mut n = 2u64;
    loop {
        let cand = format!("{rel}.{n}.archived");
        if !root.exists(&cand) && !taken.contains(&cand) {
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
        std::fs::write(root.join(format!("raw/{}.yaml", "n".repeat(240))), "").unwrap();
        let (files, refused) = discover(&RootDir::open(&root).unwrap()).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, ["raw/b.yaml", "raw/sub/a.yml"]);
        let refused: Vec<_> = refused.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert_eq!(
            refused[0], "raw/inside.yaml",
            "links inside the root are refused too"
        );
        assert_eq!(refused[1], "raw/link.yaml");
    }

    #[test]
    fn archive_names_never_collide() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("raw")).unwrap();
        let r = RootDir::open(d.path()).unwrap();
        let mut taken = std::collections::BTreeSet::new();
        assert_eq!(
            archive_name(&r, "raw/a.yaml", &taken),
            "raw/a.yaml.archived"
        );
        std::fs::write(d.path().join("raw/a.yaml.archived"), "").unwrap();
        assert_eq!(
            archive_name(&r, "raw/a.yaml", &taken),
            "raw/a.yaml.2.archived"
        );
        taken.insert("raw/a.yaml.2.archived".into());
        assert_eq!(
            archive_name(&r, "raw/a.yaml", &taken),
            "raw/a.yaml.3.archived"
        );
        // A dangling link is never overwritten.
        std::os::unix::fs::symlink("/nonexistent", d.path().join("raw/b.yaml.archived")).unwrap();
        assert_eq!(
            archive_name(&r, "raw/b.yaml", &taken),
            "raw/b.yaml.2.archived"
        );
    }
}
