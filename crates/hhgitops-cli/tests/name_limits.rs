//! An object whose name is too long for its managed file (`<name>.yaml` over the file systems' 255 bytes) is a
//! validation error that names the limit, with file, line, column and field path, and nothing is written: not by
//! `ingest`, not by `validate`, not by `import --from-cluster` (issue 10, "nothing wedges a fabric").

mod common;
mod kube_support;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::json;

/// A valid RFC 1123 subdomain of `len` characters (labels of at most 63).
fn long_name(len: usize) -> String {
    let mut labels = Vec::new();
    let mut left = len;
    let mut c = b'a';
    while left > 0 {
        let n = left.min(63);
        labels.push(String::from_utf8(vec![c; n]).unwrap());
        c += 1;
        left -= n;
        left = left.saturating_sub(1); // the dot
    }
    let s = labels.join(".");
    assert_eq!(s.len(), len);
    s
}

fn switch_group(name: &str) -> String {
    format!("apiVersion: wiring.githedgehog.com/v1beta1\nkind: SwitchGroup\nmetadata:\n  name: {name}\n")
}

/// Every file below `root` with its bytes (folders as names ending in `/`).
fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(root)
        .into_iter()
        .map(|rel| {
            let bytes = if rel.ends_with('/') {
                Vec::new()
            } else {
                std::fs::read(root.join(&rel)).unwrap()
            };
            (rel, bytes)
        })
        .collect()
}

#[test]
fn ingesting_an_object_name_too_long_for_a_file_name_is_a_located_error_and_writes_nothing() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    // 250 characters is the longest name that fits (`<name>.yaml` = 255 bytes); 251 and 253 do not.
    for len in [251, 253] {
        let name = long_name(len);
        let content = format!("# a comment line\n{}", switch_group(&name));
        std::fs::write(root.join("raw/long.yaml"), &content).unwrap();
        let before = contents(&root);
        let out = env.run(&["ingest", "--fabric", "f", "--json"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let r = json(&out);
        let f = &r["files"][0];
        assert_eq!(f["file"], "raw/long.yaml", "{r:#}");
        assert_eq!(f["status"], "rejected", "{r:#}");
        let errors = f["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "one error, the name's: {r:#}");
        let e = &errors[0];
        assert_eq!(e["path"], "metadata.name", "{e}");
        assert_eq!(
            (e["line"].as_u64(), e["column"].as_u64()),
            (Some(5), Some(9)),
            "{e}"
        );
        assert_eq!(e["document"], 1, "{e}");
        assert_eq!(e["kind"], "SwitchGroup", "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("name is {len} characters long")),
            "{message}"
        );
        assert!(message.contains("limited to 250 characters"), "{message}");
        // Nothing written: every file of the root (raw file, managed files, manifest) byte for byte the same,
        // no transaction left; only the archive log records the rejection (once, not on every run).
        let after = contents(&root);
        let changed: Vec<&String> = after
            .keys()
            .chain(before.keys())
            .filter(|k| after.get(*k) != before.get(*k))
            .filter(|k| !k.starts_with(".hnp/lock") && k.as_str() != ".hnp/archive-log.yaml")
            .collect();
        assert!(
            changed.is_empty(),
            "changed by a rejected ingestion: {changed:?}"
        );
        let log = String::from_utf8(after[".hnp/archive-log.yaml"].clone()).unwrap();
        let old_log = String::from_utf8(before[".hnp/archive-log.yaml"].clone()).unwrap();
        let added = log.strip_prefix(old_log.as_str()).unwrap_or(&log);
        assert!(
            added.contains("operation: reject") && added.contains("raw/long.yaml"),
            "the rejection is logged: {added}"
        );
        assert!(!tree(&root)
            .iter()
            .any(|p| p.starts_with(".hnp/txn/") && p.len() > ".hnp/txn/".len()));
        // The text form says the same, compiler-style.
        let out = env.run(&["ingest", "--fabric", "f"]);
        assert_eq!(code(&out), 1);
        assert!(
            stderr(&out).contains("raw/long.yaml:5:9") && stderr(&out).contains("metadata.name"),
            "{}",
            stderr(&out)
        );
        // `validate` of the file says the same without a fabric.
        let out = env.run(&[
            "validate",
            "--json",
            root.join("raw/long.yaml").to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("limited to 250 characters"), "{text}");
        assert!(text.contains("metadata.name"), "{text}");
    }
    // The longest name that fits is taken.
    let name = long_name(250);
    std::fs::write(root.join("raw/long.yaml"), switch_group(&name)).unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    assert!(root
        .join(format!("managed/switchgroups/{name}.yaml"))
        .is_file());
    assert_consistent(&env, "f", &root);
}

#[test]
fn importing_an_object_name_too_long_for_a_file_name_is_reported_and_not_written() {
    let Some(k) = kube_support::start() else {
        return;
    };
    let name = long_name(253);
    k.server
        .create(
            json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "SwitchGroup",
                   "metadata": {"name": name}, "spec": {}}),
            "hhfab",
        )
        .unwrap();
    k.server
        .create(
            json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "SwitchGroup",
                   "metadata": {"name": "sg-1"}, "spec": {}}),
            "hhfab",
        )
        .unwrap();
    let root = k.fabric("g");
    let out = k.run(&["import", "--fabric", "g", "--from-cluster", "--json"], 1);
    let r = json(&out);
    let rejected = r["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{r:#}");
    assert_eq!(
        rejected[0]["object"],
        format!("SwitchGroup/{name}"),
        "{r:#}"
    );
    let e = &rejected[0]["errors"][0];
    assert_eq!(e["path"], "metadata.name", "{e}");
    assert!(
        e["line"].as_u64().unwrap() > 0 && e["column"].as_u64().unwrap() > 0,
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("limited to 250 characters"),
        "{e}"
    );
    // The other object is imported; the long one is nowhere under the root, and later runs work.
    assert!(root.join("managed/switchgroups/sg-1.yaml").is_file());
    assert!(
        !tree(&root).iter().any(|p| p.contains(&name[..60])),
        "{:?}",
        tree(&root)
    );
    k.run(&["import", "--fabric", "g", "--from-cluster"], 1);
    k.run(&["ingest", "--fabric", "g"], 0);
    k.run(&["reindex", "--fabric", "g"], 0);
}
