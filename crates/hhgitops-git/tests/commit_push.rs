//! Committing under a prefix, pushing, fetching and fast-forwarding against a local bare remote.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use hhgitops_git::{clone, Author, CommitOutcome, Credentials, FastForward, GitRepo, PushOutcome};

fn setup() -> (tempfile::TempDir, PathBuf, GitRepo) {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "remote.git");
    seed(
        &bare,
        "main",
        &[
            ("fabrics/a/gitops/managed/vpcs/v1.yaml", "v1\n"),
            ("fabrics/b/gitops/managed/vpcs/v2.yaml", "v2\n"),
        ],
        "seed",
    );
    let repo = clone(
        bare.to_str().unwrap(),
        Some("main"),
        &tmp.path().join("clone"),
        &Credentials::Default,
    )
    .unwrap();
    (tmp, bare, repo)
}

#[test]
fn commit_takes_only_the_changes_under_the_prefix() {
    let (_tmp, _bare, repo) = setup();
    let wd = repo.workdir().to_path_buf();
    // Fabric a: a new raw file, a modified and a deleted managed file.
    write(&wd, "fabrics/a/gitops/raw/new.yaml", "new\n");
    write(&wd, "fabrics/a/gitops/managed/vpcs/v1.yaml", "v1 changed\n");
    // Fabric b (sharing the repository): an untracked file, a modification, and a file someone staged.
    write(&wd, "fabrics/b/gitops/raw/pending.yaml", "pending\n");
    write(
        &wd,
        "fabrics/b/gitops/managed/vpcs/v2.yaml",
        "v2 edited by hand\n",
    );
    write(&wd, "fabrics/b/gitops/managed/vpcs/v3.yaml", "v3\n");
    repo.add_paths(["fabrics/b/gitops/managed/vpcs/v3.yaml"])
        .unwrap();
    let before_b = repo.status_porcelain(Path::new("fabrics/b")).unwrap();

    let author = Author::new("Jane Operator", "jane@example.com").unwrap();
    let message = "ingest raw/new.yaml: +1 VPC\n\n# not a comment: kept verbatim\n";
    let outcome = repo
        .commit(message, &author, Path::new("fabrics/a/gitops"))
        .unwrap();
    let CommitOutcome::Committed(id) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(repo.head().unwrap(), Some(id));

    let mut changed = repo.changed_files("HEAD").unwrap();
    changed.sort();
    assert_eq!(
        changed,
        vec![
            PathBuf::from("fabrics/a/gitops/managed/vpcs/v1.yaml"),
            PathBuf::from("fabrics/a/gitops/raw/new.yaml")
        ]
    );
    let log = repo.log("HEAD", 1).unwrap();
    assert_eq!(log[0].author_name, "Jane Operator");
    assert_eq!(log[0].author_email, "jane@example.com");
    assert_eq!(log[0].committer_name, "hhgitops");
    assert_eq!(log[0].committer_email, "hhgitops@localhost");
    assert_eq!(log[0].subject, "ingest raw/new.yaml: +1 VPC");
    assert!(
        log[0].message.contains("# not a comment: kept verbatim"),
        "{:?}",
        log[0].message
    );

    // Fabric b's changes are exactly as they were, including what was staged.
    assert!(repo
        .status_porcelain(Path::new("fabrics/a"))
        .unwrap()
        .is_empty());
    assert_eq!(
        repo.status_porcelain(Path::new("fabrics/b")).unwrap(),
        before_b
    );
    assert!(
        before_b
            .iter()
            .any(|e| e.index == 'A' && e.path.ends_with("v3.yaml")),
        "{before_b:?}"
    );

    // Deleting files is a change like any other.
    fs::remove_file(wd.join("fabrics/a/gitops/raw/new.yaml")).unwrap();
    let outcome = repo
        .commit("delete", &Author::default(), Path::new("fabrics/a/gitops"))
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed(_)));
    assert_eq!(
        repo.changed_files("HEAD").unwrap(),
        vec![PathBuf::from("fabrics/a/gitops/raw/new.yaml")]
    );
    assert_eq!(repo.log("HEAD", 1).unwrap()[0].author_name, "hhgitops");
}

#[test]
fn nothing_to_commit_is_an_outcome_not_an_error() {
    let (_tmp, _bare, repo) = setup();
    let head = repo.head().unwrap();
    let a = Author::default();
    assert_eq!(
        repo.commit("noop", &a, Path::new("fabrics/a/gitops"))
            .unwrap(),
        CommitOutcome::NothingToCommit
    );
    // A prefix that does not exist yet, and changes only elsewhere.
    write(repo.workdir(), "fabrics/b/gitops/raw/x.yaml", "x\n");
    assert_eq!(
        repo.commit("noop", &a, Path::new("fabrics/c/gitops"))
            .unwrap(),
        CommitOutcome::NothingToCommit
    );
    assert_eq!(
        repo.commit("noop", &a, Path::new("fabrics/a")).unwrap(),
        CommitOutcome::NothingToCommit
    );
    assert_eq!(repo.head().unwrap(), head);
    // Paths escaping the work tree and empty messages are refused before git runs.
    assert!(repo.commit("x", &a, Path::new("../elsewhere")).is_err());
    assert!(repo.commit("  \n", &a, Path::new("fabrics/b")).is_err());
}

