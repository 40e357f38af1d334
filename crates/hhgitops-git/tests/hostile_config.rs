//! The operator's git configuration must not change what hhgitops does: no identity configured, hooks that fail,
//! mandatory signing, colour, pagers, editors, autostash: the library works the same and writes no config.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use hhgitops_git::{sync_push, Author, CommitOutcome, Credentials, Git, PushOutcome};

#[test]
fn commits_and_pushes_under_a_hostile_global_config() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path(), "r.git");
    seed(&bare, "main", &[("fabrics/f/gitops/raw/.keep", "")], "seed");

    let hooks = tmp.path().join("hooks");
    fs::create_dir(&hooks).unwrap();
    let marker = tmp.path().join("hook-ran");
    for hook in [
        "pre-commit",
        "commit-msg",
        "prepare-commit-msg",
        "pre-push",
        "post-commit",
        "pre-rebase",
    ] {
        let path = hooks.join(hook);
        fs::write(
            &path,
            format!("#!/bin/sh\necho {hook} >> '{}'\nexit 1\n", marker.display()),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let global = tmp.path().join("gitconfig");
    let original = format!(
        "[user]\n\tuseConfigOnly = true\n\
         [core]\n\thooksPath = {}\n\teditor = false\n\tpager = false\n\
         [commit]\n\tgpgSign = true\n[tag]\n\tgpgSign = true\n[push]\n\tgpgSign = true\n\
         [gpg]\n\tprogram = false\n[log]\n\tshowSignature = true\n\
         [color]\n\tui = always\n[status]\n\tshowUntrackedFiles = no\n\
         [rebase]\n\tautoStash = true\n\tautoSquash = true\n[commit]\n\tverbose = true\n\
         [clone]\n\tdefaultRemoteName = upstream\n[init]\n\ttemplateDir = {}\n",
        hooks.display(),
        tmp.path().join("no-such-template").display()
    );
    fs::write(&global, &original).unwrap();
    let git = Git::new()
        .with_env("GIT_CONFIG_NOSYSTEM", "1")
        .with_env("GIT_CONFIG_GLOBAL", &global)
        .with_env("HOME", tmp.path())
        .with_env("EMAIL", "");

    let repo = git
        .clone_repo(
            bare.to_str().unwrap(),
            Some("main"),
            &tmp.path().join("c"),
            &Credentials::Default,
        )
        .unwrap();
    assert_eq!(
        repo.upstream().unwrap().remote,
        "origin",
        "clone.defaultRemoteName is overridden"
    );
    write(repo.workdir(), "fabrics/f/gitops/raw/a.yaml", "a\n");
    let status = repo.status_porcelain(Path::new("fabrics")).unwrap();
    assert_eq!(
        status.len(),
        1,
        "untracked files listed despite status.showUntrackedFiles=no: {status:?}"
    );
    let outcome = repo
        .commit(
            "ingest a",
            &Author::default(),
            Path::new("fabrics/f/gitops"),
        )
        .unwrap();
    assert!(matches!(outcome, CommitOutcome::Committed(_)));
    let log = repo.log("HEAD", 1).unwrap();
    assert_eq!(
        (log[0].author_name.as_str(), log[0].author_email.as_str()),
        ("hhgitops", "hhgitops@localhost")
    );
    assert_eq!(log[0].subject, "ingest a");

    // Remote moves; the rebase path must not autostash, autosquash or run pre-rebase either.
    seed(&bare, "main", &[("other.txt", "o\n")], "remote");
    let report = sync_push(&repo, &Credentials::Default, 3, |_| -> Result<(), String> {
        Ok(())
    })
    .unwrap();
    assert!(
        matches!(report.outcome, PushOutcome::Pushed { .. }),
        "{report:?}"
    );
    assert_eq!(
        remote_subjects(&bare, "main"),
        vec!["ingest a", "remote", "seed"]
    );

    assert!(
        !marker.exists(),
        "a hook ran: {}",
        fs::read_to_string(&marker).unwrap_or_default()
    );
    assert_eq!(
        fs::read_to_string(&global).unwrap(),
        original,
        "global config untouched"
    );
    let local = fs::read_to_string(repo.git_dir().join("config")).unwrap();
    assert!(!local.contains("[user]"), "no identity written: {local}");
}
