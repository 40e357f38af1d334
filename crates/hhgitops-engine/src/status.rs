//! `status`: pending and rejected raw files, objects per kind, last runs. Reads only.

use serde::Serialize;

use crate::error::Result;
use crate::fabric::Fabric;
use crate::index::{FabricRecords, Run};
use crate::layout::GitOpsRoot;
use crate::rawfiles::{discover, RefusedFile};
use crate::sandbox::{FileKind, Meta, RootDir};
use crate::Engine;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedFile {
    pub file: String,
    pub rejected_at: String,
    /// Why: `content` (errors in the file itself), `size` (over the file-size limit), `conflict` (another raw
    /// file defines the same object) or `state` (a rule over the whole fabric: a missing reference, a
    /// collision); empty for rejections recorded by an older version.
    pub cause: String,
    /// When the file is validated again, in words.
    pub retried_when: String,
    /// The first errors (at most 5), in the JSON error form.
    pub errors: Vec<serde_json::Value>,
    pub error_count: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub fabric: String,
    pub root: String,
    /// Raw files waiting to be ingested (new, or changed since they were rejected).
    pub pending: Vec<String>,
    /// Raw files rejected and unchanged since.
    pub rejected: Vec<RejectedFile>,
    /// Raw files refused outright (e.g. symbolic links leading out of the root).
    pub refused: Vec<RefusedFile>,
    /// Managed objects per kind: from the index when it is current, else from the manifest itself.
    pub counts: std::collections::BTreeMap<String, i64>,
    pub total: i64,
    pub last_runs: Vec<Run>,
    /// The fabric's Git state, when it is in Git: unpushed commits, a conflict that blocks it, what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<crate::gitops::GitStatus>,
}

/// What a rejection with this cause waits for.
fn retried_when(cause: &str) -> &'static str {
    match cause {
        "size" => "when the file changes or a run allows larger files (--max-file-size)",
        "conflict" => {
            "when the file changes or the other raw file defining the same object changes or is removed"
        }
        "state" => {
            "when the file changes, or the fabric's managed objects, the other raw files or the settings change"
        }
        _ => "when the file changes, or the fabric settings or the validator change",
    }
}

pub async fn status(engine: &Engine, fabric: &Fabric) -> Result<StatusReport> {
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let root = GitOpsRoot::new(&fabric.root);
    let rejections = records.rejections().await?;
    let index_sha = records.index_manifest_sha().await?;
    // The tree is read off the async workers: raw files (with their hashes) and the manifest.
    let (pending, rejected, refused, manifest) = {
        let root = root.clone();
        let name = fabric.name.clone();
        crate::engine::blocking(move || {
            let dir = root.sandbox()?;
            let (files, refused) = if dir.is_dir(crate::layout::RAW) {
                discover(&dir)?
            } else {
                (Vec::new(), Vec::new())
            };
            let mut pending = Vec::new();
            let mut rejected = Vec::new();
            for f in files {
                let rej = rejections.iter().find(|r| r.file == f.rel);
                let still_rejected = match rej {
                    Some(r) => dir
                        .read(&f.rel)
                        .map(|b| crate::atomic::sha256_hex(&b) == r.sha256)
                        .unwrap_or(false),
                    None => false,
                };
                match (still_rejected, rej) {
                    (true, Some(r)) => {
                        let all = r.errors.as_array().cloned().unwrap_or_default();
                        rejected.push(RejectedFile {
                            file: f.rel,
                            rejected_at: r.rejected_at.clone(),
                            cause: r.cause.clone(),
                            retried_when: retried_when(&r.cause).to_string(),
                            error_count: all.len(),
                            errors: all.into_iter().take(5).collect(),
                        });
                    }
                    _ => pending.push(f.rel),
                }
            }
            let manifest = manifest_counts(&root, &name, index_sha.as_deref())?;
            Ok((pending, rejected, refused, manifest))
        })
        .await?
    };
    let counts = match manifest {
        Some(c) => c,
        None => records.counts_per_kind().await?.into_iter().collect(),
    };
    let total = counts.values().sum();
    let git = {
        let home = engine.home().clone();
        let fabric = fabric.clone();
        tokio::task::spawn_blocking(move || crate::gitops::git_status(&home, &fabric))
            .await
            .map_err(|e| crate::Error::Runtime(format!("git task failed: {e}")))??
    };
    Ok(StatusReport {
        fabric: fabric.name.clone(),
        root: fabric.root.display().to_string(),
        pending,
        rejected,
        refused,
        counts,
        total,
        last_runs: records.last_runs(5).await?,
        git,
    })
}

