//! Git for hhgitops, driven through the `git` command-line client.
//!
//! # What it is for
//!
//! The engine keeps each fabric's GitOps root in a Git work tree: a clone under the hhgitops home for fabrics with
//! a remote, or the operator's own work tree for a `--path` inside one. This crate is everything the engine does
//! with Git there:
//!
//! - [`clone`] / [`Git::clone_repo`], [`GitRepo::open`] (the top of a work tree) and [`GitRepo::discover`] (the
//!   work tree enclosing a directory, and the directory's prefix in it);
//! - [`GitRepo::fetch`], [`GitRepo::fast_forward`], [`GitRepo::rebase_onto_upstream`];
//! - [`GitRepo::commit`] of the changes under one prefix only, so fabrics sharing a repository never commit each
//!   other's files; a large change is committed through the plumbing (`update-index --stdin`, `write-tree`,
//!   `commit-tree`, `update-ref`), which costs what hashing the files costs (see `bulk.rs`);
//! - [`GitRepo::push`] and [`sync_push`]: push, and when the remote moved, fetch, rebase, re-validate, push again;
//! - [`CloneLock`]: one operation at a time per clone, across threads and processes;
//! - [`Credentials`]: what the operator's git already uses (SSH agent, credential helpers), or an HTTPS token
//!   named by an environment variable.
//!
//! # What it is not for
//!
//! It does not know about fabrics, YAML or the GitOps layout, does not decide *what* to commit or how to word a
//! commit message, and has no async API: every call blocks (callers run it on a blocking thread). It does not
//! link libgit2 or gix: the `git` client is what makes SSH agents, credential helpers, `insteadOf` rewrites and
//! proxies work exactly as they do for the operator. Unix only (process groups, `setsid`).
//!
//! # Invariants
//!
//! - **Never force, never lose.** Nothing here force-pushes, hard-resets, stashes, or deletes a branch. A rebase
//!   that conflicts is aborted and the local commits are kept on a `hhgitops/conflict-…` branch; uncommitted
//!   changes in the way of a merge or rebase stop it with [`GitError::LocalChanges`] instead of being stashed or
//!   overwritten. [`GitRepo::reset_keep`] is the only call that moves a branch backwards, and it refuses to
//!   discard uncommitted changes.
//! - **The operator's configuration is read, never written.** Identity comes from `GIT_AUTHOR_*` /
//!   `GIT_COMMITTER_*` for each command ([`Author`], default `hhgitops <hhgitops@localhost>`); nothing is written
//!   to global or system config. Hooks, pagers, editors, prompts, GPG signing, autostash and fsmonitor are
//!   switched off per command (environment and `GIT_CONFIG_COUNT`), so operator settings cannot make a command
//!   hang, sign, or behave differently. Repository-redirecting variables (`GIT_DIR`, `GIT_INDEX_FILE`, …) are
//!   removed from the child environment.
//! - **A token never leaves its variable.** With [`Credentials::TokenEnv`] git gets a `credential.helper` shell
//!   snippet through the environment that contains only the variable's *name*; the value is expanded by the
//!   helper's shell when git asks. It is never in a URL, argv, `.git/config`, a log line or an error message;
//!   the operator's own helpers are reset for that remote so none of them stores it. URLs carrying a password
//!   are refused, and every message has URL userinfo replaced by `***`.
//! - **Messages are parseable and bounded.** Every command runs with `LC_ALL=C`, its stderr is classified into a
//!   [`GitError`] whose message says what to do, and it has a timeout ([`Timeouts`]): on expiry git and
//!   everything it started (ssh, remote helpers) are killed as one process group.
//! - **No global state.** Any number of threads may work on different clones; one clone is serialised by its
//!   [`CloneLock`], which callers hold for the duration of an operation.

mod author;
mod bulk;
mod classify;
mod command;
mod credentials;
mod error;
mod lock;
pub mod redact;
mod repo;
mod sync;
mod timestamp;

use std::path::Path;

pub use author::Author;
pub use command::{
    CommandObserver, CommandRecord, Git, GitCommand, GitOutput, Timeouts, DEFAULT_BULK_COMMIT_MIN,
};
pub use credentials::{Credentials, TOKEN_USERNAME};
pub use error::{GitError, SyncError, MIN_GIT_VERSION};
pub use lock::{CloneLock, LOCK_FILE_NAME};
pub use repo::{
    CommitId, CommitOutcome, Discovered, FastForward, GitRepo, LogEntry, PushOutcome,
    RebaseOutcome, StatusEntry, Upstream,
};
pub use sync::{sync_push, SyncReport};

/// Clone `url` into `dest` with the default [`Git`] client; see [`Git::clone_repo`].
pub fn clone(
    url: &str,
    branch: Option<&str>,
    dest: &Path,
    credentials: &Credentials,
) -> Result<GitRepo, GitError> {
    Git::new().clone_repo(url, branch, dest, credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_shareable_between_threads() {
        send_sync::<Git>();
        send_sync::<GitRepo>();
        send_sync::<CloneLock>();
        send_sync::<GitError>();
    }
}
