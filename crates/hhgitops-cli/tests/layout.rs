//! `init`, `init --check`, `init --dry-run`, migration of loose files and the upgrade of HNP layouts.

mod common;

use common::*;

const KINDS: [&str; 17] = [
    "connections",
    "externalattachments",
    "externalpeerings",
    "externals",
    "gatewaygroups",
    "gatewaypeerings",
    "gateways",
    "ipv4namespaces",
    "serverprofiles",
    "servers",
    "switches",
    "switchgroups",
    "switchprofiles",
    "vlannamespaces",
    "vpcattachments",
    "vpcpeerings",
    "vpcs",
];

fn expected_layout() -> Vec<String> {
    let mut v = vec![
        ".hnp/".to_string(),
        ".hnp/.gitignore".into(),
        ".hnp/archive-log.yaml".into(),
        ".hnp/manifest.yaml".into(),
        "managed/".into(),
        "raw/".into(),
    ];
    v.extend(KINDS.iter().map(|k| format!("managed/{k}/")));
    v.sort();
    v
}

#[test]
fn init_creates_exactly_the_layout_and_is_a_noop_the_second_time() {
    let env = TestEnv::sqlite();
    let root = env.path("g");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    assert_eq!(tree(&root), expected_layout());
    let manifest = std::fs::read_to_string(root.join(".hnp/manifest.yaml")).unwrap();
    assert!(
        manifest.contains("layoutVersion: 1") && manifest.contains("fabric: f"),
        "{manifest}"
    );
    let log_before = std::fs::read(root.join(".hnp/archive-log.yaml")).unwrap();
    let manifest_before = std::fs::read(root.join(".hnp/manifest.yaml")).unwrap();

    let out = env.ok(&["init", "--fabric", "f"]);
    assert!(out.contains("already complete"), "{out}");
    // init works under the fabric lock: its (Git-ignored) lock file is the one new entry.
    let mut with_lock = expected_layout();
    with_lock.push(".hnp/lock".to_string());
    with_lock.sort();
    assert_eq!(tree(&root), with_lock);
    assert_eq!(
        std::fs::read(root.join(".hnp/archive-log.yaml")).unwrap(),
        log_before,
        "second init writes nothing"
    );
    assert_eq!(
        std::fs::read(root.join(".hnp/manifest.yaml")).unwrap(),
        manifest_before
    );
    env.expect_code(&["init", "--fabric", "f", "--check"], 0);
}

#[test]
fn init_never_overwrites_and_fills_gaps() {
    let env = TestEnv::sqlite();
    let root = env.path("g");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::remove_dir(root.join("managed/vpcs")).unwrap();
    std::fs::write(root.join("managed/switches/keep.yaml"), "mine").unwrap();
    let manifest_before = std::fs::read(root.join(".hnp/manifest.yaml")).unwrap();
    let out = env.ok(&["init", "--fabric", "f", "--dry-run"]);
    assert!(out.contains("would create folder managed/vpcs/"), "{out}");
    assert!(
        !root.join("managed/vpcs").exists(),
        "dry run changes nothing"
    );
    env.ok(&["init", "--all"]);
    assert!(root.join("managed/vpcs").is_dir());
    assert_eq!(
        std::fs::read_to_string(root.join("managed/switches/keep.yaml")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read(root.join(".hnp/manifest.yaml")).unwrap(),
        manifest_before
    );
}

#[test]
fn check_reports_a_damaged_layout() {
    let env = TestEnv::sqlite();
    let root = env.path("g");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::remove_dir(root.join("managed/connections")).unwrap();
    std::fs::remove_dir(root.join("raw")).unwrap();
    std::fs::write(root.join("raw"), "a file where a folder should be").unwrap();
    let snapshot = tree(&root);
    let out = env.expect_code(&["init", "--fabric", "f", "--check"], 1);
    let text = stdout(&out);
    assert!(
        text.contains("managed/connections: folder is missing"),
        "{text}"
    );
    assert!(
        text.contains("raw: is a file where a folder should be"),
        "{text}"
    );
    assert_eq!(tree(&root), snapshot, "--check changes nothing");
    // init refuses while a person must fix something, and says what.
    let out = env.expect_code(&["init", "--fabric", "f"], 2);
    assert!(
        stderr(&out).contains("file where a folder should be"),
        "{}",
        stderr(&out)
    );

    std::fs::remove_file(root.join("raw")).unwrap();
    std::fs::write(
        root.join(".hnp/manifest.yaml"),
        "layoutVersion: 7\nfabric: f\n",
    )
    .unwrap();
    let out = env.expect_code(&["init", "--fabric", "f", "--check"], 1);
    assert!(
        stdout(&out).contains("unknown layout version 7"),
        "{}",
        stdout(&out)
    );
    std::fs::write(root.join(".hnp/manifest.yaml"), "{{{ not yaml").unwrap();
    let out = env.expect_code(&["init", "--fabric", "f", "--check"], 1);
    assert!(
        stdout(&out).contains(".hnp/manifest.yaml: unreadable YAML"),
        "{}",
        stdout(&out)
    );
    let out = env.expect_code(&["init", "--fabric", "f"], 2);
    assert!(stderr(&out).contains("manifest.yaml"), "{}", stderr(&out));
}

#[test]
fn loose_yaml_files_move_into_raw() {
    let env = TestEnv::sqlite();
    let root = env.path("g");
    std::fs::create_dir_all(root.join("old/nested")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("wiring.yaml"), "a: 1\n").unwrap();
    std::fs::write(root.join("old/nested/vpcs.YML"), "b: 2\n").unwrap();
    std::fs::write(root.join("notes.txt"), "not yaml\n").unwrap();
    std::fs::write(root.join(".git/config.yaml"), "hidden\n").unwrap();
    std::fs::write(env.path("outside.yaml"), "outside\n").unwrap();
    std::fs::create_dir_all(root.join("raw")).unwrap();
    std::fs::write(root.join("raw/wiring.yaml"), "already here\n").unwrap();

    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    // `fabric add` moves nothing; `init --migrate` moves the loose files.
    env.ok(&["init", "--fabric", "f", "--migrate"]);
    assert_eq!(
        std::fs::read_to_string(root.join("raw/wiring.yaml")).unwrap(),
        "already here\n",
        "never overwritten"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("raw/wiring.migrated-1.yaml")).unwrap(),
        "a: 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("raw/old/nested/vpcs.YML")).unwrap(),
        "b: 2\n"
    );
    assert!(!root.join("wiring.yaml").exists() && !root.join("old/nested/vpcs.YML").exists());
    assert!(root.join("notes.txt").exists() && root.join(".git/config.yaml").exists());
    assert!(
        env.path("outside.yaml").exists(),
        "nothing outside the root is touched"
    );
    let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    assert!(
        log.contains("operation: migrate")
            && log.contains("wiring.yaml -> raw/wiring.migrated-1.yaml"),
        "{log}"
    );
}