#[test]
fn commit_of_the_whole_tree_with_an_empty_prefix() {
    let (_tmp, _bare, repo) = setup();
    write(repo.workdir(), "top.txt", "t\n");
    write(repo.workdir(), "fabrics/b/gitops/raw/x.yaml", "x\n");
    let outcome = repo
        .commit("all", &Author::default(), Path::new(""))
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed(_)));
    assert_eq!(repo.changed_files("HEAD").unwrap().len(), 2);
    assert!(repo.status_porcelain(Path::new("")).unwrap().is_empty());
}

#[test]
fn push_then_up_to_date() {
    let (_tmp, bare, repo) = setup();
    assert_eq!(
        repo.push(&Credentials::Default).unwrap(),
        PushOutcome::UpToDate
    );
    write(repo.workdir(), "fabrics/a/gitops/raw/p.yaml", "p\n");
    let CommitOutcome::Committed(id) = repo
        .commit("add p", &Author::default(), Path::new("fabrics/a/gitops"))
        .unwrap()
    else {
        panic!("expected a commit")
    };
    let outcome = repo.push(&Credentials::Default).unwrap();
    assert_eq!(
        outcome,
        PushOutcome::Pushed {
            head: id.clone(),
            new_branch: false
        }
    );
    assert_eq!(remote_head(&bare, "main"), id.as_str());
    assert_eq!(remote_subjects(&bare, "main"), vec!["add p", "seed"]);
    assert_eq!(
        repo.push(&Credentials::Default).unwrap(),
        PushOutcome::UpToDate
    );
    // The remote-tracking ref follows the push.
    assert_eq!(
        repo.rev_parse("refs/remotes/origin/main").unwrap(),
        Some(id)
    );
}

#[test]
fn fetch_and_fast_forward_report_every_case() {
    let (tmp, bare, repo) = setup();
    assert_eq!(repo.fast_forward().unwrap(), FastForward::UpToDate);

    seed(
        &bare,
        "main",
        &[("fabrics/b/gitops/raw/remote.yaml", "r\n")],
        "remote change",
    );
    let remote = repo.fetch(&Credentials::Default).unwrap().unwrap();
    assert_eq!(remote.as_str(), remote_head(&bare, "main"));
    let before = repo.head().unwrap();
    // An untracked file elsewhere does not stop a fast-forward.
    write(repo.workdir(), "fabrics/a/gitops/raw/dropped.yaml", "d\n");
    assert_eq!(
        repo.fast_forward().unwrap(),
        FastForward::FastForwarded {
            from: before,
            to: remote.clone()
        }
    );
    assert!(repo
        .workdir()
        .join("fabrics/b/gitops/raw/remote.yaml")
        .exists());
    assert!(repo
        .workdir()
        .join("fabrics/a/gitops/raw/dropped.yaml")
        .exists());

    repo.commit("local", &Author::default(), Path::new("fabrics/a"))
        .unwrap();
    assert_eq!(
        repo.fast_forward().unwrap(),
        FastForward::Ahead { ahead: 1 }
    );
    seed(&bare, "main", &[("elsewhere.txt", "e\n")], "remote again");
    repo.fetch(&Credentials::Default).unwrap();
    assert_eq!(
        repo.fast_forward().unwrap(),
        FastForward::Diverged {
            ahead: 1,
            behind: 1
        }
    );

    // A remote without the branch: fetch says so and fast_forward has nothing to do.
    let empty = bare_repo(tmp.path(), "empty.git");
    let fresh = clone(
        empty.to_str().unwrap(),
        Some("main"),
        &tmp.path().join("fresh"),
        &Credentials::Default,
    )
    .unwrap();
    assert_eq!(fresh.fetch(&Credentials::Default).unwrap(), None);
    assert_eq!(fresh.fast_forward().unwrap(), FastForward::NoRemoteBranch);
    // Once someone else pushes, the branch without commits fast-forwards onto it.
    seed(&empty, "main", &[("first.txt", "1\n")], "first elsewhere");
    let head = fresh.fetch(&Credentials::Default).unwrap().unwrap();
    assert_eq!(
        fresh.fast_forward().unwrap(),
        FastForward::FastForwarded {
            from: None,
            to: head
        }
    );
}

