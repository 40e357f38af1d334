//! Snapshots of what each command prints: the human output, the error messages and every `--json` document,
//! on fixed inputs (insta; snapshots in `tests/snapshots/`). What changes from run to run — temporary paths,
//! times, durations, ids, hashes, tokens — is replaced by a placeholder before the comparison, so a snapshot
//! changes only when what a person or a script reads changes. Under `CI=true` a missing or different snapshot
//! fails; locally `INSTA_UPDATE=always` (or `cargo insta review`) records new ones.
//!
//! Every key of every JSON snapshot is also looked up in `docs/json.md`: the document describes what the
//! commands print.

mod common;

use std::collections::BTreeSet;
use std::process::Output;

use common::*;

/// The placeholders: the test's directory, then times, durations, ids and hashes.
fn settings(env: &TestEnv) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    let tmp = env.dir.path().to_string_lossy().into_owned();
    s.add_filter(&regex_escape(&tmp), "[TMP]");
    // A token as `token create` shows it once.
    s.add_filter(r"hhg_[A-Za-z0-9_]+", "[TOKEN]");
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?",
        "[TIME]",
    );
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[ID]",
    );
    s.add_filter(r"\b[0-9a-f]{40,64}\b", "[HASH]");
    s.add_filter(r"\b\d+(\.\d+)? ?(ms|s|µs)\b", "[DURATION]");
    s.add_filter(
        r#""(durationMs|millis|elapsedMs|seconds)": [0-9.]+"#,
        r#""$1": [N]"#,
    );
    s
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The exit code, stdout and stderr of one run, as one text.
fn shown(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        code(out),
        stdout(out),
        stderr(out)
    )
}

/// Every object key of `v` at any depth (the keys of data-keyed maps and Kubernetes objects excepted, as the
/// camelCase check does).
fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    fn walk(v: &serde_json::Value, data_keys: bool, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.contains_key("apiVersion") && m.contains_key("kind") {
                    return;
                }
                for (k, child) in m {
                    if !data_keys {
                        out.insert(k.clone());
                    }
                    if ["value", "desired", "live", "json", "labels", "annotations"]
                        .contains(&k.as_str())
                    {
                        continue;
                    }
                    let data = !data_keys
                        && ["counts", "values", "kinds", "headers", "progress"]
                            .contains(&k.as_str());
                    walk(child, data, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, false, out)),
            _ => {}
        }
    }
    walk(v, false, out)
}

/// Checks that every key of a JSON document is named in docs/json.md (as `"key"` or `` `key` ``).
fn documented(v: &serde_json::Value) {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json.md"),
    )
    .expect("docs/json.md");
    let mut all = BTreeSet::new();
    keys(v, &mut all);
    let missing: Vec<_> = all
        .iter()
        .filter(|k| !doc.contains(&format!("\"{k}\"")) && !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys not described in docs/json.md: {missing:?}"
    );
}

/// Runs `args`, snapshots its human output under `name`.
fn human(env: &TestEnv, s: &insta::Settings, name: &str, args: &[&str]) -> Output {
    let out = env.run(args);
    s.bind(|| insta::assert_snapshot!(name, shown(&out)));
    out
}

/// Runs `args` (which include `--json`), checks the document is camelCase and documented, snapshots it
/// pretty-printed under `name`.
fn machine(env: &TestEnv, s: &insta::Settings, name: &str, args: &[&str]) -> serde_json::Value {
    let out = env.run(args);
    let v = json(&out);
    documented(&v);
    let text = format!(
        "exit: {}\n{}\n",
        code(&out),
        serde_json::to_string_pretty(&v).unwrap()
    );
    s.bind(|| insta::assert_snapshot!(name, text));
    v
}

const BAD_VPC: &str = "apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-bad
spec:
  subnets:
    default:
      subnet: 10.0.9.0/24
      gateway: 10.0.8.1
      vlan: 99999
";

/// A fabric with a raw queue of one good file (namespaces and two VPCs) and one bad one.
fn fixture(env: &TestEnv) -> std::path::PathBuf {
    let root = env.path("gitops");
    env.ok(&["fabric", "add", "f", "--path", root.to_str().unwrap()]);
    std::fs::write(
        root.join("raw/good.yaml"),
        format!(
            "{NAMESPACES}---\n{}---\n{}",
            vpc("vpc-1", 1),
            vpc("vpc-2", 2)
        ),
    )
    .unwrap();
    std::fs::write(root.join("raw/bad.yaml"), BAD_VPC).unwrap();
    root
}

#[test]
fn fabric_commands() {
    let env = TestEnv::sqlite();
    let s = settings(&env);
    let root = env.path("gitops");
    human(
        &env,
        &s,
        "fabric-add",
        &["fabric", "add", "f", "--path", root.to_str().unwrap()],
    );
    human(&env, &s, "fabric-list", &["fabric", "list"]);
    machine(&env, &s, "fabric-list-json", &["fabric", "list", "--json"]);
    machine(
        &env,
        &s,
        "fabric-show-json",
        &["fabric", "show", "f", "--json"],
    );
    human(
        &env,
        &s,
        "fabric-add-taken-name",
        &[
            "fabric",
            "add",
            "f",
            "--path",
            env.path("x").to_str().unwrap(),
        ],
    );
    human(
        &env,
        &s,
        "fabric-add-bad-name",
        &[
            "fabric",
            "add",
            "Not_A_Name",
            "--path",
            env.path("y").to_str().unwrap(),
        ],
    );
    human(
        &env,
        &s,
        "fabric-add-root-slash",
        &["fabric", "add", "g", "--path", "/"],
    );
    human(&env, &s, "fabric-show-unknown", &["fabric", "show", "nope"]);
    machine(
        &env,
        &s,
        "fabric-show-unknown-json",
        &["fabric", "show", "nope", "--json"],
    );
}

