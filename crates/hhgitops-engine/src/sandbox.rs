//! The GitOps root as a sandbox: **the one way the engine touches files under a root.**
//!
//! A [`RootDir`] is an open handle on a root folder. Every operation takes a path relative to it, checked by
//! [`check_rel`] (no `..`, no `.`, no empty or over-long component, never absolute), and resolves it with Linux
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: a path can never leave the root and
//! never passes through a symbolic link, whether a folder on the way or the file itself is the link. (Where
//! `openat2` is not available the same rule is kept by opening one component at a time with `O_NOFOLLOW`.)
//! Renames and removals act on the entry itself (`renameat`, `unlinkat` in an opened parent), so a link is
//! removed or renamed, never followed. Reads open with `O_NONBLOCK` and accept regular files only, so a FIFO
//! or device cannot block or feed a run.
//!
//! The root path itself is the operator's configuration and is opened as given; what a root may be is decided
//! when a fabric is registered ([`crate::roots`]).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags};
use rustix::io::Errno;

/// Longest file name (one path component) Linux file systems take, in bytes.
pub const NAME_MAX: usize = 255;
/// Longest relative path accepted.
pub const PATH_MAX: usize = 4095;

/// What is at a path (never following a link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: never read, never written.
    Special(&'static str),
}

impl FileKind {
    fn of(t: FileType) -> FileKind {
        match t {
            FileType::RegularFile => FileKind::File,
            FileType::Directory => FileKind::Dir,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Special("FIFO"),
            FileType::Socket => FileKind::Special("socket"),
            FileType::CharacterDevice => FileKind::Special("character device"),
            FileType::BlockDevice => FileKind::Special("block device"),
            FileType::Unknown => FileKind::Special("unknown file type"),
        }
    }

    /// `a symbolic link`, `a FIFO`, … for messages.
    pub fn describe(self) -> String {
        match self {
            FileKind::File => "a file".into(),
            FileKind::Dir => "a folder".into(),
            FileKind::Symlink => "a symbolic link".into(),
            FileKind::Special(s) => format!("a {s}"),
        }
    }
}

/// Metadata of an entry (never following a link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileKind,
    pub len: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub dev: u64,
}

impl Meta {
    fn of(s: &rustix::fs::Stat) -> Meta {
        Meta {
            kind: FileKind::of(FileType::from_raw_mode(s.st_mode)),
            len: u64::try_from(s.st_size).unwrap_or(0),
            mtime: (s.st_mtime, s.st_mtime_nsec as i64),
            ctime: (s.st_ctime, s.st_ctime_nsec as i64),
            ino: s.st_ino,
            dev: s.st_dev,
        }
    }
}

/// One entry of a folder listing. `name` is raw bytes: a name that is not UTF-8 is the caller's to refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub kind: FileKind,
}

impl Entry {
    /// The name as UTF-8, `None` when it is not.
    pub fn utf8(&self) -> Option<&str> {
        self.name.to_str()
    }
}

/// Why a relative path is refused before any system call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelPathError {
    #[error("path is empty")]
    Empty,
    #[error("path {0:?} is absolute: only paths relative to the GitOps root are allowed")]
    Absolute(String),
    #[error("path {0:?} has a '.', '..' or empty component: refused")]
    BadComponent(String),
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
    #[error(
        "file name {name:?} is {len} bytes, more than the file system's limit of {NAME_MAX} bytes"
    )]
    NameTooLong { name: String, len: usize },
    #[error("path {0:?} is longer than {PATH_MAX} bytes")]
    TooLong(String),
}

impl From<RelPathError> for std::io::Error {
    fn from(e: RelPathError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

/// Checks a path relative to a root: `/`-separated, not absolute, no `.`/`..`/empty components, no NUL, every
/// component at most [`NAME_MAX`] bytes, the whole at most [`PATH_MAX`].
pub fn check_rel(rel: &str) -> Result<(), RelPathError> {
    if rel.is_empty() {
        return Err(RelPathError::Empty);
    }
    if rel.starts_with('/') {
        return Err(RelPathError::Absolute(rel.into()));
    }
    if rel.contains('\0') {
        return Err(RelPathError::Nul(rel.into()));
    }
    if rel.len() > PATH_MAX {
        return Err(RelPathError::TooLong(rel.into()));
    }
    for c in rel.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(RelPathError::BadComponent(rel.into()));
        }
        if c.len() > NAME_MAX {
            return Err(RelPathError::NameTooLong {
                name: c.into(),
                len: c.len(),
            });
        }
    }
    Ok(())
}

