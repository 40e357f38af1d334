//! Journaled file transactions: how one ingestion (or delete, or import) changes many files all or nothing.
//!
//! 1. **Stage**: every new file content is written under `.hnp/txn/<id>/` (no per-file fsync), by a thread of
//!    the transaction's own ([`Stager`]) while the caller goes on preparing the next content.
//! 2. **Commit point**: the file system is flushed (`syncfs`), then `journal.json` listing every step is written
//!    atomically. Before it exists the transaction never happened; after, it will complete.
//! 3. **Apply**: each step is carried out in order — staged files renamed over their targets, files removed (a
//!    raw file only if it still has the content that was ingested) — then flushed and the folder removed.
//!
//! Every step is idempotent, so [`recover`] (run under the fabric lock before any new work) rolls committed
//! transactions forward and throws uncommitted ones away. A `kill -9` at any instant therefore leaves, after the
//! next run, either the whole transaction applied or none of it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::sha256_hex;
use crate::error::{Error, Result};
use crate::sandbox::{check_rel, FileKind, Folder, RootDir};

/// Folder of transactions, relative to the GitOps root.
pub use crate::names::TXN_DIR;
const JOURNAL: &str = "journal.json";
/// Largest journal read back (a journal lists paths, not contents: even 10^6 steps stay far below this).
const MAX_JOURNAL_BYTES: u64 = 512 << 20;
/// Space kept free for the journal and the run's records beyond what was staged.
const SPACE_MARGIN: u64 = 1 << 20;

/// Test-only hooks at named points of an operation: crash injection (when the named point is reached the
/// process aborts, as a `kill -9` would stop it) and a callback called at every point (a test pauses the work
/// there, or changes the world at that moment). Front ends set it from `HHGITOPS_FAILPOINT`; the library never
/// reads the environment itself.
#[derive(Clone, Default)]
pub struct Failpoint {
    abort_at: Option<String>,
    at: Option<PointHook>,
}

/// What [`Failpoint::calling`] calls at every point.
type PointHook = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for Failpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failpoint")
            .field("abort_at", &self.abort_at)
            .field("at", &self.at.is_some())
            .finish()
    }
}

impl Failpoint {
    /// Aborts the process at the point named `name` (none when `None`).
    pub fn abort_at(name: Option<String>) -> Self {
        Failpoint {
            abort_at: name,
            at: None,
        }
    }

    /// Calls `f` with the name of every point reached.
    pub fn calling(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Failpoint {
            abort_at: None,
            at: Some(std::sync::Arc::new(f)),
        }
    }

    /// A named point of an operation: with the `test-hooks` feature, calls the hook and aborts at the point
    /// named; without it, nothing.
    #[cfg(feature = "test-hooks")]
    pub fn hit(&self, name: &str) {
        if let Some(f) = &self.at {
            f(name);
        }
        if self.abort_at.as_deref() == Some(name) {
            eprintln!("hhgitops: failpoint {name}: aborting");
            std::process::abort();
        }
    }

    #[cfg(not(feature = "test-hooks"))]
    #[inline(always)]
    pub fn hit(&self, _name: &str) {}
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
enum Step {
    /// Rename `staged` (inside the transaction folder) over `target` (relative to the root).
    Put { target: String, staged: String },
    /// Remove `target`; with `sha256`, only while the file still has that content.
    Remove {
        target: String,
        sha256: Option<String>,
    },
}

impl Step {
    fn target(&self) -> &str {
        match self {
            Step::Put { target, .. } | Step::Remove { target, .. } => target,
        }
    }

