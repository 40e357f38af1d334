//! The watch of one fabric: one task that waits for file-system events (or polls), decides with the
//! [`Tracker`] which raw files have settled, and ingests them in one run at a time. It ends when cancelled
//! (after the run in progress), or by itself when its fabric leaves the registry or moves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio_util::sync::CancellationToken;

use super::event::{WatchEventKind, WatchModeName};
use super::hub::{FabricWatchStatus, Hub, WatchState};
use super::options::WatchMode;
use super::scan::{is_raw_candidate, scan_raw};
use super::tracker::{Snapshot, Tracker};
use crate::fabric::Fabric;
use crate::ingest::{ingest, FileStatus, IngestOptions, IngestReport};
use crate::layout::GitOpsRoot;
use crate::Error;

/// How often raw/ itself is checked (gone, replaced by a new folder).
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// The polling interval used when events cannot be had for a fabric.
const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// How often events are tried again for a fabric that fell back to polling.
const REARM_INTERVAL: Duration = Duration::from_secs(30);
/// The longest pause between retries of a failing run.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Marks kept between two looks at the inbox; beyond this the inbox only asks for a rescan.
const INBOX_MAX: usize = 10_000;

/// What file-system events said, between two looks.
#[derive(Debug, Default)]
struct InboxState {
    /// In arrival order: (path, true = being written / false = writer done or file gone).
    marks: Vec<(PathBuf, bool)>,
    /// Something changed in raw/: look again.
    dirty: bool,
    /// Events were lost: writers' state unknown.
    overflow: bool,
    /// raw/ itself was removed or moved.
    raw_gone: bool,
    errors: Vec<String>,
}

/// Where the notify thread leaves events for the fabric's task.
#[derive(Debug, Default)]
struct Inbox {
    state: Mutex<InboxState>,
    wake: tokio::sync::Notify,
}

impl Inbox {
    fn take(&self) -> InboxState {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *s)
    }

    fn push(&self, raw: &Path, res: notify::Result<notify::Event>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match res {
            Err(e) => {
                if s.errors.len() < 16 {
                    s.errors.push(e.to_string());
                }
                s.dirty = true;
            }
            Ok(ev) => {
                if ev.need_rescan() {
                    s.overflow = true;
                    s.dirty = true;
                }
                let mark = match ev.kind {
                    // Our own scans and reads open and close files and folders: not a change.
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(false),
                    EventKind::Access(_) => {
                        drop(s);
                        return;
                    }
                    EventKind::Create(CreateKind::File)
                    | EventKind::Modify(ModifyKind::Data(_)) => Some(true),
                    EventKind::Modify(ModifyKind::Name(
                        RenameMode::To | RenameMode::Both | RenameMode::From,
                    ))
                    | EventKind::Remove(_) => Some(false),
                    _ => None,
                };
                let gone = matches!(
                    ev.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                );
                for p in &ev.paths {
                    if gone && p == raw {
                        s.raw_gone = true;
                    }
                    if let Some(m) = mark {
                        if s.marks.len() < INBOX_MAX {
                            s.marks.push((p.clone(), m));
                        } else {
                            s.overflow = true;
                        }
                    }
                }
                s.dirty = true;
            }
        }
        drop(s);
        self.wake.notify_one();
    }
}

/// Everything one fabric's task needs.
pub(super) struct FabricWatch {
    pub hub: Arc<Hub>,
    pub fabric: Fabric,
    pub cancel: CancellationToken,
    pub status: Arc<Mutex<FabricWatchStatus>>,
    /// Why the task was asked to stop (set before cancelling).
    pub stop_reason: Arc<Mutex<Option<String>>>,
}

/// The state of a running fabric watch.
struct Run {
    w: FabricWatch,
    root: GitOpsRoot,
    raw: PathBuf,
    tracker: Tracker,
    inbox: Arc<Inbox>,
    watcher: Option<notify::RecommendedWatcher>,
    /// (dev, inode) of the raw/ folder the watcher is armed on.
    armed: Option<(u64, u64)>,
    /// When to try events again after they could not be had.
    rearm_at: Instant,
    /// Polling interval in force: the option's, or the fallback when events cannot be had.
    poll: Option<Duration>,
    raw_ok: bool,
    /// raw/ was missing: say so once, and announce the watch again when it is back.
    raw_missing_reported: bool,
    startup_due: Option<Instant>,
    reported_refused: BTreeSet<String>,
    last_problems: BTreeSet<String>,
    last_managed_errors: Vec<String>,
    last_error: Option<String>,
    failures: u32,
    /// Set when the task ends by itself.
    ended: Option<String>,
}