/// Objects per kind. The index is used only while it was built from the manifest now on disk (same sha256);
/// otherwise (a database re-created, a pull that brought a new manifest) the manifest itself is counted, so
/// status never shows a stale index. Status only reads: the index is rebuilt by the next run.
/// Blocking; `None` when the index is to be counted.
fn manifest_counts(
    root: &GitOpsRoot,
    fabric: &str,
    index_sha: Option<&str>,
) -> Result<Option<std::collections::BTreeMap<String, i64>>> {
    let path = root.manifest_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::Error::io("cannot read", &path, e)),
    };
    let sha = crate::atomic::sha256_hex(&bytes);
    if index_sha == Some(sha.as_str()) {
        return Ok(None);
    }
    let manifest = root.current_manifest(fabric)?;
    let mut counts = std::collections::BTreeMap::new();
    for e in &manifest.inventory {
        *counts.entry(e.kind.clone()).or_insert(0) += 1;
    }
    Ok(Some(counts))
}

/// How long a cached status may be served for changes its fingerprint does not see (Git refs moved by another
/// program, the target of a symbolic link in raw/).
pub const STATUS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(2);

/// What a fabric's status depends on, read cheaply (metadata only, one database query): the root, every entry
/// of raw/ (path, size, times, inode), the manifest's metadata, and the fabric's last runs (a run changes the
/// rejections, the index and Git; a run that starts or ends changes this list). Read through the root's
/// sandbox: nothing is followed through a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFingerprint {
    root: std::path::PathBuf,
    raw: Vec<(String, Meta)>,
    manifest: Option<Meta>,
    runs: Vec<Run>,
}

/// Every entry beneath `dir` of the root with its metadata (links not followed), sorted; what cannot be read
/// ends the walk there (the status computed afterwards reports it).
fn raw_keys(root: &RootDir, dir: &str, out: &mut Vec<(String, Meta)>) {
    let Ok(mut entries) = root.list(dir) else {
        return;
    };
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let rel = format!("{dir}/{}", e.name.to_string_lossy());
        let Ok(Some(m)) = root.meta(&rel) else {
            continue;
        };
        out.push((rel.clone(), m));
        if m.kind == FileKind::Dir {
            raw_keys(root, &rel, out);
        }
    }
}

/// The fingerprint of a fabric's status now.
pub async fn fingerprint(engine: &Engine, fabric: &Fabric) -> Result<StatusFingerprint> {
    let runs = FabricRecords::new(engine.db(), &fabric.name)
        .last_runs(5)
        .await?;
    let path = fabric.root.clone();
    let (raw, manifest) = crate::engine::blocking(move || {
        let mut raw = Vec::new();
        let mut manifest = None;
        // A root that cannot be opened has no entries: its status says why.
        if let Ok(root) = RootDir::open(&path) {
            if let Ok(Some(m)) = root.meta(crate::layout::RAW) {
                raw.push((crate::layout::RAW.to_string(), m));
                if m.kind == FileKind::Dir {
                    raw_keys(&root, crate::layout::RAW, &mut raw);
                }
            }
            manifest = root.meta(crate::layout::MANIFEST).ok().flatten();
        }
        Ok((raw, manifest))
    })
    .await?;
    Ok(StatusFingerprint {
        root: fabric.root.clone(),
        raw,
        manifest,
        runs,
    })
}

#[derive(Default)]
struct Slot {
    /// One computation per fabric at a time; the others wait for its result.
    compute: tokio::sync::Mutex<()>,
    value: std::sync::Mutex<
        Option<(
            StatusFingerprint,
            std::time::Instant,
            std::sync::Arc<StatusReport>,
        )>,
    >,
}

impl Slot {
    fn fresh(
        &self,
        fp: &StatusFingerprint,
        max_age: std::time::Duration,
    ) -> Option<std::sync::Arc<StatusReport>> {
        let v = self.value.lock().unwrap_or_else(|e| e.into_inner());
        v.as_ref()
            .filter(|(f, at, _)| f == fp && at.elapsed() < max_age)
            .map(|(_, _, r)| r.clone())
    }
}

/// [`status`] computed once per change: a long-running process (the server) keeps one per process and answers
/// from it while the fabric's [`StatusFingerprint`] is unchanged and the entry is younger than its maximum age.
/// A change made by hhgitops (a run, an upload, a file landing in raw/) is seen by the next call; one made to
/// Git by another program within the maximum age.
pub struct StatusCache {
    max_age: std::time::Duration,
    slots: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Slot>>>,
}

