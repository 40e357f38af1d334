//! A Git work tree and the operations hhgitops performs on it: clone, fetch, fast-forward, commit under a prefix,
//! push, rebase onto the upstream, and the read helpers (log, show) that reports and tests need.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::command::{relative_pathspec, Git, GitCommand};
use crate::{redact, timestamp, Author, Credentials, GitError};

/// A commit id (full hexadecimal object name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(String);

impl CommitId {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let ok =
            (text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| CommitId(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 10 hex digits.
    pub fn short(&self) -> &str {
        &self.0[..10]
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The branch a local branch follows: `remote` and the branch name on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub remote: String,
    pub branch: String,
}

impl Upstream {
    /// The remote-tracking ref fetch updates: `refs/remotes/<remote>/<branch>`.
    pub fn tracking_ref(&self) -> String {
        format!("refs/remotes/{}/{}", self.remote, self.branch)
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.remote, self.branch)
    }
}

/// What [`GitRepo::discover`] found: the work tree and where the directory is inside it.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub repo: GitRepo,
    /// The directory relative to the work tree's top (empty when it is the top).
    pub prefix: PathBuf,
}

/// The result of [`GitRepo::fast_forward`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FastForward {
    UpToDate,
    FastForwarded {
        from: Option<CommitId>,
        to: CommitId,
    },
    /// Local commits not pushed yet, nothing new on the remote.
    Ahead {
        ahead: usize,
    },
    /// Both sides have commits the other lacks; nothing was changed.
    Diverged {
        ahead: usize,
        behind: usize,
    },
    /// The remote branch does not exist (yet), e.g. an empty remote before the first push.
    NoRemoteBranch,
}

/// The result of [`GitRepo::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed(CommitId),
    NothingToCommit,
}

/// The result of a successful [`GitRepo::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote branch now points at `head`; `new_branch` when the push created it.
    Pushed {
        head: CommitId,
        new_branch: bool,
    },
    UpToDate,
    /// The branch has no commit yet.
    NothingToPush,
}

/// The result of [`GitRepo::rebase_onto_upstream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// Nothing new on the upstream (or no upstream branch yet).
    UpToDate,
    /// The local commits now sit on top of the upstream (or the branch was fast-forwarded).
    Rebased { head: CommitId },
    /// The rebase conflicted on these files and was aborted: branch, index and work tree are as before.
    Conflict { files: Vec<PathBuf> },
}

/// One line of `git status --porcelain=v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// Status in the index (`X`): ' ', 'M', 'A', 'D', 'R', 'C', 'U' or '?'.
    pub index: char,
    /// Status in the work tree (`Y`).
    pub worktree: char,
    /// Path relative to the work tree's top.
    pub path: PathBuf,
    /// For renames and copies, the original path.
    pub orig_path: Option<PathBuf>,
}

impl StatusEntry {
    pub fn is_untracked(&self) -> bool {
        self.index == '?'
    }
}

/// One commit of [`GitRepo::log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub id: CommitId,
    pub parents: Vec<CommitId>,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
    pub committer_email: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    pub subject: String,
    /// The whole message.
    pub message: String,
}

/// A Git work tree driven through the `git` client.
#[derive(Debug, Clone)]
pub struct GitRepo {
    git: Git,
    workdir: PathBuf,
    common_dir: PathBuf,
}

/// The work tree top, the directory's prefix in it, and the common git directory, as `rev-parse` reports them.
enum Located {
    WorkTree {
        top: PathBuf,
        prefix: PathBuf,
        common_dir: PathBuf,
    },
    NotARepository,
}

fn locate(git: &Git, dir: &Path) -> Result<Located, GitError> {
    let (out, error) = git
        .command(dir)
        .args([
            "rev-parse",
            "--show-toplevel",
            "--show-prefix",
            "--path-format=absolute",
            "--git-common-dir",
        ])
        .run_inner()?;
    if let Some(error) = error {
        let lower = out.stderr.to_ascii_lowercase();
        if lower.contains("not a git repository") {
            return Ok(Located::NotARepository);
        }
        if lower.contains("must be run in a work tree") {
            return Err(GitError::NotARepository {
                path: dir.to_path_buf(),
                detail: "it is a bare repository or inside a .git directory, not a work tree"
                    .to_owned(),
            });
        }
        return Err(error);
    }
    let mut lines = out.stdout.split(|b| *b == b'\n');
    let mut next = || lines.next().map(path_from_bytes).unwrap_or_default();
    let top = next();
    // `--show-prefix` ends with a slash; components() drops it.
    let prefix = next().components().collect::<PathBuf>();
    let common_dir = next();
    if !top.is_absolute() || !common_dir.is_absolute() {
        return Err(GitError::Failed {
            command: "rev-parse".to_owned(),
            status: "exit status 0".to_owned(),
            detail: format!("unexpected output {:?}", out.stdout_text()),
        });
    }
    Ok(Located::WorkTree {
        top,
        prefix,
        common_dir,
    })
}

