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

use crate::context::Context;
use crate::error::Result;
use crate::fabric::Fabric;
use crate::index::{FabricRecords, RunCounts};
use crate::ingest::IngestReport;
use crate::progress::{Operation, Progress};
use crate::run::{Outcome, RunRecord};

use super::desired::{desired_state, fetch_live, DesiredSource};

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
    /// Where the stage reports (operation `apply`: `read`, `list`, `apply` per object). None by default.
    pub progress: Progress,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            dry_run: false,
            prune: false,
            adopt: false,
            client: ClientSettings::default(),
            lock_timeout: Duration::from_secs(60),
            cancel: tokio_util::sync::CancellationToken::new(),
            progress: Progress::none(),
        }
    }
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
    pub fn outcome(&self) -> Outcome {
        if self.aborted.is_some() {
            Outcome::Failed
        } else {
            Outcome::done(self.has_rejections())
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
    engine: &Context,
    fabric: &Fabric,
    opts: &ApplyOptions,
    preview: Option<IngestReport>,
) -> Result<ApplyReport> {
    let work = async move {
        let source = match preview {
            Some(r) => DesiredSource::Preview(r),
            None => DesiredSource::Disk,
        };
        apply_from(engine, fabric, opts, source).await
    };
    crate::progress::in_operation("apply", &fabric.name, work).await
}

/// [`apply_fabric`] with the desired state from `source`.
pub(crate) async fn apply_from(
    engine: &Context,
    fabric: &Fabric,
    opts: &ApplyOptions,
    source: DesiredSource,
) -> Result<ApplyReport> {
    let opts_owned = opts.clone();
    crate::lock::with_fabric_lock(
        engine,
        fabric,
        opts.lock_timeout,
        &opts.cancel,
        move |engine, fabric, _cancel| async move {
            apply_recorded(&engine, &fabric, &opts_owned, source).await
        },
    )
    .await
}

/// The apply under the fabric lock, on the lock's thread, recorded as a `sync` run.
async fn apply_recorded(
    engine: &Context,
    fabric: &Fabric,
    opts: &ApplyOptions,
    source: DesiredSource,
) -> Result<ApplyReport> {
    let records = FabricRecords::new(engine.db(), &fabric.name);
    let run = if opts.dry_run {
        RunRecord::none(&records)
    } else {
        RunRecord::start(&records, "sync").await?
    };
    let report = match apply_locked(fabric, opts, source).await {
        Ok(r) => r,
        Err(e) => {
            run.fail_as(Outcome::Failed, &e).await;
            return Err(e);
        }
    };
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
    run.finish(report.outcome(), counts, &report.message(), &detail)
        .await?;
    Ok(report)
}

async fn apply_locked(
    fabric: &Fabric,
    opts: &ApplyOptions,
    source: DesiredSource,
) -> Result<ApplyReport> {
    // On the lock's thread: the managed state is read directly.
    let mut stage = opts.progress.stage(Operation::Apply, "read", Some(1));
    let desired = desired_state(fabric, source)?;
    stage.set(1);
    let mut stage =
        opts.progress
            .stage(Operation::Apply, "list", Some(desired.bodies.len() as u64));
    let (cluster, live) = fetch_live(fabric, &opts.client, &desired).await?;
    stage.set(desired.bodies.len() as u64);
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
    let stage = std::sync::Mutex::new(opts.progress.stage(
        Operation::Apply,
        "apply",
        Some(planned.len() as u64),
    ));
    let on_outcome = |o: &ObjectOutcome| {
        stage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .step(|| format!("{}/{}", o.kind, o.name));
    };
    let execution = execute(
        &cluster,
        &planned,
        ExecuteOptions {
            dry_run: opts.dry_run,
            prune: opts.prune,
        },
        opts.progress.is_active().then_some(&on_outcome as _),
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
