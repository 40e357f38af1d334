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
use crate::progress::JobProgress;
use crate::replica::DbHealth;

/// How long a claim holds without a heartbeat.
pub const LEASE_SECS: i64 = 15;
const HEARTBEAT: Duration = Duration::from_secs(3);
/// Longest wait for one heartbeat's statements: a database that does not answer counts as unreachable.
const DB_WAIT: Duration = Duration::from_secs(4);
/// After this long without reaching the database, running jobs are asked to stop at their next safe point and
/// go back to the queue (their end could not be recorded, and nobody else may run them before it is).
pub const DB_LOST: Duration = Duration::from_secs(6);

/// What a running job reports to and learns from.
pub struct JobCtx {
    pub job: Job,
    store: JobStore,
    cancel: CancellationToken,
    /// The job's progress document; held while an event is written, so one job's events are written one at a
    /// time (their sequence numbers come from the events before them).
    progress: Arc<tokio::sync::Mutex<serde_json::Value>>,
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
        write_progress(
            &self.store,
            &self.job.id,
            &self.progress,
            &self.bump,
            stage,
            ev,
        )
        .await;
    }

    /// The progress of the engine calls this job makes: give [`JobProgress::progress`] to the engine, and
    /// [`JobProgress::finish`] it when the call returns. Its events are stored under `operation.stage` keys.
    pub fn engine_progress(&self) -> JobProgress {
        let store = self.store.clone();
        let id = self.job.id.clone();
        let doc = self.progress.clone();
        let bump = self.bump.clone();
        JobProgress::start(Arc::new(move |ev: serde_json::Value| {
            let (store, id, doc, bump) = (store.clone(), id.clone(), doc.clone(), bump.clone());
            Box::pin(async move {
                let key = ev["key"].as_str().unwrap_or("engine").to_string();
                write_progress(&store, &id, &doc, &bump, &key, ev).await;
            })
        }))
    }
}

