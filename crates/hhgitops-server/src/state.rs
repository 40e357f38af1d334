//! The state every handler shares: the engine, the token and job stores, the job runner, metrics, options.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hhgitops_engine::watch::FabricWatchStatus;
use hhgitops_engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::adapter::OpSettings;
use crate::jobs::JobStore;
use crate::runner::Runner;
use crate::tokens::TokenStore;

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Log lines as JSON objects.
    pub json_logs: bool,
    /// Sync interval of fabrics that have none of their own (`None`: off).
    pub sync_interval: Option<Duration>,
    /// `/metrics` needs a read token.
    pub metrics_token_required: bool,
    /// Watch raw/ of every fabric.
    pub watch: bool,
    /// Poll raw/ at this interval instead of file-system events.
    pub poll: Option<Duration>,
    /// Jobs run at once (across fabrics; one per fabric).
    pub workers: usize,
    /// How long running jobs get to reach a safe point on shutdown.
    pub shutdown_grace: Duration,
    /// Longest time one request may take (uploads and event streams excepted).
    pub request_timeout: Duration,
    /// Requests served at once; more wait.
    pub max_in_flight: usize,
    /// Largest request body outside uploads.
    pub max_body: usize,
    pub ops: OpSettings,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            json_logs: false,
            sync_interval: None,
            metrics_token_required: false,
            watch: true,
            poll: None,
            workers: 4,
            shutdown_grace: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_in_flight: 256,
            max_body: 1 << 20,
            ops: OpSettings::default(),
        }
    }
}

pub struct Inner {
    pub engine: Engine,
    pub tokens: TokenStore,
    pub jobs: JobStore,
    pub runner: Arc<Runner>,
    pub metrics: PrometheusHandle,
    pub options: ServeOptions,
    /// Bumped whenever a job event is stored in this process (event streams wait on it).
    pub events: watch::Receiver<u64>,
    pub watch_status: Mutex<Vec<FabricWatchStatus>>,
    /// This replica's leadership of fabrics (set when `serve` starts its background work).
    pub leadership: std::sync::OnceLock<Arc<crate::replica::Leadership>>,
    pub started: Instant,
    /// The latest drift report of each fabric, parsed once.
    pub drift_cache: crate::data::DriftCache,
    /// Each fabric's object index, read once per manifest.
    pub objects_cache: crate::data::ObjectsCache,
    /// Each fabric's status, computed once per change (see `hhgitops_engine::status::StatusCache`); the
    /// runner's, which touches a fabric when a job starts and ends.
    pub status_cache: Arc<hhgitops_engine::status::StatusCache>,
    /// Each fabric's newest commit, read once per status computed.
    pub last_commits: crate::adapter::LastCommits,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl AppState {
    /// A fabric's status (`status --json`), from the cache while nothing it depends on changed.
    pub async fn status(
        &self,
        fabric: &hhgitops_engine::fabric::Fabric,
    ) -> hhgitops_engine::Result<Arc<hhgitops_engine::status::StatusReport>> {
        self.0.status_cache.status(&self.0.engine, fabric).await
    }

    /// Says that `fabric` changed in this process (an upload, a delete, a watcher's run): the next status is
    /// computed afresh. Call it before the change is reported to anyone.
    pub fn touched(&self, fabric: &str) {
        self.0.status_cache.touch(fabric);
    }

    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }
    pub fn tokens(&self) -> &crate::tokens::TokenStore {
        &self.0.tokens
    }
    pub fn jobs(&self) -> &JobStore {
        &self.0.jobs
    }
    pub fn runner(&self) -> &Arc<Runner> {
        &self.0.runner
    }
    pub fn options(&self) -> &ServeOptions {
        &self.0.options
    }
    pub fn tls(&self) -> bool {
        self.0.options.tls_cert.is_some()
    }
    /// Wakes the job workers (a job was queued).
    pub fn jobs_queued(&self) {
        self.0.runner.notify.notify_one();
    }
    /// Whether this replica leads `fabric`'s watcher and periodic sync (always, without leadership: tests that
    /// build the state alone).
    pub fn leads(&self, fabric: &str) -> bool {
        self.0.leadership.get().is_none_or(|l| l.leads(fabric))
    }
    /// This replica's id (`owner` of the jobs it runs, `replica` of the leases it holds).
    pub fn replica_id(&self) -> &str {
        &self.0.runner.owner
    }
    pub fn watch_status(&self) -> Vec<FabricWatchStatus> {
        self.0
            .watch_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
