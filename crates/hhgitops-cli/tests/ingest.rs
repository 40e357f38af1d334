//! Ingestion with the real binary: samples, idempotence, updates, rejections, conflicts, --file, --dry-run,
//! delete, reindex, hand edits, symlinks, size limits, many files, the fabric lock.

mod common;

use std::path::Path;

use common::*;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn ingest_json(env: &TestEnv, fabric: &str, code: i32) -> serde_json::Value {
    json(&env.expect_code(&["ingest", "--fabric", fabric, "--json"], code))
}

#[test]
fn every_sample_ingests_into_a_fabric_of_its_own() {
    let Some(shared) = shared_dir() else { return };
    let env = TestEnv::sqlite();
    let mut samples: Vec<_> = std::fs::read_dir(shared.join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    samples.sort();
    assert!(samples.len() >= 5);
    for (i, s) in samples.iter().enumerate() {
        let name = format!("s{i}");
        let root = fabric_at(&env, &name);
        let target = root.join("raw").join(s.file_name().unwrap());
        std::fs::copy(s, &target).unwrap();
        let r = ingest_json(&env, &name, 0);
        let f = &r["files"][0];
        assert_eq!(f["status"], "ingested", "{}: {r:#}", s.display());
        let created = f["created"].as_array().unwrap().len();
        assert!(created > 10, "{}: {created} objects", s.display());
        assert_eq!(
            f["archivedTo"].as_str().unwrap(),
            format!("raw/{}.archived", s.file_name().unwrap().to_string_lossy())
        );
        assert!(!target.exists() && root.join(f["archivedTo"].as_str().unwrap()).exists());
        assert_eq!(
            std::fs::read(root.join(f["archivedTo"].as_str().unwrap())).unwrap(),
            std::fs::read(s).unwrap()
        );
        assert_eq!(manifest_inventory(&root).len(), created);
        assert_consistent(&env, &name, &root);
    }
}

#[test]
fn every_sample_ingests_into_one_fabric_one_after_another() {
    // The samples describe different fabrics that reuse names (leaf-01, default namespaces …); ingested one
    // after another into one fabric, each run either applies a whole file or rejects it with located errors,
    // and the fabric stays consistent throughout.
    let Some(shared) = shared_dir() else { return };
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "all");
    let mut samples: Vec<_> = std::fs::read_dir(shared.join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    samples.sort();
    let mut ingested = 0;
    for s in &samples {
        std::fs::copy(s, root.join("raw").join(s.file_name().unwrap())).unwrap();
        let out = env.run(&["ingest", "--fabric", "all", "--json"]);
        let r = json(&out);
        for f in r["files"].as_array().unwrap() {
            match f["status"].as_str().unwrap() {
                "ingested" => ingested += 1,
                "rejected" => {
                    assert_eq!(code(&out), 1);
                    for e in f["errors"].as_array().unwrap() {
                        assert!(e["message"].as_str().unwrap().len() > 5, "{e}");
                    }
                }
                other => panic!("unexpected status {other}: {f}"),
            }
        }
        assert_consistent(&env, "all", &root);
    }
    assert!(ingested >= 1);
}

#[test]
fn ingesting_the_same_input_twice_changes_nothing_the_second_time() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let content = format!(
        "{NAMESPACES}---\n{}---\n{}",
        vpc("vpc-1", 1),
        vpc("vpc-2", 2)
    );
    write(&root, "raw/a.yaml", &content);
    let r = ingest_json(&env, "f", 0);
    assert_eq!(
        r["files"][0]["created"].as_array().unwrap().len(),
        4,
        "{r:#}"
    );
    let before: Vec<_> = tree(&root.join("managed"))
        .into_iter()
        .filter(|f| f.ends_with(".yaml"))
        .map(|f| {
            let p = root.join("managed").join(&f);
            (
                f,
                std::fs::metadata(&p).unwrap().modified().unwrap(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    let manifest = std::fs::read(root.join(".hnp/manifest.yaml")).unwrap();
    let log_len = std::fs::read_to_string(root.join(".hnp/archive-log.yaml"))
        .unwrap()
        .matches("- time:")
        .count();

    write(&root, "raw/a.yaml", &content);
    let r = ingest_json(&env, "f", 0);
    let f = &r["files"][0];
    assert_eq!(f["status"], "unchanged", "{r:#}");
    assert_eq!(f["unchanged"].as_array().unwrap().len(), 4);
    assert_eq!(
        f["archivedTo"], "raw/a.yaml.2.archived",
        "never overwrites an earlier archive"
    );
    for (file, mtime, bytes) in &before {
        let p = root.join("managed").join(file);
        assert_eq!(
            std::fs::metadata(&p).unwrap().modified().unwrap(),
            *mtime,
            "{file} not rewritten"
        );
        assert_eq!(&std::fs::read(&p).unwrap(), bytes);
    }
    assert_eq!(
        std::fs::read(root.join(".hnp/manifest.yaml")).unwrap(),
        manifest,
        "manifest unchanged"
    );
    let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    assert_eq!(
        log.matches("- time:").count(),
        log_len + 1,
        "exactly one new log entry"
    );
    assert!(log.trim_end().ends_with("message: unchanged"), "{log}");
    // A run with nothing to do writes nothing at all.
    let log_bytes = std::fs::read(root.join(".hnp/archive-log.yaml")).unwrap();
    let r = ingest_json(&env, "f", 0);
    assert_eq!(r["summary"]["files"], 0);
    assert_eq!(
        std::fs::read(root.join(".hnp/archive-log.yaml")).unwrap(),
        log_bytes
    );
    assert_consistent(&env, "f", &root);
}

#[test]
fn updating_one_object_updates_exactly_one_managed_file() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(
        &root,
        "raw/a.yaml",
        &format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        ),
    );
    ingest_json(&env, "f", 0);
    let snapshot: Vec<(String, Vec<u8>)> = tree(&root.join("managed"))
        .into_iter()
        .filter(|f| f.ends_with(".yaml"))
        .map(|f| {
            (
                f.clone(),
                std::fs::read(root.join("managed").join(&f)).unwrap(),
            )
        })
        .collect();
    write(&root, "raw/b.yaml", &vpc("vpc-2", 3));
    let r = ingest_json(&env, "f", 0);
    assert_eq!(r["files"][0]["status"], "ingested");
    assert_eq!(r["files"][0]["updated"], serde_json::json!(["VPC/vpc-2"]));
    let changed: Vec<_> = snapshot
        .iter()
        .filter(|(f, b)| std::fs::read(root.join("managed").join(f)).unwrap() != *b)
        .map(|(f, _)| f.clone())
        .collect();
    assert_eq!(changed, ["vpcs/vpc-2.yaml"]);
    assert!(
        std::fs::read_to_string(root.join("managed/vpcs/vpc-2.yaml"))
            .unwrap()
            .contains("10.0.3.0/24")
    );
    assert!(
        !root.join("managed/vpcs/vpc-2-1.yaml").exists(),
        "never a -1 copy"
    );
    assert_consistent(&env, "f", &root);
}

#[test]
fn rejected_files_stay_byte_for_byte_and_are_not_retried_until_changed() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let bad = format!(
        "{NAMESPACES}---\n{}",
        vpc("vpc-1", 1).replace("vlan: 1001", "vlan: 5000")
    );
    write(&root, "raw/bad.yaml", &bad);
    let r = ingest_json(&env, "f", 1);
    let f = &r["files"][0];
    assert_eq!(f["status"], "rejected");
    let e = &f["errors"][0];
    assert_eq!(e["path"], "spec.subnets.default.vlan", "{r:#}");
    assert_eq!(
        (e["document"].as_u64(), e["line"].as_u64()),
        (Some(3), Some(27)),
        "{r:#}"
    );
    assert_eq!(e["kind"], "VPC");
    assert_eq!(
        std::fs::read_to_string(root.join("raw/bad.yaml")).unwrap(),
        bad,
        "byte for byte"
    );
    assert!(
        tree(&root.join("managed")).iter().all(|f| f.ends_with('/')),
        "nothing managed"
    );

    // Not retried while unchanged.
    let r = ingest_json(&env, "f", 1);
    assert_eq!(r["files"][0]["previouslyRejected"], true);
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert_eq!(st["rejected"][0]["file"], "raw/bad.yaml");
    assert_eq!(
        st["rejected"][0]["errors"][0]["path"],
        "spec.subnets.default.vlan"
    );
    assert!(st["pending"].as_array().unwrap().is_empty());
    let human = env.ok(&["status", "--fabric", "f"]);
    assert!(
        human.contains("raw/bad.yaml:27:13") && human.contains("spec.subnets.default.vlan"),
        "{human}"
    );

    // Fixed: ingested.
    write(
        &root,
        "raw/bad.yaml",
        &bad.replace("vlan: 5000", "vlan: 1001"),
    );
    let r = ingest_json(&env, "f", 0);
    assert_eq!(r["files"][0]["status"], "ingested");
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert!(st["rejected"].as_array().unwrap().is_empty());
    assert_eq!(st["total"], 3);
    assert_consistent(&env, "f", &root);
}

#[test]
fn the_same_object_in_two_raw_files_rejects_both() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(&root, "raw/ns.yaml", NAMESPACES);
    write(&root, "raw/one.yaml", &vpc("vpc-1", 1));
    write(&root, "raw/two.yaml", &vpc("vpc-1", 2));
    let r = ingest_json(&env, "f", 1);
    let files = r["files"].as_array().unwrap();
    let by = |n: &str| files.iter().find(|f| f["file"] == n).unwrap().clone();
    assert_eq!(by("raw/ns.yaml")["status"], "ingested");
    for n in ["raw/one.yaml", "raw/two.yaml"] {
        let f = by(n);
        assert_eq!(f["status"], "rejected", "{n}");
        let msg = f["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains("raw/one.yaml:1:1") && msg.contains("raw/two.yaml:1:1"),
            "{msg}"
        );
    }
    assert!(!root.join("managed/vpcs/vpc-1.yaml").exists());
    // Within one file: a conflict too.
    write(
        &root,
        "raw/dup.yaml",
        &format!("{}---\n{}", vpc("vpc-7", 7), vpc("vpc-7", 8)),
    );
    let r = ingest_json(&env, "f", 1);
    let f = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "raw/dup.yaml")
        .unwrap()
        .clone();
    assert_eq!(f["status"], "rejected", "{r:#}");
}

