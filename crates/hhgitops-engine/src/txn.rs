//! Journaled file transactions: how one ingestion (or delete, or import) changes many files all or nothing.
//!
//! 1. **Stage**: every new file content is written under `.hnp/txn/<id>/` (no per-file fsync).
//! 2. **Commit point**: the file system is flushed (`syncfs`), then `journal.json` listing every step is written
//!    atomically. Before it exists the transaction never happened; after, it will complete.
//! 3. **Apply**: each step is carried out in order — staged files renamed over their targets, files removed (a
//!    raw file only if it still has the content that was ingested) — then flushed and the folder removed.
//!
//! Every step is idempotent, so [`recover`] (run under the fabric lock before any new work) rolls committed
//! transactions forward and throws uncommitted ones away. A `kill -9` at any instant therefore leaves, after the
//! next run, either the whole transaction applied or none of it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::{sha256_hex, sync_dir, write_atomic};
use crate::error::{Error, Result};

/// Folder of transactions, relative to the GitOps root.
pub const TXN_DIR: &str = ".hnp/txn";
const JOURNAL: &str = "journal.json";

/// Test-only crash injection: when the named point is reached the process aborts, as a `kill -9` would stop it.
/// Front ends set it from `HHGITOPS_FAILPOINT`; the library never reads the environment itself.
#[derive(Debug, Clone, Default)]
pub struct Failpoint(pub Option<String>);

