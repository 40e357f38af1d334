//! Ingestion (SPEC §3): raw/ files validated against the fabric state they would produce, then written as one
//! normalized file per object under managed/, with the manifest, archive log and archived originals, in one
//! journaled transaction per run.
//!
//! Invariants:
//! - each raw file is all or nothing: every file of a run that is accepted is applied in the run's single
//!   transaction ([`crate::txn`]), every rejected file is left byte for byte;
//! - a raw file is removed only after its archived copy is in place, and only while it still has the content
//!   that was ingested — a file rewritten meanwhile stays and is ingested next time;
//! - managed files are written only when their normalized content changes (re-ingesting is write-free);
//! - the database index is a copy of the manifest inventory, rebuilt whenever the manifest hash differs from the
//!   one it was built from, so a crash between the file commit and the database update heals on the next run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::FabricState;
use hhgitops_core::validate::{parse_source, validate_state, SourceReport};
use hhgitops_core::{yaml, Diagnostic, Kind};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::atomic::sha256_hex;
use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::index::{FabricRecords, Rejection, RunCounts};
use crate::layout::{GitOpsRoot, ARCHIVE_LOG, MANIFEST};
use crate::rawfiles::{archive_name, discover, RawFile, RefusedFile};
use crate::records::{ArchiveLog, InventoryEntry, LogEntry, Manifest, Operation, Source};
use crate::sandbox::{FileKind, RootDir};
use crate::txn::{recover, Failpoint, Recovery, Transaction};
use crate::Engine;

/// Default largest raw file accepted (8 MiB: see `hhgitops_core::yaml::DEFAULT_MAX_BYTES`).
pub const DEFAULT_MAX_FILE_SIZE: u64 = hhgitops_core::yaml::DEFAULT_MAX_BYTES as u64;

/// How an ingestion runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Report what would happen; write nothing (no files, no database records).
    pub dry_run: bool,
    /// Only these files (absolute paths). A file outside raw/ is copied into raw/ first.
    pub only: Option<Vec<PathBuf>>,
    pub max_file_size: u64,
    pub lock_timeout: Duration,
    pub failpoint: Failpoint,
    /// Test hook: called with a raw file's path right after it was read (to change or remove it at that moment).
    pub after_read: Option<AfterRead>,
    /// Stops the run at its next safe point (between files, before the commit point); nothing is written then.
    pub cancel: CancellationToken,
    pub progress: crate::progress::Progress,
}

/// See [`IngestOptions::after_read`].
#[derive(Clone)]
pub struct AfterRead(pub std::sync::Arc<dyn Fn(&Path) + Send + Sync>);

impl std::fmt::Debug for AfterRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterRead")
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            dry_run: false,
            only: None,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            lock_timeout: crate::settings::DEFAULT_LOCK_TIMEOUT,
            failpoint: Failpoint::default(),
            after_read: None,
            cancel: CancellationToken::new(),
            progress: crate::progress::Progress::none(),
        }
    }
}

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

/// One error, in the JSON form of SPEC §7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    /// Set when the error is located in another file than the one it is reported for (e.g. a conflict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub document: Option<usize>,
    pub line: u32,
    pub column: u32,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub path: String,
    pub message: String,
}

impl ErrorRecord {
    pub fn from_diag(d: &Diagnostic, reported_for: &str) -> Self {
        ErrorRecord {
            file: if d.file.is_empty() || d.file == reported_for {
                None
            } else {
                Some(d.file.clone())
            },
            document: d.document,
            line: d.line,
            column: d.column,
            kind: d.kind.clone(),
            name: d.name.clone(),
            path: d.path.clone(),
            message: d.message.clone(),
        }
    }

    fn plain(message: impl Into<String>) -> Self {
        ErrorRecord {
            file: None,
            document: None,
            line: 0,
            column: 0,
            kind: None,
            name: None,
            path: String::new(),
            message: message.into(),
        }
    }