#[test]
fn a_broken_reference_is_rejected_and_located() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(&root, "raw/a.yaml", &vpc("vpc-1", 1));
    let r = ingest_json(&env, "f", 1);
    let errs = r["files"][0]["errors"].as_array().unwrap();
    assert!(
        errs.iter()
            .any(|e| e["message"].as_str().unwrap().contains("default")),
        "{r:#}"
    );
    assert!(errs.iter().all(|e| e["line"].as_u64().unwrap() > 0));
}

#[test]
fn dry_run_writes_nothing() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(
        &root,
        "raw/a.yaml",
        &format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    );
    let before = tree(&root);
    let log = std::fs::read(root.join(".hnp/archive-log.yaml")).unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--dry-run", "--json"], 0));
    assert_eq!(r["dryRun"], true);
    assert_eq!(r["files"][0]["status"], "ingested");
    assert_eq!(r["files"][0]["created"].as_array().unwrap().len(), 3);
    // The lock file is a run-time file (kept out of Git by .hnp/.gitignore); nothing else may appear.
    let after: Vec<String> = tree(&root)
        .into_iter()
        .filter(|f| f != ".hnp/lock")
        .collect();
    assert_eq!(after, before);
    assert_eq!(
        std::fs::read(root.join(".hnp/archive-log.yaml")).unwrap(),
        log
    );
    let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
    assert!(
        st["lastRuns"].as_array().unwrap().is_empty(),
        "no run recorded: {st}"
    );
}

