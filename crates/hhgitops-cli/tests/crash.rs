//! Crash safety: the real binary is stopped at every step of an ingestion (failpoints that abort the process
//! like `kill -9`) and at random moments of a large one; after recovery the fabric holds either the whole file
//! or none of it, and the raw file is never lost.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn managed_files(root: &Path) -> Vec<String> {
    tree(&root.join("managed"))
        .into_iter()
        .filter(|f| f.ends_with(".yaml"))
        .collect()
}

/// Runs `reindex`, which recovers interrupted transactions and changes nothing else.
fn recover(env: &TestEnv) {
    let out = env.run(&["reindex", "--fabric", "f"]);
    assert!(matches!(code(&out), 0 | 1), "reindex: {}", stderr(&out));
}

#[test]
fn a_crash_at_every_step_leaves_all_or_nothing() {
    let content = format!(
        "{NAMESPACES}---\n{}---\n{}",
        vpc("vpc-1", 1),
        vpc("vpc-2", 2)
    );
    // 4 managed files + archive + raw removal + manifest + log = 8 steps.
    let mut points: Vec<String> = vec!["txn-staged".into(), "txn-committed".into()];
    points.extend((1..=8).map(|i| format!("txn-step-{i}")));
    points.push("ingest-before-db".into());
    for point in &points {
        let env = TestEnv::sqlite();
        let root = fabric_at(&env, "f");
        std::fs::write(root.join("raw/a.yaml"), &content).unwrap();
        let out = env
            .cmd()
            .env("HHGITOPS_FAILPOINT", point)
            .args(["ingest", "--fabric", "f"])
            .output()
            .unwrap();
        assert!(
            out.status.code().is_none(),
            "{point}: the process was stopped by the failpoint: {}",
            stderr(&out)
        );

        recover(&env);
        let managed = managed_files(&root);
        let raw_present = root.join("raw/a.yaml").exists();
        if point == "txn-staged" {
            assert!(
                managed.is_empty() && raw_present,
                "{point}: nothing applied"
            );
        } else {
            assert_eq!(managed.len(), 4, "{point}: everything applied: {managed:?}");
            assert!(!raw_present, "{point}");
            assert_eq!(
                std::fs::read_to_string(root.join("raw/a.yaml.archived")).unwrap(),
                content,
                "{point}"
            );
        }
        assert!(
            raw_present || root.join("raw/a.yaml.archived").exists(),
            "{point}: raw file never lost"
        );
        assert_consistent(&env, "f", &root);

        // The next run completes the work (or finds it done) and leaves a consistent fabric.
        let out = env.run(&["ingest", "--fabric", "f"]);
        assert_eq!(code(&out), 0, "{point}: {}", stderr(&out));
        assert_eq!(managed_files(&root).len(), 4, "{point}");
        assert!(!root.join("raw/a.yaml").exists());
        assert_consistent(&env, "f", &root);
        let st = json(&env.expect_code(&["status", "--fabric", "f", "--json"], 0));
        assert!(
            st["lastRuns"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] != "running"),
            "{point}: {st}"
        );
    }
}

#[test]
fn a_crash_during_an_update_keeps_old_or_new_never_a_mix() {
    let first = format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1));
    let second = format!("{}---\n{}", vpc("vpc-1", 5), vpc("vpc-3", 3));
    let mut points: Vec<String> = vec!["txn-staged".into(), "txn-committed".into()];
    points.extend((1..=6).map(|i| format!("txn-step-{i}")));
    for point in &points {
        let env = TestEnv::sqlite();
        let root = fabric_at(&env, "f");
        std::fs::write(root.join("raw/a.yaml"), &first).unwrap();
        env.ok(&["ingest", "--fabric", "f"]);
        let old_vpc1 = std::fs::read_to_string(root.join("managed/vpcs/vpc-1.yaml")).unwrap();
        std::fs::write(root.join("raw/b.yaml"), &second).unwrap();
        let out = env
            .cmd()
            .env("HHGITOPS_FAILPOINT", point)
            .args(["ingest", "--fabric", "f"])
            .output()
            .unwrap();
        assert!(out.status.code().is_none(), "{point}");
        recover(&env);
        let vpc1 = std::fs::read_to_string(root.join("managed/vpcs/vpc-1.yaml")).unwrap();
        let vpc3 = root.join("managed/vpcs/vpc-3.yaml").exists();
        let raw = root.join("raw/b.yaml").exists();
        if vpc1 == old_vpc1 {
            assert!(!vpc3 && raw, "{point}: old state is whole");
        } else {
            assert!(
                vpc1.contains("10.0.5.0/24") && vpc3 && !raw,
                "{point}: new state is whole"
            );
        }
        assert_consistent(&env, "f", &root);
    }
}

#[test]
fn random_kills_of_a_large_ingestion_leave_all_or_nothing() {
    let Some(shared) = shared_dir() else { return };
    let gen = std::process::Command::new("python3")
        .arg(shared.join("tools/gen_vlab_wiring.py"))
        .args([
            "--spines",
            "4",
            "--eslag-leaf-groups",
            "2,2,2,2",
            "--orphan-leafs",
            "4",
            "--eslag-servers",
            "8",
        ])
        .args([
            "--unbundled-servers",
            "8",
            "--bundled-servers",
            "8",
            "--vpcs",
        ])
        .output()
        .expect("python3");
    assert!(gen.status.success());
    let input = gen.stdout;
    let objects = String::from_utf8_lossy(&input).matches("\nkind: ").count();
    assert!(objects > 300, "{objects}");
    // Pseudo-random but repeatable delays spread over the run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut outcomes = (0, 0);
    for round in 0..8 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(20 + (seed >> 33) % (40 + 60 * round));
        let env = TestEnv::sqlite();
        let root = fabric_at(&env, "f");
        std::fs::write(root.join("raw/big.yaml"), &input).unwrap();
        let mut child = env
            .std_cmd()
            .args(["ingest", "--fabric", "f"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        recover(&env);
        let managed = managed_files(&root).len();
        let raw = root.join("raw/big.yaml").exists();
        if managed == 0 {
            assert!(
                raw,
                "round {round}: nothing applied and the raw file is there"
            );
            outcomes.0 += 1;
        } else {
            assert_eq!(
                managed, objects,
                "round {round} (killed after {delay:?}): all or nothing"
            );
            assert!(
                !raw && root.join("raw/big.yaml.archived").exists(),
                "round {round}"
            );
            outcomes.1 += 1;
        }
        assert_consistent(&env, "f", &root);
        let out = env.run(&["ingest", "--fabric", "f"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(managed_files(&root).len(), objects);
    }
    eprintln!(
        "random kills: {} before the commit point, {} after",
        outcomes.0, outcomes.1
    );
}
