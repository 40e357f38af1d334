//! Fabrics in Git with real `git` and local bare repositories as remotes (no network): clone and layout commit,
//! one commit per operation, two fabrics in one repository, a remote that moves, raw files pushed by someone
//! else, onboarding, tokens, and Git's failures turned into messages a person can act on.

mod common;

use std::process::Command;

use common::*;

#[test]
fn clone_then_layout_commit_then_one_commit_per_ingest() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    let out = env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    assert!(out.contains("pushed"), "{out}");
    assert_eq!(remote_log(&remote), ["init fabric f: create layout"]);
    let files = remote_files(&remote);
    assert!(
        files.contains(&"fabrics/f/gitops/.hnp/manifest.yaml".to_string()),
        "{files:?}"
    );
    let author = git(&remote, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert_eq!(author.trim(), "hhgitops <hhgitops@localhost>");

    let root = root_of(&env, "f");
    assert!(root.starts_with(env.home().join("repos")));
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["git"]["pushed"], true, "{r:#}");
    let log = remote_log(&remote);
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0],
        "ingest raw/a.yaml: +1 VLANNamespace, +1 IPv4Namespace, +1 VPC"
    );
    let files = remote_files(&remote);
    for f in [
        "fabrics/f/gitops/managed/vpcs/vpc-1.yaml",
        "fabrics/f/gitops/managed/ipv4namespaces/default.yaml",
        "fabrics/f/gitops/raw/a.yaml.archived",
    ] {
        assert!(files.contains(&f.to_string()), "{f} in {files:?}");
    }
    assert!(!files.contains(&"fabrics/f/gitops/raw/a.yaml".to_string()));
    assert!(
        !files.iter().any(|f| f.ends_with(".hnp/lock")),
        "run-time files stay out of Git"
    );

    // Nothing to do: no new commit.
    env.ok(&["ingest", "--fabric", "f"]);
    assert_eq!(remote_log(&remote).len(), 2);
    // delete is one commit too.
    std::fs::write(root.join("raw/b.yaml"), vpc("vpc-2", 2)).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    env.ok(&["delete", "--fabric", "f", "VPC/vpc-2"]);
    assert_eq!(remote_log(&remote)[0], "delete VPC/vpc-2 from fabric f");
}

#[test]
fn two_fabrics_in_one_repository_commit_only_their_own_files() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    env.ok(&[
        "fabric",
        "add",
        "east",
        "--git-url",
        &file_url(&remote),
        "--git-path",
        "dc/east",
    ]);
    env.ok(&[
        "fabric",
        "add",
        "west",
        "--git-url",
        &file_url(&remote),
        "--git-path",
        "dc/west",
    ]);
    let east = root_of(&env, "east");
    let west = root_of(&env, "west");
    assert_eq!(east.parent(), west.parent(), "one clone shared by both");
    std::fs::write(east.join("raw/a.yaml"), NAMESPACES).unwrap();
    std::fs::write(west.join("raw/b.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "east"]);
    let changed = git(&remote, &["show", "--name-only", "--format=", "main"]);
    assert!(
        changed.lines().all(|l| l.starts_with("dc/east/")),
        "{changed}"
    );
    assert!(
        west.join("raw/b.yaml").exists(),
        "the other fabric's raw file is untouched"
    );
    env.ok(&["ingest", "--all"]);
    let changed = git(&remote, &["show", "--name-only", "--format=", "main"]);
    assert!(
        changed.lines().all(|l| l.starts_with("dc/west/")),
        "{changed}"
    );
    assert_eq!(remote_log(&remote).len(), 4);
}

#[test]
fn a_raw_file_pushed_by_someone_else_is_ingested_by_the_next_operation() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    seed(
        &env,
        &remote,
        &[("fabrics/f/gitops/raw/theirs.yaml", NAMESPACES)],
        "add namespaces",
    );
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["files"][0]["file"], "raw/theirs.yaml");
    assert_eq!(r["files"][0]["status"], "ingested");
    let log = remote_log(&remote);
    assert_eq!(
        log[..2],
        [
            "ingest raw/theirs.yaml: +1 VLANNamespace, +1 IPv4Namespace",
            "add namespaces"
        ]
    );
    // sync = pull, ingest, commit, push.
    seed(
        &env,
        &remote,
        &[("fabrics/f/gitops/raw/more.yaml", &vpc("vpc-1", 1))],
        "add a VPC",
    );
    let out = env.ok(&["sync", "--fabric", "f"]);
    assert!(out.contains("raw/more.yaml: ingested"), "{out}");
    assert_eq!(remote_log(&remote)[0], "ingest raw/more.yaml: +1 VPC");
}

