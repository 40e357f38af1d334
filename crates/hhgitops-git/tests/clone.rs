//! Cloning and opening work trees, and the errors a person sees when that fails.

mod common;

use std::fs;

use common::*;
use hhgitops_git::{clone, Credentials, Git, GitError, GitRepo};

#[test]
fn clone_of_an_empty_remote_starts_the_requested_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "empty.git");
    let dest = tmp.path().join("home/clones/fab");
    let repo = clone(
        bare.to_str().unwrap(),
        Some("gitops"),
        &dest,
        &Credentials::Default,
    )
    .unwrap();
    assert_eq!(repo.workdir(), dest.canonicalize().unwrap());
    assert_eq!(repo.current_branch().unwrap().as_deref(), Some("gitops"));
    assert_eq!(repo.head().unwrap(), None);
    assert!(repo.has_remote().unwrap());
    assert_eq!(repo.upstream().unwrap().to_string(), "origin/gitops");
    assert!(repo.log("HEAD", 10).unwrap().is_empty());
    // The first commit and push create the branch on the remote.
    write(repo.workdir(), "fabrics/f1/gitops/raw/a.yaml", "a: 1\n");
    repo.commit("first", &Default::default(), "fabrics/f1/gitops".as_ref())
        .unwrap();
    let pushed = repo.push(&Credentials::Default).unwrap();
    assert!(
        matches!(
            pushed,
            hhgitops_git::PushOutcome::Pushed {
                new_branch: true,
                ..
            }
        ),
        "{pushed:?}"
    );
    assert_eq!(remote_subjects(&bare, "gitops"), vec!["first"]);
    // No staging directory is left next to the clone.
    let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("fab")]);
}

#[test]
fn clone_of_an_empty_remote_without_branch_uses_gits_default() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "empty.git");
    let repo = clone(
        bare.to_str().unwrap(),
        None,
        &tmp.path().join("c"),
        &Credentials::Default,
    )
    .unwrap();
    let branch = repo.current_branch().unwrap().expect("a branch");
    assert_eq!(repo.upstream().unwrap().branch, branch);
}

#[test]
fn clone_of_a_populated_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "pop.git");
    seed(
        &bare,
        "main",
        &[("fabrics/f1/gitops/managed/vpcs/v1.yaml", "kind: VPC\n")],
        "seed main",
    );
    seed(&bare, "other", &[("x", "y\n")], "seed other");
    let url = format!("file://{}", bare.display());

    let repo = clone(
        &url,
        None,
        &tmp.path().join("default"),
        &Credentials::Default,
    )
    .unwrap();
    assert_eq!(repo.current_branch().unwrap().as_deref(), Some("main"));
    assert_eq!(
        repo.head().unwrap().unwrap().as_str(),
        remote_head(&bare, "main")
    );
    assert_eq!(
        fs::read_to_string(
            repo.workdir()
                .join("fabrics/f1/gitops/managed/vpcs/v1.yaml")
        )
        .unwrap(),
        "kind: VPC\n"
    );
    let log = repo.log("HEAD", 5).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].subject, "seed main");

    let repo = clone(
        &url,
        Some("other"),
        &tmp.path().join("other"),
        &Credentials::Default,
    )
    .unwrap();
    assert_eq!(repo.current_branch().unwrap().as_deref(), Some("other"));
    assert_eq!(repo.show("HEAD", "x".as_ref()).unwrap(), b"y\n");
    assert_eq!(
        repo.changed_files("HEAD").unwrap(),
        vec![std::path::PathBuf::from("x")]
    );
}

#[test]
fn clone_into_an_existing_empty_directory_works_and_into_a_full_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "pop.git");
    seed(&bare, "main", &[("a", "1\n")], "seed");
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    clone(
        bare.to_str().unwrap(),
        Some("main"),
        &empty,
        &Credentials::Default,
    )
    .unwrap();
    let full = tmp.path().join("full");
    write(&full, "keep.txt", "mine\n");
    let err = clone(
        bare.to_str().unwrap(),
        Some("main"),
        &full,
        &Credentials::Default,
    )
    .unwrap_err();
    assert!(
        matches!(err, GitError::DestinationNotEmpty { .. }),
        "{err:?}"
    );
    assert_eq!(fs::read_to_string(full.join("keep.txt")).unwrap(), "mine\n");
}

