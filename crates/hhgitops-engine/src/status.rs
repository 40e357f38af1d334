//! `status`: pending and rejected raw files, objects per kind, last runs. Reads only.

use serde::Serialize;

use crate::error::Result;
use crate::fabric::Fabric;
use crate::index::{FabricRecords, Run};
use crate::layout::GitOpsRoot;
use crate::rawfiles::{discover, RefusedFile};
use crate::Engine;

#[derive(Debug, Clone, Serialize)]
pub struct RejectedFile {
    pub file: String,
    pub rejected_at: String,
    /// The first errors (at most 5), in the JSON error form.
    pub errors: Vec<serde_json::Value>,
    pub error_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub fabric: String,
    pub root: String,
    /// Raw files waiting to be ingested (new, or changed since they were rejected).
    pub pending: Vec<String>,
    /// Raw files rejected and unchanged since.
    pub rejected: Vec<RejectedFile>,
    /// Raw files refused outright (e.g. symbolic links leading out of the root).
    pub refused: Vec<RefusedFile>,
    /// Managed objects per kind, from the index.
    pub counts: std::collections::BTreeMap<String, i64>,
    pub total: i64,
    pub last_runs: Vec<Run>,
}

pub async fn status(engine: &Engine, fabric: &Fabric) -> Result<StatusReport> {
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let root = GitOpsRoot::new(&fabric.root);
    let rejections = records.rejections().await?;
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
                    error_count: all.len(),
                    errors: all.into_iter().take(5).collect(),
                });
            }
            _ => pending.push(f.rel),
        }
    }
    let counts: std::collections::BTreeMap<String, i64> =
        records.counts_per_kind().await?.into_iter().collect();
    let total = counts.values().sum();
    Ok(StatusReport {
        fabric: fabric.name.clone(),
        root: fabric.root.display().to_string(),
        pending,
        rejected,
        refused,
        counts,
        total,
        last_runs: records.last_runs(5).await?,
    })
}
