//! Background work: the watchers of the fabrics this replica leads (the engine's `WatchSet`, fabrics added and
//! removed by [`crate::replica::Leadership`]) and the periodic sync of those fabrics. A watcher's ingestion run is recorded as a finished job with actor `watcher`
//! (its file reports as events), so the job history shows every ingestion whoever started it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hhgitops_engine::watch::{WatchEvent, WatchEventKind, WatchMode, WatchOptions, WatchSet};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::jobs::{JobParams, JobState, JobType};
use crate::state::AppState;

/// Starts the watchers; returns the set (to stop on shutdown) and the task recording their runs.
pub fn start_watchers(state: &AppState) -> (Arc<WatchSet>, JoinHandle<()>) {
    let options = WatchOptions {
        mode: match state.options().poll {
            Some(p) => WatchMode::Poll(p),
            None => WatchMode::Events,
        },
        // Not the registry: leadership adds the fabrics this replica leads and removes the others.
        follow: None,
        ingest: hhgitops_engine::ingest::IngestOptions {
            max_file_size: state.options().ops.max_file_size,
            lock_timeout: state.options().ops.lock_timeout,
            ..Default::default()
        },
        ..WatchOptions::default()
    };
    let (set, mut events) = WatchSet::start(state.engine().clone(), options);
    let set = Arc::new(set);
    let st = state.clone();
    let watched = set.clone();
    let status_source = move || watched.status();
    let task = tokio::spawn(async move {
        let mut files: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
        let mut started: HashMap<String, String> = HashMap::new();
        let mut last_status = Instant::now() - Duration::from_secs(10);
        loop {
            let ev = tokio::select! {
                ev = events.recv() => ev,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    *st.0.watch_status.lock().unwrap_or_else(|e| e.into_inner()) = status_source();
                    continue;
                }
            };
            let Some(ev) = ev else { break };
            record(&st, ev, &mut files, &mut started).await;
            if last_status.elapsed() > Duration::from_millis(200) {
                last_status = Instant::now();
                *st.0.watch_status.lock().unwrap_or_else(|e| e.into_inner()) = status_source();
            }
        }
    });
    (set, task)
}

async fn record(
    st: &AppState,
    ev: WatchEvent,
    files: &mut HashMap<String, Vec<serde_json::Value>>,
    started: &mut HashMap<String, String>,
) {
    let Some(fabric) = ev.fabric.clone() else {
        return;
    };
    // A watcher's run (or what it found in raw/ or managed/) changed what the status shows; before the run is
    // recorded as a job, so whoever sees the job reads a status computed after it.
    st.touched(&fabric);
    match &ev.kind {
        WatchEventKind::File(fr) => {
            started
                .entry(fabric.clone())
                .or_insert_with(|| crate::jobs::ts(0));
            files
                .entry(fabric)
                .or_default()
                .push(serde_json::to_value(fr).unwrap_or_default());
        }
        WatchEventKind::Run {
            files: n,
            duration_ms,
            summary,
            git,
            git_error,
            latency_ms,
            ..
        } => {
            let reports = files.remove(&fabric).unwrap_or_default();
            let since = started
                .remove(&fabric)
                .unwrap_or_else(|| crate::jobs::ts(0));
            metrics::histogram!("hhgitops_watcher_run_seconds", "fabric" => fabric.clone())
                .record(*duration_ms as f64 / 1000.0);
            if let Some(l) = latency_ms {
                // From the file event (or scan) that made a file of this run ready to the run's start.
                metrics::histogram!("hhgitops_watcher_latency_seconds", "fabric" => fabric.clone())
                    .record(*l as f64 / 1000.0);
            }
            if *n == 0 && reports.is_empty() {
                return;
            }
            let outcome = if git_error.is_some() {
                JobState::Failed
            } else {
                JobState::Succeeded
            };
            metrics::counter!("hhgitops_jobs_total", "type" => "ingest", "outcome" => outcome.as_str(), "fabric" => fabric.clone())
                .increment(1);
            let mut events: Vec<(String, serde_json::Value)> = vec![(
                "progress".into(),
                serde_json::json!({"stage": "ingest", "state": "started"}),
            )];
            for r in &reports {
                events.push(("log".into(), serde_json::json!({"file": r})));
            }
            events.push((
                "progress".into(),
                serde_json::json!({"stage": "ingest", "state": "done", "done": reports.len(), "total": reports.len()}),
            ));
            let result = serde_json::json!({
                "fabric": fabric,
                "files": reports,
                "summary": summary,
                "git": git,
                "gitError": git_error,
                "durationMs": duration_ms,
            });
            if let Err(e) = st
                .jobs()
                .record_finished(
                    &fabric,
                    JobType::Ingest,
                    "watcher",
                    &since,
                    outcome,
                    &events,
                    &result,
                )
                .await
            {
                tracing::warn!(fabric = %fabric, error = %e, "cannot record the watcher's ingestion as a job");
            }
            st.0.runner.bump.send_modify(|n| *n += 1);
        }
        WatchEventKind::Error { message, file } => {
            tracing::warn!(fabric = %fabric, file = file.as_deref().unwrap_or(""), "watcher: {message}");
        }
        _ => {}
    }
}

/// Queues each fabric's sync every interval (its own `syncInterval`, else the server's `--sync-interval`).
pub fn start_scheduler(state: &AppState, stop: CancellationToken) -> JoinHandle<()> {
    let st = state.clone();
    tokio::spawn(async move {
        let mut last: BTreeMap<String, Instant> = BTreeMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.cancelled() => return,
            }
            let Ok(fabrics) = st.engine().fabrics().await else {
                continue;
            };
            // Only the fabrics this replica leads: one replica queues each fabric's periodic sync.
            last.retain(|name, _| fabrics.iter().any(|f| &f.name == name) && st.leads(name));
            for f in fabrics.into_iter().filter(|f| st.leads(&f.name)) {
                let Some(every) = crate::adapter::sync_interval(&f).or(st.options().sync_interval)
                else {
                    continue;
                };
                let since = *last.entry(f.name.clone()).or_insert_with(Instant::now);
                if since.elapsed() < every {
                    continue;
                }
                last.insert(f.name.clone(), Instant::now());
                match crate::api::jobs::submit(
                    &st,
                    &f.name,
                    JobType::Sync,
                    JobParams::default(),
                    "scheduler",
                )
                .await
                {
                    Ok((job, coalesced)) => {
                        tracing::info!(fabric = %f.name, job = %job.id, coalesced, "periodic sync queued")
                    }
                    Err(e) => {
                        tracing::warn!(fabric = %f.name, error = %e.message, "cannot queue the periodic sync")
                    }
                }
            }
        }
    })
}