#[test]
fn hnp_layout_is_upgraded_in_place() {
    let env = TestEnv::sqlite();
    let root = env.path("hnp");
    for d in [
        "raw",
        "unmanaged",
        "managed/vpcs",
        "managed/switches",
        ".hnp",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join(".hnp/manifest.yaml"),
        "# HNP GitOps Manifest\n# This file tracks the GitOps structure for this fabric\n\n{\"version\": \"1.0\", \"fabric_name\": \"lab\", \"fabric_id\": 3, \"structure_version\": \"1.0\", \"directories\": {\"raw\": \"raw\", \"managed\": \"managed\", \"unmanaged\": \"unmanaged\"}, \"crd_directories\": [\"connections\", \"vpcs\"], \"archive_strategy\": \"rename_with_extension\", \"gitops_initialized\": true}\n",
    )
    .unwrap();
    std::fs::write(
        root.join(".hnp/archive-log.yaml"),
        "version: '1.0'\ncreated_at: '2025-07-01T10:00:00+00:00'\noperations:\n- operation: ingestion\n  timestamp: '2025-07-01T10:05:00+00:00'\n  original_file: /var/lib/netbox/gitops/lab/raw/vpcs.yaml\n  document_count: 2\n  documents_created:\n  - /var/lib/netbox/gitops/lab/managed/vpcs/vpc-1.yaml\n  archived_to: /var/lib/netbox/gitops/lab/raw/vpcs.yaml.archived\n- operation: migration\n  timestamp: '2025-07-02T09:00:00+00:00'\n  original_file: /var/lib/netbox/gitops/lab/unmanaged/extra.yaml\n  migrated_to: /var/lib/netbox/gitops/lab/raw/extra.yaml\n  archived_to: null\n",
    )
    .unwrap();
    std::fs::write(
        root.join("managed/vpcs/vpc-1.yaml"),
        "kind: VPC\nmetadata:\n  name: vpc-1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("managed/vpcs/vpc-1-1.yaml"),
        "kind: VPC\nmetadata:\n  name: vpc-1\n",
    )
    .unwrap();
    // Not a duplicate: a legitimate object whose name merely ends in "-<digits>".
    std::fs::write(
        root.join("managed/vpcs/vpc-1-2.yaml"),
        "kind: VPC\nmetadata:\n  name: vpc-1-2\n",
    )
    .unwrap();
    std::fs::write(root.join("unmanaged/leftover.yaml"), "kind: Server\n").unwrap();

    env.ok(&["fabric", "add", "lab", "--path", root.to_str().unwrap()]);
    // `fabric add` moves nothing; `init --migrate` moves the loose files.
    env.ok(&["init", "--fabric", "lab", "--migrate"]);
    let manifest = std::fs::read_to_string(root.join(".hnp/manifest.yaml")).unwrap();
    assert!(
        manifest.contains("layoutVersion: 1") && !manifest.contains("fabric_name"),
        "{manifest}"
    );
    let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    assert!(log.contains("logVersion: 1"), "{log}");
    assert!(
        !log.contains("/var/lib/netbox"),
        "paths made relative: {log}"
    );
    assert!(
        log.contains("raw/vpcs.yaml") && log.contains("managed/vpcs/vpc-1.yaml"),
        "history kept: {log}"
    );
    assert!(
        log.contains("legacyOperation: ingestion") && log.contains("legacyOperation: migration"),
        "{log}"
    );
    assert!(
        log.contains("managed/vpcs/vpc-1-1.yaml (same as managed/vpcs/vpc-1.yaml)"),
        "the identical copy's removal logged: {log}"
    );
    // The plugin's copy held the same document: removed (lossless); a file that merely ends in "-<digits>"
    // is kept. Loose files moved into raw/.
    assert!(
        root.join("managed/vpcs/vpc-1.yaml").exists()
            && !root.join("managed/vpcs/vpc-1-1.yaml").exists()
            && root.join("managed/vpcs/vpc-1-2.yaml").exists()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("raw/unmanaged/leftover.yaml")).unwrap(),
        "kind: Server\n"
    );
    // The layout is complete.
    let out = env.expect_code(&["init", "--fabric", "lab", "--check"], 0);
    assert!(stdout(&out).contains("layout complete"), "{}", stdout(&out));
}
