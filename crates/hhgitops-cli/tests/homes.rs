//! Several hhgitops processes, each with a home of its own (as on several machines), on one database or one
//! SQLite per home, with real `git` and a bare remote: each resolves a Git fabric's root in its own clone, works
//! there and pushes, and the others pull its work; a `--path` fabric must be the same path for all of them,
//! and a process that does not see it there says so. Also: a database made before roots were resolved per
//! home keeps working.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn show(env: &TestEnv, fabric: &str) -> serde_json::Value {
    json(&env.expect_code(&["fabric", "show", fabric, "--json"], 0))
}

fn ingest(env: &TestEnv, fabric: &str) -> serde_json::Value {
    json(&env.expect_code(&["ingest", "--fabric", fabric, "--json"], 0))
}

/// Two homes working on one Git fabric take turns: each ingests in its own clone and pushes, the other pulls
/// that work with its next operation, and no commit of one carries the other's work.
fn take_turns(a: &TestEnv, b: &TestEnv, remote: &Path) {
    let root_a = root_of(a, "f");
    assert!(root_a.starts_with(a.home().join("repos")), "{root_a:?}");

    let root_b = root_of(b, "f");
    assert!(
        root_b.starts_with(b.home().join("repos")),
        "the second home resolves the root in its own clone: {root_b:?}"
    );
    assert!(root_b.ends_with("fabrics/f/gitops"), "{root_b:?}");

    // The second home clones on its first operation and works there.
    let r = ingest(b, "f");
    assert_eq!(r["changed"], false, "{r:#}");
    assert!(root_b.join(".hnp/manifest.yaml").is_file());
    assert_eq!(show(b, "f")["rootState"]["state"], "ready");
    std::fs::write(
        root_b.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    let r = ingest(b, "f");
    assert_eq!(r["summary"]["ingested"], 1, "{r:#}");
    assert_eq!(r["git"]["pushed"], true, "{r:#}");
    assert!(
        r.get("gitError").is_none(),
        "no work-tree error in the second home: {r:#}"
    );
    assert!(root_b.join("managed/vpcs/vpc-1.yaml").is_file());
    assert!(
        !root_a.join("managed/vpcs/vpc-1.yaml").exists(),
        "nothing was written into the first home's clone"
    );
    let log = remote_log(remote);
    assert_eq!(
        log[0],
        "ingest raw/a.yaml: +1 VLANNamespace, +1 IPv4Namespace, +1 VPC"
    );

    // The first home pulls the second's work, and commits nothing of it.
    let before = log.len();
    let r = ingest(a, "f");
    assert_eq!(r["changed"], false, "{r:#}");
    assert!(root_a.join("managed/vpcs/vpc-1.yaml").is_file(), "pulled");
    assert_eq!(
        remote_log(remote).len(),
        before,
        "no commit of the other's work"
    );

    // And the other way round.
    std::fs::write(root_a.join("raw/b.yaml"), vpc("vpc-2", 2)).unwrap();
    let r = ingest(a, "f");
    assert_eq!(r["git"]["pushed"], true, "{r:#}");
    let r = ingest(b, "f");
    assert_eq!(r["changed"], false, "{r:#}");
    assert!(root_b.join("managed/vpcs/vpc-2.yaml").is_file());
    let log = remote_log(remote);
    assert_eq!(log.len(), before + 1, "{log:?}");
    assert!(
        !log.iter().any(|m| m.contains("no object changes")),
        "{log:?}"
    );
    for env in [a, b] {
        let status = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
        assert_eq!(status["counts"]["VPC"], 2, "{status:#}");
        assert_eq!(
            status["root"].as_str().map(PathBuf::from),
            Some(root_of(env, "f")),
            "{status:#}"
        );
        let text = stdout(&env.expect_code(&["fabric", "show", "f"], 0));
        assert!(text.contains("root state: ready"), "{text}");
    }
}

#[test]
fn two_homes_on_one_postgresql_each_work_in_their_own_clone() {
    let Some(backend) = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
    else {
        return;
    };
    let a = TestEnv::new(backend);
    let b = a.second_home();
    let remote = bare_remote(&a, "remote");
    a.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);

    // Before its first operation the second home has no clone, and says so.
    let s = show(&b, "f");
    assert_eq!(s["rootState"]["state"], "notCloned", "{s:#}");
    let out = b.expect_code(&["drift", "--fabric", "f"], 2);
    assert!(
        stderr(&out).contains("not cloned in this home yet"),
        "{}",
        stderr(&out)
    );

    take_turns(&a, &b, &remote);
    drop(b);
}

#[test]
fn two_homes_each_with_its_own_sqlite_share_one_remote() {
    let a = TestEnv::sqlite();
    let b = TestEnv::sqlite();
    let remote = bare_remote(&a, "remote");
    a.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    // The second home registers the same fabric: its clone already holds the layout, nothing to commit.
    b.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    assert_eq!(remote_log(&remote).len(), 1, "{:?}", remote_log(&remote));
    take_turns(&a, &b, &remote);
}

