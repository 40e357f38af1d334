//! Stage 1 of an ingestion, *read raw*: which raw files a run takes (all of raw/, or the `--file` ones, copied
//! into raw/ when outside it) and their bytes, read once through the sandbox. A file that changes or vanishes
//! while it is read is skipped (taken on a later run); a file over the size limit is hashed, not read.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::atomic::sha256_hex;
use crate::changeset::check_cancelled;
use crate::error::{Error, Result};
use crate::layout::GitOpsRoot;
use crate::progress::{Operation, Progress};
use crate::rawfiles::{discover, RawFile, RefusedFile};
use crate::report::ErrorRecord;
use crate::sandbox::{FileKind, RootDir};

use super::options::IngestOptions;
use super::report::{FileReport, FileStatus};

/// A raw file read for this run.
pub(super) struct ReadFile {
    pub rel: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub report: Option<hhgitops_core::validate::SourceReport>,
}

/// Reads every candidate (a safe point for cancellation before each): one report per candidate, and the files
/// whose bytes were read.
pub(super) fn read_all(
    dir: &RootDir,
    fabric: &str,
    candidates: Vec<RawFile>,
    opts: &IngestOptions,
    cancel: &CancellationToken,
    progress: &Progress,
) -> Result<(Vec<FileReport>, Vec<ReadFile>)> {
    let mut stage = progress.stage(Operation::Ingest, "read", Some(candidates.len() as u64));
    let mut reports = Vec::with_capacity(candidates.len());
    let mut read = Vec::with_capacity(candidates.len());
    for rf in candidates {
        check_cancelled(cancel, fabric)?;
        let (file_report, read_file) = read_raw(dir, &rf, opts);
        if let Some(r) = read_file {
            read.push(r);
        }
        reports.push(file_report);
        stage.step(|| rf.rel.clone());
    }
    Ok((reports, read))
}

/// The raw files of this run: all of raw/, or the `--file` ones (copied into raw/ when outside it).
pub(super) fn select(
    root: &GitOpsRoot,
    dir: &RootDir,
    opts: &IngestOptions,
) -> Result<(Vec<RawFile>, Vec<RefusedFile>)> {
    let (all, refused) = discover(dir)?;
    let Some(only) = &opts.only else {
        return Ok((all, refused));
    };
    let raw_dir = root.raw_dir();
    let canon_raw =
        std::fs::canonicalize(&raw_dir).map_err(|e| Error::io("cannot resolve", &raw_dir, e))?;
    let mut out = Vec::new();
    for p in only {
        // A file the operator names that does not exist is a usage error (exit 2), as for `validate`.
        let canon = std::fs::canonicalize(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                Error::usage(format!("{}: {e}: name a YAML file to ingest", p.display()))
            }
            _ => Error::io("cannot read", p, e),
        })?;
        if !canon.is_file() {
            return Err(Error::usage(format!("{} is not a file", p.display())));
        }
        if let Ok(inner) = canon.strip_prefix(&canon_raw) {
            let rel = format!("raw/{}", crate::layout::rel_path(Path::new(""), inner));
            match all.iter().find(|f| f.rel == rel) {
                Some(f) => out.push(f.clone()),
                None => {
                    return Err(Error::usage(format!(
                        "{} is not an ingestible raw file (dotfile, temp file, archive or not .yaml/.yml)",
                        p.display()
                    )))
                }
            }
            continue;
        }
        // Outside raw/: copy it in (never over a different file), unless this is a dry run.
        let name = canon
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input.yaml".into());
        if !crate::names::is_yaml_name(&name) {
            return Err(Error::usage(format!(
                "{} is not a .yaml/.yml file",
                p.display()
            )));
        }
        if name.len() > crate::rawfiles::MAX_RAW_NAME {
            return Err(Error::usage(format!(
                "{}: the file name is {} bytes; raw file names are limited to {} bytes (their archived copies must fit the file system's 255-byte limit)",
                p.display(),
                name.len(),
                crate::rawfiles::MAX_RAW_NAME
            )));
        }
        let bytes = std::fs::read(&canon).map_err(|e| Error::io("cannot read", &canon, e))?;
        let mut rel = format!("raw/{name}");
        let mut n = 2;
        loop {
            let taken = match dir.kind(&rel) {
                Ok(None) => false,
                Ok(Some(FileKind::File)) => match dir.read(&rel) {
                    Ok(existing) if existing == bytes => break,
                    _ => true,
                },
                _ => true,
            };
            if taken {
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), "yaml"));
                rel = format!("raw/{stem}-{n}.{ext}");
                n += 1;
                continue;
            }
            if opts.dry_run {
                // Read it from where it is; report it under the name it would get.
                out.push(RawFile {
                    rel: rel.clone(),
                    abs: canon.clone(),
                    outside: true,
                });
                return Ok((out, refused));
            }
            dir.write_atomic(&rel, &bytes)
                .map_err(|e| Error::io("cannot copy into raw/", root.abs(&rel), e))?;
            break;
        }
        out.push(RawFile {
            rel: rel.clone(),
            abs: root.abs(&rel),
            outside: false,
        });
    }
    Ok((out, refused))
}

