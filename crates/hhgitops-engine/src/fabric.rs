//! Fabrics: names, their registration in the database, and the one GitOps-root resolver of SPEC §1.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use sqlx::Row;

use crate::db::{opt_text, Database};
use crate::error::{Error, Result};
use crate::home::{absolute, Home};

/// True when a path relative to a repository names `.git` or something inside it (`.git`, `.git/hooks`,
/// `a/.git/b`), in any letter case.
pub fn inside_dot_git(rel: &str) -> bool {
    Path::new(rel).components().any(|c| match c {
        Component::Normal(n) => n.to_str().is_some_and(|s| s.eq_ignore_ascii_case(".git")),
        _ => false,
    })
}

/// Checks a fabric name: an RFC 1123 label of at most 63 characters.
pub fn validate_fabric_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid fabric name {name:?}: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. \"prod-east\")"
        )))
    }
}

/// Checks `--git-path`: relative, no `..`, not empty.
pub fn validate_git_path(p: &str) -> Result<()> {
    let path = Path::new(p);
    if p.is_empty() || path.is_absolute() || p.starts_with('/') {
        return Err(Error::usage(format!(
            "--git-path {p:?} must be a relative path inside the repository (e.g. fabrics/prod/gitops)"
        )));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::usage(format!(
            "--git-path {p:?} must not contain '..': name a folder inside the repository"
        )));
    }
    if inside_dot_git(p) {
        return Err(Error::usage(format!(
            "--git-path {p:?} is inside .git, Git's own folder, where nothing is ever committed: name a folder of the work tree"
        )));
    }
    Ok(())
}

/// Which rule of SPEC §1 chose a fabric's GitOps root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootRule {
    /// Rule 1: `--path DIR`.
    Path,
    /// Rule 2: the clone of `--git-url` plus `--git-path`.
    GitClone,
    /// Rule 3: `<home>/fabrics/<fabric>/gitops`.
    HomeDefault,
}

impl RootRule {
    pub fn as_str(self) -> &'static str {
        match self {
            RootRule::Path => "path",
            RootRule::GitClone => "git-clone",
            RootRule::HomeDefault => "home-default",
        }
    }

    fn parse(s: &str) -> Result<RootRule> {
        match s {
            "path" => Ok(RootRule::Path),
            "git-clone" => Ok(RootRule::GitClone),
            "home-default" => Ok(RootRule::HomeDefault),
            other => Err(Error::Database(format!(
                "unknown root rule {other:?} in the fabrics table"
            ))),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            RootRule::Path => "rule 1: --path given when the fabric was added",
            RootRule::GitClone => "rule 2: the fabric's Git clone under the home, plus --git-path",
            RootRule::HomeDefault => "rule 3: <home>/fabrics/<fabric>/gitops",
        }
    }
}

/// The Git remote of a fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRemote {
    pub url: String,
    /// `None`: the remote's default branch.
    pub branch: Option<String>,
    /// Folder of the GitOps root inside the repository.
    pub path: String,
    /// Name of the environment variable holding an HTTPS token.
    pub token_env: Option<String>,
}

/// What the operator gave when adding a fabric.
#[derive(Debug, Clone, Default)]
pub struct FabricSpec {
    pub name: String,
    pub path: Option<PathBuf>,
    pub git_url: Option<String>,
    pub git_branch: Option<String>,
    pub git_path: Option<String>,
    pub git_token_env: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub kube_context: Option<String>,
    /// Options to register with (`hydrate`, `fabricConfig`); `None`: none.
    pub options: Option<serde_json::Value>,
}

/// A registered fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fabric {
    pub name: String,
    /// The resolved GitOps root (absolute).
    pub root: PathBuf,
    pub root_rule: RootRule,
    /// `--path` as given (made absolute), for rule 1.
    pub path: Option<PathBuf>,
    pub git: Option<GitRemote>,
    pub kubeconfig: Option<PathBuf>,
    pub kube_context: Option<String>,
    /// Per-fabric options (JSON object), e.g. validation settings overrides.
    pub options: serde_json::Value,
    pub created_at: String,
}

