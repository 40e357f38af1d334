//! Stages 6 and 7 of an ingestion, *index* and *record*: the database index brought in line with the manifest,
//! the rejection records (new ones stored, ingested or vanished files forgotten) and the run record.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use crate::index::{FabricRecords, Rejection, RunCounts};
use crate::records::InventoryEntry;
use crate::run::{Outcome, RunRecord};

use super::options::IngestOptions;
use super::report::{FileStatus, IngestReport};

/// Brings the database index in line with the manifest when its recorded hash differs.
pub async fn sync_index(
    records: &FabricRecords,
    manifest_sha: Option<&str>,
    inventory: Option<&[InventoryEntry]>,
) -> Result<()> {
    if records.index_manifest_sha().await?.as_deref() == manifest_sha {
        return Ok(());
    }
    records
        .replace_index(inventory.unwrap_or(&[]), manifest_sha)
        .await
}

/// Rejection records: new ones stored with the context the next run will find, ingested files forgotten, and
/// (when the run looked at all of raw/) files that are gone.
pub(super) async fn record_rejections(
    records: &FabricRecords,
    report: &IngestReport,
    context: &str,
    rejections: &BTreeMap<String, Rejection>,
    opts: &IngestOptions,
) -> Result<()> {
    let mut set = Vec::new();
    let mut clear = Vec::new();
    let present: BTreeSet<&str> = report.files.iter().map(|f| f.file.as_str()).collect();
    for f in &report.files {
        match f.status {
            FileStatus::Rejected if !f.previously_rejected && !f.sha256.is_empty() => {
                set.push(Rejection {
                    file: f.file.clone(),
                    sha256: f.sha256.clone(),
                    context: context.to_string(),
                    cause: f.cause.to_string(),
                    errors: serde_json::to_value(&f.errors).unwrap_or_default(),
                    rejected_at: crate::clock::now_rfc3339(),
                })
            }
            FileStatus::Ingested | FileStatus::Unchanged => clear.push(f.file.clone()),
            _ => {}
        }
    }
    if opts.only.is_none() {
        clear.extend(
            rejections
                .keys()
                .filter(|k| !present.contains(k.as_str()))
                .cloned(),
        );
    }
    records.update_rejections(&set, &clear).await
}

/// Finishes the run record of an ingestion that got through its file stages.
pub(super) async fn finish_run(run: RunRecord, report: &IngestReport) -> Result<()> {
    let s = &report.summary;
    let counts = RunCounts {
        files: s.files as i64,
        created: s.created as i64,
        updated: s.updated as i64,
        unchanged: s.unchanged_objects as i64,
        deleted: s.deleted as i64,
        rejected: s.rejected as i64,
    };
    let detail = serde_json::json!({ "files": report.files, "refused": report.refused });
    run.finish(
        Outcome::done(report.has_rejections()),
        counts,
        &report.commit_message(),
        &detail,
    )
    .await
}

/// The records of a run that only validated because the clone is blocked: its rejections (without a context:
/// once the block is resolved every one of them is validated again) and a `blocked` run.
pub(super) async fn record_blocked(
    records: &FabricRecords,
    report: &IngestReport,
    why: &str,
) -> Result<()> {
    let set: Vec<Rejection> = report
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Rejected && !f.sha256.is_empty())
        .map(|f| Rejection {
            file: f.file.clone(),
            sha256: f.sha256.clone(),
            context: String::new(),
            cause: f.cause.to_string(),
            errors: serde_json::to_value(&f.errors).unwrap_or_default(),
            rejected_at: crate::clock::now_rfc3339(),
        })
        .collect();
    records.update_rejections(&set, &[]).await?;
    let counts = RunCounts {
        files: report.summary.files as i64,
        rejected: report.summary.rejected as i64,
        ..RunCounts::default()
    };
    RunRecord::record(
        records,
        "ingest",
        Outcome::Blocked,
        counts,
        &format!("nothing written: {why}"),
        &serde_json::json!({ "files": report.files }),
    )
    .await
}
