//! True state with the real binary: a rejection is retried once what it depended on changes (another file, a
//! missing object, the size limit), `status` says why a file is still rejected and never reads a stale index,
//! an interrupted ingestion is committed with its own message, a blocked Git state is shown with what to do,
//! `delete` of an object not in the inventory is an error, a re-added fabric has no old runs, and a fully
//! applied transaction is never reported as discarded.

mod common;

use common::*;

fn file_status(report: &serde_json::Value, file: &str) -> String {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in {report:#}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn ingest_json(env: &TestEnv, code: i32) -> serde_json::Value {
    json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], code))
}

/// Two raw files define the same object: both are rejected. Once one is removed, the other is ingested.
#[test]
fn a_file_rejected_for_a_conflict_is_retried_once_the_other_file_is_gone() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    std::fs::write(root.join("raw/a.yaml"), vpc("vpc-1", 1)).unwrap();
    std::fs::write(root.join("raw/b.yaml"), vpc("vpc-1", 2)).unwrap();
    let r = ingest_json(&env, 1);
    assert_eq!(file_status(&r, "raw/a.yaml"), "rejected");
    assert_eq!(file_status(&r, "raw/b.yaml"), "rejected");
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    let rejected = st["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{st:#}");
    assert_eq!(rejected[0]["cause"], "conflict", "status says why: {st:#}");
    assert!(
        rejected[0]["retriedWhen"]
            .as_str()
            .unwrap()
            .contains("other raw file"),
        "{st:#}"
    );
    // Nothing changed: not validated again.
    let r = ingest_json(&env, 1);
    assert_eq!(r["files"][0]["previouslyRejected"], true, "{r:#}");
    std::fs::remove_file(root.join("raw/b.yaml")).unwrap();
    let r = ingest_json(&env, 0);
    assert_eq!(file_status(&r, "raw/a.yaml"), "ingested", "{r:#}");
    assert!(root.join("managed/vpcs/vpc-1.yaml").is_file());
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["rejected"].as_array().unwrap().len(), 0, "{st:#}");
    assert_consistent(&env, "f", &root);
}

/// A VPC whose namespaces are missing is rejected; once `ingest --file` brought them, the VPC is retried.
#[test]
fn a_file_rejected_for_a_missing_reference_is_retried_once_the_object_exists() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/vpc.yaml"), vpc("vpc-1", 1)).unwrap();
    let r = ingest_json(&env, 1);
    assert_eq!(file_status(&r, "raw/vpc.yaml"), "rejected", "{r:#}");
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["rejected"][0]["cause"], "state", "{st:#}");
    let ns = env.path("ns.yaml");
    std::fs::write(&ns, NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f", "--file", ns.to_str().unwrap()]);
    let r = ingest_json(&env, 0);
    assert_eq!(file_status(&r, "raw/vpc.yaml"), "ingested", "{r:#}");
    assert_consistent(&env, "f", &root);
}

/// A file over the size limit is retried when a run allows larger files.
#[test]
fn a_file_rejected_for_its_size_is_retried_when_the_limit_is_raised() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let r = json(&env.expect_code(
        &[
            "ingest",
            "--fabric",
            "f",
            "--json",
            "--max-file-size",
            "100",
        ],
        1,
    ));
    assert_eq!(file_status(&r, "raw/ns.yaml"), "rejected", "{r:#}");
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["rejected"][0]["cause"], "size", "{st:#}");
    let r = ingest_json(&env, 0);
    assert_eq!(file_status(&r, "raw/ns.yaml"), "ingested", "{r:#}");
}

/// A rejection that is validated again (another file arrived) with the same errors is no news: no new log
/// entry, no new commit.
#[test]
fn a_rejection_validated_again_with_the_same_errors_is_not_logged_again() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/bad.yaml"), "kind: Nothing\n").unwrap();
    ingest_json(&env, 1);
    let log = || std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    let rejects = |s: &str| s.matches("operation: reject").count();
    assert_eq!(rejects(&log()), 1);
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let r = ingest_json(&env, 1);
    assert_eq!(file_status(&r, "raw/bad.yaml"), "rejected");
    assert_eq!(rejects(&log()), 1, "{}", log());
}

/// The database is re-created while the manifest lists objects: status counts the manifest, not the empty
/// index.
#[test]
fn status_never_reads_a_stale_index() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(
        root.join("raw/a.yaml"),
        format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        ),
    )
    .unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(env.home().join(format!("hhgitops.db{suffix}")));
    }
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["total"], 4, "{st:#}");
    assert_eq!(st["counts"]["VPC"], 2, "{st:#}");
}

/// `delete` of an object that is not in the inventory is an error, even when a file of that name exists.
#[test]
fn deleting_an_object_not_in_the_inventory_is_an_error() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    let out = env.expect_code(&["delete", "--fabric", "f", "VPC/nope"], 2);
    assert!(!stdout(&out).contains("deleted"), "{}", stdout(&out));
    // A managed file put there by hand, never ingested.
    std::fs::create_dir_all(root.join("managed/vpcs")).unwrap();
    std::fs::write(root.join("managed/vpcs/vpc-9.yaml"), vpc("vpc-9", 9)).unwrap();
    let out = env.expect_code(&["delete", "--fabric", "f", "VPC/vpc-9"], 2);
    assert!(
        stderr(&out).contains("not in the inventory"),
        "{}",
        stderr(&out)
    );
    assert!(root.join("managed/vpcs/vpc-9.yaml").is_file(), "left alone");
}

