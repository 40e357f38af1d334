//! The commit of a large change under one prefix, built with Git's plumbing instead of `add` + `commit`.
//!
//! `git commit` of thousands of new files is dominated by work the result does not need: `add -A` walks the whole
//! prefix again, `commit` computes a full status of the work tree (untracked files everywhere) for its template,
//! and every blob is compressed by a fresh zlib stream whose buffers the C library hands back to the kernel after
//! each file, so that the next one page-faults them in again. Here, from the status the caller already has:
//!
//! 1. `update-index --add --remove --stdin` with exactly the changed paths: each file is hashed through git's own
//!    clean filters and attributes (the blob is what `git add` would store), its stat data recorded (so `git
//!    status` is clean afterwards), and every blob written into one pack;
//! 2. `write-tree --prefix=<prefix>/`: the tree of the prefix as the index now has it;
//! 3. that tree grafted into HEAD's tree along the prefix (`ls-tree` + `mktree` per level), so nothing outside the
//!    prefix — another fabric's staged files, say — enters the commit;
//! 4. `commit-tree` with HEAD as the parent, then `update-ref HEAD <new> <old>`: the branch moves only if it still
//!    points where it did (never forced), with the reflog entry `git commit` would write.
//!
//! Small changes keep the porcelain path (see [`crate::Git::with_bulk_commit_min`]).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::command::for_many_blobs;
use crate::repo::{CommitId, CommitOutcome, GitRepo, StatusEntry};
use crate::{Author, GitError};

/// One entry of a tree listing: mode, type, object id, name (raw bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TreeEntry {
    mode: Vec<u8>,
    kind: Vec<u8>,
    id: Vec<u8>,
    name: Vec<u8>,
}

fn parse_ls_tree(out: &[u8], strip: &[u8]) -> Result<Vec<TreeEntry>, GitError> {
    let mut entries = Vec::new();
    for record in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let bad = || GitError::Failed {
            command: "ls-tree".to_owned(),
            status: "exit status 0".to_owned(),
            detail: format!(
                "unexpected tree entry {:?}",
                String::from_utf8_lossy(record)
            ),
        };
        let tab = record.iter().position(|b| *b == b'\t').ok_or_else(bad)?;
        let mut head = record[..tab].split(|b| *b == b' ');
        let (Some(mode), Some(kind), Some(id), None) =
            (head.next(), head.next(), head.next(), head.next())
        else {
            return Err(bad());
        };
        let path = &record[tab + 1..];
        let name = path.strip_prefix(strip).ok_or_else(bad)?;
        entries.push(TreeEntry {
            mode: mode.to_vec(),
            kind: kind.to_vec(),
            id: id.to_vec(),
            name: name.to_vec(),
        });
    }
    Ok(entries)
}

impl GitRepo {
    /// The entries of the directory `dir` (components from the top; empty for the top) in HEAD; empty when HEAD
    /// has no such directory (or there is no HEAD).
    fn head_dir(&self, dir: &[&OsStr]) -> Result<Vec<TreeEntry>, GitError> {
        let mut prefix = Vec::new();
        for c in dir {
            prefix.extend_from_slice(c.as_bytes());
            prefix.push(b'/');
        }
        let mut cmd = self.command().args(["ls-tree", "-z", "HEAD"]);
        if !prefix.is_empty() {
            cmd = cmd.arg("--").arg(OsStr::from_bytes(&prefix));
        }
        let out = cmd.run()?;
        parse_ls_tree(&out.stdout, &prefix)
    }

    fn mktree(&self, entries: &[TreeEntry]) -> Result<Vec<u8>, GitError> {
        let mut input = Vec::new();
        for e in entries {
            input.extend_from_slice(&e.mode);
            input.push(b' ');
            input.extend_from_slice(&e.kind);
            input.push(b' ');
            input.extend_from_slice(&e.id);
            input.push(b'\t');
            input.extend_from_slice(&e.name);
            input.push(0);
        }
        let out = self.command().args(["mktree", "-z"]).stdin(input).run()?;
        Ok(out.first_line().into_bytes())
    }

