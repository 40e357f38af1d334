//! The reports of an ingestion: per raw file, per run, and the findings about managed/ itself. They are the wire
//! format of `ingest --json`, of the watcher's events and of the HTTP API (camelCase keys, docs/json.md).

use std::collections::BTreeMap;

use hhgitops_core::{Diagnostic, Kind};
use serde::Serialize;

use crate::rawfiles::RefusedFile;
use crate::report::ErrorRecord;
use crate::txn::Recovery;

/// What happened to one raw file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Accepted and applied; at least one managed file created or updated.
    Ingested,
    /// Refused; the file stays as it is.
    Rejected,
    /// Accepted; every object already managed with identical content. The original is archived.
    Unchanged,
    /// Not looked at this time (changing while read, vanished); it is taken on a later run.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    pub file: String,
    pub status: FileStatus,
    pub documents: usize,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub archived_to: Option<String>,
    pub errors: Vec<ErrorRecord>,
    /// True when the file was not validated again because its content was already rejected.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub previously_rejected: bool,
    /// Where `--file` copied an outside file to, or why a file was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    pub(crate) sha256: String,
    /// Why a rejected file was rejected (see [`Rejection::cause`]).
    #[serde(skip)]
    pub(crate) cause: &'static str,
    /// Validated again (something it depends on changed) and rejected with the same errors as before: its
    /// record is renewed, but it is not logged or committed as a new rejection.
    #[serde(skip)]
    pub(crate) repeated: bool,
}

impl FileReport {
    pub(crate) fn new(file: &str, status: FileStatus) -> Self {
        FileReport {
            file: file.to_string(),
            status,
            documents: 0,
            created: Vec::new(),
            updated: Vec::new(),
            unchanged: Vec::new(),
            archived_to: None,
            errors: Vec::new(),
            previously_rejected: false,
            note: None,
            sha256: String::new(),
            cause: "",
            repeated: false,
        }
    }

    /// A rejection that is news: validated and rejected, not the same rejection as last time.
    pub(crate) fn new_rejection(&self) -> bool {
        self.status == FileStatus::Rejected && !self.previously_rejected && !self.repeated
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub files: usize,
    pub ingested: usize,
    pub unchanged: usize,
    pub rejected: usize,
    pub skipped: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged_objects: usize,
    pub deleted: usize,
    /// Cross-object checks skipped for lack of data (e.g. a SwitchProfile not in the fabric).
    pub unchecked: usize,
}

/// Findings about managed/ itself: hand edits, files removed by hand, files that no longer validate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedReport {
    /// Managed files edited by hand since hhgitops wrote them (and still valid: now recorded).
    pub edited: Vec<String>,
    /// Managed files present but not in the manifest (valid: now recorded).
    pub adopted: Vec<String>,
    /// Objects whose managed file was removed: dropped from the inventory.
    pub removed: Vec<String>,
    /// Errors in managed files (they stay as they are; fix them or ingest a correction).
    pub errors: Vec<Diagnostic>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub fabric: String,
    pub dry_run: bool,
    pub files: Vec<FileReport>,
    pub refused: Vec<RefusedFile>,
    pub managed: ManagedReport,
    pub summary: Summary,
    pub recovery: Recovery,
    /// True when the GitOps tree changed (a commit is due).
    pub changed: bool,
    /// The commit and push that recorded this run, when the fabric is in Git.
    pub git: Option<crate::gitops::GitOutcome>,
    /// Set when the ingestion was applied but its commit or push failed (SPEC exit code 3), or, with
    /// `validated_only`, why nothing could be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_error: Option<String>,
    /// The fabric's clone is blocked (its commits conflict with the remote's): the raw files were validated
    /// and their rejections recorded, but nothing was written. `status` says how to resolve it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub validated_only: bool,
}

impl IngestReport {
    /// A one-line description of what changed, for commit messages: `ingest raw/vpcs.yaml: +3 VPC, ~1 VPCAttachment`.
    pub fn commit_message(&self) -> String {
        let files: Vec<&str> = self
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Ingested | FileStatus::Unchanged))
            .map(|f| f.file.as_str())
            .collect();
        let mut per_kind: BTreeMap<(u8, String), (usize, usize, usize)> = BTreeMap::new();
        for f in &self.files {
            for (list, slot) in [(&f.created, 0), (&f.updated, 1)] {
                for o in list.iter() {
                    let kind = o.split('/').next().unwrap_or("").to_string();
                    let rank = Kind::from_kind_name(&kind).map_or(99, |k| k as u8);
                    let e = per_kind.entry((rank, kind)).or_default();
                    if slot == 0 {
                        e.0 += 1
                    } else {
                        e.1 += 1
                    }
                }
            }
        }
        for o in &self.managed.removed {
            let kind = o.split('/').next().unwrap_or("").to_string();
            let rank = Kind::from_kind_name(&kind).map_or(99, |k| k as u8);
            per_kind.entry((rank, kind)).or_default().2 += 1;
        }
        let mut parts = Vec::new();
        for ((_, kind), (c, u, d)) in &per_kind {
            if *c > 0 {
                parts.push(format!("+{c} {kind}"));
            }
            if *u > 0 {
                parts.push(format!("~{u} {kind}"));
            }
            if *d > 0 {
                parts.push(format!("-{d} {kind}"));
            }
        }
        let what = if files.is_empty() {
            "ingest".to_string()
        } else if files.len() <= 3 {
            format!("ingest {}", files.join(", "))
        } else {
            format!("ingest {} files", files.len())
        };
        let rejected: Vec<&str> = self
            .files
            .iter()
            .filter(|f| f.new_rejection())
            .map(|f| f.file.as_str())
            .collect();
        if files.is_empty() && !rejected.is_empty() && parts.is_empty() {
            return format!(
                "reject {}",
                if rejected.len() <= 3 {
                    rejected.join(", ")
                } else {
                    format!("{} files", rejected.len())
                }
            );
        }
        if parts.is_empty() {
            format!("{what}: no object changes")
        } else {
            format!("{what}: {}", parts.join(", "))
        }
    }

    pub fn has_rejections(&self) -> bool {
        self.summary.rejected > 0 || !self.refused.is_empty()
    }
}
