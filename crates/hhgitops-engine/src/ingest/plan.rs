//! Stage 4 of an ingestion, *plan writes*: what the run changes, staged into its change set
//! ([`crate::changeset`]) as it is decided — managed files whose normalized content changes (normalized here,
//! once per accepted object: the only place an ingestion normalizes), the archived copy and removal of each
//! accepted raw file, the inventory (hand edits, adopted and removed managed files recorded), the archive-log
//! entries, the per-file outcome and the run's summary.

use std::collections::{BTreeMap, BTreeSet};

use hhgitops_core::Diagnostic;

use crate::atomic::sha256_hex;
use crate::changeset::ChangeSet;
use crate::error::Result;
use crate::index::Rejection;
use crate::layout::GitOpsRoot;
use crate::managed::ManagedState;
use crate::progress::{Operation, Progress};
use crate::rawfiles::archive_name;
use crate::records::{InventoryEntry, LogEntry, Operation as LogOperation, Source};
use crate::report::ErrorRecord;
use crate::sandbox::RootDir;

use super::read::ReadFile;
use super::report::{FileReport, FileStatus, ManagedReport, Summary};

/// What the plan stage decided, beside what it staged.
pub(super) struct Planned {
    pub managed: ManagedReport,
    pub summary: Summary,
    /// Every managed file as it will be after the run: path → sha256 (for the next run's rejection context).
    pub managed_after: BTreeMap<String, String>,
    /// Managed files written (created or updated) by the run, with their bytes (only when asked for).
    pub written: BTreeMap<String, Vec<u8>>,
}

/// Records what changed in managed/ by hand (files removed, edited, added) in the inventory and the log.
pub(super) fn plan_managed(
    root: &GitOpsRoot,
    changes: &mut ChangeSet,
    managed: &ManagedState,
    mut managed_errors: Vec<Diagnostic>,
) -> ManagedReport {
    crate::managed::relocate(root, &mut managed_errors);
    let mut report = ManagedReport {
        errors: managed_errors,
        ..Default::default()
    };
    report.errors.extend(managed.problems.iter().cloned());
    // Managed files removed by hand leave the inventory; hand edits and adopted files are recorded.
    for (k, name) in &managed.missing {
        changes.inventory.remove(&(*k, name.clone()));
        report.removed.push(format!("{k}/{name}"));
    }
    for (key, entry) in &managed.untracked_or_edited {
        let known = changes.inventory.contains_key(key);
        let label = format!("{}/{}", key.0, key.1);
        if report.errors.iter().any(|d| d.file == entry.file) {
            continue;
        }
        if known {
            report.edited.push(label);
        } else {
            report.adopted.push(label);
        }
        let mut e = entry.clone();
        if let Some(old) = changes.inventory.get(key) {
            e.source = old.source.clone();
        }
        changes.inventory.insert(key.clone(), e);
    }
    if !report.removed.is_empty() {
        changes.log(LogEntry {
            deleted: report.removed.clone(),
            message: Some("managed files removed by hand: dropped from the inventory".into()),
            ..LogEntry::new(LogOperation::Delete)
        });
    }
    if !report.edited.is_empty() || !report.adopted.is_empty() {
        let mut updated = report.edited.clone();
        updated.extend(report.adopted.iter().cloned());
        changes.log(LogEntry {
            updated,
            message: Some(
                "managed files edited or added by hand: recorded in the inventory".into(),
            ),
            ..LogEntry::new(LogOperation::Update)
        });
    }
    report
}

