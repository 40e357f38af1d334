//! `ingest`, `validate`, `status`, `delete`, `reindex`: presentation of the engine's reports.

use hhgitops_engine::ingest::{ingest as run_ingest, FileStatus, IngestOptions, IngestReport};
use hhgitops_engine::{Engine, Error};

use crate::cli::selected_fabrics;
use crate::cli::{
    DeleteArgs, FabricArg, IngestArgs, OnboardArgs, StatusArgs, SyncArgs, ValidateArgs,
};
use crate::hooks::{after_read_hook, failpoint};
use crate::output::{accepted_summary, print_json, shown, EXIT_OK, EXIT_REJECTED};

pub async fn ingest(engine: &Engine, a: IngestArgs) -> Result<u8, Error> {
    if a.watch {
        return crate::watch_cmd::watch(engine, a).await;
    }
    let fabrics = selected_fabrics(engine, &a.select).await?;
    let opts = IngestOptions {
        dry_run: a.dry_run,
        only: a.file.as_ref().map(|f| vec![f.clone()]),
        failpoint: failpoint(),
        after_read: after_read_hook(),
        ..IngestOptions::from_settings(engine.settings())
    };
    let bars = crate::progress_bar::Bars::new(a.json);
    // Fabrics in parallel, up to the engine's bound; each fabric is one operation (its lock), and the reports
    // are printed in registry order once all are done.
    let tasks: Vec<_> = fabrics
        .iter()
        .map(|f| {
            let engine = engine.clone();
            let f = f.clone();
            let opts = IngestOptions {
                progress: bars.progress(&format!("ingest {}", f.name)),
                ..opts.clone()
            };
            // `ingest` opens the operation's span itself.
            tokio::spawn(async move {
                let _slot = engine.fabric_slot().await?;
                run_ingest(&engine, &f, &opts).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(match t.await {
            Ok(r) => r,
            Err(e) => Err(Error::Runtime(format!("ingestion task failed: {e}"))),
        });
    }
    bars.finish();
    let mut reports = Vec::new();
    let mut code = EXIT_OK;
    let mut first_error = None;
    for (f, report) in fabrics.iter().zip(results) {
        let report = match report {
            Ok(r) => r,
            Err(e) if fabrics.len() > 1 => {
                // One fabric failing does not hide what the others did.
                eprintln!("hhgitops: error: {}: {e}", f.name);
                first_error.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        if report.has_rejections() {
            code = code.max(EXIT_REJECTED);
        }
        if !a.json {
            print_ingest(&report);
            crate::output::print_git(&f.name, report.git.as_ref());
        }
        if let Some(e) = &report.git_error {
            if report.validated_only {
                eprintln!(
                    "hhgitops: error: {}: nothing written, raw files only validated: {}; see `hhgitops status --fabric {}`",
                    f.name,
                    shown(e),
                    f.name
                );
            } else {
                eprintln!("hhgitops: error: {}: ingested, but {}", f.name, shown(e));
            }
            code = crate::output::EXIT_RUNTIME;
        }
        reports.push(report);
    }
    if a.json {
        if a.select.all {
            print_json(&serde_json::json!({ "fabrics": reports }));
        } else if let Some(r) = reports.first() {
            print_json(r);
        }
    }
    match first_error {
        Some(e) if reports.is_empty() => Err(e),
        Some(e) => Ok(code.max(crate::output::exit_code_of(&e))),
        None => Ok(code),
    }
}

pub fn print_ingest(r: &IngestReport) {
    let prefix = if r.validated_only {
        "validated only: "
    } else if r.dry_run {
        "dry run: "
    } else {
        ""
    };
    if r.recovery.rolled_forward + r.recovery.discarded > 0 {
        println!(
            "{}: recovered an interrupted run ({} completed, {} discarded)",
            r.fabric, r.recovery.rolled_forward, r.recovery.discarded
        );
    }
    for m in &r.recovery.refused {
        eprintln!("hhgitops: warning: {}: {m}", r.fabric);
    }
    for m in &r.recovery.resolved {
        eprintln!("hhgitops: warning: {}: {m}", r.fabric);
    }
    for f in &r.files {
        match f.status {
            FileStatus::Ingested | FileStatus::Unchanged => {
                let outcome = accepted_summary(f);
                let arch = f
                    .archived_to
                    .as_deref()
                    .map(|a| format!(", archived to {a}"))
                    .unwrap_or_default();
                println!("{prefix}{}: {outcome}{}", shown(&f.file), shown(&arch));
            }
            FileStatus::Rejected => {
                let again = if f.previously_rejected {
                    " (unchanged since it was rejected)"
                } else {
                    ""
                };
                println!(
                    "{prefix}{}: rejected{again}, {} error(s)",
                    shown(&f.file),
                    f.errors.len()
                );
                for e in &f.errors {
                    eprintln!("{}", e.display(&f.file));
                }
            }
            FileStatus::Skipped => {
                println!(
                    "{prefix}{}: skipped: {}",
                    shown(&f.file),
                    shown(f.note.as_deref().unwrap_or(""))
                );
            }
        }
    }
    for x in &r.refused {
        println!("{prefix}{}: refused: {}", shown(&x.file), shown(&x.reason));
    }
    for e in &r.managed.errors {
        eprintln!("{e}");
    }
    for (what, list) in [
        ("edited by hand", &r.managed.edited),
        ("added by hand", &r.managed.adopted),
        ("removed by hand", &r.managed.removed),
    ] {
        if !list.is_empty() {
            println!(
                "{prefix}managed objects {what}: {}",
                shown(&list.join(", "))
            );
        }
    }
    let s = &r.summary;
    println!(
        "{prefix}{}: {} file(s): {} ingested, {} unchanged, {} rejected, {} skipped; objects: {} created, {} updated, {} unchanged, {} deleted; {} check(s) unchecked",
        r.fabric, s.files, s.ingested, s.unchanged, s.rejected, s.skipped, s.created, s.updated, s.unchanged_objects, s.deleted, s.unchecked
    );
}

pub async fn validate(engine: &Engine, a: ValidateArgs) -> Result<u8, Error> {
    let fabric = match &a.fabric {
        Some(n) => Some(engine.fabric(n).await?),
        None => None,
    };
    if fabric.is_none() && a.files.is_empty() {
        return Err(Error::usage(
            "give files to validate, or --fabric NAME to validate its managed state",
        ));
    }
    if a.show_defaulted {
        return show_defaulted(&a, fabric.as_ref());
    }
    let files = a.files.clone();
    let f2 = fabric.clone();
    let config = a.fabric_config.clone();
    let report = tokio::task::spawn_blocking(move || {
        hhgitops_engine::check::validate_files_with(&files, f2.as_ref(), config.as_deref())
    })
    .await
    .map_err(|e| Error::Runtime(e.to_string()))??;
    if a.json {
        print_json(&report);
    } else {
        for f in &report.files {
            for e in &f.errors {
                eprintln!("{}", e.display(&f.file));
            }
        }
        for e in &report.managed_errors {
            eprintln!("{e}");
        }
        let bad = report.files.iter().filter(|f| !f.valid).count();
        let errors: usize = report.files.iter().map(|f| f.errors.len()).sum();
        if bad == 0 {
            println!(
                "valid: {} file(s), {} object(s), {} check(s) unchecked",
                report.files.len(),
                report.objects,
                report.unchecked
            );
        } else {
            println!(
                "invalid: {bad} of {} file(s), {errors} error(s)",
                report.files.len()
            );
        }
    }
    Ok(if report.valid() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    })
}

/// `validate --show-defaulted FILE...`: every object of the files as the fabric will store it, on standard
/// output; the files' errors on standard error (exit 2 when any file is invalid).
fn show_defaulted(
    a: &ValidateArgs,
    fabric: Option<&hhgitops_engine::fabric::Fabric>,
) -> Result<u8, Error> {
    if a.files.is_empty() {
        return Err(Error::usage("--show-defaulted needs the files to show"));
    }
    let settings = match fabric {
        Some(f) => hhgitops_engine::config::fabric_settings(f)?,
        None => hhgitops_core::settings::FabricSettings::default(),
    };
    let mut code = EXIT_OK;
    let mut streams = Vec::new();
    for file in &a.files {
        let bytes = std::fs::read(file)
            .map_err(|e| Error::usage(format!("cannot read {}: {e}", file.display())))?;
        let name = file.display().to_string();
        let report = hhgitops_core::validate::parse_source(
            &name,
            &bytes,
            &hhgitops_core::yaml::Limits::default(),
            &settings,
        );
        for e in &report.errors {
            eprintln!("{e}");
        }
        if !report.is_valid() {
            code = EXIT_REJECTED;
        }
        if !report.objects.is_empty() {
            streams.push(hhgitops_core::defaults::defaulted_stream(&report));
        }
    }
    print!("{}", streams.join("---\n"));
    Ok(code)
}

pub async fn status(engine: &Engine, a: StatusArgs) -> Result<u8, Error> {
    let fabrics = match &a.fabric {
        Some(n) => vec![engine.fabric(n).await?],
        None => engine.fabrics().await?,
    };
    let mut reports = Vec::new();
    for f in &fabrics {
        reports.push(hhgitops_engine::status::status(engine, f).await?);
    }
    if a.json {
        if a.fabric.is_some() {
            print_json(&reports[0]);
        } else {
            print_json(&serde_json::json!({ "fabrics": reports }));
        }
        return Ok(EXIT_OK);
    }
    for r in &reports {
        println!(
            "fabric {} ({}): {} managed object(s)",
            r.fabric, r.root, r.total
        );
        for (k, n) in &r.counts {
            println!("  {k}: {n}");
        }
        if !r.pending.is_empty() {
            println!("  pending: {}", shown(&r.pending.join(", ")));
        }
        for x in &r.rejected {
            println!(
                "  rejected: {} ({} error(s), at {})",
                shown(&x.file),
                x.error_count,
                x.rejected_at
            );
            if !x.cause.is_empty() {
                println!("    cause: {}; validated again {}", x.cause, x.retried_when);
            }
            for e in &x.errors {
                let rec: Result<hhgitops_engine::ingest::ErrorRecord, _> =
                    serde_json::from_value(e.clone());
                if let Ok(rec) = rec {
                    println!("    {}", rec.display(&x.file));
                }
            }
        }
        for x in &r.refused {
            println!("  refused: {}: {}", shown(&x.file), shown(&x.reason));
        }
        for run in &r.last_runs {
            println!(
                "  run {} {} {}: {}",
                run.started_at,
                run.operation,
                run.outcome,
                shown(&run.message)
            );
        }
        if let Some(g) = &r.git {
            let upstream = g
                .upstream
                .as_deref()
                .map(|u| format!(" → {u}"))
                .unwrap_or_default();
            println!(
                "  git: {} branch {}{upstream}, {} ahead, {} behind",
                shown(&g.workdir),
                g.branch.as_deref().unwrap_or("(none)"),
                g.ahead,
                g.behind
            );
            if g.blocked {
                println!(
                    "  git blocked: a conflict with the remote; this clone's commits are kept on {}",
                    g.conflict_branch.as_deref().unwrap_or("a conflict branch")
                );
            }
            for step in &g.steps {
                println!("    - {}", shown(step));
            }
        }
    }
    Ok(EXIT_OK)
}

pub async fn delete(engine: &Engine, a: DeleteArgs) -> Result<u8, Error> {
    let fabric = engine.fabric(&a.fabric).await?;
    let (kind, name) = hhgitops_engine::maintain::parse_object_ref(&a.object)?;
    let r = hhgitops_engine::maintain::delete_object(engine, &fabric, kind, &name, &failpoint())
        .await?;
    if !r.deleted {
        eprintln!(
            "hhgitops: error: {} is still referred to; delete or change these first:",
            r.object
        );
        for d in &r.blocked_by {
            eprintln!("{d}");
        }
        return Ok(EXIT_REJECTED);
    }
    println!("deleted {} ({})", shown(&r.object), shown(&r.file));
    Ok(EXIT_OK)
}

pub async fn reindex(engine: &Engine, a: FabricArg) -> Result<u8, Error> {
    let fabric = engine.fabric(&a.fabric).await?;
    let bars = crate::progress_bar::Bars::new(a.json);
    let r = hhgitops_engine::maintain::reindex_with(
        engine,
        &fabric,
        bars.progress(&format!("reindex {}", fabric.name)),
    )
    .await;
    bars.finish();
    let r = r?;
    if a.json {
        print_json(&r);
    } else {
        println!("{}: indexed {} object(s)", r.fabric, r.indexed);
        for d in &r.invalid {
            eprintln!("{d}");
        }
        for f in &r.not_in_manifest {
            println!("  not in the manifest: {}", shown(f));
        }
        for f in &r.missing_files {
            println!("  in the manifest, file missing: {}", shown(f));
        }
        for f in &r.edited {
            println!("  edited by hand: {}", shown(f));
        }
    }
    Ok(if r.is_clean() { EXIT_OK } else { EXIT_REJECTED })
}

pub async fn onboard(engine: &Engine, a: OnboardArgs) -> Result<u8, Error> {
    let spec = hhgitops_engine::fabric::FabricSpec {
        name: a.name,
        path: None,
        git_url: Some(a.git_url),
        git_branch: a.branch,
        git_path: a.git_path,
        git_token_env: a.git_token_env,
        kubeconfig: a.kubeconfig,
        kube_context: a.context,
        options: None,
    };
    let bars = crate::progress_bar::Bars::new(a.json);
    let opts = IngestOptions {
        failpoint: failpoint(),
        progress: bars.progress(&format!("onboard {}", spec.name)),
        ..IngestOptions::from_settings(engine.settings())
    };
    let r = engine.onboard(&spec, &opts).await;
    bars.finish();
    let r = r?;
    if a.json {
        print_json(&r);
    } else {
        for step in &r.steps {
            println!("{}: {step}", r.fabric.name);
        }
        for f in &r.ingest.files {
            if f.status == FileStatus::Rejected {
                for e in &f.errors {
                    eprintln!("{}", e.display(&f.file));
                }
            }
        }
    }
    Ok(if r.ingest.has_rejections() {
        EXIT_REJECTED
    } else {
        EXIT_OK
    })
}

/// `sync`: pull, ensure the layout, ingest, commit and push; then apply (and prune) when a target is set.
pub async fn sync(engine: &Engine, a: SyncArgs) -> Result<u8, Error> {
    use hhgitops_engine::sync::{sync_fabric, SyncOptions};
    let fabric = engine.fabric(&a.fabric).await?;
    let (fabric, _) = hhgitops_engine::config::refresh_from_cluster(
        engine,
        &fabric,
        &engine.settings().kube,
        !a.dry_run,
    )
    .await?;
    let bars = crate::progress_bar::Bars::new(a.json);
    let progress = bars.progress(&format!("sync {}", fabric.name));
    let opts = SyncOptions {
        ingest: IngestOptions {
            dry_run: a.dry_run,
            failpoint: failpoint(),
            progress: progress.clone(),
            ..IngestOptions::from_settings(engine.settings())
        },
        prune: a.prune,
        adopt: a.adopt,
        client: engine.settings().kube.clone(),
        progress,
    };
    let report = sync_fabric(engine, &fabric, &opts).await;
    bars.finish();
    let report = report?;
    if a.json {
        print_json(&report);
    } else {
        if let Some(init) = &report.init {
            for action in &init.actions {
                println!("{}: {action}", fabric.name);
            }
        }
        crate::output::print_git(&fabric.name, report.init_git.as_ref());
        print_ingest(&report.ingest);
        crate::output::print_git(&fabric.name, report.ingest.git.as_ref());
        if let Some(why) = &report.apply_skipped {
            println!("{}: {why}: apply skipped", fabric.name);
        }
        if let Some(apply) = &report.apply {
            print_apply(apply);
        }
    }
    if let Some((class, msg)) = report.apply_failure() {
        eprintln!("hhgitops: error: {msg}");
        return Ok(crate::output::exit_code_of_class(class));
    }
    if let Some(msg) = report.failed() {
        eprintln!("hhgitops: error: sync of {} stopped: {msg}", fabric.name);
        return Ok(crate::output::EXIT_RUNTIME);
    }
    Ok(if report.has_rejections() {
        EXIT_REJECTED
    } else {
        EXIT_OK
    })
}

fn print_apply(r: &hhgitops_engine::sync::ApplyReport) {
    use hhgitops_kube::{Action, Status};
    let prefix = if r.dry_run { "dry run: " } else { "" };
    for d in &r.invalid {
        eprintln!("{d}");
    }
    for o in &r.objects {
        let what = match (o.status, o.action) {
            (Status::Unchanged, _) if !r.dry_run => continue,
            (Status::Unchanged, _) => "unchanged".to_string(),
            (Status::Applied, Action::Create) => "created".to_string(),
            (Status::Applied, _) => "updated".to_string(),
            (Status::Deleted, _) => "deleted (pruned)".to_string(),
            (Status::Planned, Action::Create) => "would create".to_string(),
            (Status::Planned, Action::Prune) => "would delete (prune)".to_string(),
            (Status::Planned, _) => "would update".to_string(),
            (Status::Kept, _) => "prune (not deleted)".to_string(),
            (Status::Rejected, _) => format!(
                "rejected{}",
                o.code.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            (Status::Failed, _) => "failed".to_string(),
            (Status::Skipped, _) => "skipped".to_string(),
            (Status::NotAttempted, _) => "not attempted".to_string(),
            (Status::Conflict, _) => "conflict".to_string(),
        };
        let fields: Vec<String> = o.fields.iter().map(|f| f.describe()).collect();
        let mut line = format!("{prefix}{}/{}: {what}", o.kind, o.name);
        if !fields.is_empty() && o.action == Action::Update {
            line.push_str(&format!(" [{}]", fields.join(", ")));
        }
        if let Some(m) = &o.message {
            line.push_str(&format!(": {m}"));
        }
        if matches!(
            o.status,
            Status::Rejected | Status::Failed | Status::Conflict
        ) {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    for u in &r.unmanaged {
        if u.status == hhgitops_core::diff::DriftStatus::Unmanaged {
            let other = u
                .fabric
                .as_deref()
                .map(|f| format!(" (labelled as fabric {f}'s)"))
                .unwrap_or_default();
            println!(
                "{prefix}{}/{}: unmanaged: in the cluster, not in Git{other}; left alone",
                u.kind, u.name
            );
        }
    }
    let s = &r.summary;
    println!(
        "{prefix}{}: {}: {} created, {} updated, {} unchanged, {} deleted, {} not pruned, {} planned, {} rejected, {} skipped, {} failed, {} conflict(s)",
        r.fabric, r.cluster, s.created, s.updated, s.unchanged, s.deleted, s.kept, s.planned, s.rejected, s.skipped, s.failed, s.conflict
    );
}

/// `drift`: per object, in sync or not; exit 1 when anything is not.
pub async fn drift(engine: &Engine, a: crate::cli::DriftArgs) -> Result<u8, Error> {
    use hhgitops_core::diff::DriftStatus;
    let fabric = engine.fabric(&a.fabric).await?;
    let (fabric, _) = hhgitops_engine::config::refresh_from_cluster(
        engine,
        &fabric,
        &engine.settings().kube,
        true,
    )
    .await?;
    let r = hhgitops_engine::sync::drift(
        engine,
        &fabric,
        &engine.settings().kube,
        engine.settings().lock_timeout,
    )
    .await?;
    if a.json {
        print_json(&r);
    } else {
        for d in &r.invalid {
            eprintln!("{d}");
        }
        for e in &r.objects {
            let detail = match e.status {
                DriftStatus::InSync | DriftStatus::Builtin => continue,
                DriftStatus::Drifted => {
                    // One line per differing field, each naming its object, so that `grep` finds it whole.
                    for f in &e.fields {
                        println!(
                            "{} {}/{}: {}",
                            e.status.as_str(),
                            e.kind,
                            crate::output::shown(&e.name),
                            f.describe()
                        );
                    }
                    continue;
                }
                DriftStatus::Missing => "in Git, not in the cluster".into(),
                DriftStatus::Extra => {
                    "labelled as this fabric's, no longer in Git (sync --prune deletes it)".into()
                }
                DriftStatus::Conflict => format!(
                    "in Git, but the cluster's object carries the label of fabric {}: two fabrics claim it (sync leaves it alone; sync --adopt takes it over)",
                    e.fabric.as_deref().unwrap_or("another fabric")
                ),
                DriftStatus::Unmanaged => match &e.fabric {
                    Some(f) => format!("in the cluster, not in Git (labelled as fabric {f}'s)"),
                    None => "in the cluster, not in Git".into(),
                },
            };
            println!(
                "{} {}/{}: {detail}",
                e.status.as_str(),
                e.kind,
                crate::output::shown(&e.name)
            );
        }
        let s = &r.summary;
        if s.adopt > 0 {
            println!(
                "{}: {} object(s) in sync but not yet labelled as this fabric's: the next sync adopts them",
                r.fabric, s.adopt
            );
        }
        println!(
            "{}: {}: {} in sync, {} drifted, {} missing, {} extra, {} unmanaged, {} conflict(s){}",
            r.fabric,
            r.cluster,
            s.in_sync,
            s.drifted,
            s.missing,
            s.extra,
            s.unmanaged,
            s.conflict,
            if r.drift { "" } else { ": no drift" }
        );
    }
    Ok(if r.drift { EXIT_REJECTED } else { EXIT_OK })
}

/// `import --from-cluster`: the cluster's objects into managed/, one commit.
pub async fn import(engine: &Engine, a: crate::cli::ImportArgs) -> Result<u8, Error> {
    let fabric = engine.fabric(&a.fabric).await?;
    let bars = crate::progress_bar::Bars::new(a.json);
    let opts = hhgitops_engine::sync::ImportOptions {
        client: engine.settings().kube.clone(),
        lock_timeout: engine.settings().lock_timeout,
        failpoint: failpoint(),
        cancel: Default::default(),
        progress: bars.progress(&format!("import {}", fabric.name)),
    };
    let r = hhgitops_engine::sync::import_from_cluster(engine, &fabric, &opts).await;
    bars.finish();
    let r = r?;
    if a.json {
        print_json(&r);
    } else {
        for x in &r.rejected {
            for e in &x.errors {
                eprintln!(
                    "{}: {}",
                    x.object,
                    e.display(&format!("cluster:{}", x.object))
                );
            }
        }
        for x in &r.skipped {
            println!("{}: skipped: {}", x.object, x.reason);
        }
        let s = &r.summary;
        println!(
            "{}: imported from {}: {} object(s): {} created, {} updated, {} unchanged, {} rejected, {} skipped",
            r.fabric, r.cluster, s.objects, s.created, s.updated, s.unchanged, s.rejected, s.skipped
        );
        if !r.not_in_cluster.is_empty() {
            println!(
                "{}: {} managed object(s) are not in the cluster (kept; sync creates them)",
                r.fabric,
                r.not_in_cluster.len()
            );
        }
        crate::output::print_git(&fabric.name, r.git.as_ref());
    }
    Ok(if r.has_rejections() {
        EXIT_REJECTED
    } else {
        EXIT_OK
    })
}
