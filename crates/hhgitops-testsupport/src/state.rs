//! The state of a fabric's tree: listings, hashes, and the invariants that hold between runs.

use std::path::Path;

use crate::{json, TestEnv};

/// Every file and folder below `root`, relative, sorted; folders end with `/`.
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(p);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Checks the invariants that must hold between runs: no transaction debris, every inventory entry has its file
/// with the recorded hash, every managed file is in the inventory, and the index (status counts) agrees.
pub fn assert_consistent(env: &TestEnv, fabric: &str, root: &Path) {
    let txn = root.join(".hnp/txn");
    if txn.is_dir() {
        assert_eq!(
            std::fs::read_dir(&txn).unwrap().count(),
            0,
            "transaction debris left in {}",
            txn.display()
        );
    }
    let inventory = manifest_inventory(root);
    let mut listed = std::collections::BTreeSet::new();
    for e in &inventory {
        let f = e["file"].as_str().unwrap().to_string();
        let bytes = std::fs::read(root.join(&f))
            .unwrap_or_else(|_| panic!("inventory lists {f}, which is missing"));
        assert_eq!(
            sha256_hex(&bytes),
            e["sha256"].as_str().unwrap(),
            "hash of {f}"
        );
        listed.insert(f);
    }
    let on_disk: std::collections::BTreeSet<String> = tree(&root.join("managed"))
        .into_iter()
        .filter(|f| f.ends_with(".yaml"))
        .map(|f| format!("managed/{f}"))
        .collect();
    assert_eq!(listed, on_disk, "manifest inventory and managed/ agree");
    let st = json(&env.expect_code(&["status", "--fabric", fabric, "--json"], 0));
    assert_eq!(
        st["total"].as_u64().unwrap() as usize,
        on_disk.len(),
        "index agrees with the tree: {st}"
    );
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The manifest's inventory entries.
pub fn manifest_inventory(root: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(root.join(".hnp/manifest.yaml")).expect("manifest");
    let docs =
        hhgitops_core::yaml::parse_stream(&bytes, &Default::default()).expect("manifest parses");
    let v = docs
        .into_iter()
        .find_map(|d| d.root)
        .expect("manifest document")
        .to_json();
    v["inventory"].as_array().cloned().unwrap_or_default()
}