/// The folder name of a clone: one per repository and branch.
pub fn clone_dir_name(url: &str, branch: Option<&str>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(url.as_bytes());
    h.update([0]);
    h.update(branch.unwrap_or("").as_bytes());
    let digest = hex::encode(h.finalize());
    let base: String = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let base = if base.is_empty() {
        "repo".to_string()
    } else {
        base
    };
    format!("{base}-{}", &digest[..12])
}

/// The one GitOps-root resolver (SPEC §1). No other fallbacks.
pub fn resolve_root(home: &Home, spec: &FabricSpec) -> Result<(PathBuf, RootRule)> {
    validate_fabric_name(&spec.name)?;
    match (&spec.path, &spec.git_url) {
        (Some(_), Some(_)) => Err(Error::usage("give either --path or --git-url, not both")),
        (Some(p), None) => Ok((absolute(p)?, RootRule::Path)),
        (None, Some(url)) => {
            if url.trim().is_empty() {
                return Err(Error::usage("--git-url is empty"));
            }
            let git_path = spec
                .git_path
                .clone()
                .unwrap_or_else(|| default_git_path(&spec.name));
            validate_git_path(&git_path)?;
            let clone = home
                .repos_dir()
                .join(clone_dir_name(url, spec.git_branch.as_deref()));
            Ok((absolute(&clone.join(git_path))?, RootRule::GitClone))
        }
        (None, None) => {
            if spec.git_path.is_some() || spec.git_branch.is_some() || spec.git_token_env.is_some()
            {
                return Err(Error::usage(
                    "--git-path, --branch and --git-token-env need --git-url",
                ));
            }
            Ok((home.default_fabric_root(&spec.name), RootRule::HomeDefault))
        }
    }
}

pub fn default_git_path(fabric: &str) -> String {
    format!("fabrics/{fabric}/gitops")
}

/// True when one of the two paths is the other or lies inside it.
pub fn roots_overlap(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// What this process finds at a fabric's root (its own resolution, in its own home).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RootState {
    /// The layout is there and its manifest names this fabric.
    Ready,
    /// A Git fabric not cloned in this home yet: the next operation that pulls (ingest, sync, init) clones it.
    #[serde(rename_all = "camelCase")]
    NotCloned { clone: PathBuf },
    /// The root folder does not exist here.
    Missing,
    /// The root exists but has no current manifest (`init` completes the layout).
    NotInitialized,
    /// The manifest there names another fabric: this path is not this fabric's root.
    #[serde(rename_all = "camelCase")]
    OtherFabric { manifest_fabric: String },
    /// Not a folder, or a manifest that cannot be read.
    Unusable { message: String },
}

impl RootState {
    pub fn as_str(&self) -> &'static str {
        match self {
            RootState::Ready => "ready",
            RootState::NotCloned { .. } => "notCloned",
            RootState::Missing => "missing",
            RootState::NotInitialized => "notInitialized",
            RootState::OtherFabric { .. } => "otherFabric",
            RootState::Unusable { .. } => "unusable",
        }
    }
}

/// Looks at a fabric's root as this process resolved it. Reads only.
pub fn inspect_root(home: &Home, fabric: &Fabric) -> RootState {
    if fabric.root_rule == RootRule::GitClone {
        if let Some(g) = &fabric.git {
            let clone = home
                .repos_dir()
                .join(clone_dir_name(&g.url, g.branch.as_deref()));
            if !clone.join(".git").exists() {
                return RootState::NotCloned { clone };
            }
        }
    }
    let root = &fabric.root;
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return RootState::Missing,
        Err(e) => {
            return RootState::Unusable {
                message: format!("cannot read {}: {e}", root.display()),
            }
        }
        Ok(m) if !m.is_dir() => {
            return RootState::Unusable {
                message: format!("{} is not a folder", root.display()),
            }
        }
        Ok(_) => {}
    }
    let dir = match crate::sandbox::RootDir::open(root) {
        Ok(d) => d,
        Err(e) => {
            return RootState::Unusable {
                message: format!("cannot open {}: {e}", root.display()),
            }
        }
    };
    match crate::records::read_manifest(&dir) {
        Ok(crate::records::ManifestState::Current(m)) if m.fabric == fabric.name => {
            RootState::Ready
        }
        Ok(crate::records::ManifestState::Current(m)) => RootState::OtherFabric {
            manifest_fabric: m.fabric,
        },
        Ok(_) => RootState::NotInitialized,
        Err(e) => RootState::Unusable {
            message: e.to_string(),
        },
    }
}

