//! `import --from-cluster`: the onboarding of a running fabric. The cluster's Hedgehog objects (namespace
//! `default`) become managed files in normalized form — server-owned fields, this fabric's label, the record
//! annotation and the fabric's derived labels stripped, then decoded and validated like any input (objects that
//! fail are reported and not written) — with the manifest inventory and the archive log, in one journaled
//! transaction and one commit. Importing twice changes nothing the second time. The cluster is only read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hhgitops_core::accept::accept_until_valid;
use hhgitops_core::diff::{fabric_label, importable};
use hhgitops_core::model::wiring::BUILTIN_SWITCH_PROFILES;
use hhgitops_core::state::Origin;
use hhgitops_core::validate::{parse_source, ParsedObject};
use hhgitops_core::{yaml, Kind};
use hhgitops_kube::{ClientSettings, LiveObjects};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::atomic::sha256_hex;
use crate::changeset::ChangeSet;
use crate::context::Context;
use crate::error::Result;
use crate::fabric::Fabric;
use crate::gitops::GitOutcome;
use crate::index::{FabricRecords, RunCounts};
use crate::layout::GitOpsRoot;
use crate::progress::{Operation, Progress};
use crate::records::{InventoryEntry, LogEntry, Operation as LogOperation};
use crate::report::ErrorRecord;
use crate::run::{Outcome, RunRecord};
use crate::txn::{recover, Failpoint};

use crate::cluster::{connect, kube_error};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub client: ClientSettings,
    pub lock_timeout: Duration,
    pub failpoint: Failpoint,
    /// Stops the import at its next safe point (before the commit point); nothing is written then.
    pub cancel: CancellationToken,
    /// Where the import reports its stages (`list`; `parse` and `write` per object). None by default.
    pub progress: Progress,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            client: ClientSettings::default(),
            lock_timeout: Duration::from_secs(60),
            failpoint: Failpoint::default(),
            cancel: CancellationToken::new(),
            progress: Progress::none(),
        }
    }
}

/// A cluster object that was not imported because it does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRejection {
    /// `Kind/name`.
    pub object: String,
    pub errors: Vec<ErrorRecord>,
}

/// A cluster object that was left out on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSkip {
    pub object: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    /// Hedgehog objects found in the cluster.
    pub objects: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
    pub skipped: usize,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub fabric: String,
    pub cluster: String,
    /// `Kind/name` of the managed files written for the first time.
    pub created: Vec<String>,
    /// Managed files rewritten with the cluster's content.
    pub updated: Vec<String>,
    /// Managed files that already had the cluster's content.
    pub unchanged: Vec<String>,
    pub rejected: Vec<ImportRejection>,
    pub skipped: Vec<ImportSkip>,
    /// Managed objects the cluster does not have (kept; `sync` creates them).
    pub not_in_cluster: Vec<String>,
    pub summary: ImportSummary,
    /// The GitOps tree changed.
    pub changed: bool,
    pub git: Option<GitOutcome>,
}

impl ImportReport {
    pub fn has_rejections(&self) -> bool {
        !self.rejected.is_empty()
    }

    /// `import fabric f from cluster: +3 VPC, ~1 Switch`.
    pub fn commit_message(&self) -> String {
        let mut per_kind: BTreeMap<(Kind, char), usize> = BTreeMap::new();
        for (list, sign) in [(&self.created, '+'), (&self.updated, '~')] {
            for o in list {
                let kind = o.split('/').next().and_then(Kind::from_kind_name);
                if let Some(k) = kind {
                    *per_kind.entry((k, sign)).or_default() += 1;
                }
            }
        }
        let parts: Vec<String> = per_kind
            .iter()
            .map(|((k, sign), n)| format!("{sign}{n} {k}"))
            .collect();
        format!(
            "import fabric {} from cluster: {}",
            self.fabric,
            if parts.is_empty() {
                "no object changes".to_string()
            } else {
                parts.join(", ")
            }
        )
    }
}

/// Imports the cluster's Hedgehog objects into the fabric's managed files and commits.
pub async fn import_from_cluster(
    engine: &Context,
    fabric: &Fabric,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    let work = async move {
        let session = crate::gitops::session(
            engine,
            fabric,
            &format!("import {} from cluster", fabric.name),
        )
        .await?;
        let opts_owned = opts.clone();
        let mut report = crate::lock::with_fabric_lock(
            engine,
            fabric,
            opts.lock_timeout,
            &opts.cancel,
            move |engine, fabric, cancel| async move {
                import_locked(&engine, &fabric, &opts_owned, &cancel).await
            },
        )
        .await?;
        if let Some(s) = session {
            if report.changed || s.pushes() {
                report.git =
                    Some(crate::gitops::commit(engine, fabric, s, report.commit_message()).await?);
            }
        }
        Ok(report)
    };
    crate::progress::in_operation("import", &fabric.name, work).await
}

