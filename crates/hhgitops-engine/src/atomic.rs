//! Atomic file writes: write a sibling temporary file, flush it to disk, rename it over the target, flush the
//! directory. A crash leaves either the old content or the new one, plus at most a stray `.hhgitops-tmp-*`
//! file that the next run removes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Prefix of temporary files; anything starting with it is debris from an interrupted write.
pub const TMP_PREFIX: &str = ".hhgitops-tmp-";

/// Writes `bytes` to `path` atomically. The parent folder must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Runtime(format!("{} has no parent folder", path.display())))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{file_name}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("cannot write", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io("cannot write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| Error::io("cannot flush", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot replace", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Flushes a directory entry list to disk (after renames).
pub fn sync_dir(dir: &Path) -> Result<()> {
    match std::fs::File::open(dir) {
        Ok(d) => d.sync_all().or(Ok(())),
        Err(e) => Err(Error::io("cannot open folder", dir, e)),
    }
}

/// Creates a folder and every missing parent, returning the folders that did not exist before (outermost
/// first), so a failed operation can remove exactly what it created.
pub fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    missing.reverse();
    for d in &missing {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(Error::io("cannot create folder", d, e)),
        }
    }
    Ok(missing)
}

/// Removes folders created by [`create_dirs`] (innermost first), only while they are empty.
pub fn remove_created_dirs(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// sha256 of bytes, lowercase hex (the one implementation lives in core).
pub use hhgitops_core::normalize::content_hash as sha256_hex;

/// sha256 (lowercase hex) of everything `r` yields, read piece by piece, and how many bytes that was.
pub fn sha256_read(r: &mut impl std::io::Read) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let n = std::io::copy(r, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.yaml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
    }

    #[test]
    fn create_and_remove_dirs() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a/b/c");
        let created = create_dirs(&deep).unwrap();
        assert_eq!(created.len(), 3);
        assert!(deep.is_dir());
        remove_created_dirs(&created);
        assert!(!d.path().join("a").exists());
    }
}
