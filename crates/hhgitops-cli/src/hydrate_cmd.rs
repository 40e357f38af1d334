//! `hydrate`, `fabric set`, and the settings part of `fabric show`.

use hhgitops_engine::config::{read_config_file, with_config, with_hydrate, EffectiveSettings};
use hhgitops_engine::hydration::{hydrate_files, HydrateMode};
use hhgitops_engine::{Engine, Error};

use crate::cli::{FabricOptionArgs, FabricSetArgs, HydrateArgs};
use crate::output::{print_json, EXIT_OK, EXIT_REJECTED};

/// The fabric's options with what `--hydrate` and `--fabric-config` give.
pub fn option_changes(
    options: &serde_json::Value,
    a: &FabricOptionArgs,
) -> Result<serde_json::Value, Error> {
    let mut o = options.clone();
    if let Some(h) = &a.hydrate {
        o = with_hydrate(&o, HydrateMode::parse(h)?);
    }
    if let Some(path) = &a.fabric_config {
        o = with_config(&o, &read_config_file(path)?);
    }
    Ok(o)
}

pub async fn fabric_set(engine: &Engine, a: FabricSetArgs) -> Result<u8, Error> {
    if a.path.is_some() || a.git_url.is_some() {
        return Err(Error::usage(
            "a fabric's GitOps root and Git remote cannot be changed: `fabric remove` it and `fabric add` it again (its files stay)",
        ));
    }
    let f = engine.fabric(&a.name).await?;
    let registry = engine.registry();
    let mut changed = Vec::new();
    if a.kubeconfig.is_some() || a.context.is_some() {
        let kubeconfig = match &a.kubeconfig {
            Some(k) => Some(hhgitops_engine::home::absolute(k)?),
            None => f.kubeconfig.clone(),
        };
        let context = a.context.clone().or(f.kube_context.clone());
        registry
            .set_target(&f.name, kubeconfig.as_deref(), context.as_deref())
            .await?;
        changed.push("Kubernetes target");
    }
    let options = option_changes(&f.options, &a.options)?;
    if options != f.options {
        registry.set_options(&f.name, &options).await?;
        if a.options.hydrate.is_some() {
            changed.push("hydration mode");
        }
        if a.options.fabric_config.is_some() {
            changed.push("fabric configuration");
        }
    }
    if a.server.sync_interval.is_some() || a.server.webhook_secret_env.is_some() {
        crate::serve_cmd::apply_server_options(engine, &f.name, &a.server).await?;
        changed.push("server options");
    }
    if changed.is_empty() {
        println!("fabric {}: nothing changed", f.name);
    } else {
        println!("fabric {}: set {}", f.name, changed.join(", "));
    }
    Ok(EXIT_OK)
}

/// `settings` of `fabric show --json`: every setting with its value and source.
pub fn settings_json(eff: &EffectiveSettings) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (name, src) in &eff.sources {
        m.insert(
            (*name).to_string(),
            serde_json::json!({
                "value": hhgitops_core::fabric_config::setting_value(&eff.settings, name),
                "source": src.as_str(),
            }),
        );
    }
    serde_json::json!({
        "values": m,
        "config": eff.stored.as_ref().map(|s| serde_json::json!({
            "source": s.source, "from": s.from, "readAt": s.read_at,
        })),
    })
}

pub fn print_settings(eff: &EffectiveSettings) {
    match &eff.stored {
        Some(s) => println!(
            "fabric config: {} ({}, read {})",
            s.from, s.source, s.read_at
        ),
        None => println!("fabric config: none (fabricator defaults)"),
    }
    println!("settings:");
    for name in hhgitops_core::fabric_config::SETTING_NAMES {
        let src = eff.sources.get(name).map_or("default", |s| s.as_str());
        let v = hhgitops_core::fabric_config::setting_value(&eff.settings, name);
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {name:<26} {text:<40} {src}");
    }
}

pub async fn hydrate(engine: &Engine, a: HydrateArgs) -> Result<u8, Error> {
    let fabric = match &a.fabric {
        Some(n) => Some(engine.fabric(n).await?),
        None => None,
    };
    let files = a.files.clone();
    let fab = a.fab.clone();
    let config = a.fabric_config.clone();
    let run = tokio::task::spawn_blocking(move || {
        hydrate_files(&files, fabric.as_ref(), fab.as_deref(), config.as_deref())
    })
    .await
    .map_err(|e| Error::Runtime(e.to_string()))??;
    if run.ok() {
        if let Some(out) = &a.output {
            hhgitops_engine::atomic::write_atomic(out, run.documents.as_bytes())?;
        }
    }
    if a.json {
        let mut j = serde_json::to_value(&run).map_err(|e| Error::Runtime(e.to_string()))?;
        if a.output.is_none() && run.ok() {
            j["documents"] = serde_json::json!(run.documents);
        }
        print_json(&j);
    } else {
        for e in &run.errors {
            eprintln!("{}", e.display(""));
        }
        if run.ok() {
            if a.output.is_none() {
                print!("{}", run.documents);
            }
            let kept = run.report.as_ref().map_or(0, |r| r.already_hydrated);
            eprintln!(
                "hydrated {} object(s): {} value(s) allocated, {} object(s) already hydrated (input was {})",
                run.objects, run.allocated, kept, run.status_before
            );
        }
    }
    Ok(if run.ok() { EXIT_OK } else { EXIT_REJECTED })
}
