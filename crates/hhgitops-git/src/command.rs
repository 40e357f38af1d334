//! Runs one `git` process in a controlled environment: fixed locale, no prompts, no pager, editor, hooks or
//! signing, identity from the environment, a timeout that kills the whole process group, and redacted reporting.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::author::Author;
use crate::classify::{self, Context};
use crate::credentials::{Credentials, PreparedCredentials};
use crate::redact;
use crate::GitError;

/// glibc's allocator keeps up to this much freed memory instead of trimming it after every blob, so that zlib's
/// buffers are reused rather than faulted in again for each file (a third of the CPU time of hashing thousands
/// of small files). Other C libraries ignore the variable.
const MALLOC_TUNABLES: &str = "glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=16777216";

/// Sets up a git command that hashes many files: every blob into one pack (git's bulk check-in) instead of one
/// loose object file each, and the allocator told not to trim.
pub(crate) fn for_many_blobs(cmd: GitCommand<'_>) -> GitCommand<'_> {
    cmd.config("core.bigFileThreshold", "1")
        .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
}

/// Below this many changed paths a commit takes the porcelain path (`add` + `commit`); from it on, the
/// plumbing of `bulk` (see [`Git::with_bulk_commit_min`]).
pub const DEFAULT_BULK_COMMIT_MIN: usize = 128;

/// Timeouts per class of command. A command that runs longer is killed with everything it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Commands that only touch the clone (status, add, commit, rebase …). Default 60 s.
    pub local: Duration,
    /// Commands that talk to a remote (clone, fetch, push, ls-remote). Default 120 s.
    pub network: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            local: Duration::from_secs(60),
            network: Duration::from_secs(120),
        }
    }
}

/// What one git process was given and how it ended, passed to the [`CommandObserver`].
///
/// `args` and `env` are exactly what the process received from this crate (the inherited environment is not
/// listed); `stderr` is redacted.
#[derive(Debug, Clone)]
pub struct CommandRecord {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// None when the process was killed (by the timeout or a signal).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    pub stderr: String,
}

/// Called after every git process this crate runs: an audit hook for callers and tests.
pub type CommandObserver = Arc<dyn Fn(&CommandRecord) + Send + Sync>;

/// Variables from the caller's environment that would redirect git to another repository, index or
/// configuration, or change its identity or dates behind our back.
const REMOVED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_SHALLOW_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_QUARANTINE_PATH",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_DATE",
    "GIT_REFLOG_ACTION",
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "LANGUAGE",
    "LC_MESSAGES",
];

/// Environment that makes git non-interactive and its messages parseable.
const FIXED_ENV: &[(&str, &str)] = &[
    ("LC_ALL", "C"),
    ("LANG", "C"),
    ("GIT_TERMINAL_PROMPT", "0"),
    // Set but empty: git then runs no askpass program at all (not even SSH_ASKPASS or core.askPass).
    ("GIT_ASKPASS", ""),
    ("SSH_ASKPASS_REQUIRE", "never"),
    ("GCM_INTERACTIVE", "never"),
    ("GIT_EDITOR", "true"),
    ("GIT_SEQUENCE_EDITOR", "true"),
    ("GIT_MERGE_AUTOEDIT", "no"),
    ("GIT_PAGER", "cat"),
    ("PAGER", "cat"),
    ("GIT_LITERAL_PATHSPECS", "1"),
    ("GIT_OPTIONAL_LOCKS", "0"),
];