impl GitRepo {
    /// Open the work tree whose top is `dir`, with the default [`Git`] client.
    pub fn open(dir: &Path) -> Result<Self, GitError> {
        Git::new().open(dir)
    }

    /// Find the work tree enclosing `dir` (None for a directory outside any work tree), with the default client.
    pub fn discover(dir: &Path) -> Result<Option<Discovered>, GitError> {
        Git::new().discover(dir)
    }

    /// The top of the work tree (canonical).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The repository's (common) git directory, where the clone lock lives.
    pub fn git_dir(&self) -> &Path {
        &self.common_dir
    }

    pub fn git(&self) -> &Git {
        &self.git
    }

    /// A git command in this work tree (for operations this type does not wrap).
    pub fn command(&self) -> GitCommand<'_> {
        self.git.command(&self.workdir)
    }

    /// The checked-out branch; None on a detached HEAD. Works on a branch without commits.
    pub fn current_branch(&self) -> Result<Option<String>, GitError> {
        let out = self
            .command()
            .args(["symbolic-ref", "--quiet", "HEAD"])
            .output()?;
        if !out.success() {
            return Ok(None);
        }
        let full = out.first_line();
        Ok(Some(
            full.strip_prefix("refs/heads/").unwrap_or(&full).to_owned(),
        ))
    }

    /// The commit HEAD points at; None on a branch without commits.
    pub fn head(&self) -> Result<Option<CommitId>, GitError> {
        self.rev_parse("HEAD")
    }

    /// The commit `rev` names; None when it names nothing.
    pub fn rev_parse(&self, rev: &str) -> Result<Option<CommitId>, GitError> {
        check_rev(rev)?;
        let out = self
            .command()
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("{rev}^{{commit}}"))
            .output()?;
        if !out.success() {
            return Ok(None);
        }
        Ok(CommitId::parse(&out.first_line()))
    }

    /// The names of the configured remotes.
    pub fn remotes(&self) -> Result<Vec<String>, GitError> {
        let out = self.command().arg("remote").run()?;
        Ok(out
            .stdout_text()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Does the work tree have a remote to push to?
    pub fn has_remote(&self) -> Result<bool, GitError> {
        Ok(!self.remotes()?.is_empty())
    }

    /// A config value as git resolves it (all scopes), None when unset.
    pub fn config_get(&self, key: &str) -> Result<Option<String>, GitError> {
        let (out, error) = self
            .command()
            .args(["config", "--get", "--end-of-options", key])
            .run_inner()?;
        match error {
            None => Ok(Some(out.first_line())),
            Some(_) if out.status.code() == Some(1) => Ok(None),
            Some(e) => Err(e),
        }
    }

    /// The remote and branch the current branch follows: its configured upstream, else the same name on
    /// `origin` (or on the only remote).
    pub fn upstream(&self) -> Result<Upstream, GitError> {
        let branch = self
            .current_branch()?
            .ok_or_else(|| GitError::DetachedHead {
                path: self.workdir.clone(),
            })?;
        let remotes = self.remotes()?;
        let configured = self.config_get(&format!("branch.{branch}.remote"))?;
        let remote = match configured {
            Some(r) if remotes.contains(&r) => r,
            _ if remotes.iter().any(|r| r == "origin") => "origin".to_owned(),
            _ if remotes.len() == 1 => remotes[0].clone(),
            _ => {
                return Err(GitError::NoRemote {
                    path: self.workdir.clone(),
                })
            }
        };
        let merge = self.config_get(&format!("branch.{branch}.merge"))?;
        let remote_branch = merge
            .as_deref()
            .and_then(|m| m.strip_prefix("refs/heads/"))
            .map_or(branch.clone(), str::to_owned);
        Ok(Upstream {
            remote,
            branch: remote_branch,
        })
    }

    /// The URL of `remote` (its push URL with `push`), with `insteadOf` rewrites applied.
    pub fn remote_url(&self, remote: &str, push: bool) -> Result<String, GitError> {
        let mut cmd = self.command().args(["remote", "get-url"]);
        if push {
            cmd = cmd.arg("--push");
        }
        Ok(cmd.arg(remote).run()?.first_line())
    }

    /// Fetch the upstream branch into its remote-tracking ref; returns the remote branch's commit, or None when
    /// the remote has no such branch (an empty remote before the first push). Never touches the work tree.
    pub fn fetch(&self, credentials: &Credentials) -> Result<Option<CommitId>, GitError> {
        let upstream = self.upstream()?;
        let url = self.remote_url(&upstream.remote, false)?;
        let tracking = upstream.tracking_ref();
        let (_, error) = self
            .command()
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
            ])
            .arg(&upstream.remote)
            .arg(format!("+refs/heads/{}:{tracking}", upstream.branch))
            .network()
            .credentials(credentials, &url)?
            .context(None, Some(&upstream.branch))
            .run_inner()?;
        match error {
            None => self.rev_parse(&tracking),
            Some(GitError::BranchNotFound { .. }) => {
                // The branch is gone (or not created yet): a stale remote-tracking ref would lie about it.
                if self.rev_parse(&tracking)?.is_some() {
                    self.command().args(["update-ref", "-d", &tracking]).run()?;
                }
                Ok(None)
            }
            Some(e) => Err(e),
        }
    }

    /// Commits on HEAD not on `other`, and on `other` not on HEAD.
    pub fn ahead_behind(&self, other: &str) -> Result<(usize, usize), GitError> {
        check_rev(other)?;
        let out = self
            .command()
            .args(["rev-list", "--left-right", "--count"])
            .arg(format!("HEAD...{other}"))
            .run()?;
        let text = out.first_line();
        let mut parts = text.split_whitespace().map(str::parse::<usize>);
        match (parts.next(), parts.next()) {
            (Some(Ok(ahead)), Some(Ok(behind))) => Ok((ahead, behind)),
            _ => Err(GitError::Failed {
                command: "rev-list".to_owned(),
                status: "exit status 0".to_owned(),
                detail: format!("unexpected output `{text}`"),
            }),
        }
    }

    /// Move the branch forward to the fetched upstream when that loses nothing: only when the local branch has
    /// no commits of its own. Local uncommitted changes are kept; git refuses (and so does this) when the update
    /// would overwrite them.
    pub fn fast_forward(&self) -> Result<FastForward, GitError> {
        let upstream = self.upstream()?;
        let tracking = upstream.tracking_ref();
        let Some(remote_head) = self.rev_parse(&tracking)? else {
            return Ok(FastForward::NoRemoteBranch);
        };
        let from = self.head()?;
        if from.is_some() {
            match self.ahead_behind(&tracking)? {
                (0, 0) => return Ok(FastForward::UpToDate),
                (ahead, 0) => return Ok(FastForward::Ahead { ahead }),
                (0, _) => {}
                (ahead, behind) => return Ok(FastForward::Diverged { ahead, behind }),
            }
        }
        self.command()
            .args(["merge", "--ff-only", "--no-stat", "--quiet"])
            .arg(&tracking)
            .run()?;
        Ok(FastForward::FastForwarded {
            from,
            to: remote_head,
        })
    }

    /// Changes under `under` (relative to the work tree's top; empty for everything), untracked files listed
    /// one by one, ignored files left out.
    pub fn status_porcelain(&self, under: &Path) -> Result<Vec<StatusEntry>, GitError> {
        let spec = relative_pathspec(&self.workdir, under)?;
        let out = self
            .command()
            .args([
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--ignored=no",
                "--",
            ])
            .arg(spec)
            .run()?;
        parse_status(&out.stdout)
    }

    /// Stage these paths (new, modified or deleted) exactly; paths are relative to the work tree's top.
    pub fn add_paths<I, P>(&self, paths: I) -> Result<(), GitError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let mut list = Vec::new();
        for path in paths {
            list.extend_from_slice(relative_pathspec(&self.workdir, path.as_ref())?.as_bytes());
            list.push(0);
        }
        if list.is_empty() {
            return Ok(());
        }
        // From stdin, so that thousands of paths never hit the argv limit.
        self.command()
            .args(["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"])
            .stdin(list)
            .run()?;
        Ok(())
    }

    /// Stage every change under `prefix` (additions, modifications, deletions).
    pub fn add_all_under(&self, prefix: &Path) -> Result<(), GitError> {
        let spec = relative_pathspec(&self.workdir, prefix)?;
        // Every blob goes straight into one pack (git's bulk check-in) instead of one loose object file per new
        // file: an ingestion of thousands of objects otherwise spends most of its commit creating files. This
        // applies to this `add` only; diffs and everything else keep the operator's settings.
        crate::command::for_many_blobs(self.command())
            .args(["add", "-A", "--"])
            .arg(spec)
            .run()?;
        Ok(())
    }

    /// Commit every change under `paths_under`, and nothing else: changes elsewhere in the work tree, staged or
    /// not (another fabric's files), stay as they are. `author` is the author; the committer is the client's
    /// author. The message is kept verbatim.
    pub fn commit(
        &self,
        message: &str,
        author: &Author,
        paths_under: &Path,
    ) -> Result<CommitOutcome, GitError> {
        if message.trim().is_empty() {
            return Err(GitError::InvalidInput(
                "a commit message must not be empty".to_owned(),
            ));
        }
        let spec = relative_pathspec(&self.workdir, paths_under)?;
        // Nothing changed (or the prefix does not exist yet, which `git add` would call an error).
        let changes = self.status_porcelain(paths_under)?;
        if changes.is_empty() {
            return Ok(CommitOutcome::NothingToCommit);
        }
        // Many changed paths (a large ingestion): the plumbing path, which costs what hashing the files costs.
        if changes.len() >= self.git.bulk_commit_min() {
            if let Some(outcome) = self.commit_bulk(message, author, &spec, &changes)? {
                return Ok(outcome);
            }
        }
        self.add_all_under(paths_under)?;
        let staged = self
            .status_porcelain(paths_under)?
            .iter()
            .any(|e| e.index != ' ' && e.index != '?');
        if !staged {
            return Ok(CommitOutcome::NothingToCommit);
        }
        // `commit -- <pathspec>` (the --only mode) commits exactly these paths and leaves the rest of the index
        // alone; the message comes from stdin, so its length is not bounded by argv. The --only mode re-reads
        // every file under the prefix, which is slow for thousands of files, so when nothing outside the prefix
        // is staged a plain commit of the index (just brought up to date by `add`) does the same.
        let only_prefix_staged = self.staged_only_under(&spec)?;
        let mut cmd = self.command().args([
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "--cleanup=verbatim",
            "--file=-",
        ]);
        if !only_prefix_staged {
            cmd = cmd.arg("--").arg(&spec);
        }
        cmd.stdin(message.as_bytes().to_vec())
            .env("GIT_AUTHOR_NAME", author.name())
            .env("GIT_AUTHOR_EMAIL", author.email())
            .run()?;
        match self.head()? {
            Some(id) => Ok(CommitOutcome::Committed(id)),
            None => Err(GitError::Failed {
                command: "commit".to_owned(),
                status: "exit status 0".to_owned(),
                detail: "HEAD does not point at a commit after committing".to_owned(),
            }),
        }
    }

    /// True when every staged change lies under `spec` (a work-tree-relative path; empty = the whole tree).
    fn staged_only_under(&self, spec: &std::ffi::OsStr) -> Result<bool, GitError> {
        let prefix = spec.to_string_lossy().trim_end_matches('/').to_string();
        if prefix.is_empty() || prefix == "." {
            return Ok(true);
        }
        let out = self
            .command()
            .args(["diff", "--cached", "--name-only", "-z", "--no-renames"])
            .run()?;
        Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .all(|p| {
                let p = String::from_utf8_lossy(p);
                p == prefix || p.starts_with(&format!("{prefix}/"))
            }))
    }

    /// Push HEAD to the upstream branch. Never forces: when the remote has commits this clone lacks, the result
    /// is [`GitError::RemoteMoved`]; other refusals are [`GitError::PushDeclined`].
    pub fn push(&self, credentials: &Credentials) -> Result<PushOutcome, GitError> {
        let Some(head) = self.head()? else {
            return Ok(PushOutcome::NothingToPush);
        };
        let upstream = self.upstream()?;
        let url = self.remote_url(&upstream.remote, true)?;
        let (out, error) = self
            .command()
            .args([
                "push",
                "--porcelain",
                "--no-verify",
                "--no-recurse-submodules",
            ])
            .arg(&upstream.remote)
            .arg(format!("HEAD:refs/heads/{}", upstream.branch))
            .network()
            .credentials(credentials, &url)?
            .context(None, Some(&upstream.branch))
            .run_inner()?;
        let shown_url = redact::scrub_urls(&url);
        let line = push_status_line(&out.stdout_text());
        match (line, error) {
            (Some(PushLine { flag: '=', .. }), None) => Ok(PushOutcome::UpToDate),
            (Some(PushLine { flag: '*', .. }), None) => Ok(PushOutcome::Pushed {
                head,
                new_branch: true,
            }),
            (_, None) => Ok(PushOutcome::Pushed {
                head,
                new_branch: false,
            }),
            (Some(PushLine { flag: '!', summary }), Some(_)) => {
                let lower = summary.to_ascii_lowercase();
                if lower.contains("[rejected]")
                    && (lower.contains("fetch first") || lower.contains("non-fast-forward"))
                {
                    Err(GitError::RemoteMoved {
                        url: shown_url,
                        branch: upstream.branch,
                    })
                } else {
                    // What the remote itself said (a hook's or a server's policy message) says why.
                    let said = remote_message(&out.stderr);
                    Err(GitError::PushDeclined {
                        url: shown_url,
                        reason: if said.is_empty() {
                            summary
                        } else {
                            format!("{summary}: the remote said: {said}")
                        },
                    })
                }
            }
            (_, Some(e)) => Err(e),
        }
    }

    /// Replay the local commits on top of the fetched upstream branch. On a conflict the rebase is aborted
    /// (branch, index and work tree are as they were) and the conflicting files are returned.
    pub fn rebase_onto_upstream(&self) -> Result<RebaseOutcome, GitError> {
        let upstream = self.upstream()?;
        let tracking = upstream.tracking_ref();
        let Some(remote_head) = self.rev_parse(&tracking)? else {
            return Ok(RebaseOutcome::UpToDate);
        };
        if self.head()?.is_none() {
            self.command()
                .args(["merge", "--ff-only", "--no-stat", "--quiet"])
                .arg(&tracking)
                .run()?;
            return Ok(RebaseOutcome::Rebased { head: remote_head });
        }
        match self.ahead_behind(&tracking)? {
            (_, 0) => return Ok(RebaseOutcome::UpToDate),
            (0, _) => {
                self.command()
                    .args(["merge", "--ff-only", "--no-stat", "--quiet"])
                    .arg(&tracking)
                    .run()?;
                return Ok(RebaseOutcome::Rebased { head: remote_head });
            }
            _ => {}
        }
        let (_, error) = self
            .command()
            .args([
                "rebase",
                "--quiet",
                "--no-autostash",
                "--no-autosquash",
                "--empty=drop",
            ])
            .arg(&tracking)
            .context(None, Some(&upstream.branch))
            .run_inner()?;
        let Some(error) = error else {
            let head = self.head()?.ok_or_else(|| GitError::Failed {
                command: "rebase".to_owned(),
                status: "exit status 0".to_owned(),
                detail: "HEAD does not point at a commit after rebasing".to_owned(),
            })?;
            return Ok(RebaseOutcome::Rebased { head });
        };
        if !self.rebase_in_progress()? {
            return Err(self.with_dirty_files(error)?);
        }
        let files = self.unmerged_files()?;
        self.command().args(["rebase", "--abort"]).run()?;
        if files.is_empty() {
            // Stopped for another reason (e.g. an untracked file in the way); aborted, report git's message.
            return Err(error);
        }
        Ok(RebaseOutcome::Conflict { files })
    }

    /// git's "you have unstaged changes" names no files; list them, so the person knows what is in the way.
    fn with_dirty_files(&self, error: GitError) -> Result<GitError, GitError> {
        match error {
            GitError::LocalChanges { workdir, files } if files.is_empty() => {
                let files = self
                    .status_porcelain(Path::new(""))?
                    .into_iter()
                    .filter(|e| !e.is_untracked())
                    .map(|e| e.path)
                    .collect();
                Ok(GitError::LocalChanges { workdir, files })
            }
            other => Ok(other),
        }
    }

    fn rebase_in_progress(&self) -> Result<bool, GitError> {
        for name in ["rebase-merge", "rebase-apply"] {
            let out = self
                .command()
                .args(["rev-parse", "--path-format=absolute", "--git-path", name])
                .run()?;
            if path_from_bytes(out.stdout_text().trim_end().as_bytes()).exists() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn unmerged_files(&self) -> Result<Vec<PathBuf>, GitError> {
        let out = self
            .command()
            .args([
                "diff",
                "--name-only",
                "--diff-filter=U",
                "-z",
                "--no-ext-diff",
            ])
            .run()?;
        let mut files: Vec<PathBuf> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(path_from_bytes)
            .collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Keep the current HEAD on a new local branch `name` (fails if the branch exists).
    pub fn save_branch(&self, name: &str) -> Result<CommitId, GitError> {
        check_branch_name(name)?;
        let head = self.head()?.ok_or_else(|| {
            GitError::InvalidInput(format!("cannot save branch {name}: there is no commit yet"))
        })?;
        self.command()
            .args(["branch", "--no-track", name, head.as_str()])
            .run()?;
        Ok(head)
    }

    /// Keep the current HEAD on `hhgitops/<kind>-<UTC time>-<short id>` and return the branch name.
    pub fn save_recovery_branch(&self, kind: &str) -> Result<String, GitError> {
        let head = self.head()?.ok_or_else(|| {
            GitError::InvalidInput("cannot save a branch: there is no commit yet".to_owned())
        })?;
        // The same commits saved before (the same conflict met again): that branch, not one more.
        let prefix = format!("hhgitops/{kind}-");
        for existing in self.branches()? {
            if existing.starts_with(&prefix)
                && self.rev_parse(&format!("refs/heads/{existing}"))?.as_ref() == Some(&head)
            {
                return Ok(existing);
            }
        }
        let base = format!(
            "hhgitops/{kind}-{}-{}",
            timestamp::compact(SystemTime::now()),
            &head.as_str()[..7]
        );
        let mut name = base.clone();
        for n in 2.. {
            match self.rev_parse(&format!("refs/heads/{name}"))? {
                None => break,
                Some(existing) if existing == head => return Ok(name),
                Some(_) => name = format!("{base}-{n}"),
            }
        }
        self.save_branch(&name)?;
        Ok(name)
    }

    /// Move the branch to `rev` with `git reset --keep`: uncommitted changes are kept, and git refuses when
    /// one of them would be lost. Save commits you may still need first ([`GitRepo::save_recovery_branch`]).
    pub fn reset_keep(&self, rev: &str) -> Result<(), GitError> {
        check_rev(rev)?;
        self.command()
            .args(["reset", "--quiet", "--keep", rev])
            .run()?;
        Ok(())
    }

    /// Local branch names.
    pub fn branches(&self) -> Result<Vec<String>, GitError> {
        let out = self
            .command()
            .args(["for-each-ref", "--format=%(refname)", "refs/heads/"])
            .run()?;
        Ok(out
            .stdout_text()
            .lines()
            .filter_map(|l| l.strip_prefix("refs/heads/"))
            .map(str::to_owned)
            .collect())
    }

    /// Up to `max` commits reachable from `rev`, newest first (empty on a branch without commits).
    pub fn log(&self, rev: &str, max: usize) -> Result<Vec<LogEntry>, GitError> {
        check_rev(rev)?;
        if self.rev_parse(rev)?.is_none() && rev == "HEAD" {
            return Ok(Vec::new());
        }
        let out = self
            .command()
            .args(["log", "-z", "--no-show-signature", "--no-color"])
            .arg(format!("--max-count={max}"))
            .arg("--format=%H%x1f%P%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%at%x1f%s%x1f%B")
            .arg(rev)
            .arg("--")
            .run()?;
        let text = out.stdout_text();
        let mut entries = Vec::new();
        for record in text.split('\0').filter(|r| !r.trim().is_empty()) {
            let fields: Vec<&str> = record.trim_start_matches('\n').splitn(9, '\x1f').collect();
            if fields.len() != 9 {
                continue;
            }
            let Some(id) = CommitId::parse(fields[0]) else {
                continue;
            };
            entries.push(LogEntry {
                id,
                parents: fields[1]
                    .split_whitespace()
                    .filter_map(CommitId::parse)
                    .collect(),
                author_name: fields[2].to_owned(),
                author_email: fields[3].to_owned(),
                committer_name: fields[4].to_owned(),
                committer_email: fields[5].to_owned(),
                time: fields[6].trim().parse().unwrap_or_default(),
                subject: fields[7].to_owned(),
                message: fields[8].trim_end().to_owned(),
            });
        }
        Ok(entries)
    }

    /// The content of `path` (relative to the top) at `rev`.
    pub fn show(&self, rev: &str, path: &Path) -> Result<Vec<u8>, GitError> {
        check_rev(rev)?;
        let spec = relative_pathspec(&self.workdir, path)?;
        let mut object = OsString::from(format!("{rev}:"));
        object.push(spec);
        Ok(self
            .command()
            .args(["cat-file", "blob"])
            .arg(object)
            .run()?
            .stdout)
    }

    /// The files a commit changed (against its first parent; all files for a root commit).
    pub fn changed_files(&self, rev: &str) -> Result<Vec<PathBuf>, GitError> {
        check_rev(rev)?;
        let out = self
            .command()
            .args([
                "diff-tree",
                "--no-commit-id",
                "--name-only",
                "-r",
                "-z",
                "--root",
                "--no-renames",
                "--no-ext-diff",
            ])
            .arg(rev)
            .run()?;
        Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(path_from_bytes)
            .collect())
    }
}

impl Git {
    /// Open the work tree whose top is `dir`. A directory merely inside a work tree is refused, so that a
    /// missing clone is never mistaken for an enclosing repository (see [`Git::discover`] for that).
    pub fn open(&self, dir: &Path) -> Result<GitRepo, GitError> {
        check_dir(dir)?;
        self.check_version()?;
        match locate(self, dir)? {
            Located::NotARepository => Err(GitError::NotARepository {
                path: dir.to_path_buf(),
                detail: "no .git here or in any parent directory".to_owned(),
            }),
            Located::WorkTree {
                top,
                prefix,
                common_dir,
            } => {
                if !prefix.as_os_str().is_empty() {
                    return Err(GitError::NotARepository {
                        path: dir.to_path_buf(),
                        detail: format!(
                            "it is the subdirectory {} of the work tree {}",
                            prefix.display(),
                            top.display()
                        ),
                    });
                }
                Ok(GitRepo {
                    git: self.clone(),
                    workdir: top,
                    common_dir,
                })
            }
        }
    }

    /// The work tree enclosing `dir` and `dir`'s prefix inside it; None when `dir` is in no work tree.
    pub fn discover(&self, dir: &Path) -> Result<Option<Discovered>, GitError> {
        check_dir(dir)?;
        self.check_version()?;
        match locate(self, dir)? {
            Located::NotARepository => Ok(None),
            Located::WorkTree {
                top,
                prefix,
                common_dir,
            } => {
                let prefix = prefix.components().collect::<PathBuf>();
                Ok(Some(Discovered {
                    repo: GitRepo {
                        git: self.clone(),
                        workdir: top,
                        common_dir,
                    },
                    prefix,
                }))
            }
        }
    }

    /// Clone `url` into `dest` (which must not exist or be an empty directory) and check out `branch` (the
    /// remote's default branch when None). An empty remote is accepted: the clone then starts `branch` with no
    /// commits, and the first push creates it. The clone is made next to `dest` and renamed into place, so an
    /// interrupted clone never leaves a half-made `dest`.
    pub fn clone_repo(
        &self,
        url: &str,
        branch: Option<&str>,
        dest: &Path,
        credentials: &Credentials,
    ) -> Result<GitRepo, GitError> {
        if url.trim().is_empty() || url.starts_with('-') {
            return Err(GitError::BadUrl {
                url: redact::scrub_urls(url),
                detail: "not a URL".to_owned(),
            });
        }
        if redact::url_has_password(url) {
            return Err(GitError::CredentialsInUrl {
                url: redact::scrub_urls(url),
            });
        }
        if let Some(b) = branch {
            check_branch_name(b)?;
        }
        self.check_version()?;
        match fs::symlink_metadata(dest) {
            Ok(meta) if meta.is_dir() => {
                let mut entries = fs::read_dir(dest)
                    .map_err(|e| GitError::io(format!("reading {}", dest.display()), e))?;
                if entries.next().is_some() {
                    return Err(GitError::DestinationNotEmpty {
                        dest: dest.to_path_buf(),
                    });
                }
            }
            Ok(_) => {
                return Err(GitError::DestinationNotEmpty {
                    dest: dest.to_path_buf(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(GitError::io(format!("inspecting {}", dest.display()), e)),
        }
        let dest = if dest.is_absolute() {
            dest.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| GitError::io("reading the current directory", e))?
                .join(dest)
        };
        let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(GitError::InvalidInput(format!(
                "cannot clone into {}",
                dest.display()
            )));
        };
        fs::create_dir_all(parent)
            .map_err(|e| GitError::io(format!("creating {}", parent.display()), e))?;
        let staging = Staging(parent.join(format!(
                ".{}.hhgitops-clone-{}-{}",
                name.to_string_lossy(),
                std::process::id(),
                SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default()
            )));
        // `ls-remote --get-url` applies the operator's insteadOf rewrites without network access: credentials
        // are scoped to the URL git will really contact.
        let effective_url = self
            .command(parent)
            .args(["ls-remote", "--get-url", "--"])
            .arg(url)
            .run()?
            .first_line();

        let clone = |branch: Option<&str>| -> Result<(), GitError> {
            let mut cmd = self.command(parent).args([
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                "--origin",
                "origin",
                "--template=",
            ]);
            if let Some(b) = branch {
                cmd = cmd.args(["--branch", b]);
            }
            cmd.arg("--")
                .arg(url)
                .arg(&staging.0)
                .network()
                .credentials(credentials, &effective_url)?
                .context(None, branch)
                .run()
                .map(drop)
        };
        match clone(branch) {
            Ok(()) => {}
            Err(GitError::BranchNotFound {
                url: shown,
                branch: missing,
            }) => {
                // Either the branch is missing, or the remote is empty (no refs at all): only the latter is fine.
                let refs = self
                    .command(parent)
                    .args(["ls-remote", "--"])
                    .arg(url)
                    .network()
                    .credentials(credentials, &effective_url)?
                    .run()?;
                if !refs.stdout_text().trim().is_empty() {
                    return Err(GitError::BranchNotFound {
                        url: shown,
                        branch: missing,
                    });
                }
                staging.remove();
                clone(None)?;
            }
            Err(e) => return Err(e),
        }
        let repo = GitRepo {
            git: self.clone(),
            workdir: staging.0.clone(),
            common_dir: staging.0.join(".git"),
        };
        if repo.head()?.is_none() {
            // Empty remote: start the requested branch (or keep git's choice) and make it follow origin.
            let start = match branch {
                Some(b) => {
                    repo.command()
                        .args(["symbolic-ref", "HEAD"])
                        .arg(format!("refs/heads/{b}"))
                        .run()?;
                    b.to_owned()
                }
                None => repo
                    .current_branch()?
                    .ok_or_else(|| GitError::DetachedHead { path: dest.clone() })?,
            };
            repo.command()
                .args(["config", &format!("branch.{start}.remote"), "origin"])
                .run()?;
            repo.command()
                .args([
                    "config",
                    &format!("branch.{start}.merge"),
                    &format!("refs/heads/{start}"),
                ])
                .run()?;
        }
        if fs::symlink_metadata(&dest).is_ok() {
            // An empty directory we checked above; rename(2) replaces it only if it is still empty.
            fs::remove_dir(&dest)
                .map_err(|e| GitError::io(format!("replacing {}", dest.display()), e))?;
        }
        fs::rename(&staging.0, &dest)
            .map_err(|e| GitError::io(format!("moving the clone into {}", dest.display()), e))?;
        staging.disarm();
        self.open(&dest)
    }
}

/// A clone in progress: removed unless disarmed.
struct Staging(PathBuf);

impl Staging {
    fn remove(&self) {
        if self.0.exists() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn disarm(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            self.remove();
        }
    }
}

fn check_dir(dir: &Path) -> Result<(), GitError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(GitError::NotARepository {
            path: dir.to_path_buf(),
            detail: "not a directory".to_owned(),
        }),
        Err(e) => Err(GitError::io(format!("cannot open {}", dir.display()), e)),
    }
}

fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}

