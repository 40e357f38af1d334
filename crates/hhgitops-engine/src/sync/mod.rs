//! The Kubernetes half of hhgitops (SPEC §6): `sync` (pull → layout → ingest → commit/push → apply → prune →
//! report), `drift` and `import --from-cluster`. The cluster side (client, lists, server-side apply, ordering)
//! is `hhgitops-kube`; the comparison is `hhgitops_core::diff`; this module reads the desired state from the
//! GitOps root, holds the fabric lock, and records runs.
//!
//! - [`sync_fabric`]: the whole pipeline, as the CLI's `sync` and the server's sync jobs run it.
//! - [`apply::apply_fabric`]: apply and prune only (the managed state as it is on disk).
//! - [`drift::drift`]: the per-object comparison, read-only.
//! - [`import::import_from_cluster`]: the cluster's objects into managed/, one transaction and one commit.

pub mod apply;
pub mod drift;
pub mod import;

use std::collections::BTreeSet;
use std::sync::Arc;

use hhgitops_core::diff::applied_object;
use hhgitops_core::state::{FabricState, Origin};
use hhgitops_core::validate::parse_source;
use hhgitops_core::{yaml, Diagnostic, Kind};
use hhgitops_kube::{
    ClientSettings, Cluster, ClusterTarget, DesiredObjects, KubeError, References,
};
use serde::Serialize;

use crate::error::{Error, ErrorClass, Result};
use crate::fabric::Fabric;
use crate::gitops::GitOutcome;
use crate::ingest::{FileStatus, IngestOptions, IngestReport};
use crate::layout::{GitOpsRoot, InitReport};
use crate::managed::Snapshot;
use crate::progress::{Operation, Progress};
use crate::Engine;

pub use apply::{apply_fabric, ApplyOptions, ApplyReport};
pub use drift::{drift, drift_with, DriftReport};
pub use import::{import_from_cluster, ImportOptions, ImportReport};

/// The Kubernetes target of a fabric.
pub fn target_of(fabric: &Fabric) -> ClusterTarget {
    ClusterTarget {
        kubeconfig: fabric.kubeconfig.clone(),
        context: fabric.kube_context.clone(),
    }
}

/// Maps a cluster error to the engine's classes: configuration (exit 2) or runtime (exit 3).
pub fn kube_error(fabric: &Fabric, e: KubeError) -> Error {
    Error::Cluster {
        fabric: fabric.name.clone(),
        source: e,
    }
}

/// Connects to the fabric's cluster.
pub async fn connect(fabric: &Fabric, settings: &ClientSettings) -> Result<Cluster> {
    target_of(fabric)
        .connect(settings)
        .await
        .map_err(|e| kube_error(fabric, e))
}

/// Connects to the fabric's cluster, checks that every kind the fabric manages is served, and lists the live
/// Hedgehog objects (one LIST per served kind).
pub(crate) async fn fetch_live(
    fabric: &Fabric,
    settings: &ClientSettings,
    desired: &Desired,
) -> Result<(Cluster, hhgitops_kube::LiveObjects)> {
    let cluster = connect(fabric, settings).await?;
    let served = cluster
        .served_kinds()
        .await
        .map_err(|e| kube_error(fabric, e))?;
    cluster
        .require(&served, desired.bodies.keys().map(|(k, _)| *k))
        .map_err(|e| kube_error(fabric, e))?;
    let live = cluster
        .list_all(&served)
        .await
        .map_err(|e| kube_error(fabric, e))?;
    Ok((cluster, live))
}

/// The desired state of a fabric: what its managed files say, in the form hhgitops applies.
#[derive(Debug, Default)]
pub(crate) struct Desired {
    pub bodies: DesiredObjects,
    pub refs: References,
    /// Objects whose managed file is broken: neither applied nor pruned until it is fixed.
    pub held: BTreeSet<(Kind, String)>,
    /// Why they are held.
    pub invalid: Vec<Diagnostic>,
}

/// Where the apply stage takes the desired state from.
#[derive(Debug, Default)]
pub(crate) enum DesiredSource {
    /// managed/ as it is on disk.
    #[default]
    Disk,
    /// managed/ with the raw files a dry-run ingestion would accept laid over it (read and parsed again).
    Preview(IngestReport),
    /// The state the ingestion stage of the same sync left, used while managed/ still has the bytes it stands
    /// for (otherwise read from disk).
    Snapshot(Snapshot),
}

