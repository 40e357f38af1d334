//! When a raw file is ready to be taken: the per-file bookkeeping of one fabric's watcher, kept free of I/O and
//! of the clock (every call gets `now`) so the rules are tested directly.
//!
//! Rules:
//! - a file is taken once its snapshot (length, mtime, ctime, inode) has stayed the same for the debounce
//!   period, seen by two scans at least that far apart;
//! - a file that a writer still holds open (a write event without a close-write event, when events exist) or
//!   that is empty waits until it has not changed for `settle_max`, so a writer pausing longer than the
//!   debounce, or a file created before it is written, is not taken half-written;
//! - a rejected file waits until its snapshot changes (the engine's rejection records, by content hash, answer
//!   for a file that is touched but not changed);
//! - a failed run retries its files after a back-off.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::ingest::FileStatus;

/// What a stat of a raw file says; two equal snapshots mean the file did not change in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub len: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub dev: u64,
}

impl Snapshot {
    pub fn of_meta(m: &crate::sandbox::Meta) -> Snapshot {
        Snapshot {
            len: m.len,
            mtime: m.mtime,
            ctime: m.ctime,
            ino: m.ino,
            dev: m.dev,
        }
    }
}

/// One entry of a scan of raw/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    File(Snapshot),
    /// A symbolic link with a raw-file name: the watcher leaves it to a plain `ingest` run.
    Symlink,
}

#[derive(Debug, Clone)]
struct Track {
    snap: Option<Snapshot>,
    symlink: bool,
    symlink_reported: bool,
    changed_at: Instant,
    /// A write event came and no close-write event since.
    writing: bool,
    /// Rejected with this snapshot: not taken again until it changes.
    rejected: Option<Snapshot>,
    /// A failed run: not taken again before this.
    retry_at: Option<Instant>,
}

impl Track {
    fn new(now: Instant) -> Track {
        Track {
            snap: None,
            symlink: false,
            symlink_reported: false,
            changed_at: now,
            writing: false,
            rejected: None,
            retry_at: None,
        }
    }
}

/// Where a tracked file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Nothing to do until it changes (rejected, a symbolic link, not scanned yet).
    Idle,
    Ready(Snapshot),
    WaitUntil(Instant),
}

/// The files of one fabric's raw/ and when each may be taken.
#[derive(Debug)]
pub(crate) struct Tracker {
    debounce: Duration,
    settle_max: Duration,
    files: BTreeMap<String, Track>,
    /// Distinct files seen so far.
    seen_total: u64,
}

impl Tracker {
    pub fn new(debounce: Duration, settle_max: Duration) -> Tracker {
        Tracker {
            debounce,
            settle_max: settle_max.max(debounce),
            files: BTreeMap::new(),
            seen_total: 0,
        }
    }

    pub fn seen_total(&self) -> u64 {
        self.seen_total
    }

    /// Takes in a full scan of raw/ (`rel` → what is there). Returns the symbolic links not reported yet.
    pub fn observe(&mut self, scan: &BTreeMap<String, Seen>, now: Instant) -> Vec<String> {
        self.files.retain(|rel, _| scan.contains_key(rel));
        let mut new_links = Vec::new();
        for (rel, seen) in scan {
            let t = match self.files.get_mut(rel) {
                Some(t) => t,
                None => {
                    self.files.insert(rel.clone(), Track::new(now));
                    match self.files.get_mut(rel) {
                        Some(t) => t,
                        None => continue,
                    }
                }
            };
            if t.snap.is_none() && !t.symlink {
                self.seen_total += 1;
            }
            match seen {
                Seen::File(s) => {
                    t.symlink = false;
                    if t.snap != Some(*s) {
                        t.snap = Some(*s);
                        t.changed_at = now;
                    }
                }
                Seen::Symlink => {
                    t.snap = None;
                    t.symlink = true;
                    if !t.symlink_reported {
                        t.symlink_reported = true;
                        new_links.push(rel.clone());
                    }
                }
            }
        }
        new_links
    }

    /// A write event: the file is being written (until a close-write or rename-into-place event).
    pub fn note_write(&mut self, rel: &str, now: Instant) {
        let t = self
            .files
            .entry(rel.to_string())
            .or_insert_with(|| Track::new(now));
        t.writing = true;
        t.changed_at = now;
    }

    /// A close-write or rename-into-place event: the writer is done with the file.
    pub fn note_complete(&mut self, rel: &str) {
        if let Some(t) = self.files.get_mut(rel) {
            t.writing = false;
        }
    }