/// A symbolic link on the way (ELOOP) or an escape (EXDEV from RESOLVE_BENEATH), said plainly.
fn explain(e: Errno, rel: &str) -> std::io::Error {
    match e {
        Errno::LOOP => std::io::Error::other(format!(
            "{rel}: is or passes through a symbolic link: refused (hhgitops never follows symbolic links inside a GitOps root)"
        )),
        Errno::XDEV => std::io::Error::other(format!("{rel}: leads outside the GitOps root: refused")),
        other => other.into(),
    }
}

/// The tail of `rel` and its parent (`""` for the root).
fn split(rel: &str) -> (&str, &str) {
    match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    }
}

/// An open GitOps root. Cheap to clone; every method is safe to call from many threads.
#[derive(Debug, Clone)]
pub struct RootDir {
    path: PathBuf,
    fd: Arc<OwnedFd>,
}

impl RootDir {
    /// Opens an existing root folder.
    pub fn open(path: &Path) -> std::io::Result<RootDir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootDir {
            path: path.to_path_buf(),
            fd: Arc::new(fd),
        })
    }

    /// The root's path, for messages and for handing to other programs (git).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `root/rel`, for messages only: never open it.
    pub fn abs(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// Opens `rel` beneath the root without following any link. `rel == ""` is the root itself.
    fn open_at(&self, rel: &str, flags: OFlags, mode: Mode) -> std::io::Result<OwnedFd> {
        let rel_or_dot = if rel.is_empty() {
            "."
        } else {
            check_rel(rel)?;
            rel
        };
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(self.fd.as_fd(), rel_or_dot, flags, mode, resolve) {
            Ok(fd) => Ok(fd),
            Err(Errno::NOSYS) | Err(Errno::PERM) | Err(Errno::AGAIN) => {
                self.open_walk(rel, flags, mode)
            }
            Err(e) => Err(explain(e, rel)),
        }
    }

    /// The fallback of [`open_at`](Self::open_at): one component at a time, none followed if it is a link.
    fn open_walk(&self, rel: &str, flags: OFlags, mode: Mode) -> std::io::Result<OwnedFd> {
        if rel.is_empty() {
            return rustix::fs::openat(self.fd.as_fd(), ".", flags, mode).map_err(Into::into);
        }
        let (parent, name) = split(rel);
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut cur: OwnedFd = rustix::fs::openat(self.fd.as_fd(), ".", dir_flags, Mode::empty())?;
        if !parent.is_empty() {
            for c in parent.split('/') {
                cur = rustix::fs::openat(cur.as_fd(), c, dir_flags, Mode::empty())
                    .map_err(|e| explain(if e == Errno::NOTDIR { Errno::LOOP } else { e }, rel))?;
            }
        }
        rustix::fs::openat(cur.as_fd(), name, flags, mode).map_err(|e| explain(e, rel))
    }

    /// The parent folder of `rel` (opened for `*at` calls) and the last component.
    fn parent<'a>(&self, rel: &'a str) -> std::io::Result<(OwnedFd, &'a str)> {
        check_rel(rel)?;
        let (parent, name) = split(rel);
        let fd = self.open_at(parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        Ok((fd, name))
    }

    /// What is at `rel`, `None` when nothing is. A link is reported as a link.
    pub fn meta(&self, rel: &str) -> std::io::Result<Option<Meta>> {
        let st = if rel.is_empty() {
            rustix::fs::fstat(self.fd.as_fd())
        } else {
            let (dir, name) = match self.parent(rel) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            };
            rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)
        };
        match st {
            Ok(s) => Ok(Some(Meta::of(&s))),
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The kind of what is at `rel` (`None`: nothing).
    pub fn kind(&self, rel: &str) -> std::io::Result<Option<FileKind>> {
        Ok(self.meta(rel)?.map(|m| m.kind))
    }

    /// True when anything (a link too, even a dangling one) is at `rel`; errors count as "something is there",
    /// so a caller looking for a free name never takes one it cannot check.
    pub fn exists(&self, rel: &str) -> bool {
        !matches!(self.meta(rel), Ok(None))
    }

    /// True when `rel` is a real folder (not a link to one).
    pub fn is_dir(&self, rel: &str) -> bool {
        matches!(self.kind(rel), Ok(Some(FileKind::Dir)))
    }

    /// Opens a regular file for reading. A link, folder, FIFO, socket or device is refused (and never blocks).
    pub fn open_file(&self, rel: &str) -> std::io::Result<std::fs::File> {
        let fd = self.open_at(rel, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
        let st = rustix::fs::fstat(&fd)?;
        let kind = FileKind::of(FileType::from_raw_mode(st.st_mode));
        if kind != FileKind::File {
            return Err(std::io::Error::other(format!(
                "{rel}: is {}, not a regular file: refused",
                kind.describe()
            )));
        }
        Ok(std::fs::File::from(fd))
    }

    /// Reads a whole regular file.
    pub fn read(&self, rel: &str) -> std::io::Result<Vec<u8>> {
        let mut f = self.open_file(rel)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Reads a whole regular file of at most `max` bytes; a larger one is an error that names both sizes
    /// ([`TooLarge`] as its inner error), found before the file is read.
    pub fn read_max(&self, rel: &str, max: u64) -> std::io::Result<Vec<u8>> {
        let f = self.open_file(rel)?;
        let len = f.metadata()?.len();
        if len > max {
            return Err(std::io::Error::other(TooLarge { len, max }));
        }
        let mut out = Vec::with_capacity(len as usize);
        f.take(max + 1).read_to_end(&mut out)?;
        if out.len() as u64 > max {
            return Err(std::io::Error::other(TooLarge {
                len: out.len() as u64,
                max,
            }));
        }
        Ok(out)
    }

    /// Lists a real folder (`rel == ""`: the root). Entries `.` and `..` are left out.
    pub fn list(&self, rel: &str) -> std::io::Result<Vec<Entry>> {
        let fd = self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        let mut dir = rustix::fs::Dir::new(fd)?;
        let mut out = Vec::new();
        while let Some(e) = dir.read() {
            let e = e?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsString::from_vec(name.to_vec());
            let mut kind = FileKind::of(e.file_type());
            if kind == FileKind::Special("unknown file type") {
                // Some file systems do not fill d_type.
                let child = match name.to_str() {
                    Some(n) if rel.is_empty() => n.to_string(),
                    Some(n) => format!("{rel}/{n}"),
                    None => String::new(),
                };
                if !child.is_empty() {
                    if let Ok(Some(k)) = self.kind(&child) {
                        kind = k;
                    }
                }
            }
            out.push(Entry { name, kind });
        }
        Ok(out)
    }

    /// Creates `rel` and every missing folder above it (never through a link). Returns the folders created,
    /// outermost first, so a failed operation can remove exactly those ([`RootDir::remove_created`]).
    pub fn create_dir_all(&self, rel: &str) -> std::io::Result<Vec<String>> {
        if rel.is_empty() {
            return Ok(Vec::new());
        }
        check_rel(rel)?;
        let mut created = Vec::new();
        let mut prefix = String::new();
        for c in rel.split('/') {
            let parent = prefix.clone();
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            let pfd = self.open_at(&parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
            match rustix::fs::mkdirat(&pfd, c, Mode::from_raw_mode(0o755)) {
                Ok(()) => created.push(prefix.clone()),
                Err(Errno::EXIST) => {
                    // Must be a real folder: a link or a file here is an error.
                    self.open_at(&prefix, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                        .map_err(|e| match e.raw_os_error() {
                            Some(n) if n == Errno::NOTDIR.raw_os_error() => std::io::Error::other(
                                format!("{prefix}: is a file where a folder should be"),
                            ),
                            _ => e,
                        })?;
                }
                Err(e) => return Err(explain(e, &prefix)),
            }
        }
        Ok(created)
    }

    /// Removes folders returned by [`create_dir_all`](Self::create_dir_all), innermost first, while empty.
    pub fn remove_created(&self, created: &[String]) {
        for d in created.iter().rev() {
            let _ = self.remove_dir(d);
        }
    }

    /// Writes `bytes` to `rel` atomically (temporary sibling, flushed, renamed over, folder flushed). The parent
    /// folder must exist. A link at `rel` is replaced by the file, never written through.
    pub fn write_atomic(&self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        let tmp = format!(
            "{}{}-{}",
            crate::atomic::TMP_PREFIX,
            uuid::Uuid::new_v4().simple(),
            name.chars().take(100).collect::<String>()
        );
        let result = (|| {
            let fd = rustix::fs::openat(
                &dir,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )?;
            let mut f = std::fs::File::from(fd);
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            rustix::fs::renameat(&dir, tmp.as_str(), &dir, name)?;
            let _ = rustix::fs::fsync(&dir);
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        }
        result
    }

    /// Creates a new file (never replacing anything, not even a dangling link) with `bytes`, not flushed.
    pub fn write_new(&self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        let fd = self.open_at(
            rel,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(0o644),
        )?;
        fill_new(fd, bytes)
    }

    /// Opens the real folder `rel` (`""`: the root) once, for many operations on the entries directly in it
    /// ([`Folder`]): a transaction stages and applies thousands of files through a few such handles instead of
    /// resolving every path from the root again.
    pub fn folder(&self, rel: &str) -> std::io::Result<Folder> {
        let fd = self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        Ok(Folder {
            rel: rel.to_string(),
            fd,
        })
    }

    /// Opens (creating if needed) a file for locking; a link is refused.
    pub fn open_lock_file(&self, rel: &str) -> std::io::Result<std::fs::File> {
        let fd = self.open_at(
            rel,
            OFlags::RDWR | OFlags::CREATE,
            Mode::from_raw_mode(0o644),
        )?;
        Ok(std::fs::File::from(fd))
    }

    /// Renames `from` to `to` (both beneath the root), replacing `to` unless `no_replace`. Links are renamed,
    /// never followed.
    pub fn rename(&self, from: &str, to: &str, no_replace: bool) -> std::io::Result<()> {
        let (fdir, fname) = self.parent(from)?;
        let (tdir, tname) = self.parent(to)?;
        let flags = if no_replace {
            RenameFlags::NOREPLACE
        } else {
            RenameFlags::empty()
        };
        rustix::fs::renameat_with(&fdir, fname, &tdir, tname, flags).map_err(|e| explain(e, to))
    }

    /// Removes a file or a link (the link itself).
    pub fn remove_file(&self, rel: &str) -> std::io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| explain(e, rel))
    }

    /// Removes an empty folder.
    pub fn remove_dir(&self, rel: &str) -> std::io::Result<()> {
        let (dir, name) = self.parent(rel)?;
        rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR).map_err(|e| explain(e, rel))
    }

    /// Removes a real folder and everything in it. A link at `rel` is refused; links inside are removed as
    /// entries, never followed.
    pub fn remove_dir_all(&self, rel: &str) -> std::io::Result<()> {
        match self.kind(rel)? {
            None => return Ok(()),
            Some(FileKind::Dir) => {}
            Some(k) => {
                return Err(std::io::Error::other(format!(
                    "{rel}: is {}, not a folder: not removed",
                    k.describe()
                )))
            }
        }
        for e in self.list(rel)? {
            let Some(name) = e.utf8() else {
                // Not expressible as a checked path: remove it through the opened folder.
                let dfd = self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
                let flags = if e.kind == FileKind::Dir {
                    AtFlags::REMOVEDIR
                } else {
                    AtFlags::empty()
                };
                rustix::fs::unlinkat(&dfd, e.name.as_os_str(), flags)?;
                continue;
            };
            let child = format!("{rel}/{name}");
            if e.kind == FileKind::Dir {
                self.remove_dir_all(&child)?;
            } else {
                self.remove_file(&child)?;
            }
        }
        self.remove_dir(rel)
    }

    /// Flushes a folder's entry list (after renames).
    pub fn sync_dir(&self, rel: &str) -> std::io::Result<()> {
        let fd = self.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        let _ = rustix::fs::fsync(&fd);
        Ok(())
    }

    /// Flushes every dirty page of the root's file system (one call instead of one fsync per file).
    pub fn sync_fs(&self) -> std::io::Result<()> {
        rustix::fs::syncfs(self.fd.as_fd())?;
        let _ = rustix::fs::fsync(self.fd.as_fd());
        Ok(())
    }

    /// Bytes an unprivileged writer can still use on the root's file system, when the system says.
    pub fn free_space(&self) -> Option<u64> {
        let s = rustix::fs::fstatvfs(self.fd.as_fd()).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }
}

/// A real folder beneath a root, opened once ([`RootDir::folder`]). Its methods take one plain entry name
/// (no `/`, never `.` or `..`), so they resolve nothing but that entry and never follow a link: the same rules
/// as [`RootDir`], at one system call per operation. The handle keeps naming the folder it opened even if the
/// folder is moved meanwhile.
#[derive(Debug)]
pub struct Folder {
    rel: String,
    fd: OwnedFd,
}

/// Writes `bytes` into a file just created, not flushed: the one flush of the operation that wrote it makes it
/// durable.
fn fill_new(fd: OwnedFd, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::File::from(fd).write_all(bytes)
}

/// Checks that `name` is one plain entry name.
fn check_name(name: &str) -> std::io::Result<()> {
    check_rel(name)?;
    if name.contains('/') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name:?} is not a plain file name"),
        ));
    }
    Ok(())
}