    fn describe(&self) -> String {
        match self {
            Step::Put { target, .. } => format!("write {target}"),
            Step::Remove { target, .. } => format!("remove {target}"),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    version: u32,
    steps: Vec<Step>,
}

/// Checks one step of a journal as untrusted data: the only files a transaction may touch are managed files
/// (`managed/<plural>/<name>.yaml`), archived copies and ingested originals under `raw/` (a raw file only with
/// the content it was ingested with), the manifest and the archive log; a staged file is a plain name inside
/// the transaction's own folder.
fn check_step(step: &Step) -> std::result::Result<(), String> {
    let target = step.target();
    check_rel(target).map_err(|e| e.to_string())?;
    let managed = target
        .strip_prefix("managed/")
        .and_then(|r| r.split_once('/'))
        .is_some_and(|(plural, file)| {
            hhgitops_core::Kind::from_plural(plural).is_some()
                && !file.contains('/')
                && !file.starts_with('.')
                && file.ends_with(".yaml")
        });
    let raw = target
        .strip_prefix("raw/")
        .is_some_and(|r| !r.split('/').any(|c| c.starts_with('.')));
    let record = target == crate::names::MANIFEST || target == crate::names::ARCHIVE_LOG;
    let ok = match step {
        Step::Put { staged, .. } => {
            let staged_ok = staged.len() > 1
                && staged.starts_with('f')
                && staged[1..].bytes().all(|b| b.is_ascii_digit());
            if !staged_ok {
                return Err(format!(
                    "staged file {staged:?} is not a file of the transaction"
                ));
            }
            managed || record || (raw && target.to_ascii_lowercase().ends_with(".archived"))
        }
        Step::Remove { sha256, .. } => {
            managed || (raw && crate::names::is_yaml_name(target) && sha256.is_some())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{}: not a file a transaction may touch",
            step.describe()
        ))
    }
}

/// A transaction being built. Dropping it without [`commit`](Transaction::commit) discards it.
#[derive(Debug)]
pub struct Transaction {
    root: RootDir,
    /// `.hnp/txn/<id>`.
    dir: String,
    /// That folder, opened once: every staged file is applied from it.
    folder: Folder,
    /// Writes the staged files into `folder`.
    stager: Stager,
    steps: Vec<Step>,
    /// Staged files named so far (`f0`, `f1`, …): a name is never given twice, even after a failed write.
    staged: usize,
    committed: bool,
}

impl Transaction {
    pub fn begin(root: &RootDir) -> Result<Transaction> {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let dir = format!("{TXN_DIR}/{id}");
        root.create_dir_all(&dir)
            .map_err(|e| Error::io("cannot create transaction folder", root.abs(&dir), e))?;
        let folder = root
            .folder(&dir)
            .map_err(|e| Error::io("cannot open transaction folder", root.abs(&dir), e))?;
        let stager = folder
            .try_clone()
            .and_then(Stager::start)
            .map_err(|e| Error::io("cannot start staging into", root.abs(&dir), e))?;
        Ok(Transaction {
            root: root.clone(),
            dir,
            folder,
            stager,
            steps: Vec::new(),
            staged: 0,
            committed: false,
        })
    }

    /// Stages new content for `target` (relative to the root).
    /// The file is written by the transaction's stager; a write that failed is reported by the next `put` or by
    /// [`commit`](Self::commit), before the commit point.
    /// Owned bytes are handed to the stager as they are (a large archived original or manifest is not copied).
    pub fn put(&mut self, target: &str, bytes: impl Into<Vec<u8>>) -> Result<()> {
        let staged = self.next_staged();
        self.stager
            .write(staged.clone(), bytes.into())
            .map_err(|(name, e)| self.stage_error(&name, e))?;
        self.steps.push(Step::Put {
            target: target.to_string(),
            staged,
        });
        Ok(())
    }

