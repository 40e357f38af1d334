//! The plumbing commit of large changes makes exactly the commit the porcelain path makes: the same tree, only
//! paths under the prefix, the index updated so that `git status` is clean, the branch moved with a reflog
//! entry and never forced. Each scenario is played in two clones of the same remote, one forced onto each
//! path, and the resulting trees are compared.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use hhgitops_git::{Author, CommandRecord, CommitOutcome, Credentials, Git, GitRepo};

/// A clone whose commits always take the plumbing path (`bulk`) or never do, recording its git commands.
fn clone_with(bare: &Path, dest: &Path, bulk: bool) -> (GitRepo, Arc<Mutex<Vec<CommandRecord>>>) {
    let (git, log) = recording_git();
    let git: Git = git.with_bulk_commit_min(if bulk { 0 } else { usize::MAX });
    let repo = git
        .clone_repo(
            bare.to_str().unwrap(),
            Some("main"),
            dest,
            &Credentials::Default,
        )
        .unwrap();
    (repo, log)
}

fn tree_of(repo: &GitRepo, rev: &str) -> String {
    raw_git(repo.workdir(), &["rev-parse", &format!("{rev}^{{tree}}")])
        .trim()
        .to_owned()
}

fn porcelain(repo: &GitRepo) -> String {
    raw_git(repo.workdir(), &["status", "--porcelain=v1", "-uall"])
}

