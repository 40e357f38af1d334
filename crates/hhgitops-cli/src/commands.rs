//! One function per command: call the engine, print the result, return the exit code.

use std::path::PathBuf;

use hhgitops_engine::fabric::{Fabric, FabricSpec};
use hhgitops_engine::home::Home;
use hhgitops_engine::settings::{SettingFlags, Settings};
use hhgitops_engine::{Engine, Error};

use crate::cli::{selected_fabrics, Args, Command, FabricCommand, InitArgs};
use crate::output::{
    print_git, print_hnp, print_json, print_loose, report_error, EXIT_OK, EXIT_REJECTED,
};

pub async fn run(args: Args) -> u8 {
    let database = database_file(&args);
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let e = match dispatch(args).await {
        Ok(code) => return code,
        // Damaged pages found by a query after the database was opened: name the file.
        Err(Error::DatabaseDamaged { path: None, detail }) => Error::DatabaseDamaged {
            path: database,
            detail,
        },
        Err(e) => e,
    };
    if json {
        crate::output::print_json_error(&e);
    }
    report_error(&e)
}

/// The SQLite file this invocation uses, when it uses one.
fn database_file(args: &Args) -> Option<String> {
    let url = match &args.database {
        Some(u) if !u.trim().is_empty() => u.clone(),
        _ => resolve_home(args.home.clone()).ok()?.default_database_url(),
    };
    hhgitops_engine::db::sqlite_path(&url)
}

fn resolve_home(explicit: Option<PathBuf>) -> Result<Home, Error> {
    let xdg = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
    let user = std::env::var_os("HOME").map(PathBuf::from);
    Home::resolve(explicit.as_deref(), xdg.as_deref(), user.as_deref())
}

/// The one place the CLI turns its setting flags and the `HHGITOPS_*` variables into [`Settings`].
pub fn resolve_settings(args: &Args) -> Result<Settings, Error> {
    let a = &args.settings;
    let flags = SettingFlags {
        lock_timeout: a.lock_timeout.clone(),
        kube_timeout: a.kube_timeout.clone(),
        kube_concurrency: a.kube_concurrency.clone(),
        git_author: a.git_author.clone(),
        git_bulk_min: a.git_bulk_min.clone(),
        max_file_size: a.max_file_size.clone(),
        jobs: a.jobs.clone(),
        sync_interval: match &args.command {
            Command::Serve(s) => s.sync_interval.clone(),
            _ => None,
        },
    };
    #[allow(unused_mut)]
    let mut settings = Settings::resolve(&flags, |k| std::env::var(k).ok())?;
    #[cfg(feature = "test-hooks")]
    if let Ok(cmd) = std::env::var("HHGITOPS_TEST_BEFORE_PUSH") {
        // Test-only: run a shell command between the commit and the push, to move the remote at that moment.
        if !cmd.is_empty() {
            settings.git.before_push = Some(std::sync::Arc::new(move || {
                let _ = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .status();
            }));
        }
    }
    Ok(settings)
}

async fn dispatch(args: Args) -> Result<u8, Error> {
    let settings = resolve_settings(&args)?;
    let home = resolve_home(args.home)?;
    let engine = Engine::open(home, args.database.as_deref())
        .await?
        .with_settings(settings);
    match args.command {
        Command::Fabric(cmd) => fabric(&engine, cmd).await,
        Command::Init(a) => init(&engine, a).await,
        Command::Ingest(a) => crate::ingest_cmd::ingest(&engine, a).await,
        Command::Validate(a) => crate::ingest_cmd::validate(&engine, a).await,
        Command::Hydrate(a) => crate::hydrate_cmd::hydrate(&engine, a).await,
        Command::Status(a) => crate::ingest_cmd::status(&engine, a).await,
        Command::Delete(a) => crate::ingest_cmd::delete(&engine, a).await,
        Command::Sync(a) => crate::ingest_cmd::sync(&engine, a).await,
        Command::Drift(a) => crate::ingest_cmd::drift(&engine, a).await,
        Command::Import(a) => crate::ingest_cmd::import(&engine, a).await,
        Command::Onboard(a) => crate::ingest_cmd::onboard(&engine, a).await,
        Command::Reindex(a) => crate::ingest_cmd::reindex(&engine, a).await,
        Command::Serve(a) => crate::serve_cmd::serve(engine, a).await,
        Command::Token(c) => crate::serve_cmd::token(&engine, c).await,
    }
}

