//! `Context`: what every operation runs with — the home, the database, the resolved [`Settings`] and the bound
//! on fabrics worked on at once. Operations take a `&Context` (or an owned clone for work that outlives the
//! caller); the front ends hold an [`Engine`](crate::Engine), which is one and derefs to it.
//!
//! It sits below every operation module: it knows the registry of fabrics and nothing of ingestion, Git or the
//! cluster.

use crate::db::Database;
use crate::error::{Error, Result};
use crate::fabric::{Fabric, Registry};
use crate::home::Home;
use crate::settings::{GitSettings, Settings, DEFAULT_FABRIC_JOBS};

/// A home and its database, with the settings operations read. Cheap to clone; share it between tasks.
#[derive(Debug, Clone)]
pub struct Context {
    home: Home,
    db: Database,
    /// Resolved once by the front end ([`Settings::resolve`]).
    settings: Settings,
    /// Bounds the fabrics worked on at once, across every clone of this context (one operation per fabric is the
    /// fabric lock's business).
    jobs: std::sync::Arc<tokio::sync::Semaphore>,
    jobs_limit: usize,
}

impl Context {
    /// Opens the database at `database_url` (default: SQLite in the home), creating the home if needed.
    pub async fn open(home: Home, database_url: Option<&str>) -> Result<Context> {
        let url = match database_url {
            Some(u) if !u.trim().is_empty() => u.to_string(),
            _ => {
                home.ensure()?;
                home.default_database_url()
            }
        };
        let db = Database::open(&url).await?;
        Ok(Context {
            home,
            db,
            settings: Settings::default(),
            jobs: std::sync::Arc::new(tokio::sync::Semaphore::new(DEFAULT_FABRIC_JOBS)),
            jobs_limit: DEFAULT_FABRIC_JOBS,
        })
    }

    /// At most `jobs` fabrics worked on at the same time (at least 1). The one setting for `ingest --all`, the
    /// watcher and any other caller that takes a [`fabric_slot`](Context::fabric_slot).
    pub fn with_fabric_jobs(mut self, jobs: usize) -> Self {
        let jobs = jobs.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self.jobs = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs));
        self.jobs_limit = jobs;
        self.settings.fabric_jobs = jobs;
        self
    }

    pub fn fabric_jobs(&self) -> usize {
        self.jobs_limit
    }

    /// Waits for one of the [`fabric_jobs`](Context::fabric_jobs) slots; the work on one fabric holds it until
    /// the returned permit is dropped.
    pub async fn fabric_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.jobs
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Runtime(format!("fabric slots: {e}")))
    }

    /// Sets how commits are authored and pushed.
    pub fn with_git_settings(mut self, git: GitSettings) -> Self {
        self.settings.git = git;
        self
    }

    /// Uses these settings for every operation (lock and cluster timeouts, Git author, file-size limit, fabrics
    /// at once …): the one value the front end resolved from its flags and `HHGITOPS_*` variables.
    pub fn with_settings(self, settings: Settings) -> Self {
        let jobs = settings.fabric_jobs;
        let mut e = self.with_fabric_jobs(jobs);
        e.settings = settings;
        e
    }

    /// The settings operations run with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn git_settings(&self) -> &GitSettings {
        &self.settings.git
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn registry(&self) -> Registry {
        Registry::new(self.db.clone(), self.home.clone())
    }

    pub async fn fabric(&self, name: &str) -> Result<Fabric> {
        self.registry().get(name).await
    }

    pub async fn fabrics(&self) -> Result<Vec<Fabric>> {
        self.registry().list().await
    }

    /// The home's serve lock (SPEC §8: with SQLite, one `serve` per home), for a server listening on `listen`:
    /// `Some(lock)` to hold for the server's lifetime, or [`Error::HomeInUse`] naming the running one. `None`
    /// with PostgreSQL, where several servers share the database (each with a home of its own).
    pub fn lock_home_for_serve(&self, listen: &str) -> Result<Option<crate::homelock::HomeLock>> {
        match self.db.backend() {
            crate::db::Backend::Sqlite => {
                crate::homelock::HomeLock::acquire(&self.home, listen).map(Some)
            }
            crate::db::Backend::Postgres => Ok(None),
        }
    }

    /// What this process finds at the fabric's root, as resolved in its home.
    pub fn root_state(&self, fabric: &Fabric) -> crate::fabric::RootState {
        crate::fabric::inspect_root(&self.home, fabric)
    }
}

/// Runs blocking file work on a blocking-pool thread, off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(crate::actor::carry(move || span.in_scope(work)))
        .await
        .map_err(|e| Error::Runtime(format!("file task failed: {e}")))?
}
