//! `delete` (one managed object, all or nothing, refused when other objects still refer to it) and `reindex`
//! (the database index rebuilt from the tree, with a report of what disagrees).

use hhgitops_core::validate::validate_state;
use hhgitops_core::{Diagnostic, Kind};
use serde::Serialize;
use std::collections::BTreeSet;
use tokio_util::sync::CancellationToken;

use crate::atomic::sha256_hex;
use crate::changeset::ChangeSet;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::index::{FabricRecords, RunCounts};
use crate::layout::GitOpsRoot;
use crate::managed::Opened;
use crate::progress::{Operation as Op, Progress};
use crate::records::{InventoryEntry, LogEntry, Operation};
use crate::run::{Outcome, RunRecord};
use crate::txn::{recover, Failpoint};

/// Parses `KIND/NAME` (kind by name, plural or short name).
pub fn parse_object_ref(s: &str) -> Result<(Kind, String)> {
    let (k, n) = s.split_once('/').ok_or_else(|| {
        Error::usage(format!(
            "{s:?}: name the object as KIND/NAME, e.g. VPC/vpc-1"
        ))
    })?;
    let kind = k.parse::<Kind>().map_err(|e| Error::usage(e.to_string()))?;
    if n.is_empty() || n.contains('/') || n.contains("..") {
        return Err(Error::usage(format!("{s:?}: invalid object name")));
    }
    Ok((kind, n.to_string()))
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteReport {
    pub fabric: String,
    pub object: String,
    pub file: String,
    /// Objects that still refer to the deleted one: the delete is refused while any exist.
    pub blocked_by: Vec<Diagnostic>,
    pub deleted: bool,
    pub git: Option<crate::gitops::GitOutcome>,
}

/// A fabric opened for maintenance (under its lock; blocking, on the lock's thread): interrupted work recovered,
/// then its managed state loaded once ([`crate::managed::open`]).
fn open_managed(fabric: &Fabric) -> Result<Opened> {
    let root = GitOpsRoot::new(&fabric.root);
    let recovery = recover(&root.sandbox()?)?;
    report_recovery(&recovery);
    crate::managed::open(fabric)
}

/// Deletes one managed object: its file, its inventory entry and its index row, logged, as one transaction.
pub async fn delete_object(
    engine: &Context,
    fabric: &Fabric,
    kind: Kind,
    name: &str,
    failpoint: &Failpoint,
) -> Result<DeleteReport> {
    let work = delete_object_in_span(engine, fabric, kind, name, failpoint);
    crate::progress::in_operation("delete", &fabric.name, work).await
}

async fn delete_object_in_span(
    engine: &Context,
    fabric: &Fabric,
    kind: Kind,
    name: &str,
    failpoint: &Failpoint,
) -> Result<DeleteReport> {
    let session = crate::gitops::session(engine, fabric, &format!("delete {kind}/{name}")).await?;
    let failpoint = failpoint.clone();
    let name_owned = name.to_string();
    let mut report = crate::lock::with_fabric_lock(
        engine,
        fabric,
        engine.settings().lock_timeout,
        &CancellationToken::new(),
        move |engine, fabric, _cancel| async move {
            delete_locked(&engine, &fabric, kind, &name_owned, &failpoint).await
        },
    )
    .await?;
    if !report.deleted {
        return Ok(report);
    }
    if let Some(s) = session {
        report.git = Some(
            crate::gitops::commit(
                engine,
                fabric,
                s,
                format!("delete {kind}/{name} from fabric {}", fabric.name),
            )
            .await?,
        );
    }
    Ok(report)
}

/// The delete under the fabric lock, on the lock's thread.
async fn delete_locked(
    engine: &Context,
    fabric: &Fabric,
    kind: Kind,
    name: &str,
    failpoint: &Failpoint,
) -> Result<DeleteReport> {
    let Opened {
        root,
        settings,
        manifest,
        managed,
    } = open_managed(fabric)?;
    let rel = GitOpsRoot::managed_rel(kind, name);
    let in_inventory = manifest
        .inventory
        .iter()
        .any(|e| e.kind == kind.name() && e.name == name);
    if !in_inventory {
        let why = if root.sandbox()?.exists(&rel) {
            format!("{rel} exists but is not in the inventory: `ingest` records it, or remove the file by hand")
        } else {
            format!("{rel} does not exist")
        };
        return Err(Error::NotFound(format!(
            "{kind}/{name} is not managed in fabric {:?}: {why}",
            fabric.name
        )));
    }
    let mut state = managed.state.clone();
    let before: BTreeSet<String> = validate_state(&state, &settings)
        .errors
        .iter()
        .map(|d| d.to_string())
        .collect();
    state.remove(kind, name);
    let mut blocked_by: Vec<Diagnostic> = validate_state(&state, &settings)
        .errors
        .into_iter()
        .filter(|d| !before.contains(&d.to_string()))
        .collect();
    crate::managed::relocate(&root, &mut blocked_by);
    let mut report = DeleteReport {
        fabric: fabric.name.clone(),
        object: format!("{kind}/{name}"),
        file: rel.clone(),
        blocked_by,
        deleted: false,
        git: None,
    };
    if !report.blocked_by.is_empty() {
        return Ok(report);
    }
    let dir = root.sandbox()?;
    let mut changes = ChangeSet::new(&dir, false, &manifest);
    changes.inventory.remove(&(kind, name.to_string()));
    changes.remove(&rel, None)?;
    changes.log(LogEntry {
        deleted: vec![format!("{kind}/{name}")],
        files: vec![rel.clone()],
        ..LogEntry::new(Operation::Delete)
    });
    let (manifest, _, manifest_sha) = changes.stage_manifest(manifest)?;
    changes.seal(&fabric.name)?.commit(
        &fabric.name,
        failpoint,
        "delete-before-commit",
        &CancellationToken::new(),
    )?;
    let records = FabricRecords::new(engine.db(), &fabric.name);
    records
        .replace_index(&manifest.inventory, Some(&manifest_sha))
        .await?;
    RunRecord::record(
        &records,
        "delete",
        Outcome::Success,
        RunCounts {
            deleted: 1,
            ..Default::default()
        },
        &format!("delete {kind}/{name}"),
        &serde_json::json!({}),
    )
    .await?;
    report.deleted = true;
    Ok(report)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReindexReport {
    pub fabric: String,
    /// Objects now in the index (valid managed files).
    pub indexed: usize,
    /// Errors in managed files (parse, schema, object or cross-object rules).
    pub invalid: Vec<Diagnostic>,
    /// Managed files that the manifest does not list.
    pub not_in_manifest: Vec<String>,
    /// Manifest entries whose file is missing.
    pub missing_files: Vec<String>,
    /// Managed files whose content differs from the hash the manifest recorded (edited by hand).
    pub edited: Vec<String>,
    pub unchecked: usize,
}

impl ReindexReport {
    pub fn is_clean(&self) -> bool {
        self.invalid.is_empty()
            && self.not_in_manifest.is_empty()
            && self.missing_files.is_empty()
            && self.edited.is_empty()
    }
}

/// Rebuilds the object index from the managed files on disk. Changes no file.
pub async fn reindex(engine: &Context, fabric: &Fabric) -> Result<ReindexReport> {
    reindex_with(engine, fabric, Progress::none()).await
}

/// [`reindex`], reporting its stages to `progress`: `read` (the managed files, counted once read), `validate`
/// (the state as a whole) and `index` (rows written, of the objects found).
pub async fn reindex_with(
    engine: &Context,
    fabric: &Fabric,
    progress: Progress,
) -> Result<ReindexReport> {
    let never = CancellationToken::new();
    let work = crate::lock::with_fabric_lock(
        engine,
        fabric,
        engine.settings().lock_timeout,
        &never,
        move |engine, fabric, _cancel| async move { reindex_locked(&engine, &fabric, &progress).await },
    );
    crate::progress::in_operation("reindex", &fabric.name, work).await
}

/// The reindex under the fabric lock, on the lock's thread.
async fn reindex_locked(
    engine: &Context,
    fabric: &Fabric,
    progress: &Progress,
) -> Result<ReindexReport> {
    let mut read = progress.stage(Op::Reindex, "read", None);
    let Opened {
        root,
        settings,
        manifest,
        managed,
    } = open_managed(fabric)?;
    read.set(managed.files.len() as u64);
    let mut validate = progress.stage(Op::Reindex, "validate", Some(1));
    let result = validate_state(&managed.state, &settings);
    validate.set(1);
    let mut invalid = managed.problems.clone();
    invalid.extend(result.errors);
    crate::managed::relocate(&root, &mut invalid);
    let mut report = ReindexReport {
        fabric: fabric.name.clone(),
        indexed: 0,
        invalid,
        not_in_manifest: Vec::new(),
        missing_files: managed
            .missing
            .iter()
            .map(|(k, n)| GitOpsRoot::managed_rel(*k, n))
            .collect(),
        edited: Vec::new(),
        unchecked: result.unchecked,
    };
    let listed: BTreeSet<(String, String)> = manifest
        .inventory
        .iter()
        .map(|e| (e.kind.clone(), e.name.clone()))
        .collect();
    for (key, e) in &managed.untracked_or_edited {
        if listed.contains(&(key.0.to_string(), key.1.clone())) {
            report.edited.push(e.file.clone());
        } else {
            report.not_in_manifest.push(e.file.clone());
        }
    }
    let mut entries: Vec<InventoryEntry> = Vec::new();
    for ((kind, name), f) in &managed.files {
        let source = manifest
            .inventory
            .iter()
            .find(|e| e.kind == kind.name() && &e.name == name)
            .and_then(|e| e.source.clone());
        entries.push(InventoryEntry {
            kind: kind.to_string(),
            name: name.clone(),
            file: f.file.clone(),
            sha256: f.sha256.clone(),
            source,
        });
    }
    report.indexed = entries.len();
    let manifest_sha = root
        .sandbox()?
        .read_max(crate::names::MANIFEST, crate::records::MAX_RECORD_BYTES)
        .map(|b| sha256_hex(&b))
        .ok();
    // The index reflects the tree; record the manifest hash only when the two agree, so the next ingest
    // rebuilds the index from the manifest it writes.
    let agree = report.not_in_manifest.is_empty()
        && report.missing_files.is_empty()
        && report.edited.is_empty();
    let mut index = progress.stage(Op::Reindex, "index", Some(entries.len() as u64));
    FabricRecords::new(engine.db(), &fabric.name)
        .replace_index_with(
            &entries,
            if agree { manifest_sha.as_deref() } else { None },
            Some(&mut index),
        )
        .await?;
    tracing::info!(indexed = report.indexed, "reindexed");
    Ok(report)
}

/// Recovery of interrupted transactions is reported where it did something unusual (a journal refused, a step
/// given up); delete and reindex have no report field for it, so it goes to the log.
fn report_recovery(r: &crate::txn::Recovery) {
    for m in r.refused.iter().chain(&r.resolved) {
        tracing::warn!("{m}");
    }
}