/// Refuse revisions that git could take for an option, and whitespace or control characters.
fn check_rev(rev: &str) -> Result<(), GitError> {
    if rev.is_empty()
        || rev.starts_with('-')
        || rev.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(GitError::InvalidInput(format!(
            "invalid revision `{}`",
            rev.escape_debug()
        )));
    }
    Ok(())
}

/// The rules of `git check-ref-format --branch`, checked here so a bad name never reaches git's argv.
pub(crate) fn check_branch_name(name: &str) -> Result<(), GitError> {
    let bad = name.is_empty()
        || name == "@"
        || name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with('.')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name
            .split('/')
            .any(|c| c.starts_with('.') || c.ends_with(".lock"))
        || name
            .chars()
            .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c));
    if bad {
        return Err(GitError::InvalidInput(format!(
            "invalid branch name `{}`",
            name.escape_debug()
        )));
    }
    Ok(())
}

fn parse_status(stdout: &[u8]) -> Result<Vec<StatusEntry>, GitError> {
    let mut entries = Vec::new();
    let mut records = stdout.split(|b| *b == 0).filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        if record.len() < 4 || record[2] != b' ' {
            return Err(GitError::Failed {
                command: "status".to_owned(),
                status: "exit status 0".to_owned(),
                detail: format!(
                    "unexpected status record {:?}",
                    String::from_utf8_lossy(record)
                ),
            });
        }
        let index = char::from(record[0]);
        let worktree = char::from(record[1]);
        let path = path_from_bytes(&record[3..]);
        let orig_path = if matches!(index, 'R' | 'C') || matches!(worktree, 'R' | 'C') {
            records.next().map(path_from_bytes)
        } else {
            None
        };
        entries.push(StatusEntry {
            index,
            worktree,
            path,
            orig_path,
        });
    }
    Ok(entries)
}

