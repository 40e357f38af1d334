//! Running jobs: worker tasks claim jobs from the [`JobStore`], run them through the engine (the
//! [`adapter`](crate::adapter)), store their progress and events, and finish them. A heartbeat task renews the
//! leases of this replica's running jobs, turns cancellation requests (from any replica) into the job's
//! cancellation token, and marks jobs whose lease ran out `interrupted`.
//!
//! Shutdown: workers stop claiming, running jobs are asked to stop at their next safe point; the server waits
//! a bounded grace for them. A job cut off that way is `interrupted` (the engine's journal makes the fabric
//! whole on its next operation).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hhgitops_engine::Engine;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::adapter::{run_operation, JobFailure, OpSettings};
use crate::jobs::{Job, JobState, JobStore, JobType};

/// How long a claim holds without a heartbeat.
pub const LEASE_SECS: i64 = 30;
const HEARTBEAT: Duration = Duration::from_secs(3);

/// What a running job reports to and learns from.
pub struct JobCtx {
    pub job: Job,
    store: JobStore,
    cancel: CancellationToken,
    progress: tokio::sync::Mutex<serde_json::Value>,
    bump: watch::Sender<u64>,
    stage_started: Mutex<HashMap<String, Instant>>,
}

impl JobCtx {
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// A stage started or ended (`state`: `started` or `done`); stored as progress and as an event.
    pub async fn stage(&self, stage: &str, state: &str, detail: serde_json::Value) {
        let mut ev = serde_json::json!({"stage": stage, "state": state});
        if let (Some(obj), serde_json::Value::Object(d)) = (ev.as_object_mut(), detail) {
            for (k, v) in d {
                obj.insert(k, v);
            }
        }
        {
            let mut stages = self.stage_started.lock().unwrap_or_else(|e| e.into_inner());
            if state == "started" {
                stages.insert(stage.to_string(), Instant::now());
            } else if let Some(t) = stages.remove(stage) {
                let secs = t.elapsed().as_secs_f64();
                metrics::histogram!("hhgitops_stage_duration_seconds", "stage" => stage.to_string())
                    .record(secs);
                ev["seconds"] = serde_json::json!(secs);
            }
        }
        let snapshot = {
            let mut p = self.progress.lock().await;
            p[stage] = ev.clone();
            p.clone()
        };
        if let Err(e) = self.store.set_progress(&self.job.id, &snapshot).await {
            tracing::warn!(job = %self.job.id, error = %e, "cannot store progress");
        }
        if let Err(e) = self.store.append_event(&self.job.id, "progress", &ev).await {
            tracing::warn!(job = %self.job.id, error = %e, "cannot store event");
        }
        self.bump.send_modify(|n| *n += 1);
    }
}

/// The job workers of this process.
pub struct Runner {
    pub engine: Engine,
    pub store: JobStore,
    pub settings: OpSettings,
    /// This replica's id (`owner` of the jobs it runs).
    pub owner: String,
    pub notify: Arc<Notify>,
    pub bump: watch::Sender<u64>,
    running: Mutex<HashMap<String, CancellationToken>>,
    pub shutdown: CancellationToken,
}

