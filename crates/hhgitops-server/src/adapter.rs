//! The thin layer between the server and the engine's API: running an operation for a job (its stages, the
//! engine's progress events as the job's progress, the job's cancellation token in every long engine call),
//! validating uploaded bytes, fabric options, and the mapping of engine errors to HTTP statuses.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::{parse_source, validate_state};
use hhgitops_core::yaml;
use hhgitops_engine::check::{FileValidation, ValidationReport};
use hhgitops_engine::config::fabric_settings;
use hhgitops_engine::fabric::Fabric;
use hhgitops_engine::ingest::IngestOptions;
use hhgitops_engine::layout::GitOpsRoot;
use hhgitops_engine::managed::{load as load_managed, relocate};
use hhgitops_engine::records::{read_manifest, ManifestState};
use hhgitops_engine::report::ErrorRecord;
use hhgitops_engine::{Engine, Error};

use crate::error::ApiError;
use crate::jobs::{JobParams, JobType};
use crate::runner::JobCtx;

/// The HTTP status of an engine error, by its class (never by its wording).
pub fn api_error(e: &Error) -> ApiError {
    use hhgitops_engine::ErrorClass;
    let msg = e.to_string();
    match e.class() {
        ErrorClass::Usage => ApiError::invalid(msg),
        ErrorClass::NotFound => ApiError::not_found(msg),
        ErrorClass::Rejected => ApiError::unprocessable(msg),
        ErrorClass::Conflict => ApiError::conflict(msg),
        ErrorClass::Git => ApiError::new(StatusCode::BAD_GATEWAY, "git", msg),
        ErrorClass::Cluster => ApiError::new(StatusCode::BAD_GATEWAY, "cluster", msg),
        ErrorClass::Database => ApiError::unavailable(msg),
        ErrorClass::Io => ApiError::internal(msg),
    }
}

/// Why a job did not succeed.
#[derive(Debug)]
pub enum JobFailure {
    /// Stopped at a safe point; what was done so far.
    Cancelled(serde_json::Value),
    Failed(Box<ApiError>, Option<serde_json::Value>),
}

impl From<Error> for JobFailure {
    fn from(e: Error) -> Self {
        match e {
            // The engine stopped at a safe point because the job was cancelled: nothing was written.
            Error::Cancelled(_) => JobFailure::Cancelled(serde_json::json!({})),
            e => JobFailure::Failed(Box::new(api_error(&e)), None),
        }
    }
}

/// Settings of the operations the server runs.
#[derive(Debug, Clone)]
pub struct OpSettings {
    pub lock_timeout: Duration,
    pub client: hhgitops_kube::ClientSettings,
    pub max_file_size: u64,
    /// Test hook of the ingestions the server runs (see [`IngestOptions::after_read`]); `None` in releases.
    pub after_read: Option<hhgitops_engine::ingest::AfterRead>,
}

impl From<&hhgitops_engine::Settings> for OpSettings {
    fn from(s: &hhgitops_engine::Settings) -> Self {
        OpSettings {
            lock_timeout: s.lock_timeout,
            client: s.kube.clone(),
            max_file_size: s.max_file_size,
            after_read: None,
        }
    }
}

impl Default for OpSettings {
    fn default() -> Self {
        OpSettings::from(&hhgitops_engine::Settings::default())
    }
}

/// A stage the engine stopped at a safe point because the job was cancelled is `cancelled` in the progress.
async fn stage_outcome<T>(sink: &JobCtx, stage: &str, r: Result<T, Error>) -> Result<T, Error> {
    if let Err(Error::Cancelled(_)) = &r {
        sink.stage(stage, "cancelled", serde_json::json!({})).await;
    }
    r
}