#[test]
fn file_outside_raw_is_copied_in_and_left_alone() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let outside = env.path("drop/ns.yaml");
    std::fs::create_dir_all(outside.parent().unwrap()).unwrap();
    std::fs::write(&outside, NAMESPACES).unwrap();
    write(&root, "raw/other.yaml", &vpc("vpc-1", 1));
    let r = json(&env.expect_code(
        &[
            "ingest",
            "--fabric",
            "f",
            "--file",
            outside.to_str().unwrap(),
            "--json",
        ],
        0,
    ));
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "only that file: {r:#}");
    assert_eq!(files[0]["file"], "raw/ns.yaml");
    assert_eq!(files[0]["status"], "ingested");
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        NAMESPACES,
        "original left alone"
    );
    assert!(
        root.join("raw/other.yaml").exists(),
        "other raw files untouched"
    );
    assert!(root.join("raw/ns.yaml.archived").exists());
}

#[test]
fn delete_removes_one_object_and_refuses_while_referenced() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(
        &root,
        "raw/a.yaml",
        &format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    );
    ingest_json(&env, "f", 0);
    let out = env.expect_code(&["delete", "--fabric", "f", "IPv4Namespace/default"], 1);
    assert!(
        stderr(&out).contains("managed/vpcs/vpc-1.yaml"),
        "{}",
        stderr(&out)
    );
    assert!(root.join("managed/ipv4namespaces/default.yaml").exists());
    env.ok(&["delete", "--fabric", "f", "vpcs/vpc-1"]);
    assert!(!root.join("managed/vpcs/vpc-1.yaml").exists());
    assert!(manifest_inventory(&root)
        .iter()
        .all(|e| e["name"] != "vpc-1"));
    let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    assert!(
        log.contains("operation: delete") && log.contains("VPC/vpc-1"),
        "{log}"
    );
    assert_consistent(&env, "f", &root);
    env.expect_code(&["delete", "--fabric", "f", "VPC/vpc-1"], 2);
    env.expect_code(&["delete", "--fabric", "f", "Nonsense/x"], 2);
}