/// Reads the desired state (blocking), from where `source` says.
pub(crate) fn desired_state(fabric: &Fabric, source: DesiredSource) -> Result<Desired> {
    match source {
        DesiredSource::Disk => load_desired(fabric, None),
        DesiredSource::Preview(report) => load_desired(fabric, Some(&report)),
        DesiredSource::Snapshot(snap) => {
            if snap.is_current(&GitOpsRoot::new(&fabric.root))? {
                Ok(desired_of(fabric, &snap.state, snap.problems))
            } else {
                tracing::debug!(fabric = %fabric.name, "managed/ changed since the ingestion: read again");
                load_desired(fabric, None)
            }
        }
    }
}

/// Reads the desired state (blocking). With `preview` (the report of a dry-run ingestion), the raw files that
/// ingestion would accept are laid over the managed files, so that a dry-run sync plans what a real one does.
pub(crate) fn load_desired(fabric: &Fabric, preview: Option<&IngestReport>) -> Result<Desired> {
    let crate::managed::Opened {
        root,
        settings,
        managed,
        ..
    } = crate::managed::open(fabric)?;
    let dir = root.sandbox()?;
    let mut state = managed.state;
    let mut hydration = crate::hydration::IngestHydration::for_fabric(fabric, &settings, &state)?;
    if let Some(report) = preview {
        for f in report
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Ingested | FileStatus::Unchanged))
        {
            let Ok(bytes) = dir.read(&f.file) else {
                continue;
            };
            let limits = yaml::Limits {
                max_bytes: usize::MAX,
                ..yaml::Limits::default()
            };
            let rep = match hydration.as_mut() {
                Some(h) => h.parse(&f.file, &bytes, &limits, &settings),
                None => parse_source(&f.file, &bytes, &limits, &settings),
            };
            if rep.errors.is_empty() {
                let file: Arc<str> = Arc::from(f.file.as_str());
                for o in &rep.objects {
                    state.insert(
                        o.object.clone(),
                        Origin {
                            file: file.clone(),
                            document: o.document,
                            span: o.span,
                            root: None,
                        },
                    );
                }
            }
        }
    }
    Ok(desired_of(fabric, &state, managed.problems))
}

/// The desired state of `state`, with the objects of broken managed files (`problems`) held back.
fn desired_of(fabric: &Fabric, state: &FabricState, problems: Vec<Diagnostic>) -> Desired {
    let mut desired = Desired::default();
    for d in &problems {
        if let Some(key) = GitOpsRoot::managed_key(&d.file) {
            if !state.contains(key.0, &key.1) {
                desired.held.insert(key);
            }
        }
    }
    desired.invalid = problems;
    for e in state.iter() {
        let key = (e.object.kind(), e.object.name().to_string());
        desired
            .bodies
            .insert(key.clone(), applied_object(&e.object, &fabric.name));
        desired
            .refs
            .insert(key, hhgitops_kube::refs::references(&e.object));
    }
    desired
}

/// How a whole sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The Git/ingest half; its `dry_run` makes the whole sync a dry run.
    pub ingest: IngestOptions,
    /// Delete objects labelled as this fabric's that are no longer managed.
    pub prune: bool,
    /// Take over objects another fabric's label claims (`sync --adopt`).
    pub adopt: bool,
    pub client: ClientSettings,
    /// Where the sync reports its stages (operation `sync`: `pull`, `layout`, `ingest`, `commit`, `apply`,
    /// `drift`), and its ingestion and apply stages theirs. None by default.
    pub progress: Progress,
}

/// How a stage of a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StageOutcome {
    Done,
    Skipped,
    Failed,
}

/// What one stage of a sync did, for people: `pull`, `layout`, `ingest`, `commit`, `apply`, `drift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStage {
    pub stage: String,
    pub outcome: StageOutcome,
    /// One line: what was done, or why not.
    pub message: String,
}

impl SyncStage {
    fn new(stage: &str, outcome: StageOutcome, message: impl Into<String>) -> SyncStage {
        SyncStage {
            stage: stage.to_string(),
            outcome,
            message: message.into(),
        }
    }
}