async fn fabric(engine: &Engine, cmd: FabricCommand) -> Result<u8, Error> {
    match cmd {
        FabricCommand::Add(a) => {
            let spec = FabricSpec {
                name: a.name,
                path: a.source.path,
                git_url: a.source.git_url,
                git_branch: a.source.branch,
                git_path: a.source.git_path,
                git_token_env: a.source.git_token_env,
                kubeconfig: a.kubeconfig,
                kube_context: a.context,
                options: Some(crate::hydrate_cmd::option_changes(
                    &serde_json::json!({}),
                    &a.options,
                )?),
            };
            let report = engine.add_fabric(&spec).await?;
            crate::serve_cmd::apply_server_options(engine, &report.fabric.name, &a.server).await?;
            println!(
                "added fabric {} at {} ({})",
                report.fabric.name,
                report.fabric.root.display(),
                report.fabric.root_rule.describe()
            );
            if let Some(init) = &report.init {
                for action in &init.actions {
                    println!("  {action}");
                }
                for w in &init.warnings {
                    eprintln!("hhgitops: warning: {w}");
                }
                print_loose(&report.fabric.name, &init.loose);
                print_hnp(&report.fabric.name, &init.hnp);
            }
            print_git(&report.fabric.name, report.git.as_ref());
            if let Some(note) = &report.note {
                println!("  {note}");
            }
            Ok(EXIT_OK)
        }
        FabricCommand::Set(a) => crate::hydrate_cmd::fabric_set(engine, a).await,
        FabricCommand::List(a) => {
            let fabrics = engine.fabrics().await?;
            if a.json {
                return Ok(print_json(
                    &serde_json::json!({ "fabrics": fabrics.iter().map(fabric_json).collect::<Vec<_>>() }),
                ));
            }
            if fabrics.is_empty() {
                println!("no fabrics registered (add one with `hhgitops fabric add NAME`)");
            }
            for f in &fabrics {
                let remote = f
                    .git
                    .as_ref()
                    .map(|g| format!("  git {}", g.url))
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{}{remote}",
                    f.name,
                    f.root.display(),
                    f.root_rule.as_str()
                );
            }
            Ok(EXIT_OK)
        }
        FabricCommand::Show(a) => {
            let mut f = engine.fabric(&a.name).await?;
            let mut refresh = None;
            if a.refresh {
                let (updated, r) = hhgitops_engine::config::refresh_from_cluster(
                    engine,
                    &f,
                    &engine.settings().kube,
                    true,
                )
                .await?;
                f = updated;
                refresh = Some(r);
            }
            let eff = hhgitops_engine::config::effective_settings(&f)?;
            if a.json {
                let mut j = fabric_json(&f);
                j["rootState"] = serde_json::to_value(engine.root_state(&f)).unwrap_or_default();
                j["settings"] = crate::hydrate_cmd::settings_json(&eff);
                j["hydrate"] =
                    serde_json::json!(hhgitops_engine::hydration::hydrate_mode(&f)?.as_str());
                if let Some(r) = refresh {
                    j["refresh"] = serde_json::json!(r);
                }
                return Ok(print_json(&j));
            }
            println!("fabric:     {}", f.name);
            println!("root:       {}", f.root.display());
            println!("root rule:  {}", f.root_rule.describe());
            println!(
                "root state: {}",
                describe_root_state(&engine.root_state(&f))
            );
            if let Some(g) = &f.git {
                println!("git url:    {}", g.url);
                println!(
                    "branch:     {}",
                    g.branch.as_deref().unwrap_or("(remote default)")
                );
                println!("git path:   {}", g.path);
                if let Some(v) = &g.token_env {
                    println!("token env:  {v}");
                }
            }
            if let Some(k) = &f.kubeconfig {
                println!("kubeconfig: {}", k.display());
            }
            if let Some(c) = &f.kube_context {
                println!("context:    {c}");
            }
            println!("added:      {}", f.created_at);
            println!(
                "hydrate:    {}",
                hhgitops_engine::hydration::hydrate_mode(&f)?.as_str()
            );
            if let Some(r) = refresh {
                println!(
                    "refresh:    {}",
                    serde_json::json!(r).as_str().unwrap_or("")
                );
            }
            crate::hydrate_cmd::print_settings(&eff);
            Ok(EXIT_OK)
        }
        FabricCommand::Remove(a) => {
            let f = engine.remove_fabric(&a.name).await?;
            println!(
                "removed fabric {} (files at {} were left in place)",
                f.name,
                f.root.display()
            );
            Ok(EXIT_OK)
        }
    }
}