impl FabricWatch {
    pub async fn run(self) {
        let now = Instant::now();
        let options = self.hub.options.clone();
        let root = GitOpsRoot::new(&self.fabric.root);
        let raw = root.raw_dir();
        let poll = match options.mode {
            WatchMode::Poll(d) => Some(d),
            WatchMode::Events => None,
        };
        let mut run = Run {
            tracker: Tracker::new(options.debounce, options.settle_max),
            w: self,
            root,
            raw,
            inbox: Arc::new(Inbox::default()),
            watcher: None,
            armed: None,
            rearm_at: now,
            poll,
            raw_ok: false,
            raw_missing_reported: false,
            startup_due: Some(now + options.debounce),
            reported_refused: BTreeSet::new(),
            last_problems: BTreeSet::new(),
            last_managed_errors: Vec::new(),
            last_error: None,
            failures: 0,
            ended: None,
        };
        run.main_loop().await;
        run.watcher = None;
        let reason = match run.ended.take() {
            Some(r) => r,
            None => run
                .w
                .stop_reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| "shutdown".into()),
        };
        run.set_status(|s| {
            s.state = WatchState::Stopped;
            s.pending = 0;
        });
        run.emit(WatchEventKind::Stopped { reason });
    }
}

impl Run {
    fn emit(&self, kind: WatchEventKind) {
        self.w.hub.emit(Some(&self.w.fabric.name), kind);
    }