impl Folder {
    /// The folder's path relative to the root, for messages.
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// A second handle on the same folder (for another thread).
    pub fn try_clone(&self) -> std::io::Result<Folder> {
        Ok(Folder {
            rel: self.rel.clone(),
            fd: self.fd.try_clone()?,
        })
    }

    fn child(&self, name: &str) -> String {
        if self.rel.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.rel)
        }
    }

    /// What is at `name` in the folder (`None`: nothing). A link is reported as a link.
    pub fn kind(&self, name: &str) -> std::io::Result<Option<FileKind>> {
        check_name(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(s) => Ok(Some(FileKind::of(FileType::from_raw_mode(s.st_mode)))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(explain(e, &self.child(name))),
        }
    }

    /// As [`RootDir::write_new`], for the entry `name` of this folder.
    pub fn write_new(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        fill_new(self.create_new(name)?.into(), bytes)
    }

    /// Creates the new file `name` in this folder (never replacing anything, not even a dangling link) and
    /// opens it for writing, for content written piece by piece; not flushed.
    pub fn create_new(&self, name: &str) -> std::io::Result<std::fs::File> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| explain(e, &self.child(name)))?;
        Ok(std::fs::File::from(fd))
    }

    /// Renames the entry `from` of this folder to `to` in `dest` (the link itself when it is one), replacing
    /// `to` unless `no_replace`.
    pub fn rename_to(
        &self,
        from: &str,
        dest: &Folder,
        to: &str,
        no_replace: bool,
    ) -> std::io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        let flags = if no_replace {
            RenameFlags::NOREPLACE
        } else {
            RenameFlags::empty()
        };
        rustix::fs::renameat_with(&self.fd, from, &dest.fd, to, flags)
            .map_err(|e| explain(e, &dest.child(to)))
    }
}

