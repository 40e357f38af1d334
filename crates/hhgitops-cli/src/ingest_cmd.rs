//! `ingest`, `validate`, `status`, `delete`, `reindex`: presentation of the engine's reports.

use std::io::IsTerminal;
use std::time::Duration;

use hhgitops_engine::ingest::{
    ingest as run_ingest, FileStatus, IngestOptions, IngestReport, DEFAULT_MAX_FILE_SIZE,
};
use hhgitops_engine::txn::Failpoint;
use hhgitops_engine::{Engine, Error};

use crate::cli::{
    DeleteArgs, FabricArg, IngestArgs, OnboardArgs, StatusArgs, SyncArgs, ValidateArgs,
};
use crate::commands::selected_fabrics;
use crate::output::{print_json, EXIT_OK, EXIT_REJECTED};

/// Test-only crash injection (see `hhgitops_engine::txn::Failpoint`).
pub fn failpoint() -> Failpoint {
    Failpoint(
        std::env::var("HHGITOPS_FAILPOINT")
            .ok()
            .filter(|s| !s.is_empty()),
    )
}

/// How long to wait for another process working on the same fabric (`HHGITOPS_LOCK_TIMEOUT`, seconds).
pub fn lock_timeout() -> Result<Duration, Error> {
    match std::env::var("HHGITOPS_LOCK_TIMEOUT") {
        Ok(v) if !v.is_empty() => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| Error::usage(format!("HHGITOPS_LOCK_TIMEOUT={v:?}: expected seconds"))),
        _ => Ok(Duration::from_secs(60)),
    }
}

fn spinner(enabled: bool, msg: String) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    Some(pb)
}

