//! `fabric add | list | show | remove`, on SQLite and PostgreSQL, with the real binary.

mod common;

use common::*;

#[test]
fn add_list_show_remove_on_every_backend() {
    for backend in backends() {
        let env = TestEnv::new(backend.clone());
        let root = env.path("fab-a");
        let out = env.ok(&["fabric", "add", "alpha", "--path", root.to_str().unwrap()]);
        assert!(
            out.contains("added fabric alpha"),
            "{}: {out}",
            backend.label()
        );
        assert!(root.join("raw").is_dir() && root.join(".hnp/manifest.yaml").is_file());
        env.ok(&["fabric", "add", "beta"]);

        let list: serde_json::Value =
            serde_json::from_str(&env.ok(&["fabric", "list", "--json"])).unwrap();
        let names: Vec<_> = list["fabrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["alpha", "beta"], "{}", backend.label());

        let show: serde_json::Value =
            serde_json::from_str(&env.ok(&["fabric", "show", "alpha", "--json"])).unwrap();
        assert_eq!(show["root"].as_str().unwrap(), root.to_str().unwrap());
        assert_eq!(show["rootRule"], "path");
        let text = env.ok(&["fabric", "show", "beta"]);
        assert!(text.contains("rule 3"), "{text}");

        env.ok(&["fabric", "remove", "alpha"]);
        assert!(
            root.join(".hnp/manifest.yaml").is_file(),
            "remove never deletes files"
        );
        let list: serde_json::Value =
            serde_json::from_str(&env.ok(&["fabric", "list", "--json"])).unwrap();
        assert_eq!(list["fabrics"].as_array().unwrap().len(), 1);
        let out = env.expect_code(&["fabric", "show", "alpha"], 2);
        assert!(stderr(&out).contains("not registered"));
        // The same root can be registered again after removal.
        env.ok(&["fabric", "add", "alpha", "--path", root.to_str().unwrap()]);
    }
}

#[test]
fn each_resolution_rule() {
    let env = TestEnv::sqlite();
    // Rule 1: --path, made absolute.
    let dir = env.path("work");
    std::fs::create_dir_all(&dir).unwrap();
    let out = env
        .cmd()
        .current_dir(&dir)
        .args(["fabric", "add", "one", "--path", "rel/gitops"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["fabric", "show", "one", "--json"])).unwrap();
    assert_eq!(
        show["root"].as_str().unwrap(),
        dir.join("rel/gitops").to_str().unwrap()
    );
    assert_eq!(show["rootRule"], "path");

    // Rule 2: the clone under the home plus --git-path (default fabrics/<fabric>/gitops).
    let repo = bare_remote(&env, "repo");
    let repo_url = format!("file://{}", repo.display());
    env.ok(&["fabric", "add", "two", "--git-url", &repo_url]);
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["fabric", "show", "two", "--json"])).unwrap();
    let root = show["root"].as_str().unwrap();
    assert!(
        root.starts_with(env.home().join("repos").to_str().unwrap()),
        "{root}"
    );
    assert!(root.ends_with("fabrics/two/gitops"), "{root}");
    assert_eq!(show["rootRule"], "git-clone");
    assert_eq!(show["git"]["url"], repo_url.as_str());
    assert!(
        std::path::Path::new(root)
            .join(".hnp/manifest.yaml")
            .is_file(),
        "cloned and initialized"
    );
    env.ok(&[
        "fabric",
        "add",
        "three",
        "--git-url",
        &repo_url,
        "--git-path",
        "net/three",
        "--branch",
        "main",
    ]);
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["fabric", "show", "three", "--json"])).unwrap();
    assert!(show["root"].as_str().unwrap().ends_with("net/three"));
    assert_eq!(show["git"]["branch"], "main");

    // Rule 3: <home>/fabrics/<fabric>/gitops.
    env.ok(&["fabric", "add", "four"]);
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["fabric", "show", "four", "--json"])).unwrap();
    assert_eq!(
        show["root"].as_str().unwrap(),
        env.home().join("fabrics/four/gitops").to_str().unwrap()
    );
    assert_eq!(show["rootRule"], "home-default");
    assert!(env
        .home()
        .join("fabrics/four/gitops/managed/switches")
        .is_dir());
}