/// Stages the objects of every accepted raw file (only those whose normalized content changes), its archived
/// copy and its removal; then marks rejections that are not news, logs the new ones and sums the run up.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_files(
    dir: &RootDir,
    changes: &mut ChangeSet,
    parsed: &mut [ReadFile],
    accepted: &[usize],
    reports: &mut [FileReport],
    managed: &mut ManagedState,
    managed_report: ManagedReport,
    unchecked: usize,
    rejections: &BTreeMap<String, Rejection>,
    keep_written: bool,
    progress: &Progress,
) -> Result<Planned> {
    let objects: usize = accepted
        .iter()
        .filter_map(|&i| parsed[i].report.as_ref())
        .map(|r| r.objects.len())
        .sum();
    let mut stage = progress.stage(Operation::Ingest, "write", Some(objects as u64));
    let mut archive_taken = BTreeSet::new();
    // The managed files as they will be after this run, for the rejection context the next run finds.
    let mut managed_after = std::mem::take(&mut managed.hashes);
    let mut written = BTreeMap::new();
    let mut summary = Summary {
        unchecked,
        ..Default::default()
    };
    for &i in accepted {
        let rf = &mut parsed[i];
        let Some(rep) = rf.report.take() else {
            continue;
        };
        let Some(fr) = reports.iter_mut().find(|r| r.file == rf.rel) else {
            continue;
        };
        let (source_file, source_sha): (std::sync::Arc<str>, std::sync::Arc<str>) =
            (rf.rel.as_str().into(), rf.sha256.as_str().into());
        // The archived copy is staged first: the stager writes the original and frees it while the objects are
        // planned (memory: the raw bytes are not held beside the file's inventory). Its removal from raw/ is
        // staged after the managed files, so it is applied after the copy is in place.
        let archived = archive_name(dir, &rf.rel, &archive_taken);
        archive_taken.insert(archived.clone());
        changes.put(&archived, std::mem::take(&mut rf.bytes))?;
        // Each object is dropped once its file is planned, so the objects shrink as the inventory grows.
        for o in rep.objects {
            let rel = GitOpsRoot::managed_rel(o.kind, &o.name);
            let label = format!("{}/{}", o.kind, o.name);
            let normalized = o.normalized();
            let sha = sha256_hex(normalized.as_bytes());
            let existing = managed.files.get(&(o.kind, o.name.clone()));
            let write = match existing {
                Some(cur) if cur.sha256 == sha => {
                    fr.unchanged.push(label);
                    false
                }
                Some(_) => {
                    fr.updated.push(label);
                    true
                }
                None => {
                    fr.created.push(label);
                    true
                }
            };
            if write {
                managed_after.insert(rel.clone(), sha.clone());
                if keep_written {
                    written.insert(rel.clone(), normalized.clone().into_bytes());
                }
                changes.put(&rel, normalized)?;
            }
            let key = (o.kind, o.name.clone());
            let unchanged_content = changes
                .inventory
                .get(&key)
                .is_some_and(|e| e.sha256 == sha && e.file == rel);
            if !unchanged_content {
                changes.inventory.insert(
                    key,
                    InventoryEntry {
                        kind: o.kind.to_string(),
                        name: o.name.clone(),
                        file: rel,
                        sha256: sha,
                        source: Some(Source {
                            file: source_file.clone(),
                            document: o.document,
                            sha256: source_sha.clone(),
                        }),
                    },
                );
            }
            stage.step(|| format!("{}/{}", o.kind, o.name));
        }
        fr.status = if fr.created.is_empty() && fr.updated.is_empty() {
            FileStatus::Unchanged
        } else {
            FileStatus::Ingested
        };
        changes.remove(&rf.rel, Some(rf.sha256.clone()))?;
        fr.archived_to = Some(archived.clone());
        changes.log(LogEntry {
            files: vec![rf.rel.clone()],
            archived_to: Some(archived),
            documents: Some(fr.documents),
            created: fr.created.clone(),
            updated: fr.updated.clone(),
            unchanged: fr.unchanged.clone(),
            message: if fr.status == FileStatus::Unchanged {
                Some("unchanged".into())
            } else {
                None
            },
            ..LogEntry::new(LogOperation::Ingest)
        });
    }
    // Rejected again with the same errors after something it depends on changed: not news.
    for fr in reports.iter_mut() {
        if fr.status == FileStatus::Rejected && !fr.previously_rejected {
            fr.repeated = rejections.get(&fr.file).is_some_and(|r| {
                r.sha256 == fr.sha256
                    && serde_json::from_value::<Vec<ErrorRecord>>(r.errors.clone())
                        .is_ok_and(|e| e == fr.errors)
            });
        }
    }
    for fr in reports.iter().filter(|r| r.new_rejection()) {
        let first = fr
            .errors
            .first()
            .map(|e| e.display(&fr.file))
            .unwrap_or_default();
        changes.log(LogEntry {
            files: vec![fr.file.clone()],
            documents: Some(fr.documents),
            message: Some(format!(
                "rejected: {} error(s); first: {first}",
                fr.errors.len()
            )),
            ..LogEntry::new(LogOperation::Reject)
        });
    }
    for fr in reports.iter() {
        summary.files += 1;
        match fr.status {
            FileStatus::Ingested => summary.ingested += 1,
            FileStatus::Unchanged => summary.unchanged += 1,
            FileStatus::Rejected => summary.rejected += 1,
            FileStatus::Skipped => summary.skipped += 1,
        }
        summary.created += fr.created.len();
        summary.updated += fr.updated.len();
        summary.unchanged_objects += fr.unchanged.len();
    }
    summary.deleted = managed_report.removed.len();
    Ok(Planned {
        managed: managed_report,
        summary,
        managed_after,
        written,
    })
}