    fn set_status(&self, f: impl FnOnce(&mut FabricWatchStatus)) {
        let mut s = self.w.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    fn report_error(&mut self, message: String, file: Option<String>) {
        tracing::info!(fabric = %self.w.fabric.name, "watch error: {message}");
        let at = crate::clock::now_rfc3339();
        self.set_status(|s| {
            s.last_error = Some(message.clone());
            s.last_error_at = Some(at);
        });
        self.emit(WatchEventKind::Error { message, file });
    }

    fn announce(&self) {
        let o = &self.w.hub.options;
        let mode = if self.poll.is_some() {
            WatchModeName::Poll
        } else {
            WatchModeName::Events
        };
        self.set_status(|s| {
            s.mode = mode;
            s.state = WatchState::Watching;
        });
        self.emit(WatchEventKind::Watching {
            root: self.root.path().display().to_string(),
            raw: self.raw.display().to_string(),
            mode,
            poll_ms: self.poll.map(|d| d.as_millis() as u64),
            debounce_ms: o.debounce.as_millis() as u64,
        });
    }

    async fn main_loop(&mut self) {
        let options = self.w.hub.options.clone();
        let mut next_health = Instant::now();
        let mut next_scan = Instant::now();
        let mut hold_until: Option<Instant> = None;
        let mut announced = false;
        loop {
            if self.w.cancel.is_cancelled() || self.ended.is_some() {
                return;
            }
            // A subscriber that fell behind is caught up before anything new is looked at (nothing is lost:
            // files that arrive meanwhile are found by this round's scan).
            tokio::select! {
                _ = self.w.hub.drain() => {}
                _ = self.w.cancel.cancelled() => return,
            }
            let now = Instant::now();
            let inbox = self.inbox.take();
            let mut scan_now = inbox.dirty || now >= next_scan;
            if inbox.raw_gone || now >= next_health {
                next_health = now + HEALTH_INTERVAL;
                let was_ok = self.raw_ok;
                self.check_raw();
                if self.raw_ok && (!was_ok || !announced) {
                    announced = true;
                    self.announce();
                    scan_now = true;
                    // Files present when raw/ (re)appears are settled first, then taken in one run.
                    if self.startup_due.is_some() {
                        self.startup_due = Some(now + options.debounce);
                    }
                }
            }
            for e in inbox.errors {
                self.report_error(format!("file-system events: {e}"), None);
            }
            if inbox.overflow {
                self.tracker.forget_writers();
            }
            for (path, writing) in inbox.marks {
                let rel = crate::layout::rel_path(self.root.path(), &path);
                if !is_raw_candidate(&rel) {
                    continue;
                }
                if writing {
                    self.tracker.note_write(&rel, now);
                } else {
                    self.tracker.note_complete(&rel);
                }
            }
            // Nothing is taken on an old look: a file due now is looked at again first.
            if !self.tracker.ready(now).is_empty() || self.startup_due.is_some_and(|d| now >= d) {
                scan_now = true;
            }
            if self.raw_ok && scan_now {
                next_scan = now + self.poll.unwrap_or(options.rescan_interval);
                self.scan(now);
            }

            if self.raw_ok {
                let ready = self.tracker.ready(now);
                let startup = self.startup_due.is_some_and(|d| now >= d);
                if !ready.is_empty() || startup {
                    // A burst: files about to settle join this run if they settle within a short hold.
                    let hold = *hold_until.get_or_insert(now + options.debounce / 2);
                    if let Some(soon) = self.tracker.next_due(now).filter(|d| *d <= hold) {
                        if self.wait(Some(soon)).await {
                            return;
                        }
                        continue;
                    }
                    hold_until = None;
                    self.ingest_batch(ready, startup).await;
                    continue;
                }
            }
            hold_until = None;
            self.set_status(|s| s.pending = self.tracker.pending(now));
            let next_due = if self.raw_ok {
                self.tracker.next_due(now)
            } else {
                None
            };
            let startup_due = if self.raw_ok { self.startup_due } else { None };
            let next = [
                Some(next_health),
                self.raw_ok.then_some(next_scan),
                next_due,
                startup_due,
            ]
            .into_iter()
            .flatten()
            .min();
            if self.wait(next).await {
                return;
            }
        }
    }

    /// Sleeps until `until`, an event, or cancellation. True when cancelled.
    async fn wait(&self, until: Option<Instant>) -> bool {
        let until = until.unwrap_or_else(|| Instant::now() + HEALTH_INTERVAL);
        tokio::select! {
            _ = self.w.cancel.cancelled() => true,
            _ = self.inbox.wake.notified() => false,
            _ = tokio::time::sleep_until(until.into()) => false,
        }
    }

    /// Checks raw/: present, and watched (re-arming the watcher when raw/ was replaced).
    fn check_raw(&mut self) {
        match std::fs::metadata(&self.raw) {
            Ok(m) if m.is_dir() => {
                let id = dir_id(&m);
                if !self.raw_ok {
                    self.raw_missing_reported = false;
                }
                self.raw_ok = true;
                let retry = self.watcher.is_none() && Instant::now() >= self.rearm_at;
                if matches!(self.w.hub.options.mode, WatchMode::Events)
                    && (self.armed != Some(id) || retry)
                {
                    self.arm(id);
                }
            }
            other => {
                self.watcher = None;
                self.armed = None;
                self.raw_ok = false;
                if !self.raw_missing_reported {
                    self.raw_missing_reported = true;
                    let why = match other {
                        Ok(_) => "is not a folder".to_string(),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            "is missing".to_string()
                        }
                        Err(e) => format!("cannot be read ({e})"),
                    };
                    self.set_status(|s| s.state = WatchState::RawMissing);
                    self.report_error(
                        format!("{} {why}: waiting for it to come back (`hhgitops init --fabric {}` creates it)", self.raw.display(), self.w.fabric.name),
                        None,
                    );
                }
            }
        }
    }

    /// (Re)creates the file-system watcher on raw/; falls back to polling when events cannot be had.
    fn arm(&mut self, id: (u64, u64)) {
        self.watcher = None;
        let inbox = self.inbox.clone();
        let raw = self.raw.clone();
        let made =
            notify::recommended_watcher(move |res| inbox.push(&raw, res)).and_then(|mut w| {
                w.watch(&self.raw, RecursiveMode::Recursive)?;
                Ok(w)
            });
        match made {
            Ok(w) => {
                self.watcher = Some(w);
                self.armed = Some(id);
                if self.poll.take().is_some() {
                    self.announce();
                }
            }
            Err(e) => {
                self.armed = Some(id);
                self.rearm_at = Instant::now() + REARM_INTERVAL;
                if self.poll.is_none() {
                    self.poll = Some(FALLBACK_POLL);
                    self.report_error(
                        format!(
                            "cannot watch {} with file-system events ({e}): polling every {}s instead",
                            self.raw.display(),
                            FALLBACK_POLL.as_secs()
                        ),
                        None,
                    );
                    self.announce();
                }
            }
        }
    }