#[test]
fn overlapping_roots_are_refused() {
    let env = TestEnv::sqlite();
    let a = env.path("roots/a");
    env.ok(&["fabric", "add", "a", "--path", a.to_str().unwrap()]);
    for (name, p) in [
        ("same", a.clone()),
        ("inner", a.join("sub")),
        ("outer", env.path("roots")),
    ] {
        let out = env.expect_code(&["fabric", "add", name, "--path", p.to_str().unwrap()], 2);
        assert!(
            stderr(&out).contains("fabric \"a\"") && stderr(&out).contains("nest roots"),
            "{}",
            stderr(&out)
        );
    }
    // A sibling whose name shares a prefix is fine.
    env.ok(&[
        "fabric",
        "add",
        "sibling",
        "--path",
        env.path("roots/ab").to_str().unwrap(),
    ]);
    // A second fabric in the same repository under another path is fine; the same path is not.
    let repo = bare_remote(&env, "r");
    let url = format!("file://{}", repo.display());
    env.ok(&[
        "fabric",
        "add",
        "g1",
        "--git-url",
        &url,
        "--git-path",
        "f/one",
    ]);
    env.ok(&[
        "fabric",
        "add",
        "g2",
        "--git-url",
        &url,
        "--git-path",
        "f/two",
    ]);
    env.expect_code(
        &[
            "fabric",
            "add",
            "g3",
            "--git-url",
            &url,
            "--git-path",
            "f/one/x",
        ],
        2,
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_half_created() {
    let env = TestEnv::sqlite();
    for bad in [
        "Upper",
        "-lead",
        "trail-",
        "has_underscore",
        "dot.name",
        &"x".repeat(64),
    ] {
        let out = env.expect_code(
            &[
                "fabric",
                "add",
                "--path",
                env.path("x").to_str().unwrap(),
                "--",
                bad,
            ],
            2,
        );
        let err = stderr(&out);
        assert!(
            err.contains("invalid fabric name") && err.lines().count() == 1,
            "{err}"
        );
    }
    assert!(
        !env.path("x").exists(),
        "no folder created for a refused fabric"
    );

    for gp in ["../escape", "/abs/path", "a/../../b"] {
        let out = env.expect_code(
            &[
                "fabric",
                "add",
                "g",
                "--git-url",
                "file:///r.git",
                "--git-path",
                gp,
            ],
            2,
        );
        assert!(stderr(&out).contains("--git-path"), "{}", stderr(&out));
    }

    // A file where the root should be.
    let file = env.path("afile");
    std::fs::write(&file, "x").unwrap();
    let out = env.expect_code(&["fabric", "add", "f", "--path", file.to_str().unwrap()], 2);
    assert!(stderr(&out).contains("not a folder"), "{}", stderr(&out));
    // A file in the middle of the path.
    let out = env.expect_code(
        &[
            "fabric",
            "add",
            "f",
            "--path",
            file.join("sub").to_str().unwrap(),
        ],
        2,
    );
    assert!(stderr(&out).contains("not a folder"), "{}", stderr(&out));

    // An unwritable parent (root can write anywhere, so only check when we are not root).
    let ro = env.path("readonly");
    std::fs::create_dir(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
    std::fs::set_permissions(&ro, perm).unwrap();
    if std::fs::create_dir(ro.join("probe")).is_err() {
        let out = env.expect_code(
            &[
                "fabric",
                "add",
                "f",
                "--path",
                ro.join("g").to_str().unwrap(),
            ],
            2,
        );
        assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
    } else {
        eprintln!("note: running as root, the unwritable-folder case cannot be produced here");
    }

    // A database URL of an unknown scheme.
    let out = env
        .cmd()
        .env("HHGITOPS_DATABASE_URL", "mysql://u:secret@h/db")
        .args(["fabric", "list"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown scheme") && !stderr(&out).contains("secret"),
        "{}",
        stderr(&out)
    );

    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["fabric", "list", "--json"])).unwrap();
    assert!(
        list["fabrics"].as_array().unwrap().is_empty(),
        "no fabric row left behind: {list}"
    );
}

#[test]
fn failed_add_leaves_no_row_and_no_folders() {
    let env = TestEnv::sqlite();
    // A corrupt manifest makes init fail after the row was inserted and before commit.
    let root = env.path("corrupt");
    std::fs::create_dir_all(root.join(".hnp")).unwrap();
    std::fs::write(
        root.join(".hnp/manifest.yaml"),
        "layoutVersion: [unclosed\n",
    )
    .unwrap();
    let out = env.expect_code(&["fabric", "add", "c", "--path", root.to_str().unwrap()], 2);
    assert!(stderr(&out).contains("manifest.yaml"), "{}", stderr(&out));
    assert_eq!(
        tree(&root),
        [".hnp/", ".hnp/manifest.yaml"],
        "no folders created"
    );
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["fabric", "list", "--json"])).unwrap();
    assert!(list["fabrics"].as_array().unwrap().is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::sqlite();
    env.expect_code(
        &[
            "fabric",
            "add",
            "x",
            "--path",
            "/tmp/a",
            "--git-url",
            "file:///r.git",
        ],
        2,
    );
    env.expect_code(&["init"], 2);
    env.expect_code(&["init", "--fabric", "nope"], 2);
    env.expect_code(&["no-such-command"], 2);
    let help = env.ok(&["--help"]);
    for cmd in [
        "fabric", "init", "ingest", "validate", "status", "delete", "sync", "drift", "import",
        "onboard", "reindex", "serve",
    ] {
        assert!(help.contains(cmd), "--help lists {cmd}");
        env.ok(&[cmd, "--help"]);
    }
}