#[test]
fn a_path_fabric_must_be_the_same_path_for_every_process() {
    for backend in backends() {
        let a = TestEnv::new(backend.clone());
        // With PostgreSQL another home shares the database; with SQLite the one home plays both parts.
        let second = matches!(backend, Backend::Postgres(_)).then(|| a.second_home());
        let b = second.as_ref().unwrap_or(&a);
        let label = backend.label();
        let root = fabric_at(&a, "p");
        // Another process (another home) on the same machine sees the same folder: it works.
        assert_eq!(root_of(b, "p"), root, "{label}");
        assert_eq!(show(b, "p")["rootState"]["state"], "ready", "{label}");
        std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
        let r = ingest(b, "p");
        assert_eq!(r["summary"]["ingested"], 1, "{label}: {r:#}");

        // On a machine where the folder is not there, the process says so instead of making a new one.
        let moved = a.path("moved-away");
        std::fs::rename(&root, &moved).unwrap();
        assert_eq!(show(b, "p")["rootState"]["state"], "missing", "{label}");
        let out = b.expect_code(&["ingest", "--fabric", "p"], 2);
        let err = stderr(&out);
        assert!(
            err.contains("does not exist on this machine")
                && err.contains("same path")
                && err.contains(root.to_str().unwrap()),
            "{label}: {err}"
        );
        assert!(
            !root.exists(),
            "{label}: nothing created at the missing root"
        );

        // Where that path holds another fabric's root, it is refused too.
        a.ok(&[
            "fabric",
            "add",
            "q",
            "--path",
            a.path("q").to_str().unwrap(),
        ]);
        let q = a.path("q");
        std::fs::rename(&q, &root).unwrap();
        let s = show(b, "p");
        assert_eq!(s["rootState"]["state"], "otherFabric", "{label}: {s:#}");
        assert_eq!(s["rootState"]["manifestFabric"], "q", "{label}: {s:#}");
        for args in [
            &["ingest", "--fabric", "p"][..],
            &["reindex", "--fabric", "p"][..],
            &["delete", "--fabric", "p", "VPC/x"][..],
        ] {
            let out = b.expect_code(args, 2);
            let err = stderr(&out);
            assert!(
                err.contains("names fabric \"q\"") && err.contains("same path"),
                "{label} {args:?}: {err}"
            );
        }
        let text = stdout(&b.expect_code(&["fabric", "show", "p"], 0));
        assert!(
            text.contains("not this fabric's root: its .hnp/manifest.yaml names fabric \"q\""),
            "{label}: {text}"
        );
        drop(second);
    }
}

#[test]
fn a_home_default_fabric_of_another_home_is_reported_not_recreated() {
    let Some(backend) = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
    else {
        return;
    };
    let a = TestEnv::new(backend);
    let b = a.second_home();
    a.ok(&["fabric", "add", "h"]);
    let root_b = root_of(&b, "h");
    assert_eq!(root_b, b.home().join("fabrics/h/gitops"));
    assert_eq!(show(&b, "h")["rootState"]["state"], "missing");
    let out = b.expect_code(&["ingest", "--fabric", "h"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("does not exist in this home") && err.contains("Git remote"),
        "{err}"
    );
    assert!(!root_b.exists());
    // The first home still works on it.
    std::fs::write(a.home().join("fabrics/h/gitops/raw/ns.yaml"), NAMESPACES).unwrap();
    assert_eq!(ingest(&a, "h")["summary"]["ingested"], 1);
    drop(b);
}

/// A fabric row of the first schema: name, rule, root_path, path, git_url.
type OldRow = (
    &'static str,
    &'static str,
    String,
    Option<String>,
    Option<String>,
);

/// A database made by a build that stored each fabric's resolved root: after the migration, a Git fabric's
/// root is resolved in the current home (not the recorded one of another machine), and a `--path` fabric
/// keeps its path, even when only the resolved root had been recorded.
#[test]
fn a_database_with_recorded_roots_keeps_working() {
    for backend in backends() {
        let env = TestEnv::new(backend.clone());
        let label = backend.label();
        let db_url = match &backend {
            Backend::Sqlite => {
                std::fs::create_dir_all(env.home()).unwrap();
                format!(
                    "sqlite://{}?mode=rwc",
                    env.home().join("hhgitops.db").display()
                )
            }
            Backend::Postgres(u) => u.clone(),
        };
        let remote = bare_remote(&env, "remote");
        let plain = env.path("plain-root");
        let old = env.path("old-root");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // The schema as the first migration made it.
            let migrations = env.path("first-migration");
            std::fs::create_dir_all(&migrations).unwrap();
            let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../hhgitops-engine/migrations/20261126000001_initial.sql");
            std::fs::copy(&src, migrations.join("20261126000001_initial.sql")).unwrap();
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&db_url).await.unwrap();
            sqlx::migrate::Migrator::new(migrations.as_path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            let rows: [OldRow; 3] = [
                (
                    "g",
                    "git-clone",
                    "/elsewhere/home/repos/remote-0123456789ab/fabrics/g/gitops".into(),
                    None,
                    Some(file_url(&remote)),
                ),
                (
                    "p",
                    "path",
                    plain.display().to_string(),
                    Some(plain.display().to_string()),
                    None,
                ),
                ("o", "path", old.display().to_string(), None, None),
            ];
            for (name, rule, root, path, git_url) in rows {
                sqlx::query(
                    "INSERT INTO fabrics (name, root_rule, root_path, path, git_url, options, created_at) \
                     VALUES ($1, $2, $3, $4, $5, '{}', '2026-11-26T00:00:00Z')",
                )
                .bind(name)
                .bind(rule)
                .bind(root)
                .bind(path)
                .bind(git_url)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        });
        let g = root_of(&env, "g");
        assert!(g.starts_with(env.home().join("repos")), "{label}: {g:?}");
        assert!(g.ends_with("fabrics/g/gitops"), "{label}: {g:?}");
        assert_eq!(root_of(&env, "p"), plain, "{label}");
        let o = show(&env, "o");
        assert_eq!(o["root"], old.to_str().unwrap(), "{label}");
        assert_eq!(o["path"], old.to_str().unwrap(), "{label}");
        // The Git fabric works in this home: init clones, makes and pushes the layout.
        env.ok(&["init", "--fabric", "g"]);
        assert!(g.join(".hnp/manifest.yaml").is_file(), "{label}");
        assert_eq!(remote_log(&remote), ["init fabric g: create layout"]);
    }
}