#[test]
fn a_remote_that_moved_is_rebased_onto_when_nothing_conflicts() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    let root = root_of(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    // Between our commit and our push, someone else pushes an unrelated change.
    let o = clone_of(&env, &remote);
    let script = format!(
        "cd {o} && echo hello > README.md && git -c user.name=x -c user.email=x@x add README.md && git -c user.name=x -c user.email=x@x commit -qm 'docs: readme' && git push -q origin HEAD:main",
        o = o.display()
    );
    let out = env
        .cmd()
        .env("HHGITOPS_TEST_BEFORE_PUSH", &script)
        .args(["ingest", "--fabric", "f", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["git"]["rebases"], 1, "{r:#}");
    assert_eq!(r["git"]["pushed"], true);
    let log = remote_log(&remote);
    assert_eq!(
        log[..2],
        [
            "ingest raw/a.yaml: +1 VLANNamespace, +1 IPv4Namespace",
            "docs: readme"
        ],
        "linear, nothing forced"
    );
    assert!(remote_files(&remote).contains(&"README.md".to_string()));
}

#[test]
fn a_real_conflict_stops_and_loses_nothing() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    let root = root_of(&env, "f");
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    std::fs::write(root.join("raw/b.yaml"), vpc("vpc-1", 2)).unwrap();
    let o = clone_of(&env, &remote);
    let theirs = vpc("vpc-1", 3);
    std::fs::write(env.path("theirs.yaml"), &theirs).unwrap();
    let script = format!(
        "cd {o} && cp {t} fabrics/f/gitops/managed/vpcs/vpc-1.yaml && git -c user.name=x -c user.email=x@x commit -qam 'edit vpc-1 by hand' && git push -q origin HEAD:main",
        o = o.display(),
        t = env.path("theirs.yaml").display()
    );
    let out = env
        .cmd()
        .env("HHGITOPS_TEST_BEFORE_PUSH", &script)
        .args(["ingest", "--fabric", "f"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("conflict") && err.contains("managed/vpcs/vpc-1.yaml"),
        "{err}"
    );
    assert!(
        err.contains("hhgitops/conflict-"),
        "names the branch keeping our commit: {err}"
    );
    // The remote kept their change; our commit is on a local branch; nothing was forced.
    assert_eq!(remote_log(&remote)[0], "edit vpc-1 by hand");
    let clone = root.ancestors().nth(3).unwrap().to_path_buf();
    let branches = git(&clone, &["branch", "--list", "hhgitops/conflict-*"]);
    assert!(!branches.trim().is_empty(), "conflict branch exists");
    let kept = git(
        &clone,
        &[
            "log",
            "-1",
            "--format=%s",
            branches.trim().trim_start_matches("* "),
        ],
    );
    assert_eq!(kept.trim(), "ingest raw/b.yaml: ~1 VPC");
}

#[test]
fn onboarding_a_repository_with_an_hnp_layout_and_loose_files() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    let base = "fabrics/lab/gitops";
    seed(
        &env,
        &remote,
        &[
            (&format!("{base}/.hnp/manifest.yaml"), "{\"version\": \"1.0\", \"fabric_name\": \"lab\", \"crd_directories\": [\"vpcs\"], \"archive_strategy\": \"rename_with_extension\"}\n"),
            (&format!("{base}/.hnp/archive-log.yaml"), "version: '1.0'\noperations:\n- operation: ingestion\n  timestamp: '2025-07-01T10:05:00+00:00'\n  original_file: /srv/hnp/lab/raw/old.yaml\n"),
            (&format!("{base}/unmanaged/namespaces.yaml"), NAMESPACES),
            (&format!("{base}/vpcs.yaml"), &vpc("vpc-1", 1)),
        ],
        "HNP state",
    );
    let out = env.ok(&["onboard", "lab", "--git-url", &file_url(&remote)]);
    for step in [
        "cloned",
        "upgrade .hnp/manifest.yaml",
        "move vpcs.yaml -> raw/vpcs.yaml",
        "ingested 2 file(s): 3 created",
        "pushed",
    ] {
        assert!(out.contains(step), "{step} in:\n{out}");
    }
    let log = remote_log(&remote);
    assert_eq!(log.len(), 2, "one commit for the whole onboarding: {log:?}");
    assert!(
        log[0].starts_with("onboard fabric lab: migrate fabric lab:"),
        "{}",
        log[0]
    );
    let files = remote_files(&remote);
    for f in [
        "managed/vpcs/vpc-1.yaml",
        "managed/vlannamespaces/default.yaml",
        "raw/vpcs.yaml.archived",
        "raw/unmanaged/namespaces.yaml.archived",
    ] {
        assert!(files.contains(&format!("{base}/{f}")), "{f} in {files:?}");
    }
    assert!(
        !files.contains(&format!("{base}/vpcs.yaml")),
        "moved, history kept by the rename"
    );
    let manifest = git(
        &remote,
        &["show", &format!("main:{base}/.hnp/manifest.yaml")],
    );
    assert!(
        manifest.contains("layoutVersion: 1") && manifest.contains("name: vpc-1"),
        "{manifest}"
    );
    let archive = git(
        &remote,
        &["show", &format!("main:{base}/.hnp/archive-log.yaml")],
    );
    assert!(
        archive.contains("legacyOperation: ingestion")
            && archive.contains("raw/old.yaml")
            && !archive.contains("/srv/hnp"),
        "{archive}"
    );
}

