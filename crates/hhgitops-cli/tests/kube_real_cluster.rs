//! Opt-in checks against a real Kubernetes cluster with the Hedgehog CRDs: set `HHGITOPS_TEST_KUBECONFIG` (and
//! optionally `HHGITOPS_TEST_KUBE_CONTEXT`). Only reads and dry runs are sent: `drift`, and `sync --dry-run` of a
//! small fabric, so the cluster is never changed. Without the variable the test prints a note and passes.

mod common;

use common::*;

const NAMESPACES_AND_VPC: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: hhgitops-test
spec:
  ranges:
  - from: 2900
    to: 2999
";

#[test]
fn drift_and_a_dry_run_sync_against_a_real_cluster() {
    let Some(kubeconfig) = std::env::var_os("HHGITOPS_TEST_KUBECONFIG").filter(|v| !v.is_empty())
    else {
        eprintln!("note: HHGITOPS_TEST_KUBECONFIG is not set: the real-cluster test is skipped");
        return;
    };
    let env = TestEnv::sqlite();
    let root = env.path("real-gitops");
    let mut add = vec![
        "fabric".to_string(),
        "add".into(),
        "real".into(),
        "--path".into(),
        root.to_string_lossy().into_owned(),
        "--kubeconfig".into(),
        kubeconfig.to_string_lossy().into_owned(),
    ];
    if let Ok(ctx) = std::env::var("HHGITOPS_TEST_KUBE_CONTEXT") {
        add.push("--context".into());
        add.push(ctx);
    }
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    env.ok(&add);

    // An empty fabric: everything in the cluster is unmanaged (or a built-in profile); exit 0 or 1, never 2/3.
    let out = env.run(&["drift", "--fabric", "real", "--json"]);
    assert!(
        matches!(code(&out), 0 | 1),
        "drift failed: {}",
        stderr(&out)
    );
    let d = json(&out);
    assert_eq!(d["summary"]["missing"], 0);
    assert_eq!(d["summary"]["extra"], 0);

    // A dry run of one new object goes through the server's validation and admission but stores nothing.
    std::fs::write(root.join("raw/ns.yaml"), NAMESPACES_AND_VPC).unwrap();
    let out = env.run(&["sync", "--fabric", "real", "--dry-run", "--json"]);
    assert!(
        matches!(code(&out), 0 | 1),
        "dry-run sync failed: {}",
        stderr(&out)
    );
    let r = json(&out);
    let ns = r["apply"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "VLANNamespace" && o["name"] == "hhgitops-test")
        .cloned()
        .unwrap_or_default();
    assert!(
        matches!(ns["status"].as_str(), Some("planned" | "rejected")),
        "{r}"
    );
    let d = json(&env.run(&["drift", "--fabric", "real", "--json"]));
    assert!(
        !d["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "VLANNamespace"
                && o["name"] == "hhgitops-test"
                && o["status"] != "missing"),
        "the dry run created nothing: {d}"
    );
}