impl Failpoint {
    pub fn hit(&self, name: &str) {
        if self.0.as_deref() == Some(name) {
            eprintln!("hhgitops: failpoint {name}: aborting");
            std::process::abort();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Step {
    /// Rename `staged` (inside the transaction folder) over `target` (relative to the root).
    Put { target: String, staged: String },
    /// Remove `target`; with `sha256`, only while the file still has that content.
    Remove {
        target: String,
        sha256: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    version: u32,
    steps: Vec<Step>,
}

/// A transaction being built. Dropping it without [`commit`](Transaction::commit) discards it.
#[derive(Debug)]
pub struct Transaction {
    root: PathBuf,
    dir: PathBuf,
    steps: Vec<Step>,
    committed: bool,
}

impl Transaction {
    pub fn begin(root: &Path) -> Result<Transaction> {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let dir = root.join(TXN_DIR).join(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("cannot create transaction folder", &dir, e))?;
        Ok(Transaction {
            root: root.to_path_buf(),
            dir,
            steps: Vec::new(),
            committed: false,
        })
    }

    /// Stages new content for `target` (relative to the root).
    pub fn put(&mut self, target: &str, bytes: &[u8]) -> Result<()> {
        let staged = format!("f{}", self.steps.len());
        let p = self.dir.join(&staged);
        std::fs::write(&p, bytes).map_err(|e| Error::io("cannot stage", &p, e))?;
        self.steps.push(Step::Put {
            target: target.to_string(),
            staged,
        });
        Ok(())
    }

    /// Removes `target` when the transaction applies; with `sha256`, only if the file still has that content.
    pub fn remove(&mut self, target: &str, sha256: Option<String>) {
        self.steps.push(Step::Remove {
            target: target.to_string(),
            sha256,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Before the commit point: every folder a step writes into exists and takes a new file, so a read-only
    /// folder or a full disk is found while the transaction can still be thrown away.
    fn preflight(&self) -> Result<()> {
        let mut dirs = std::collections::BTreeSet::new();
        for step in &self.steps {
            let target = match step {
                Step::Put { target, .. } | Step::Remove { target, .. } => target,
            };
            if let Some(parent) = self.root.join(target).parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io("cannot create folder", &dir, e))?;
            let probe = dir.join(format!(
                "{}probe-{}",
                crate::atomic::TMP_PREFIX,
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::write(&probe, b"").map_err(|e| Error::io("cannot write in", &dir, e))?;
            std::fs::rename(&probe, self.dir.join("probe"))
                .or_else(|_| std::fs::remove_file(&probe))
                .map_err(|e| Error::io("cannot move files out of", &dir, e))?;
        }
        Ok(())
    }

    /// Makes the transaction durable, then applies it.
    pub fn commit(mut self, failpoint: &Failpoint) -> Result<()> {
        failpoint.hit("txn-staged");
        self.preflight()?;
        flush_fs(&self.root)?;
        let journal = Journal {
            version: 1,
            steps: std::mem::take(&mut self.steps),
        };
        let bytes = serde_json::to_vec_pretty(&journal)
            .map_err(|e| Error::Runtime(format!("journal: {e}")))?;
        write_atomic(&self.dir.join(JOURNAL), &bytes)?;
        self.committed = true;
        failpoint.hit("txn-committed");
        apply(&self.root, &self.dir, &journal.steps, failpoint)?;
        finish(&self.root, &self.dir)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn apply(root: &Path, dir: &Path, steps: &[Step], failpoint: &Failpoint) -> Result<()> {
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Put { target, staged } => {
                let src = dir.join(staged);
                let dst = root.join(target);
                if src.exists() {
                    if let Some(parent) = dst.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| Error::io("cannot create folder", parent, e))?;
                    }
                    std::fs::rename(&src, &dst).map_err(|e| Error::io("cannot write", &dst, e))?;
                }
            }
            Step::Remove { target, sha256 } => {
                let p = root.join(target);
                let matches = match (sha256, std::fs::read(&p)) {
                    (_, Err(_)) => false,
                    (None, Ok(_)) => true,
                    (Some(h), Ok(bytes)) => &sha256_hex(&bytes) == h,
                };
                if matches {
                    std::fs::remove_file(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
                }
            }
        }
        failpoint.hit(&format!("txn-step-{}", i + 1));
    }
    Ok(())
}

/// Suffix of a transaction folder that was fully applied and is being removed.
const DONE_SUFFIX: &str = ".done";

/// Retires an applied transaction: its folder is renamed to `<id>.done` in one atomic step, then removed. A
/// crash before the rename leaves the journal, and the transaction is applied again (every step is
/// idempotent); after it, only a `.done` folder, which recovery removes without counting anything — a fully
/// applied transaction is never reported as discarded.
fn finish(root: &Path, dir: &Path) -> Result<()> {
    flush_fs(root)?;
    let mut done = dir.as_os_str().to_owned();
    done.push(DONE_SUFFIX);
    let done = PathBuf::from(done);
    std::fs::rename(dir, &done)
        .map_err(|e| Error::io("cannot retire transaction folder", dir, e))?;
    std::fs::remove_dir_all(&done)
        .map_err(|e| Error::io("cannot remove transaction folder", &done, e))?;
    Ok(())
}

/// What [`recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Committed transactions completed.
    pub rolled_forward: usize,
    /// Uncommitted transactions thrown away.
    pub discarded: usize,
}

/// Completes or discards interrupted transactions. Call with the fabric lock held.
pub fn recover(root: &Path) -> Result<Recovery> {
    let mut rec = Recovery::default();
    let base = root.join(TXN_DIR);
    let entries = match std::fs::read_dir(&base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(rec),
        Err(e) => return Err(Error::io("cannot list", &base, e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        if dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(DONE_SUFFIX))
        {
            // Applied completely; only its removal was interrupted.
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
            continue;
        }
        let journal = dir.join(JOURNAL);
        match std::fs::read(&journal) {
            Ok(bytes) => {
                let j: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    path: journal.clone(),
                    message: format!("unreadable journal: {e}"),
                })?;
                apply(root, &dir, &j.steps, &Failpoint::default())?;
                finish(root, &dir)?;
                rec.rolled_forward += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
                rec.discarded += 1;
            }
            Err(e) => return Err(Error::io("cannot read", &journal, e)),
        }
    }
    // Debris of interrupted atomic writes elsewhere in .hnp/ and managed/ is harmless but untidy.
    remove_tmp_debris(&root.join(".hnp"));
    Ok(rec)
}

fn remove_tmp_debris(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(crate::atomic::TMP_PREFIX)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Flushes every dirty page of the file system holding `root` (one call instead of one fsync per file).
pub fn flush_fs(root: &Path) -> Result<()> {
    let f = std::fs::File::open(root).map_err(|e| Error::io("cannot open", root, e))?;
    rustix::fs::syncfs(&f)
        .map_err(|e| Error::io("cannot flush the file system", root, e.into()))?;
    sync_dir(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_applies_everything() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("old.txt"), "x").unwrap();
        std::fs::write(d.path().join("raw.yaml"), "raw").unwrap();
        let mut t = Transaction::begin(d.path()).unwrap();
        t.put("managed/a/b.yaml", b"new").unwrap();
        t.remove("raw.yaml", Some(sha256_hex(b"raw")));
        t.remove("old.txt", Some(sha256_hex(b"other content")));
        t.commit(&Failpoint::default()).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("managed/a/b.yaml")).unwrap(),
            b"new"
        );
        assert!(!d.path().join("raw.yaml").exists());
        assert!(
            d.path().join("old.txt").exists(),
            "a file whose content changed is never removed"
        );
        assert_eq!(
            std::fs::read_dir(d.path().join(TXN_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn uncommitted_is_discarded_and_committed_rolls_forward() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut t = Transaction::begin(d.path()).unwrap();
            t.put("a.yaml", b"1").unwrap();
            std::mem::forget(t); // as if the process died before commit
        }
        // A committed journal whose steps were not applied yet.
        let dir = d.path().join(TXN_DIR).join("zz");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f0"), "2").unwrap();
        let j = Journal {
            version: 1,
            steps: vec![Step::Put {
                target: "b.yaml".into(),
                staged: "f0".into(),
            }],
        };
        std::fs::write(dir.join(JOURNAL), serde_json::to_vec(&j).unwrap()).unwrap();
        let rec = recover(d.path()).unwrap();
        assert_eq!(
            rec,
            Recovery {
                rolled_forward: 1,
                discarded: 1
            }
        );
        assert!(!d.path().join("a.yaml").exists());
        assert_eq!(std::fs::read(d.path().join("b.yaml")).unwrap(), b"2");
        assert_eq!(recover(d.path()).unwrap(), Recovery::default());
    }
}
