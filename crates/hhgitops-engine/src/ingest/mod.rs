//! Ingestion (SPEC §3): raw/ files validated against the fabric state they would produce, then written as one
//! normalized file per object under managed/, with the manifest, archive log and archived originals, in one
//! journaled transaction per run.
//!
//! The pipeline, one function per stage, run by [`ingest_locked`] under the fabric lock:
//!
//! 1. *read raw* ([`read`]): the run's raw files and their bytes;
//! 2. *parse* ([`parse`]): each file on its own, unless its rejection is already recorded and still holds;
//! 3. *accept/reject until valid* ([`accept`]): cross-file conflicts, then the whole-state rules;
//! 4. *plan writes* ([`plan`]): what changes, staged into the run's change set ([`crate::changeset`]);
//! 5. *commit*: the change set's transaction (the commit point);
//! 6. *index* and 7. *record* ([`record`]): the database index, the rejection records and the run record.
//!
//! The Git side (pull before, commit and push after) is [`ingest`]; [`ingest_local`] is the tree and the
//! database only.
//!
//! Invariants:
//! - each raw file is all or nothing: every file of a run that is accepted is applied in the run's single
//!   transaction ([`crate::txn`]), every rejected file is left byte for byte;
//! - a raw file is removed only after its archived copy is in place, and only while it still has the content
//!   that was ingested — a file rewritten meanwhile stays and is ingested next time;
//! - managed files are written only when their normalized content changes (re-ingesting is write-free); each
//!   managed file is read and parsed at most once per run, and only objects of raw files are normalized;
//! - the database index is a copy of the manifest inventory, rebuilt whenever the manifest hash differs from the
//!   one it was built from, so a crash between the file commit and the database update heals on the next run.

mod accept;
mod options;
mod parse;
mod pending;
mod plan;
mod read;
mod record;
mod report;

use std::collections::BTreeMap;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::yaml;
use tokio_util::sync::CancellationToken;

use crate::atomic::sha256_hex;
use crate::changeset::ChangeSet;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::gitops::GitSession;
use crate::index::{FabricRecords, Rejection, RunCounts};
use crate::layout::GitOpsRoot;
use crate::managed::Snapshot;
use crate::names::MANIFEST;
use crate::records::InventoryEntry;
use crate::run::{Outcome, RunRecord};
use crate::txn::{recover, Recovery};

pub use self::options::{AfterRead, IngestOptions, DEFAULT_MAX_FILE_SIZE};
pub use self::record::sync_index;
pub use self::report::{FileReport, FileStatus, IngestReport, ManagedReport, Summary};
pub use crate::report::ErrorRecord;

/// Ingests the raw files of one fabric: brings its Git clone up to date first, ingests, then commits what
/// changed and pushes (SPEC §5). A dry run touches neither the tree nor Git.
pub async fn ingest(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
) -> Result<IngestReport> {
    crate::progress::in_operation(
        "ingest",
        &fabric.name,
        ingest_with_git(engine, fabric, opts),
    )
    .await
}

async fn ingest_with_git(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
) -> Result<IngestReport> {
    if opts.dry_run {
        return Ok(ingest_local_with(engine, fabric, opts, false).await?.0);
    }
    let session =
        match crate::gitops::session(engine, fabric, &format!("ingest {}", fabric.name)).await {
            Ok(s) => s,
            Err(Error::GitConflict(why)) => {
                return validate_while_blocked(engine, fabric, opts, why).await
            }
            Err(e) => return Err(e),
        };
    let (report, _session, _snapshot) =
        ingest_in_session(engine, fabric, opts, session, false).await?;
    Ok(report)
}