/// Plays `change` in both clones, commits under `prefix`, and checks the two commits are the same change.
fn both_paths<F: Fn(&Path)>(
    bare: &Path,
    tmp: &Path,
    name: &str,
    prefix: &str,
    change: F,
) -> (GitRepo, GitRepo, CommitOutcome, CommitOutcome) {
    let (bulk, bulk_log) = clone_with(bare, &tmp.join(format!("{name}-bulk")), true);
    let (plain, plain_log) = clone_with(bare, &tmp.join(format!("{name}-plain")), false);
    change(bulk.workdir());
    change(plain.workdir());
    let author = Author::new("Jane Operator", "jane@example.com").unwrap();
    let before_bulk = porcelain(&bulk);
    let a = bulk
        .commit("ingest: many\n\nbody line\n", &author, Path::new(prefix))
        .unwrap();
    let b = plain
        .commit("ingest: many\n\nbody line\n", &author, Path::new(prefix))
        .unwrap();
    assert_eq!(
        std::mem::discriminant(&a),
        std::mem::discriminant(&b),
        "{name}: {a:?} / {b:?}"
    );
    if matches!(a, CommitOutcome::Committed(_)) {
        assert_eq!(
            tree_of(&bulk, "HEAD"),
            tree_of(&plain, "HEAD"),
            "{name}: the same tree either way"
        );
        let used = |log: &Arc<Mutex<Vec<CommandRecord>>>, sub: &str| {
            log.lock()
                .unwrap()
                .iter()
                .any(|r| r.args.iter().any(|a| a == sub))
        };
        assert!(
            used(&bulk_log, "commit-tree") && !used(&bulk_log, "commit"),
            "{name}: plumbing path"
        );
        assert!(
            used(&plain_log, "commit") && !used(&plain_log, "commit-tree"),
            "{name}: porcelain path"
        );
        let log = bulk.log("HEAD", 1).unwrap();
        assert_eq!(log[0].author_name, "Jane Operator");
        assert_eq!(log[0].committer_name, "hhgitops");
        assert_eq!(log[0].message, "ingest: many\n\nbody line");
        let reflog = raw_git(bulk.workdir(), &["reflog", "-1", "--format=%gs", "main"]);
        let plain_reflog = raw_git(plain.workdir(), &["reflog", "-1", "--format=%gs", "main"]);
        assert_eq!(
            reflog, plain_reflog,
            "{name}: the reflog entry git commit writes"
        );
    }
    assert_eq!(
        porcelain(&bulk),
        porcelain(&plain),
        "{name}: the same status afterwards (before: {before_bulk})"
    );
    (bulk, plain, a, b)
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "remote.git");
    let mut files: Vec<(String, String)> = (0..50)
        .map(|i| {
            (
                format!("fabrics/a/gitops/managed/vpcs/v{i}.yaml"),
                format!("v{i}\n"),
            )
        })
        .collect();
    files.push(("fabrics/b/gitops/managed/vpcs/b.yaml".into(), "b\n".into()));
    files.push(("README".into(), "top\n".into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    seed(&bare, "main", &refs, "seed");
    (tmp, bare)
}

#[test]
fn a_large_ingestion_commits_the_same_tree_and_leaves_a_clean_status() {
    let (tmp, bare) = setup();
    let (bulk, _plain, outcome, _) =
        both_paths(&bare, tmp.path(), "large", "fabrics/a/gitops", |wd| {
            for i in 0..400 {
                write(
                    wd,
                    &format!("fabrics/a/gitops/managed/connections/c{i}.yaml"),
                    &format!("c{i}\n"),
                );
            }
            write(wd, "fabrics/a/gitops/managed/vpcs/v1.yaml", "changed\n");
            fs::remove_file(wd.join("fabrics/a/gitops/managed/vpcs/v2.yaml")).unwrap();
            write(wd, "fabrics/a/gitops/raw/a file with spaces.yaml", "x\n");
            write(wd, "fabrics/a/gitops/managed/ünïcode.yaml", "u\n");
            // Another fabric in the same repository: untracked, modified and staged changes stay as they are.
            write(wd, "fabrics/b/gitops/managed/vpcs/b.yaml", "b edited\n");
            write(wd, "fabrics/b/gitops/raw/pending.yaml", "p\n");
            write(wd, "fabrics/b/gitops/managed/vpcs/staged.yaml", "s\n");
            raw_git(wd, &["add", "fabrics/b/gitops/managed/vpcs/staged.yaml"]);
        });
    let CommitOutcome::Committed(id) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(bulk.head().unwrap(), Some(id));
    let changed = bulk.changed_files("HEAD").unwrap();
    assert_eq!(changed.len(), 404, "400 new, 1 modified, 1 deleted, 2 new");
    assert!(changed.iter().all(|p| p.starts_with("fabrics/a/gitops")));
    assert!(bulk
        .status_porcelain(Path::new("fabrics/a"))
        .unwrap()
        .is_empty());
    let b = porcelain(&bulk);
    assert!(
        b.contains("A  fabrics/b/gitops/managed/vpcs/staged.yaml"),
        "{b}"
    );
    assert!(b.contains(" M fabrics/b/gitops/managed/vpcs/b.yaml"), "{b}");
    assert!(b.contains("?? fabrics/b/gitops/raw/pending.yaml"), "{b}");
    // All the blobs went into packs, not one loose file each.
    let loose = raw_git(bulk.workdir(), &["count-objects", "-v"]);
    let in_pack: usize = loose
        .lines()
        .find_map(|l| l.strip_prefix("in-pack: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(in_pack >= 402, "the new blobs are packed: {loose}");
    raw_git(bulk.workdir(), &["fsck", "--no-progress"]);
    // And the next commit builds on it.
    write(
        bulk.workdir(),
        "fabrics/a/gitops/managed/vpcs/v3.yaml",
        "again\n",
    );
    let next = bulk
        .commit("next", &Author::default(), Path::new("fabrics/a/gitops"))
        .unwrap();
    assert!(matches!(next, CommitOutcome::Committed(_)));
    assert_eq!(bulk.log("HEAD", 3).unwrap().len(), 3);
}

#[test]
fn deleting_everything_under_the_prefix_and_the_whole_tree() {
    let (tmp, bare) = setup();
    let (bulk, _, outcome, _) = both_paths(&bare, tmp.path(), "gone", "fabrics/a", |wd| {
        fs::remove_dir_all(wd.join("fabrics/a")).unwrap();
    });
    assert!(matches!(outcome, CommitOutcome::Committed(_)));
    assert!(!raw_git(bulk.workdir(), &["ls-tree", "-r", "HEAD"]).contains("fabrics/a"));
    let (_, _, outcome, _) = both_paths(&bare, tmp.path(), "whole", "", |wd| {
        write(wd, "top.txt", "t\n");
        write(wd, "fabrics/b/gitops/raw/x.yaml", "x\n");
        fs::remove_file(wd.join("README")).unwrap();
    });
    assert!(matches!(outcome, CommitOutcome::Committed(_)));
}

#[test]
fn modes_attributes_and_nothing_to_commit() {
    let (tmp, bare) = setup();
    // An executable, a symbolic link, and a file git converts (line endings) on the way in.
    both_paths(&bare, tmp.path(), "modes", "fabrics/a/gitops", |wd| {
        write(wd, "fabrics/a/gitops/run.sh", "#!/bin/sh\n");
        fs::set_permissions(
            wd.join("fabrics/a/gitops/run.sh"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("run.sh", wd.join("fabrics/a/gitops/link")).unwrap();
        write(wd, "fabrics/a/gitops/.gitattributes", "*.txt text eol=lf\n");
        write(wd, "fabrics/a/gitops/crlf.txt", "one\r\ntwo\r\n");
    });
    // Changes whose content equals HEAD's again: nothing to commit, the branch stays.
    let (bulk, _, outcome, _) = both_paths(&bare, tmp.path(), "same", "fabrics/a/gitops", |wd| {
        write(wd, "fabrics/a/gitops/managed/vpcs/v1.yaml", "tmp\n");
        raw_git(wd, &["add", "fabrics/a/gitops/managed/vpcs/v1.yaml"]);
        write(wd, "fabrics/a/gitops/managed/vpcs/v1.yaml", "v1\n");
    });
    assert_eq!(outcome, CommitOutcome::NothingToCommit);
    assert_eq!(bulk.log("HEAD", 5).unwrap().len(), 1);
}

#[test]
fn the_first_commit_of_an_empty_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "empty.git");
    let (bulk, _, outcome, _) = both_paths(&bare, tmp.path(), "first", "gitops", |wd| {
        for i in 0..200 {
            write(wd, &format!("gitops/managed/servers/s{i}.yaml"), "s\n");
        }
        write(wd, "outside.txt", "not committed\n");
    });
    assert!(matches!(outcome, CommitOutcome::Committed(_)));
    let reflog = raw_git(bulk.workdir(), &["reflog", "-1", "--format=%gs", "main"]);
    assert_eq!(reflog.trim(), "commit (initial): ingest: many");
    assert!(porcelain(&bulk).contains("?? outside.txt"));
}
