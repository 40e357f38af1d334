//! `Engine`: the entry point front ends hold — a home plus a database — with one method per operation.

use serde::Serialize;

use crate::db::Database;
use crate::error::{Error, Result};
use crate::fabric::{new_fabric, Fabric, FabricSpec, Registry, RootRule};
use crate::gitops::{open_session, GitOutcome, GitSession, GitSettings};
use crate::home::Home;
use crate::layout::{GitOpsRoot, InitPlan, InitReport, Problem};

/// How many fabrics are worked on at the same time by default (`ingest --all`, the watcher).
pub const DEFAULT_FABRIC_JOBS: usize = 4;

/// A home and its database. Cheap to clone; share it between tasks.
#[derive(Debug, Clone)]
pub struct Engine {
    home: Home,
    db: Database,
    /// Resolved once by the front end ([`crate::settings::Settings::resolve`]).
    settings: crate::settings::Settings,
    /// Bounds the fabrics worked on at once, across every clone of this engine (one operation per fabric is the
    /// fabric lock's business).
    jobs: std::sync::Arc<tokio::sync::Semaphore>,
    jobs_limit: usize,
}

/// What `fabric add` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub fabric: Fabric,
    pub init: Option<InitReport>,
    /// Why no layout was initialized.
    pub note: Option<String>,
    pub git: Option<GitOutcome>,
}

impl Engine {
    /// Opens the database at `database_url` (default: SQLite in the home), creating the home if needed.
    pub async fn open(home: Home, database_url: Option<&str>) -> Result<Engine> {
        let url = match database_url {
            Some(u) if !u.trim().is_empty() => u.to_string(),
            _ => {
                home.ensure()?;
                home.default_database_url()
            }
        };
        let db = Database::open(&url).await?;
        Ok(Engine {
            home,
            db,
            settings: crate::settings::Settings::default(),
            jobs: std::sync::Arc::new(tokio::sync::Semaphore::new(DEFAULT_FABRIC_JOBS)),
            jobs_limit: DEFAULT_FABRIC_JOBS,
        })
    }

    /// At most `jobs` fabrics worked on at the same time (at least 1). The one setting for `ingest --all`, the
    /// watcher and any other caller that takes a [`fabric_slot`](Engine::fabric_slot).
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

    /// Waits for one of the [`fabric_jobs`](Engine::fabric_jobs) slots; the work on one fabric holds it until
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
    pub fn with_settings(self, settings: crate::settings::Settings) -> Self {
        let jobs = settings.fabric_jobs;
        let mut e = self.with_fabric_jobs(jobs);
        e.settings = settings;
        e
    }

    /// The settings operations run with.
    pub fn settings(&self) -> &crate::settings::Settings {
        &self.settings
    }

    pub fn git_settings(&self) -> &GitSettings {
        &self.settings.git
    }

    /// Opens the Git side of an operation (clone, pull, lock); `None` for a fabric outside Git.
    pub async fn git_session(&self, fabric: &Fabric, purpose: &str) -> Result<Option<GitSession>> {
        let home = self.home.clone();
        let fabric = fabric.clone();
        let settings = self.settings.git.clone();
        let purpose = purpose.to_string();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(crate::actor::carry(move || {
            span.in_scope(|| open_session(&home, &fabric, &settings, &purpose))
        }))
        .await
        .map_err(|e| Error::Runtime(format!("git task failed: {e}")))?
    }

    /// Commits what changed under the fabric's root and pushes (re-validating after a rebase).
    pub async fn git_commit(
        &self,
        fabric: &Fabric,
        session: GitSession,
        message: String,
    ) -> Result<GitOutcome> {
        let fabric = fabric.clone();
        let settings = self.settings.git.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(crate::actor::carry(move || {
            span.in_scope(|| {
                session.commit_and_push(&message, &settings, crate::gitops::revalidate(&fabric))
            })
        }))
        .await
        .map_err(|e| Error::Runtime(format!("git task failed: {e}")))?
    }