#[test]
fn hand_edits_are_reported_and_reindex_rebuilds_the_index() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(
        &root,
        "raw/a.yaml",
        &format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        ),
    );
    ingest_json(&env, "f", 0);
    assert!(env.ok(&["reindex", "--fabric", "f"]).contains("indexed 4"));

    // Edit one by hand (valid), remove one, add one by hand.
    let p = root.join("managed/vpcs/vpc-1.yaml");
    let edited = std::fs::read_to_string(&p)
        .unwrap()
        .replace("vlan: 1001", "vlan: 1011");
    std::fs::write(&p, &edited).unwrap();
    std::fs::remove_file(root.join("managed/vpcs/vpc-2.yaml")).unwrap();
    std::fs::write(root.join("managed/vpcs/vpc-3.yaml"), vpc("vpc-3", 3)).unwrap();
    let r = json(&env.expect_code(&["reindex", "--fabric", "f", "--json"], 1));
    assert_eq!(r["edited"], serde_json::json!(["managed/vpcs/vpc-1.yaml"]));
    assert_eq!(
        r["missingFiles"],
        serde_json::json!(["managed/vpcs/vpc-2.yaml"])
    );
    assert_eq!(
        r["notInManifest"],
        serde_json::json!(["managed/vpcs/vpc-3.yaml"])
    );
    assert_eq!(r["indexed"], 4);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        edited,
        "reindex changes no file"
    );

    // The next ingest records the hand edits and drops the removed object.
    let r = ingest_json(&env, "f", 0);
    assert_eq!(r["managed"]["edited"], serde_json::json!(["VPC/vpc-1"]));
    assert_eq!(r["managed"]["adopted"], serde_json::json!(["VPC/vpc-3"]));
    assert_eq!(r["managed"]["removed"], serde_json::json!(["VPC/vpc-2"]));
    assert_consistent(&env, "f", &root);
    env.expect_code(&["reindex", "--fabric", "f"], 0);

    // An invalid hand edit is reported, not adopted.
    std::fs::write(&p, edited.replace("vlan: 1011", "vlan: 9999")).unwrap();
    let r = json(&env.expect_code(&["reindex", "--fabric", "f", "--json"], 1));
    assert!(
        r["invalid"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["file"] == "managed/vpcs/vpc-1.yaml"),
        "{r:#}"
    );
}