/// [`ingest`] in a Git session the caller opened (a sync opens one for all its stages): ingests, commits and
/// pushes in it, and gives it back. With `keep_state`, also the managed state the run left (see
/// [`Snapshot`]), for the next stage.
pub(crate) async fn ingest_in_session(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
    session: Option<GitSession>,
    keep_state: bool,
) -> Result<(IngestReport, Option<GitSession>, Option<Snapshot>)> {
    let (mut report, snapshot) = ingest_local_with(engine, fabric, opts, keep_state).await?;
    let Some(s) = session else {
        return Ok((report, None, snapshot));
    };
    if !(report.changed || s.pushes()) {
        return Ok((report, Some(s), snapshot));
    }
    // The message covers everything the commit holds, work an interrupted run left in the tree included.
    let root = fabric.root.clone();
    let name = fabric.name.clone();
    let own = report.commit_message();
    let (s, message) = tokio::task::spawn_blocking(crate::actor::carry(move || {
        let m = pending::commit_message(&s, &root, &name, own);
        (s, m)
    }))
    .await
    .map_err(|e| Error::Runtime(format!("git task failed: {e}")))?;
    // The tree already holds the ingestion: a failed commit or push is reported with the report (the next
    // operation commits and pushes what is left), not instead of it.
    let (result, s) = crate::gitops::commit_in(engine, fabric, s, message).await?;
    match result {
        Ok(g) => report.git = Some(g),
        Err(e) => {
            // The ingestion's run record says success (the tree holds it); the commit or push that failed gets
            // its own record, so the last run shown is not a success.
            let outcome = if matches!(e, Error::GitConflict(_)) {
                Outcome::Blocked
            } else {
                Outcome::Failed
            };
            let records = FabricRecords::new(engine.db(), &fabric.name);
            RunRecord::record(
                &records,
                "commit",
                outcome,
                RunCounts::default(),
                &format!("ingested, but {e}"),
                &serde_json::json!({}),
            )
            .await?;
            report.git_error = Some(e.to_string());
        }
    }
    Ok((report, Some(s), snapshot))
}

/// A clone that cannot be brought up to date (its commits conflict with the remote's) takes no new commits until
/// the operator resolves it, and gets no new conflict branch per run: its raw files are validated (a dry run),
/// their rejections recorded so that `status` shows them, and the run recorded as `blocked` with the reason.
pub(crate) async fn validate_while_blocked(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
    why: String,
) -> Result<IngestReport> {
    let dry = IngestOptions {
        dry_run: true,
        ..opts.clone()
    };
    let mut report = ingest_local_with(engine, fabric, &dry, false).await?.0;
    report.validated_only = true;
    let records = FabricRecords::new(engine.db(), &fabric.name);
    record::record_blocked(&records, &report, &why).await?;
    report.git_error = Some(why);
    Ok(report)
}

/// Ingestion without Git: the tree and the database only. The work runs under the fabric lock on a thread of
/// its own ([`crate::lock::with_fabric_lock`]): dropping this future never leaves the lock free while files are
/// written; it cancels the run at its next safe point before the commit point, or lets it finish.
pub async fn ingest_local(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
) -> Result<IngestReport> {
    let run = ingest_local_with(engine, fabric, opts, false);
    Ok(crate::progress::in_operation("ingest", &fabric.name, run)
        .await?
        .0)
}

async fn ingest_local_with(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
    keep_state: bool,
) -> Result<(IngestReport, Option<Snapshot>)> {
    let opts = opts.clone();
    let cancel = opts.cancel.clone();
    crate::lock::with_fabric_lock(
        engine,
        fabric,
        opts.lock_timeout,
        &cancel,
        move |engine, fabric, cancel| async move {
            ingest_locked(&engine, &fabric, &opts, &cancel, keep_state).await
        },
    )
    .await
}

/// What the file stages hand to the database stages.
struct Ingested {
    report: IngestReport,
    /// The manifest's hash and inventory for the index (`None` in a dry run).
    manifest: Option<(String, Vec<InventoryEntry>)>,
    /// The rejection context the next run will find (see [`parse::RejectionContext`]).
    context: String,
    snapshot: Option<Snapshot>,
}

