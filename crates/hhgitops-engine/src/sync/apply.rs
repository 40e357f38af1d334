//! The apply and prune stages of a sync: the managed state against the cluster, per object, recorded as a run.
//!
//! A no-op sync sends no write: the plan comes from one LIST per kind and the drift computation, and only
//! objects that differ (or lack this fabric's label or the record of their content) are applied.

use std::collections::BTreeMap;
use std::time::Duration;

use hhgitops_core::diff::{fabric_drift, DriftEntry, DriftStatus};
use hhgitops_core::Diagnostic;
use hhgitops_kube::{
    execute, plan, Action, ClientSettings, ExecuteOptions, ExecutionSummary, ObjectOutcome, Status,
};
use serde::Serialize;

use crate::error::Result;
use crate::fabric::Fabric;
use crate::index::{FabricRecords, RunCounts};
use crate::ingest::IngestReport;
use crate::Engine;

use super::{fetch_live, load_desired};

/// How the apply stage runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Only `dryRun=All` requests; nothing is recorded.
    pub dry_run: bool,
    /// Delete objects labelled as this fabric's that Git no longer has.
    pub prune: bool,
    /// Take over objects that carry another fabric's label (otherwise they are conflicts, left alone).
    pub adopt: bool,
    pub client: ClientSettings,
    pub lock_timeout: Duration,
    /// Stops the run between apply ranks (what was applied is reported).
    pub cancel: tokio_util::sync::CancellationToken,
    pub progress: crate::progress::Progress,
}

/// What the apply stage did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub fabric: String,
    /// The API server's address.
    pub cluster: String,
    pub dry_run: bool,
    pub prune: bool,
    /// Every managed object and every pruning candidate, in apply order (prunes last, in reverse order).
    pub objects: Vec<ObjectOutcome>,
    pub summary: ExecutionSummary,
    /// Objects in the cluster that Git does not manage and that lack this fabric's label (never touched).
    pub unmanaged: Vec<DriftEntry>,
    /// Managed files that do not parse: their objects are neither applied nor pruned.
    pub invalid: Vec<Diagnostic>,
    /// Set when the run stopped on a failure of the API server (exit 3).
    pub aborted: Option<String>,
}

impl ApplyReport {
    pub fn has_rejections(&self) -> bool {
        self.summary.rejected > 0
            || self.summary.skipped > 0
            || self.summary.conflict > 0
            || !self.invalid.is_empty()
    }

    /// `success`, `rejected` or `failed`, as recorded in the runs table.
    pub fn outcome(&self) -> &'static str {
        if self.aborted.is_some() {
            "failed"
        } else if self.has_rejections() {
            "rejected"
        } else {
            "success"
        }
    }

    /// `apply to https://…: +3 VPC, ~1 Switch, -2 Connection; 1 rejected`.
    pub fn message(&self) -> String {
        let mut per_kind: BTreeMap<(hhgitops_core::Kind, char), usize> = BTreeMap::new();
        for o in &self.objects {
            let sign = match (o.status, o.action) {
                (Status::Applied | Status::Planned, Action::Create) => '+',
                (Status::Applied | Status::Planned, Action::Update) => '~',
                (Status::Deleted | Status::Planned, Action::Prune) => '-',
                _ => continue,
            };
            *per_kind.entry((o.kind, sign)).or_default() += 1;
        }
        let mut parts: Vec<String> = per_kind
            .iter()
            .map(|((k, sign), n)| format!("{sign}{n} {k}"))
            .collect();
        if parts.is_empty() {
            parts.push("no changes".into());
        }
        let mut msg = format!("apply to {}: {}", self.cluster, parts.join(", "));
        let s = &self.summary;
        for (n, what) in [
            (s.rejected, "rejected"),
            (s.skipped, "skipped"),
            (s.failed, "failed"),
            (s.not_attempted, "not attempted"),
            (s.kept, "not pruned (no --prune)"),
        ] {
            if n > 0 {
                msg.push_str(&format!("; {n} {what}"));
            }
        }
        msg
    }
}

