//! sync_push against a remote that moved: rebase and push when the changes are independent, stop and keep
//! everything when they conflict; never force.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hhgitops_git::{
    clone, sync_push, Author, CommitOutcome, Credentials, GitError, GitRepo, PushOutcome, SyncError,
};

struct World {
    _tmp: tempfile::TempDir,
    bare: PathBuf,
    a: GitRepo,
    b: GitRepo,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "remote.git");
    seed(
        &bare,
        "main",
        &[(
            "fabrics/shared/gitops/managed/vpcs/v.yaml",
            "line 1\nline 2\nline 3\n",
        )],
        "seed",
    );
    let url = bare.to_str().unwrap();
    let a = clone(
        url,
        Some("main"),
        &tmp.path().join("a"),
        &Credentials::Default,
    )
    .unwrap();
    let b = clone(
        url,
        Some("main"),
        &tmp.path().join("b"),
        &Credentials::Default,
    )
    .unwrap();
    World {
        _tmp: tmp,
        bare,
        a,
        b,
    }
}

fn commit(repo: &GitRepo, rel: &str, content: &str, message: &str) -> hhgitops_git::CommitId {
    write(repo.workdir(), rel, content);
    match repo
        .commit(message, &Author::default(), Path::new("fabrics"))
        .unwrap()
    {
        CommitOutcome::Committed(id) => id,
        CommitOutcome::NothingToCommit => panic!("nothing to commit"),
    }
}