    /// Stages new content for `target` written piece by piece by `write` (a large record is never held whole in
    /// memory). The file is written on the caller's thread, beside the stager's (other) files.
    pub fn put_streamed(
        &mut self,
        target: &str,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<()> {
        use std::io::Write;
        let staged = self.next_staged();
        let written = (|| {
            let mut out =
                std::io::BufWriter::with_capacity(64 << 10, self.folder.create_new(&staged)?);
            write(&mut out)?;
            out.flush()
        })();
        written.map_err(|e| self.stage_error(&staged, e))?;
        self.steps.push(Step::Put {
            target: target.to_string(),
            staged,
        });
        Ok(())
    }

    /// The name of the next staged file in the transaction's folder.
    fn next_staged(&mut self) -> String {
        self.staged += 1;
        format!("f{}", self.staged - 1)
    }

    /// Removes `target` when the transaction applies; with `sha256`, only if the file still has that content.
    pub fn remove(&mut self, target: &str, sha256: Option<String>) {
        self.steps.push(Step::Remove {
            target: target.to_string(),
            sha256,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Before the commit point: every step is one a journal may hold, every folder a step writes into exists
    /// and takes a new file, and the file system has room for the journal, so a long name, a read-only folder
    /// or a full disk is found while the transaction can still be thrown away.
    fn preflight(&self) -> Result<()> {
        let mut dirs = std::collections::BTreeSet::new();
        for step in &self.steps {
            check_step(step).map_err(|m| {
                Error::Runtime(format!(
                    "internal: refusing to commit a transaction step: {m}"
                ))
            })?;
            if let Some((parent, _)) = step.target().rsplit_once('/') {
                dirs.insert(parent.to_string());
            }
        }
        for dir in dirs {
            self.root
                .create_dir_all(&dir)
                .map_err(|e| Error::io("cannot create folder", self.root.abs(&dir), e))?;
            let probe = format!(
                "{dir}/{}probe-{}",
                crate::atomic::TMP_PREFIX,
                uuid::Uuid::new_v4().simple()
            );
            self.root
                .write_new(&probe, b"")
                .map_err(|e| Error::io("cannot write in", self.root.abs(&dir), e))?;
            self.root
                .rename(&probe, &format!("{}/probe", self.dir), false)
                .or_else(|_| self.root.remove_file(&probe))
                .map_err(|e| Error::io("cannot move files out of", self.root.abs(&dir), e))?;
        }
        if let Some(free) = self.root.free_space() {
            let journal_estimate = 256 * self.steps.len() as u64 + SPACE_MARGIN;
            if free < journal_estimate {
                return Err(Error::Runtime(format!(
                    "{}: only {free} bytes free, the transaction needs about {journal_estimate} more: free some space and run again",
                    self.root.path().display()
                )));
            }
        }
        Ok(())
    }

    fn stage_error(&self, staged: &str, e: std::io::Error) -> Error {
        Error::io(
            "cannot stage",
            self.root.abs(&format!("{}/{staged}", self.dir)),
            e,
        )
    }

    /// Makes the transaction durable, then applies it.
    pub fn commit(mut self, failpoint: &Failpoint) -> Result<()> {
        self.stager
            .finish()
            .map_err(|(name, e)| self.stage_error(&name, e))?;
        failpoint.hit("txn-staged");
        self.preflight()?;
        flush(&self.root)?;
        let journal = Journal {
            version: 1,
            steps: std::mem::take(&mut self.steps),
        };
        let bytes =
            serde_json::to_vec(&journal).map_err(|e| Error::Runtime(format!("journal: {e}")))?;
        let jrel = format!("{}/{JOURNAL}", self.dir);
        self.root
            .write_atomic(&jrel, &bytes)
            .map_err(|e| Error::io("cannot write", self.root.abs(&jrel), e))?;
        self.committed = true;
        failpoint.hit("txn-committed");
        let mut apply = Apply::new(&self.root, &self.folder);
        for (i, step) in journal.steps.iter().enumerate() {
            apply
                .step(step)
                .map_err(|e| Error::io("cannot apply", self.root.abs(step.target()), e))?;
            failpoint.hit(&format!("txn-step-{}", i + 1));
        }
        finish(&self.root, &self.dir)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // The stager has written its last file before the folder is removed; files it was not handed yet are
        // not written at all when the transaction is thrown away.
        if self.committed {
            let _ = self.stager.finish();
        } else {
            self.stager.discard();
        }
        if !self.committed {
            let _ = self.root.remove_dir_all(&self.dir);
        }
    }
}

/// Files handed to the writer at once: one wake-up of its thread per batch, not per file (a thread switch per
/// file cost an ingestion of 5,600 files about a sixth of its time in the kernel's futex and scheduler).
const STAGE_BATCH_FILES: usize = 64;
/// A batch is handed over early once it holds this many bytes (large files).
const STAGE_BATCH_BYTES: usize = 1 << 20;
/// Batches handed over before the writer stops taking more: enough to keep it busy, few enough to bound what is
/// held (at most 4 batches waiting and one being filled).
const STAGE_QUEUE: usize = 4;

/// A batch of files for the writer: (name in the transaction's folder, content).
type Batch = Vec<(String, Vec<u8>)>;

/// The thread that writes a transaction's staged files, so that creating and filling them (system calls) runs
/// beside the caller's work of preparing the next content (normalizing, hashing) on another core. Files are
/// handed over in batches and written in the order given. After the first failure nothing more is written;
/// that failure is reported by a later [`write`](Self::write) or by [`finish`](Self::finish), and every later
/// call fails too, so a transaction that lost a staged file can never reach its commit point.
struct Stager {
    queue: Option<std::sync::mpsc::SyncSender<Batch>>,
    /// Files not handed over yet.
    batch: Batch,
    batch_bytes: usize,
    writer: Option<std::thread::JoinHandle<std::result::Result<(), (String, std::io::Error)>>>,
    /// A failure was reported already.
    failed: bool,
}

type StageFailure = (String, std::io::Error);

impl std::fmt::Debug for Stager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stager")
            .field("running", &self.writer.is_some())
            .field("waiting", &self.batch.len())
            .field("failed", &self.failed)
            .finish()
    }
}

impl Stager {
    fn start(folder: Folder) -> std::io::Result<Stager> {
        let (queue, batches) = std::sync::mpsc::sync_channel::<Batch>(STAGE_QUEUE);
        let writer = std::thread::Builder::new()
            .name("hhgitops-stage".into())
            .spawn(move || {
                for batch in batches {
                    for (name, bytes) in batch {
                        folder.write_new(&name, &bytes).map_err(|e| (name, e))?;
                    }
                }
                Ok(())
            })?;
        Ok(Stager {
            queue: Some(queue),
            batch: Vec::with_capacity(STAGE_BATCH_FILES),
            batch_bytes: 0,
            writer: Some(writer),
            failed: false,
        })
    }

    /// Takes one file for the writer; hands the batch over when it is full (at once when the writer was finished
    /// before, which then fails).
    fn write(&mut self, name: String, bytes: Vec<u8>) -> std::result::Result<(), StageFailure> {
        self.batch_bytes += bytes.len();
        self.batch.push((name, bytes));
        let full = self.batch.len() >= STAGE_BATCH_FILES || self.batch_bytes >= STAGE_BATCH_BYTES;
        if full || self.queue.is_none() {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the batch to the writer; a writer that stopped (at its first failure, or finished before) is
    /// finished and its failure reported.
    fn hand_over(&mut self) -> std::result::Result<(), StageFailure> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(STAGE_BATCH_FILES));
        self.batch_bytes = 0;
        let last = batch.last().map(|(n, _)| n.clone()).unwrap_or_default();
        if let Some(q) = &self.queue {
            if q.send(batch).is_ok() {
                return Ok(());
            }
        }
        self.finish()?;
        Err((
            last,
            std::io::Error::other("the transaction's files were all staged already"),
        ))
    }

    /// Hands over what is left and waits until every file is written: the first failure.
    fn finish(&mut self) -> std::result::Result<(), StageFailure> {
        if let (Some(q), false) = (&self.queue, self.batch.is_empty()) {
            // A writer that stopped refuses the batch; its own failure is reported by the join below.
            let _ = q.send(std::mem::take(&mut self.batch));
        }
        self.batch.clear();
        drop(self.queue.take());
        let result = match self.writer.take() {
            Some(w) => w.join().unwrap_or_else(|_| {
                Err((
                    String::new(),
                    std::io::Error::other("the staging writer panicked"),
                ))
            }),
            None if self.failed => Err((
                String::new(),
                std::io::Error::other("a staged file could not be written (reported before)"),
            )),
            None => Ok(()),
        };
        self.failed |= result.is_err();
        result
    }

    /// Stops the writer without handing over what is left (a transaction thrown away).
    fn discard(&mut self) {
        self.batch.clear();
        let _ = self.finish();
    }
}

/// Applies the steps of one transaction. The folders steps write into are opened once each and kept (a large
/// ingestion puts thousands of files into a few `managed/<kind>/` folders), so a step costs its own system calls
/// only: what is at the staged file and at the target, then the rename.
struct Apply<'a> {
    root: &'a RootDir,
    txn: &'a Folder,
    parents: std::collections::HashMap<String, Folder>,
}

impl<'a> Apply<'a> {
    fn new(root: &'a RootDir, txn: &'a Folder) -> Self {
        Apply {
            root,
            txn,
            parents: std::collections::HashMap::new(),
        }
    }