impl Runner {
    pub fn new(
        engine: Engine,
        store: JobStore,
        settings: OpSettings,
        bump: watch::Sender<u64>,
    ) -> Runner {
        Runner {
            engine,
            store,
            settings,
            owner: format!(
                "{}-{}",
                hostname(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            notify: Arc::new(Notify::new()),
            bump,
            running: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        }
    }

    /// Starts `workers` workers and the heartbeat.
    pub fn spawn(self: &Arc<Self>, workers: usize) -> Vec<JoinHandle<()>> {
        let mut out: Vec<JoinHandle<()>> = (0..workers.max(1))
            .map(|_| tokio::spawn(self.clone().worker()))
            .collect();
        out.push(tokio::spawn(self.clone().heartbeat()));
        out
    }

    /// Number of jobs running in this process.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Cancels a job running in this process at its next safe point (other replicas learn it by heartbeat).
    pub fn cancel_local(&self, id: &str) {
        if let Some(t) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            t.cancel();
        }
    }

    /// Asks every running job of this process to stop at its next safe point, and stops claiming.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
        for t in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            t.cancel();
        }
        self.notify.notify_waiters();
    }

    async fn worker(self: Arc<Self>) {
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            match self.store.claim(&self.owner, LEASE_SECS).await {
                Ok(Some(job)) => {
                    self.run(job).await;
                    // Another job of the same fabric may be claimable now.
                    self.notify.notify_one();
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = self.shutdown.cancelled() => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim jobs");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = self.shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn heartbeat(self: Arc<Self>) {
        let mut last_reap = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = self.shutdown.cancelled() => {}
            }
            match self.store.heartbeat(&self.owner, LEASE_SECS).await {
                Ok(cancel) => {
                    let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                    for id in cancel {
                        if let Some(t) = running.get(&id) {
                            t.cancel();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "job heartbeat failed"),
            }
            if self.shutdown.is_cancelled() && self.running() == 0 {
                return;
            }
            if last_reap.elapsed() >= Duration::from_secs(5) {
                last_reap = Instant::now();
                match self.store.mark_interrupted(true).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::warn!(jobs = ?ids, "jobs of a replica that stopped answering marked interrupted");
                        self.bump.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot check job leases"),
                }
            }
        }
    }

    /// Runs one claimed job to its end.
    pub async fn run(&self, job: Job) {
        let span = tracing::info_span!("job", job = %job.id, fabric = %job.fabric, r#type = job.job_type.as_str());
        let _enter = span.enter();
        let started = Instant::now();
        let cancel = CancellationToken::new();
        if job.cancel_requested || self.shutdown.is_cancelled() {
            cancel.cancel();
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job.id.clone(), cancel.clone());
        let ctx = JobCtx {
            job: job.clone(),
            store: self.store.clone(),
            cancel,
            progress: tokio::sync::Mutex::new(serde_json::json!({})),
            bump: self.bump.clone(),
            stage_started: Mutex::new(HashMap::new()),
        };
        tracing::info!(actor = %job.actor, "job started");
        let _ = self
            .store
            .append_event(
                &job.id,
                "log",
                &serde_json::json!({"message": "started", "owner": self.owner}),
            )
            .await;
        self.bump.send_modify(|n| *n += 1);
        let outcome = match self.engine.fabric(&job.fabric).await {
            Err(e) => Err(JobFailure::from(e)),
            Ok(fabric) => {
                let taken = self.taken_by_watcher(&job).await;
                match taken {
                    Some(result) => Ok(result),
                    None => {
                        run_operation(
                            &self.engine,
                            &fabric,
                            job.job_type,
                            &job.params,
                            &self.settings,
                            &ctx,
                        )
                        .await
                    }
                }
            }
        };
        let (state, result, error) = match outcome {
            Ok(r) => (JobState::Succeeded, Some(r), None),
            Err(JobFailure::Cancelled(done)) => {
                if self.shutdown.is_cancelled() && !self.cancel_was_requested(&job.id).await {
                    (
                        JobState::Interrupted,
                        Some(done),
                        Some(
                            serde_json::json!({"code": "interrupted", "message": "the server shut down; the job stopped at a safe point", "details": null}),
                        ),
                    )
                } else {
                    (
                        JobState::Cancelled,
                        Some(done),
                        Some(
                            serde_json::json!({"code": "cancelled", "message": "cancelled at a safe point", "details": null}),
                        ),
                    )
                }
            }
            Err(JobFailure::Failed(e, done)) => (
                JobState::Failed,
                done,
                Some(
                    serde_json::json!({"code": e.code, "message": e.message, "details": e.details, "status": e.status.as_u16()}),
                ),
            ),
        };
        if let Err(e) = self
            .store
            .finish(&job.id, state, result.as_ref(), error.as_ref())
            .await
        {
            tracing::error!(error = %e, "cannot record the end of the job");
        }
        if let Ok(Some(done)) = self.store.get(&job.id).await {
            let _ = self
                .store
                .append_event(
                    &job.id,
                    "result",
                    &serde_json::to_value(&done).unwrap_or_default(),
                )
                .await;
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job.id);
        self.bump.send_modify(|n| *n += 1);
        metrics::counter!("hhgitops_jobs_total", "type" => job.job_type.as_str(), "outcome" => state.as_str(), "fabric" => job.fabric.clone())
            .increment(1);
        metrics::histogram!("hhgitops_job_duration_seconds", "type" => job.job_type.as_str())
            .record(started.elapsed().as_secs_f64());
        tracing::info!(
            state = state.as_str(),
            ms = started.elapsed().as_millis() as u64,
            "job finished"
        );
    }

    async fn cancel_was_requested(&self, id: &str) -> bool {
        matches!(self.store.get(id).await, Ok(Some(j)) if j.cancel_requested)
    }

    /// An upload's ingestion whose file the fabric's watcher took first: the watcher's report of that file.
    async fn taken_by_watcher(&self, job: &Job) -> Option<serde_json::Value> {
        if job.job_type != JobType::Ingest || job.params.dry_run || job.params.files.is_empty() {
            return None;
        }
        let fabric = self.engine.fabric(&job.fabric).await.ok()?;
        let root = hhgitops_engine::layout::GitOpsRoot::new(&fabric.root);
        if job.params.files.iter().any(|f| root.abs(f).exists()) {
            return None;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let filter = crate::jobs::JobFilter {
                fabric: Some(job.fabric.clone()),
                job_type: Some(JobType::Ingest),
                state: None,
            };
            if let Ok((jobs, _)) = self.store.list(&filter, 20, 0).await {
                for j in jobs.iter().filter(|j| j.actor == "watcher") {
                    let files = j
                        .result
                        .as_ref()
                        .and_then(|r| r.get("files"))
                        .and_then(|f| f.as_array());
                    let found = files.and_then(|fs| {
                        fs.iter().find(|f| {
                            job.params
                                .files
                                .iter()
                                .any(|p| f.get("file").and_then(|x| x.as_str()) == Some(p))
                        })
                    });
                    if let Some(f) = found {
                        return Some(serde_json::json!({
                            "fabric": job.fabric,
                            "takenBy": {"job": j.id, "actor": "watcher"},
                            "files": [f],
                        }));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "hhgitops".into())
}