    /// The commit of `entries` (the status under `spec`, which is not empty) through the plumbing. `None` when
    /// the change has something the plumbing path does not handle (a nested repository), so the caller takes
    /// the porcelain path.
    pub(crate) fn commit_bulk(
        &self,
        message: &str,
        author: &Author,
        spec: &OsStr,
        entries: &[StatusEntry],
    ) -> Result<Option<CommitOutcome>, GitError> {
        let mut list = Vec::new();
        for e in entries {
            for p in std::iter::once(&e.path).chain(e.orig_path.as_ref()) {
                let bytes = p.as_os_str().as_bytes();
                // A nested repository (or an untracked folder git would not list file by file).
                if bytes.ends_with(b"/") || bytes.is_empty() {
                    return Ok(None);
                }
                list.extend_from_slice(bytes);
                list.push(0);
            }
        }
        for_many_blobs(self.command())
            .args(["update-index", "--add", "--remove", "-z", "--stdin"])
            .stdin(list)
            .run()?;

        let whole = spec == OsStr::new(".");
        let components: Vec<&OsStr> = if whole {
            Vec::new()
        } else {
            Path::new(spec).iter().collect()
        };
        let (sub, error) = if whole {
            self.command().arg("write-tree").run_inner()?
        } else {
            let mut arg = OsString::from("--prefix=");
            arg.push(spec);
            arg.push("/");
            self.command().arg("write-tree").arg(arg).run_inner()?
        };
        // Nothing left under the prefix (everything was deleted): git says the prefix is not found.
        let mut child: Option<Vec<u8>> = match error {
            None => Some(sub.first_line().into_bytes()),
            Some(_) if !whole && sub.stderr.contains("not found") => None,
            Some(e) => return Err(e),
        };
        let head = self.head()?;
        // Graft bottom-up: each level of HEAD's tree along the prefix with its child replaced.
        for depth in (0..components.len()).rev() {
            let mut level = match head {
                Some(_) => self.head_dir(&components[..depth])?,
                None => Vec::new(),
            };
            let name = components[depth].as_bytes();
            level.retain(|e| e.name != name);
            if let Some(id) = child.take() {
                level.push(TreeEntry {
                    mode: b"040000".to_vec(),
                    kind: b"tree".to_vec(),
                    id,
                    name: name.to_vec(),
                });
            }
            child = if level.is_empty() && depth > 0 {
                None
            } else {
                Some(self.mktree(&level)?)
            };
        }
        // The top level is always written (an empty tree when nothing is left).
        let root = child
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .ok_or_else(|| GitError::InvalidInput("no tree to commit".to_owned()))?;
        if let Some(h) = &head {
            let old = self
                .command()
                .args(["rev-parse", "--verify", "--quiet"])
                .arg(format!("{}^{{tree}}", h.as_str()))
                .run()?
                .first_line();
            if old == root {
                return Ok(Some(CommitOutcome::NothingToCommit));
            }
        }
        let mut cmd = self
            .command()
            .args(["commit-tree", "--no-gpg-sign", "-F", "-"])
            .arg(&root);
        if let Some(h) = &head {
            cmd = cmd.args(["-p", h.as_str()]);
        }
        let out = cmd
            .stdin(message.as_bytes().to_vec())
            .env("GIT_AUTHOR_NAME", author.name())
            .env("GIT_AUTHOR_EMAIL", author.email())
            .run()?;
        let id = CommitId::parse(&out.first_line()).ok_or_else(|| GitError::Failed {
            command: "commit-tree".to_owned(),
            status: "exit status 0".to_owned(),
            detail: format!("unexpected output {:?}", out.stdout_text()),
        })?;
        let subject = message.lines().next().unwrap_or_default();
        let reflog = match head {
            Some(_) => format!("commit: {subject}"),
            None => format!("commit (initial): {subject}"),
        };
        // The branch moves only from where it was: a concurrent commit makes this fail instead of being lost.
        self.command()
            .args(["update-ref", "-m"])
            .arg(reflog)
            .args(["HEAD", id.as_str()])
            .arg(head.as_ref().map(|h| h.as_str()).unwrap_or(""))
            .run()?;
        Ok(Some(CommitOutcome::Committed(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tree_listings() {
        let out = b"100644 blob 0123456789abcdef0123456789abcdef01234567\tgitops/a b.yaml\x00040000 tree 89abcdef0123456789abcdef0123456789abcdef\tgitops/managed\0";
        let entries = parse_ls_tree(out, b"gitops/").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, b"a b.yaml");
        assert_eq!(entries[1].kind, b"tree");
        assert!(parse_ls_tree(b"garbage\0", b"").is_err());
        assert!(parse_ls_tree(out, b"other/").is_err());
    }
}