/// A file larger than the limit for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is {len} bytes, more than the limit of {max} bytes")]
pub struct TooLarge {
    pub len: u64,
    pub max: u64,
}

/// The [`TooLarge`] inside an I/O error from [`RootDir::read_max`].
pub fn too_large(e: &std::io::Error) -> Option<TooLarge> {
    e.get_ref()?.downcast_ref::<TooLarge>().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, RootDir) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("root/raw")).unwrap();
        std::fs::create_dir_all(d.path().join("out")).unwrap();
        std::fs::write(d.path().join("out/secret"), "s").unwrap();
        let r = RootDir::open(&d.path().join("root")).unwrap();
        (d, r)
    }

    #[test]
    fn relative_paths_are_checked() {
        for bad in ["", "/etc", "a/../b", "../a", "a//b", "./a", "a/", "a\0b"] {
            assert!(check_rel(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            check_rel(&format!("raw/{}", "x".repeat(256))),
            Err(RelPathError::NameTooLong { len: 256, .. })
        ));
        assert!(check_rel("raw/a.yaml").is_ok());
    }

    #[test]
    fn never_through_a_link() {
        let (d, r) = setup();
        symlink(d.path().join("out"), d.path().join("root/managed")).unwrap();
        symlink(
            d.path().join("out/secret"),
            d.path().join("root/raw/l.yaml"),
        )
        .unwrap();
        assert!(r.read("managed/secret").is_err());
        assert!(r.read("raw/l.yaml").is_err());
        assert!(r.write_atomic("managed/x", b"x").is_err());
        assert!(r.create_dir_all("managed/sub").is_err());
        assert!(r.remove_dir_all("managed").is_err());
        assert_eq!(r.kind("managed").unwrap(), Some(FileKind::Symlink));
        // Removing the link removes the link only.
        r.remove_file("raw/l.yaml").unwrap();
        assert_eq!(std::fs::read(d.path().join("out/secret")).unwrap(), b"s");
        assert!(!d.path().join("out/x").exists());
        assert!(r.read("../out/secret").is_err());
    }

    #[test]
    fn remove_dir_all_removes_links_not_targets() {
        let (d, r) = setup();
        std::fs::create_dir_all(d.path().join("root/t/sub")).unwrap();
        symlink(d.path().join("out"), d.path().join("root/t/sub/link")).unwrap();
        r.remove_dir_all("t").unwrap();
        assert!(!d.path().join("root/t").exists());
        assert_eq!(std::fs::read(d.path().join("out/secret")).unwrap(), b"s");
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let (d, r) = setup();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.path().join("root/raw/p.yaml"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(r.read("raw/p.yaml").is_err());
        assert_eq!(
            r.kind("raw/p.yaml").unwrap(),
            Some(FileKind::Special("FIFO"))
        );
    }

    #[test]
    fn write_read_rename_and_limits() {
        let (_d, r) = setup();
        r.create_dir_all("managed/vpcs").unwrap();
        r.write_atomic("managed/vpcs/a.yaml", b"abc").unwrap();
        assert_eq!(r.read("managed/vpcs/a.yaml").unwrap(), b"abc");
        assert_eq!(
            too_large(&r.read_max("managed/vpcs/a.yaml", 2).unwrap_err()),
            Some(TooLarge { len: 3, max: 2 })
        );
        r.write_new("raw/b.yaml", b"b").unwrap();
        assert!(r.write_new("raw/b.yaml", b"c").is_err());
        assert!(r.rename("raw/b.yaml", "managed/vpcs/a.yaml", true).is_err());
        r.rename("raw/b.yaml", "managed/vpcs/a.yaml", false)
            .unwrap();
        assert_eq!(r.read("managed/vpcs/a.yaml").unwrap(), b"b");
        let names: Vec<_> = r
            .list("managed/vpcs")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [OsString::from("a.yaml")]);
        assert!(r.free_space().is_some());
    }

    #[test]
    fn a_folder_handle_works_on_its_own_entries_and_follows_no_link() {
        let (d, r) = setup();
        std::fs::create_dir_all(d.path().join("root/managed/vpcs")).unwrap();
        symlink(d.path().join("out/secret"), d.path().join("root/raw/link")).unwrap();
        symlink(d.path().join("out"), d.path().join("root/linked")).unwrap();
        assert!(r.folder("linked").is_err(), "a linked folder is not opened");
        let raw = r.folder("raw").unwrap();
        let vpcs = r.folder("managed/vpcs").unwrap();
        for bad in ["", ".", "..", "a/b", "../out/secret"] {
            assert!(raw.kind(bad).is_err(), "{bad:?}");
            assert!(raw.write_new(bad, b"x").is_err(), "{bad:?}");
        }
        assert_eq!(raw.kind("link").unwrap(), Some(FileKind::Symlink));
        assert_eq!(raw.kind("none").unwrap(), None);
        // Writing at a link's name never writes through it.
        assert!(raw.write_new("link", b"x").is_err());
        assert_eq!(std::fs::read(d.path().join("out/secret")).unwrap(), b"s");
        raw.write_new("a.yaml", b"a").unwrap();
        assert!(raw.write_new("a.yaml", b"b").is_err(), "never replaces");
        assert_eq!(raw.kind("a.yaml").unwrap(), Some(FileKind::File));
        // A rename moves the entry itself into the other folder; a link is moved, not followed.
        raw.rename_to("a.yaml", &vpcs, "v.yaml", true).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("root/managed/vpcs/v.yaml")).unwrap(),
            b"a"
        );
        raw.write_new("b.yaml", b"b").unwrap();
        assert!(raw.rename_to("b.yaml", &vpcs, "v.yaml", true).is_err());
        raw.rename_to("b.yaml", &vpcs, "v.yaml", false).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("root/managed/vpcs/v.yaml")).unwrap(),
            b"b"
        );
        raw.rename_to("link", &vpcs, "l", false).unwrap();
        assert_eq!(vpcs.kind("l").unwrap(), Some(FileKind::Symlink));
        assert_eq!(std::fs::read(d.path().join("out/secret")).unwrap(), b"s");
        assert_eq!(vpcs.rel(), "managed/vpcs");
    }
}