#[test]
fn symlinks_out_of_the_root_are_refused_and_oversized_files_rejected() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let outside = env.path("secret.yaml");
    std::fs::write(&outside, NAMESPACES).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("raw/link.yaml")).unwrap();
    write(
        &root,
        "raw/big.yaml",
        &format!("{NAMESPACES}# {}\n", "x".repeat(5000)),
    );
    let out = env
        .cmd()
        .args([
            "ingest",
            "--fabric",
            "f",
            "--json",
            "--max-file-size",
            "4096",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let r = json(&out);
    assert_eq!(r["refused"][0]["file"], "raw/link.yaml");
    assert!(r["refused"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("symbolic link: refused"));
    let big = &r["files"][0];
    assert_eq!(big["status"], "rejected");
    assert!(
        big["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than the limit"),
        "{big}"
    );
    assert!(
        outside.exists() && root.join("raw/link.yaml").is_symlink(),
        "nothing touched"
    );
}

#[test]
fn a_thousand_raw_files_in_one_run() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(
        &root,
        "raw/00-ns.yaml",
        &NAMESPACES.replace("10.0.0.0/16", "10.0.0.0/8"),
    );
    for i in 0..1000u32 {
        let v = format!(
            "apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: v{i}\nspec:\n  subnets:\n    default:\n      subnet: 10.{}.{}.0/24\n      vlan: {}\n",
            i / 256 + 1,
            i % 256,
            1000 + i
        );
        write(&root, &format!("raw/many/v{i:04}.yaml"), &v);
    }
    let r = ingest_json(&env, "f", 0);
    assert_eq!(r["summary"]["ingested"], 1001, "{}", r["summary"]);
    assert_eq!(r["summary"]["created"], 1002);
    assert_consistent(&env, "f", &root);
}

#[test]
fn a_second_process_waits_for_the_fabric_lock() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    write(&root, "raw/a.yaml", NAMESPACES);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(".hnp/lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = env
        .cmd()
        .env("HHGITOPS_LOCK_TIMEOUT", "0.3")
        .args(["ingest", "--fabric", "f"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("busy"), "{}", stderr(&out));
    assert!(root.join("raw/a.yaml").exists());
    lock.unlock().unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    assert!(root.join("managed/vlannamespaces/default.yaml").exists());
}

#[test]
fn postgres_backend_ingests_too() {
    for backend in backends() {
        let env = TestEnv::new(backend.clone());
        let root = fabric_at(&env, "f");
        write(
            &root,
            "raw/a.yaml",
            &format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
        );
        let r = ingest_json(&env, "f", 0);
        assert_eq!(r["summary"]["created"], 3, "{}", backend.label());
        assert_consistent(&env, "f", &root);
        write(&root, "raw/b.yaml", &vpc("vpc-9", 300));
        ingest_json(&env, "f", 1);
        let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
        assert_eq!(
            st["rejected"][0]["file"],
            "raw/b.yaml",
            "{}",
            backend.label()
        );
        assert_eq!(st["lastRuns"].as_array().unwrap().len(), 2);
    }
}