/// [`ingest_local`] with the lock held, on a blocking-pool thread (file work is called directly): the file
/// stages, then the index and the records.
async fn ingest_locked(
    engine: &Context,
    fabric: &Fabric,
    opts: &IngestOptions,
    cancel: &CancellationToken,
    keep_state: bool,
) -> Result<(IngestReport, Option<Snapshot>)> {
    opts.failpoint.hit("ingest-locked");
    let root = GitOpsRoot::new(&fabric.root);
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let settings = crate::config::fabric_settings(fabric)?;
    let rejections: BTreeMap<String, Rejection> = records
        .rejections()
        .await?
        .into_iter()
        .map(|r| (r.file.clone(), r))
        .collect();
    let run = if opts.dry_run {
        RunRecord::none(&records)
    } else {
        RunRecord::start(&records, "ingest").await?
    };
    let ingested = match ingest_files(
        fabric,
        &root,
        &settings,
        opts,
        &rejections,
        cancel,
        keep_state,
    ) {
        Ok(x) => x,
        Err(e) => {
            run.fail(&e).await;
            return Err(e);
        }
    };
    // What the file stages freed (the parsed objects, the state, the staged contents) is handed back before the
    // database stage: SQLite works on threads of its own, whose allocator arenas would not reuse it, so the
    // index would otherwise be built on top of the file stages' peak.
    crate::memory::release_free();
    let Some((manifest_sha, inventory)) = ingested.manifest else {
        log_summary(&ingested.report);
        return Ok((ingested.report, ingested.snapshot));
    };
    opts.failpoint.hit("ingest-before-db");
    let mut stage = opts
        .progress
        .stage(crate::progress::Operation::Ingest, "index", Some(1));
    sync_index(&records, Some(&manifest_sha), Some(&inventory)).await?;
    record::record_rejections(
        &records,
        &ingested.report,
        &ingested.context,
        &rejections,
        opts,
    )
    .await?;
    record::finish_run(run, &ingested.report).await?;
    stage.set(1);
    log_summary(&ingested.report);
    Ok((ingested.report, ingested.snapshot))
}

/// One line per run, inside the operation's span (which names the fabric).
fn log_summary(report: &IngestReport) {
    let s = &report.summary;
    tracing::info!(
        dry_run = report.dry_run,
        files = s.files,
        ingested = s.ingested,
        unchanged = s.unchanged,
        rejected = s.rejected,
        created = s.created,
        updated = s.updated,
        deleted = s.deleted,
        "ingestion run done"
    );
}

