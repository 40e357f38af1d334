//! `onboard`: a fabric from a Git repository in one operation — clone, register, upgrade or migrate whatever the
//! repository holds at the path (an HNP layout, loose YAML, or nothing), ingest, and one commit and push.

use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::fabric::{new_fabric, Fabric, FabricSpec, RootRule};
use crate::gitops::GitOutcome;
use crate::ingest::{ingest_local, IngestOptions, IngestReport};
use crate::layout::InitReport;
use crate::progress::Operation;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OnboardReport {
    pub fabric: Fabric,
    /// What was done, step by step, for a person.
    pub steps: Vec<String>,
    pub init: InitReport,
    pub ingest: IngestReport,
    pub git: Option<GitOutcome>,
}

/// Onboards a fabric from its repository. On failure before the commit nothing stays registered and a
/// clone made by this call is removed.
///
/// Progress (`opts.progress`): the onboard stages `clone`, `layout` and `commit`, and between them the
/// ingestion's own stages.
pub async fn onboard(
    ctx: &Context,
    spec: &FabricSpec,
    opts: &IngestOptions,
) -> Result<OnboardReport> {
    crate::progress::in_operation("onboard", &spec.name, onboard_in_span(ctx, spec, opts)).await
}

async fn onboard_in_span(
    ctx: &Context,
    spec: &FabricSpec,
    opts: &IngestOptions,
) -> Result<OnboardReport> {
    let progress = &opts.progress;
    if spec.git_url.is_none() {
        return Err(Error::usage("onboard needs --git-url"));
    }
    let fabric = new_fabric(ctx.home(), spec)?;
    debug_assert_eq!(fabric.root_rule, RootRule::GitClone);
    let registry = ctx.registry();
    registry.check_new(&fabric.name, &fabric.root).await?;
    let mut steps = Vec::new();
    let mut clone = progress.stage(Operation::Onboard, "clone", Some(1));
    let session = crate::gitops::session(ctx, &fabric, &format!("onboard {}", fabric.name))
        .await?
        .ok_or_else(|| Error::Runtime("no Git work tree for the fabric".into()))?;
    clone.set(1);
    let created_clone = session.created_clone.clone();
    steps.push(match &created_clone {
        Some(d) => format!(
            "cloned {} into {}",
            spec.git_url.as_deref().unwrap_or(""),
            d.display()
        ),
        None => "repository already cloned: fetched and fast-forwarded".to_string(),
    });
    let work = async {
        let mut layout = progress.stage(Operation::Onboard, "layout", Some(1));
        let init_report = crate::init::register_with_layout(ctx, &fabric, true).await?;
        layout.set(1);
        let ingest = match ingest_local(ctx, &fabric, opts).await {
            Ok(r) => r,
            Err(e) => {
                let _ = registry.remove(&fabric.name).await;
                return Err(e);
            }
        };
        Ok((init_report, ingest))
    };
    let (init, ingest) = match work.await {
        Ok(x) => x,
        Err(e) => {
            if let Some(d) = &created_clone {
                let _ = std::fs::remove_dir_all(d);
            }
            return Err(e);
        }
    };
    steps.push(format!(
        "registered fabric {} at {}",
        fabric.name,
        fabric.root.display()
    ));
    for a in &init.actions {
        steps.push(a.to_string());
    }
    for w in &init.warnings {
        steps.push(format!("needs a person: {w}"));
    }
    let s = &ingest.summary;
    steps.push(format!(
        "ingested {} file(s): {} created, {} updated, {} rejected",
        s.ingested + s.unchanged,
        s.created,
        s.updated,
        s.rejected
    ));
    let message = format!(
        "onboard fabric {}: {}; {}",
        fabric.name,
        crate::init::init_commit_message(&fabric, &init),
        ingest.commit_message()
    );
    let mut commit = progress.stage(Operation::Onboard, "commit", Some(1));
    let git = crate::gitops::commit(ctx, &fabric, session, message).await?;
    commit.set(1);
    steps.push(match (&git.commit, git.pushed) {
        (Some(c), true) => format!("committed {} and pushed", &c[..c.len().min(12)]),
        (Some(c), false) => format!("committed {}", &c[..c.len().min(12)]),
        (None, _) => "nothing to commit".to_string(),
    });
    Ok(OnboardReport {
        fabric,
        steps,
        init,
        ingest,
        git: Some(git),
    })
}
