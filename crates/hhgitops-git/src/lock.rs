//! An advisory lock per clone, so that operations on one clone never interleave, across threads and processes.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::{timestamp, GitError, GitRepo};

/// The lock file's name inside the repository's git directory.
pub const LOCK_FILE_NAME: &str = "hhgitops.lock";

/// Exclusive use of a clone for the lifetime of the value (an advisory `flock` on `<git dir>/hhgitops.lock`).
///
/// Every hhgitops operation on a clone (fetch, ingest, commit, push) holds it from start to end. The lock file
/// records who holds it, so a waiter can say whom it waited for. The lock is released when the value is dropped
/// or the process dies; the file itself stays.
#[derive(Debug)]
pub struct CloneLock {
    file: File,
    path: PathBuf,
}

impl CloneLock {
    /// Lock `repo`, waiting up to `timeout`. `purpose` (e.g. `ingest fabric dc1`) is recorded for other waiters.
    pub fn acquire(
        repo: &GitRepo,
        purpose: &str,
        timeout: Duration,
    ) -> Result<CloneLock, GitError> {
        CloneLock::acquire_file(&repo.git_dir().join(LOCK_FILE_NAME), purpose, timeout)
    }

    /// Lock an arbitrary lock file (e.g. next to a clone that does not exist yet), waiting up to `timeout`.
    pub fn acquire_file(
        path: &Path,
        purpose: &str,
        timeout: Duration,
    ) -> Result<CloneLock, GitError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(lock) = CloneLock::try_acquire_file(path, purpose)? {
                return Ok(lock);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(GitError::LockTimeout {
                    path: path.to_path_buf(),
                    waited,
                    holder: read_holder(path),
                });
            }
            thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Lock `path` if nobody holds it; None if somebody does.
    pub fn try_acquire_file(path: &Path, purpose: &str) -> Result<Option<CloneLock>, GitError> {
        // No truncate on open: the current holder's record must survive until we own the lock.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| GitError::io(format!("opening the lock file {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => {
                return Err(GitError::io(format!("locking {}", path.display()), e));
            }
        }
        let mut lock = CloneLock {
            file,
            path: path.to_path_buf(),
        };
        lock.record(purpose);
        Ok(Some(lock))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write who holds the lock; best effort, the lock itself does not depend on it.
    fn record(&mut self, purpose: &str) {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let host = if host.is_empty() {
            "unknown host".to_owned()
        } else {
            host
        };
        let purpose: String = purpose
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let line = format!(
            "pid {} on {host} since {}: {purpose}\n",
            std::process::id(),
            timestamp::rfc3339(SystemTime::now())
        );
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(line.as_bytes());
        let _ = self.file.flush();
    }
}

impl Drop for CloneLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(path: &Path) -> Option<String> {
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(1024)
        .read_to_string(&mut text)
        .ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