/// The file stages of an ingestion (on the lock's blocking thread).
fn ingest_files(
    fabric: &Fabric,
    root: &GitOpsRoot,
    settings: &FabricSettings,
    opts: &IngestOptions,
    rejections: &BTreeMap<String, Rejection>,
    cancel: &CancellationToken,
    keep_state: bool,
) -> Result<Ingested> {
    let dir = root.sandbox()?;
    let recovery = if opts.dry_run {
        Recovery::default()
    } else {
        recover(&dir)?
    };
    let manifest = root.current_manifest(&fabric.name)?;
    let limits = yaml::Limits {
        max_bytes: opts.max_file_size as usize,
        ..yaml::Limits::default()
    };

    let (candidates, refused) = read::select(root, &dir, opts)?;
    let mut report = IngestReport {
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
    // Nothing to ingest and managed/ exactly as the manifest records it: the state was validated when it was
    // written, so there is nothing to check again (a no-op run reads hashes only).
    if candidates.is_empty() && crate::managed::matches_manifest(root, &manifest)? {
        opts.progress
            .stage(crate::progress::Operation::Ingest, "read", Some(0));
        let manifest = if opts.dry_run {
            None
        } else {
            let bytes = dir
                .read_max(MANIFEST, crate::records::MAX_RECORD_BYTES)
                .map_err(|e| Error::io("cannot read", root.manifest_path(), e))?;
            Some((sha256_hex(&bytes), manifest.inventory))
        };
        return Ok(Ingested {
            report,
            manifest,
            context: String::new(),
            snapshot: None,
        });
    }

    let mut managed = crate::managed::load(root, &manifest, settings)?;
    let mut hydration =
        crate::hydration::IngestHydration::for_fabric(fabric, settings, &managed.state)?;
    let (mut files, read) =
        read::read_all(&dir, &fabric.name, candidates, opts, cancel, &opts.progress)?;
    // A file rejected before is skipped only while its content and everything it was judged against are the
    // same; otherwise it is validated again.
    let context = parse::RejectionContext::new(settings, opts.max_file_size);
    let key_now = context.key(
        &managed.hashes,
        files.iter().map(|r| (r.file.as_str(), r.sha256.as_str())),
    );
    let mut parsed = parse::parse_all(
        read,
        &mut files,
        rejections,
        &key_now,
        hydration.as_mut(),
        &limits,
        settings,
        &opts.progress,
    );
    drop(hydration);
    let accept::Accepted {
        files: accepted,
        unchecked,
        managed_errors,
        state,
    } = accept::accept(
        &parsed,
        &mut files,
        &managed.state,
        settings,
        &opts.progress,
    );
    // Parsed trees and typed objects are no longer needed unless the next stage takes the state: only what is
    // written is kept from here on.
    let (dry_state, disk_hashes) = if keep_state && opts.dry_run {
        (Some(state), Some(managed.hashes.clone()))
    } else {
        drop(state);
        (None, None)
    };
    if !keep_state || opts.dry_run {
        drop(std::mem::take(&mut managed.state));
    }

    let mut changes = ChangeSet::new(&dir, opts.dry_run, &manifest);
    let managed_report = plan::plan_managed(root, &mut changes, &managed, managed_errors);
    let planned = plan::plan_files(
        &dir,
        &mut changes,
        &mut parsed,
        &accepted,
        &mut files,
        &mut managed,
        managed_report,
        unchecked,
        rejections,
        keep_state && !opts.dry_run,
        &opts.progress,
    )?;
    drop(parsed);
    let (manifest, _, manifest_sha) = changes.stage_manifest(manifest)?;
    let sealed = changes.seal(&fabric.name)?;
    report.files = files;
    report.managed = planned.managed;
    report.summary = planned.summary;
    report.changed = sealed.changed && !opts.dry_run;
    let snapshot = if !keep_state {
        None
    } else if let Some(state) = dry_state {
        // A dry run writes nothing: the state is managed/ as on disk with the accepted files laid over it.
        Some(Snapshot::new(
            &state,
            managed.problems.clone(),
            disk_hashes.unwrap_or_default(),
        ))
    } else {
        Some(snapshot_after(
            &managed,
            &planned.written,
            &planned.managed_after,
            settings,
        ))
    };
    if opts.dry_run {
        return Ok(Ingested {
            report,
            manifest: None,
            context: String::new(),
            snapshot,
        });
    }
    // The last safe point: past the commit point the run is finished whatever happens to its caller.
    let mut stage = opts
        .progress
        .stage(crate::progress::Operation::Ingest, "commit", Some(1));
    sealed.commit(
        &fabric.name,
        &opts.failpoint,
        "ingest-before-commit",
        cancel,
    )?;
    stage.set(1);
    // What the next run will see: the managed files as written, and the raw files that stay in raw/.
    let key_after = context.key(
        &planned.managed_after,
        report
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Rejected | FileStatus::Skipped))
            .map(|f| (f.file.as_str(), f.sha256.as_str())),
    );
    Ok(Ingested {
        report,
        manifest: Some((manifest_sha, manifest.inventory)),
        context: key_after,
        snapshot,
    })
}

/// The managed state after a run wrote `written`: the objects of the files it did not write as loaded, those
/// of the files it wrote decoded from the bytes written (exactly what loading them again would give).
fn snapshot_after(
    managed: &crate::managed::ManagedState,
    written: &BTreeMap<String, Vec<u8>>,
    hashes: &BTreeMap<String, String>,
    settings: &FabricSettings,
) -> Snapshot {
    let mut state = managed.state.clone();
    let limits = yaml::Limits::default();
    for (rel, bytes) in written {
        let rep = hhgitops_core::validate::parse_source(rel, bytes, &limits, settings);
        for o in &rep.objects {
            state.insert(
                o.object.clone(),
                hhgitops_core::state::Origin {
                    file: std::sync::Arc::from(rel.as_str()),
                    document: 1,
                    span: o.span,
                    root: None,
                },
            );
        }
    }
    let problems = managed
        .problems
        .iter()
        .filter(|d| !written.contains_key(&d.file))
        .cloned()
        .collect();
    Snapshot::new(&state, problems, hashes.clone())
}

#[cfg(test)]
mod tests;