/// Refuses to work on a root that is not this fabric's, saying why and what to do. A root without a current
/// manifest passes (the operation reports the missing layout itself); a missing root and a manifest naming
/// another fabric do not: with several processes on one database, that means this process does not see the
/// fabric where the others do.
pub fn verify_root(home: &Home, fabric: &Fabric) -> Result<()> {
    let root = fabric.root.display();
    let name = &fabric.name;
    match (inspect_root(home, fabric), fabric.root_rule) {
        (RootState::Ready | RootState::NotInitialized, _) => Ok(()),
        (RootState::NotCloned { clone }, _) => Err(Error::usage(format!(
            "fabric {name:?} is not cloned in this home yet ({}): run `hhgitops ingest --fabric {name}` or `hhgitops sync --fabric {name}`, which clone it first",
            clone.display()
        ))),
        (RootState::Missing, RootRule::Path) => Err(Error::usage(format!(
            "the GitOps root {root} of fabric {name:?} (rule 1: --path given when the fabric was added) does not exist on this machine. \
             Every hhgitops process sharing the database must see a --path fabric at that same path: mount the shared folder there, \
             or give the fabric a Git remote so that each process works in its own clone"
        ))),
        (RootState::Missing, RootRule::HomeDefault) => Err(Error::usage(format!(
            "the GitOps root {root} of fabric {name:?} (rule 3: inside the home) does not exist in this home. \
             If another hhgitops process with its own home added it, this process cannot see its files: a fabric shared by several \
             processes needs a Git remote (each works in its own clone) or a --path they all see. \
             To create the layout here, run `hhgitops init --fabric {name}`"
        ))),
        (RootState::Missing, RootRule::GitClone) => Err(Error::usage(format!(
            "the GitOps root {root} of fabric {name:?} is not in this home's clone (the repository has no {} on its branch yet): \
             run `hhgitops init --fabric {name}` to create and push the layout",
            fabric.git.as_ref().map(|g| g.path.as_str()).unwrap_or("")
        ))),
        (RootState::OtherFabric { manifest_fabric }, rule) => Err(Error::usage(format!(
            "{root} is not the GitOps root of fabric {name:?}: its .hnp/manifest.yaml names fabric {manifest_fabric:?}{}",
            if rule == RootRule::Path {
                ". Every hhgitops process sharing the database must see a --path fabric at the same path; on this machine that path holds another fabric"
            } else {
                ""
            }
        ))),
        (RootState::Unusable { message }, _) => Err(Error::usage(format!(
            "the GitOps root of fabric {name:?} cannot be used: {message}"
        ))),
    }
}

fn now() -> String {
    crate::clock::now_rfc3339()
}

/// The fabric registry in the database. It stores the inputs of the root rule (`--path`, or the Git URL,
/// branch and path), never a resolved root: every process resolves each fabric's root in its own home, so
/// processes with different homes can share one PostgreSQL database (each works in its own clone).
#[derive(Debug, Clone)]
pub struct Registry {
    db: Database,
    home: Home,
}

impl Registry {
    pub fn new(db: Database, home: Home) -> Self {
        Registry { db, home }
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub async fn list(&self) -> Result<Vec<Fabric>> {
        let rows = sqlx::query("SELECT * FROM fabrics ORDER BY name")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| fabric_from_row(&self.home, r))
            .collect()
    }

    pub async fn get(&self, name: &str) -> Result<Fabric> {
        let row = sqlx::query("SELECT * FROM fabrics WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(r) => fabric_from_row(&self.home, &r),
            None => Err(Error::UnknownFabric(name.to_string())),
        }
    }