    /// [`Engine::git_commit`] in a session the caller keeps: the outcome of the commit and push, and the
    /// session back (a sync commits its layout and its ingestion in one session).
    pub async fn git_commit_in(
        &self,
        fabric: &Fabric,
        session: GitSession,
        message: String,
    ) -> Result<(Result<GitOutcome>, GitSession)> {
        let fabric = fabric.clone();
        let settings = self.settings.git.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(crate::actor::carry(move || {
            let _entered = span.enter();
            let r =
                session.commit_and_push(&message, &settings, crate::gitops::revalidate(&fabric));
            (r, session)
        }))
        .await
        .map_err(|e| Error::Runtime(format!("git task failed: {e}")))
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

    /// Registers a fabric and initializes its layout (cloning its repository first when it has a remote, and
    /// committing and pushing the new layout). All or nothing: on failure no row, no new folders, no new clone.
    pub async fn add_fabric(&self, spec: &FabricSpec) -> Result<AddReport> {
        tracing::Instrument::instrument(
            self.add_fabric_in_span(spec),
            crate::progress::operation_span("fabric add", &spec.name),
        )
        .await
    }

    async fn add_fabric_in_span(&self, spec: &FabricSpec) -> Result<AddReport> {
        let fabric = new_fabric(&self.home, spec)?;
        let registry = self.registry();
        // A taken name first (a conflict whatever the root), then a root that would hurt (it names why), then an
        // overlap with another fabric's root.
        registry.check_name_free(&fabric.name).await?;
        if fabric.root_rule != RootRule::GitClone {
            // Checked again once a clone exists (register_with_layout); a local root is checked first.
            let others = registry.list().await?;
            let (root, home) = (fabric.root.clone(), self.home.clone());
            blocking(move || crate::roots::check_new_root(&root, &home, &others)).await?;
        }
        registry.check_new(&fabric.name, &fabric.root).await?;
        if fabric.root_rule != RootRule::GitClone {
            let f = fabric.clone();
            blocking(move || check_root_usable(&f)).await?;
        }
        // Clone (or update) first: a bad URL, missing branch or failed authentication registers nothing.
        let session = self
            .git_session(&fabric, &format!("fabric add {}", fabric.name))
            .await?;
        let created_clone = session.as_ref().and_then(|s| s.created_clone.clone());
        let mut report = None;
        let mut git = None;
        let result = async {
            let init_report = self.register_with_layout(&fabric, false).await?;
            if let Some(s) = session {
                let message = init_commit_message(&fabric, &init_report);
                match self.git_commit(&fabric, s, message).await {
                    Ok(g) => git = Some(g),
                    Err(e) => {
                        let _ = registry.remove(&fabric.name).await;
                        return Err(e);
                    }
                }
            }
            report = Some(init_report);
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Some(dir) = created_clone {
                let _ = blocking(move || {
                    let _ = std::fs::remove_dir_all(&dir);
                    Ok(())
                })
                .await;
            }
            return Err(e);
        }
        Ok(AddReport {
            fabric,
            init: report,
            note: None,
            git,
        })
    }

    /// Registers a fabric and completes its layout: when the layout cannot be made, nothing stays registered
    /// (and `apply_init` removes the folders it created). Loose YAML files are
    /// moved into raw/ only with `migrate` (onboard); otherwise they are reported.
    pub(crate) async fn register_with_layout(
        &self,
        fabric: &Fabric,
        migrate: bool,
    ) -> Result<InitReport> {
        let others: Vec<Fabric> = self
            .registry()
            .list()
            .await?
            .into_iter()
            .filter(|f| f.name != fabric.name)
            .collect();
        let plan = {
            let fabric = fabric.clone();
            let home = self.home.clone();
            blocking(move || {
                crate::roots::check_new_root(&fabric.root, &home, &others)?;
                GitOpsRoot::new(&fabric.root).plan_init(&fabric.name, migrate)
            })
            .await?
        };
        if let Some(p) = plan.blocking.first() {
            return Err(Error::Corrupt {
                path: fabric.root.join(&p.path),
                message: p.message.clone(),
            });
        }
        // The row first (its own transaction), then the layout off the async workers and outside any database
        // transaction; a layout that cannot be made removes the row again.
        self.registry().insert(fabric).await?;
        let made = {
            let fabric = fabric.clone();
            blocking(move || GitOpsRoot::new(&fabric.root).apply_init(&fabric.name, &plan)).await
        };
        match made {
            Ok(report) => Ok(report),
            Err(e) => {
                let _ = self.registry().remove(&fabric.name).await;
                Err(e)
            }
        }
    }

    /// Unregisters a fabric; its files stay.
    pub async fn remove_fabric(&self, name: &str) -> Result<Fabric> {
        self.registry().remove(name).await
    }

    /// Plans `init` for a fabric (used by `--dry-run` and before `apply_init`).
    pub async fn plan_init(&self, fabric: &Fabric, migrate: bool) -> Result<InitPlan> {
        let fabric = fabric.clone();
        blocking(move || GitOpsRoot::new(&fabric.root).plan_init(&fabric.name, migrate)).await
    }

    /// `init`: creates what is missing, upgrades HNP records, with `migrate` moves loose YAML files into
    /// raw/, then commits (and pushes) when in Git.
    pub async fn init(
        &self,
        fabric: &Fabric,
        migrate: bool,
    ) -> Result<(InitReport, Option<GitOutcome>)> {
        tracing::Instrument::instrument(
            self.init_in_span(fabric, migrate),
            crate::progress::operation_span("init", &fabric.name),
        )
        .await
    }

    async fn init_in_span(
        &self,
        fabric: &Fabric,
        migrate: bool,
    ) -> Result<(InitReport, Option<GitOutcome>)> {
        let session = self
            .git_session(fabric, &format!("init {}", fabric.name))
            .await?;
        let (report, git, _session) = self.init_in(fabric, migrate, session).await?;
        Ok((report, git))
    }

    /// [`Engine::init`] in a Git session the caller opened (and gets back, for its next commit).
    pub(crate) async fn init_in(
        &self,
        fabric: &Fabric,
        migrate: bool,
        session: Option<GitSession>,
    ) -> Result<(InitReport, Option<GitOutcome>, Option<GitSession>)> {
        let work = move |fabric: Fabric| async move {
            let root = GitOpsRoot::new(&fabric.root);
            let plan = root.plan_init(&fabric.name, migrate)?;
            root.apply_init(&fabric.name, &plan)
        };
        // Under the fabric lock once the layout has its .hnp/ folder (the lock file lives there); the very first
        // init, which creates it, has nothing to lock yet (every other operation refuses a layout without it).
        let report = if fabric.root.join(crate::layout::HNP_DIR).is_dir() {
            crate::lock::with_lock(
                self,
                fabric,
                self.settings.lock_timeout,
                &tokio_util::sync::CancellationToken::new(),
                false,
                move |_engine, fabric, _cancel| work(fabric),
            )
            .await?
        } else {
            let fabric = fabric.clone();
            crate::lock::run_owned(move || work(fabric)).await?
        };
        match session {
            Some(s) => {
                let (git, s) = self
                    .git_commit_in(fabric, s, init_commit_message(fabric, &report))
                    .await?;
                Ok((report, Some(git?), Some(s)))
            }
            None => Ok((report, None, None)),
        }
    }

    pub async fn check(&self, fabric: &Fabric) -> Result<Vec<Problem>> {
        let fabric = fabric.clone();
        blocking(move || GitOpsRoot::new(&fabric.root).check(&fabric.name)).await
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

/// `init fabrics/f/gitops: create layout, migrate 3 loose files`.
pub(crate) fn init_commit_message(fabric: &Fabric, report: &InitReport) -> String {
    use crate::layout::Action;
    let mut parts = Vec::new();
    if report
        .actions
        .iter()
        .any(|a| matches!(a, Action::CreateDir { .. } | Action::WriteManifest { .. }))
    {
        parts.push("create layout".to_string());
    }
    let moves = report
        .actions
        .iter()
        .filter(|a| matches!(a, Action::MoveLoose { .. }))
        .count();
    if moves > 0 {
        parts.push(format!("migrate {moves} loose YAML file(s) into raw/"));
    }
    if report.actions.iter().any(|a| {
        matches!(
            a,
            Action::UpgradeManifest { .. } | Action::UpgradeArchiveLog { .. }
        )
    }) {
        parts.push("upgrade the Hedgehog NetBox Plugin layout".to_string());
    }
    let hnp = report.actions.iter().filter(|a| a.is_hnp_cleanup()).count();
    if hnp > 0 {
        parts.push(format!(
            "clean up {hnp} managed file(s) left by the Hedgehog NetBox Plugin"
        ));
    }
    if parts.is_empty() {
        parts.push("complete layout".to_string());
    }
    let op = if moves > 0 || hnp > 0 || parts.iter().any(|p| p.starts_with("upgrade")) {
        "migrate"
    } else {
        "init"
    };
    format!("{op} fabric {}: {}", fabric.name, parts.join(", "))
}

/// A `--path` root must be a folder (or not exist yet) and its nearest existing ancestor writable.
fn check_root_usable(fabric: &Fabric) -> Result<()> {
    let root = &fabric.root;
    if root.exists() && !root.is_dir() {
        return Err(Error::usage(format!(
            "{} exists and is not a folder: give --path a folder (or a path that does not exist yet)",
            root.display()
        )));
    }
    let mut anc = root.as_path();
    while !anc.exists() {
        match anc.parent() {
            Some(p) => anc = p,
            None => break,
        }
    }
    if !anc.is_dir() {
        return Err(Error::usage(format!(
            "{} is not a folder, so {} cannot be created inside it",
            anc.display(),
            root.display()
        )));
    }
    let probe = anc.join(format!(".hhgitops-probe-{}", uuid::Uuid::new_v4().simple()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            Ok(())
        }
        Err(e) => Err(Error::usage(format!(
            "cannot write in {} ({e}): choose a writable --path or fix the permissions",
            anc.display()
        ))),
    }
}
