//! `Engine`: the entry point front ends hold — a home plus a database — with one method per operation.

use serde::Serialize;

use crate::db::Database;
use crate::error::{Error, Result};
use crate::fabric::{new_fabric, Fabric, FabricSpec, Registry, RootRule};
use crate::home::Home;
use crate::layout::{GitOpsRoot, InitPlan, InitReport, Problem};

/// A home and its database. Cheap to clone; share it between tasks.
#[derive(Debug, Clone)]
pub struct Engine {
    home: Home,
    db: Database,
}

/// What `fabric add` did.
#[derive(Debug, Clone, Serialize)]
pub struct AddReport {
    pub fabric: Fabric,
    pub init: Option<InitReport>,
    /// Why no layout was initialized (e.g. a Git fabric whose clone does not exist yet).
    pub note: Option<String>,
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
        Ok(Engine { home, db })
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn registry(&self) -> Registry {
        Registry::new(self.db.clone())
    }

    pub async fn fabric(&self, name: &str) -> Result<Fabric> {
        self.registry().get(name).await
    }

    pub async fn fabrics(&self) -> Result<Vec<Fabric>> {
        self.registry().list().await
    }

    /// Registers a fabric and initializes its layout. All or nothing: on failure no row and no new folders.
    pub async fn add_fabric(&self, spec: &FabricSpec) -> Result<AddReport> {
        let fabric = new_fabric(&self.home, spec)?;
        let registry = self.registry();
        registry.check_new(&fabric.name, &fabric.root).await?;
        if fabric.root_rule == RootRule::GitClone {
            registry.insert(&fabric, || Ok(())).await?;
            return Ok(AddReport {
                fabric,
                init: None,
                note: Some("Git remote stored; the repository is cloned and its layout initialized by Git support".into()),
            });
        }
        check_root_usable(&fabric)?;
        let root = GitOpsRoot::new(&fabric.root);
        let mut report = None;
        registry
            .insert(&fabric, || {
                let plan = root.plan_init(&fabric.name)?;
                report = Some(root.apply_init(&fabric.name, &plan)?);
                Ok(())
            })
            .await?;
        Ok(AddReport {
            fabric,
            init: report,
            note: None,
        })
    }

    /// Unregisters a fabric; its files stay.
    pub async fn remove_fabric(&self, name: &str) -> Result<Fabric> {
        self.registry().remove(name).await
    }

    /// Plans `init` for a fabric (used by `--dry-run` and before `apply_init`).
    pub async fn plan_init(&self, fabric: &Fabric) -> Result<InitPlan> {
        GitOpsRoot::new(&fabric.root).plan_init(&fabric.name)
    }

    pub async fn init(&self, fabric: &Fabric) -> Result<InitReport> {
        let root = GitOpsRoot::new(&fabric.root);
        let plan = root.plan_init(&fabric.name)?;
        root.apply_init(&fabric.name, &plan)
    }

    pub async fn check(&self, fabric: &Fabric) -> Result<Vec<Problem>> {
        GitOpsRoot::new(&fabric.root).check(&fabric.name)
    }
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