impl Default for StatusCache {
    fn default() -> Self {
        StatusCache::new(STATUS_MAX_AGE)
    }
}

impl StatusCache {
    pub fn new(max_age: std::time::Duration) -> StatusCache {
        StatusCache {
            max_age,
            slots: Default::default(),
        }
    }

    fn slot(&self, fabric: &str) -> std::sync::Arc<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(fabric.to_string())
            .or_default()
            .clone()
    }

    /// The fabric's status, from the cache when nothing it depends on changed.
    pub async fn status(
        &self,
        engine: &Engine,
        fabric: &Fabric,
    ) -> Result<std::sync::Arc<StatusReport>> {
        let slot = self.slot(&fabric.name);
        let fp = fingerprint(engine, fabric).await?;
        if let Some(hit) = slot.fresh(&fp, self.max_age) {
            return Ok(hit);
        }
        let _one = slot.compute.lock().await;
        // Another caller may have computed it meanwhile.
        let fp = fingerprint(engine, fabric).await?;
        if let Some(hit) = slot.fresh(&fp, self.max_age) {
            return Ok(hit);
        }
        // The fingerprint is taken before the status: a change while it is computed gives the next call
        // another fingerprint, so a report is never kept past a change it missed.
        let report = std::sync::Arc::new(status(engine, fabric).await?);
        *slot.value.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((fp, std::time::Instant::now(), report.clone()));
        Ok(report)
    }

    /// Forgets a fabric (removed from the registry).
    pub fn forget(&self, fabric: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fabric);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fabric::FabricSpec;
    use crate::home::Home;

    const NAMESPACES: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cached_status_is_reused_until_raw_the_manifest_or_a_run_changes() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(Home::from_dir(dir.path().join("home")).unwrap(), None)
            .await
            .unwrap();
        let spec = FabricSpec {
            name: "f".into(),
            path: Some(dir.path().join("f")),
            ..Default::default()
        };
        let fabric = engine.add_fabric(&spec).await.unwrap().fabric;
        let cache = StatusCache::new(std::time::Duration::from_secs(3600));
        let first = cache.status(&engine, &fabric).await.unwrap();
        assert!(first.pending.is_empty() && first.total == 0);
        let again = cache.status(&engine, &fabric).await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "nothing changed: the same report"
        );

        // A file landing in raw/ is seen at once.
        std::fs::write(fabric.root.join("raw/ns.yaml"), NAMESPACES).unwrap();
        let pending = cache.status(&engine, &fabric).await.unwrap();
        assert_eq!(pending.pending, vec!["raw/ns.yaml".to_string()]);

        // An ingestion (a run, a new manifest, the file archived) is seen at once.
        crate::ingest::ingest(&engine, &fabric, &Default::default())
            .await
            .unwrap();
        let ingested = cache.status(&engine, &fabric).await.unwrap();
        assert!(ingested.pending.is_empty(), "{:?}", ingested.pending);
        assert_eq!(ingested.total, 1);
        assert_eq!(ingested.counts.get("VLANNamespace"), Some(&1));
        assert_eq!(ingested.last_runs.len(), 1);
        let fresh = status(&engine, &fabric).await.unwrap();
        assert_eq!(
            serde_json::to_value(&*ingested).unwrap(),
            serde_json::to_value(&fresh).unwrap(),
            "the cached report is the one computed afresh"
        );

        // A rejected file edited in place (same name, same size) is pending again at once.
        std::fs::write(fabric.root.join("raw/bad.yaml"), "kind: Nope1\n").unwrap();
        crate::ingest::ingest(&engine, &fabric, &Default::default())
            .await
            .unwrap();
        let rejected = cache.status(&engine, &fabric).await.unwrap();
        assert_eq!(rejected.rejected.len(), 1, "{:?}", rejected.rejected);
        assert!(rejected.pending.is_empty());
        std::fs::write(fabric.root.join("raw/bad.yaml"), "kind: Nope2\n").unwrap();
        let edited = cache.status(&engine, &fabric).await.unwrap();
        assert!(edited.rejected.is_empty(), "{:?}", edited.rejected);
        assert_eq!(edited.pending, vec!["raw/bad.yaml".to_string()]);

        // Past its maximum age an entry is computed again even when nothing it sees changed.
        let short = StatusCache::new(std::time::Duration::from_millis(50));
        let a = short.status(&engine, &fabric).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        let b = short.status(&engine, &fabric).await.unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
    }
}
