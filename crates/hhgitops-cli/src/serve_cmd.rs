//! `serve`, `token` and the server's fabric settings (`fabric set`, and `fabric add --sync-interval …`).

use std::time::Duration;

use hhgitops_engine::{Engine, Error};
use hhgitops_server::tokens::{Scope, TokenStore};

use crate::cli::{ServeArgs, ServerFabricArgs, TokenCommand};
use crate::output::{print_json, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};

fn duration(flag: &str, v: &str) -> Result<Duration, Error> {
    hhgitops_server::tokens::parse_duration(v)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            Error::usage(format!(
                "{flag} {v:?}: expected a duration such as 30s, 10m, 1h"
            ))
        })
}

fn poll_duration(v: &str) -> Result<Duration, Error> {
    if let Some(ms) = v.strip_suffix("ms") {
        return ms
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_millis)
            .ok_or_else(|| Error::usage(format!("--poll {v:?}: expected e.g. 500ms or 2s")));
    }
    duration("--poll", v)
}

pub async fn serve(engine: Engine, a: ServeArgs) -> Result<u8, Error> {
    // SQLite: one server per home; held (and freed by the kernel if this process dies) for the server's lifetime.
    let _home_lock = engine.lock_home_for_serve(&a.listen)?;
    let options = hhgitops_server::ServeOptions {
        listen: a.listen,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        json_logs: a.log_format == "json",
        sync_interval: engine.settings().sync_interval,
        metrics_token_required: a.metrics_token_required,
        watch: !a.no_watch,
        poll: a.poll.as_deref().map(poll_duration).transpose()?,
        workers: a.workers,
        shutdown_grace: Duration::from_secs(a.shutdown_grace),
        ops: hhgitops_server::adapter::OpSettings {
            after_read: crate::hooks::after_read_hook(),
            ..hhgitops_server::adapter::OpSettings::from(engine.settings())
        },
        ..Default::default()
    };
    match hhgitops_server::serve(engine, options).await {
        Ok(()) => Ok(EXIT_OK),
        Err(hhgitops_server::ServeError::Usage(m)) => {
            eprintln!("hhgitops: error: {m}");
            Ok(EXIT_USAGE)
        }
        Err(hhgitops_server::ServeError::Runtime(m)) => {
            eprintln!("hhgitops: error: {m}");
            Ok(EXIT_RUNTIME)
        }
    }
}

pub async fn token(engine: &Engine, cmd: TokenCommand) -> Result<u8, Error> {
    let store = TokenStore::new(engine.db().clone());
    match cmd {
        TokenCommand::Create(a) => {
            let scope = Scope::parse(&a.scope)
                .ok_or_else(|| Error::usage("--scope: read, write or admin"))?;
            let t = store
                .create(&a.name, scope, a.expires.as_deref(), "cli")
                .await
                .map_err(|e| Error::usage(e.message))?;
            if a.json {
                return Ok(print_json(&t));
            }
            eprintln!(
                "token {:?} ({}{}) created; it is shown only now:",
                t.info.name,
                t.info.scope.as_str(),
                t.info
                    .expires_at
                    .as_deref()
                    .map(|e| format!(", expires {e}"))
                    .unwrap_or_default()
            );
            println!("{}", t.token);
            Ok(EXIT_OK)
        }
        TokenCommand::List(a) => {
            let list = store.list().await.map_err(Error::from)?;
            if a.json {
                return Ok(print_json(&serde_json::json!({ "tokens": list })));
            }
            if list.is_empty() {
                println!(
                    "no tokens (make one with `hhgitops token create --name NAME --scope read`)"
                );
            }
            for t in &list {
                println!(
                    "{}\t{}\t{}\tcreated {}\texpires {}\tlast used {}",
                    t.name,
                    t.scope.as_str(),
                    t.state,
                    t.created_at,
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.last_used_at.as_deref().unwrap_or("never")
                );
            }
            Ok(EXIT_OK)
        }
        TokenCommand::Revoke(a) => {
            if store.revoke(&a.name).await.map_err(Error::from)? {
                println!("token {:?} revoked", a.name);
                Ok(EXIT_OK)
            } else {
                Err(Error::usage(format!(
                    "no token named {:?} (see `hhgitops token list`)",
                    a.name
                )))
            }
        }
    }
}

fn empty_is_none(v: &Option<String>) -> Option<Option<String>> {
    v.as_ref().map(|s| {
        if s.is_empty() || s == "off" {
            None
        } else {
            Some(s.clone())
        }
    })
}

/// Stores `--sync-interval` and `--webhook-secret-env` in the fabric's options.
pub async fn apply_server_options(
    engine: &Engine,
    name: &str,
    a: &ServerFabricArgs,
) -> Result<(), Error> {
    let mut changes = serde_json::Map::new();
    if let Some(v) = empty_is_none(&a.sync_interval) {
        if let Some(i) = &v {
            duration("--sync-interval", i)?;
        }
        changes.insert(
            "syncInterval".into(),
            v.map_or(serde_json::Value::Null, Into::into),
        );
    }
    if let Some(v) = empty_is_none(&a.webhook_secret_env) {
        if let Some(e) = &v {
            if !e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(Error::usage(format!(
                    "--webhook-secret-env {e:?} must name an environment variable"
                )));
            }
        }
        changes.insert(
            "webhookSecretEnv".into(),
            v.map_or(serde_json::Value::Null, Into::into),
        );
    }
    if !changes.is_empty() {
        hhgitops_server::adapter::set_fabric_options(engine, name, &changes).await?;
    }
    Ok(())
}