    /// After lost events: what writers are doing is unknown, so only the debounce rule applies.
    pub fn forget_writers(&mut self) {
        for t in self.files.values_mut() {
            t.writing = false;
        }
    }

    fn standing(&self, t: &Track, now: Instant) -> Standing {
        let Some(snap) = t.snap else {
            return Standing::Idle;
        };
        if t.symlink || t.rejected == Some(snap) {
            return Standing::Idle;
        }
        let wait = if t.writing || snap.len == 0 {
            self.settle_max
        } else {
            self.debounce
        };
        let mut due = t.changed_at + wait;
        if let Some(r) = t.retry_at {
            due = due.max(r);
        }
        if now >= due {
            Standing::Ready(snap)
        } else {
            Standing::WaitUntil(due)
        }
    }

    /// The files to take now, with the snapshot they are taken at. Call right after [`observe`](Self::observe).
    pub fn ready(&self, now: Instant) -> Vec<(String, Snapshot)> {
        self.files
            .iter()
            .filter_map(|(rel, t)| match self.standing(t, now) {
                Standing::Ready(s) => Some((rel.clone(), s)),
                _ => None,
            })
            .collect()
    }

    /// When the next waiting file may become ready.
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        self.files
            .values()
            .filter_map(|t| match self.standing(t, now) {
                Standing::WaitUntil(d) => Some(d),
                _ => None,
            })
            .min()
    }

    /// When the file last changed as far as the watcher saw (an event or a scan), or was set to be taken again.
    pub fn changed_at(&self, rel: &str) -> Option<Instant> {
        self.files.get(rel).map(|t| t.changed_at)
    }

    /// Files waiting to be taken or ready now.
    pub fn pending(&self, now: Instant) -> usize {
        self.files
            .values()
            .filter(|t| self.standing(t, now) != Standing::Idle)
            .count()
    }

    /// Records what a run did with a file taken at `taken`.
    pub fn after_run(&mut self, rel: &str, taken: Snapshot, status: FileStatus, now: Instant) {
        let Some(t) = self.files.get_mut(rel) else {
            return;
        };
        t.retry_at = None;
        match status {
            FileStatus::Rejected => t.rejected = Some(taken),
            // An ingested file is gone from raw/ (archived). Still there means it was rewritten meanwhile (the
            // engine removes only the content it ingested): take it again once it has settled.
            FileStatus::Ingested | FileStatus::Unchanged | FileStatus::Skipped => {
                t.rejected = None;
                t.changed_at = now;
            }
        }
    }

    /// The fabric's state changed (files were ingested, managed files edited): every rejected file may now pass
    /// (a reference it lacked exists, a conflicting file is gone), so it is taken again; the engine validates
    /// it again only when what its rejection depended on did change.
    pub fn retry_rejected(&mut self, now: Instant) {
        for t in self.files.values_mut() {
            if t.rejected.take().is_some() {
                t.changed_at = now;
            }
        }
    }

    /// A run that failed as a whole: its files are taken again at `retry_at` at the earliest.
    pub fn after_failure(&mut self, rel: &str, retry_at: Instant) {
        if let Some(t) = self.files.get_mut(rel) {
            t.retry_at = Some(retry_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_millis(100);
    const HOLD: Duration = Duration::from_secs(10);

    fn snap(len: u64, mtime: i64) -> Seen {
        Seen::File(Snapshot {
            len,
            mtime: (mtime, 0),
            ctime: (mtime, 0),
            ino: 1,
            dev: 1,
        })
    }

    fn scan(entries: &[(&str, Seen)]) -> BTreeMap<String, Seen> {
        entries.iter().map(|(r, s)| (r.to_string(), *s)).collect()
    }

    fn names(v: Vec<(String, Snapshot)>) -> Vec<String> {
        v.into_iter().map(|(r, _)| r).collect()
    }

    #[test]
    fn a_file_is_taken_once_unchanged_for_the_debounce() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        t.observe(&scan(&[("raw/a.yaml", snap(10, 1))]), t0);
        assert!(t.ready(t0).is_empty());
        assert_eq!(t.next_due(t0), Some(t0 + D));
        t.observe(&scan(&[("raw/a.yaml", snap(10, 1))]), t0 + D / 2);
        assert!(t.ready(t0 + D / 2).is_empty());
        t.observe(&scan(&[("raw/a.yaml", snap(10, 1))]), t0 + D);
        assert_eq!(names(t.ready(t0 + D)), ["raw/a.yaml"]);
        assert_eq!(t.seen_total(), 1);
    }

    #[test]
    fn a_change_between_two_checks_restarts_the_wait() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        t.observe(&scan(&[("raw/a.yaml", snap(10, 1))]), t0);
        t.observe(&scan(&[("raw/a.yaml", snap(20, 2))]), t0 + D);
        assert!(t.ready(t0 + D).is_empty(), "changed since the last check");
        assert_eq!(t.next_due(t0 + D), Some(t0 + 2 * D));
        t.observe(&scan(&[("raw/a.yaml", snap(20, 2))]), t0 + 2 * D);
        assert_eq!(names(t.ready(t0 + 2 * D)), ["raw/a.yaml"]);
    }

    #[test]
    fn open_writers_and_empty_files_wait_for_settle_max() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        t.note_write("raw/a.yaml", t0);
        t.observe(
            &scan(&[("raw/a.yaml", snap(10, 1)), ("raw/e.yaml", snap(0, 1))]),
            t0,
        );
        t.observe(
            &scan(&[("raw/a.yaml", snap(10, 1)), ("raw/e.yaml", snap(0, 1))]),
            t0 + 2 * D,
        );
        assert!(t.ready(t0 + 2 * D).is_empty());
        t.note_complete("raw/a.yaml");
        assert_eq!(names(t.ready(t0 + 2 * D)), ["raw/a.yaml"]);
        assert_eq!(names(t.ready(t0 + HOLD)), ["raw/a.yaml", "raw/e.yaml"]);
    }

    #[test]
    fn a_rejected_file_waits_until_it_changes() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        let s = scan(&[("raw/a.yaml", snap(10, 1))]);
        t.observe(&s, t0);
        t.observe(&s, t0 + D);
        let ready = t.ready(t0 + D);
        t.after_run("raw/a.yaml", ready[0].1, FileStatus::Rejected, t0 + D);
        t.observe(&s, t0 + 5 * D);
        assert!(t.ready(t0 + 5 * D).is_empty());
        assert_eq!(t.next_due(t0 + 5 * D), None);
        assert_eq!(t.pending(t0 + 5 * D), 0);
        let fixed = scan(&[("raw/a.yaml", snap(11, 2))]);
        t.observe(&fixed, t0 + 6 * D);
        t.observe(&fixed, t0 + 7 * D);
        assert_eq!(names(t.ready(t0 + 7 * D)), ["raw/a.yaml"]);
    }

    #[test]
    fn a_rejected_file_is_taken_again_once_the_fabric_changed() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        let s = scan(&[("raw/a.yaml", snap(10, 1))]);
        t.observe(&s, t0);
        t.observe(&s, t0 + D);
        let ready = t.ready(t0 + D);
        t.after_run("raw/a.yaml", ready[0].1, FileStatus::Rejected, t0 + D);
        t.observe(&s, t0 + 2 * D);
        assert!(t.ready(t0 + 2 * D).is_empty());
        t.retry_rejected(t0 + 2 * D);
        t.observe(&s, t0 + 3 * D);
        assert_eq!(names(t.ready(t0 + 3 * D)), ["raw/a.yaml"]);
    }

    #[test]
    fn a_file_still_there_after_ingestion_is_taken_again() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        let s = scan(&[("raw/a.yaml", snap(10, 1))]);
        t.observe(&s, t0);
        t.observe(&s, t0 + D);
        let ready = t.ready(t0 + D);
        t.after_run("raw/a.yaml", ready[0].1, FileStatus::Ingested, t0 + 2 * D);
        t.observe(&s, t0 + 2 * D);
        assert!(t.ready(t0 + 2 * D).is_empty());
        t.observe(&s, t0 + 3 * D);
        assert_eq!(names(t.ready(t0 + 3 * D)), ["raw/a.yaml"]);
    }

    #[test]
    fn failures_back_off_and_vanished_files_are_forgotten() {
        let t0 = Instant::now();
        let mut t = Tracker::new(D, HOLD);
        let s = scan(&[("raw/a.yaml", snap(10, 1)), ("raw/l.yaml", Seen::Symlink)]);
        assert_eq!(t.observe(&s, t0), ["raw/l.yaml"]);
        assert!(t.observe(&s, t0 + D).is_empty(), "a link is reported once");
        t.after_failure("raw/a.yaml", t0 + 10 * D);
        assert!(t.ready(t0 + D).is_empty());
        assert_eq!(t.next_due(t0 + D), Some(t0 + 10 * D));
        assert_eq!(names(t.ready(t0 + 10 * D)), ["raw/a.yaml"]);
        t.observe(&BTreeMap::new(), t0 + 11 * D);
        assert_eq!(t.pending(t0 + 11 * D), 0);
    }
}