/// The import under the fabric lock, on the lock's thread: the cluster's objects listed, the files written,
/// the index and the run recorded.
async fn import_locked(
    engine: &Context,
    fabric: &Fabric,
    opts: &ImportOptions,
    cancel: &CancellationToken,
) -> Result<ImportReport> {
    opts.failpoint.hit("import-locked");
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let run = RunRecord::start(&records, "import").await?;
    let result = async {
        let mut stage = opts.progress.stage(Operation::Import, "list", None);
        let cluster = connect(fabric, &opts.client).await?;
        let served = cluster
            .served_kinds()
            .await
            .map_err(|e| kube_error(fabric, e))?;
        if served.is_empty() {
            cluster
                .require(&served, Kind::ALL)
                .map_err(|e| kube_error(fabric, e))?;
        }
        let live = cluster
            .list_all(&served)
            .await
            .map_err(|e| kube_error(fabric, e))?;
        stage.set(live.len() as u64);
        let url = cluster.url().to_string();
        // On the lock's own thread: the file work is called directly.
        import_files(fabric, &url, &live, opts, cancel)
    }
    .await;
    let (report, inventory, manifest_sha) = match result {
        Ok(x) => x,
        Err(e) => {
            run.fail(&e).await;
            return Err(e);
        }
    };
    if report.changed {
        records
            .replace_index(&inventory, Some(&manifest_sha))
            .await?;
    }
    let s = &report.summary;
    run.finish(
        Outcome::done(report.has_rejections()),
        RunCounts {
            files: 0,
            created: s.created as i64,
            updated: s.updated as i64,
            unchanged: s.unchanged as i64,
            deleted: 0,
            rejected: s.rejected as i64,
        },
        &report.commit_message(),
        &serde_json::json!({"cluster": report.cluster, "rejected": report.rejected, "skipped": report.skipped}),
    )
    .await?;
    Ok(report)
}

/// Why a live object is not imported, if it is not.
fn skip_reason(kind: Kind, name: &str, live: &Value, fabric: &str) -> Option<String> {
    let label = fabric_label(live);
    if let Some(other) = label.filter(|l| *l != fabric) {
        return Some(format!(
            "carries the label of fabric {other:?}: it belongs to that fabric"
        ));
    }
    if live.pointer("/metadata/deletionTimestamp").is_some() {
        return Some("being deleted".into());
    }
    if kind == Kind::SwitchProfile && label.is_none() && BUILTIN_SWITCH_PROFILES.contains(&name) {
        return Some("a built-in SwitchProfile the fabric ships itself (immutable)".into());
    }
    None
}

type ImportOutcome = (ImportReport, Vec<InventoryEntry>, String);