/// Configuration that overrides whatever the operator's global or system config says, so their hooks, signing,
/// autostash or fsmonitor settings cannot change what hhgitops does. Passed as `GIT_CONFIG_KEY_n`.
const FIXED_CONFIG: &[(&str, &str)] = &[
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.fsmonitor", "false"),
    ("core.quotePath", "false"),
    ("color.ui", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("push.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("rebase.autoStash", "false"),
    ("rebase.autoSquash", "false"),
    ("rebase.updateRefs", "false"),
    ("merge.autoStash", "false"),
    ("rerere.enabled", "false"),
    ("gc.autoDetach", "false"),
    ("protocol.ext.allow", "never"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("advice.detachedHead", "false"),
];

/// The git client: which program, which identity, which timeouts. Cheap to clone; holds no global state.
#[derive(Clone)]
pub struct Git {
    program: PathBuf,
    author: Author,
    timeouts: Timeouts,
    extra_env: Vec<(OsString, OsString)>,
    observer: Option<CommandObserver>,
    version: Arc<OnceLock<(u32, u32, u32)>>,
    bulk_commit_min: usize,
}

impl fmt::Debug for Git {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Git")
            .field("program", &self.program)
            .field("author", &self.author)
            .field("timeouts", &self.timeouts)
            .field(
                "extra_env",
                &self.extra_env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Default for Git {
    fn default() -> Self {
        Git::new()
    }
}

impl Git {
    /// `git` from PATH, author `hhgitops <hhgitops@localhost>`, default timeouts.
    pub fn new() -> Self {
        Git {
            program: PathBuf::from("git"),
            author: Author::default(),
            timeouts: Timeouts::default(),
            extra_env: Vec::new(),
            observer: None,
            version: Arc::new(OnceLock::new()),
            bulk_commit_min: DEFAULT_BULK_COMMIT_MIN,
        }
    }

    /// Use another git executable.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self.version = Arc::new(OnceLock::new());
        self
    }

    /// The committer of every commit, and the default author.
    pub fn with_author(mut self, author: Author) -> Self {
        self.author = author;
        self
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// An extra environment variable for every git process (e.g. `GIT_SSH_COMMAND` with a deploy key).
    /// The variables this crate fixes (locale, prompts, identity, config) cannot be overridden this way.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.extra_env.push((key.into(), value.into()));
        self
    }

    /// Call `observer` after every git process.
    pub fn with_observer(mut self, observer: CommandObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// From how many changed paths on a commit is built with the plumbing instead of `add` + `commit` (default
    /// [`crate::DEFAULT_BULK_COMMIT_MIN`]; `usize::MAX` never, 0 always). Both make the same commit.
    pub fn with_bulk_commit_min(mut self, paths: usize) -> Self {
        self.bulk_commit_min = paths;
        self
    }

    pub fn bulk_commit_min(&self) -> usize {
        self.bulk_commit_min
    }

    pub fn author(&self) -> &Author {
        &self.author
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A git command running in `dir`, with the local timeout.
    pub fn command(&self, dir: impl Into<PathBuf>) -> GitCommand<'_> {
        GitCommand {
            git: self,
            dir: dir.into(),
            args: Vec::new(),
            env: Vec::new(),
            config: Vec::new(),
            stdin: None,
            timeout: self.timeouts.local,
            secrets: Vec::new(),
            url: None,
            branch: None,
            token_var: None,
        }
    }

    /// The installed git's version, checked against [`crate::MIN_GIT_VERSION`]. A successful check is
    /// remembered by this `Git` value and its clones.
    pub fn check_version(&self) -> Result<(u32, u32, u32), GitError> {
        let version = match self.version.get() {
            Some(v) => *v,
            None => {
                let out = self.command(std::env::temp_dir()).arg("--version").run()?;
                let text = out.stdout_text();
                let v = parse_version(&text).ok_or_else(|| GitError::Failed {
                    command: "--version".to_owned(),
                    status: "exit status 0".to_owned(),
                    detail: format!("unrecognised output `{}`", text.trim()),
                })?;
                let _ = self.version.set(v);
                v
            }
        };
        if version < (2, 31, 0) {
            let (a, b, c) = version;
            return Err(GitError::TooOld {
                found: format!("{a}.{b}.{c}"),
            });
        }
        Ok(version)
    }

    /// The value of `var` as a git process started by this client would see it.
    pub(crate) fn env_value(&self, var: &str) -> Option<OsString> {
        self.extra_env
            .iter()
            .rev()
            .find(|(k, _)| k.as_os_str() == OsStr::new(var))
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var_os(var))
    }
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text
        .trim()
        .strip_prefix("git version ")?
        .split_whitespace()
        .next()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// The output of a git process that was started and ended by itself (whatever its exit status).
#[derive(Debug, Clone)]
pub struct GitOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// Redacted.
    pub stderr: String,
}

impl GitOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout as text (lossy), for commands whose output is text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stdout's first line, without the line break.
    pub fn first_line(&self) -> String {
        self.stdout_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One git invocation being built. Arguments are passed as they are: this crate never builds a shell command.
pub struct GitCommand<'g> {
    git: &'g Git,
    dir: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    config: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    secrets: Vec<String>,
    url: Option<String>,
    branch: Option<String>,
    token_var: Option<String>,
}

impl<'g> GitCommand<'g> {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Bytes written to the process's stdin (otherwise stdin is empty).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Use the network timeout: the command talks to a remote.
    pub fn network(mut self) -> Self {
        self.timeout = self.git.timeouts.network;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A config entry for this command only (passed through the environment, not argv).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// An environment variable for this command only.
    pub(crate) fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Authenticate to `url` with `credentials`; also names the URL in error messages.
    pub fn credentials(mut self, credentials: &Credentials, url: &str) -> Result<Self, GitError> {
        let PreparedCredentials {
            config,
            secrets,
            token_var,
        } = credentials.prepare(url, |var| self.git.env_value(var))?;
        self.config.extend(config);
        self.secrets.extend(secrets);
        self.token_var = token_var;
        self.url = Some(url.to_owned());
        Ok(self)
    }

    /// The remote URL and branch this command concerns, for error messages.
    pub(crate) fn context(mut self, url: Option<&str>, branch: Option<&str>) -> Self {
        if let Some(url) = url {
            self.url = Some(url.to_owned());
        }
        if let Some(branch) = branch {
            self.branch = Some(branch.to_owned());
        }
        self
    }

    /// Run and require success: a non-zero exit becomes a classified [`GitError`].
    pub fn run(self) -> Result<GitOutput, GitError> {
        let (out, failure) = self.run_inner()?;
        match failure {
            None => Ok(out),
            Some(error) => Err(error),
        }
    }

    /// Run and return the output whatever the exit status; only a failure to start, an I/O error or a timeout
    /// is an error.
    pub fn output(self) -> Result<GitOutput, GitError> {
        self.run_inner().map(|(out, _)| out)
    }

    /// Run; return the output and, if it failed, the classified error.
    pub(crate) fn run_inner(self) -> Result<(GitOutput, Option<GitError>), GitError> {
        let subcommand = self.subcommand();
        let redacted_url = self
            .url
            .as_deref()
            .map(|u| redact::redact(u, &self.secrets));
        let out = self.execute(&subcommand)?;
        if out.status.success() {
            return Ok((out, None));
        }
        let ctx = Context {
            command: &subcommand,
            dir: &self.dir,
            url: redacted_url.as_deref(),
            branch: self.branch.as_deref(),
            token_var: self.token_var.as_deref(),
        };
        let error = classify::classify(&ctx, &describe_status(out.status), &out.stderr);
        Ok((out, Some(error)))
    }

    fn subcommand(&self) -> String {
        self.args
            .iter()
            .map(|a| a.to_string_lossy())
            .find(|a| !a.starts_with('-'))
            .or_else(|| self.args.first().map(|a| a.to_string_lossy()))
            .map(|a| a.into_owned())
            .unwrap_or_default()
    }

    fn execute(&self, subcommand: &str) -> Result<GitOutput, GitError> {
        let git = self.git;
        let mut cmd = Command::new(&git.program);
        cmd.args(&self.args).current_dir(&self.dir);
        for var in REMOVED_ENV {
            cmd.env_remove(var);
        }
        for (k, v) in &git.extra_env {
            cmd.env(k, v);
        }
        let mut env: Vec<(String, String)> = FIXED_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let ident = [
            ("GIT_AUTHOR_NAME", git.author.name()),
            ("GIT_AUTHOR_EMAIL", git.author.email()),
            ("GIT_COMMITTER_NAME", git.author.name()),
            ("GIT_COMMITTER_EMAIL", git.author.email()),
        ];
        env.extend(
            ident
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config: Vec<(&str, &str)> = FIXED_CONFIG
            .iter()
            .copied()
            .chain(self.config.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        env.push(("GIT_CONFIG_COUNT".to_owned(), config.len().to_string()));
        for (i, (k, v)) in config.iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), (*k).to_owned()));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), (*v).to_owned()));
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent. A new session has no
        // controlling terminal, so ssh cannot prompt on /dev/tty, and the timeout can kill the whole group.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }

        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound if !self.dir.is_dir() => {
                GitError::io(format!("cannot run git in {}", self.dir.display()), e)
            }
            std::io::ErrorKind::NotFound => GitError::NotInstalled {
                program: git.program.display().to_string(),
            },
            _ => GitError::io(format!("could not start {}", git.program.display()), e),
        })?;
        let stdin_writer = self.stdin.clone().and_then(|bytes| {
            child.stdin.take().map(|mut pipe| {
                thread::spawn(move || {
                    // The process may exit without reading everything; that is its business.
                    let _ = pipe.write_all(&bytes);
                })
            })
        });
        let stdout_reader = child.stdout.take().map(spawn_reader);
        let stderr_reader = child.stderr.take().map(spawn_reader);

        let waited = wait_with_timeout(&mut child, self.timeout);
        let duration = started.elapsed();
        let grace = Duration::from_secs(2);
        let stdout = collect(stdout_reader, grace);
        let stderr_raw = collect(stderr_reader, grace);
        if let Some(handle) = stdin_writer {
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
        let stderr = redact::redact(&String::from_utf8_lossy(&stderr_raw), &self.secrets);

        let (status, timed_out) = match waited {
            Ok(Some(status)) => (Some(status), false),
            Ok(None) => (None, true),
            Err(e) => return Err(GitError::io(format!("waiting for git {subcommand}"), e)),
        };
        let shown_args: Vec<String> = self
            .args
            .iter()
            .map(|a| redact::redact(&a.to_string_lossy(), &self.secrets))
            .collect();
        tracing::debug!(
            target: "hhgitops_git",
            cwd = %self.dir.display(),
            args = ?shown_args,
            exit = ?status.and_then(|s| s.code()),
            timed_out,
            ms = duration.as_millis() as u64,
            "git"
        );
        if let Some(observer) = &git.observer {
            let mut record_env = env.clone();
            record_env.extend(self.env.iter().map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            }));
            observer(&CommandRecord {
                program: git.program.clone(),
                args: self
                    .args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                env: record_env,
                cwd: self.dir.clone(),
                exit_code: status.and_then(|s| s.code()),
                timed_out,
                duration,
                stderr: stderr.clone(),
            });
        }
        match status {
            Some(status) => Ok(GitOutput {
                status,
                stdout,
                stderr,
            }),
            None => Err(GitError::Timeout {
                command: subcommand.to_owned(),
                after: self.timeout,
            }),
        }
    }
}

