//! `status`: pending and rejected raw files, objects per kind, last runs. Reads only.

use serde::Serialize;

use crate::error::Result;
use crate::fabric::Fabric;
use crate::index::{FabricRecords, Run};
use crate::layout::GitOpsRoot;
use crate::rawfiles::{discover, RefusedFile};
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
