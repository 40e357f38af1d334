//! Ingestion when the file system misbehaves: a raw file that changes or vanishes while being read, a full disk,
//! a read-only managed folder. Nothing partial is left, errors say what happened, and nothing is lost.
//! The disk cases mount a small tmpfs or a read-only bind mount, which needs the privileges these test machines
//! give root; elsewhere they say they were skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

#[test]
fn a_raw_file_changing_while_read_is_skipped_and_taken_later() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    let out = env
        .cmd()
        .env(
            "HHGITOPS_TEST_AFTER_READ",
            r#"printf '# appended\n' >> "$1""#,
        )
        .args(["ingest", "--fabric", "f", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["files"][0]["status"], "skipped", "{r:#}");
    assert!(r["files"][0]["note"]
        .as_str()
        .unwrap()
        .contains("changed while being read"));
    assert_eq!(
        std::fs::read_to_string(root.join("raw/a.yaml")).unwrap(),
        format!("{NAMESPACES}# appended\n")
    );
    assert!(manifest_inventory(&root).is_empty());
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["files"][0]["status"], "ingested");
    assert_consistent(&env, "f", &root);
}

#[test]
fn a_raw_file_vanishing_while_read_is_skipped() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/a.yaml"), NAMESPACES).unwrap();
    let out = env
        .cmd()
        .env("HHGITOPS_TEST_AFTER_READ", r#"rm -f "$1""#)
        .args(["ingest", "--fabric", "f", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["files"][0]["status"], "skipped");
    assert!(
        r["files"][0]["note"].as_str().unwrap().contains("vanished"),
        "{r:#}"
    );
    assert!(manifest_inventory(&root).is_empty());
    assert_consistent(&env, "f", &root);
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount(args: &[&str], target: &Path) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(Mount(target.to_path_buf()))
    } else {
        eprintln!("note: cannot mount here (not privileged): test skipped");
        None
    }
}

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    tree(root)
        .into_iter()
        .filter(|f| !f.ends_with('/') && f != ".hnp/lock")
        .map(|f| (f.clone(), std::fs::read(root.join(&f)).unwrap()))
        .collect()
}

#[test]
fn a_full_disk_leaves_nothing_partial_and_exits_3() {
    let Some(shared) = shared_dir() else { return };
    let env = TestEnv::sqlite();
    let disk = env.path("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let input =
        std::fs::read(shared.join("samples/vlab-default-spine-leaf.hydrated-with-vpcs.yaml"))
            .unwrap();
    // Room for the layout and the raw file, not for the managed copies as well.
    let size = format!("size={}k", 8 + input.len() / 1024 + 8);
    let Some(_m) = mount(&["-t", "tmpfs", "-o", &size, "tmpfs"], &disk) else {
        return;
    };
    let root = disk.join("root");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::write(root.join("raw/wiring.yaml"), &input).unwrap();
    // Fill what is left so that staging fails.
    let filler = disk.join("filler");
    let _ = Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", filler.display()),
            "bs=1k",
            "count=100000",
        ])
        .output();
    let before = snapshot(&root);
    let out = env.expect_code(&["ingest", "--fabric", "f"], 3);
    assert!(
        stderr(&out).to_lowercase().contains("no space"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(&root), before, "nothing partial");
    assert_eq!(
        std::fs::read(root.join("raw/wiring.yaml")).unwrap(),
        input,
        "raw file intact"
    );
    std::fs::remove_file(&filler).unwrap();
    let out = env.run(&["ingest", "--fabric", "f"]);
    if code(&out) == 0 {
        assert_consistent(&env, "f", &root);
    }
}

#[test]
fn a_read_only_managed_folder_leaves_nothing_partial_and_exits_3() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    let vpcs = root.join("managed/vpcs");
    let Some(bind) = mount(&["--bind", vpcs.to_str().unwrap()], &vpcs) else {
        return;
    };
    let ro = Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&vpcs)
        .status()
        .unwrap();
    assert!(ro.success());
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    let before = snapshot(&root);
    let out = env.expect_code(&["ingest", "--fabric", "f"], 3);
    let err = stderr(&out);
    assert!(
        err.contains("managed/vpcs") && err.to_lowercase().contains("read-only"),
        "{err}"
    );
    assert_eq!(
        snapshot(&root),
        before,
        "nothing partial: not even the namespaces"
    );
    drop(bind);
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["files"][0]["created"].as_array().unwrap().len(), 3);
    assert_consistent(&env, "f", &root);
}