/// The file-system half (blocking, with the fabric lock held): each object validated on its own, then the
/// objects that fail the whole-state rules dropped until none does (core's [`accept_until_valid`]), then the
/// writes planned into one change set and committed.
fn import_files(
    fabric: &Fabric,
    url: &str,
    live: &LiveObjects,
    opts: &ImportOptions,
    cancel: &CancellationToken,
) -> Result<ImportOutcome> {
    let root = GitOpsRoot::new(&fabric.root);
    let dir = root.sandbox()?;
    let recovery = recover(&dir)?;
    for m in recovery.refused.iter().chain(&recovery.resolved) {
        tracing::warn!("{m}");
    }
    let crate::managed::Opened {
        settings,
        manifest,
        managed,
        ..
    } = crate::managed::open(fabric)?;
    let mut report = ImportReport {
        fabric: fabric.name.clone(),
        cluster: url.to_string(),
        created: Vec::new(),
        updated: Vec::new(),
        unchanged: Vec::new(),
        rejected: Vec::new(),
        skipped: Vec::new(),
        not_in_cluster: Vec::new(),
        summary: ImportSummary {
            objects: live.len(),
            ..ImportSummary::default()
        },
        changed: false,
        git: None,
    };

    // Each object on its own: structure, strict decoding, object rules.
    let limits = yaml::Limits::default();
    let mut candidates: Vec<(String, ParsedObject)> = Vec::new();
    let mut stage = opts
        .progress
        .stage(Operation::Import, "parse", Some(live.len() as u64));
    for ((kind, name), obj) in live {
        let label = format!("{kind}/{name}");
        stage.step(|| label.clone());
        if let Some(reason) = skip_reason(*kind, name, obj, &fabric.name) {
            report.skipped.push(ImportSkip {
                object: label,
                reason,
            });
            continue;
        }
        let file = format!("cluster:{label}");
        let text = yaml::emit(&importable(obj));
        let rep = parse_source(&file, text.as_bytes(), &limits, &settings);
        match rep.objects.into_iter().next() {
            Some(o) if rep.errors.is_empty() => candidates.push((file, o)),
            _ => report.rejected.push(ImportRejection {
                object: label,
                errors: rep
                    .errors
                    .iter()
                    .map(|d| ErrorRecord::from_diag(d, &file))
                    .collect(),
            }),
        }
    }

    // Cross-object rules over the state the fabric would have; drop what fails until nothing does.
    let verdict = accept_until_valid(
        &managed.state,
        &candidates,
        |_, _| true,
        |(file, _)| file.as_str(),
        |state, (file, o)| {
            state.insert(
                o.object.clone(),
                Origin {
                    file: Arc::from(file.as_str()),
                    document: 1,
                    span: o.span,
                    root: o.root.clone(),
                },
            );
        },
        &settings,
    );
    drop(verdict.state);
    for (i, diags) in verdict.rejected {
        let o = &candidates[i].1;
        report.rejected.push(ImportRejection {
            object: format!("{}/{}", o.kind, o.name),
            errors: diags
                .iter()
                .map(|d| ErrorRecord::from_diag(d, &d.file))
                .collect(),
        });
    }
    report.rejected.sort_by(|a, b| a.object.cmp(&b.object));

    // Plan the writes (objects normalized here, once each).
    let mut changes = ChangeSet::new(&dir, false, &manifest);
    let mut stage = opts.progress.stage(
        Operation::Import,
        "write",
        Some(verdict.accepted.len() as u64),
    );
    for &i in &verdict.accepted {
        let o = &candidates[i].1;
        let (kind, name) = (o.kind, &o.name);
        let rel = GitOpsRoot::managed_rel(kind, name);
        let normalized = o.normalized();
        let bytes = normalized.as_bytes();
        let sha = sha256_hex(bytes);
        let label = format!("{kind}/{name}");
        match managed.files.get(&(kind, name.clone())) {
            Some(f) if f.sha256 == sha => report.unchanged.push(label),
            Some(_) => {
                report.updated.push(label);
                changes.put(&rel, bytes)?;
            }
            None => {
                report.created.push(label);
                changes.put(&rel, bytes)?;
            }
        }
        let key = (kind, name.clone());
        let current = changes
            .inventory
            .get(&key)
            .is_some_and(|e| e.sha256 == sha && e.file == rel);
        if !current {
            changes.inventory.insert(
                key,
                InventoryEntry {
                    kind: kind.to_string(),
                    name: name.clone(),
                    file: rel,
                    sha256: sha,
                    source: None,
                },
            );
        }
        stage.step(|| format!("{kind}/{name}"));
    }
    let in_cluster: BTreeSet<&(Kind, String)> = live.keys().collect();
    report.not_in_cluster = managed
        .files
        .keys()
        .filter(|k| !in_cluster.contains(k))
        .map(|(k, n)| format!("{k}/{n}"))
        .collect();
    report.summary.created = report.created.len();
    report.summary.updated = report.updated.len();
    report.summary.unchanged = report.unchanged.len();
    report.summary.rejected = report.rejected.len();
    report.summary.skipped = report.skipped.len();

    let (manifest, _, manifest_sha) = changes.stage_manifest(manifest)?;
    if changes.count() == 0 {
        return Ok((report, manifest.inventory, manifest_sha));
    }
    changes.log(LogEntry {
        created: report.created.clone(),
        updated: report.updated.clone(),
        unchanged: report.unchanged.clone(),
        message: Some(format!(
            "from the cluster at {url}: {} object(s), {} rejected, {} skipped",
            report.summary.objects, report.summary.rejected, report.summary.skipped
        )),
        ..LogEntry::new(LogOperation::Import)
    });
    // The last safe point: past the commit point the import is finished whatever happens to its caller.
    changes.seal(&fabric.name)?.commit(
        &fabric.name,
        &opts.failpoint,
        "import-before-commit",
        cancel,
    )?;
    report.changed = true;
    Ok((report, manifest.inventory, manifest_sha))
}
