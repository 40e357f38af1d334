//! What the tree holds that the last commit does not: the commit message of work an interrupted run left
//! uncommitted.
//!
//! An ingestion is applied to the tree (its transaction, with its archive-log entries) before `git commit` runs.
//! A process stopped in between leaves the tree ahead of HEAD; the next operation commits it. The archive-log
//! entries beyond those HEAD has are exactly what that commit holds, so its message is built from them, in the
//! form an ingestion's own message has (`ingest raw/a.yaml: +3 VPC`), instead of describing only the later run.

use std::path::Path;

use super::{FileReport, FileStatus, IngestReport, ManagedReport, Summary};
use crate::gitops::GitSession;
use crate::names::ARCHIVE_LOG;
use crate::records::{parse_archive_log, read_yaml, ArchiveLog, LogEntry, Operation};
use crate::txn::Recovery;

/// The message for committing the tree after an ingestion whose own message is `own`: built from every
/// archive-log entry the last commit lacks (this run's and any an interrupted run left), or `own` when there
/// are none.
pub fn commit_message(session: &GitSession, root: &Path, fabric: &str, own: String) -> String {
    match uncommitted_entries(session, root) {
        Some(entries) if !entries.is_empty() => describe(fabric, &entries),
        _ => own,
    }
}

/// The archive-log entries of the tree beyond those of the last commit; `None` when either log cannot be read.
fn uncommitted_entries(session: &GitSession, root: &Path) -> Option<Vec<LogEntry>> {
    let path = root.join(ARCHIVE_LOG);
    let dir = crate::layout::GitOpsRoot::new(root).sandbox().ok()?;
    let now = parse_archive_log(&path, read_yaml(&dir, ARCHIVE_LOG).ok()??).ok()?;
    let committed = match session.committed_file(&path) {
        Some(bytes) => parse_log_bytes(&path, &bytes)?.entries.len(),
        None => 0,
    };
    Some(now.entries.into_iter().skip(committed).collect())
}

fn parse_log_bytes(path: &Path, bytes: &[u8]) -> Option<ArchiveLog> {
    let docs =
        hhgitops_core::yaml::parse_stream(bytes, &hhgitops_core::yaml::Limits::default()).ok()?;
    let v = docs.into_iter().find_map(|d| d.root)?.to_json();
    parse_archive_log(path, v).ok()
}

/// An ingestion report rebuilt from log entries, whose message is then the one the run would have written.
fn describe(fabric: &str, entries: &[LogEntry]) -> String {
    let mut files = Vec::new();
    let mut managed = ManagedReport::default();
    for e in entries {
        match e.operation {
            Some(Operation::Ingest) => {
                let Some(file) = e.files.first() else {
                    continue;
                };
                let status = if e.created.is_empty() && e.updated.is_empty() {
                    FileStatus::Unchanged
                } else {
                    FileStatus::Ingested
                };
                let mut f = FileReport::new(file, status);
                f.created = e.created.clone();
                f.updated = e.updated.clone();
                f.unchanged = e.unchanged.clone();
                files.push(f);
            }
            Some(Operation::Reject) => {
                for file in &e.files {
                    files.push(FileReport::new(file, FileStatus::Rejected));
                }
            }
            Some(Operation::Delete) => managed.removed.extend(e.deleted.iter().cloned()),
            _ => {}
        }
    }
    IngestReport {
        fabric: fabric.to_string(),
        dry_run: false,
        files,
        refused: Vec::new(),
        managed,
        summary: Summary::default(),
        recovery: Recovery::default(),
        changed: true,
        git: None,
        git_error: None,
        validated_only: false,
    }
    .commit_message()
}
