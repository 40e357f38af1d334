//! `import --from-cluster`: the onboarding of a running fabric. The cluster's Hedgehog objects (namespace
//! `default`) become managed files in normalized form — server-owned fields, this fabric's label, the record
//! annotation and the fabric's derived labels stripped, then decoded and validated like any input (objects that
//! fail are reported and not written) — with the manifest inventory and the archive log, in one journaled
//! transaction and one commit. Importing twice changes nothing the second time. The cluster is only read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hhgitops_core::diff::{fabric_label, importable};
use hhgitops_core::model::wiring::BUILTIN_SWITCH_PROFILES;
use hhgitops_core::state::Origin;
use hhgitops_core::validate::{parse_source, validate_state, ParsedObject};
use hhgitops_core::{yaml, Kind};
use hhgitops_kube::{ClientSettings, LiveObjects};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::atomic::sha256_hex;
use crate::error::{Error, Result};
use crate::fabric::Fabric;
use crate::gitops::GitOutcome;
use crate::index::{FabricRecords, RunCounts};
use crate::ingest::{fabric_settings, load_managed, ErrorRecord};
use crate::layout::{GitOpsRoot, ARCHIVE_LOG, MANIFEST};
use crate::records::{ArchiveLog, InventoryEntry, LogEntry, Operation};
use crate::txn::{recover, Failpoint, Transaction};
use crate::Engine;

use super::{connect, kube_error};

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub client: ClientSettings,
    pub lock_timeout: Duration,
    pub failpoint: Failpoint,
    /// Stops the import at its next safe point (before the commit point); nothing is written then.
    pub cancel: CancellationToken,
    pub progress: crate::progress::Progress,
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
    engine: &Engine,
    fabric: &Fabric,
    opts: &ImportOptions,
) -> Result<ImportReport> {
    let session = engine
        .git_session(fabric, &format!("import {} from cluster", fabric.name))
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
            report.git = Some(
                engine
                    .git_commit(fabric, s, report.commit_message())
                    .await?,
            );
        }
    }
    Ok(report)
}

