//! The GitOps root is a sandbox, roots cannot hurt, nothing wedges a fabric, hostile input is cheap to reject
//! (issue 10, items 1–4). Every test runs the real binary; a sentinel folder outside the root holds files
//! whose every entry and byte is compared before and after each command.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Every entry below `dir`: files with their bytes, links with their target, folders.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let v = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p);
                "dir".to_string()
            } else {
                format!("file {:?}", std::fs::read(&p).unwrap())
            };
            out.insert(rel, v);
        }
    }
    out
}

/// A folder outside every root, with files and subfolders that no command may touch.
struct Sentinel {
    dir: PathBuf,
    before: BTreeMap<String, String>,
}

impl Sentinel {
    fn new(env: &TestEnv) -> Sentinel {
        let dir = env.path("sentinel");
        std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        std::fs::write(dir.join("victim.yaml"), NAMESPACES).unwrap();
        std::fs::write(dir.join("sub/deeper/x.yaml"), "kind: x\n").unwrap();
        std::fs::write(dir.join("sub/secret"), "secret").unwrap();
        let before = snapshot(&dir);
        Sentinel { dir, before }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    #[track_caller]
    fn unchanged(&self, after: &str) {
        assert_eq!(
            snapshot(&self.dir),
            self.before,
            "the sentinel outside the root changed after {after}"
        );
    }
}

/// Someone who can push: clones, lets `change` alter the work tree, commits everything (`add -f`) and pushes.
fn push_as_attacker(env: &TestEnv, remote: &Path, change: impl FnOnce(&Path)) {
    let dir = env.path(&format!("attacker-{}", uuid::Uuid::new_v4().simple()));
    git(
        env.dir.path(),
        &["clone", "-q", &file_url(remote), dir.to_str().unwrap()],
    );
    change(&dir);
    git(&dir, &["add", "-A", "-f"]);
    git(&dir, &["commit", "-q", "-m", "innocent"]);
    git(&dir, &["push", "-q", "origin", "HEAD:main"]);
}

const GITOPS: &str = "fabrics/f/gitops";

/// A committed journal whose steps write outside the root and delete the sentinel's file.
fn hostile_journal(gitops: &Path, sentinel: &Sentinel) {
    let t = gitops.join(".hnp/txn/1-evil");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("f0"), "pwned").unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(sentinel.path("victim.yaml")).unwrap(),
        ))
    };
    let journal = serde_json::json!({
        "version": 1,
        "steps": [
            {"op": "put", "target": "../../../../sentinel/sub/pwned", "staged": "f0"},
            {"op": "put", "target": sentinel.path("sub/abs").display().to_string(), "staged": "f0"},
            {"op": "remove", "target": sentinel.path("victim.yaml").display().to_string(), "sha256": sha},
            {"op": "remove", "target": "../../../../../sentinel/victim.yaml", "sha256": sha},
        ]
    });
    std::fs::write(t.join("journal.json"), journal.to_string()).unwrap();
}

#[test]
fn a_journal_pushed_to_the_repository_is_never_applied() {
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let remote = bare_remote(&env, "remote");
    env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    push_as_attacker(&env, &remote, |d| hostile_journal(&d.join(GITOPS), &s));
    for args in [
        &["ingest", "--fabric", "f"][..],
        &["delete", "--fabric", "f", "vpc/none"],
    ] {
        let out = env.run(args);
        assert_ne!(code(&out), 0, "{args:?}: {}", stdout(&out));
        s.unchanged(&format!("{args:?}"));
    }
    // reindex does not pull: its recovery checks the journal itself and refuses it.
    env.run(&["reindex", "--fabric", "f"]);
    s.unchanged("reindex");
    let out = env.expect_code(&["ingest", "--fabric", "f"], 2);
    assert!(
        stderr(&out).contains("tracked in Git") && stderr(&out).contains("git rm -r --cached"),
        "{}",
        stderr(&out)
    );
    // Adding a fabric from that repository is refused the same way, before anything is registered.
    let env2 = TestEnv::sqlite();
    let out = env2.expect_code(&["fabric", "add", "f", "--git-url", &file_url(&remote)], 2);
    assert!(stderr(&out).contains("tracked in Git"), "{}", stderr(&out));
    s.unchanged("fabric add of the repository");
    let out = env2.expect_code(
        &[
            "onboard",
            "g",
            "--git-url",
            &file_url(&remote),
            "--git-path",
            GITOPS,
        ],
        2,
    );
    assert!(stderr(&out).contains("tracked in Git"), "{}", stderr(&out));
    s.unchanged("onboard of the repository");
}

