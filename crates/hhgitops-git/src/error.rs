//! The typed errors of this crate: each variant's message says what happened and what a person can do about it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while driving `git`.
///
/// Every message is already redacted: URLs never show their userinfo and a token value never appears.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The `git` program could not be started.
    #[error("git is not installed or not on PATH (could not run `{program}`); install git {MIN_GIT_VERSION} or newer")]
    NotInstalled { program: String },

    /// `git` runs but is older than this crate needs.
    #[error("git {found} is too old; hhgitops needs git {MIN_GIT_VERSION} or newer")]
    TooOld { found: String },

    /// The URL is malformed or names a transport git does not know.
    #[error("invalid Git URL {url}: {detail}")]
    BadUrl { url: String, detail: String },

    /// The URL carries a password, which git would store in the clone's `.git/config`.
    #[error(
        "the Git URL {url} contains a password; remove it from the URL and name an environment variable \
         holding the token instead (--git-token-env)"
    )]
    CredentialsInUrl { url: String },

    /// The remote answered but has no such repository (or hides it from these credentials).
    #[error("Git repository {url} not found (or not visible with these credentials): {detail}")]
    RepositoryNotFound { url: String, detail: String },

    /// The remote refused the credentials, or none were available.
    #[error("authentication to {url} failed: {detail}; {hint}")]
    AuthenticationFailed {
        url: String,
        detail: String,
        hint: String,
    },

    /// SSH could not verify the server's host key.
    #[error(
        "the SSH host key of {url} could not be verified; add the host to known_hosts (ssh-keyscan HOST >> \
         ~/.ssh/known_hosts, after checking the fingerprint) and retry"
    )]
    HostKeyVerificationFailed { url: String },

    /// The branch does not exist on the remote.
    #[error("branch `{branch}` does not exist on the remote {url}")]
    BranchNotFound { url: String, branch: String },

    /// DNS failure, connection refused, timeout at the network level.
    #[error("Git remote {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },

    /// The push was refused because the remote branch has commits this clone does not have.
    #[error(
        "push to {url} rejected: the remote branch `{branch}` has moved (it has commits this clone does not \
         have yet); fetch, rebase and push again (never force)"
    )]
    RemoteMoved { url: String, branch: String },

    /// The remote refused the push for another reason (protected branch, hook, permissions).
    #[error("push to {url} refused by the remote: {reason}")]
    PushDeclined { url: String, reason: String },

    /// Rebasing the local commits onto the remote branch conflicted; the rebase was aborted.
    #[error(
        "conflict while rebasing onto {upstream} in {}: {} changed both here and on the remote; the rebase was \
         aborted and the work tree is clean{}",
        .workdir.display(),
        join_paths(.files),
        saved_note(.saved_branch)
    )]
    Conflict {
        workdir: PathBuf,
        upstream: String,
        files: Vec<PathBuf>,
        saved_branch: Option<String>,
    },

    /// Local uncommitted changes (or untracked files) are in the way of a merge, rebase or checkout.
    #[error(
        "local changes in {} would be overwritten ({}); commit, move or remove them and retry",
        .workdir.display(),
        join_paths(.files)
    )]
    LocalChanges {
        workdir: PathBuf,
        files: Vec<PathBuf>,
    },

    /// The directory is not (the top of) a Git work tree.
    #[error("{} is not a Git work tree: {detail}", .path.display())]
    NotARepository { path: PathBuf, detail: String },

    /// No branch is checked out.
    #[error("{} has no branch checked out (detached HEAD); check out the branch hhgitops should commit to", .path.display())]
    DetachedHead { path: PathBuf },

    /// The work tree has no remote to fetch from or push to.
    #[error("{} has no Git remote", .path.display())]
    NoRemote { path: PathBuf },

    /// The clone destination is in use.
    #[error("{} already exists and is not an empty directory; refusing to clone into it", .dest.display())]
    DestinationNotEmpty { dest: PathBuf },

    /// The token variable named by `Credentials::TokenEnv` cannot be used.
    #[error("the Git token variable {var} {problem}; export it with the access token before running hhgitops")]
    TokenVariable { var: String, problem: String },

    /// A caller-supplied value (branch name, author, revision, path, message) is not acceptable.
    #[error("{0}")]
    InvalidInput(String),

    /// The command ran longer than its timeout and was killed together with everything it started.
    #[error("git {command} did not finish within {after:?} and was stopped; the remote may be slow or hanging")]
    Timeout { command: String, after: Duration },

    /// Another operation holds the clone's lock.
    #[error(
        "another operation holds the lock {} (waited {:.1}s){}",
        .path.display(),
        .waited.as_secs_f64(),
        holder_note(.holder)
    )]
    LockTimeout {
        path: PathBuf,
        waited: Duration,
        holder: Option<String>,
    },

    /// A file-system or process operation failed.
    #[error("{context}: {cause}")]
    Io { context: String, cause: io::Error },

    /// git failed in a way not classified above; `detail` holds the useful lines of its stderr.
    #[error("git {command} failed ({status}): {detail}")]
    Failed {
        command: String,
        status: String,
        detail: String,
    },
}

/// The oldest git this crate supports (`GIT_CONFIG_COUNT` and `rev-parse --path-format` need 2.31).
pub const MIN_GIT_VERSION: &str = "2.31";

impl GitError {
    pub(crate) fn io(context: impl Into<String>, cause: io::Error) -> Self {
        GitError::Io {
            context: context.into(),
            cause,
        }
    }

    /// Is this a failure to reach the remote (worth retrying later) rather than a problem a person must fix?
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GitError::Unreachable { .. } | GitError::Timeout { .. } | GitError::LockTimeout { .. }
        )
    }
}

/// The error of [`crate::sync_push`]: a Git error, or the caller's re-validation refusing the rebased state.
#[derive(Debug, thiserror::Error)]
pub enum SyncError<E> {
    /// Fetch, rebase or push failed; a conflict is [`GitError::Conflict`].
    #[error(transparent)]
    Git(#[from] GitError),

    /// The state after rebasing onto the remote did not pass re-validation; nothing was pushed.
    #[error(
        "after rebasing onto the remote the result did not pass validation, so nothing was pushed; the local \
         commits are kept on branch {saved_branch}: {error}"
    )]
    Revalidation { error: E, saved_branch: String },

    /// Every attempt was rejected because the remote kept moving.
    #[error("push still rejected after {attempts} attempts because the remote kept moving; nothing was forced")]
    RemoteKeptMoving { attempts: u32 },
}

fn join_paths(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "(no files reported)".to_owned();
    }
    let shown: Vec<String> = files
        .iter()
        .take(20)
        .map(|f| f.display().to_string())
        .collect();
    let mut out = shown.join(", ");
    if files.len() > shown.len() {
        out.push_str(&format!(" and {} more", files.len() - shown.len()));
    }
    out
}

fn saved_note(saved: &Option<String>) -> String {
    match saved {
        Some(branch) => format!("; the local commits are kept on branch {branch}"),
        None => String::new(),
    }
}

fn holder_note(holder: &Option<String>) -> String {
    match holder {
        Some(h) => format!("; held by {h}"),
        None => String::new(),
    }
}