/// One line about what this process finds at a fabric's root.
fn describe_root_state(state: &hhgitops_engine::fabric::RootState) -> String {
    use hhgitops_engine::fabric::RootState;
    match state {
        RootState::Ready => "ready".into(),
        RootState::NotCloned { clone } => format!(
            "not cloned in this home yet (the next ingest or sync clones it into {})",
            clone.display()
        ),
        RootState::Missing => "missing: the folder does not exist on this machine".into(),
        RootState::NotInitialized => "no layout yet (run `hhgitops init`)".into(),
        RootState::OtherFabric { manifest_fabric } => format!(
            "not this fabric's root: its .hnp/manifest.yaml names fabric {manifest_fabric:?}"
        ),
        RootState::Unusable { message } => format!("unusable: {message}"),
    }
}

/// The stable JSON form of a fabric (documented in docs/json.md).
fn fabric_json(f: &Fabric) -> serde_json::Value {
    serde_json::json!({
        "name": f.name,
        "root": f.root,
        "rootRule": f.root_rule.as_str(),
        "rootRuleDescription": f.root_rule.describe(),
        "path": f.path,
        "git": f.git.as_ref().map(|g| serde_json::json!({
            "url": g.url, "branch": g.branch, "path": g.path, "tokenEnv": g.token_env,
        })),
        "kubeconfig": f.kubeconfig,
        "context": f.kube_context,
        "createdAt": f.created_at,
    })
}

async fn init(engine: &Engine, a: InitArgs) -> Result<u8, Error> {
    let fabrics = selected_fabrics(engine, &a.select).await?;
    let mut code = EXIT_OK;
    for f in &fabrics {
        if a.check {
            let problems = engine.check(f).await?;
            if problems.is_empty() {
                println!("{}: layout complete at {}", f.name, f.root.display());
            } else {
                code = EXIT_REJECTED;
                println!(
                    "{}: {} problem(s) at {}",
                    f.name,
                    problems.len(),
                    f.root.display()
                );
                for p in &problems {
                    println!("  {p}");
                }
            }
        } else if a.dry_run {
            let plan = engine.plan_init(f, a.migrate).await?;
            if plan.is_noop() && plan.blocking.is_empty() {
                println!("{}: nothing to do", f.name);
            }
            for action in &plan.actions {
                println!("{}: would {action}", f.name);
            }
            print_loose(&f.name, &plan.loose);
            print_hnp(&f.name, &plan.hnp);
            for p in plan.blocking.iter().chain(&plan.warnings) {
                eprintln!("hhgitops: warning: {}: {p}", f.name);
            }
        } else {
            let (report, git) = engine.init(f, a.migrate).await?;
            print_git(&f.name, git.as_ref());
            if report.actions.is_empty() {
                println!("{}: layout already complete", f.name);
            }
            for action in &report.actions {
                println!("{}: {action}", f.name);
            }
            print_loose(&f.name, &report.loose);
            print_hnp(&f.name, &report.hnp);
            for w in &report.warnings {
                eprintln!("hhgitops: warning: {}: {w}", f.name);
            }
        }
    }
    Ok(code)
}