fn spawn_reader<R: Read + Send + 'static>(mut pipe: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the output; what was read so far is still useful.
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// The output a reader thread collected. A process that git left behind (a daemonised helper) may keep the pipe
/// open; after `grace` we stop waiting and leave the thread to finish on its own.
fn collect(reader: Option<JoinHandle<Vec<u8>>>, grace: Duration) -> Vec<u8> {
    let Some(handle) = reader else {
        return Vec::new();
    };
    let deadline = Instant::now() + grace;
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    if handle.is_finished() {
        handle.join().unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// Wait for the child; on timeout kill its process group (git and everything it started) and return None.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            // The child is not reaped yet, so its pid (= its process group id, thanks to setsid) is still ours.
            if let Ok(pgid) = i32::try_from(child.id()) {
                // SAFETY: plain kill(2) on a process group we created; no memory is involved.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit status".to_owned(),
    }
}

/// Check a path argument against option injection and escapes from the work tree.
pub(crate) fn relative_pathspec(workdir: &Path, path: &Path) -> Result<OsString, GitError> {
    let relative = if path.is_absolute() {
        match path.strip_prefix(workdir) {
            Ok(p) => p.to_path_buf(),
            Err(_) => {
                let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
                canonical
                    .strip_prefix(workdir)
                    .map(Path::to_path_buf)
                    .map_err(|_| {
                        GitError::InvalidInput(format!(
                            "path {} is outside the work tree {}",
                            path.display(),
                            workdir.display()
                        ))
                    })?
            }
        }
    } else {
        path.to_path_buf()
    };
    use std::path::Component;
    let mut clean = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(GitError::InvalidInput(format!(
                    "path {} must stay inside the work tree {} (no `..`)",
                    path.display(),
                    workdir.display()
                )))
            }
        }
    }
    if clean.as_os_str().is_empty() {
        Ok(OsString::from("."))
    } else {
        Ok(clean.into_os_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_versions() {
        assert_eq!(parse_version("git version 2.47.3\n"), Some((2, 47, 3)));
        assert_eq!(
            parse_version("git version 2.39.5 (Apple Git-154)"),
            Some((2, 39, 5))
        );
        assert_eq!(
            parse_version("git version 2.45.windows.1"),
            Some((2, 45, 0))
        );
        assert_eq!(parse_version("nope"), None);
    }

    #[test]
    fn pathspecs_stay_inside_the_work_tree() {
        let wd = Path::new("/w");
        assert_eq!(
            relative_pathspec(wd, Path::new("")).unwrap(),
            OsString::from(".")
        );
        assert_eq!(
            relative_pathspec(wd, Path::new("./a/b")).unwrap(),
            OsString::from("a/b")
        );
        assert_eq!(
            relative_pathspec(wd, Path::new("/w/a")).unwrap(),
            OsString::from("a")
        );
        assert!(relative_pathspec(wd, Path::new("a/../../x")).is_err());
        assert!(relative_pathspec(wd, Path::new("/elsewhere/x")).is_err());
    }
}
