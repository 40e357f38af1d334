//! The Git side of every operation that changes a GitOps root (SPEC §5): bring the clone up to date first,
//! then exactly one commit of what changed under the fabric's root, then a push when there is a remote —
//! retried after fetch, rebase and re-validation when the remote moved, never forced.
//!
//! - A fabric with `--git-url` works in its clone under the home (one clone per repository and branch, shared by
//!   the fabrics that live in it); the clone is made on first use.
//! - A fabric with `--path` inside a Git work tree commits there, and pushes only when the branch has an upstream.
//! - Any other fabric works without Git.
//!
//! Invariants: one [`CloneLock`] per clone is held from the pull to the push, so operations on one clone never
//! interleave; commits include only paths under the fabric's root; a token is handed to git only through
//! [`Credentials::TokenEnv`].

use std::path::{Path, PathBuf};

use hhgitops_git::{
    CloneLock, CommitOutcome, Credentials, FastForward, GitError, GitRepo, PushOutcome,
    RebaseOutcome, SyncError,
};
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::fabric::{clone_dir_name, Fabric, RootRule};
use crate::home::Home;

pub use crate::settings::{BeforePush, GitSettings};

/// What the Git side of an operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitOutcome {
    /// The new commit, when one was made.
    pub commit: Option<String>,
    pub message: Option<String>,
    pub pushed: bool,
    /// Rebases onto a remote that had moved before the push went through.
    pub rebases: u32,
}

/// An open Git context for one operation on one fabric. Holds the clone's lock until dropped.
pub struct GitSession {
    repo: GitRepo,
    root: PathBuf,
    credentials: Credentials,
    push: bool,
    /// The clone was created by this session (so a failed `fabric add` can remove it again).
    pub created_clone: Option<PathBuf>,
    _lock: CloneLock,
}

impl std::fmt::Debug for GitSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSession")
            .field("workdir", &self.repo.workdir())
            .field("push", &self.push)
            .finish()
    }
}

/// A Git failure as an engine error: what the operator wrote wrong (a malformed URL, a password in it) is a usage
/// error (exit 2), everything else a runtime failure (exit 3).
pub fn git_error(e: GitError) -> Error {
    match e {
        GitError::BadUrl { .. } | GitError::CredentialsInUrl { .. } => {
            Error::Usage(format!("git: {e}"))
        }
        GitError::Conflict { .. } => Error::GitConflict(e.to_string()),
        e => Error::GitCommand(e),
    }
}

/// Opens the Git side of an operation (clone, pull, lock); `None` for a fabric outside Git.
pub async fn session(ctx: &Context, fabric: &Fabric, purpose: &str) -> Result<Option<GitSession>> {
    let home = ctx.home().clone();
    let fabric = fabric.clone();
    let settings = ctx.git_settings().clone();
    let purpose = purpose.to_string();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(crate::actor::carry(move || {
        span.in_scope(|| open_session(&home, &fabric, &settings, &purpose))
    }))
    .await
    .map_err(|e| Error::Runtime(format!("git task failed: {e}")))?
}

/// Commits what changed under the fabric's root and pushes (re-validating after a rebase).
pub async fn commit(
    ctx: &Context,
    fabric: &Fabric,
    session: GitSession,
    message: String,
) -> Result<GitOutcome> {
    let fabric = fabric.clone();
    let settings = ctx.git_settings().clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(crate::actor::carry(move || {
        span.in_scope(|| session.commit_and_push(&message, &settings, revalidate(&fabric)))
    }))
    .await
    .map_err(|e| Error::Runtime(format!("git task failed: {e}")))?
}

/// [`commit`] in a session the caller keeps: the outcome of the commit and push, and the
/// session back (a sync commits its layout and its ingestion in one session).
pub async fn commit_in(
    ctx: &Context,
    fabric: &Fabric,
    session: GitSession,
    message: String,
) -> Result<(Result<GitOutcome>, GitSession)> {
    let fabric = fabric.clone();
    let settings = ctx.git_settings().clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(crate::actor::carry(move || {
        let _entered = span.enter();
        let r = session.commit_and_push(&message, &settings, revalidate(&fabric));
        (r, session)
    }))
    .await
    .map_err(|e| Error::Runtime(format!("git task failed: {e}")))
}