    /// `file:line:col: Kind name: path: message`.
    pub fn display(&self, file: &str) -> String {
        let d = Diagnostic {
            file: self.file.clone().unwrap_or_else(|| file.to_string()),
            document: self.document,
            line: self.line,
            column: self.column,
            kind: self.kind.clone(),
            name: self.name.clone(),
            path: self.path.clone(),
            message: self.message.clone(),
        };
        d.to_string()
    }
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
    sha256: String,
    /// Why a rejected file was rejected (see [`Rejection::cause`]).
    #[serde(skip)]
    cause: &'static str,
    /// Validated again (something it depends on changed) and rejected with the same errors as before: its
    /// record is renewed, but it is not logged or committed as a new rejection.
    #[serde(skip)]
    repeated: bool,
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
    fn new_rejection(&self) -> bool {
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

/// The validation settings of a fabric: CATALOGUE §1 defaults, its controller configuration, its `settings`
/// option ([`crate::config`]).
pub fn fabric_settings(fabric: &Fabric) -> Result<FabricSettings> {
    crate::config::effective_settings(fabric).map(|e| e.settings)
}

/// Ingests the raw files of one fabric: brings its Git clone up to date first, ingests, then commits what
/// changed and pushes (SPEC §5). A dry run touches neither the tree nor Git.
pub async fn ingest(
    engine: &Engine,
    fabric: &Fabric,
    opts: &IngestOptions,
) -> Result<IngestReport> {
    if opts.dry_run {
        return ingest_local(engine, fabric, opts).await;
    }
    let session = match engine
        .git_session(fabric, &format!("ingest {}", fabric.name))
        .await
    {
        Ok(s) => s,
        Err(Error::GitConflict(why)) => {
            return validate_while_blocked(engine, fabric, opts, why).await
        }
        Err(e) => return Err(e),
    };
    let mut report = ingest_local(engine, fabric, opts).await?;
    if let Some(s) = session {
        if report.changed || s.pushes() {
            // The message covers everything the commit holds, work an interrupted run left included.
            let root = fabric.root.clone();
            let name = fabric.name.clone();
            let own = report.commit_message();
            let (s, message) = tokio::task::spawn_blocking(move || {
                let m = crate::pending::commit_message(&s, &root, &name, own);
                (s, m)
            })
            .await
            .map_err(|e| Error::Runtime(format!("git task failed: {e}")))?;
            // The tree already holds the ingestion: a failed commit or push is reported with the report (the
            // next operation commits and pushes what is left), not instead of it.
            match engine.git_commit(fabric, s, message).await {
                Ok(g) => report.git = Some(g),
                Err(e) => {
                    // The ingestion's run record says success (the tree holds it); the commit or push that
                    // failed gets its own record, so the last run shown is not a success.
                    let outcome = if matches!(e, Error::GitConflict(_)) {
                        "blocked"
                    } else {
                        "failed"
                    };
                    let records = FabricRecords::new(engine.db(), &fabric.name);
                    let run = records.start_run("commit").await?;
                    records
                        .finish_run(
                            &run,
                            outcome,
                            RunCounts::default(),
                            &format!("ingested, but {e}"),
                            &serde_json::json!({}),
                        )
                        .await?;
                    report.git_error = Some(e.to_string());
                }
            }
        }
    }
    Ok(report)
}

/// A clone that cannot be brought up to date (its commits conflict with the remote's) takes no new commits until
/// the operator resolves it, and gets no new conflict branch per run: its raw files are validated (a dry run),
/// their rejections recorded so that `status` shows them, and the run recorded as `blocked` with the reason.
async fn validate_while_blocked(
    engine: &Engine,
    fabric: &Fabric,
    opts: &IngestOptions,
    why: String,
) -> Result<IngestReport> {
    let dry = IngestOptions {
        dry_run: true,
        ..opts.clone()
    };
    let mut report = ingest_local(engine, fabric, &dry).await?;
    report.validated_only = true;
    let records = FabricRecords::new(engine.db(), &fabric.name);
    // Recorded without a context: once the block is resolved, every one of them is validated again.
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
    let run = records.start_run("ingest").await?;
    let counts = RunCounts {
        files: report.summary.files as i64,
        rejected: report.summary.rejected as i64,
        ..RunCounts::default()
    };
    records
        .finish_run(
            &run,
            "blocked",
            counts,
            &format!("nothing written: {why}"),
            &serde_json::json!({ "files": report.files }),
        )
        .await?;
    report.git_error = Some(why);
    Ok(report)
}

/// Ingestion without Git: the tree and the database only. The work runs under the fabric lock on a thread of
/// its own ([`crate::lock::with_fabric_lock`]): dropping this future never leaves the lock free while files are
/// written; it cancels the run at its next safe point before the commit point, or lets it finish.
pub async fn ingest_local(
    engine: &Engine,
    fabric: &Fabric,
    opts: &IngestOptions,
) -> Result<IngestReport> {
    let opts = opts.clone();
    let cancel = opts.cancel.clone();
    crate::lock::with_fabric_lock(
        engine,
        fabric,
        opts.lock_timeout,
        &cancel,
        move |engine, fabric, cancel| async move {
            ingest_locked(&engine, &fabric, &opts, &cancel).await
        },
    )
    .await
}

/// [`ingest_local`] with the lock held, on a blocking-pool thread (file work is called directly).
async fn ingest_locked(
    engine: &Engine,
    fabric: &Fabric,
    opts: &IngestOptions,
    cancel: &CancellationToken,
) -> Result<IngestReport> {
    opts.failpoint.hit("ingest-locked");
    let root = GitOpsRoot::new(&fabric.root);
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let settings = fabric_settings(fabric)?;
    let rejections: BTreeMap<String, Rejection> = records
        .rejections()
        .await?
        .into_iter()
        .map(|r| (r.file.clone(), r))
        .collect();
    let run_id = if opts.dry_run {
        None
    } else {
        records.mark_interrupted().await?;
        Some(records.start_run("ingest").await?)
    };
    let result = ingest_files(fabric, &root, &settings, opts, &rejections, cancel);
    let (report, manifest_sha, inventory, context) = match result {
        Ok(x) => x,
        Err(e) => {
            if let Some(id) = &run_id {
                let outcome = if matches!(e, Error::Cancelled(_)) {
                    "cancelled"
                } else {
                    "failed"
                };
                let _ = records
                    .finish_run(
                        id,
                        outcome,
                        RunCounts::default(),
                        &e.to_string(),
                        &serde_json::json!({}),
                    )
                    .await;
            }
            return Err(e);
        }
    };
    if opts.dry_run {
        return Ok(report);
    }
    opts.failpoint.hit("ingest-before-db");
    sync_index(&records, manifest_sha.as_deref(), inventory.as_deref()).await?;
    // Rejection records: new ones stored, ingested or vanished files forgotten.
    let mut set = Vec::new();
    let mut clear = Vec::new();
    let present: BTreeSet<&str> = report.files.iter().map(|f| f.file.as_str()).collect();
    for f in &report.files {
        match f.status {
            FileStatus::Rejected if !f.previously_rejected && !f.sha256.is_empty() => {
                set.push(Rejection {
                    file: f.file.clone(),
                    sha256: f.sha256.clone(),
                    context: context.clone(),
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
    records.update_rejections(&set, &clear).await?;
    if let Some(id) = &run_id {
        let s = &report.summary;
        let counts = RunCounts {
            files: s.files as i64,
            created: s.created as i64,
            updated: s.updated as i64,
            unchanged: s.unchanged_objects as i64,
            deleted: s.deleted as i64,
            rejected: s.rejected as i64,
        };
        let outcome = if report.has_rejections() {
            "rejected"
        } else {
            "success"
        };
        let detail = serde_json::json!({ "files": report.files, "refused": report.refused });
        records
            .finish_run(id, outcome, counts, &report.commit_message(), &detail)
            .await?;
    }
    Ok(report)
}

/// Stops a run at a safe point (nothing written yet) once its token fired.
pub(crate) fn check_cancelled(cancel: &CancellationToken, fabric: &str) -> Result<()> {
    if cancel.is_cancelled() {
        return Err(Error::Cancelled(format!(
            "fabric {fabric:?}: cancelled before anything was written"
        )));
    }
    Ok(())
}

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

/// A raw file read for this run.
struct ReadFile {
    rel: String,
    bytes: Vec<u8>,
    sha256: String,
    report: Option<SourceReport>,
}

/// The report, the manifest's hash and inventory for the index, and the rejection context the next run will
/// find (see [`RejectionContext`]).
type IngestOutcome = (
    IngestReport,
    Option<String>,
    Option<Vec<InventoryEntry>>,
    String,
);

/// What a rejection depends on besides the file's own content: the validator's version, the fabric settings and
/// the file-size limit, the managed files (path and hash of each, as on disk), and the raw files of the run
/// (path and hash of each: another file may define the same object, or what a reference needs). A file whose
/// content was rejected is skipped on a later run only while this digest is the same, so a rejection whose
/// cause is gone — the conflicting file removed, the missing object added, the limit raised — is validated
/// again.
struct RejectionContext {
    settings: String,
}

impl RejectionContext {
    fn new(settings: &FabricSettings, max_file_size: u64) -> Self {
        let settings = serde_json::to_string(settings).unwrap_or_default();
        RejectionContext {
            settings: format!(
                "hhgitops {}\nsettings {settings}\nmax-file-size {max_file_size}\n",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }

    /// The digest for managed files (path → hash) and raw files (path, hash).
    fn key<'a>(
        &self,
        managed: &BTreeMap<String, String>,
        raw: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.settings.as_bytes());
        for (file, sha) in managed {
            h.update(format!("managed {file} {sha}\n").as_bytes());
        }
        let mut raw: Vec<(&str, &str)> = raw.collect();
        raw.sort_unstable();
        for (file, sha) in raw {
            h.update(format!("raw {file} {sha}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The file-system half of an ingestion (runs on a blocking thread, with the fabric lock held).
fn ingest_files(
    fabric: &Fabric,
    root: &GitOpsRoot,
    settings: &FabricSettings,
    opts: &IngestOptions,
    rejections: &BTreeMap<String, Rejection>,
    cancel: &CancellationToken,
) -> Result<IngestOutcome> {
    let dir = root.sandbox()?;
    let recovery = if opts.dry_run {
        Recovery::default()
    } else {
        recover(&dir)?
    };
    let manifest_path = root.manifest_path();
    let mut manifest = root.current_manifest(&fabric.name)?;
    let limits = yaml::Limits {
        max_bytes: opts.max_file_size as usize,
        ..yaml::Limits::default()
    };

    // 1. The raw files of this run.
    let (candidates, refused) = select_raw_files(root, &dir, opts)?;

    // Nothing to ingest and managed/ exactly as the manifest records it: the state was validated when it was
    // written, so there is nothing to check again (a no-op run reads hashes only).
    if candidates.is_empty() && managed_matches_manifest(root, &manifest)? {
        let manifest_bytes = dir
            .read_max(MANIFEST, crate::records::MAX_RECORD_BYTES)
            .map_err(|e| Error::io("cannot read", &manifest_path, e))?;
        let report = IngestReport {
            fabric: fabric.name.clone(),
            dry_run: opts.dry_run,
            files: Vec::new(),
            refused,
            managed: ManagedReport::default(),
            summary: Summary::default(),
            recovery,
            changed: false,
            git: None,
            git_error: None,
            validated_only: false,
        };
        if opts.dry_run {
            return Ok((report, None, None, String::new()));
        }
        return Ok((
            report,
            Some(sha256_hex(&manifest_bytes)),
            Some(manifest.inventory),
            String::new(),
        ));
    }

    // 2. The managed state as it is on disk.
    let mut managed = load_managed(root, &manifest, settings)?;
    let mut state = managed.state.clone();
    let mut reports: Vec<FileReport> = Vec::new();
    let mut read: Vec<ReadFile> = Vec::new();
    let mut hydration =
        crate::hydration::IngestHydration::for_fabric(fabric, settings, &managed.state)?;
    for rf in candidates {
        check_cancelled(cancel, &fabric.name)?;
        let (file_report, read_file) = read_raw(&dir, &rf, opts);
        if let Some(r) = read_file {
            read.push(r);
        }
        reports.push(file_report);
    }
    // A file rejected before is skipped only while its content and everything it was judged against are the
    // same; otherwise it is validated again.
    let context = RejectionContext::new(settings, opts.max_file_size);
    let key_now = context.key(
        &managed.hashes,
        reports.iter().map(|r| (r.file.as_str(), r.sha256.as_str())),
    );
    let unchanged_rejection = |fr: &FileReport| {
        rejections
            .get(&fr.file)
            .filter(|r| !fr.sha256.is_empty() && r.sha256 == fr.sha256 && r.context == key_now)
    };
    for fr in reports.iter_mut() {
        if fr.status == FileStatus::Rejected && fr.cause == "size" {
            fr.previously_rejected = unchanged_rejection(fr).is_some();
        }
    }
    let mut parsed = Vec::with_capacity(read.len());
    for mut rf in read {
        let Some(fr) = reports.iter_mut().find(|r| r.file == rf.rel) else {
            continue;
        };
        if let Some(r) = unchanged_rejection(fr) {
            fr.previously_rejected = true;
            fr.errors = serde_json::from_value(r.errors.clone()).unwrap_or_default();
            fr.cause = cause_name(&r.cause);
            continue;
        }
        let report = match hydration.as_mut() {
            Some(h) => h.parse(&rf.rel, &rf.bytes, &limits, settings),
            None => parse_source(&rf.rel, &rf.bytes, &limits, settings),
        };
        fr.documents = report.documents;
        if !report.errors.is_empty() {
            fr.errors = report
                .errors
                .iter()
                .map(|d| ErrorRecord::from_diag(d, &rf.rel))
                .collect();
            fr.cause = "content";
            continue;
        }
        fr.status = FileStatus::Unchanged;
        rf.report = Some(report);
        parsed.push(rf);
    }
    let mut read = parsed;

    // 3. Conflicts between raw files of this run: the same object in two files rejects both.
    let mut first_seen: BTreeMap<(Kind, String), (usize, String)> = BTreeMap::new();
    let mut conflicted: BTreeMap<String, Vec<ErrorRecord>> = BTreeMap::new();
    for (i, rf) in read.iter().enumerate() {
        let Some(rep) = &rf.report else { continue };
        for o in &rep.objects {
            let here = format!("{}:{}:{}", rf.rel, o.span.line, o.span.column);
            match first_seen.get(&(o.kind, o.name.clone())) {
                Some((j, there)) if *j != i => {
                    let msg = |other: &str| {
                        ErrorRecord {
                        file: None,
                        document: Some(o.document),
                        line: 0,
                        column: 0,
                        kind: Some(o.kind.to_string()),
                        name: Some(o.name.clone()),
                        path: String::new(),
                        message: format!("{} {} is defined in two raw files of this run: {there} and {here}; keep it in one", o.kind, o.name, there = there, here = other),
                    }
                    };
                    conflicted
                        .entry(rf.rel.clone())
                        .or_default()
                        .push(msg(&here));
                    conflicted
                        .entry(read[*j].rel.clone())
                        .or_default()
                        .push(msg(&here));
                }
                Some(_) => {}
                None => {
                    first_seen.insert((o.kind, o.name.clone()), (i, here));
                }
            }
        }
    }
    for (file, errs) in &conflicted {
        if let Some(r) = reports.iter_mut().find(|r| &r.file == file) {
            r.status = FileStatus::Rejected;
            r.cause = "conflict";
            r.errors.extend(errs.iter().cloned());
        }
    }

    // 4. Validate the state each remaining file would produce; reject files with errors until none remain.
    let mut accepted: Vec<usize> = read
        .iter()
        .enumerate()
        .filter(|(_, rf)| {
            rf.report.is_some()
                && reports
                    .iter()
                    .any(|r| r.file == rf.rel && r.status != FileStatus::Rejected)
        })
        .map(|(i, _)| i)
        .collect();
    let mut unchecked;
    let mut managed_errors: Vec<Diagnostic>;
    loop {
        let mut candidate = state.clone();
        for &i in &accepted {
            if let Some(rep) = &read[i].report {
                candidate.insert_report(&read[i].rel, rep);
            }
        }
        let result = validate_state(&candidate, settings);
        unchecked = result.unchecked;
        let mut by_file: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
        managed_errors = Vec::new();
        for d in result.errors {
            if accepted.iter().any(|&i| read[i].rel == d.file) {
                by_file.entry(d.file.clone()).or_default().push(d);
            } else {
                managed_errors.push(d);
            }
        }
        if by_file.is_empty() {
            state = candidate;
            break;
        }
        accepted.retain(|&i| !by_file.contains_key(&read[i].rel));
        for (file, diags) in by_file {
            if let Some(r) = reports.iter_mut().find(|r| r.file == file) {
                r.status = FileStatus::Rejected;
                r.cause = "state";
                r.errors
                    .extend(diags.iter().map(|d| ErrorRecord::from_diag(d, &file)));
            }
        }
    }
    drop(state);
    // Parsed trees and typed objects are no longer needed: only what is written is kept from here on.
    drop(std::mem::take(&mut managed.state));

    // 5. Plan the writes.
    let mut writes = Writes::new(&dir, opts.dry_run);
    let mut inventory: BTreeMap<(Kind, String), InventoryEntry> = BTreeMap::new();
    for e in &manifest.inventory {
        if let Some(k) = Kind::from_kind_name(&e.kind) {
            inventory.insert((k, e.name.clone()), e.clone());
        }
    }
    let mut log_entries: Vec<LogEntry> = Vec::new();
    relocate(root, &mut managed_errors);
    let mut managed_report = ManagedReport {
        errors: managed_errors,
        ..Default::default()
    };
    managed_report
        .errors
        .extend(managed.problems.iter().cloned());
    // Managed files removed by hand leave the inventory; hand edits and adopted files are recorded.
    for (k, name) in &managed.missing {
        inventory.remove(&(*k, name.clone()));
        managed_report.removed.push(format!("{k}/{name}"));
    }
    for (key, entry) in &managed.untracked_or_edited {
        let known = inventory.contains_key(key);
        let label = format!("{}/{}", key.0, key.1);
        if managed_report.errors.iter().any(|d| d.file == entry.file) {
            continue;
        }
        if known {
            managed_report.edited.push(label);
        } else {
            managed_report.adopted.push(label);
        }
        let mut e = entry.clone();
        if let Some(old) = inventory.get(key) {
            e.source = old.source.clone();
        }
        inventory.insert(key.clone(), e);
    }
    if !managed_report.removed.is_empty() {
        log_entries.push(LogEntry {
            deleted: managed_report.removed.clone(),
            message: Some("managed files removed by hand: dropped from the inventory".into()),
            ..LogEntry::new(Operation::Delete)
        });
    }
    if !managed_report.edited.is_empty() || !managed_report.adopted.is_empty() {
        let mut updated = managed_report.edited.clone();
        updated.extend(managed_report.adopted.iter().cloned());
        log_entries.push(LogEntry {
            updated,
            message: Some(
                "managed files edited or added by hand: recorded in the inventory".into(),
            ),
            ..LogEntry::new(Operation::Update)
        });
    }

    let mut archive_taken = BTreeSet::new();
    // The managed files as they will be after this run, for the rejection context the next run finds.
    let mut managed_after = std::mem::take(&mut managed.hashes);
    let mut summary = Summary {
        unchecked,
        ..Default::default()
    };
    for &i in &accepted {
        let rf = &mut read[i];
        let Some(rep) = rf.report.take() else {
            continue;
        };
        let Some(fr) = reports.iter_mut().find(|r| r.file == rf.rel) else {
            continue;
        };
        for o in &rep.objects {
            let rel = GitOpsRoot::managed_rel(o.kind, &o.name);
            let label = format!("{}/{}", o.kind, o.name);
            let bytes = o.normalized.as_bytes();
            let sha = sha256_hex(bytes);
            let existing = managed.files.get(&(o.kind, o.name.clone()));
            match existing {
                Some(cur) if cur.sha256 == sha => fr.unchanged.push(label),
                Some(_) => {
                    fr.updated.push(label);
                    writes.put(&rel, bytes)?;
                    managed_after.insert(rel.clone(), sha.clone());
                }
                None => {
                    fr.created.push(label);
                    writes.put(&rel, bytes)?;
                    managed_after.insert(rel.clone(), sha.clone());
                }
            }
            let key = (o.kind, o.name.clone());
            let unchanged_content = inventory
                .get(&key)
                .is_some_and(|e| e.sha256 == sha && e.file == rel);
            if !unchanged_content {
                inventory.insert(
                    key,
                    InventoryEntry {
                        kind: o.kind.to_string(),
                        name: o.name.clone(),
                        file: rel,
                        sha256: sha,
                        source: Some(Source {
                            file: rf.rel.clone(),
                            document: o.document,
                            sha256: rf.sha256.clone(),
                        }),
                    },
                );
            }
        }
        fr.status = if fr.created.is_empty() && fr.updated.is_empty() {
            FileStatus::Unchanged
        } else {
            FileStatus::Ingested
        };
        let archived = archive_name(&dir, &rf.rel, &archive_taken);
        archive_taken.insert(archived.clone());
        writes.put(&archived, &std::mem::take(&mut rf.bytes))?;
        writes.remove(&rf.rel, Some(rf.sha256.clone()))?;
        fr.archived_to = Some(archived.clone());
        log_entries.push(LogEntry {
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
            ..LogEntry::new(Operation::Ingest)
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
        log_entries.push(LogEntry {
            files: vec![fr.file.clone()],
            documents: Some(fr.documents),
            message: Some(format!(
                "rejected: {} error(s); first: {first}",
                fr.errors.len()
            )),
            ..LogEntry::new(Operation::Reject)
        });
    }
    for fr in &reports {
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

    let old_manifest_bytes = dir
        .read_max(MANIFEST, crate::records::MAX_RECORD_BYTES)
        .map_err(|e| Error::io("cannot read", &manifest_path, e))?;
    manifest.inventory = inventory.into_values().collect();
    manifest.sort();
    let new_manifest = manifest.to_yaml()?;
    let manifest_changed = new_manifest.as_bytes() != old_manifest_bytes.as_slice();
    if manifest_changed {
        writes.put(MANIFEST, new_manifest.as_bytes())?;
    }
    if !log_entries.is_empty() {
        let mut log = ArchiveLog::read(&dir, &fabric.name)?;
        log.entries.extend(log_entries);
        writes.put(ARCHIVE_LOG, log.to_yaml()?.as_bytes())?;
    }
    let changed = writes.count > 0;
    let report = IngestReport {
        fabric: fabric.name.clone(),
        dry_run: opts.dry_run,
        files: reports,
        refused,
        managed: managed_report,
        summary,
        recovery,
        changed: changed && !opts.dry_run,
        git: None,
        git_error: None,
        validated_only: false,
    };
    let final_manifest_bytes = if manifest_changed {
        new_manifest.into_bytes()
    } else {
        old_manifest_bytes
    };
    let manifest_sha = Some(sha256_hex(&final_manifest_bytes));
    if opts.dry_run {
        return Ok((report, None, None, String::new()));
    }
    if let Some(txn) = writes.txn {
        // The last safe point: past the commit point the run is finished whatever happens to its caller.
        opts.failpoint.hit("ingest-before-commit");
        check_cancelled(cancel, &fabric.name)?;
        txn.commit(&opts.failpoint)?;
    }
    // What the next run will see: the managed files as written, and the raw files that stay in raw/.
    let key_after = context.key(
        &managed_after,
        report
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Rejected | FileStatus::Skipped))
            .map(|f| (f.file.as_str(), f.sha256.as_str())),
    );
    Ok((report, manifest_sha, Some(manifest.inventory), key_after))
}

/// The writes of a run, staged into one transaction as they are decided (a dry run only counts them).
struct Writes {
    root: RootDir,
    dry_run: bool,
    txn: Option<Transaction>,
    count: usize,
}

impl Writes {
    fn new(root: &RootDir, dry_run: bool) -> Self {
        Writes {
            root: root.clone(),
            dry_run,
            txn: None,
            count: 0,
        }
    }

    fn txn(&mut self) -> Result<&mut Transaction> {
        if self.txn.is_none() {
            self.txn = Some(Transaction::begin(&self.root)?);
        }
        self.txn
            .as_mut()
            .ok_or_else(|| Error::Runtime("transaction".into()))
    }

    fn put(&mut self, target: &str, bytes: &[u8]) -> Result<()> {
        self.count += 1;
        if self.dry_run {
            return Ok(());
        }
        self.txn()?.put(target, bytes)
    }

    fn remove(&mut self, target: &str, sha256: Option<String>) -> Result<()> {
        self.count += 1;
        if !self.dry_run {
            self.txn()?.remove(target, sha256);
        }
        Ok(())
    }
}

/// The raw files of this run: all of raw/, or the `--file` ones (copied into raw/ when outside it).
fn select_raw_files(
    root: &GitOpsRoot,
    dir: &RootDir,
    opts: &IngestOptions,
) -> Result<(Vec<RawFile>, Vec<RefusedFile>)> {
    let (all, refused) = discover(dir)?;
    let Some(only) = &opts.only else {
        return Ok((all, refused));
    };
    let raw_dir = root.raw_dir();
    let canon_raw =
        std::fs::canonicalize(&raw_dir).map_err(|e| Error::io("cannot resolve", &raw_dir, e))?;
    let mut out = Vec::new();
    for p in only {
        // A file the operator names that does not exist is a usage error (exit 2), as for `validate`.
        let canon = std::fs::canonicalize(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                Error::usage(format!("{}: {e}: name a YAML file to ingest", p.display()))
            }
            _ => Error::io("cannot read", p, e),
        })?;
        if !canon.is_file() {
            return Err(Error::usage(format!("{} is not a file", p.display())));
        }
        if let Ok(inner) = canon.strip_prefix(&canon_raw) {
            let rel = format!("raw/{}", crate::layout::rel_path(Path::new(""), inner));
            match all.iter().find(|f| f.rel == rel) {
                Some(f) => out.push(f.clone()),
                None => {
                    return Err(Error::usage(format!(
                        "{} is not an ingestible raw file (dotfile, temp file, archive or not .yaml/.yml)",
                        p.display()
                    )))
                }
            }
            continue;
        }
        // Outside raw/: copy it in (never over a different file), unless this is a dry run.
        let name = canon
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input.yaml".into());
        if !crate::layout::is_yaml_name(&name) {
            return Err(Error::usage(format!(
                "{} is not a .yaml/.yml file",
                p.display()
            )));
        }
        if name.len() > crate::rawfiles::MAX_RAW_NAME {
            return Err(Error::usage(format!(
                "{}: the file name is {} bytes; raw file names are limited to {} bytes (their archived copies must fit the file system's 255-byte limit)",
                p.display(),
                name.len(),
                crate::rawfiles::MAX_RAW_NAME
            )));
        }
        let bytes = std::fs::read(&canon).map_err(|e| Error::io("cannot read", &canon, e))?;
        let mut rel = format!("raw/{name}");
        let mut n = 2;
        loop {
            let taken = match dir.kind(&rel) {
                Ok(None) => false,
                Ok(Some(FileKind::File)) => match dir.read(&rel) {
                    Ok(existing) if existing == bytes => break,
                    _ => true,
                },
                _ => true,
            };
            if taken {
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), "yaml"));
                rel = format!("raw/{stem}-{n}.{ext}");
                n += 1;
                continue;
            }
            if opts.dry_run {
                // Read it from where it is; report it under the name it would get.
                out.push(RawFile {
                    rel: rel.clone(),
                    abs: canon.clone(),
                    outside: true,
                });
                return Ok((out, refused));
            }
            dir.write_atomic(&rel, &bytes)
                .map_err(|e| Error::io("cannot copy into raw/", root.abs(&rel), e))?;
            break;
        }
        out.push(RawFile {
            rel: rel.clone(),
            abs: root.abs(&rel),
            outside: false,
        });
    }
    Ok((out, refused))
}

/// Reads one raw file (parsing comes later, once it is known whether the file must be validated again),
/// noticing files that change or vanish while read. A file over the size limit is hashed, not read.
fn read_raw(dir: &RootDir, rf: &RawFile, opts: &IngestOptions) -> (FileReport, Option<ReadFile>) {
    let mut fr = FileReport::new(&rf.rel, FileStatus::Rejected);
    // A --file outside the root in a dry run is read where it is; everything else through the sandbox.
    let meta = |rf: &RawFile| -> std::io::Result<Option<(u64, (i64, i64))>> {
        if rf.outside {
            let m = std::fs::metadata(&rf.abs)?;
            use std::os::unix::fs::MetadataExt;
            return Ok(Some((m.len(), (m.mtime(), m.mtime_nsec()))));
        }
        Ok(dir.meta(&rf.rel)?.map(|m| (m.len, m.mtime)))
    };
    let before = match meta(rf) {
        Ok(Some(m)) => m,
        Ok(None) => {
            fr.status = FileStatus::Skipped;
            fr.note = Some("vanished before it could be read".into());
            return (fr, None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fr.status = FileStatus::Skipped;
            fr.note = Some("vanished before it could be read".into());
            return (fr, None);
        }
        Err(e) => {
            fr.errors
                .push(ErrorRecord::plain(format!("cannot read: {e}")));
            fr.cause = "content";
            return (fr, None);
        }
    };
    if before.0 > opts.max_file_size {
        fr.errors.push(ErrorRecord::plain(format!(
            "file is {} bytes, larger than the limit of {} bytes: split it, or raise the limit (--max-file-size)",
            before.0,
            opts.max_file_size
        )));
        fr.sha256 = hash_file(dir, rf).unwrap_or_default();
        fr.cause = "size";
        return (fr, None);
    }
    let read = if rf.outside {
        std::fs::read(&rf.abs)
    } else {
        dir.read_max(&rf.rel, opts.max_file_size)
    };
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fr.status = FileStatus::Skipped;
            fr.note = Some("vanished while being read".into());
            return (fr, None);
        }
        Err(e) => {
            fr.errors
                .push(ErrorRecord::plain(format!("cannot read: {e}")));
            fr.cause = "content";
            return (fr, None);
        }
    };
    if let Some(hook) = &opts.after_read {
        (hook.0)(&rf.abs);
    }
    let after = meta(rf).ok().flatten();
    let changed = match &after {
        None => true,
        Some(a) => a.0 != before.0 || a.1 != before.1 || a.0 != bytes.len() as u64,
    };
    if changed {
        fr.status = FileStatus::Skipped;
        fr.note = Some(if after.is_none() {
            "vanished while being read".into()
        } else {
            "changed while being read: taken on a later run".into()
        });
        return (fr, None);
    }
    let sha = sha256_hex(&bytes);
    fr.sha256 = sha.clone();
    (
        fr,
        Some(ReadFile {
            rel: rf.rel.clone(),
            bytes,
            sha256: sha,
            report: None,
        }),
    )
}

/// The stored name of a rejection's cause as the static name a report carries.
fn cause_name(stored: &str) -> &'static str {
    match stored {
        "size" => "size",
        "conflict" => "conflict",
        "state" => "state",
        _ => "content",
    }
}

fn hash_file(dir: &RootDir, rf: &RawFile) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = if rf.outside {
        std::fs::File::open(&rf.abs)?
    } else {
        dir.open_file(&rf.rel)?
    };
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// True when the managed files are exactly those of the manifest's inventory, each with its recorded hash.
fn managed_matches_manifest(root: &GitOpsRoot, manifest: &Manifest) -> Result<bool> {
    let mut expected: BTreeMap<&str, &str> = manifest
        .inventory
        .iter()
        .map(|e| (e.file.as_str(), e.sha256.as_str()))
        .collect();
    let dir = root.sandbox()?;
    for kind in Kind::ALL {
        for name in managed_file_names(root, kind)? {
            let rel = format!("managed/{}/{name}", kind.plural());
            let Some(sha) = expected.remove(rel.as_str()) else {
                return Ok(false);
            };
            let bytes = dir
                .read(&rel)
                .map_err(|e| Error::io("cannot read", root.abs(&rel), e))?;
            if sha256_hex(&bytes) != sha {
                return Ok(false);
            }
        }
    }
    Ok(expected.is_empty())
}

/// The managed files of one kind (`<name>.yaml`, dotfiles and other files left out), sorted.
fn managed_file_names(root: &GitOpsRoot, kind: Kind) -> Result<Vec<String>> {
    let dir = root.sandbox()?;
    let rel = format!("managed/{}", kind.plural());
    let entries = match dir.list(&rel) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", root.abs(&rel), e)),
    };
    let mut names: Vec<String> = entries
        .into_iter()
        .filter(|e| e.kind == FileKind::File)
        .filter_map(|e| e.utf8().map(str::to_string))
        .filter(|n| !n.starts_with('.') && n.ends_with(".yaml"))
        .collect();
    names.sort();
    Ok(names)
}

/// One managed file as found on disk.
#[derive(Debug, Clone)]
pub struct ManagedFile {
    pub file: String,
    pub sha256: String,
}

/// managed/ as it is on disk.
#[derive(Debug, Clone, Default)]
pub struct ManagedState {
    pub state: FabricState,
    pub files: BTreeMap<(Kind, String), ManagedFile>,
    /// Inventory entries whose file is gone.
    pub missing: Vec<(Kind, String)>,
    /// Valid files whose hash differs from the inventory, or that the inventory lacks.
    pub untracked_or_edited: BTreeMap<(Kind, String), InventoryEntry>,
    /// Files that fail to parse, or hold something else than their name says.
    pub problems: Vec<Diagnostic>,
    /// Every managed file read (valid or not): path → sha256 of its bytes.
    pub hashes: BTreeMap<String, String>,
}

/// Reads every managed file into a fabric state, comparing with the manifest inventory.
pub fn load_managed(
    root: &GitOpsRoot,
    manifest: &Manifest,
    settings: &FabricSettings,
) -> Result<ManagedState> {
    let mut out = ManagedState::default();
    let limits = yaml::Limits::default();
    let dir = root.sandbox()?;
    for kind in Kind::ALL {
        for file_name in managed_file_names(root, kind)? {
            let rel = format!("managed/{}/{file_name}", kind.plural());
            let bytes = dir
                .read(&rel)
                .map_err(|e| Error::io("cannot read", root.abs(&rel), e))?;
            let sha = sha256_hex(&bytes);
            out.hashes.insert(rel.clone(), sha.clone());
            let rep = parse_source(&rel, &bytes, &limits, settings);
            if !rep.errors.is_empty() {
                out.problems.extend(rep.errors.iter().cloned());
                continue;
            }
            let stem = file_name.trim_end_matches(".yaml");
            if rep.objects.len() != 1 || rep.objects[0].kind != kind || rep.objects[0].name != stem
            {
                out.problems.push(
                    Diagnostic::new(format!(
                        "a managed file holds exactly one {kind} named {stem:?}; found {}{}",
                        rep.objects
                            .iter()
                            .map(|o| format!("{} {}", o.kind, o.name))
                            .collect::<Vec<_>>()
                            .join(", "),
                        crate::hnp::copy_hint(stem, rep.objects.iter().map(|o| o.name.as_str()))
                    ))
                    .in_file(&rel),
                );
                continue;
            }
            let o = &rep.objects[0];
            out.state.insert(
                o.object.clone(),
                hhgitops_core::state::Origin {
                    file: Arc::from(rel.as_str()),
                    document: 1,
                    span: o.span,
                    // Parsed trees of managed files are not kept (memory); errors in them are located again
                    // by `relocate` when there are any.
                    root: None,
                },
            );
            out.files.insert(
                (kind, stem.to_string()),
                ManagedFile {
                    file: rel.clone(),
                    sha256: sha.clone(),
                },
            );
        }
    }
    let mut in_manifest = BTreeSet::new();
    for e in &manifest.inventory {
        let Some(kind) = Kind::from_kind_name(&e.kind) else {
            continue;
        };
        let key = (kind, e.name.clone());
        in_manifest.insert(key.clone());
        match out.files.get(&key) {
            None => {
                if !out.problems.iter().any(|p| p.file == e.file) {
                    out.missing.push(key);
                }
            }
            Some(f) if f.sha256 != e.sha256 => {
                out.untracked_or_edited.insert(
                    key,
                    InventoryEntry {
                        kind: e.kind.clone(),
                        name: e.name.clone(),
                        file: f.file.clone(),
                        sha256: f.sha256.clone(),
                        source: None,
                    },
                );
            }
            Some(_) => {}
        }
    }
    for (key, f) in &out.files {
        if !in_manifest.contains(key) {
            out.untracked_or_edited.insert(
                key.clone(),
                InventoryEntry {
                    kind: key.0.to_string(),
                    name: key.1.clone(),
                    file: f.file.clone(),
                    sha256: f.sha256.clone(),
                    source: None,
                },
            );
        }
    }
    Ok(out)
}

/// Points errors in managed files at their field: managed objects are validated without their parsed trees, so
/// such errors start out at the document; the few files concerned are parsed again here.
pub fn relocate(root: &GitOpsRoot, diags: &mut [Diagnostic]) {
    let Ok(dir) = root.dir() else { return };
    let mut cache: BTreeMap<String, Option<hhgitops_core::yaml::Node>> = BTreeMap::new();
    for d in diags.iter_mut() {
        if !d.file.starts_with("managed/") || d.path.is_empty() {
            continue;
        }
        let node = cache.entry(d.file.clone()).or_insert_with(|| {
            let bytes = dir.read(&d.file).ok()?;
            let docs = yaml::parse_stream(&bytes, &yaml::Limits::default()).ok()?;
            docs.into_iter().find_map(|doc| doc.root)
        });
        if let (Some(n), Some(p)) = (node.as_ref(), hhgitops_core::FieldPath::parse(&d.path)) {
            let span = n.locate(&p);
            d.line = span.line;
            d.column = span.column;
        }
    }
}