    fn scan(&mut self, now: Instant) {
        let scan = match scan_raw(self.root.path()) {
            Ok(s) => s,
            Err(_) => {
                // raw/ went away between checks: the health check says so.
                self.check_raw();
                return;
            }
        };
        let problems: BTreeSet<String> = scan.problems.into_iter().collect();
        for p in problems
            .difference(&self.last_problems)
            .cloned()
            .collect::<Vec<_>>()
        {
            self.report_error(p, None);
        }
        self.last_problems = problems;
        for link in self.tracker.observe(&scan.files, now) {
            let reason = scan
                .refused
                .get(&link)
                .cloned()
                .unwrap_or_else(|| self.link_reason(&link));
            if self.reported_refused.insert(link.clone()) {
                self.emit(WatchEventKind::Refused { file: link, reason });
            }
        }
        // Forget refusals of files that are gone, so a new one under the same name is reported.
        self.reported_refused.retain(|f| scan.files.contains_key(f));
        let seen = self.tracker.seen_total();
        self.set_status(|s| s.files_seen = seen);
    }

    fn link_reason(&self, rel: &str) -> String {
        let path = self.root.abs(rel);
        let root = std::fs::canonicalize(self.root.path())
            .unwrap_or_else(|_| self.root.path().to_path_buf());
        match std::fs::canonicalize(&path) {
            Ok(t) if !t.starts_with(&root) => format!(
                "symbolic link to {} outside the GitOps root: refused; copy the file into raw/ instead",
                t.display()
            ),
            Ok(_) => format!(
                "symbolic link: the watcher takes regular files only; copy the file into raw/, or run `hhgitops ingest --fabric {}`",
                self.w.fabric.name
            ),
            Err(_) => "dangling symbolic link: refused".into(),
        }
    }

    /// Runs one ingestion over the settled files.
    async fn ingest_batch(&mut self, mut batch: Vec<(String, Snapshot)>, startup: bool) {
        // The registry is the authority: a removed fabric is not ingested any more, a moved one restarts.
        match self.w.hub.engine.fabric(&self.w.fabric.name).await {
            Err(Error::UnknownFabric(_)) => {
                self.ended = Some("removed from the registry".into());
                return;
            }
            Ok(f) if f.root != self.w.fabric.root => {
                self.ended = Some(format!("its GitOps root moved to {}", f.root.display()));
                return;
            }
            Ok(f) => self.w.fabric = f,
            // The ingestion below meets the same problem and reports it.
            Err(_) => {}
        }
        self.set_status(|s| s.state = WatchState::Ingesting);
        let started = Instant::now();
        // Fabrics are ingested in parallel up to the engine's bound.
        let _slot = match self.w.hub.engine.fabric_slot().await {
            Ok(slot) => slot,
            Err(e) => {
                self.set_status(|s| s.state = WatchState::Watching);
                tracing::warn!("{e}");
                return;
            }
        };
        let begun = Instant::now();
        let latency = batch
            .iter()
            .filter_map(|(rel, _)| self.tracker.changed_at(rel))
            .map(|t| begun.saturating_duration_since(t))
            .max();
        let mut attempts = 0;
        let result = loop {
            let opts = IngestOptions {
                dry_run: false,
                only: Some(batch.iter().map(|(rel, _)| self.root.abs(rel)).collect()),
                ..self.w.hub.options.ingest.clone()
            };
            match ingest(&self.w.hub.engine, &self.w.fabric, &opts).await {
                // A blocked clone: the files were validated (their rejections recorded) but nothing was
                // written; they are taken again, with back-off, until the operator resolves the conflict.
                Ok(r) if r.validated_only => {
                    break Err(Error::GitConflict(r.git_error.unwrap_or_default()))
                }
                Ok(r) => break Ok(Some(r)),
                Err(e) => {
                    // A file that vanished after it was taken fails the whole run: go again without it.
                    let before = batch.len();
                    let dir = crate::sandbox::RootDir::open(self.root.path()).ok();
                    batch.retain(|(rel, _)| dir.as_ref().is_some_and(|d| d.exists(rel)));
                    attempts += 1;
                    if batch.len() < before && attempts < 3 && (!batch.is_empty() || startup) {
                        continue;
                    }
                    if batch.len() < before && batch.is_empty() {
                        break Ok(None);
                    }
                    break Err(e);
                }
            }
        };
        let now = Instant::now();
        self.set_status(|s| s.state = WatchState::Watching);
        match result {
            Ok(Some(report)) => {
                self.failures = 0;
                self.last_error = None;
                self.startup_due = None;
                self.after_report(&report, &batch, startup, started.elapsed(), latency, now);
            }
            Ok(None) => {}
            Err(e) => {
                self.failures += 1;
                let backoff = Duration::from_secs(1 << self.failures.min(6).saturating_sub(1))
                    .min(MAX_BACKOFF);
                for (rel, _) in &batch {
                    self.tracker.after_failure(rel, now + backoff);
                }
                if startup {
                    self.startup_due = Some(now + backoff);
                }
                let message = e.to_string();
                if self.last_error.as_deref() != Some(message.as_str()) {
                    self.last_error = Some(message.clone());
                    self.report_error(
                        format!(
                            "ingestion failed: {message} (retrying in {}s)",
                            backoff.as_secs()
                        ),
                        None,
                    );
                } else {
                    let at = crate::clock::now_rfc3339();
                    self.set_status(|s| s.last_error_at = Some(at));
                }
            }
        }
    }