/// The git client of an operation.
fn git_client(settings: &GitSettings) -> hhgitops_git::Git {
    hhgitops_git::Git::new()
        .with_author(settings.author.clone())
        .with_bulk_commit_min(settings.bulk_commit_min)
}

fn credentials(fabric: &Fabric) -> Credentials {
    match fabric.git.as_ref().and_then(|g| g.token_env.clone()) {
        Some(var) => Credentials::TokenEnv(var),
        None => Credentials::Default,
    }
}

/// The clone folder of a `--git-url` fabric.
pub fn clone_dir(home: &Home, fabric: &Fabric) -> Option<PathBuf> {
    let g = fabric.git.as_ref()?;
    Some(
        home.repos_dir()
            .join(clone_dir_name(&g.url, g.branch.as_deref())),
    )
}

/// Opens the Git side of an operation (blocking): clones or brings the clone up to date for a remote fabric,
/// discovers the enclosing work tree for a local one. `None` when the fabric is not in Git.
pub fn open_session(
    home: &Home,
    fabric: &Fabric,
    settings: &GitSettings,
    purpose: &str,
) -> Result<Option<GitSession>> {
    match fabric.root_rule {
        RootRule::GitClone => {
            let g = fabric
                .git
                .as_ref()
                .ok_or_else(|| Error::Runtime("a Git fabric without a remote".into()))?;
            let dir =
                clone_dir(home, fabric).ok_or_else(|| Error::Runtime("no clone folder".into()))?;
            let repos = home.repos_dir();
            std::fs::create_dir_all(&repos).map_err(|e| Error::io("cannot create", &repos, e))?;
            let lock_path = PathBuf::from(format!("{}.lock", dir.display()));
            let lock = CloneLock::acquire_file(&lock_path, purpose, settings.lock_timeout)
                .map_err(git_error)?;
            let creds = credentials(fabric);
            let git = git_client(settings);
            let mut created = None;
            let repo = if dir.join(".git").exists() {
                git.open(&dir).map_err(git_error)?
            } else {
                let r = git
                    .clone_repo(&g.url, g.branch.as_deref(), &dir, &creds)
                    .map_err(git_error)?;
                created = Some(dir.clone());
                r
            };
            let session = GitSession {
                repo,
                root: fabric.root.clone(),
                credentials: creds,
                push: true,
                created_clone: created,
                _lock: lock,
            };
            session.pull()?;
            refuse_tracked_txn(&session.repo, &session.root)?;
            Ok(Some(session))
        }
        RootRule::Path | RootRule::HomeDefault => {
            let probe = nearest_existing(&fabric.root);
            let git = git_client(settings);
            let Some(found) = git.discover(&probe).map_err(git_error)? else {
                return Ok(None);
            };
            let repo = found.repo;
            let lock =
                CloneLock::acquire(&repo, purpose, settings.lock_timeout).map_err(git_error)?;
            let push = repo.has_remote().unwrap_or(false) && repo.upstream().is_ok();
            refuse_tracked_txn(&repo, &fabric.root)?;
            Ok(Some(GitSession {
                repo,
                root: fabric.root.clone(),
                credentials: Credentials::Default,
                push,
                created_clone: None,
                _lock: lock,
            }))
        }
    }
}

/// A tree that tracks `.hnp/txn` in Git is refused before anything runs: transactions are run-time files that
/// never belong in a repository, and a journal from a repository (anyone who can push) is never applied.
pub fn refuse_tracked_txn(repo: &GitRepo, root: &Path) -> Result<()> {
    if !root.is_dir() {
        return Ok(());
    }
    let out = repo
        .git()
        .command(root)
        .args(["ls-files", "-z", "--", crate::names::TXN_DIR])
        .run()
        .map_err(git_error)?;
    let tracked: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    if let Some(first) = tracked.first() {
        return Err(Error::Corrupt {
            path: root.join(crate::names::TXN_DIR),
            message: format!(
                "is tracked in Git ({} file(s), e.g. {first}): hhgitops' transactions never belong in a repository and one from a repository is never applied; remove it from Git (`git rm -r --cached {}` in {}, commit and push). Nothing was done",
                tracked.len(),
                crate::names::TXN_DIR,
                root.display()
            ),
        });
    }
    Ok(())
}