/// An engine error after part of a job was done: the job failed, or was cancelled at a safe point, with `done`.
fn failure_after(e: Error, done: &serde_json::Value) -> JobFailure {
    match JobFailure::from(e) {
        JobFailure::Cancelled(_) => JobFailure::Cancelled(done.clone()),
        JobFailure::Failed(e, _) => JobFailure::Failed(e, Some(done.clone())),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn check_cancel(sink: &JobCtx, done: &serde_json::Value) -> Result<(), JobFailure> {
    if sink.cancel_token().is_cancelled() {
        Err(JobFailure::Cancelled(done.clone()))
    } else {
        Ok(())
    }
}

/// Runs one job's operation. Cancellation is honoured before each stage and, inside the engine's ingestion,
/// import and apply, at their own safe points (never in the middle of a write). The engine's progress events
/// become the job's progress and `progress` events ([`crate::progress`]): each engine call's are all written
/// before the job's stage that made it reports `done`.
pub async fn run_operation(
    engine: &Engine,
    fabric: &Fabric,
    job_type: JobType,
    params: &JobParams,
    settings: &OpSettings,
    sink: &JobCtx,
) -> Result<serde_json::Value, JobFailure> {
    let work = run_in_span(engine, fabric, job_type, params, settings, sink);
    hhgitops_engine::progress::in_operation(job_type.as_str(), &fabric.name, work).await
}

async fn run_in_span(
    engine: &Engine,
    fabric: &Fabric,
    job_type: JobType,
    params: &JobParams,
    settings: &OpSettings,
    sink: &JobCtx,
) -> Result<serde_json::Value, JobFailure> {
    let root = GitOpsRoot::new(&fabric.root);
    let ingest_opts = IngestOptions {
        dry_run: params.dry_run,
        only: if params.files.is_empty() {
            None
        } else {
            Some(
                params
                    .files
                    .iter()
                    .map(|f| root.abs(f))
                    .collect::<Vec<PathBuf>>(),
            )
        },
        max_file_size: settings.max_file_size,
        lock_timeout: settings.lock_timeout,
        after_read: settings.after_read.clone(),
        cancel: sink.cancel_token().clone(),
        ..IngestOptions::default()
    };
    let mut done = serde_json::json!({});
    check_cancel(sink, &done)?;
    match job_type {
        JobType::Init => {
            sink.stage("layout", "started", serde_json::json!({})).await;
            let (report, git) = engine.init(fabric, false).await?;
            let out = serde_json::json!({"init": to_json(&report), "git": to_json(&git)});
            sink.stage(
                "layout",
                "done",
                serde_json::json!({"actions": report.actions.len()}),
            )
            .await;
            Ok(out)
        }
        JobType::Ingest => {
            sink.stage("ingest", "started", serde_json::json!({})).await;
            let progress = sink.engine_progress();
            let opts = IngestOptions {
                progress: progress.progress(),
                ..ingest_opts
            };
            let report = hhgitops_engine::ingest::ingest(engine, fabric, &opts).await;
            progress.finish().await;
            let report = stage_outcome(sink, "ingest", report).await?;
            sink.stage("ingest", "done", ingest_counts(&report)).await;
            Ok(to_json(&report))
        }
        JobType::Sync => {
            use hhgitops_engine::sync::{apply_fabric, target_of, ApplyOptions};
            if !params.dry_run {
                sink.stage("layout", "started", serde_json::json!({})).await;
                let (r, g) = engine.init(fabric, false).await?;
                done["init"] = to_json(&r);
                done["initGit"] = to_json(&g);
                sink.stage(
                    "layout",
                    "done",
                    serde_json::json!({"actions": r.actions.len()}),
                )
                .await;
                check_cancel(sink, &done)?;
            }
            sink.stage("ingest", "started", serde_json::json!({})).await;
            let progress = sink.engine_progress();
            let opts = IngestOptions {
                progress: progress.progress(),
                ..ingest_opts
            };
            let report = hhgitops_engine::ingest::ingest(engine, fabric, &opts).await;
            progress.finish().await;
            let report = stage_outcome(sink, "ingest", report)
                .await
                .map_err(|e| failure_after(e, &done))?;
            sink.stage("ingest", "done", ingest_counts(&report)).await;
            done["ingest"] = to_json(&report);
            if let Some(e) = &report.git_error {
                return Err(JobFailure::Failed(
                    Box::new(ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "git",
                        format!("not applied: the ingestion was not pushed: {e}"),
                    )),
                    Some(done),
                ));
            }
            if !target_of(fabric).is_configured() {
                done["applySkipped"] = serde_json::json!("no Kubernetes target configured");
                return Ok(done);
            }
            check_cancel(sink, &done)?;
            sink.stage("apply", "started", serde_json::json!({})).await;
            let progress = sink.engine_progress();
            let opts = ApplyOptions {
                dry_run: params.dry_run,
                prune: params.prune,
                adopt: false,
                client: settings.client.clone(),
                lock_timeout: settings.lock_timeout,
                cancel: sink.cancel_token().clone(),
                progress: progress.progress(),
            };
            let preview = params.dry_run.then(|| report.clone());
            let applied = apply_fabric(engine, fabric, &opts, preview).await;
            progress.finish().await;
            match applied {
                Ok(a) => {
                    sink.stage(
                        "apply",
                        "done",
                        serde_json::json!({"objects": a.objects.len(), "summary": to_json(&a.summary)}),
                    )
                    .await;
                    let aborted = a.aborted.clone();
                    done["apply"] = to_json(&a);
                    if let Some(reason) = aborted {
                        return Err(JobFailure::Failed(
                            Box::new(ApiError::new(StatusCode::BAD_GATEWAY, "cluster", reason)),
                            Some(done),
                        ));
                    }
                    Ok(done)
                }
                Err(e) => Err(JobFailure::Failed(Box::new(api_error(&e)), Some(done))),
            }
        }
        JobType::Drift => {
            sink.stage("drift", "started", serde_json::json!({})).await;
            let r = hhgitops_engine::sync::drift(
                engine,
                fabric,
                &settings.client,
                settings.lock_timeout,
            )
            .await?;
            sink.stage(
                "drift",
                "done",
                serde_json::json!({"objects": r.objects.len()}),
            )
            .await;
            Ok(to_json(&r))
        }
        JobType::Import => {
            sink.stage("import", "started", serde_json::json!({})).await;
            let progress = sink.engine_progress();
            let opts = hhgitops_engine::sync::ImportOptions {
                client: settings.client.clone(),
                lock_timeout: settings.lock_timeout,
                failpoint: Default::default(),
                cancel: sink.cancel_token().clone(),
                progress: progress.progress(),
            };
            let r = hhgitops_engine::sync::import_from_cluster(engine, fabric, &opts).await;
            progress.finish().await;
            let r = r?;
            sink.stage("import", "done", to_json(&r.summary)).await;
            Ok(to_json(&r))
        }
    }
}

fn ingest_counts(r: &hhgitops_engine::ingest::IngestReport) -> serde_json::Value {
    serde_json::json!({
        "done": r.files.len(),
        "total": r.files.len(),
        "summary": to_json(&r.summary),
    })
}

/// Validates named YAML sources (e.g. `raw/x.yaml` and its bytes) as one state; with a fabric, over its
/// managed state. Writes nothing. Blocking: call from `spawn_blocking`.
pub fn validate_sources(
    fabric: Option<&Fabric>,
    sources: &[(String, Vec<u8>)],
    max_bytes: u64,
) -> Result<ValidationReport, Error> {
    let settings = match fabric {
        Some(f) => fabric_settings(f)?,
        None => FabricSettings::default(),
    };
    let limits = yaml::Limits {
        max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        ..yaml::Limits::default()
    };
    let mut state = hhgitops_core::state::FabricState::new();
    if let Some(f) = fabric {
        let root = GitOpsRoot::new(&f.root);
        let manifest = match read_manifest(&root.sandbox()?)? {
            ManifestState::Current(m) => m,
            _ => hhgitops_engine::records::Manifest::new(&f.name),
        };
        let managed = load_managed(&root, &manifest, &settings)?;
        state = managed.state;
    }
    let mut reports = Vec::new();
    for (name, bytes) in sources {
        let rep = parse_source(name, bytes, &limits, &settings);
        state.insert_report(name, &rep);
        reports.push(FileValidation {
            file: name.clone(),
            valid: rep.errors.is_empty(),
            documents: rep.documents,
            errors: rep
                .errors
                .iter()
                .map(|d| ErrorRecord::from_diag(d, name))
                .collect(),
        });
    }
    let mut result = validate_state(&state, &settings);
    if let Some(f) = fabric {
        relocate(&GitOpsRoot::new(&f.root), &mut result.errors);
    }
    let mut managed_errors = Vec::new();
    for d in result.errors {
        match reports.iter_mut().find(|r| r.file == d.file) {
            Some(r) => {
                r.valid = false;
                let file = r.file.clone();
                r.errors.push(ErrorRecord::from_diag(&d, &file));
            }
            None => managed_errors.push(d),
        }
    }
    Ok(ValidationReport {
        objects: state.len(),
        files: reports,
        unchecked: result.unchecked,
        managed_errors,
    })
}

/// Changes keys of a fabric's options (`syncInterval`, `webhookSecretEnv`, …); `null` removes a key.
pub async fn set_fabric_options(
    engine: &Engine,
    name: &str,
    changes: &serde_json::Map<String, serde_json::Value>,
) -> Result<Fabric, Error> {
    let fabric = engine.fabric(name).await?;
    let mut options = match fabric.options {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    for (k, v) in changes {
        if v.is_null() {
            options.remove(k);
        } else {
            options.insert(k.clone(), v.clone());
        }
    }
    sqlx::query("UPDATE fabrics SET options = $1 WHERE name = $2")
        .bind(serde_json::Value::Object(options).to_string())
        .bind(name)
        .execute(engine.db().pool())
        .await?;
    engine.fabric(name).await
}

/// Sets a fabric's Kubernetes target columns.
pub async fn set_fabric_target(
    engine: &Engine,
    name: &str,
    kubeconfig: Option<Option<String>>,
    context: Option<Option<String>>,
) -> Result<(), Error> {
    if let Some(k) = kubeconfig {
        let k = match k {
            Some(p) => Some(
                hhgitops_engine::home::absolute(std::path::Path::new(&p))?
                    .to_string_lossy()
                    .into_owned(),
            ),
            None => None,
        };
        sqlx::query("UPDATE fabrics SET kubeconfig = $1 WHERE name = $2")
            .bind(k)
            .bind(name)
            .execute(engine.db().pool())
            .await?;
    }
    if let Some(c) = context {
        sqlx::query("UPDATE fabrics SET kube_context = $1 WHERE name = $2")
            .bind(c)
            .bind(name)
            .execute(engine.db().pool())
            .await?;
    }
    Ok(())
}

/// A fabric's periodic sync interval (option `syncInterval`), if set.
pub fn sync_interval(fabric: &Fabric) -> Option<Duration> {
    fabric
        .options
        .get("syncInterval")
        .and_then(|v| v.as_str())
        .and_then(crate::tokens::parse_duration)
        .map(Duration::from_secs)
}

/// The environment variable holding a fabric's webhook secret (option `webhookSecretEnv`).
pub fn webhook_secret_env(fabric: &Fabric) -> Option<String> {
    fabric
        .options
        .get("webhookSecretEnv")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// One commit of a fabric's Git history, for the pages.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: String,
    pub author: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    pub subject: String,
}

/// Up to `max` commits, newest first, that touched `rel` (a path relative to the GitOps root), or the root as a
/// whole. Empty when the root is not in Git or has no commit yet. Blocking (runs `git log`, never the network).
pub fn file_history(
    root: &std::path::Path,
    rel: Option<&str>,
    max: usize,
) -> Result<Vec<CommitInfo>, String> {
    let Some(found) = hhgitops_git::GitRepo::discover(root).map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    if found.repo.head().map_err(|e| e.to_string())?.is_none() {
        return Ok(Vec::new());
    }
    let target = match rel {
        Some(r) => root.join(r),
        None => root.to_path_buf(),
    };
    let out = found
        .repo
        .command()
        .args(["log", "-z", "--no-color", "--no-show-signature"])
        .arg(format!("--max-count={max}"))
        .arg("--format=%H%x1f%an%x1f%at%x1f%s")
        .arg("HEAD")
        .arg("--")
        .arg(target)
        .run()
        .map_err(|e| e.to_string())?;
    Ok(out
        .stdout_text()
        .split('\0')
        .filter_map(|rec| {
            let f: Vec<&str> = rec.trim_start_matches('\n').splitn(4, '\x1f').collect();
            (f.len() == 4).then(|| CommitInfo {
                id: f[0].to_string(),
                author: f[1].to_string(),
                time: f[2].trim().parse().unwrap_or_default(),
                subject: f[3].trim_end().to_string(),
            })
        })
        .collect())
}

/// The newest commit of each fabric's root, read (`git log`) once per status the status cache computed: a
/// commit comes with a run (which makes the cache compute the status again) or, made by another program, is
/// seen when the status is (within its maximum age), so the fabric page shows the commit and the Git state of
/// one moment without running `git` on every request.
#[derive(Default)]
pub struct LastCommits(std::sync::Mutex<std::collections::HashMap<String, LastCommit>>);

/// A fabric's newest commit and the status it was read with (held weakly: a newer status means a new read).
type LastCommit = (
    std::sync::Weak<hhgitops_engine::status::StatusReport>,
    Option<CommitInfo>,
);

impl LastCommits {
    /// The newest commit of `fabric` as of the status `st` (from the cache, or `git log` once).
    pub async fn get(
        &self,
        fabric: &Fabric,
        st: Option<&std::sync::Arc<hhgitops_engine::status::StatusReport>>,
    ) -> Option<CommitInfo> {
        if let Some(st) = st {
            let cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((of, commit)) = cached.get(&fabric.name) {
                if of.upgrade().is_some_and(|r| std::sync::Arc::ptr_eq(&r, st)) {
                    return commit.clone();
                }
            }
        }
        let root = fabric.root.clone();
        let commit = tokio::task::spawn_blocking(move || file_history(&root, None, 1))
            .await
            .ok()?
            .ok()?
            .into_iter()
            .next();
        if let Some(st) = st {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(
                fabric.name.clone(),
                (std::sync::Arc::downgrade(st), commit.clone()),
            );
        }
        commit
    }

    /// Forgets a fabric (removed from the registry).
    pub fn forget(&self, fabric: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fabric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_comes_from_the_class_not_the_wording() {
        let cases = [
            // Same words, different classes: the class decides.
            (Error::usage("refers to something"), StatusCode::BAD_REQUEST),
            (Error::Conflict("plain words".into()), StatusCode::CONFLICT),
            (
                Error::Busy("fabric \"f\" is busy".into()),
                StatusCode::CONFLICT,
            ),
            (
                Error::NotFound("VPC/a is not managed".into()),
                StatusCode::NOT_FOUND,
            ),
            (Error::UnknownFabric("f".into()), StatusCode::NOT_FOUND),
            (
                Error::Rejected("invalid".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (Error::Git("push failed".into()), StatusCode::BAD_GATEWAY),
            (
                Error::Sql(sqlx::Error::PoolTimedOut),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Error::Runtime("lock task".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (Error::Cancelled("stopped".into()), StatusCode::CONFLICT),
        ];
        for (e, status) in cases {
            assert_eq!(api_error(&e).status, status, "{e}");
        }
    }
}
