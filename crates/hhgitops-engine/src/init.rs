//! The layout's operations: `fabric add` (register, then initialize the layout, all or nothing), `init`
//! (under the fabric lock, committed when in Git), its plan and `init --check`.

use serde::Serialize;

use crate::context::{blocking, Context};
use crate::error::{Error, Result};
use crate::fabric::{new_fabric, Fabric, FabricSpec, RootRule};
use crate::gitops::{GitOutcome, GitSession};
use crate::layout::{GitOpsRoot, InitPlan, InitReport, Problem};

/// What `fabric add` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub fabric: Fabric,
    pub init: Option<InitReport>,
    /// Why no layout was initialized.
    pub note: Option<String>,
    pub git: Option<GitOutcome>,
}

/// Registers a fabric and initializes its layout (cloning its repository first when it has a remote, and
/// committing and pushing the new layout). All or nothing: on failure no row, no new folders, no new clone.
pub async fn add_fabric(ctx: &Context, spec: &FabricSpec) -> Result<AddReport> {
    crate::progress::in_operation("fabric add", &spec.name, add_fabric_in_span(ctx, spec)).await
}

async fn add_fabric_in_span(ctx: &Context, spec: &FabricSpec) -> Result<AddReport> {
    let fabric = new_fabric(ctx.home(), spec)?;
    let registry = ctx.registry();
    // A taken name first (a conflict whatever the root), then a root that would hurt (it names why), then an
    // overlap with another fabric's root.
    registry.check_name_free(&fabric.name).await?;
    if fabric.root_rule != RootRule::GitClone {
        // Checked again once a clone exists (register_with_layout); a local root is checked first.
        let others = registry.list().await?;
        let (root, home) = (fabric.root.clone(), ctx.home().clone());
        blocking(move || crate::roots::check_new_root(&root, &home, &others)).await?;
    }
    registry.check_new(&fabric.name, &fabric.root).await?;
    if fabric.root_rule != RootRule::GitClone {
        let f = fabric.clone();
        blocking(move || check_root_usable(&f)).await?;
    }
    // Clone (or update) first: a bad URL, missing branch or failed authentication registers nothing.
    let session =
        crate::gitops::session(ctx, &fabric, &format!("fabric add {}", fabric.name)).await?;
    let created_clone = session.as_ref().and_then(|s| s.created_clone.clone());
    let mut report = None;
    let mut git = None;
    let result = async {
        let init_report = register_with_layout(ctx, &fabric, false).await?;
        if let Some(s) = session {
            let message = init_commit_message(&fabric, &init_report);
            match crate::gitops::commit(ctx, &fabric, s, message).await {
                Ok(g) => git = Some(g),
                Err(e) => {
                    let _ = registry.remove(&fabric.name).await;
                    return Err(e);
                }
            }
        }
        report = Some(init_report);
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if let Some(dir) = created_clone {
            let _ = blocking(move || {
                let _ = std::fs::remove_dir_all(&dir);
                Ok(())
            })
            .await;
        }
        return Err(e);
    }
    Ok(AddReport {
        fabric,
        init: report,
        note: None,
        git,
    })
}

/// Registers a fabric and completes its layout: when the layout cannot be made, nothing stays registered
/// (and `apply_init` removes the folders it created). Loose YAML files are
/// moved into raw/ only with `migrate` (onboard); otherwise they are reported.
pub(crate) async fn register_with_layout(
    ctx: &Context,
    fabric: &Fabric,
    migrate: bool,
) -> Result<InitReport> {
    let others: Vec<Fabric> = ctx
        .registry()
        .list()
        .await?
        .into_iter()
        .filter(|f| f.name != fabric.name)
        .collect();
    let plan = {
        let fabric = fabric.clone();
        let home = ctx.home().clone();
        blocking(move || {
            crate::roots::check_new_root(&fabric.root, &home, &others)?;
            GitOpsRoot::new(&fabric.root).plan_init(&fabric.name, migrate)
        })
        .await?
    };
    if let Some(p) = plan.blocking.first() {
        return Err(Error::Corrupt {
            path: fabric.root.join(&p.path),
            message: p.message.clone(),
        });
    }
    // The row first (its own transaction), then the layout off the async workers and outside any database
    // transaction; a layout that cannot be made removes the row again.
    ctx.registry().insert(fabric).await?;
    let made = {
        let fabric = fabric.clone();
        blocking(move || GitOpsRoot::new(&fabric.root).apply_init(&fabric.name, &plan)).await
    };
    match made {
        Ok(report) => Ok(report),
        Err(e) => {
            let _ = ctx.registry().remove(&fabric.name).await;
            Err(e)
        }
    }
}

/// Plans `init` for a fabric (used by `--dry-run` and before `apply_init`).
pub async fn plan_init(fabric: &Fabric, migrate: bool) -> Result<InitPlan> {
    let fabric = fabric.clone();
    blocking(move || GitOpsRoot::new(&fabric.root).plan_init(&fabric.name, migrate)).await
}

