//! One operation at a time per fabric: an advisory lock on `.hnp/lock` in the GitOps root (held across
//! processes on one machine and over NFS-less shared disks), plus a PostgreSQL advisory lock when several
//! hhgitops processes share a PostgreSQL database.

use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};
use tokio_util::sync::CancellationToken;

use crate::db::{Backend, Database};
use crate::error::{Error, Result};

pub use crate::names::LOCK_FILE;

/// Held while working on a fabric; released on drop.
#[derive(Debug)]
pub struct FabricLock {
    _file: File,
    pg: Option<PoolConnection<Any>>,
}

impl Drop for FabricLock {
    fn drop(&mut self) {
        // The advisory lock belongs to the session: closing the connection releases it.
        if let Some(conn) = self.pg.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// Locks a fabric, waiting at most `timeout`. First checks that the fabric's root, as this process resolves it,
/// is this fabric's ([`crate::fabric::verify_root`]).
pub async fn lock_fabric(
    engine: &crate::context::Context,
    fabric: &crate::fabric::Fabric,
    timeout: Duration,
) -> Result<FabricLock> {
    crate::fabric::verify_root(engine.home(), fabric)?;
    lock_root(engine.db(), &fabric.name, &fabric.root, timeout).await
}

/// Runs `work` with the fabric lock held, on a thread of its own (a blocking-pool thread driving the work's
/// future to its end). The lock is taken there and released there when the work returns, so dropping the
/// caller's future — a client gone, a request timed out, a job cancelled — never frees the lock while the work
/// still writes. Dropping the caller's future cancels the token the work receives: the lock wait ends, and the
/// work stops at its next safe point (before it starts writing) or runs to its end. `cancel` does the same on
/// demand.
///
/// Needs the multi-threaded runtime (the work's timers and sockets are driven by its worker threads).
pub async fn with_fabric_lock<T, F, Fut>(
    engine: &crate::context::Context,
    fabric: &crate::fabric::Fabric,
    timeout: Duration,
    cancel: &CancellationToken,
    work: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(crate::context::Context, crate::fabric::Fabric, CancellationToken) -> Fut
        + Send
        + 'static,
    Fut: Future<Output = Result<T>>,
{
    with_lock(engine, fabric, timeout, cancel, true, work).await
}

/// [`with_fabric_lock`]; `verify` first checks the root is this fabric's ([`crate::fabric::verify_root`]), which
/// `init` (whose job is to make it so) does not.
pub(crate) async fn with_lock<T, F, Fut>(
    engine: &crate::context::Context,
    fabric: &crate::fabric::Fabric,
    timeout: Duration,
    cancel: &CancellationToken,
    verify: bool,
    work: F,
) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(crate::context::Context, crate::fabric::Fabric, CancellationToken) -> Fut
        + Send
        + 'static,
    Fut: Future<Output = Result<T>>,
{
    let engine = engine.clone();
    let fabric = fabric.clone();
    let token = cancel.child_token();
    let on_drop = token.clone().drop_guard();
    let out = run_owned(move || async move {
        if verify {
            crate::fabric::verify_root(engine.home(), &fabric)?;
        }
        let lock = tokio::select! {
            biased;
            _ = token.cancelled() => Err(Error::Cancelled(format!(
                "fabric {:?}: cancelled while waiting for its lock",
                fabric.name
            ))),
            l = lock_root(engine.db(), &fabric.name, &fabric.root, timeout) => l,
        }?;
        let out = work(engine, fabric, token).await;
        drop(lock);
        out
    })
    .await;
    on_drop.disarm();
    out
}

/// Runs the future `make` returns to its end on a blocking-pool thread (made and driven there, so it need not
/// be `Send`): dropping the returned future does not stop it. The work logs inside the caller's span (the
/// operation's, naming its fabric).
pub(crate) async fn run_owned<T, M, Fut>(make: M) -> Result<T>
where
    T: Send + 'static,
    M: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let rt = tokio::runtime::Handle::current();
    let span = tracing::Span::current();
    let actor = crate::actor::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        rt.block_on(crate::actor::scope(actor, make()))
    })
    .await
    .map_err(|e| Error::Runtime(format!("fabric task failed: {e}")))?
}

/// Locks the fabric whose root is `root`, waiting at most `timeout`.
pub async fn lock_root(
    db: &Database,
    fabric: &str,
    root: &Path,
    timeout: Duration,
) -> Result<FabricLock> {
    let path = root.join(LOCK_FILE);
    let layout = crate::layout::GitOpsRoot::new(root);
    if !root.join(crate::names::HNP_DIR).exists() && !root.join(crate::names::HNP_DIR).is_symlink()
    {
        return Err(Error::usage(format!(
            "{} is missing: the layout of fabric {fabric:?} is not initialized (run `hhgitops init --fabric {fabric}`)",
            root.join(crate::names::HNP_DIR).display()
        )));
    }
    // Every command that locks a fabric works in its layout: a layout folder that is a link is refused here.
    let dir = layout.sandbox()?;
    let file = dir
        .open_lock_file(LOCK_FILE)
        .map_err(|e| Error::io("cannot open the lock file", &path, e))?;
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(Error::Busy(format!(
                        "fabric {fabric:?} is busy: another hhgitops process holds {} (waited {}s)",
                        path.display(),
                        timeout.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
        }
    }
    let pg = if db.backend() == Backend::Postgres {
        let mut conn = db.pool().acquire().await?;
        let key = advisory_key(fabric);
        loop {
            let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS ok")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
            if row.try_get::<bool, _>("ok")? {
                break;
            }
            if Instant::now() >= deadline {
                conn.close_on_drop();
                return Err(Error::Busy(format!(
                    "fabric {fabric:?} is busy: another hhgitops process holds its PostgreSQL advisory lock"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(conn)
    } else {
        None
    };
    Ok(FabricLock { _file: file, pg })
}

/// A stable 64-bit key per fabric name.
fn advisory_key(fabric: &str) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("hhgitops-fabric:{fabric}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}
