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
mod desired;
pub mod drift;
pub mod import;

use hhgitops_kube::ClientSettings;
use serde::Serialize;

use crate::context::Context;
use crate::error::{ErrorClass, Result};
use crate::fabric::Fabric;
use crate::gitops::GitOutcome;
use crate::ingest::{IngestOptions, IngestReport};
use crate::layout::InitReport;
use crate::progress::{Operation, Progress};
use desired::DesiredSource;

pub use crate::cluster::{connect, kube_error, target_of};
pub use apply::{apply_fabric, ApplyOptions, ApplyReport};
pub use drift::{drift, drift_with, DriftReport};
pub use import::{import_from_cluster, ImportOptions, ImportReport};

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
    engine: &Context,
    fabric: &Fabric,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    let work = async move {
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
            let s =
                crate::gitops::session(engine, fabric, &format!("sync {}", fabric.name)).await?;
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
            let (r, g, s) = crate::init::init_in(engine, fabric, false, session).await?;
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
                "no Kubernetes target configured (fabric add --kubeconfig FILE [--context CTX])"
                    .into(),
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
    };
    crate::progress::in_operation("sync", &fabric.name, work).await
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
    use hhgitops_core::Kind;

    use crate::layout::GitOpsRoot;

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