/// The import under the fabric lock, on the lock's thread: the cluster's objects listed, the files written,
/// the index and the run recorded.
async fn import_locked(
    engine: &Engine,
    fabric: &Fabric,
    opts: &ImportOptions,
    cancel: &CancellationToken,
) -> Result<ImportReport> {
    opts.failpoint.hit("import-locked");
    let records = FabricRecords::new(engine.db(), &fabric.name);
    records.mark_interrupted().await?;
    let run = records.start_run("import").await?;
    let result = async {
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
        let url = cluster.url().to_string();
        // On the lock's own thread: the file work is called directly.
        import_files(fabric, &url, &live, &opts.failpoint, cancel)
    }
    .await;
    let (report, inventory, manifest_sha) = match result {
        Ok(x) => x,
        Err(e) => {
            let outcome = if matches!(e, Error::Cancelled(_)) {
                "cancelled"
            } else {
                "failed"
            };
            let _ = records
                .finish_run(
                    &run,
                    outcome,
                    RunCounts::default(),
                    &e.to_string(),
                    &serde_json::json!({}),
                )
                .await;
            return Err(e);
        }
    };
    if report.changed {
        records
            .replace_index(&inventory, Some(&manifest_sha))
            .await?;
    }
    let s = &report.summary;
    records
        .finish_run(
            &run,
            if report.has_rejections() {
                "rejected"
            } else {
                "success"
            },
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

/// The file-system half (blocking, with the fabric lock held).
fn import_files(
    fabric: &Fabric,
    url: &str,
    live: &LiveObjects,
    failpoint: &Failpoint,
    cancel: &CancellationToken,
) -> Result<ImportOutcome> {
    let root = GitOpsRoot::new(&fabric.root);
    let dir = root.sandbox()?;
    let recovery = recover(&dir)?;
    for m in recovery.refused.iter().chain(&recovery.resolved) {
        tracing::warn!("{m}");
    }
    let settings = fabric_settings(fabric)?;
    let mut manifest = root.current_manifest(&fabric.name)?;
    let managed = load_managed(&root, &manifest, &settings)?;
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

    // 1. Each object on its own: structure, strict decoding, object rules, normalized form.
    let limits = yaml::Limits::default();
    let mut accepted: BTreeMap<(Kind, String), ParsedObject> = BTreeMap::new();
    let mut source_of: BTreeMap<String, (Kind, String)> = BTreeMap::new();
    for ((kind, name), obj) in live {
        let label = format!("{kind}/{name}");
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
            Some(o) if rep.errors.is_empty() => {
                source_of.insert(file, (*kind, name.clone()));
                accepted.insert((*kind, name.clone()), o);
            }
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

    // 2. Cross-object rules over the state the fabric would have; drop what fails until nothing does.
    loop {
        let mut state = managed.state.clone();
        for ((_, name), o) in &accepted {
            let file = format!("cluster:{}/{name}", o.kind);
            state.insert(
                o.object.clone(),
                Origin {
                    file: Arc::from(file.as_str()),
                    document: 1,
                    span: o.span,
                    root: Some(o.root.clone()),
                },
            );
        }
        let result = validate_state(&state, &settings);
        let mut failing: BTreeMap<(Kind, String), Vec<ErrorRecord>> = BTreeMap::new();
        for d in &result.errors {
            if let Some(key) = source_of.get(&d.file) {
                if accepted.contains_key(key) {
                    failing
                        .entry(key.clone())
                        .or_default()
                        .push(ErrorRecord::from_diag(d, &d.file));
                }
            }
        }
        if failing.is_empty() {
            break;
        }
        for (key, errors) in failing {
            accepted.remove(&key);
            report.rejected.push(ImportRejection {
                object: format!("{}/{}", key.0, key.1),
                errors,
            });
        }
    }
    report.rejected.sort_by(|a, b| a.object.cmp(&b.object));

    // 3. Plan the writes.
    let mut inventory: BTreeMap<(Kind, String), InventoryEntry> = BTreeMap::new();
    for e in &manifest.inventory {
        if let Some(k) = Kind::from_kind_name(&e.kind) {
            inventory.insert((k, e.name.clone()), e.clone());
        }
    }
    let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
    for ((kind, name), o) in &accepted {
        let rel = GitOpsRoot::managed_rel(*kind, name);
        let bytes = o.normalized.as_bytes();
        let sha = sha256_hex(bytes);
        let label = format!("{kind}/{name}");
        match managed.files.get(&(*kind, name.clone())) {
            Some(f) if f.sha256 == sha => report.unchanged.push(label),
            Some(_) => {
                report.updated.push(label);
                puts.push((rel.clone(), bytes.to_vec()));
            }
            None => {
                report.created.push(label);
                puts.push((rel.clone(), bytes.to_vec()));
            }
        }
        let key = (*kind, name.clone());
        let current = inventory
            .get(&key)
            .is_some_and(|e| e.sha256 == sha && e.file == rel);
        if !current {
            inventory.insert(
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

    let manifest_path = root.manifest_path();
    let old_manifest = dir
        .read_max(MANIFEST, crate::records::MAX_RECORD_BYTES)
        .map_err(|e| Error::io("cannot read", &manifest_path, e))?;
    manifest.inventory = inventory.into_values().collect();
    manifest.sort();
    let new_manifest = manifest.to_yaml()?;
    let manifest_changed = new_manifest.as_bytes() != old_manifest.as_slice();
    if manifest_changed {
        puts.push((MANIFEST.to_string(), new_manifest.clone().into_bytes()));
    }
    let manifest_sha = sha256_hex(if manifest_changed {
        new_manifest.as_bytes()
    } else {
        &old_manifest
    });
    if puts.is_empty() {
        return Ok((report, manifest.inventory, manifest_sha));
    }
    let mut log = ArchiveLog::read(&dir, &fabric.name)?;
    log.entries.push(LogEntry {
        created: report.created.clone(),
        updated: report.updated.clone(),
        unchanged: report.unchanged.clone(),
        message: Some(format!(
            "from the cluster at {url}: {} object(s), {} rejected, {} skipped",
            report.summary.objects, report.summary.rejected, report.summary.skipped
        )),
        ..LogEntry::new(Operation::Import)
    });
    puts.push((ARCHIVE_LOG.to_string(), log.to_yaml()?.into_bytes()));
    let mut txn = Transaction::begin(&dir)?;
    for (target, bytes) in &puts {
        crate::ingest::check_cancelled(cancel, &fabric.name)?;
        txn.put(target, bytes)?;
    }
    // The last safe point: past the commit point the import is finished whatever happens to its caller.
    failpoint.hit("import-before-commit");
    crate::ingest::check_cancelled(cancel, &fabric.name)?;
    txn.commit(failpoint)?;
    report.changed = true;
    Ok((report, manifest.inventory, manifest_sha))
}