#[test]
fn first_push_goes_through_without_rebase() {
    let w = world();
    let id = commit(&w.b, "fabrics/b/gitops/raw/x.yaml", "x\n", "b: x");
    let mut calls = 0;
    let report = sync_push(&w.b, &Credentials::Default, 3, |_| -> Result<(), String> {
        calls += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        report.outcome,
        PushOutcome::Pushed {
            head: id,
            new_branch: false
        }
    );
    assert_eq!((report.attempts, report.rebases, calls), (1, 0, 0));
}

#[test]
fn remote_moved_without_conflict_is_rebased_revalidated_and_pushed() {
    let w = world();
    commit(&w.a, "fabrics/a/gitops/raw/a.yaml", "a\n", "a: ingest");
    w.a.push(&Credentials::Default).unwrap();
    let a_head = remote_head(&w.bare, "main");

    commit(&w.b, "fabrics/b/gitops/raw/b.yaml", "b\n", "b: ingest");
    // A plain push is refused and classified.
    let err = w.b.push(&Credentials::Default).unwrap_err();
    assert!(matches!(err, GitError::RemoteMoved { .. }), "{err:?}");
    assert!(err.to_string().contains("has moved"), "{err}");

    let mut seen = Vec::new();
    let report = sync_push(
        &w.b,
        &Credentials::Default,
        3,
        |repo: &GitRepo| -> Result<(), String> {
            // Re-validation sees the combined state: the remote's file and ours.
            seen.push((
                repo.workdir().join("fabrics/a/gitops/raw/a.yaml").exists(),
                repo.workdir().join("fabrics/b/gitops/raw/b.yaml").exists(),
            ));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(seen, vec![(true, true)]);
    assert_eq!((report.attempts, report.rebases), (2, 1));
    assert_eq!(
        remote_subjects(&w.bare, "main"),
        vec!["b: ingest", "a: ingest", "seed"]
    );
    let log = w.b.log("HEAD", 1).unwrap();
    assert_eq!(
        log[0].parents[0].as_str(),
        a_head,
        "rebased onto the remote, not merged"
    );
    assert_eq!(log[0].id.as_str(), remote_head(&w.bare, "main"));
    assert!(w.b.status_porcelain(Path::new("")).unwrap().is_empty());
}

#[test]
fn conflict_is_reported_with_the_file_and_nothing_is_lost() {
    let w = world();
    let file = "fabrics/shared/gitops/managed/vpcs/v.yaml";
    commit(&w.a, file, "line 1\nline 2 from a\nline 3\n", "a: edit");
    w.a.push(&Credentials::Default).unwrap();
    let remote_before = remote_head(&w.bare, "main");

    let local = commit(&w.b, file, "line 1\nline 2 from b\nline 3\n", "b: edit");
    write(
        w.b.workdir(),
        "fabrics/b/gitops/raw/untracked.yaml",
        "dropped by a person\n",
    );
    let mut calls = 0;
    let err = sync_push(&w.b, &Credentials::Default, 5, |_| -> Result<(), String> {
        calls += 1;
        Ok(())
    })
    .unwrap_err();
    assert_eq!(calls, 0, "no re-validation of a failed rebase");
    let SyncError::Git(GitError::Conflict {
        files,
        saved_branch,
        upstream,
        ..
    }) = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(files, &vec![PathBuf::from(file)]);
    assert_eq!(upstream, "origin/main");
    let saved = saved_branch.clone().expect("local commit saved");
    assert!(saved.starts_with("hhgitops/conflict-"), "{saved}");
    let text = err.to_string();
    assert!(text.contains(file) && text.contains(&saved), "{text}");

    // Nothing lost: the local commit is on the saved branch and still on the local branch, the work tree is
    // clean (apart from the untracked file, which is untouched), no rebase is left half-done, nothing pushed.
    assert_eq!(w.b.rev_parse(&saved).unwrap(), Some(local.clone()));
    assert_eq!(w.b.head().unwrap(), Some(local));
    assert_eq!(w.b.current_branch().unwrap().as_deref(), Some("main"));
    let status = w.b.status_porcelain(Path::new("")).unwrap();
    assert_eq!(status.len(), 1, "{status:?}");
    assert!(status[0].is_untracked());
    assert_eq!(
        std::fs::read_to_string(w.b.workdir().join(file)).unwrap(),
        "line 1\nline 2 from b\nline 3\n"
    );
    assert!(
        !w.b.git_dir().join("rebase-merge").exists()
            && !w.b.git_dir().join("rebase-apply").exists()
    );
    assert_eq!(remote_head(&w.bare, "main"), remote_before);
}

#[test]
fn failed_revalidation_pushes_nothing_and_keeps_the_commits() {
    let w = world();
    commit(&w.a, "fabrics/a/gitops/raw/a.yaml", "a\n", "a: ingest");
    w.a.push(&Credentials::Default).unwrap();
    let remote_before = remote_head(&w.bare, "main");
    commit(&w.b, "fabrics/b/gitops/raw/b.yaml", "b\n", "b: ingest");

    let err = sync_push(&w.b, &Credentials::Default, 3, |_| {
        Err("VLAN 1001 used twice")
    })
    .unwrap_err();
    let SyncError::Revalidation {
        error,
        saved_branch,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*error, "VLAN 1001 used twice");
    assert!(
        saved_branch.starts_with("hhgitops/invalid-"),
        "{saved_branch}"
    );
    assert_eq!(w.b.rev_parse(saved_branch).unwrap(), w.b.head().unwrap());
    assert!(err.to_string().contains("VLAN 1001 used twice"), "{err}");
    assert_eq!(remote_head(&w.bare, "main"), remote_before);
}

#[test]
fn gives_up_after_max_attempts_without_forcing() {
    let w = world();
    commit(&w.a, "fabrics/a/gitops/raw/a.yaml", "a\n", "a: ingest");
    w.a.push(&Credentials::Default).unwrap();
    let remote_before = remote_head(&w.bare, "main");
    commit(&w.b, "fabrics/b/gitops/raw/b.yaml", "b\n", "b: ingest");
    let err = sync_push(&w.b, &Credentials::Default, 1, |_| -> Result<(), String> {
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(err, SyncError::RemoteKeptMoving { attempts: 1 }),
        "{err:?}"
    );
    assert_eq!(remote_head(&w.bare, "main"), remote_before);
}

#[test]
fn local_commit_already_upstream_is_dropped_by_the_rebase() {
    let w = world();
    // Both clones make the identical change: after the rebase there is nothing left to push.
    commit(&w.a, "fabrics/a/gitops/raw/same.yaml", "same\n", "a: same");
    w.a.push(&Credentials::Default).unwrap();
    commit(&w.b, "fabrics/a/gitops/raw/same.yaml", "same\n", "b: same");
    let report = sync_push(&w.b, &Credentials::Default, 3, |_| -> Result<(), String> {
        Ok(())
    })
    .unwrap();
    assert_eq!(report.outcome, PushOutcome::UpToDate);
    assert_eq!(remote_subjects(&w.bare, "main"), vec!["a: same", "seed"]);
}
