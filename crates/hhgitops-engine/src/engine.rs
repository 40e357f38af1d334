//! `Engine`: the entry point front ends hold — a [`Context`] (home, database, settings) — with one method per
//! operation that is not a module's own entry point (`fabric add`, `init`, `onboard` …).
//!
//! The facade is the top of the engine's layers: it calls the operation modules, none of which imports it
//! (they take the [`Context`] the engine derefs to). Free operations (`ingest::ingest`, `sync::sync_fabric`,
//! `maintain::delete`, …) are called with `&engine` directly.

use crate::context::Context;
use crate::error::Result;
use crate::fabric::{Fabric, FabricSpec};
use crate::gitops::{GitOutcome, GitSession, GitSettings};
use crate::home::Home;
use crate::ingest::IngestOptions;
use crate::layout::{InitPlan, InitReport, Problem};
use crate::onboard::OnboardReport;
use crate::settings::Settings;

pub use crate::init::AddReport;
pub use crate::settings::DEFAULT_FABRIC_JOBS;

/// A home and its database. Cheap to clone; share it between tasks.
#[derive(Debug, Clone)]
pub struct Engine {
    context: Context,
}

/// Everything a [`Context`] offers (home, database, settings, registry, fabric slots) is the engine's too.
impl std::ops::Deref for Engine {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.context
    }
}

impl From<Engine> for Context {
    fn from(e: Engine) -> Context {
        e.context
    }
}

impl Engine {
    /// Opens the database at `database_url` (default: SQLite in the home), creating the home if needed.
    pub async fn open(home: Home, database_url: Option<&str>) -> Result<Engine> {
        Ok(Engine {
            context: Context::open(home, database_url).await?,
        })
    }

    /// The context operations run with.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// At most `jobs` fabrics worked on at the same time (see [`Context::with_fabric_jobs`]).
    pub fn with_fabric_jobs(self, jobs: usize) -> Self {
        Engine {
            context: self.context.with_fabric_jobs(jobs),
        }
    }

    /// Sets how commits are authored and pushed.
    pub fn with_git_settings(self, git: GitSettings) -> Self {
        Engine {
            context: self.context.with_git_settings(git),
        }
    }

    /// Uses these settings for every operation (see [`Context::with_settings`]).
    pub fn with_settings(self, settings: Settings) -> Self {
        Engine {
            context: self.context.with_settings(settings),
        }
    }

    /// Opens the Git side of an operation (clone, pull, lock); `None` for a fabric outside Git.
    pub async fn git_session(&self, fabric: &Fabric, purpose: &str) -> Result<Option<GitSession>> {
        crate::gitops::session(&self.context, fabric, purpose).await
    }

    /// Commits what changed under the fabric's root and pushes (re-validating after a rebase).
    pub async fn git_commit(
        &self,
        fabric: &Fabric,
        session: GitSession,
        message: String,
    ) -> Result<GitOutcome> {
        crate::gitops::commit(&self.context, fabric, session, message).await
    }

    /// Registers a fabric and initializes its layout (cloning its repository first when it has a remote, and
    /// committing and pushing the new layout). All or nothing: on failure no row, no new folders, no new clone.
    pub async fn add_fabric(&self, spec: &FabricSpec) -> Result<AddReport> {
        crate::init::add_fabric(&self.context, spec).await
    }

    /// Unregisters a fabric; its files stay.
    pub async fn remove_fabric(&self, name: &str) -> Result<Fabric> {
        self.registry().remove(name).await
    }

    /// Plans `init` for a fabric (used by `--dry-run` and before `apply_init`).
    pub async fn plan_init(&self, fabric: &Fabric, migrate: bool) -> Result<InitPlan> {
        crate::init::plan_init(fabric, migrate).await
    }

    /// `init`: creates what is missing, upgrades HNP records, with `migrate` moves loose YAML files into
    /// raw/, then commits (and pushes) when in Git.
    pub async fn init(
        &self,
        fabric: &Fabric,
        migrate: bool,
    ) -> Result<(InitReport, Option<GitOutcome>)> {
        crate::init::init(&self.context, fabric, migrate).await
    }

    /// `init --check`: what is wrong with the fabric's layout.
    pub async fn check(&self, fabric: &Fabric) -> Result<Vec<Problem>> {
        crate::init::check_layout(fabric).await
    }

    /// Onboards a fabric from its repository (see [`crate::onboard::onboard`]).
    pub async fn onboard(&self, spec: &FabricSpec, opts: &IngestOptions) -> Result<OnboardReport> {
        crate::onboard::onboard(&self.context, spec, opts).await
    }
}

/// Kept where `status` takes it from.
pub(crate) use crate::context::blocking;