/// Reads one raw file (parsing comes later, once it is known whether the file must be validated again),
/// noticing files that change or vanish while read. A file over the size limit is hashed, not read.
fn read_raw(dir: &RootDir, rf: &RawFile, opts: &IngestOptions) -> (FileReport, Option<ReadFile>) {
    let mut fr = FileReport::new(&rf.rel, FileStatus::Rejected);
    // A --file outside the root in a dry run is read where it is; everything else through the sandbox.
    let meta = |rf: &RawFile| -> std::io::Result<Option<(u64, (i64, i64))>> {
        if rf.outside {
            let m = std::fs::metadata(&rf.abs)?;
            use std::os::unix::fs::MetadataExt;
            return Ok(Some((m.len(), (m.mtime(), m.mtime_nsec()))));
        }
        Ok(dir.meta(&rf.rel)?.map(|m| (m.len, m.mtime)))
    };
    let before = match meta(rf) {
        Ok(Some(m)) => m,
        Ok(None) => {
            fr.status = FileStatus::Skipped;
            fr.note = Some("vanished before it could be read".into());
            return (fr, None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fr.status = FileStatus::Skipped;
            fr.note = Some("vanished before it could be read".into());
            return (fr, None);
        }
        Err(e) => {
            fr.errors
                .push(ErrorRecord::plain(format!("cannot read: {e}")));
            fr.cause = "content";
            return (fr, None);
        }
    };
    if before.0 > opts.max_file_size {
        fr.errors.push(ErrorRecord::plain(format!(
            "file is {} bytes, larger than the limit of {} bytes: split it, or raise the limit (--max-file-size)",
            before.0,
            opts.max_file_size
        )));
        fr.sha256 = hash_file(dir, rf).unwrap_or_default();
        fr.cause = "size";
        return (fr, None);
    }
    let read = if rf.outside {
        std::fs::read(&rf.abs)
    } else {
        dir.read_max(&rf.rel, opts.max_file_size)
    };
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fr.status = FileStatus::Skipped;
            fr.note = Some("vanished while being read".into());
            return (fr, None);
        }
        Err(e) => {
            fr.errors
                .push(ErrorRecord::plain(format!("cannot read: {e}")));
            fr.cause = "content";
            return (fr, None);
        }
    };
    if let Some(hook) = &opts.after_read {
        (hook.0)(&rf.abs);
    }
    let after = meta(rf).ok().flatten();
    let changed = match &after {
        None => true,
        Some(a) => a.0 != before.0 || a.1 != before.1 || a.0 != bytes.len() as u64,
    };
    if changed {
        fr.status = FileStatus::Skipped;
        fr.note = Some(if after.is_none() {
            "vanished while being read".into()
        } else {
            "changed while being read: taken on a later run".into()
        });
        return (fr, None);
    }
    let sha = sha256_hex(&bytes);
    fr.sha256 = sha.clone();
    (
        fr,
        Some(ReadFile {
            rel: rf.rel.clone(),
            bytes,
            sha256: sha,
            report: None,
        }),
    )
}

fn hash_file(dir: &RootDir, rf: &RawFile) -> std::io::Result<String> {
    let mut f = if rf.outside {
        std::fs::File::open(&rf.abs)?
    } else {
        dir.open_file(&rf.rel)?
    };
    Ok(crate::atomic::sha256_read(&mut f)?.0)
}