/// What a sync did, stage by stage.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub fabric: String,
    pub dry_run: bool,
    /// Layout completed before ingesting (not in a dry run).
    pub init: Option<InitReport>,
    /// The commit of the layout change, if any.
    pub init_git: Option<GitOutcome>,
    pub ingest: IngestReport,
    /// The apply/prune stage; `None` when the fabric has no Kubernetes target.
    pub apply: Option<ApplyReport>,
    /// Why the apply stage did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_skipped: Option<String>,
    /// Why the apply stage could not start (unreachable API, credentials, missing CRDs, configuration);
    /// the Git half was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_error: Option<String>,
    /// The class of [`SyncReport::apply_error`] (configuration: exit 2; runtime: exit 3).
    #[serde(skip)]
    pub apply_error_class: Option<ErrorClass>,
    /// Each stage in order (pull, layout, ingest, commit, apply, drift) and what it did.
    pub stages: Vec<SyncStage>,
}

impl SyncReport {
    /// Input or objects were refused (exit 1).
    pub fn has_rejections(&self) -> bool {
        self.ingest.has_rejections() || self.apply.as_ref().is_some_and(ApplyReport::has_rejections)
    }

    /// The apply stage stopped on a failure of the API server (exit 3).
    pub fn failed(&self) -> Option<&str> {
        self.apply.as_ref().and_then(|a| a.aborted.as_deref())
    }

    /// The apply stage could not run: the error and its class.
    pub fn apply_failure(&self) -> Option<(ErrorClass, &str)> {
        Some((self.apply_error_class?, self.apply_error.as_deref()?))
    }
}

/// `sync`: pull, complete the layout, ingest raw/, commit and push, then apply the managed state to the
/// fabric's cluster (and prune). A dry run changes nothing anywhere: the ingestion is a dry run and the
/// cluster only sees `dryRun=All` requests. Errors of the Git half are errors; an apply stage that cannot
/// start is reported in [`SyncReport::apply_error`] beside what the Git half did.
///
/// One Git session (one fetch) serves the layout's and the ingestion's commits; the managed state the
/// ingestion parsed is handed to the apply stage ([`Snapshot`]), so no managed file is parsed twice.
pub async fn sync_fabric(
    engine: &Engine,
    fabric: &Fabric,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    let dry_run = opts.ingest.dry_run;
    let progress = &opts.progress;
    let mut stages = Vec::new();
    let mut ingest_opts = opts.ingest.clone();
    if progress.is_active() {
        ingest_opts.progress = progress.clone();
    }

    // pull
    let mut stage = progress.stage(Operation::Sync, "pull", Some(1));
    let session = if dry_run {
        stages.push(SyncStage::new(
            "pull",
            StageOutcome::Skipped,
            "dry run: the clone is not touched",
        ));
        None
    } else {
        let s = engine
            .git_session(fabric, &format!("sync {}", fabric.name))
            .await?;
        stages.push(match &s {
            Some(s) if s.pushes() => SyncStage::new(
                "pull",
                StageOutcome::Done,
                "fetched and brought up to date with the remote",
            ),
            Some(_) => SyncStage::new(
                "pull",
                StageOutcome::Done,
                "local Git work tree without an upstream: nothing to fetch",
            ),
            None => SyncStage::new("pull", StageOutcome::Skipped, "the fabric is not in Git"),
        });
        s
    };
    stage.set(1);

    // layout
    let mut stage = progress.stage(Operation::Sync, "layout", Some(1));
    let (init, init_git, session) = if dry_run {
        stages.push(SyncStage::new(
            "layout",
            StageOutcome::Skipped,
            "dry run: the layout is not completed",
        ));
        (None, None, None)
    } else {
        let (r, g, s) = engine.init_in(fabric, false, session).await?;
        stages.push(SyncStage::new(
            "layout",
            StageOutcome::Done,
            if r.actions.is_empty() {
                "complete: nothing to do".to_string()
            } else {
                format!("{} action(s)", r.actions.len())
            },
        ));
        (Some(r), g, s)
    };
    stage.set(1);

    // ingest, commit and push
    let mut stage = progress.stage(Operation::Sync, "ingest", Some(1));
    let in_git = session.is_some();
    let (report, session, snapshot) =
        crate::ingest::ingest_in_session(engine, fabric, &ingest_opts, session, true).await?;
    drop(session);
    stage.set(1);
    let s = &report.summary;
    stages.push(SyncStage::new(
        "ingest",
        StageOutcome::Done,
        format!(
            "{} file(s): {} ingested, {} unchanged, {} rejected; objects: {} created, {} updated",
            s.files, s.ingested, s.unchanged, s.rejected, s.created, s.updated
        ),
    ));
    progress.stage(Operation::Sync, "commit", Some(1)).set(1);
    stages.push(commit_stage(dry_run, in_git, init_git.as_ref(), &report));
    let mut out = SyncReport {
        fabric: fabric.name.clone(),
        dry_run,
        init,
        init_git,
        ingest: report,
        apply: None,
        apply_skipped: None,
        apply_error: None,
        apply_error_class: None,
        stages,
    };
    if let Some(e) = out.ingest.git_error.clone() {
        // The cluster follows what is in the remote: with the commit or push failed, nothing is applied.
        out.apply_error_class = Some(ErrorClass::Git);
        out.apply_error = Some(format!("not applied: the ingestion was not pushed: {e}"));
        out.skip_cluster_stages(StageOutcome::Skipped, "the ingestion was not pushed");
        return Ok(out);
    }
    if !target_of(fabric).is_configured() {
        out.apply_skipped = Some(
            "no Kubernetes target configured (fabric add --kubeconfig FILE [--context CTX])".into(),
        );
        out.skip_cluster_stages(StageOutcome::Skipped, "no Kubernetes target configured");
        return Ok(out);
    }

    // apply (the drift computed for its plan is reported as a stage of its own)
    let apply_opts = ApplyOptions {
        dry_run,
        prune: opts.prune,
        adopt: opts.adopt,
        client: opts.client.clone(),
        lock_timeout: opts.ingest.lock_timeout,
        cancel: opts.ingest.cancel.clone(),
        progress: if progress.is_active() {
            progress.clone()
        } else {
            Progress::none()
        },
    };
    let source = match snapshot {
        Some(snap) => DesiredSource::Snapshot(snap),
        None => DesiredSource::Disk,
    };
    let mut stage = progress.stage(Operation::Sync, "apply", Some(1));
    match apply::apply_from(engine, fabric, &apply_opts, source).await {
        Ok(a) => {
            let differ = a
                .objects
                .iter()
                .filter(|o| o.action != hhgitops_kube::Action::Unchanged)
                .count();
            out.stages.push(SyncStage::new(
                "apply",
                if a.aborted.is_some() {
                    StageOutcome::Failed
                } else {
                    StageOutcome::Done
                },
                a.message(),
            ));
            out.stages.push(SyncStage::new(
                "drift",
                StageOutcome::Done,
                format!(
                    "{} object(s) compared with the cluster at {}: {differ} differed",
                    a.objects.len(),
                    a.cluster
                ),
            ));
            out.apply = Some(a);
        }
        Err(e) => {
            out.apply_error_class = Some(e.class());
            out.apply_error = Some(e.to_string());
            out.skip_cluster_stages(StageOutcome::Failed, &e.to_string());
        }
    }
    stage.set(1);
    Ok(out)
}