/// Applies the managed state of a fabric to its cluster. `preview` (dry runs) lays a dry-run ingestion's
/// accepted raw files over the managed files. A failure before any object was sent is an error; a failure
/// in the middle is reported in [`ApplyReport::aborted`] with every object's state.
pub async fn apply_fabric(
    engine: &Engine,
    fabric: &Fabric,
    opts: &ApplyOptions,
    preview: Option<IngestReport>,
) -> Result<ApplyReport> {
    let opts_owned = opts.clone();
    crate::lock::with_fabric_lock(
        engine,
        fabric,
        opts.lock_timeout,
        &opts.cancel,
        move |engine, fabric, _cancel| async move {
            apply_recorded(&engine, &fabric, &opts_owned, preview).await
        },
    )
    .await
}

/// The apply under the fabric lock, on the lock's thread, recorded as a `sync` run.
async fn apply_recorded(
    engine: &Engine,
    fabric: &Fabric,
    opts: &ApplyOptions,
    preview: Option<IngestReport>,
) -> Result<ApplyReport> {
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let run_id = if opts.dry_run {
        None
    } else {
        records.mark_interrupted().await?;
        Some(records.start_run("sync").await?)
    };
    let result = apply_locked(fabric, opts, preview).await;
    if let Some(id) = &run_id {
        match &result {
            Ok(report) => {
                let s = &report.summary;
                let counts = RunCounts {
                    files: 0,
                    created: s.created as i64,
                    updated: s.updated as i64,
                    unchanged: s.unchanged as i64,
                    deleted: s.deleted as i64,
                    rejected: (s.rejected + s.failed + s.skipped) as i64,
                };
                let changed: Vec<&ObjectOutcome> = report
                    .objects
                    .iter()
                    .filter(|o| o.status != Status::Unchanged)
                    .collect();
                let detail = serde_json::json!({
                    "cluster": report.cluster,
                    "prune": report.prune,
                    "objects": changed,
                    "summary": report.summary,
                    "aborted": report.aborted,
                });
                records
                    .finish_run(id, report.outcome(), counts, &report.message(), &detail)
                    .await?;
            }
            Err(e) => {
                let _ = records
                    .finish_run(
                        id,
                        "failed",
                        RunCounts::default(),
                        &e.to_string(),
                        &serde_json::json!({}),
                    )
                    .await;
            }
        }
    }
    result
}

async fn apply_locked(
    fabric: &Fabric,
    opts: &ApplyOptions,
    preview: Option<IngestReport>,
) -> Result<ApplyReport> {
    // On the lock's thread: the managed state is read directly.
    let desired = load_desired(fabric, preview.as_ref())?;
    let (cluster, live) = fetch_live(fabric, &opts.client, &desired).await?;
    let entries = fabric_drift(&desired.bodies, &live, &fabric.name);
    let planned = plan(
        &entries,
        &desired.bodies,
        &desired.refs,
        &live,
        &desired.held,
        opts.adopt,
    );
    tracing::info!(
        fabric = %fabric.name,
        objects = planned.len(),
        changes = planned.iter().filter(|p| p.action != Action::Unchanged).count(),
        "applying"
    );
    let execution = execute(
        &cluster,
        &planned,
        ExecuteOptions {
            dry_run: opts.dry_run,
            prune: opts.prune,
        },
        None,
    )
    .await;
    let summary = ExecutionSummary::of(&execution.outcomes);
    let unmanaged = entries
        .into_iter()
        .filter(|e| matches!(e.status, DriftStatus::Unmanaged | DriftStatus::Builtin))
        .collect();
    Ok(ApplyReport {
        fabric: fabric.name.clone(),
        cluster: cluster.url().to_string(),
        dry_run: opts.dry_run,
        prune: opts.prune,
        objects: execution.outcomes,
        summary,
        unmanaged,
        invalid: desired.invalid,
        aborted: execution.aborted,
    })
}
