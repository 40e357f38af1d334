//! The change set of an operation that writes a GitOps root (ingest, import, delete): managed files written or
//! removed, raw files archived and removed, the manifest inventory and the archive log, staged into one
//! journaled transaction ([`crate::txn`]) as they are decided and committed at once.
//!
//! Invariants:
//! - Nothing is written in place before [`Sealed::commit`]: every change is staged under `.hnp/txn/`; the
//!   commit point is the journal; a crash on either side leaves a state the next run recovers.
//! - The manifest is staged only when its bytes change, the archive log only when there are entries; a change
//!   set without changes makes no transaction at all.
//! - A dry run stages nothing, only counts.
//! - Cancellation is honoured up to the commit point and never after it.

use std::collections::BTreeMap;

use hhgitops_core::Kind;
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::names::{ARCHIVE_LOG, MANIFEST};
use crate::records::{ArchiveLog, InventoryEntry, LogEntry, Manifest};
use crate::sandbox::RootDir;
use crate::txn::{Failpoint, Transaction};

/// Changes being staged (see the module's invariants).
pub struct ChangeSet {
    dir: RootDir,
    dry_run: bool,
    txn: Option<Transaction>,
    count: usize,
    /// The manifest inventory as it will be: starts as the current one.
    pub inventory: BTreeMap<(Kind, String), InventoryEntry>,
    log: Vec<LogEntry>,
}

impl ChangeSet {
    /// A change set over `manifest`'s inventory.
    pub fn new(dir: &RootDir, dry_run: bool, manifest: &Manifest) -> ChangeSet {
        let mut inventory = BTreeMap::new();
        for e in &manifest.inventory {
            if let Some(k) = Kind::from_kind_name(&e.kind) {
                inventory.insert((k, e.name.clone()), e.clone());
            }
        }
        ChangeSet {
            dir: dir.clone(),
            dry_run,
            txn: None,
            count: 0,
            inventory,
            log: Vec::new(),
        }
    }

    fn txn(&mut self) -> Result<&mut Transaction> {
        if self.txn.is_none() {
            self.txn = Some(Transaction::begin(&self.dir)?);
        }
        self.txn
            .as_mut()
            .ok_or_else(|| Error::Runtime("transaction".into()))
    }

    /// Stages `bytes` as the new content of `target` (a path relative to the root); owned bytes are not copied.
    pub fn put(&mut self, target: &str, bytes: impl Into<Vec<u8>>) -> Result<()> {
        self.count += 1;
        if self.dry_run {
            return Ok(());
        }
        self.txn()?.put(target, bytes)
    }

    /// Stages the removal of `target`, only while it has `sha256` when one is given.
    pub fn remove(&mut self, target: &str, sha256: Option<String>) -> Result<()> {
        self.count += 1;
        if !self.dry_run {
            self.txn()?.remove(target, sha256);
        }
        Ok(())
    }

    /// An archive-log entry to append.
    pub fn log(&mut self, entry: LogEntry) {
        self.log.push(entry);
    }

    /// Files staged so far (manifest and log included once staged).
    pub fn count(&self) -> usize {
        self.count
    }

    /// Stages the manifest with the inventory as it now is (only when its bytes change). Returns the manifest
    /// as it will be, whether it changed and its sha256. Neither the old nor the new manifest is held whole in
    /// memory: the old one is hashed as it is read, the new one hashed as it is emitted and, when it differs,
    /// emitted again straight into its staged file.
    pub fn stage_manifest(&mut self, mut manifest: Manifest) -> Result<(Manifest, bool, String)> {
        let old = hash_record(&self.dir, MANIFEST, crate::records::MAX_RECORD_BYTES)?;
        manifest.inventory = std::mem::take(&mut self.inventory).into_values().collect();
        manifest.sort();
        let mut hasher = sha2::Sha256::new();
        manifest.write_yaml(&mut hasher)?;
        let sha = hex::encode(hasher.finalize());
        let changed = sha != old;
        if changed {
            self.count += 1;
            if !self.dry_run {
                self.txn()?.put_streamed(MANIFEST, |w| {
                    manifest.write_yaml(w).map_err(std::io::Error::other)
                })?;
            }
        }
        Ok((manifest, changed, sha))
    }

    /// Stages the archive log with the entries (when there are any) and closes the change set.
    pub fn seal(mut self, fabric: &str) -> Result<Sealed> {
        if !self.log.is_empty() {
            let mut log = ArchiveLog::read(&self.dir, fabric)?;
            log.entries.extend(std::mem::take(&mut self.log));
            self.put(ARCHIVE_LOG, log.to_yaml()?)?;
        }
        Ok(Sealed {
            txn: self.txn,
            changed: self.count > 0,
        })
    }
}

/// A change set ready to commit.
pub struct Sealed {
    txn: Option<Transaction>,
    /// Something was staged (in a dry run: would be).
    pub changed: bool,
}