#[test]
fn a_token_never_shows_up_in_config_arguments_logs_or_errors() {
    let env = TestEnv::sqlite();
    let token = "s3cr3t-t0ken-value-4242";
    // A git wrapper on PATH that records every argument list it is given.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let argv_log = env.path("argv.log");
    let real_git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        bin.join("git"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
            argv_log.display(),
            real_git.trim()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(bin.join("git")).unwrap().permissions(),
        0o755,
    );
    Command::new("chmod")
        .args(["755", bin.join("git").to_str().unwrap()])
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let remote = bare_remote(&env, "r");
    let run = |args: &[&str]| {
        env.cmd()
            .env("PATH", &path)
            .env("MY_TOKEN", token)
            .args(["-vv"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "fabric",
        "add",
        "f",
        "--git-url",
        &file_url(&remote),
        "--git-token-env",
        "MY_TOKEN",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let root = root_of(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    let out2 = run(&["ingest", "--fabric", "f"]);
    assert_eq!(code(&out2), 0, "{}", stderr(&out2));
    // A failing operation (unreachable HTTPS remote on loopback) with the token set.
    let out3 = run(&[
        "fabric",
        "add",
        "g",
        "--git-url",
        "https://127.0.0.1:1/repo.git",
        "--git-token-env",
        "MY_TOKEN",
    ]);
    assert_eq!(code(&out3), 3);

    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.lines().count() > 3, "the wrapper saw git run: {argv}");
    assert!(!argv.contains(token), "token in git arguments: {argv}");
    for o in [&out, &out2, &out3] {
        assert!(
            !stdout(o).contains(token) && !stderr(o).contains(token),
            "token in output"
        );
    }
    let clone = root.ancestors().nth(3).unwrap().to_path_buf();
    let config = std::fs::read_to_string(clone.join(".git/config")).unwrap();
    assert!(!config.contains(token), "{config}");
    let show = env.ok(&["fabric", "show", "f", "--json"]);
    assert!(show.contains("MY_TOKEN") && !show.contains(token));
    let db = std::fs::read(env.home().join("hhgitops.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(token),
        "token stored in the database"
    );
}

#[test]
fn git_failures_are_messages_a_person_can_act_on() {
    let env = TestEnv::sqlite();
    let missing = env.path("nope.git");
    let out = env.expect_code(&["fabric", "add", "a", "--git-url", &file_url(&missing)], 3);
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("not found")
            || err.contains("does not exist")
            || err.contains("not a git repository"),
        "{err}"
    );

    let remote = bare_remote(&env, "r");
    seed(&env, &remote, &[("README.md", "x")], "init");
    let out = env.expect_code(
        &[
            "fabric",
            "add",
            "b",
            "--git-url",
            &file_url(&remote),
            "--branch",
            "no-such-branch",
        ],
        3,
    );
    assert!(stderr(&out).contains("no-such-branch"), "{}", stderr(&out));

    let out = env.expect_code(
        &[
            "fabric",
            "add",
            "c",
            "--git-url",
            "https://127.0.0.1:1/repo.git",
        ],
        3,
    );
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("unreachable") || err.contains("connect"),
        "{err}"
    );

    let out = env.expect_code(
        &[
            "fabric",
            "add",
            "d",
            "--git-url",
            "https://user:pw@127.0.0.1:1/repo.git",
        ],
        // A password in the URL is the operator's to fix (SPEC §7: configuration error).
        2,
    );
    assert!(!stderr(&out).contains(":pw@"), "{}", stderr(&out));

    let out = env
        .cmd()
        .env_remove("NOT_SET_VAR")
        .args([
            "fabric",
            "add",
            "e",
            "--git-url",
            "https://127.0.0.1:1/r.git",
            "--git-token-env",
            "NOT_SET_VAR",
        ])
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("NOT_SET_VAR"), "{}", stderr(&out));

    // Nothing registered, no clone left behind.
    let list = json(&env.expect_code(&["fabric", "list", "--json"], 0));
    assert!(list["fabrics"].as_array().unwrap().is_empty(), "{list}");
    let repos = env.home().join("repos");
    let leftovers: Vec<_> = std::fs::read_dir(&repos)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_large_ingestion_is_one_commit_with_either_commit_path() {
    let env = TestEnv::sqlite();
    let mut input = format!("{NAMESPACES}---\n");
    for n in 1..=200 {
        input.push_str(&vpc(&format!("vpc-{n}"), n));
        input.push_str("---\n");
    }
    let mut managed_trees = Vec::new();
    // The plumbing path (any number of files) and the porcelain one (never) must make the same commit.
    for (fabric, bulk_min) in [("bulk", "0"), ("plain", "1000000")] {
        let remote = bare_remote(&env, fabric);
        env.ok(&["fabric", "add", fabric, "--git-url", &file_url(&remote)]);
        let root = root_of(&env, fabric);
        std::fs::write(root.join("raw/many.yaml"), &input).unwrap();
        let out = env
            .cmd()
            .env("HHGITOPS_GIT_BULK_MIN", bulk_min)
            .args(["ingest", "--fabric", fabric, "--json"])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{fabric}: {}", stderr(&out));
        let r = json(&out);
        assert_eq!(r["git"]["pushed"], true, "{fabric}: {r:#}");
        let log = remote_log(&remote);
        assert_eq!(log.len(), 2, "{fabric}: one commit for the ingestion");
        assert!(log[0].starts_with("ingest raw/many.yaml: "), "{log:?}");
        let files = remote_files(&remote);
        let vpcs = files
            .iter()
            .filter(|f| f.starts_with(&format!("fabrics/{fabric}/gitops/managed/vpcs/")))
            .count();
        assert_eq!(vpcs, 200, "{fabric}");
        assert!(files.contains(&format!("fabrics/{fabric}/gitops/raw/many.yaml.archived")));
        let clone = root.parent().unwrap().parent().unwrap().parent().unwrap();
        assert_eq!(
            git(clone, &["status", "--porcelain", "-uall"]),
            "",
            "{fabric}: the clone is clean after the commit"
        );
        managed_trees.push(
            git(
                &remote,
                &[
                    "rev-parse",
                    &format!("main:fabrics/{fabric}/gitops/managed"),
                ],
            )
            .trim()
            .to_string(),
        );
        // Nothing to do the second time: no commit.
        env.ok(&["ingest", "--fabric", fabric]);
        assert_eq!(remote_log(&remote).len(), 2);
    }
    assert_eq!(managed_trees[0], managed_trees[1], "the same managed tree");
}