/// `init`: creates what is missing, upgrades HNP records, with `migrate` moves loose YAML files into
/// raw/, then commits (and pushes) when in Git.
pub async fn init(
    ctx: &Context,
    fabric: &Fabric,
    migrate: bool,
) -> Result<(InitReport, Option<GitOutcome>)> {
    crate::progress::in_operation("init", &fabric.name, init_in_span(ctx, fabric, migrate)).await
}

async fn init_in_span(
    ctx: &Context,
    fabric: &Fabric,
    migrate: bool,
) -> Result<(InitReport, Option<GitOutcome>)> {
    let session = crate::gitops::session(ctx, fabric, &format!("init {}", fabric.name)).await?;
    let (report, git, _session) = init_in(ctx, fabric, migrate, session).await?;
    Ok((report, git))
}

/// [`init`] in a Git session the caller opened (and gets back, for its next commit).
pub(crate) async fn init_in(
    ctx: &Context,
    fabric: &Fabric,
    migrate: bool,
    session: Option<GitSession>,
) -> Result<(InitReport, Option<GitOutcome>, Option<GitSession>)> {
    let work = move |fabric: Fabric| async move {
        let root = GitOpsRoot::new(&fabric.root);
        let plan = root.plan_init(&fabric.name, migrate)?;
        root.apply_init(&fabric.name, &plan)
    };
    // Under the fabric lock once the layout has its .hnp/ folder (the lock file lives there); the very first
    // init, which creates it, has nothing to lock yet (every other operation refuses a layout without it).
    let report = if fabric.root.join(crate::names::HNP_DIR).is_dir() {
        crate::lock::with_lock(
            ctx,
            fabric,
            ctx.settings().lock_timeout,
            &tokio_util::sync::CancellationToken::new(),
            false,
            move |_engine, fabric, _cancel| work(fabric),
        )
        .await?
    } else {
        let fabric = fabric.clone();
        crate::lock::run_owned(move || work(fabric)).await?
    };
    match session {
        Some(s) => {
            let message = init_commit_message(fabric, &report);
            let (git, s) = crate::gitops::commit_in(ctx, fabric, s, message).await?;
            Ok((report, Some(git?), Some(s)))
        }
        None => Ok((report, None, None)),
    }
}

/// `init --check`: what is wrong with the fabric's layout.
pub async fn check_layout(fabric: &Fabric) -> Result<Vec<Problem>> {
    let f = fabric.clone();
    let work = blocking(move || GitOpsRoot::new(&f.root).check(&f.name));
    crate::progress::in_operation("check", &fabric.name, work).await
}

/// `init fabrics/f/gitops: create layout, migrate 3 loose files`.
pub(crate) fn init_commit_message(fabric: &Fabric, report: &InitReport) -> String {
    use crate::layout::Action;
    let mut parts = Vec::new();
    if report
        .actions
        .iter()
        .any(|a| matches!(a, Action::CreateDir { .. } | Action::WriteManifest { .. }))
    {
        parts.push("create layout".to_string());
    }
    let moves = report
        .actions
        .iter()
        .filter(|a| matches!(a, Action::MoveLoose { .. }))
        .count();
    if moves > 0 {
        parts.push(format!("migrate {moves} loose YAML file(s) into raw/"));
    }
    if report.actions.iter().any(|a| {
        matches!(
            a,
            Action::UpgradeManifest { .. } | Action::UpgradeArchiveLog { .. }
        )
    }) {
        parts.push("upgrade the Hedgehog NetBox Plugin layout".to_string());
    }
    let hnp = report.actions.iter().filter(|a| a.is_hnp_cleanup()).count();
    if hnp > 0 {
        parts.push(format!(
            "clean up {hnp} managed file(s) left by the Hedgehog NetBox Plugin"
        ));
    }
    if parts.is_empty() {
        parts.push("complete layout".to_string());
    }
    let op = if moves > 0 || hnp > 0 || parts.iter().any(|p| p.starts_with("upgrade")) {
        "migrate"
    } else {
        "init"
    };
    format!("{op} fabric {}: {}", fabric.name, parts.join(", "))
}

/// A `--path` root must be a folder (or not exist yet) and its nearest existing ancestor writable.
fn check_root_usable(fabric: &Fabric) -> Result<()> {
    let root = &fabric.root;
    if root.exists() && !root.is_dir() {
        return Err(Error::usage(format!(
            "{} exists and is not a folder: give --path a folder (or a path that does not exist yet)",
            root.display()
        )));
    }
    let mut anc = root.as_path();
    while !anc.exists() {
        match anc.parent() {
            Some(p) => anc = p,
            None => break,
        }
    }
    if !anc.is_dir() {
        return Err(Error::usage(format!(
            "{} is not a folder, so {} cannot be created inside it",
            anc.display(),
            root.display()
        )));
    }
    let probe = anc.join(format!(".hhgitops-probe-{}", uuid::Uuid::new_v4().simple()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            Ok(())
        }
        Err(e) => Err(Error::usage(format!(
            "cannot write in {} ({e}): choose a writable --path or fix the permissions",
            anc.display()
        ))),
    }
}