#[test]
fn validate_commands() {
    let env = TestEnv::sqlite();
    let s = settings(&env);
    let root = fixture(&env);
    let good = root.join("raw/good.yaml");
    let bad = root.join("raw/bad.yaml");
    human(
        &env,
        &s,
        "validate-good",
        &["validate", good.to_str().unwrap()],
    );
    machine(
        &env,
        &s,
        "validate-good-json",
        &["validate", good.to_str().unwrap(), "--json"],
    );
    let out = human(
        &env,
        &s,
        "validate-bad",
        &["validate", bad.to_str().unwrap()],
    );
    assert_ne!(code(&out), 0, "a bad file fails validation");
    let v = machine(
        &env,
        &s,
        "validate-bad-json",
        &["validate", bad.to_str().unwrap(), "--json"],
    );
    assert!(v.to_string().contains("spec.subnets.default"), "{v}");
    std::fs::write(env.path("broken.yaml"), "kind: VPC\nmetadata: [unclosed\n").unwrap();
    human(
        &env,
        &s,
        "validate-broken-yaml",
        &["validate", env.path("broken.yaml").to_str().unwrap()],
    );
}

#[test]
fn ingest_status_delete_commands() {
    // Human output.
    let env = TestEnv::sqlite();
    let s = settings(&env);
    fixture(&env);
    human(
        &env,
        &s,
        "ingest-dry-run",
        &["ingest", "--fabric", "f", "--dry-run"],
    );
    human(&env, &s, "ingest", &["ingest", "--fabric", "f"]);
    human(&env, &s, "status", &["status", "--fabric", "f"]);
    human(
        &env,
        &s,
        "delete",
        &["delete", "--fabric", "f", "VPC/vpc-2"],
    );
    human(
        &env,
        &s,
        "delete-unknown",
        &["delete", "--fabric", "f", "VPC/vpc-9"],
    );
    human(&env, &s, "reindex", &["reindex", "f"]);
    human(
        &env,
        &s,
        "status-unknown-fabric",
        &["status", "--fabric", "nope"],
    );

    // The same steps as JSON, in a second home.
    let env = TestEnv::sqlite();
    let s = settings(&env);
    fixture(&env);
    machine(
        &env,
        &s,
        "ingest-dry-run-json",
        &["ingest", "--fabric", "f", "--dry-run", "--json"],
    );
    let v = machine(
        &env,
        &s,
        "ingest-json",
        &["ingest", "--fabric", "f", "--json"],
    );
    assert_eq!(v["dryRun"], false, "{v}");
    machine(
        &env,
        &s,
        "status-json",
        &["status", "--fabric", "f", "--json"],
    );
    env.ok(&["delete", "--fabric", "f", "VPC/vpc-2"]);
    machine(
        &env,
        &s,
        "status-after-delete-json",
        &["status", "--fabric", "f", "--json"],
    );
    machine(
        &env,
        &s,
        "status-unknown-fabric-json",
        &["status", "--fabric", "nope", "--json"],
    );
}

#[test]
fn cluster_commands_without_a_cluster() {
    let env = TestEnv::sqlite();
    let s = settings(&env);
    fixture(&env);
    assert_eq!(
        code(&env.run(&["ingest", "--fabric", "f"])),
        1,
        "raw/bad.yaml is rejected"
    );
    // No kubeconfig for the fabric: a usage error that says what to set.
    let kubeconfig = env.path("no-such-kubeconfig");
    for (name, args) in [
        ("drift-no-cluster", vec!["drift", "--fabric", "f"]),
        ("sync-no-cluster", vec!["sync", "--fabric", "f"]),
    ] {
        let out = env
            .cmd()
            .env("KUBECONFIG", &kubeconfig)
            .args(&args)
            .output()
            .unwrap();
        assert_ne!(code(&out), 0, "{}", shown(&out));
        s.bind(|| insta::assert_snapshot!(name, shown(&out)));
    }
}

#[test]
fn token_commands() {
    let env = TestEnv::sqlite();
    let s = settings(&env);
    let out = human(
        &env,
        &s,
        "token-create",
        &["token", "create", "--name", "ci", "--scope", "read"],
    );
    assert!(stdout(&out).contains("hhg_"), "the token is shown once");
    machine(&env, &s, "token-list-json", &["token", "list", "--json"]);
    let v = machine(
        &env,
        &s,
        "token-create-json",
        &[
            "token", "create", "--name", "bot", "--scope", "write", "--json",
        ],
    );
    assert!(v["token"].as_str().unwrap().starts_with("hhg_"), "{v}");
    human(&env, &s, "token-revoke", &["token", "revoke", "ci"]);
    human(
        &env,
        &s,
        "token-revoke-unknown",
        &["token", "revoke", "nope"],
    );
}
