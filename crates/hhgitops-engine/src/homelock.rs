//! One `serve` per home: `<home>/serve.lock`, an advisory lock (flock) held for the server's lifetime, with the
//! holder's pid, host, listen address and start time written into it so that a second server can say which one
//! is running. The kernel drops the lock when the process dies, so a crash leaves nothing to clean up: the
//! stale contents are simply overwritten by the next holder.
//!
//! With SQLite the home holds the database, so a second server on it would run every job, watcher and sync
//! twice; [`crate::Engine::lock_home_for_serve`] takes this lock for SQLite homes. With PostgreSQL the servers
//! coordinate through the database instead, and each should have a home of its own.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::home::Home;

/// The lock file's name in the home.
pub const SERVE_LOCK: &str = "serve.lock";

/// Who holds a home: what a second server reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// The address the server listens on.
    pub listen: String,
    /// RFC 3339 UTC.
    pub started_at: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {}, listening on {}, started {}",
            self.pid, self.host, self.listen, self.started_at
        )
    }
}

/// The home's serve lock, held until dropped.
#[derive(Debug)]
pub struct HomeLock {
    _file: File,
    path: PathBuf,
    holder: LockHolder,
}

impl HomeLock {
    /// Takes the home's serve lock for a server listening on `listen`, or fails with [`Error::HomeInUse`]
    /// naming the server that holds it. Never waits.
    pub fn acquire(home: &Home, listen: &str) -> Result<HomeLock> {
        home.ensure()?;
        let path = home.dir().join(SERVE_LOCK);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open the serve lock", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::HomeInUse {
                    home: home.dir().to_path_buf(),
                    holder: read_holder(&path).map(|h| h.to_string()),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
        }
        let holder = LockHolder {
            pid: std::process::id(),
            host: hostname(),
            listen: listen.to_string(),
            started_at: crate::clock::now_rfc3339(),
        };
        let text = serde_json::to_string(&holder)
            .map_err(|e| Error::Runtime(format!("serve lock: {e}")))?;
        // Rewritten in place: the lock is on this open file, so it cannot be replaced by a rename.
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        };
        write(&mut file).map_err(|e| Error::io("cannot write the serve lock", &path, e))?;
        Ok(HomeLock {
            _file: file,
            path,
            holder,
        })
    }

    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who the lock file names. A holder that has just taken the lock may not have written itself yet: a short
/// wait covers that. `None` when it cannot be read.
pub fn read_holder(path: &Path) -> Option<LockHolder> {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let mut text = String::new();
        let read = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
        if read.is_ok() {
            if let Ok(h) = serde_json::from_str::<LockHolder>(text.trim()) {
                return Some(h);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// This machine's host name (Linux: the kernel's; elsewhere `$HOSTNAME`), or `unknown`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::from_dir(dir.path().join("home")).unwrap();
        let first = HomeLock::acquire(&home, "127.0.0.1:8080").unwrap();
        assert_eq!(first.holder().pid, std::process::id());
        let on_disk = read_holder(first.path()).unwrap();
        assert_eq!(&on_disk, first.holder());

        // flock locks belong to the open file, so a second open in this process conflicts like another
        // process would.
        let err = HomeLock::acquire(&home, "127.0.0.1:9090").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::HomeInUse { .. }), "{err:?}");
        assert_eq!(err.class(), crate::ErrorClass::Usage);
        assert!(
            msg.contains(&format!("pid {}", std::process::id()))
                && msg.contains("127.0.0.1:8080")
                && msg.contains(&hostname())
                && msg.contains(&home.dir().display().to_string()),
            "{msg}"
        );
        assert_eq!(read_holder(first.path()).unwrap().listen, "127.0.0.1:8080");

        drop(first);
        let second = HomeLock::acquire(&home, "127.0.0.1:9090").unwrap();
        assert_eq!(read_holder(second.path()).unwrap().listen, "127.0.0.1:9090");
    }

    #[test]
    fn a_dead_holders_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::from_dir(dir.path()).unwrap();
        // What a crashed server leaves: the file with its details, but no lock.
        let stale = LockHolder {
            pid: 999_999,
            host: "gone".into(),
            listen: "0.0.0.0:1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        std::fs::write(
            dir.path().join(SERVE_LOCK),
            serde_json::to_string(&stale).unwrap() + "\n\n\n\n\n\n\n\n\n\n\n\n",
        )
        .unwrap();
        let lock = HomeLock::acquire(&home, "[::1]:8080").unwrap();
        let now = read_holder(lock.path()).unwrap();
        assert_eq!(now.listen, "[::1]:8080");
        assert_eq!(now.pid, std::process::id());
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "old contents fully replaced: {text:?}"
        );
    }

    #[test]
    fn an_unreadable_holder_is_still_a_clear_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::from_dir(dir.path()).unwrap();
        let path = dir.path().join(SERVE_LOCK);
        std::fs::write(&path, "garbage").unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.try_lock().unwrap();
        let err = HomeLock::acquire(&home, "127.0.0.1:8080").unwrap_err();
        assert!(
            err.to_string().contains("another `hhgitops serve`"),
            "{err}"
        );
    }
}