#[test]
fn missing_branch_is_reported_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "pop.git");
    seed(&bare, "main", &[("a", "1\n")], "seed");
    let dest = tmp.path().join("parent/c");
    let err = clone(
        bare.to_str().unwrap(),
        Some("nope"),
        &dest,
        &Credentials::Default,
    )
    .unwrap_err();
    assert!(
        matches!(&err, GitError::BranchNotFound { branch, .. } if branch == "nope"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("branch `nope` does not exist on the remote"),
        "{err}"
    );
    assert!(!dest.exists());
    assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 0);
}

#[test]
fn nonexistent_repository_is_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no/such/repo.git");
    for url in [
        missing.display().to_string(),
        format!("file://{}", missing.display()),
    ] {
        let err = clone(
            &url,
            Some("main"),
            &tmp.path().join("c"),
            &Credentials::Default,
        )
        .unwrap_err();
        assert!(
            matches!(err, GitError::RepositoryNotFound { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains("not found"), "{err}");
    }
}

#[test]
fn unknown_transport_is_a_bad_url() {
    let tmp = tempfile::tempdir().unwrap();
    let err = clone(
        "htps://example.invalid/o/r.git",
        None,
        &tmp.path().join("c"),
        &Credentials::Default,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::BadUrl { .. }), "{err:?}");
    let err = clone(
        "--upload-pack=touch /tmp/x",
        None,
        &tmp.path().join("c"),
        &Credentials::Default,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::BadUrl { .. }), "{err:?}");
}

#[test]
fn connection_refused_is_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    // Loopback, port 1: refused at once, no traffic leaves the machine.
    let git = Git::new()
        .with_env("NO_PROXY", "127.0.0.1")
        .with_env("no_proxy", "127.0.0.1");
    let err = git
        .clone_repo(
            "https://127.0.0.1:1/x.git",
            None,
            &tmp.path().join("c"),
            &Credentials::Default,
        )
        .unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("https://127.0.0.1:1/x.git") && text.contains("unreachable"),
        "{text}"
    );
}

#[test]
fn passwords_in_urls_are_refused_and_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let err = clone(
        "https://bot:hunter2-secret@127.0.0.1:1/x.git",
        None,
        &tmp.path().join("c"),
        &Credentials::Default,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::CredentialsInUrl { .. }), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("https://***@127.0.0.1:1/x.git"), "{text}");
}

#[test]
fn open_requires_the_top_of_a_work_tree_and_discover_finds_the_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "pop.git");
    seed(
        &bare,
        "main",
        &[("fabrics/f1/gitops/raw/.keep", "")],
        "seed",
    );
    let repo = clone(
        bare.to_str().unwrap(),
        None,
        &tmp.path().join("c"),
        &Credentials::Default,
    )
    .unwrap();
    let sub = repo.workdir().join("fabrics/f1/gitops");

    let err = GitRepo::open(&sub).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
    assert!(err.to_string().contains("fabrics/f1/gitops"), "{err}");

    let found = GitRepo::discover(&sub)
        .unwrap()
        .expect("inside a work tree");
    assert_eq!(found.repo.workdir(), repo.workdir());
    assert_eq!(found.prefix, std::path::PathBuf::from("fabrics/f1/gitops"));
    let top = GitRepo::discover(repo.workdir()).unwrap().unwrap();
    assert_eq!(top.prefix, std::path::PathBuf::new());

    let plain = tempfile::tempdir().unwrap();
    assert!(GitRepo::discover(plain.path()).unwrap().is_none());
    let err = GitRepo::open(plain.path()).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
    let err = GitRepo::open(&bare).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
    let err = GitRepo::open(&plain.path().join("missing")).unwrap_err();
    assert!(matches!(err, GitError::Io { .. }), "{err:?}");
}

#[test]
fn missing_git_is_reported() {
    let git = Git::new().with_program("/nonexistent/bin/git-for-hhgitops");
    let err = git.check_version().unwrap_err();
    assert!(matches!(err, GitError::NotInstalled { .. }), "{err:?}");
    assert!(err.to_string().contains("git is not installed"), "{err}");
    let version = Git::new().check_version().unwrap();
    assert!(version >= (2, 31, 0));
}