    /// Checks that a new fabric can be registered: name free, root not overlapping another fabric's.
    pub async fn check_new(&self, name: &str, root: &Path) -> Result<()> {
        self.check_name_free(name).await?;
        for f in self.list().await? {
            if roots_overlap(&f.root, root) {
                return Err(Error::usage(format!(
                    "the GitOps root {} overlaps fabric {:?} at {}: two fabrics may never share or nest roots; choose another --path or --git-path",
                    root.display(),
                    f.name,
                    f.root.display()
                )));
            }
        }
        Ok(())
    }

    /// A taken name is a conflict, whatever the root.
    pub async fn check_name_free(&self, name: &str) -> Result<()> {
        if let Some(f) = self.list().await?.into_iter().find(|f| f.name == name) {
            return Err(Error::Conflict(format!(
                "fabric {name:?} is already registered (root {}); remove it first or choose another name",
                f.root.display()
            )));
        }
        Ok(())
    }

    /// Inserts a fabric row (its layout is made after, outside the transaction: see `Engine::add_fabric`).
    pub async fn insert(&self, fabric: &Fabric) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        // Records left by an earlier fabric of the same name (removed by an older version, which kept its
        // runs) never show under the new one.
        for table in ["runs", "managed_objects", "rejections"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE fabric = $1"))
                .bind(&fabric.name)
                .execute(&mut *tx)
                .await?;
        }
        let git = fabric.git.as_ref();
        sqlx::query(
            "INSERT INTO fabrics (name, root_rule, path, git_url, git_branch, git_path, git_token_env, \
             kubeconfig, kube_context, options, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&fabric.name)
        .bind(fabric.root_rule.as_str())
        .bind(fabric.path.as_deref().map(path_str))
        .bind(git.map(|g| g.url.clone()))
        .bind(git.and_then(|g| g.branch.clone()))
        .bind(git.map(|g| g.path.clone()))
        .bind(git.and_then(|g| g.token_env.clone()))
        .bind(fabric.kubeconfig.as_deref().map(path_str))
        .bind(fabric.kube_context.clone())
        .bind(fabric.options.to_string())
        .bind(&fabric.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict(format!("fabric {:?} is already registered", fabric.name))
            }
            _ => Error::from(e),
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a fabric's options (JSON object).
    pub async fn set_options(&self, name: &str, options: &serde_json::Value) -> Result<()> {
        let n = sqlx::query("UPDATE fabrics SET options = $1 WHERE name = $2")
            .bind(options.to_string())
            .bind(name)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::UnknownFabric(name.to_string()));
        }
        Ok(())
    }

    /// Changes a fabric's Kubernetes target.
    pub async fn set_target(
        &self,
        name: &str,
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE fabrics SET kubeconfig = $1, kube_context = $2 WHERE name = $3")
            .bind(kubeconfig.map(path_str))
            .bind(context.map(str::to_string))
            .bind(name)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Unregisters a fabric and forgets its index, rejections and run history (a fabric added again under the
    /// same name starts with none of them). Never touches files.
    pub async fn remove(&self, name: &str) -> Result<Fabric> {
        let fabric = self.get(name).await?;
        let mut tx = self.db.begin_write().await?;
        for table in ["runs", "managed_objects", "rejections", "fabrics"] {
            let col = if table == "fabrics" { "name" } else { "fabric" };
            sqlx::query(&format!("DELETE FROM {table} WHERE {col} = $1"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(fabric)
    }
}

/// Builds the in-memory record of a new fabric from what the operator gave.
pub fn new_fabric(home: &Home, spec: &FabricSpec) -> Result<Fabric> {
    let (root, rule) = resolve_root(home, spec)?;
    if let Some(var) = &spec.git_token_env {
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::usage(format!(
                "--git-token-env {var:?} must name an environment variable (letters, digits, '_')"
            )));
        }
    }
    let git = spec.git_url.as_ref().map(|url| GitRemote {
        url: url.clone(),
        branch: spec.git_branch.clone(),
        path: spec
            .git_path
            .clone()
            .unwrap_or_else(|| default_git_path(&spec.name)),
        token_env: spec.git_token_env.clone(),
    });
    let kubeconfig = match &spec.kubeconfig {
        Some(k) => Some(absolute(k)?),
        None => None,
    };
    Ok(Fabric {
        name: spec.name.clone(),
        path: if rule == RootRule::Path {
            Some(root.clone())
        } else {
            None
        },
        root,
        root_rule: rule,
        git,
        kubeconfig,
        kube_context: spec.kube_context.clone(),
        options: spec
            .options
            .clone()
            .unwrap_or_else(|| serde_json::json!({})),
        created_at: now(),
    })
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Reads a fabric row and resolves its root in `home` with the one resolver: the row holds the rule's inputs.
fn fabric_from_row(home: &Home, row: &sqlx::any::AnyRow) -> Result<Fabric> {
    let name: String = row.try_get("name")?;
    let git = match opt_text(row, "git_url")? {
        Some(url) => Some(GitRemote {
            url,
            branch: opt_text(row, "git_branch")?,
            path: opt_text(row, "git_path")?.unwrap_or_else(|| default_git_path(&name)),
            token_env: opt_text(row, "git_token_env")?,
        }),
        None => None,
    };
    let path = opt_text(row, "path")?.map(PathBuf::from);
    let stored_rule = RootRule::parse(&row.try_get::<String, _>("root_rule")?)?;
    let spec = FabricSpec {
        name: name.clone(),
        path: path.clone(),
        git_url: git.as_ref().map(|g| g.url.clone()),
        git_branch: git.as_ref().and_then(|g| g.branch.clone()),
        git_path: git.as_ref().map(|g| g.path.clone()),
        ..Default::default()
    };
    let (root, root_rule) = resolve_root(home, &spec)?;
    if root_rule != stored_rule {
        return Err(Error::Database(format!(
            "fabric {name:?} is recorded with root rule {:?} but its settings select {:?}",
            stored_rule.as_str(),
            root_rule.as_str()
        )));
    }
    let options: String = row.try_get("options")?;
    Ok(Fabric {
        root,
        root_rule,
        path,
        git,
        kubeconfig: opt_text(row, "kubeconfig")?.map(PathBuf::from),
        kube_context: opt_text(row, "kube_context")?,
        options: serde_json::from_str(&options).unwrap_or_else(|_| serde_json::json!({})),
        created_at: row.try_get("created_at")?,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_git_paths() {
        for p in [".git", ".git/hooks", "a/.git/b", "a/.GIT"] {
            assert!(inside_dot_git(p), "{p}");
        }
        for p in ["fabrics/a/gitops", "a/.gitx", "git"] {
            assert!(!inside_dot_git(p), "{p}");
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "prod-east", "f1", &"a".repeat(63)] {
            assert!(validate_fabric_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64), "ä"] {
            assert!(validate_fabric_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn git_paths() {
        assert!(validate_git_path("fabrics/x/gitops").is_ok());
        assert!(validate_git_path("/abs").is_err());
        assert!(validate_git_path("a/../b").is_err());
        assert!(validate_git_path("").is_err());
    }

    #[test]
    fn rules() {
        let home = Home::from_dir("/h").unwrap();
        let spec = FabricSpec {
            name: "f".into(),
            ..Default::default()
        };
        assert_eq!(
            resolve_root(&home, &spec).unwrap(),
            (PathBuf::from("/h/fabrics/f/gitops"), RootRule::HomeDefault)
        );
        let spec = FabricSpec {
            name: "f".into(),
            path: Some("/x/../y".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_root(&home, &spec).unwrap(),
            (PathBuf::from("/y"), RootRule::Path)
        );
        let spec = FabricSpec {
            name: "f".into(),
            git_url: Some("file:///r/repo.git".into()),
            ..Default::default()
        };
        let (root, rule) = resolve_root(&home, &spec).unwrap();
        assert_eq!(rule, RootRule::GitClone);
        assert!(root.starts_with("/h/repos"));
        assert!(root.ends_with("fabrics/f/gitops"));
        assert!(roots_overlap(Path::new("/a/b"), Path::new("/a")));
        assert!(!roots_overlap(Path::new("/a/b"), Path::new("/a/bc")));
    }

    #[test]
    fn clone_dirs_differ_per_branch() {
        let a = clone_dir_name("https://example.com/org/repo.git", None);
        let b = clone_dir_name("https://example.com/org/repo.git", Some("dev"));
        assert_ne!(a, b);
        assert!(a.starts_with("repo-"));
    }
}