pub async fn ingest(engine: &Engine, a: IngestArgs) -> Result<u8, Error> {
    if a.watch {
        return crate::watch_cmd::watch(engine, a).await;
    }
    let fabrics = selected_fabrics(engine, &a.select).await?;
    let opts = IngestOptions {
        dry_run: a.dry_run,
        only: a.file.as_ref().map(|f| vec![f.clone()]),
        max_file_size: a.max_file_size.unwrap_or(DEFAULT_MAX_FILE_SIZE),
        failpoint: failpoint(),
        lock_timeout: lock_timeout()?,
    };
    let mut reports = Vec::new();
    let mut code = EXIT_OK;
    for f in &fabrics {
        let pb = spinner(!a.json, format!("ingesting {}", f.name));
        let report = run_ingest(engine, f, &opts).await;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let report = report?;
        if report.has_rejections() {
            code = EXIT_REJECTED;
        }
        if !a.json {
            print_ingest(&report);
            crate::commands::print_git(&f.name, report.git.as_ref());
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
    Ok(code)
}

fn counts(list: &[String], sign: char) -> Vec<String> {
    let mut per: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for o in list {
        *per.entry(o.split('/').next().unwrap_or("")).or_default() += 1;
    }
    per.into_iter()
        .map(|(k, n)| format!("{sign}{n} {k}"))
        .collect()
}

pub fn print_ingest(r: &IngestReport) {
    let prefix = if r.dry_run { "dry run: " } else { "" };
    if r.recovery.rolled_forward + r.recovery.discarded > 0 {
        println!(
            "{}: recovered an interrupted run ({} completed, {} discarded)",
            r.fabric, r.recovery.rolled_forward, r.recovery.discarded
        );
    }
    for f in &r.files {
        let mut parts = counts(&f.created, '+');
        parts.extend(counts(&f.updated, '~'));
        match f.status {
            FileStatus::Ingested | FileStatus::Unchanged => {
                let what = if f.status == FileStatus::Ingested {
                    "ingested"
                } else {
                    "unchanged"
                };
                let objs = if parts.is_empty() {
                    format!("{} object(s) unchanged", f.unchanged.len())
                } else {
                    parts.join(" ")
                };
                let arch = f
                    .archived_to
                    .as_deref()
                    .map(|a| format!(", archived to {a}"))
                    .unwrap_or_default();
                println!("{prefix}{}: {what}, {objs}{arch}", f.file);
            }
            FileStatus::Rejected => {
                let again = if f.previously_rejected {
                    " (unchanged since it was rejected)"
                } else {
                    ""
                };
                println!(
                    "{prefix}{}: rejected{again}, {} error(s)",
                    f.file,
                    f.errors.len()
                );
                for e in &f.errors {
                    eprintln!("{}", e.display(&f.file));
                }
            }
            FileStatus::Skipped => {
                println!(
                    "{prefix}{}: skipped: {}",
                    f.file,
                    f.note.as_deref().unwrap_or("")
                );
            }
        }
    }
    for x in &r.refused {
        println!("{prefix}{}: refused: {}", x.file, x.reason);
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
            println!("{prefix}managed objects {what}: {}", list.join(", "));
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
    let files = a.files.clone();
    let f2 = fabric.clone();
    let report = tokio::task::spawn_blocking(move || {
        hhgitops_engine::check::validate_files(&files, f2.as_ref())
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
            println!("  pending: {}", r.pending.join(", "));
        }
        for x in &r.rejected {
            println!(
                "  rejected: {} ({} error(s), at {})",
                x.file, x.error_count, x.rejected_at
            );
            for e in &x.errors {
                let rec: Result<hhgitops_engine::ingest::ErrorRecord, _> =
                    serde_json::from_value(e.clone());
                if let Ok(rec) = rec {
                    println!("    {}", rec.display(&x.file));
                }
            }
        }
        for x in &r.refused {
            println!("  refused: {}: {}", x.file, x.reason);
        }
        for run in &r.last_runs {
            println!(
                "  run {} {} {}: {}",
                run.started_at, run.operation, run.outcome, run.message
            );
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
    println!("deleted {} ({})", r.object, r.file);
    Ok(EXIT_OK)
}

pub async fn reindex(engine: &Engine, a: FabricArg) -> Result<u8, Error> {
    let fabric = engine.fabric(&a.fabric).await?;
    let r = hhgitops_engine::maintain::reindex(engine, &fabric).await?;
    if a.json {
        print_json(&r);
    } else {
        println!("{}: indexed {} object(s)", r.fabric, r.indexed);
        for d in &r.invalid {
            eprintln!("{d}");
        }
        for f in &r.not_in_manifest {
            println!("  not in the manifest: {f}");
        }
        for f in &r.missing_files {
            println!("  in the manifest, file missing: {f}");
        }
        for f in &r.edited {
            println!("  edited by hand: {f}");
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
    };
    let opts = IngestOptions {
        failpoint: failpoint(),
        lock_timeout: lock_timeout()?,
        ..IngestOptions::default()
    };
    let r = engine.onboard(&spec, &opts).await?;
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

/// `sync`: pull, ensure the layout, ingest, commit and push; then the Kubernetes half when a target is set.
pub async fn sync(engine: &Engine, a: SyncArgs) -> Result<u8, Error> {
    let fabric = engine.fabric(&a.fabric).await?;
    let opts = IngestOptions {
        dry_run: a.dry_run,
        failpoint: failpoint(),
        lock_timeout: lock_timeout()?,
        ..IngestOptions::default()
    };
    if !a.dry_run {
        let (init, git) = engine.init(&fabric).await?;
        if !a.json {
            for action in &init.actions {
                println!("{}: {action}", fabric.name);
            }
            crate::commands::print_git(&fabric.name, git.as_ref());
        }
    }
    let report = run_ingest(engine, &fabric, &opts).await?;
    if a.json {
        print_json(&serde_json::json!({ "fabric": fabric.name, "ingest": report, "apply": null }));
    } else {
        print_ingest(&report);
        crate::commands::print_git(&fabric.name, report.git.as_ref());
        if fabric.kubeconfig.is_none() {
            println!(
                "{}: no Kubernetes target configured (fabric add --kubeconfig): apply skipped",
                fabric.name
            );
        }
    }
    Ok(if report.has_rejections() {
        EXIT_REJECTED
    } else {
        EXIT_OK
    })
}
