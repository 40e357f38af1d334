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

/// How long a cached status is served without taking its fingerprint again: the bound (plus the time of one
/// re-check) within which a change made by another process (a command-line `ingest` on the same home, a file
/// copied into raw/) is seen. Changes made in this process are seen at once (see [`StatusCache::touch`]).
pub const STATUS_RECHECK: std::time::Duration = std::time::Duration::from_millis(250);

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

/// A computed status with what it was computed from.
struct Entry {
    /// The fabric's generation when the computation started.
    generation: u64,
    fingerprint: StatusFingerprint,
    /// When the fingerprint was last taken and found unchanged.
    checked: std::time::Instant,
    computed: std::time::Instant,
    report: std::sync::Arc<StatusReport>,
}

/// What the cache can answer for a fabric without waiting.
enum Look {
    /// The entry is current: answer with it.
    Fresh(std::sync::Arc<StatusReport>),
    /// The entry is of the current generation but due for a re-check (or past its maximum age): one caller
    /// re-checks, the others may answer with it meanwhile.
    Due(std::sync::Arc<StatusReport>),
    /// No entry, or one from before a change made in this process: wait for a fresh one.
    Missing,
}

#[derive(Default)]
struct Slot {
    /// Bumped by every change made in this process ([`StatusCache::touch`]); read by every request.
    generation: std::sync::atomic::AtomicU64,
    /// One computation or re-check per fabric at a time.
    compute: tokio::sync::Mutex<()>,
    value: std::sync::Mutex<Option<Entry>>,
}

impl Slot {
    fn look(&self, recheck: std::time::Duration, max_age: std::time::Duration) -> Look {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let v = self.value.lock().unwrap_or_else(|e| e.into_inner());
        match v.as_ref() {
            Some(e) if e.generation == generation => {
                if e.checked.elapsed() < recheck && e.computed.elapsed() < max_age {
                    Look::Fresh(e.report.clone())
                } else {
                    Look::Due(e.report.clone())
                }
            }
            _ => Look::Missing,
        }
    }
}

/// [`status`] computed once per change: a long-running process (the server) keeps one per process.
///
/// The common path reads one atomic counter and the entry: no database query, no file-system call.
/// - A change made in this process (a run starting or ending, an upload, a delete, a watcher's run) calls
///   [`StatusCache::touch`], which bumps the fabric's generation: the next request waits for a status computed
///   after it, so the server never answers with a status older than its own write.
/// - A change made by another process (a command-line `ingest` on the same home, a file copied into raw/) is
///   seen through the [`StatusFingerprint`], taken again at most every `recheck` (default [`STATUS_RECHECK`]),
///   by one caller at a time while the others are answered from the entry: such a change is visible within
///   `recheck` plus the time of one re-check.
/// - What the fingerprint cannot see (Git refs moved by another program) is seen within `max_age` (default
///   [`STATUS_MAX_AGE`]): an older entry is computed again, by one caller while the others are answered from it.
pub struct StatusCache {
    recheck: std::time::Duration,
    max_age: std::time::Duration,
    slots: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Slot>>>,
}

impl Default for StatusCache {
    fn default() -> Self {
        StatusCache::new(STATUS_RECHECK, STATUS_MAX_AGE)
    }
}

impl StatusCache {
    /// `recheck`: how long an entry is served without taking the fingerprint again (zero: at every call);
    /// `max_age`: how long it is served at all.
    pub fn new(recheck: std::time::Duration, max_age: std::time::Duration) -> StatusCache {
        StatusCache {
            recheck,
            max_age,
            slots: Default::default(),
        }
    }