#[test]
fn a_journal_in_the_tree_outside_git_is_refused_and_reported() {
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let root = env.path("r/gitops");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    hostile_journal(&root, &s);
    let out = env.ok(&["ingest", "--fabric", "f", "--json"]);
    s.unchanged("ingest");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refused = v["recovery"]["refused"]
        .as_array()
        .expect("recovery.refused");
    assert_eq!(refused.len(), 1, "{v}");
    assert!(refused[0].as_str().unwrap().contains("nothing applied"));
    assert!(!root.join(".hnp/txn/1-evil").exists());
    env.ok(&["ingest", "--fabric", "f"]);
}

#[test]
fn a_linked_txn_folder_deletes_nothing() {
    // Committed to the repository.
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let remote = bare_remote(&env, "remote");
    env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    let target = s.dir.clone();
    push_as_attacker(&env, &remote, |d| {
        symlink(&target, d.join(GITOPS).join(".hnp/txn")).unwrap();
    });
    for args in [
        &["ingest", "--fabric", "f"][..],
        &["reindex", "--fabric", "f"],
    ] {
        let out = env.run(args);
        assert_ne!(code(&out), 0, "{args:?}");
        s.unchanged(&format!("{args:?}"));
    }
    // Made locally.
    let env = TestEnv::sqlite();
    let root = env.path("local/gitops");
    env.ok(&["fabric", "add", "g", "--path", root.to_str().unwrap()]);
    symlink(&s.dir, root.join(".hnp/txn")).unwrap();
    for args in [
        &["ingest", "--fabric", "g"][..],
        &["reindex", "--fabric", "g"],
        &["status", "--fabric", "g"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
        s.unchanged(&format!("{args:?}"));
    }
    let out = env.expect_code(&["init", "--check", "--fabric", "g"], 1);
    assert!(
        stdout(&out).contains(".hnp/txn: is a symbolic link"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn layout_folders_that_are_links_are_layout_errors() {
    for (i, layout) in ["raw", "managed", "managed/vpcs", ".hnp"]
        .iter()
        .enumerate()
    {
        let env = TestEnv::sqlite();
        let s = Sentinel::new(&env);
        let root = env.path("root");
        env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
        std::fs::write(
            root.join("raw/a.yaml"),
            format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
        )
        .unwrap();
        if *layout != "raw" {
            env.ok(&["ingest", "--fabric", "f"]);
            std::fs::write(root.join("raw/b.yaml"), vpc("vpc-2", 2)).unwrap();
        }
        let real = root.join(layout);
        let moved = env.path(&format!("moved-{i}"));
        std::fs::rename(&real, &moved).unwrap();
        // The link points into the sentinel, which holds a copy of what was there.
        let into = s.path("sub");
        symlink(&into, &real).unwrap();
        let s = Sentinel {
            before: snapshot(&s.dir),
            dir: s.dir,
        };
        let out = env.expect_code(&["init", "--check", "--fabric", "f"], 1);
        assert!(
            stdout(&out).contains(&format!("{layout}: is a symbolic link")),
            "{layout}: {}",
            stdout(&out)
        );
        for args in [
            &["ingest", "--fabric", "f"][..],
            &["init", "--fabric", "f"],
            &["reindex", "--fabric", "f"],
            &["delete", "--fabric", "f", "vpc/vpc-1"],
        ] {
            let out = env.run(args);
            assert_eq!(code(&out), 2, "{layout} {args:?}: {}", stderr(&out));
            s.unchanged(&format!("{layout} {args:?}"));
        }
    }
}

#[test]
fn onboard_of_a_repository_with_a_linked_raw_folder_moves_nothing() {
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let remote = bare_remote(&env, "remote");
    let target = s.dir.clone();
    push_as_attacker(&env, &remote, |d| {
        let g = d.join(GITOPS);
        std::fs::create_dir_all(&g).unwrap();
        symlink(&target, g.join("raw")).unwrap();
        std::fs::write(g.join("loose.yaml"), NAMESPACES).unwrap();
    });
    let out = env.run(&["onboard", "f", "--git-url", &file_url(&remote)]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    s.unchanged("onboard");
    env.expect_code(&["fabric", "list"], 0);
}

#[test]
fn links_and_special_files_in_raw_are_refused_not_read() {
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let root = env.path("root");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    symlink(
        root.join(".hnp/manifest.yaml"),
        root.join("raw/inside.yaml"),
    )
    .unwrap();
    symlink(
        root.join("managed/vlannamespaces/default.yaml"),
        root.join("raw/managed.yaml"),
    )
    .unwrap();
    symlink(s.path("victim.yaml"), root.join("raw/out.yaml")).unwrap();
    let fifo = root.join("raw/pipe.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = env.run(&["ingest", "--fabric", "f", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    s.unchanged("ingest");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let refused: BTreeMap<String, String> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for f in ["raw/inside.yaml", "raw/managed.yaml", "raw/out.yaml"] {
        assert!(refused[f].contains("symbolic link"), "{f}: {refused:?}");
    }
    assert!(refused["raw/pipe.yaml"].contains("FIFO"), "{refused:?}");
    assert_eq!(v["summary"]["files"], 0, "no link or FIFO is read: {v}");
    // Still there, untouched.
    assert!(root.join("raw/inside.yaml").is_symlink());
    assert!(std::fs::symlink_metadata(&fifo).is_ok());
}

#[test]
fn a_dangling_link_at_the_archive_name_is_never_overwritten() {
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let root = env.path("root");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    symlink(
        s.path("sub/created-by-hhgitops"),
        root.join("raw/ns.yaml.archived"),
    )
    .unwrap();
    let out = env.ok(&["ingest", "--fabric", "f", "--json"]);
    s.unchanged("ingest");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["files"][0]["archivedTo"], "raw/ns.yaml.2.archived", "{v}");
    assert!(root.join("raw/ns.yaml.archived").is_symlink());
}

#[test]
fn long_and_non_utf8_names_never_wedge_a_fabric() {
    let env = TestEnv::sqlite();
    let root = env.path("root");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    // 250 bytes: `<name>.archived` would exceed 255.
    let long = format!("raw/{}.yaml", "a".repeat(245));
    std::fs::write(root.join(&long), vpc("vpc-1", 1)).unwrap();
    // An object name of 252 characters, a valid RFC 1123 subdomain whose `<name>.yaml` is too long.
    let name = format!(
        "{}.{}.{}.{}",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(63),
        "e".repeat(60)
    );
    std::fs::write(root.join("raw/long-object.yaml"), vpc(&name, 2)).unwrap();
    // A name that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let bad = root
        .join("raw")
        .join(std::ffi::OsStr::from_bytes(b"bad-\xff.yaml"));
    std::fs::write(&bad, vpc("vpc-3", 3)).unwrap();
    let out = env.run(&["ingest", "--fabric", "f", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let text = v.to_string();
    assert!(text.contains("at most 240 bytes"), "{text}");
    assert!(text.contains("limited to 250 characters"), "{text}");
    assert!(text.contains("not valid UTF-8"), "{text}");
    assert_eq!(
        v["summary"]["ingested"], 1,
        "ns.yaml is ingested all the same: {v}"
    );
    let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    // Every later run works; nothing is archived again and again.
    for _ in 0..2 {
        let out = env.run(&["ingest", "--fabric", "f"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        env.ok(&["reindex", "--fabric", "f"]);
    }
    assert!(bad.exists(), "the file with a bad name stays as it is");
    assert!(root.join(&long).exists());
    assert_eq!(
        std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap(),
        log,
        "refusals are not logged again on every run"
    );
    env.ok(&["validate", "--fabric", "f"]);
    let out = env.run(&[
        "validate",
        root.join("raw/long-object.yaml").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("limited to 250"), "{text}");
}

#[test]
fn roots_that_would_hurt_are_refused() {
    let env = TestEnv::sqlite();
    let s = Sentinel::new(&env);
    let user_home = env.path("userhome");
    std::fs::create_dir_all(&user_home).unwrap();
    std::fs::write(user_home.join("notes.yaml"), NAMESPACES).unwrap();
    let other = env.path("other/gitops");
    env.ok(&["fabric", "add", "other", "--path", other.to_str().unwrap()]);
    let link = env.path("link-to-other");
    symlink(&other, &link).unwrap();
    // Another home's fabric inside a folder this home would take.
    let foreign = env.path("data/inner/gitops");
    std::fs::create_dir_all(foreign.join(".hnp")).unwrap();
    let home = env.home();
    let cases: Vec<(String, &str)> = vec![
        ("/".into(), "file system's root"),
        ("/etc".into(), "system"),
        ("/usr/share/hhgitops".into(), "system"),
        (user_home.display().to_string(), "home directory"),
        (env.dir.path().display().to_string(), "hhgitops home"),
        (home.display().to_string(), "hhgitops home"),
        (env.path("other").display().to_string(), "fabric \"other\""),
        (link.display().to_string(), "fabric \"other\""),
        (link.join("sub").display().to_string(), "fabric \"other\""),
        (
            env.path("data").display().to_string(),
            "contains another GitOps root",
        ),
        (
            foreign.join("x").display().to_string(),
            "inside another GitOps root",
        ),
    ];
    for (path, why) in &cases {
        let out = env
            .cmd()
            .env("HOME", &user_home)
            .args(["fabric", "add", "f", "--path", path])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{path}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot be a GitOps root") && stderr(&out).contains(why),
            "{path}: {}",
            stderr(&out)
        );
        s.unchanged(path);
    }
    assert!(user_home.join("notes.yaml").is_file());
    let remote = bare_remote(&env, "remote");
    for p in [".git", ".git/hooks", "a/.git/b"] {
        let out = env.run(&[
            "fabric",
            "add",
            "g",
            "--git-url",
            &file_url(&remote),
            "--git-path",
            p,
        ]);
        assert_eq!(code(&out), 2, "{p}: {}", stderr(&out));
        assert!(stderr(&out).contains("inside .git"), "{}", stderr(&out));
    }
    let listed = env.ok(&["fabric", "list"]);
    assert!(
        !listed.contains("\nf ") && !listed.starts_with("f "),
        "{listed}"
    );
}

#[test]
fn fabric_add_moves_nothing_and_init_migrate_does() {
    let env = TestEnv::sqlite();
    let root = env.path("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("loose.yaml"), NAMESPACES).unwrap();
    std::fs::write(root.join("sub/more.yml"), vpc("vpc-1", 1)).unwrap();
    let out = env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    assert!(root.join("loose.yaml").is_file(), "{out}");
    assert!(root.join("sub/more.yml").is_file());
    let out = env.run(&[
        "fabric",
        "add",
        "g",
        "--path",
        env.path("g").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    let out = env.expect_code(&["init", "--check", "--fabric", "f"], 1);
    assert!(stdout(&out).contains("init --migrate"), "{}", stdout(&out));
    let out = env.ok(&["init", "--fabric", "f"]);
    assert!(
        root.join("loose.yaml").is_file(),
        "init alone moves nothing: {out}"
    );
    let out = env.ok(&["init", "--dry-run", "--migrate", "--fabric", "f"]);
    assert!(
        out.contains("would move loose.yaml -> raw/loose.yaml"),
        "{out}"
    );
    assert!(root.join("loose.yaml").is_file());
    env.ok(&["init", "--migrate", "--fabric", "f"]);
    assert!(root.join("raw/loose.yaml").is_file());
    assert!(root.join("raw/sub/more.yml").is_file());
    env.ok(&["init", "--check", "--fabric", "f"]);
}

#[test]
fn hostile_yaml_is_rejected_before_it_is_built() {
    let env = TestEnv::sqlite();
    let root = env.path("root");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    let mut flow = String::from("kind: VPC\nlist: [");
    for _ in 0..300_000 {
        flow.push_str("1,");
    }
    flow.push_str("1]\n");
    std::fs::write(root.join("raw/flow.yaml"), &flow).unwrap();
    let mut map = String::new();
    for i in 0..300_000 {
        map.push_str(&format!("k{i}: 1\n"));
    }
    std::fs::write(root.join("raw/map.yaml"), &map).unwrap();
    let out = env.run(&["ingest", "--fabric", "f", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("entries in one mapping or sequence").count(),
        2,
        "{text}"
    );
    // The manifest and the log are read with their own limits, never the raw-file limit.
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    env.ok(&[
        "ingest",
        "--fabric",
        "f",
        "--file",
        root.join("raw/ns.yaml").to_str().unwrap(),
    ]);
    let out = env.run(&["ingest", "--fabric", "f", "--max-file-size", "64"]);
    assert_eq!(
        code(&out),
        1,
        "only the raw files are held to 64 bytes: {}",
        stderr(&out)
    );
    env.ok(&["reindex", "--fabric", "f"]);
}

#[test]
fn a_committed_journal_that_can_no_longer_apply_is_resolved_once() {
    let env = TestEnv::sqlite();
    let root = env.path("root");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    // An interrupted transaction from a run that named an object too long for a file name (an older
    // hhgitops accepted it), and one whose target became a folder since.
    for (id, target) in [
        ("1-long", format!("managed/vpcs/{}.yaml", "v".repeat(252))),
        ("2-dir", "managed/vpcs/vpc-9.yaml".to_string()),
    ] {
        let t = root.join(".hnp/txn").join(id);
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("f0"), vpc("vpc-9", 9)).unwrap();
        let j = serde_json::json!({"version": 1, "steps": [{"op": "put", "target": target, "staged": "f0"}]});
        std::fs::write(t.join("journal.json"), j.to_string()).unwrap();
    }
    std::fs::create_dir_all(root.join("managed/vpcs/vpc-9.yaml")).unwrap();
    let out = env.run(&["ingest", "--fabric", "f"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(".hnp/txn/1-long/journal.json: refused"),
        "{err}"
    );
    assert!(
        err.contains("more than the file system's limit of 255 bytes"),
        "{err}"
    );
    assert!(
        err.contains(".hnp/txn/2-dir/journal.json: step 1 (write managed/vpcs/vpc-9.yaml) can no longer be applied"),
        "{err}"
    );
    assert!(
        root.join("managed/vpcs/vpc-9.yaml").is_dir(),
        "the folder in the way is kept"
    );
    // Resolved once: later runs, delete and reindex work and say nothing more about it.
    for args in [
        &["ingest", "--fabric", "f"][..],
        &["reindex", "--fabric", "f"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("journal"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read_dir(root.join(".hnp/txn")).unwrap().count(), 0);
}