fn nearest_existing(p: &Path) -> PathBuf {
    let mut cur = p;
    while !cur.exists() {
        match cur.parent() {
            Some(parent) => cur = parent,
            None => break,
        }
    }
    cur.to_path_buf()
}

impl GitSession {
    pub fn pushes(&self) -> bool {
        self.push
    }

    /// The content of a file (absolute path inside the work tree) in the last commit; `None` when there is no
    /// commit yet or the commit lacks the file.
    pub fn committed_file(&self, path: &Path) -> Option<Vec<u8>> {
        self.repo.show("HEAD", path).ok()
    }

    /// Fetch and fast-forward; with local commits that never reached the remote (a push that failed earlier),
    /// rebase them onto it. Then the layout's empty folders, which Git does not keep, are made again.
    pub fn pull(&self) -> Result<()> {
        self.fetch_and_update()?;
        crate::layout::GitOpsRoot::new(&self.root).restore_empty_dirs()
    }

    fn fetch_and_update(&self) -> Result<()> {
        self.repo.fetch(&self.credentials).map_err(git_error)?;
        match self.repo.fast_forward().map_err(git_error)? {
            FastForward::Diverged { .. } => {
                match self.repo.rebase_onto_upstream().map_err(git_error)? {
                    RebaseOutcome::Conflict { files } => {
                        let saved = self
                            .repo
                            .save_recovery_branch("conflict")
                            .map_err(git_error)?;
                        Err(Error::GitConflict(
                            GitError::Conflict {
                                workdir: self.repo.workdir().to_path_buf(),
                                upstream: self
                                    .repo
                                    .upstream()
                                    .map(|u| u.tracking_ref())
                                    .unwrap_or_default(),
                                files,
                                saved_branch: Some(saved),
                            }
                            .to_string(),
                        ))
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Commits everything under the fabric's root (nothing else) and pushes when there is a remote. `revalidate`
    /// checks the fabric state again after a rebase onto a remote that moved.
    pub fn commit_and_push<F>(
        &self,
        message: &str,
        settings: &GitSettings,
        revalidate: F,
    ) -> Result<GitOutcome>
    where
        F: FnMut(&GitRepo) -> std::result::Result<(), String>,
    {
        let mut outcome = GitOutcome::default();
        // Who the commit was made for (a token, the watcher), as a trailer Git tools read.
        let message = crate::actor::with_commit_trailer(message);
        if self.root.exists() {
            if let CommitOutcome::Committed(id) = self
                .repo
                .commit(&message, &settings.author, &self.root)
                .map_err(git_error)?
            {
                outcome.commit = Some(id.as_str().to_string());
                outcome.message = Some(message);
            }
        }
        if self.push {
            if let Some(hook) = &settings.before_push {
                hook();
            }
            match hhgitops_git::sync_push(
                &self.repo,
                &self.credentials,
                settings.max_push_attempts,
                revalidate,
            ) {
                Ok(r) => {
                    outcome.pushed = matches!(r.outcome, PushOutcome::Pushed { .. });
                    outcome.rebases = r.rebases;
                }
                Err(SyncError::Git(e)) => return Err(git_error(e)),
                Err(e) => return Err(Error::Git(e.to_string())),
            }
        }
        Ok(outcome)
    }
}

/// Re-validation after a rebase: the managed state of the fabric must still validate.
pub fn revalidate(fabric: &Fabric) -> impl FnMut(&GitRepo) -> std::result::Result<(), String> + '_ {
    move |_repo| {
        let files: Vec<PathBuf> = Vec::new();
        match crate::check::validate_files(&files, Some(fabric)) {
            Ok(r) if r.valid() && r.managed_errors.is_empty() => Ok(()),
            Ok(r) => {
                let first = r
                    .files
                    .iter()
                    .flat_map(|f| f.errors.iter().map(move |e| e.display(&f.file)))
                    .chain(r.managed_errors.iter().map(|d| d.to_string()))
                    .next()
                    .unwrap_or_default();
                Err(format!(
                    "the fabric state after the rebase is invalid: {first}"
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The Git side of a fabric as `status` shows it, from the clone alone (no fetch: as of the last operation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitStatus {
    /// The work tree the fabric commits in.
    pub workdir: String,
    pub branch: Option<String>,
    /// The remote branch it pushes to (`origin/main`), when there is one.
    pub upstream: Option<String>,
    /// Local commits the remote branch does not have (not pushed yet).
    pub ahead: usize,
    /// Remote commits this clone does not have yet.
    pub behind: usize,
    /// The branch keeping this clone's commits after they conflicted with the remote's (`hhgitops/conflict-…`).
    pub conflict_branch: Option<String>,
    /// Nothing can be committed until the conflict is resolved by hand.
    pub blocked: bool,
    /// What to do, in order (empty when all is well).
    pub steps: Vec<String>,
}

/// Reads the fabric's Git state (blocking; runs `git` a few times, never the network). `None` when the fabric
/// is not in Git or its clone does not exist yet.
pub fn git_status(home: &Home, fabric: &Fabric) -> Result<Option<GitStatus>> {
    let repo = match fabric.root_rule {
        RootRule::GitClone => {
            let Some(dir) = clone_dir(home, fabric) else {
                return Ok(None);
            };
            if !dir.join(".git").exists() {
                return Ok(None);
            }
            GitRepo::open(&dir).map_err(git_error)?
        }
        RootRule::Path | RootRule::HomeDefault => {
            match GitRepo::discover(&nearest_existing(&fabric.root)).map_err(git_error)? {
                Some(found) => found.repo,
                None => return Ok(None),
            }
        }
    };
    let workdir = repo.workdir().display().to_string();
    let mut st = GitStatus {
        workdir: workdir.clone(),
        branch: repo.current_branch().ok().flatten(),
        ..GitStatus::default()
    };
    let Ok(upstream) = repo.upstream() else {
        return Ok(Some(st));
    };
    let tracking = upstream.tracking_ref();
    st.upstream = Some(upstream.to_string());
    if repo.rev_parse(&tracking).ok().flatten().is_some() {
        if let Ok((ahead, behind)) = repo.ahead_behind(&tracking) {
            st.ahead = ahead;
            st.behind = behind;
        }
    }
    let head = repo.head().ok().flatten();
    if let Some(head) = &head {
        for b in repo.branches().unwrap_or_default() {
            if b.starts_with("hhgitops/conflict-")
                && repo
                    .rev_parse(&format!("refs/heads/{b}"))
                    .ok()
                    .flatten()
                    .as_ref()
                    == Some(head)
            {
                st.conflict_branch = Some(b);
                break;
            }
        }
    }
    let fabric_arg = format!("--fabric {}", fabric.name);
    let up = upstream.to_string();
    if st.conflict_branch.is_some() && st.ahead > 0 && st.behind > 0 {
        st.blocked = true;
        let saved = st.conflict_branch.clone().unwrap_or_default();
        st.steps = vec![
            format!(
                "{} local commit(s) in {workdir} conflict with {} commit(s) on {up}; nothing is committed until \
                 this is resolved (raw files are still validated)",
                st.ahead, st.behind
            ),
            format!(
                "to keep both: cd {workdir} && git rebase {up}; fix the conflicting files, git add them, \
                 git rebase --continue; then hhgitops ingest {fabric_arg} (re-validates and pushes)"
            ),
            format!(
                "or to take the remote's side: cd {workdir} && git reset --hard {up} (your commits stay on \
                 branch {saved}); then put the raw files again into raw/ and run hhgitops ingest {fabric_arg}"
            ),
        ];
    } else if st.ahead > 0 && st.behind > 0 {
        st.steps = vec![format!(
            "{} local commit(s) and {} remote commit(s) have diverged: the next operation rebases and pushes \
             (hhgitops ingest {fabric_arg})",
            st.ahead, st.behind
        )];
    } else if st.ahead > 0 {
        st.steps = vec![format!(
            "{} local commit(s) not pushed to {up} yet: the next operation pushes them (hhgitops ingest \
             {fabric_arg}); the last run's message says why the push failed",
            st.ahead
        )];
    }
    Ok(Some(st))
}