    fn slot(&self, fabric: &str) -> std::sync::Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(fabric) {
            Some(s) => s.clone(),
            None => slots.entry(fabric.to_string()).or_default().clone(),
        }
    }

    /// Says that `fabric` changed in this process: the next call computes its status afresh (and waits for
    /// it). Call it after the change is made and before anyone is told of it (the job's end stored, the
    /// response sent).
    pub fn touch(&self, fabric: &str) {
        self.slot(fabric)
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The fabric's status, from the cache when nothing it depends on changed (see [`StatusCache`]).
    pub async fn status(
        &self,
        engine: &Engine,
        fabric: &Fabric,
    ) -> Result<std::sync::Arc<StatusReport>> {
        let slot = self.slot(&fabric.name);
        match slot.look(self.recheck, self.max_age) {
            Look::Fresh(r) => Ok(r),
            Look::Due(r) => match slot.compute.try_lock() {
                Ok(_one) => self.refresh(engine, fabric, &slot).await,
                // Another caller re-checks (or computes) now: the entry is as good as when it was checked.
                Err(_) => Ok(r),
            },
            Look::Missing => {
                let _one = slot.compute.lock().await;
                // Another caller may have computed it meanwhile.
                if let Look::Fresh(r) = slot.look(self.recheck, self.max_age) {
                    return Ok(r);
                }
                self.refresh(engine, fabric, &slot).await
            }
        }
    }

    /// Takes the fingerprint; computes the status again unless the entry still matches it. The caller holds
    /// the slot's compute lock.
    async fn refresh(
        &self,
        engine: &Engine,
        fabric: &Fabric,
        slot: &Slot,
    ) -> Result<std::sync::Arc<StatusReport>> {
        // The generation and the fingerprint are taken before the status: a change while it is computed gives
        // the next call another generation or fingerprint, so a report is never kept past a change it missed.
        let generation = slot.generation.load(std::sync::atomic::Ordering::Acquire);
        let at = std::time::Instant::now();
        let fp = fingerprint(engine, fabric).await?;
        {
            let mut v = slot.value.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = v.as_mut().filter(|e| {
                e.generation == generation
                    && e.fingerprint == fp
                    && e.computed.elapsed() < self.max_age
            }) {
                e.checked = at;
                return Ok(e.report.clone());
            }
        }
        let report = std::sync::Arc::new(status(engine, fabric).await?);
        *slot.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(Entry {
            generation,
            fingerprint: fp,
            checked: at,
            computed: at,
            report: report.clone(),
        });
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
        // Re-checked at every call: every change is seen at once, whoever made it.
        let cache = StatusCache::new(
            std::time::Duration::ZERO,
            std::time::Duration::from_secs(3600),
        );
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
        let short = StatusCache::new(
            std::time::Duration::ZERO,
            std::time::Duration::from_millis(50),
        );
        let a = short.status(&engine, &fabric).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        let b = short.status(&engine, &fabric).await.unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_told_to_the_cache_is_seen_at_once_an_untold_one_at_the_next_recheck() {
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
        let hour = std::time::Duration::from_secs(3600);
        let cache = Arc::new(StatusCache::new(hour, hour));
        let first = cache.status(&engine, &fabric).await.unwrap();
        assert!(first.pending.is_empty());

        // Not told, and no re-check due: the entry is served as it is (no fingerprint taken).
        std::fs::write(fabric.root.join("raw/ns.yaml"), NAMESPACES).unwrap();
        let untold = cache.status(&engine, &fabric).await.unwrap();
        assert!(Arc::ptr_eq(&first, &untold));

        // Told: the next call waits for a status computed afterwards.
        cache.touch("f");
        let told = cache.status(&engine, &fabric).await.unwrap();
        assert_eq!(told.pending, vec!["raw/ns.yaml".to_string()]);
        let again = cache.status(&engine, &fabric).await.unwrap();
        assert!(Arc::ptr_eq(&told, &again), "one computation per change");

        // Many callers after a change: each one gets the status computed after it.
        cache.touch("f");
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (cache, engine, fabric) = (cache.clone(), engine.clone(), fabric.clone());
            callers.spawn(async move { cache.status(&engine, &fabric).await.unwrap() });
        }
        let all = callers.join_all().await;
        assert!(
            !Arc::ptr_eq(&all[0], &told),
            "computed again after the touch"
        );
        assert!(all.iter().all(|r| Arc::ptr_eq(r, &all[0])), "computed once");

        // A short re-check interval: a change nobody told the cache of (an ingestion as another process would
        // make it) is seen once the re-check is due.
        let recheck = std::time::Duration::from_millis(50);
        let quick = StatusCache::new(recheck, hour);
        let before = quick.status(&engine, &fabric).await.unwrap();
        assert_eq!(before.pending.len(), 1);
        crate::ingest::ingest(&engine, &fabric, &Default::default())
            .await
            .unwrap();
        tokio::time::sleep(recheck * 2).await;
        let after = quick.status(&engine, &fabric).await.unwrap();
        assert!(after.pending.is_empty(), "{:?}", after.pending);
        assert_eq!(after.total, 1);
        // A re-check that finds nothing changed keeps the entry.
        tokio::time::sleep(recheck * 2).await;
        let unchanged = quick.status(&engine, &fabric).await.unwrap();
        assert!(Arc::ptr_eq(&after, &unchanged));
    }
}