#[test]
fn fast_forward_refuses_to_overwrite_local_changes() {
    let (_tmp, bare, repo) = setup();
    seed(
        &bare,
        "main",
        &[("fabrics/a/gitops/managed/vpcs/v1.yaml", "remote\n")],
        "remote edit",
    );
    repo.fetch(&Credentials::Default).unwrap();
    write(
        repo.workdir(),
        "fabrics/a/gitops/managed/vpcs/v1.yaml",
        "local edit\n",
    );
    let err = repo.fast_forward().unwrap_err();
    match &err {
        hhgitops_git::GitError::LocalChanges { files, .. } => {
            assert_eq!(
                files,
                &vec![PathBuf::from("fabrics/a/gitops/managed/vpcs/v1.yaml")]
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fs::read_to_string(repo.workdir().join("fabrics/a/gitops/managed/vpcs/v1.yaml")).unwrap(),
        "local edit\n"
    );
}

#[test]
fn save_branch_and_reset_keep() {
    let (_tmp, _bare, repo) = setup();
    let seed_head = repo.head().unwrap().unwrap();
    write(repo.workdir(), "fabrics/a/gitops/raw/x.yaml", "x\n");
    let CommitOutcome::Committed(local) = repo
        .commit("local", &Author::default(), Path::new("fabrics/a"))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(repo.save_branch("keep/this").unwrap(), local);
    assert!(repo.save_branch("keep/this").is_err());
    assert!(repo.save_branch("-bad").is_err());
    let name = repo.save_recovery_branch("conflict").unwrap();
    assert!(name.starts_with("hhgitops/conflict-"), "{name}");
    assert_eq!(
        repo.save_recovery_branch("conflict").unwrap(),
        name,
        "same commit, same branch"
    );
    assert!(repo.branches().unwrap().contains(&name));
    repo.reset_keep(seed_head.as_str()).unwrap();
    assert_eq!(repo.head().unwrap(), Some(seed_head));
    assert_eq!(repo.rev_parse(&name).unwrap(), Some(local));
}

#[test]
fn a_push_refused_by_a_server_hook_is_declined_not_remote_moved() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, bare, repo) = setup();
    let hook = bare.join("hooks/pre-receive");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(
        &hook,
        "#!/bin/sh\necho 'protected: use a merge request' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    write(repo.workdir(), "fabrics/a/gitops/raw/p.yaml", "p\n");
    repo.commit("p", &Author::default(), Path::new("fabrics/a"))
        .unwrap();
    let err = repo.push(&Credentials::Default).unwrap_err();
    match &err {
        hhgitops_git::GitError::PushDeclined { reason, .. } => {
            assert!(reason.contains("pre-receive hook declined"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // And sync_push does not retry what a rebase cannot fix.
    let err = hhgitops_git::sync_push(&repo, &Credentials::Default, 3, |_| -> Result<(), String> {
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            hhgitops_git::SyncError::Git(hhgitops_git::GitError::PushDeclined { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_repository_without_remote_or_branch_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let wd = tmp.path().join("plain-repo");
    fs::create_dir(&wd).unwrap();
    raw_git(&wd, &["init", "--quiet"]);
    write(&wd, "fabrics/x/gitops/raw/a.yaml", "a\n");
    let repo = GitRepo::open(&wd).unwrap();
    assert!(!repo.has_remote().unwrap());
    // Committing works without any remote (a --path fabric inside a local work tree).
    assert!(matches!(
        repo.commit("local only", &Author::default(), Path::new("fabrics/x"))
            .unwrap(),
        CommitOutcome::Committed(_)
    ));
    let err = repo.push(&Credentials::Default).unwrap_err();
    assert!(
        matches!(err, hhgitops_git::GitError::NoRemote { .. }),
        "{err:?}"
    );

    let head = repo.head().unwrap().unwrap();
    raw_git(&wd, &["checkout", "--quiet", "--detach", head.as_str()]);
    assert_eq!(repo.current_branch().unwrap(), None);
    let err = repo.upstream().unwrap_err();
    assert!(
        matches!(err, hhgitops_git::GitError::DetachedHead { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("detached HEAD"), "{err}");
}

#[test]
fn uncommitted_tracked_changes_stop_the_rebase_and_are_listed() {
    let (tmp, bare, repo) = setup();
    let other = clone(
        bare.to_str().unwrap(),
        None,
        &tmp.path().join("other"),
        &Credentials::Default,
    )
    .unwrap();
    write(other.workdir(), "fabrics/a/gitops/raw/o.yaml", "o\n");
    other
        .commit("other", &Author::default(), Path::new(""))
        .unwrap();
    other.push(&Credentials::Default).unwrap();

    write(repo.workdir(), "fabrics/a/gitops/raw/mine.yaml", "m\n");
    let CommitOutcome::Committed(local) = repo
        .commit("mine", &Author::default(), Path::new("fabrics/a"))
        .unwrap()
    else {
        panic!()
    };
    // Someone edited fabric b's managed file by hand and did not commit it.
    write(
        repo.workdir(),
        "fabrics/b/gitops/managed/vpcs/v2.yaml",
        "hand edit\n",
    );
    let err = hhgitops_git::sync_push(&repo, &Credentials::Default, 3, |_| -> Result<(), String> {
        Ok(())
    })
    .unwrap_err();
    match &err {
        hhgitops_git::SyncError::Git(hhgitops_git::GitError::LocalChanges { files, .. }) => {
            assert_eq!(
                files,
                &vec![PathBuf::from("fabrics/b/gitops/managed/vpcs/v2.yaml")]
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(repo.head().unwrap(), Some(local));
    assert_eq!(
        fs::read_to_string(repo.workdir().join("fabrics/b/gitops/managed/vpcs/v2.yaml")).unwrap(),
        "hand edit\n"
    );
}