impl Sealed {
    /// Commits the transaction, if there is one. The last safe point is right before the commit point: the
    /// failpoint `before` is hit there, then `cancel` is looked at; past it the change is done whatever happens.
    pub fn commit(
        self,
        fabric: &str,
        failpoint: &Failpoint,
        before: &str,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let Some(txn) = self.txn else { return Ok(()) };
        failpoint.hit(before);
        check_cancelled(cancel, fabric)?;
        txn.commit(failpoint)
    }
}

/// The sha256 of one of hhgitops' own files, read piece by piece within `max` bytes.
fn hash_record(dir: &RootDir, rel: &str, max: u64) -> Result<String> {
    use std::io::Read;
    let hashed = (|| {
        let (sha, n) = crate::atomic::sha256_read(&mut dir.open_file(rel)?.take(max + 1))?;
        if n > max {
            return Err(std::io::Error::other(format!(
                "more than the limit of {max} bytes"
            )));
        }
        Ok(sha)
    })();
    hashed.map_err(|e| Error::io("cannot read", dir.abs(rel), e))
}

/// Stops a run at a safe point (nothing written yet) once its token fired.
pub fn check_cancelled(cancel: &CancellationToken, fabric: &str) -> Result<()> {
    if cancel.is_cancelled() {
        return Err(Error::Cancelled(format!(
            "fabric {fabric:?}: cancelled before anything was written"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::sha256_hex;

    fn root() -> (tempfile::TempDir, RootDir) {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["raw", "managed/vpcs", ".hnp"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let m = Manifest::new("f");
        std::fs::write(tmp.path().join(MANIFEST), m.to_yaml().unwrap()).unwrap();
        let dir = crate::layout::GitOpsRoot::new(tmp.path())
            .sandbox()
            .unwrap();
        (tmp, dir)
    }

    #[test]
    fn an_unchanged_manifest_and_no_entries_make_no_transaction() {
        let (tmp, dir) = root();
        let mut cs = ChangeSet::new(&dir, false, &Manifest::new("f"));
        let (_, changed, sha) = cs.stage_manifest(Manifest::new("f")).unwrap();
        assert!(!changed);
        assert_eq!(
            sha,
            sha256_hex(&std::fs::read(tmp.path().join(MANIFEST)).unwrap())
        );
        let sealed = cs.seal("f").unwrap();
        assert!(!sealed.changed);
        sealed
            .commit("f", &Failpoint::default(), "x", &CancellationToken::new())
            .unwrap();
        assert!(!tmp.path().join(ARCHIVE_LOG).exists());
    }

    #[test]
    fn staged_changes_land_together_and_a_cancelled_one_leaves_the_root_untouched() {
        let (tmp, dir) = root();
        let stage = |cs: &mut ChangeSet| {
            cs.put("managed/vpcs/vpc-1.yaml", b"kind: VPC\n").unwrap();
            cs.inventory.insert(
                (Kind::VPC, "vpc-1".into()),
                InventoryEntry {
                    kind: "VPC".into(),
                    name: "vpc-1".into(),
                    file: "managed/vpcs/vpc-1.yaml".into(),
                    sha256: sha256_hex(b"kind: VPC\n"),
                    source: None,
                },
            );
            cs.log(LogEntry::new(crate::records::Operation::Import));
        };
        let mut cs = ChangeSet::new(&dir, false, &Manifest::new("f"));
        stage(&mut cs);
        let (_, changed, _) = cs.stage_manifest(Manifest::new("f")).unwrap();
        assert!(changed);
        let sealed = cs.seal("f").unwrap();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let e = sealed
            .commit("f", &Failpoint::default(), "x", &cancel)
            .unwrap_err();
        assert!(matches!(e, Error::Cancelled(_)));
        assert!(!tmp.path().join("managed/vpcs/vpc-1.yaml").exists());
        assert!(!tmp.path().join(ARCHIVE_LOG).exists());

        let mut cs = ChangeSet::new(&dir, false, &Manifest::new("f"));
        stage(&mut cs);
        assert_eq!(cs.count(), 1);
        let (m, _, sha) = cs.stage_manifest(Manifest::new("f")).unwrap();
        assert_eq!(m.inventory.len(), 1);
        let sealed = cs.seal("f").unwrap();
        sealed
            .commit("f", &Failpoint::default(), "x", &CancellationToken::new())
            .unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("managed/vpcs/vpc-1.yaml")).unwrap(),
            b"kind: VPC\n"
        );
        assert_eq!(
            sha,
            sha256_hex(&std::fs::read(tmp.path().join(MANIFEST)).unwrap())
        );
        let log = ArchiveLog::read(&dir, "f").unwrap();
        assert_eq!(log.entries.len(), 1);
    }
}