/// The commit stage of a sync: the layout's and the ingestion's commits in its one Git session.
fn commit_stage(
    dry_run: bool,
    in_git: bool,
    init_git: Option<&GitOutcome>,
    report: &IngestReport,
) -> SyncStage {
    if dry_run {
        return SyncStage::new(
            "commit",
            StageOutcome::Skipped,
            "dry run: nothing is committed",
        );
    }
    if !in_git {
        return SyncStage::new("commit", StageOutcome::Skipped, "the fabric is not in Git");
    }
    if let Some(e) = &report.git_error {
        return SyncStage::new("commit", StageOutcome::Failed, e.clone());
    }
    let mut parts = Vec::new();
    for g in init_git.into_iter().chain(report.git.as_ref()) {
        if let Some(c) = &g.commit {
            parts.push(format!(
                "committed {}{}",
                &c[..c.len().min(12)],
                if g.pushed { " and pushed" } else { "" }
            ));
        } else if g.pushed {
            parts.push("pushed".to_string());
        }
    }
    if parts.is_empty() {
        parts.push("nothing to commit".to_string());
    }
    SyncStage::new("commit", StageOutcome::Done, parts.join("; "))
}

impl SyncReport {
    fn skip_cluster_stages(&mut self, outcome: StageOutcome, why: &str) {
        self.stages.push(SyncStage::new("apply", outcome, why));
        self.stages
            .push(SyncStage::new("drift", StageOutcome::Skipped, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_keys_come_from_managed_paths() {
        assert_eq!(
            GitOpsRoot::managed_key("managed/vpcs/vpc-1.yaml"),
            Some((Kind::VPC, "vpc-1".to_string()))
        );
        assert_eq!(GitOpsRoot::managed_key("managed/switchs/a.yaml"), None);
        assert_eq!(GitOpsRoot::managed_key("raw/a.yaml"), None);
    }
}