/// A fabric removed and added again under the same name shows none of the old fabric's runs.
#[test]
fn a_re_added_fabric_shows_none_of_the_old_runs() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert!(!st["lastRuns"].as_array().unwrap().is_empty());
    env.ok(&["fabric", "remove", "f"]);
    let other = env.path("other-root");
    env.ok(&["fabric", "add", "f", "--path", other.to_str().unwrap()]);
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["lastRuns"].as_array().unwrap().len(), 0, "{st:#}");
}

/// A transaction whose removal was interrupted after it was fully applied is cleaned up, not "discarded".
#[test]
fn a_fully_applied_transaction_is_never_reported_as_discarded() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let done = root.join(".hnp/txn/4242-0123456789abcdef.done");
    std::fs::create_dir_all(&done).unwrap();
    std::fs::write(done.join("f0"), "staged and already applied\n").unwrap();
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    let out = env.expect_code(&["ingest", "--fabric", "f"], 0);
    assert!(!stdout(&out).contains("discarded"), "{}", stdout(&out));
    assert!(!done.exists());
    assert_consistent(&env, "f", &root);
}

/// Killed between writing the tree and `git commit`: the next run commits it with its own message.
#[test]
fn an_interrupted_ingestion_is_committed_later_with_its_own_message() {
    let env = TestEnv::sqlite();
    let remote = bare_remote(&env, "r");
    env.ok(&["fabric", "add", "f", "--git-url", &file_url(&remote)]);
    let root = root_of(&env, "f");
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    let out = env
        .cmd()
        .env("HHGITOPS_FAILPOINT", "ingest-before-db")
        .args(["ingest", "--fabric", "f"])
        .output()
        .unwrap();
    assert_ne!(code(&out), 0, "aborted: {}", stderr(&out));
    assert!(
        root.join("managed/vpcs/vpc-1.yaml").is_file(),
        "tree written"
    );
    env.ok(&["ingest", "--fabric", "f"]);
    let log = git(&remote, &["log", "--format=%s", "main"]);
    let last = log.lines().next().unwrap_or_default();
    assert_eq!(
        last, "ingest raw/a.yaml: +1 VLANNamespace, +1 IPv4Namespace, +1 VPC",
        "{log}"
    );
}

/// After a real conflict: no new conflict branch per run, raw files are still validated, and status shows the
/// blocked state with the branch and what to do (and does not say the last run succeeded).
#[test]
fn a_blocked_git_state_is_shown_and_raw_files_keep_being_validated() {
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
    // Someone edits vpc-1 on the remote while we ingest a change to it: a real conflict at push time.
    let other = env.path("other");
    git(
        env.dir.path(),
        &["clone", "-q", &file_url(&remote), other.to_str().unwrap()],
    );
    std::fs::write(root.join("raw/b.yaml"), vpc("vpc-1", 2)).unwrap();
    std::fs::write(env.path("theirs.yaml"), vpc("vpc-1", 3)).unwrap();
    let script = format!(
        "cd {o} && cp {t} fabrics/f/gitops/managed/vpcs/vpc-1.yaml && git -c user.name=x -c user.email=x@x commit -qam 'edit vpc-1 by hand' && git push -q origin HEAD:main",
        o = other.display(),
        t = env.path("theirs.yaml").display()
    );
    let out = env
        .cmd()
        .env("HHGITOPS_TEST_BEFORE_PUSH", &script)
        .args(["ingest", "--fabric", "f"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(
        st["lastRuns"][0]["outcome"], "blocked",
        "not a success: {st:#}"
    );
    let clone = root.ancestors().nth(3).unwrap().to_path_buf();
    let branches = || {
        git(&clone, &["branch", "--list", "hhgitops/conflict-*"])
            .lines()
            .count()
    };
    assert_eq!(branches(), 1);
    // Later runs: still blocked (exit 3), the same branch, and a new raw file is validated.
    std::fs::write(root.join("raw/bad.yaml"), "kind: Nothing\n").unwrap();
    for _ in 0..2 {
        let out = env.expect_code(&["ingest", "--fabric", "f", "--json"], 3);
        let r = json(&out);
        assert_eq!(r["validatedOnly"], true, "{r:#}");
        assert_eq!(file_status(&r, "raw/bad.yaml"), "rejected", "{r:#}");
        assert!(
            r["gitError"].as_str().unwrap().contains("conflict"),
            "{r:#}"
        );
    }
    assert_eq!(
        branches(),
        1,
        "no new conflict branch for the same conflict"
    );
    assert!(root.join("raw/bad.yaml").is_file(), "nothing written");
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    let g = &st["git"];
    assert_eq!(g["blocked"], true, "{st:#}");
    assert!(
        g["conflictBranch"]
            .as_str()
            .unwrap()
            .starts_with("hhgitops/conflict-"),
        "{st:#}"
    );
    let steps = g["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s.as_str().unwrap().contains("git rebase origin/main")),
        "{st:#}"
    );
    assert_ne!(st["lastRuns"][0]["outcome"], "success", "{st:#}");
    assert_eq!(st["lastRuns"][0]["outcome"], "blocked", "{st:#}");
    assert!(
        st["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["file"] == "raw/bad.yaml"),
        "the rejection is recorded: {st:#}"
    );
    let human = stdout(&env.expect_code(&["status", "--fabric", "f"], 0));
    assert!(human.contains("blocked"), "{human}");
    assert!(human.contains("git rebase origin/main"), "{human}");
}
