//! Drift with values: an object changed in the cluster by a real `kubectl patch` against the test API server is
//! reported with the value in Git, the value in the cluster and the field manager that set it, in the human
//! output, in `drift --json` and in the server's drift API.

mod common;
mod kube_support;
mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// `kubectl` on the PATH; `None` (test skipped, with a note) when it is not installed.
fn kubectl_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("note: kubectl is not installed: test skipped");
    }
    found
}

/// Runs the real `kubectl` against the test API server with a private home and cache.
fn kubectl(k: &kube_support::Kube, bin: &Path, args: &[&str]) {
    let home = k.env.path("kubectl-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(bin)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .arg("--cache-dir")
        .arg(home.join("cache"))
        .args(args)
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A VPC whose subnet is named `subnet-01`, VLAN 1001.
const VPC: &str = "apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-01
spec:
  subnets:
    subnet-01:
      subnet: 10.0.1.0/24
      gateway: 10.0.1.1
      vlan: 1001
";

/// A fabric synced to the cluster, then changed there by `kubectl patch`: the VLAN set to 1999 and a
/// description added.
fn patched() -> Option<kube_support::Kube> {
    let bin = kubectl_binary()?;
    let k = kube_support::start()?;
    let root = k.fabric("f");
    kube_support::drop_raw(&root, "vpc.yaml", &format!("{NAMESPACES}---\n{VPC}"));
    k.run(&["sync", "--fabric", "f"], 0);
    k.run(&["drift", "--fabric", "f"], 0);
    kubectl(
        &k,
        &bin,
        &[
            "patch",
            "vpc",
            "vpc-01",
            "--type=merge",
            "-p",
            r#"{"spec":{"subnets":{"subnet-01":{"vlan":1999,"dhcp":{"enable":true,"range":{"start":"10.0.1.10"}}}}}}"#,
        ],
    );
    Some(k)
}

fn vpc_fields(report: &Value) -> Value {
    kube_support::entry(report, "VPC", "vpc-01")["fields"].clone()
}

#[test]
fn drift_shows_the_git_value_the_cluster_value_and_who_set_it() {
    let Some(k) = patched() else { return };
    let out = k.run(&["drift", "--fabric", "f"], 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "drifted VPC/vpc-01: spec.subnets.subnet-01.vlan: 1001 in Git, 1999 in the cluster (set by kubectl-patch)"
        ),
        "{text}"
    );
    // A map only the cluster has is one difference, shown whole.
    assert!(
        text.contains(
            r#"drifted VPC/vpc-01: spec.subnets.subnet-01.dhcp: absent in Git, {"enable":true,"range":{"start":"10.0.1.10"}} in the cluster (set by kubectl-patch)"#
        ),
        "{text}"
    );

    let d = k.json(&["drift", "--fabric", "f"], 1);
    let fields = vpc_fields(&d);
    let vlan = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "spec.subnets.subnet-01.vlan")
        .unwrap_or_else(|| panic!("no vlan field in {fields}"));
    assert_eq!(
        vlan,
        &json!({"path": "spec.subnets.subnet-01.vlan", "change": "changed", "desired": 1001, "live": 1999,
                "managers": ["kubectl-patch"]})
    );

    // A sync shows what it puts back, with both values, and afterwards there is nothing to show.
    let out = k.run(&["sync", "--fabric", "f"], 0);
    let text = stdout(&out);
    assert!(
        text.contains("VPC/vpc-01: updated [")
            && text.contains(
                "spec.subnets.subnet-01.vlan: 1001 in Git, 1999 in the cluster (set by kubectl-patch)"
            ),
        "{text}"
    );
    let out = k.run(&["drift", "--fabric", "f"], 0);
    assert!(
        !stdout(&out).contains("in the cluster ("),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_server_s_drift_api_returns_both_values_and_the_manager() {
    let Some(k) = patched() else { return };
    let t = serve_support::tokens(&k.env);
    let s = serve_support::serve(&k.env, &["--no-watch"], &[]);
    let (code, job) = s.call(
        s.req(Method::POST, "/api/v1/fabrics/f/jobs", Some(&t.write))
            .json(&json!({"type": "drift"})),
    );
    assert_eq!(code, 202, "{job}");
    let done = s.wait_job(job["id"].as_str().unwrap(), &t.read);
    assert_eq!(done["state"], "succeeded", "{done}");
    let (code, body) = s.call(s.get("/api/v1/fabrics/f/drift?status=drifted", Some(&t.read)));
    assert_eq!(code, 200, "{body}");
    let objects = body["report"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{body}");
    let fields = vpc_fields(&body["report"]);
    assert!(
        fields.as_array().unwrap().contains(&json!({
            "path": "spec.subnets.subnet-01.vlan", "change": "changed", "desired": 1001, "live": 1999,
            "managers": ["kubectl-patch"]
        })),
        "{fields}"
    );
    assert!(
        fields.as_array().unwrap().contains(&json!({
            "path": "spec.subnets.subnet-01.dhcp", "change": "added",
            "live": {"enable": true, "range": {"start": "10.0.1.10"}}, "managers": ["kubectl-patch"]
        })),
        "{fields}"
    );
    s.terminate();
}