    /// The folder `rel` (created if missing), opened once.
    fn parent(&mut self, rel: &str) -> std::io::Result<&Folder> {
        if !self.parents.contains_key(rel) {
            self.root.create_dir_all(rel)?;
            let f = self.root.folder(rel)?;
            self.parents.insert(rel.to_string(), f);
        }
        Ok(&self.parents[rel])
    }

    /// One step, idempotent: a staged file already moved, or a file already removed, is a step done.
    fn step(&mut self, step: &Step) -> std::io::Result<()> {
        match step {
            Step::Put { target, staged } => {
                match self.txn.kind(staged)? {
                    Some(FileKind::File) => {}
                    None => return Ok(()),
                    Some(k) => {
                        return Err(std::io::Error::other(format!(
                            "staged {}/{staged} is {}",
                            self.txn.rel(),
                            k.describe()
                        )))
                    }
                }
                let (parent, name) = target.rsplit_once('/').unwrap_or(("", target));
                let txn = self.txn;
                let dest = self.parent(parent)?;
                // Never replace a folder or a link (a dangling one included) with a staged file.
                match dest.kind(name)? {
                    None | Some(FileKind::File) => txn.rename_to(staged, dest, name, false),
                    Some(k) => Err(std::io::Error::other(format!(
                        "{target} is {}: not replaced",
                        k.describe()
                    ))),
                }
            }
            Step::Remove { target, sha256 } => {
                let root = self.root;
                let matches = match (sha256, root.read(target)) {
                    (_, Err(_)) => false,
                    (None, Ok(_)) => true,
                    (Some(h), Ok(bytes)) => &sha256_hex(&bytes) == h,
                };
                if matches {
                    root.remove_file(target)?;
                }
                Ok(())
            }
        }
    }
}

/// Suffix of a transaction folder that was fully applied and is being removed.
const DONE_SUFFIX: &str = ".done";

/// Retires an applied transaction: its folder is renamed to `<id>.done` in one atomic step, then removed. A
/// crash before the rename leaves the journal, and the transaction is applied again (every step is
/// idempotent); after it, only a `.done` folder, which recovery removes without counting anything — a fully
/// applied transaction is never reported as discarded.
fn finish(root: &RootDir, dir: &str) -> Result<()> {
    flush(root)?;
    let done = format!("{dir}{DONE_SUFFIX}");
    root.rename(dir, &done, true)
        .map_err(|e| Error::io("cannot retire transaction folder", root.abs(dir), e))?;
    root.remove_dir_all(&done)
        .map_err(|e| Error::io("cannot remove transaction folder", root.abs(&done), e))?;
    Ok(())
}

/// What [`recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    /// Committed transactions completed.
    pub rolled_forward: usize,
    /// Uncommitted transactions thrown away.
    pub discarded: usize,
    /// Journals refused and removed without applying anything (a target outside what a transaction may touch,
    /// an unreadable journal): what was refused and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// Steps of committed transactions that could no longer be applied and were given up, each with what
    /// happened; the next ingestion sees the files as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<String>,
}

/// True for errors that will not go away by trying again (a name too long, a link or folder in the way).
fn is_permanent(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    match e.raw_os_error() {
        Some(n) => [
            Errno::NAMETOOLONG,
            Errno::NOTDIR,
            Errno::ISDIR,
            Errno::LOOP,
            Errno::XDEV,
            Errno::INVAL,
            Errno::NOTEMPTY,
            Errno::EXIST,
        ]
        .iter()
        .any(|x| x.raw_os_error() == n),
        None => matches!(
            e.kind(),
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Other
        ),
    }
}

/// Completes or discards interrupted transactions. Call with the fabric lock held.
///
/// Journals are untrusted data (the tree may come from anyone who can push): a journal with any step outside
/// what a transaction may touch is refused whole and removed, never applied. `.hnp/txn` or an entry in it that
/// is a symbolic link is never followed: recovery refuses and nothing is removed.
pub fn recover(root: &RootDir) -> Result<Recovery> {
    let mut rec = Recovery::default();
    let entries = match root.kind(TXN_DIR) {
        Ok(None) => return Ok(rec),
        Ok(Some(FileKind::Dir)) => root
            .list(TXN_DIR)
            .map_err(|e| Error::io("cannot list", root.abs(TXN_DIR), e))?,
        Ok(Some(k)) => {
            return Err(Error::Corrupt {
                path: root.abs(TXN_DIR),
                message: format!(
                    "is {}, not a folder: hhgitops keeps its transactions there; remove it (nothing was touched)",
                    k.describe()
                ),
            })
        }
        Err(e) => return Err(Error::io("cannot inspect", root.abs(TXN_DIR), e)),
    };
    let mut dirs: Vec<String> = Vec::new();
    for e in entries {
        let name = match e.utf8() {
            Some(n) => n.to_string(),
            None => {
                rec.refused.push(format!(
                    "{TXN_DIR}/{}: a name that is not UTF-8: left alone",
                    e.name.to_string_lossy()
                ));
                continue;
            }
        };
        match e.kind {
            FileKind::Dir => dirs.push(format!("{TXN_DIR}/{name}")),
            FileKind::File if name.starts_with(crate::atomic::TMP_PREFIX) => {
                let _ = root.remove_file(&format!("{TXN_DIR}/{name}"));
            }
            k => rec.refused.push(format!(
                "{TXN_DIR}/{name}: is {}, not a transaction: left alone",
                k.describe()
            )),
        }
    }
    dirs.sort();
    for dir in dirs {
        if dir.ends_with(DONE_SUFFIX) {
            // Applied completely; only its removal was interrupted.
            root.remove_dir_all(&dir)
                .map_err(|e| Error::io("cannot remove", root.abs(&dir), e))?;
            continue;
        }
        let jrel = format!("{dir}/{JOURNAL}");
        match root.read_max(&jrel, MAX_JOURNAL_BYTES) {
            Ok(bytes) => {
                let journal = serde_json::from_slice::<Journal>(&bytes)
                    .map_err(|e| format!("unreadable journal: {e}"))
                    .and_then(|j| {
                        if j.version != 1 {
                            return Err(format!("unknown journal version {}", j.version));
                        }
                        for s in &j.steps {
                            check_step(s)?;
                        }
                        Ok(j)
                    });
                let journal = match journal {
                    Ok(j) => j,
                    Err(why) => {
                        rec.refused.push(format!(
                            "{jrel}: refused, nothing applied ({why}); the transaction folder was removed"
                        ));
                        root.remove_dir_all(&dir)
                            .map_err(|e| Error::io("cannot remove", root.abs(&dir), e))?;
                        continue;
                    }
                };
                let folder = root
                    .folder(&dir)
                    .map_err(|e| Error::io("cannot open", root.abs(&dir), e))?;
                let mut apply = Apply::new(root, &folder);
                for (i, step) in journal.steps.iter().enumerate() {
                    if let Err(e) = apply.step(step) {
                        if !is_permanent(&e) {
                            return Err(Error::io(
                                format!(
                                    "cannot complete an interrupted transaction (step {}: {})",
                                    i + 1,
                                    step.describe()
                                ),
                                root.abs(step.target()),
                                e,
                            ));
                        }
                        rec.resolved.push(format!(
                            "{jrel}: step {} ({}) can no longer be applied ({e}): given up; the files stay as they are",
                            i + 1,
                            step.describe()
                        ));
                    }
                }
                finish(root, &dir)?;
                rec.rolled_forward += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                root.remove_dir_all(&dir)
                    .map_err(|e| Error::io("cannot remove", root.abs(&dir), e))?;
                rec.discarded += 1;
            }
            Err(e) if crate::sandbox::too_large(&e).is_some() || is_permanent(&e) => {
                rec.refused.push(format!(
                    "{jrel}: refused, nothing applied ({e}); the transaction folder was removed"
                ));
                root.remove_dir_all(&dir)
                    .map_err(|e| Error::io("cannot remove", root.abs(&dir), e))?;
            }
            Err(e) => return Err(Error::io("cannot read", root.abs(&jrel), e)),
        }
    }
    // Debris of interrupted atomic writes elsewhere in .hnp/ is harmless but untidy.
    if let Ok(entries) = root.list(crate::names::HNP_DIR) {
        for e in entries {
            if e.kind == FileKind::File {
                if let Some(n) = e
                    .utf8()
                    .filter(|n| n.starts_with(crate::atomic::TMP_PREFIX))
                {
                    let _ = root.remove_file(&format!("{}/{n}", crate::names::HNP_DIR));
                }
            }
        }
    }
    Ok(rec)
}

fn flush(root: &RootDir) -> Result<()> {
    root.sync_fs()
        .map_err(|e| Error::io("cannot flush the file system", root.path(), e))
}

/// Flushes every dirty page of the file system holding `root` (one call instead of one fsync per file).
pub fn flush_fs(root: &Path) -> Result<()> {
    let dir = RootDir::open(root).map_err(|e| Error::io("cannot open", root, e))?;
    flush(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(d: &tempfile::TempDir) -> RootDir {
        RootDir::open(d.path()).unwrap()
    }

    /// A staged file the writer cannot create: the failure reaches the caller before the commit point, every
    /// later call fails too, and nothing is applied.
    #[test]
    fn a_failed_staged_write_never_reaches_the_commit_point() {
        let d = tempfile::tempdir().unwrap();
        let mut t = Transaction::begin(&open(&d)).unwrap();
        // The writer will find `f1` taken (it never replaces anything).
        std::fs::write(d.path().join(&t.dir).join("f1"), "in the way").unwrap();
        t.put("managed/vpcs/a.yaml", b"a").unwrap();
        t.put("managed/vpcs/b.yaml", b"b").unwrap();
        // The writer stops at f1; a later put finds it stopped and reports the failure, naming the file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let err = loop {
            match t.put("managed/vpcs/c.yaml", b"c") {
                Ok(()) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the failure is reported"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("cannot stage") && err.contains("f1"), "{err}");
        assert!(t.put("managed/vpcs/d.yaml", b"d").is_err(), "and again");
        let err = t.commit(&Failpoint::default()).unwrap_err().to_string();
        assert!(err.contains("cannot stage"), "{err}");
        assert!(!d.path().join("managed").exists(), "nothing applied");
        assert_no_transaction_folder(&d);
    }

    /// A file written piece by piece lands like any staged file; one whose writing failed is an error of the
    /// call and joins no journal, and the transaction goes on with the next file.
    #[test]
    fn a_streamed_file_lands_and_a_failed_one_is_never_journaled() {
        let d = tempfile::tempdir().unwrap();
        let mut t = Transaction::begin(&open(&d)).unwrap();
        t.put("managed/vpcs/a.yaml", b"a").unwrap();
        t.put_streamed("managed/vpcs/b.yaml", |w| {
            w.write_all(b"first, ")?;
            w.write_all(b"second")
        })
        .unwrap();
        t.commit(&Failpoint::default()).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("managed/vpcs/b.yaml")).unwrap(),
            b"first, second"
        );
        assert_eq!(
            std::fs::read(d.path().join("managed/vpcs/a.yaml")).unwrap(),
            b"a"
        );

        let mut t = Transaction::begin(&open(&d)).unwrap();
        let err = t
            .put_streamed("managed/vpcs/c.yaml", |w| {
                w.write_all(b"half")?;
                Err(std::io::Error::other("the emitter failed"))
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot stage") && err.contains("the emitter failed"),
            "{err}"
        );
        assert!(t.is_empty(), "no step for it");
        // The half-written file keeps its name: the next one gets another, and the transaction still commits.
        t.put("managed/vpcs/d.yaml", b"d").unwrap();
        t.commit(&Failpoint::default()).unwrap();
        assert!(!d.path().join("managed/vpcs/c.yaml").exists());
        assert_eq!(
            std::fs::read(d.path().join("managed/vpcs/d.yaml")).unwrap(),
            b"d"
        );
        assert_no_transaction_folder(&d);
    }

    /// Every transaction folder under the root is gone.
    fn assert_no_transaction_folder(d: &tempfile::TempDir) {
        assert_eq!(
            std::fs::read_dir(d.path().join(TXN_DIR)).unwrap().count(),
            0,
            "the transaction folder is removed"
        );
    }

    #[test]
    fn commit_applies_everything() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("raw")).unwrap();
        std::fs::write(d.path().join("raw/old.yaml"), "x").unwrap();
        std::fs::write(d.path().join("raw/raw.yaml"), "raw").unwrap();
        let mut t = Transaction::begin(&open(&d)).unwrap();
        t.put("managed/vpcs/b.yaml", b"new").unwrap();
        t.remove("raw/raw.yaml", Some(sha256_hex(b"raw")));
        t.remove("raw/old.yaml", Some(sha256_hex(b"other content")));
        t.commit(&Failpoint::default()).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("managed/vpcs/b.yaml")).unwrap(),
            b"new"
        );
        assert!(!d.path().join("raw/raw.yaml").exists());
        assert!(
            d.path().join("raw/old.yaml").exists(),
            "a file whose content changed is never removed"
        );
        assert_no_transaction_folder(&d);
    }

    #[test]
    fn a_step_outside_what_a_transaction_may_touch_is_not_committed() {
        let d = tempfile::tempdir().unwrap();
        for bad in [
            "../x",
            "managed/nokind/a.yaml",
            "raw/a.yaml",
            ".hnp/lock",
            "README.md",
        ] {
            let mut t = Transaction::begin(&open(&d)).unwrap();
            t.put(bad, b"x").unwrap();
            assert!(t.commit(&Failpoint::default()).is_err(), "{bad}");
        }
        let mut t = Transaction::begin(&open(&d)).unwrap();
        t.remove("raw/a.yaml", None);
        assert!(
            t.commit(&Failpoint::default()).is_err(),
            "a raw removal needs its hash"
        );
    }

    fn journal(d: &tempfile::TempDir, id: &str, steps: Vec<Step>) -> std::path::PathBuf {
        let dir = d.path().join(TXN_DIR).join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f0"), "2").unwrap();
        let j = Journal { version: 1, steps };
        std::fs::write(dir.join(JOURNAL), serde_json::to_vec(&j).unwrap()).unwrap();
        dir
    }

    #[test]
    fn uncommitted_is_discarded_and_committed_rolls_forward() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut t = Transaction::begin(&open(&d)).unwrap();
            t.put("managed/vpcs/a.yaml", b"1").unwrap();
            std::mem::forget(t); // as if the process died before commit
        }
        journal(
            &d,
            "zz",
            vec![Step::Put {
                target: "managed/vpcs/b.yaml".into(),
                staged: "f0".into(),
            }],
        );
        let rec = recover(&open(&d)).unwrap();
        assert_eq!(
            rec,
            Recovery {
                rolled_forward: 1,
                discarded: 1,
                ..Default::default()
            }
        );
        assert!(!d.path().join("managed/vpcs/a.yaml").exists());
        assert_eq!(
            std::fs::read(d.path().join("managed/vpcs/b.yaml")).unwrap(),
            b"2"
        );
        assert_eq!(recover(&open(&d)).unwrap(), Recovery::default());
    }

    #[test]
    fn hostile_journals_are_refused_whole() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), "v").unwrap();
        let victim = outside.path().join("victim").display().to_string();
        let out_rel = format!(
            "../{}/x",
            outside.path().file_name().unwrap().to_string_lossy()
        );
        journal(
            &d,
            "a",
            vec![
                Step::Put {
                    target: "managed/vpcs/ok.yaml".into(),
                    staged: "f0".into(),
                },
                Step::Put {
                    target: out_rel,
                    staged: "f0".into(),
                },
            ],
        );
        journal(
            &d,
            "b",
            vec![Step::Remove {
                target: victim.clone(),
                sha256: Some(sha256_hex(b"v")),
            }],
        );
        journal(
            &d,
            "c",
            vec![Step::Put {
                target: "managed/vpcs/x.yaml".into(),
                staged: "../../../../etc/passwd".into(),
            }],
        );
        let rec = recover(&open(&d)).unwrap();
        assert_eq!(rec.refused.len(), 3, "{rec:?}");
        assert_eq!(rec.rolled_forward, 0);
        assert!(
            !d.path().join("managed/vpcs/ok.yaml").exists(),
            "nothing of a refused journal applies"
        );
        assert_eq!(std::fs::read(outside.path().join("victim")).unwrap(), b"v");
        assert!(!outside.path().join("x").exists());
        assert_no_transaction_folder(&d);
    }

    #[test]
    fn a_linked_txn_folder_removes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("sub/deeper")).unwrap();
        std::fs::create_dir_all(d.path().join(".hnp")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join(TXN_DIR)).unwrap();
        assert!(recover(&open(&d)).is_err());
        assert!(outside.path().join("sub/deeper").is_dir());
        // A link inside .hnp/txn is left alone too.
        std::fs::remove_file(d.path().join(TXN_DIR)).unwrap();
        std::fs::create_dir_all(d.path().join(TXN_DIR)).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join(TXN_DIR).join("t1")).unwrap();
        let rec = recover(&open(&d)).unwrap();
        assert_eq!(rec.refused.len(), 1);
        assert!(outside.path().join("sub/deeper").is_dir());
    }

    #[test]
    fn a_step_that_can_no_longer_apply_is_resolved_once() {
        let d = tempfile::tempdir().unwrap();
        // The target's folder became a file: the put can never apply.
        std::fs::create_dir_all(d.path().join("managed")).unwrap();
        std::fs::write(d.path().join("managed/vpcs"), "a file").unwrap();
        journal(
            &d,
            "a",
            vec![Step::Put {
                target: "managed/vpcs/x.yaml".into(),
                staged: "f0".into(),
            }],
        );
        let rec = recover(&open(&d)).unwrap();
        assert_eq!(rec.rolled_forward, 1);
        assert_eq!(rec.resolved.len(), 1, "{rec:?}");
        assert!(rec.resolved[0].contains("managed/vpcs/x.yaml"));
        assert_eq!(recover(&open(&d)).unwrap(), Recovery::default());
    }
}
