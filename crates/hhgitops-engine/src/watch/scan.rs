//! One look at a fabric's raw/: every file the engine would ingest (same naming rules as
//! [`crate::rawfiles::discover`], through the same walk) with a snapshot of its metadata. An unreadable
//! subfolder or a file vanishing mid-scan become messages, and the rest of raw/ is still seen.

use std::collections::BTreeMap;
use std::path::Path;

use super::tracker::{Seen, Snapshot};
use crate::rawfiles::{is_ignored_name, walk_raw};
use crate::sandbox::{FileKind, RootDir};

/// What one scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// `raw/...` → what is there.
    pub files: BTreeMap<String, Seen>,
    /// Problems with parts of raw/ (e.g. a subfolder that cannot be listed).
    pub problems: Vec<String>,
    /// Entries refused outright (links, special files, bad names) and why; they are [`Seen::Symlink`] in
    /// `files`.
    pub refused: BTreeMap<String, String>,
}

/// Scans `<root>/raw` (the engine's own walk, [`crate::rawfiles::walk_raw`]). Fails only when raw/ itself cannot
/// be listed.
pub(crate) fn scan_raw(root: &Path) -> std::io::Result<Scan> {
    let mut out = Scan::default();
    let mut problems = Vec::new();
    let dir = RootDir::open(root)?;
    let unreadable = walk_raw(&dir, |e| {
        if let Some(reason) = e.refused {
            out.files.insert(e.rel.clone(), Seen::Symlink);
            out.refused.insert(e.rel, reason);
            return;
        }
        match dir.meta(&e.rel) {
            Ok(Some(m)) if m.kind == FileKind::File => {
                out.files.insert(e.rel, Seen::File(Snapshot::of_meta(&m)));
            }
            Ok(_) => {}
            Err(err) => problems.push(format!("cannot read {}: {err}", e.rel)),
        }
    })?;
    out.problems = problems;
    out.problems.extend(
        unreadable
            .into_iter()
            .map(|p| format!("cannot list {}: {}", p.rel, p.error)),
    );
    Ok(out)
}

/// True when `rel` (relative to the root, `/`-separated) names a file the engine would ingest from raw/.
pub(crate) fn is_raw_candidate(rel: &str) -> bool {
    let Some(inner) = rel.strip_prefix("raw/") else {
        return false;
    };
    let mut parts = inner.split('/').peekable();
    while let Some(p) = parts.next() {
        if p.is_empty() || p.starts_with('.') {
            return false;
        }
        if parts.peek().is_none() {
            return !is_ignored_name(p);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_follows_the_discovery_rules() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("raw/sub/.git")).unwrap();
        for f in [
            "raw/a.yaml",
            "raw/sub/b.YML",
            "raw/.a.yaml.XyZ12",
            "raw/a.yaml.archived",
            "raw/sub/.git/c.yaml",
            "raw/x.txt",
            "raw/e~",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        std::os::unix::fs::symlink(root.join("raw/a.yaml"), root.join("raw/l.yaml")).unwrap();
        let s = scan_raw(root).unwrap();
        let names: Vec<&str> = s.files.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["raw/a.yaml", "raw/l.yaml", "raw/sub/b.YML"]);
        assert_eq!(s.files["raw/l.yaml"], Seen::Symlink);
        assert!(s.problems.is_empty());
        let (found, _) = crate::rawfiles::discover(&RootDir::open(root).unwrap()).unwrap();
        let discovered: Vec<&str> = found.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            discovered,
            ["raw/a.yaml", "raw/sub/b.YML"],
            "the same files as the engine's discovery, the link refused by both"
        );
        assert!(s.refused["raw/l.yaml"].contains("symbolic link"));
        assert!(scan_raw(&root.join("nowhere")).is_err());
    }

    #[test]
    fn candidates() {
        for ok in ["raw/a.yaml", "raw/s/b.yml"] {
            assert!(is_raw_candidate(ok), "{ok}");
        }
        for no in [
            "raw",
            "raw/",
            "raw/.a.yaml",
            "raw/.s/a.yaml",
            "raw/a.yaml.archived",
            "managed/a.yaml",
            "raw/a.yaml~",
        ] {
            assert!(!is_raw_candidate(no), "{no}");
        }
    }
}
