//! Push with retry: when the remote moved, fetch, rebase, re-validate and push again; never force.

use crate::{Credentials, GitError, GitRepo, PushOutcome, RebaseOutcome, SyncError};

/// What [`sync_push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub outcome: PushOutcome,
    /// Push attempts made (1 when the first push went through).
    pub attempts: u32,
    /// Rebases onto a remote that had moved.
    pub rebases: u32,
}

/// Push the current branch; while the push is refused because the remote moved, fetch, rebase the local commits
/// onto the remote branch, call `revalidate` on the result and push again, up to `max_attempts` pushes.
///
/// Never forces. A real conflict aborts the rebase (clean work tree, branch unchanged), keeps the local commits
/// on a branch `hhgitops/conflict-<UTC time>-<id>` and returns [`GitError::Conflict`] naming the files. When
/// `revalidate` refuses the rebased state nothing is pushed, the rebased commits are kept on
/// `hhgitops/invalid-<UTC time>-<id>` and the branch is left rebased, for the caller to fix or reset
/// ([`GitRepo::reset_keep`]). The caller holds the [`crate::CloneLock`] for the whole call.
pub fn sync_push<E, F>(
    repo: &GitRepo,
    credentials: &Credentials,
    max_attempts: u32,
    mut revalidate: F,
) -> Result<SyncReport, SyncError<E>>
where
    F: FnMut(&GitRepo) -> Result<(), E>,
{
    let max_attempts = max_attempts.max(1);
    let mut rebases = 0;
    for attempt in 1..=max_attempts {
        match repo.push(credentials) {
            Ok(outcome) => {
                return Ok(SyncReport {
                    outcome,
                    attempts: attempt,
                    rebases,
                })
            }
            Err(GitError::RemoteMoved { .. }) if attempt < max_attempts => {
                tracing::info!(
                    attempt,
                    "push rejected because the remote moved; fetching and rebasing"
                );
            }
            Err(GitError::RemoteMoved { .. }) => {
                return Err(SyncError::RemoteKeptMoving { attempts: attempt })
            }
            Err(e) => return Err(e.into()),
        }
        repo.fetch(credentials)?;
        match repo.rebase_onto_upstream()? {
            RebaseOutcome::Conflict { files } => {
                let saved_branch = repo.save_recovery_branch("conflict")?;
                let upstream = repo.upstream()?;
                tracing::warn!(branch = %saved_branch, ?files, "rebase conflict; local commits kept");
                return Err(GitError::Conflict {
                    workdir: repo.workdir().to_path_buf(),
                    upstream: upstream.to_string(),
                    files,
                    saved_branch: Some(saved_branch),
                }
                .into());
            }
            RebaseOutcome::UpToDate | RebaseOutcome::Rebased { .. } => rebases += 1,
        }
        if let Err(error) = revalidate(repo) {
            let saved_branch = repo.save_recovery_branch("invalid")?;
            return Err(SyncError::Revalidation {
                error,
                saved_branch,
            });
        }
    }
    Err(SyncError::RemoteKeptMoving {
        attempts: max_attempts,
    })
}