    fn after_report(
        &mut self,
        report: &IngestReport,
        batch: &[(String, Snapshot)],
        startup: bool,
        took: Duration,
        latency: Option<Duration>,
        now: Instant,
    ) {
        let taken: BTreeMap<&str, Snapshot> = batch.iter().map(|(r, s)| (r.as_str(), *s)).collect();
        let mut answered = BTreeSet::new();
        for f in &report.files {
            if let Some(snap) = taken.get(f.file.as_str()) {
                self.tracker.after_run(&f.file, *snap, f.status, now);
                answered.insert(f.file.clone());
            }
            self.set_status(|s| match f.status {
                FileStatus::Ingested => s.ingested += 1,
                FileStatus::Unchanged => s.unchanged += 1,
                FileStatus::Rejected => s.rejected += 1,
                FileStatus::Skipped => s.skipped += 1,
            });
            self.emit(WatchEventKind::File(f.clone()));
        }
        for (rel, snap) in batch {
            if !answered.contains(rel) {
                self.tracker.after_run(rel, *snap, FileStatus::Skipped, now);
            }
        }
        let m = &report.managed;
        let state_changed = report.summary.ingested > 0
            || !m.edited.is_empty()
            || !m.adopted.is_empty()
            || !m.removed.is_empty();
        if state_changed {
            self.tracker.retry_rejected(now);
        }
        for r in &report.refused {
            if self.reported_refused.insert(r.file.clone()) {
                self.emit(WatchEventKind::Refused {
                    file: r.file.clone(),
                    reason: r.reason.clone(),
                });
            }
        }
        let m = &report.managed;
        let errors: Vec<String> = m.errors.iter().map(|d| d.to_string()).collect();
        if !m.edited.is_empty()
            || !m.adopted.is_empty()
            || !m.removed.is_empty()
            || errors != self.last_managed_errors
        {
            self.last_managed_errors = errors;
            self.emit(WatchEventKind::Managed(m.clone()));
        }
        let at = crate::clock::now_rfc3339();
        self.set_status(|s| {
            s.runs += 1;
            s.last_run_at = Some(at);
        });
        self.emit(WatchEventKind::Run {
            startup,
            files: report.files.len(),
            duration_ms: took.as_millis() as u64,
            latency_ms: latency.map(|l| l.as_millis() as u64),
            summary: report.summary.clone(),
            recovery: report.recovery.clone(),
            git: report.git.clone(),
            git_error: report.git_error.clone(),
        });
    }
}

#[cfg(unix)]
fn dir_id(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn dir_id(_m: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}