/// Stores `ev` as the job's progress under `key` and as a `progress` event.
async fn write_progress(
    store: &JobStore,
    id: &str,
    doc: &tokio::sync::Mutex<serde_json::Value>,
    bump: &watch::Sender<u64>,
    key: &str,
    ev: serde_json::Value,
) {
    let mut p = doc.lock().await;
    // The document keeps the order stages began in (its keys are sorted).
    let order = match p.get(key) {
        Some(old) => old["order"].clone(),
        None => serde_json::json!(p.as_object().map_or(0, |m| m.len())),
    };
    p[key] = ev.clone();
    p[key]["order"] = order;
    if let Err(e) = store.set_progress(id, &p).await {
        tracing::warn!(job = %id, error = %e, "cannot store progress");
    }
    if let Err(e) = store.append_event(id, "progress", &ev).await {
        tracing::warn!(job = %id, error = %e, "cannot store event");
    }
    drop(p);
    bump.send_modify(|n| *n += 1);
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
    /// Running jobs stopped because the database could not be reached: they go back to the queue.
    db_stopped: Mutex<std::collections::HashSet<String>>,
    /// Whether this process reaches the database (heartbeats, leadership and readiness share it).
    pub health: Arc<DbHealth>,
    pub shutdown: CancellationToken,
    /// Each fabric's status, computed once per change; a job touches its fabric when it starts and before
    /// its end is stored, so whoever learns of the end reads a status computed after it.
    pub status: Arc<hhgitops_engine::status::StatusCache>,
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
                crate::replica::hostname(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            notify: Arc::new(Notify::new()),
            bump,
            running: Mutex::new(HashMap::new()),
            db_stopped: Mutex::new(Default::default()),
            health: Arc::new(DbHealth::new()),
            shutdown: CancellationToken::new(),
            status: Default::default(),
        }
    }

    /// Starts `workers` workers (none: this replica serves the API and runs no jobs) and the heartbeat.
    pub fn spawn(self: &Arc<Self>, workers: usize) -> Vec<JoinHandle<()>> {
        let mut out: Vec<JoinHandle<()>> = (0..workers)
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

    fn running_ids(&self) -> Vec<String> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    async fn heartbeat(self: Arc<Self>) {
        let mut last_reap = Instant::now();
        // Jobs the database says this replica runs that it does not: put back in the queue once seen twice
        // (a claim whose answer is on its way is seen at most once).
        let mut orphans_seen: std::collections::HashSet<String> = Default::default();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = self.shutdown.cancelled() => {}
            }
            let ids = self.running_ids();
            let beat =
                tokio::time::timeout(DB_WAIT, self.store.heartbeat(&self.owner, &ids, LEASE_SECS))
                    .await;
            match beat {
                Ok(Ok((cancel, orphans))) => {
                    self.health.record(true);
                    {
                        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                        for id in cancel {
                            if let Some(t) = running.get(&id) {
                                t.cancel();
                            }
                        }
                    }
                    let mut next = std::collections::HashSet::new();
                    for id in orphans {
                        if orphans_seen.contains(&id) {
                            match self
                                .store
                                .requeue(&id, &self.owner, "its claim was never run")
                                .await
                            {
                                Ok(true) => {
                                    tracing::warn!(job = %id, "a claimed job that never ran is queued again");
                                    self.notify.notify_one();
                                }
                                Ok(false) => {}
                                Err(e) => tracing::warn!(error = %e, "cannot queue a job again"),
                            }
                        } else {
                            next.insert(id);
                        }
                    }
                    orphans_seen = next;
                }
                Ok(Err(e)) => {
                    self.health.record(false);
                    tracing::warn!(error = %e, "job heartbeat failed");
                }
                Err(_) => {
                    self.health.record(false);
                    tracing::warn!("job heartbeat failed: the database did not answer");
                }
            }
            if self.health.failing_for().is_some_and(|d| d >= DB_LOST) {
                let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                let mut stopped = self.db_stopped.lock().unwrap_or_else(|e| e.into_inner());
                for (id, t) in running.iter() {
                    if stopped.insert(id.clone()) {
                        tracing::warn!(job = %id, "the database is unreachable: the job stops at its next safe point and is queued again");
                        t.cancel();
                    }
                }
            }
            if self.shutdown.is_cancelled() && self.running() == 0 {
                return;
            }
            // Only a replica that has reached the database for a whole lease judges others' leases: after an
            // outage, every live replica has renewed its own by then.
            let judged = self
                .health
                .ok_for()
                .is_some_and(|d| d >= Duration::from_secs(LEASE_SECS as u64));
            if judged && last_reap.elapsed() >= Duration::from_secs(5) {
                last_reap = Instant::now();
                match self.store.mark_interrupted(true).await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::warn!(jobs = ?ids, "jobs of a replica that stopped answering marked interrupted");
                        for id in &ids {
                            let _ = self.store.drop_held(id).await;
                        }
                        self.bump.send_modify(|n| *n += 1);
                        self.notify.notify_waiters();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot check job leases"),
                }
            }
        }
    }

    /// Writes the uploads held for an ingestion job into this replica's root of the fabric (cloned and laid
    /// out first), so that the ingestion finds them whichever replica took the upload.
    async fn write_held(
        &self,
        fabric: &hhgitops_engine::fabric::Fabric,
        held: Vec<(String, String)>,
        ctx: &JobCtx,
    ) -> Result<(), JobFailure> {
        ctx.stage(
            "upload",
            "started",
            serde_json::json!({"files": held.len()}),
        )
        .await;
        self.engine.init(fabric, false).await?;
        let root = fabric.root.clone();
        let n = held.len();
        tokio::task::spawn_blocking(move || {
            for (path, content) in held {
                let rel = path.strip_prefix("raw/").unwrap_or(&path);
                let parts = crate::api::upload::check_raw_path(rel)?;
                crate::api::upload::write_raw(&root, &parts, content.as_bytes(), true)?;
            }
            Ok::<(), crate::error::ApiError>(())
        })
        .await
        .map_err(|e| {
            JobFailure::Failed(
                Box::new(crate::error::ApiError::internal(format!(
                    "upload task failed: {e}"
                ))),
                None,
            )
        })?
        .map_err(|e| JobFailure::Failed(Box::new(e), None))?;
        ctx.stage("upload", "done", serde_json::json!({"files": n}))
            .await;
        Ok(())
    }

    /// Runs one claimed job to its end. When the database goes away during the job, the job stops at its next
    /// safe point and, still this replica's, runs again here from its start once the database answers: every
    /// stage is idempotent and this replica's root holds whatever the first attempt did, so nothing is lost or
    /// done twice. (If this replica dies meanwhile, its lease lapses and the job is `interrupted`.)
    pub async fn run(&self, job: Job) {
        let span = tracing::info_span!("job", job = %job.id, fabric = %job.fabric, r#type = job.job_type.as_str());
        let _enter = span.enter();
        let started = Instant::now();
        tracing::info!(actor = %job.actor, "job started");
        let _ = self
            .store
            .append_event(
                &job.id,
                "log",
                &serde_json::json!({"message": "started", "owner": self.owner}),
            )
            .await;
        self.status.touch(&job.fabric);
        self.bump.send_modify(|n| *n += 1);
        // Held uploads are written into this replica's root once; an attempt after an outage finds them there
        // (or already ingested).
        let mut held_written = false;
        let mut retry = false;
        let outcome = loop {
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
                progress: Arc::new(tokio::sync::Mutex::new(serde_json::json!({}))),
                bump: self.bump.clone(),
                stage_started: Mutex::new(HashMap::new()),
            };
            // The job's actor names every run record and archive-log entry the engine writes for it.
            let outcome = hhgitops_engine::actor::scope(
                Some(job.actor.clone()),
                self.attempt(&job, &ctx, &mut held_written, retry),
            )
            .await;
            retry = true;
            let db_stopped = self
                .db_stopped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&job.id);
            let unavailable = matches!(&outcome, Err(JobFailure::Failed(e, _)) if e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE);
            if !(db_stopped || unavailable) || self.shutdown.is_cancelled() {
                break outcome;
            }
            tracing::warn!("the database was unreachable: the job stopped at a safe point and runs again once it answers");
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = self.shutdown.cancelled() => {}
                }
                if self.health.failing_for().is_none() || self.shutdown.is_cancelled() {
                    break;
                }
            }
            if self.shutdown.is_cancelled() {
                break outcome;
            }
            let _ = self
                .store
                .append_event(
                    &job.id,
                    "log",
                    &serde_json::json!({"message": "the database was unreachable: running again from the start", "owner": self.owner}),
                )
                .await;
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
        self.end(&job, state, result, error).await;
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

    /// Records how a job ended here, retrying while the database is unreachable: the job stays this replica's
    /// (its lease renewed by the heartbeat once the database answers) until its end is recorded.
    async fn end(
        &self,
        job: &Job,
        state: JobState,
        result: Option<serde_json::Value>,
        error: Option<serde_json::Value>,
    ) {
        // Before the end is stored: a client that sees the job ended reads a status computed after it.
        self.status.touch(&job.fabric);
        // What the job held is freed by now: its pages go back to the system (see `memory`), off the workers.
        tokio::task::spawn_blocking(hhgitops_engine::memory::release_free);
        let mut warned = false;
        loop {
            match self
                .store
                .finish(&job.id, &self.owner, state, result.as_ref(), error.as_ref())
                .await
            {
                Ok(true) => {
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
                    let _ = self.store.drop_held(&job.id).await;
                    break;
                }
                Ok(false) => {
                    tracing::warn!(job = %job.id, "the job was no longer this replica's when it ended (its lease had lapsed)");
                    break;
                }
                Err(e) => {
                    if !warned {
                        tracing::error!(job = %job.id, error = %e, "cannot record the end of the job; retrying until the database answers");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job.id);
        self.bump.send_modify(|n| *n += 1);
    }

    /// One attempt at a job's operation. Another attempt (after a database outage) ingests only the job's
    /// files the first one left in raw/.
    async fn attempt(
        &self,
        job: &Job,
        ctx: &JobCtx,
        held_written: &mut bool,
        retry: bool,
    ) -> Result<serde_json::Value, JobFailure> {
        let fabric = self.engine.fabric(&job.fabric).await?;
        let mut job = job.clone();
        if retry && job.job_type == JobType::Ingest && !job.params.files.is_empty() {
            let dir = hhgitops_engine::layout::GitOpsRoot::new(&fabric.root).dir()?;
            let (left, done): (Vec<String>, Vec<String>) = job
                .params
                .files
                .iter()
                .cloned()
                .partition(|f| dir.exists(f));
            if left.is_empty() {
                return Ok(serde_json::json!({
                    "fabric": job.fabric,
                    "files": [],
                    "ingestedBeforeOutage": done,
                }));
            }
            job.params.files = left;
        }
        let job = &job;
        if job.job_type == JobType::Ingest && !job.params.dry_run {
            let held = self
                .store
                .held_uploads(&job.id)
                .await
                .map_err(|e| JobFailure::from(hhgitops_engine::Error::from(e)))?;
            if !held.is_empty() {
                if !*held_written {
                    self.write_held(&fabric, held, ctx).await?;
                    *held_written = true;
                }
                return run_operation(
                    &self.engine,
                    &fabric,
                    job.job_type,
                    &job.params,
                    &self.settings,
                    ctx,
                )
                .await;
            }
        }
        if let Some(result) = self.taken_by_watcher(job).await {
            return Ok(result);
        }
        let outcome = run_operation(
            &self.engine,
            &fabric,
            job.job_type,
            &job.params,
            &self.settings,
            ctx,
        )
        .await;
        // The watcher may also take the file while the job waits for the fabric's lock (it was there when the
        // job looked): then its report is the job's.
        if outcome.is_err() {
            if let Some(result) = self.taken_by_watcher(job).await {
                return Ok(result);
            }
        }
        outcome
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
        // Through the root's sandbox, as the job's own check of what is left (no link followed).
        let dir = hhgitops_engine::layout::GitOpsRoot::new(&fabric.root)
            .dir()
            .ok()?;
        if job.params.files.iter().any(|f| dir.exists(f)) {
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