/// The line of `git push --porcelain` for our ref: its flag and summary.
struct PushLine {
    flag: char,
    summary: String,
}

fn push_status_line(stdout: &str) -> Option<PushLine> {
    stdout.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        let flag = fields.next()?;
        let refs = fields.next()?;
        let summary = fields.next().unwrap_or_default();
        let mut chars = flag.chars();
        let c = chars.next()?;
        (chars.next().is_none() && refs.contains(':')).then(|| PushLine {
            flag: c,
            summary: summary.to_owned(),
        })
    })
}

/// The lines a remote printed during a push (`remote: …`, from its hooks or its server), without git's own
/// progress lines; at most 20 lines of 300 characters, joined by "; ". stderr is already redacted.
fn remote_message(stderr: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && ![
                    "Enumerating",
                    "Counting",
                    "Compressing",
                    "Total",
                    "Resolving",
                    "Processing",
                ]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .take(20)
        .map(|l| {
            if l.chars().count() > 300 {
                let mut t: String = l.chars().take(300).collect();
                t.push('…');
                t
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_records_with_renames() {
        let raw = b"M  a.yaml\0?? raw/new file.yaml\0R  managed/b.yaml\0b.yaml\0 D gone.yaml\0";
        let entries = parse_status(raw).unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].path, PathBuf::from("raw/new file.yaml"));
        assert!(entries[1].is_untracked());
        assert_eq!(entries[2].orig_path, Some(PathBuf::from("b.yaml")));
        assert_eq!((entries[3].index, entries[3].worktree), (' ', 'D'));
    }

    #[test]
    fn parses_push_porcelain() {
        let out = "To /r.git\n!\tHEAD:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        let line = push_status_line(out).unwrap();
        assert_eq!(line.flag, '!');
        assert_eq!(line.summary, "[rejected] (fetch first)");
        let out = "To /r.git\n*\tHEAD:refs/heads/main\t[new branch]\nDone\n";
        assert_eq!(push_status_line(out).unwrap().flag, '*');
        let out = "To /r.git\n \tHEAD:refs/heads/main\tab12..cd34\nDone\n";
        assert_eq!(push_status_line(out).unwrap().flag, ' ');
    }

    #[test]
    fn branch_names() {
        for ok in [
            "main",
            "feature/x",
            "hhgitops/conflict-20260101T000000Z-abcdef1",
        ] {
            assert!(check_branch_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "a/", ".hidden", "x.lock", "a@{b", "a:b", "@",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commit_ids() {
        assert!(CommitId::parse("0123456789abcdef0123456789abcdef01234567").is_some());
        assert!(CommitId::parse("xyz").is_none());
    }
}
