//! `drift` and `import --from-cluster` against an in-process Kubernetes API server, through the real binary:
//! changes and deletions made in the cluster, server defaults that are not drift, unmanaged objects, and the
//! onboarding of a running fabric into an empty GitOps root.

mod common;
mod kube_support;

use common::*;
use hhgitops_core::Kind;
use kube_support::*;
use serde_json::{json, Value};

#[test]
fn drift_reports_edits_and_deletions_made_in_the_cluster_and_sync_repairs_them() {
    let Some(k) = start() else { return };
    let Some(vlab) = vlab() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "vlab.yaml", &vlab);
    k.run(&["sync", "--fabric", "f"], 0);
    let total: usize = kind_counts(&documents(&vlab)).values().sum();

    // Someone edits objects with kubectl: a new field, a changed value, and a deletion.
    k.server
        .merge_patch(
            "wiring.githedgehog.com/v1beta1",
            "Switch",
            "default",
            "leaf-01",
            &json!({"spec": {"enableAllPorts": true}}),
            "kubectl-edit",
        )
        .unwrap();
    k.server
        .merge_patch(
            "vpc.githedgehog.com/v1beta1",
            "VPC",
            "default",
            "vpc-02",
            &json!({"spec": {"subnets": {"subnet-01": {"vlan": 1202}}}}),
            "kubectl-edit",
        )
        .unwrap();
    k.server
        .delete(
            "wiring.githedgehog.com/v1beta1",
            "Server",
            "default",
            "server-06",
        )
        .unwrap();

    k.server.clear_request_log();
    let d = k.json(&["drift", "--fabric", "f"], 1);
    assert!(k.writes().is_empty(), "drift only reads");
    assert_eq!(d["drift"], true);
    let sw = entry(&d, "Switch", "leaf-01");
    assert_eq!(sw["status"], "drifted");
    assert_eq!(
        sw["fields"],
        json!([{"path": "spec.enableAllPorts", "change": "added", "live": true, "managers": ["kubectl-edit"]}])
    );
    let vpc = entry(&d, "VPC", "vpc-02");
    assert_eq!(
        vpc["fields"],
        json!([{"path": "spec.subnets.subnet-01.vlan", "change": "changed", "desired": 1002, "live": 1202,
                "managers": ["kubectl-edit"]}])
    );
    assert_eq!(entry(&d, "Server", "server-06")["status"], "missing");
    assert_eq!(d["summary"]["drifted"], 2);
    assert_eq!(d["summary"]["missing"], 1);
    assert_eq!(d["summary"]["inSync"], total - 3);

    let out = k.run(&["drift", "--fabric", "f"], 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "drifted Switch/leaf-01: spec.enableAllPorts: absent in Git, true in the cluster (set by kubectl-edit)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "drifted VPC/vpc-02: spec.subnets.subnet-01.vlan: 1002 in Git, 1202 in the cluster (set by kubectl-edit)"
        ),
        "{text}"
    );
    assert!(
        text.contains("missing Server/server-06: in Git, not in the cluster"),
        "{text}"
    );

    // Sync puts Git's content back (forcing ownership of fields another manager took) and only touches these.
    k.server.clear_request_log();
    let r = k.json(&["sync", "--fabric", "f"], 0);
    assert_eq!(r["apply"]["summary"]["created"], 1);
    assert_eq!(r["apply"]["summary"]["updated"], 2, "{r}");
    // One apply each, plus the merge patch that removes the field kubectl-edit added.
    assert_eq!(k.writes().len(), 4, "{:?}", k.writes());
    assert_eq!(
        k.object(Kind::VPC, "vpc-02").unwrap()["spec"]["subnets"]["subnet-01"]["vlan"],
        1002
    );
    assert!(k.object(Kind::Switch, "leaf-01").unwrap()["spec"]
        .get("enableAllPorts")
        .is_none());
    let d = k.json(&["drift", "--fabric", "f"], 0);
    assert_eq!(d["drift"], false, "{d}");
}

const SWITCH: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Switch
metadata:
  name: spine-01
  labels:
    rack: r1
spec:
  role: spine
  profile: vs
  asn: 65100
  ip: 172.30.0.10/21
  protocolIP: 172.30.8.10/32
  linkFlapErrDisable:
    flapThreshold: 5
";

#[test]
fn values_the_server_defaults_are_not_drift_but_labels_added_in_the_cluster_are() {
    let Some(k) = start() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "switch.yaml", SWITCH);
    k.run(&["sync", "--fabric", "f"], 0);
    let live = k.object(Kind::Switch, "spine-01").unwrap();
    assert_eq!(
        live["spec"]["linkFlapErrDisable"],
        json!({"flapThreshold": 5, "recoveryInterval": 300, "samplingInterval": 30}),
        "the CRD schema's defaults were applied by the server"
    );
    let d = k.json(&["drift", "--fabric", "f"], 0);
    assert_eq!(d["summary"]["inSync"], 2, "{d}");
    k.server.clear_request_log();
    k.run(&["sync", "--fabric", "f"], 0);
    assert!(k.writes().is_empty(), "{:?}", k.writes());

    // A label added by someone else is drift; a derived fabric label is not.
    k.server
        .apply(
            json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "Switch",
                   "metadata": {"name": "spine-01", "labels": {"team": "net",
                                "fabric.githedgehog.com/profile": "vs"}}}),
            "kubectl",
            false,
        )
        .unwrap();
    let d = k.json(&["drift", "--fabric", "f"], 1);
    let e = entry(&d, "Switch", "spine-01");
    assert_eq!(
        e["fields"],
        json!([{"path": "metadata.labels.team", "change": "added", "live": "net", "managers": ["kubectl"]}])
    );
    // Git is the source of truth: sync removes the label, and leaves the fabric's derived label alone.
    k.run(&["sync", "--fabric", "f"], 0);
    let labels = k.object(Kind::Switch, "spine-01").unwrap()["metadata"]["labels"].clone();
    assert!(labels.get("team").is_none(), "{labels}");
    assert_eq!(labels["rack"], "r1");
    assert_eq!(labels["fabric.githedgehog.com/profile"], "vs");
    k.run(&["drift", "--fabric", "f"], 0);
}

#[test]
fn objects_unknown_to_git_are_unmanaged_and_built_in_profiles_are_not_drift() {
    let Some(k) = start() else { return };
    let root = k.fabric("f");
    drop_raw(&root, "switch.yaml", SWITCH);
    k.run(&["sync", "--fabric", "f"], 0);
    k.server
        .create(
            json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "Server",
                   "metadata": {"name": "server-99"}, "spec": {}}),
            "kubectl",
        )
        .unwrap();
    k.server
        .create(
            json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "Server",
                   "metadata": {"name": "server-98", "labels": {"hhgitops.githedgehog.com/fabric": "other"}},
                   "spec": {}}),
            "hhgitops",
        )
        .unwrap();
    k.server.create(builtin_profile(), "fabric-ctrl").unwrap();
    let d = k.json(&["drift", "--fabric", "f"], 1);
    assert_eq!(entry(&d, "Server", "server-99")["status"], "unmanaged");
    let other = entry(&d, "Server", "server-98");
    assert_eq!(
        (&other["status"], &other["fabric"]),
        (&json!("unmanaged"), &json!("other"))
    );
    assert_eq!(entry(&d, "SwitchProfile", "vs")["status"], "builtin");
    assert_eq!(d["summary"]["unmanaged"], 2);
    assert_eq!(d["summary"]["builtin"], 1);
    // Pruning never touches them.
    k.run(&["sync", "--fabric", "f", "--prune"], 0);
    assert_eq!(k.objects(Kind::Server).len(), 2);
    assert_eq!(k.objects(Kind::SwitchProfile).len(), 1);
}

fn builtin_profile() -> Value {
    json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "SwitchProfile",
           "metadata": {"name": "vs"},
           "spec": {"displayName": "Virtual Switch", "switchSilicon": "vs", "nosType": "sonic-bcm-vs",
                    "platform": "x86_64-kvm_x86_64-r0"}})
}

/// Seeds the cluster with a fabric as `hhfab` would have created it: every object of `text` as the fabric's
/// mutating webhook stores it (defaulted; the test server has no webhook), created by field manager `hhfab`,
/// without hhgitops' label.
fn seed(k: &Kube, text: &str) -> usize {
    let report = hhgitops_core::validate::parse_source(
        "seed.yaml",
        text.as_bytes(),
        &hhgitops_core::yaml::Limits::default(),
        &hhgitops_core::settings::FabricSettings::default(),
    );
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let docs: Vec<Value> = report
        .objects
        .iter()
        .map(|o| {
            hhgitops_core::normalize::normalize_value(&hhgitops_core::defaults::default_object(
                &o.object,
            ))
        })
        .collect();
    for d in &docs {
        k.server
            .create(d.clone(), "hhfab")
            .unwrap_or_else(|e| panic!("seeding {}: {e:?}", d["metadata"]["name"]));
    }
    docs.len()
}

#[test]
fn import_of_a_running_fabric_into_an_empty_fabric_then_drift_reports_nothing() {
    let Some(k) = start() else { return };
    let Some(vlab) = vlab() else { return };
    let n = seed(&k, &vlab);
    k.server.create(builtin_profile(), "fabric-ctrl").unwrap();
    // A fabric whose root is inside a Git work tree, so that the import is committed.
    let repo = k.env.path("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let root = repo.join("gitops");
    k.env.ok(&[
        "fabric",
        "add",
        "g",
        "--path",
        root.to_str().unwrap(),
        "--kubeconfig",
        k.kubeconfig.to_str().unwrap(),
    ]);

    k.server.clear_request_log();
    let r = k.json(&["import", "--fabric", "g", "--from-cluster"], 0);
    assert!(k.writes().is_empty(), "import only reads the cluster");
    assert_eq!(r["summary"]["objects"], n + 1);
    assert_eq!(r["summary"]["created"], n, "{r}");
    assert_eq!(r["summary"]["rejected"], 0);
    assert_eq!(r["skipped"][0]["object"], "SwitchProfile/vs");
    assert_eq!(r["changed"], true);
    let vpc = std::fs::read_to_string(root.join("managed/vpcs/vpc-01.yaml")).unwrap();
    assert!(
        vpc.starts_with("apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\n"),
        "{vpc}"
    );
    for server_field in [
        "uid",
        "resourceVersion",
        "managedFields",
        "creationTimestamp",
        "generation",
        "status",
    ] {
        assert!(!vpc.contains(server_field), "{server_field} in {vpc}");
    }
    let inventory = manifest_inventory(&root);
    assert_eq!(inventory.len(), n);
    assert!(inventory.iter().all(|e| e.get("source").is_none()));
    let log = std::fs::read_to_string(root.join(".hnp/archive-log.yaml")).unwrap();
    assert!(log.contains("operation: import"), "{log}");
    assert_consistent(&k.env, "g", &root);
    let subject = git(&repo, &["log", "-1", "--format=%s"]);
    assert!(
        subject.starts_with("import fabric g from cluster: +1 VLANNamespace, +1 IPv4Namespace, +2 SwitchGroup, +5 Switch"),
        "{subject}"
    );
    assert_eq!(
        git(&repo, &["status", "--porcelain"]).trim(),
        "",
        "everything is committed"
    );

    // Git and the cluster now agree.
    let d = k.json(&["drift", "--fabric", "g"], 0);
    assert_eq!(d["drift"], false, "{d}");
    assert_eq!(d["summary"]["inSync"], n);
    assert_eq!(
        d["summary"]["adopt"], n,
        "imported objects are not labelled yet"
    );

    // The first sync adopts them (adds the label and the record), the second writes nothing.
    k.server.clear_request_log();
    let s = k.json(&["sync", "--fabric", "g"], 0);
    assert_eq!(s["apply"]["summary"]["updated"], n, "{s}");
    assert_eq!(k.writes().len(), n);
    k.server.clear_request_log();
    k.run(&["sync", "--fabric", "g"], 0);
    assert!(k.writes().is_empty());
    k.run(&["drift", "--fabric", "g"], 0);

    // Importing again changes nothing.
    let r = k.json(&["import", "--fabric", "g", "--from-cluster"], 0);
    assert_eq!(r["changed"], false);
    assert_eq!(r["summary"]["unchanged"], n);
    assert!(r["git"].is_null() || r["git"]["commit"].is_null(), "{r}");
}

#[test]
fn import_reports_and_leaves_out_objects_that_do_not_validate() {
    let Some(k) = start() else { return };
    k.server
        .create(
            json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "VLANNamespace",
                   "metadata": {"name": "default"}, "spec": {"ranges": [{"from": 1000, "to": 2999}]}}),
            "hhfab",
        )
        .unwrap();
    k.server
        .create(
            json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "IPv4Namespace",
                   "metadata": {"name": "default"}, "spec": {"subnets": ["10.0.0.0/16"]}}),
            "hhfab",
        )
        .unwrap();
    // The CRD accepts a 12-character VPC name; the fabric's rules do not.
    k.server
        .create(
            json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
                   "metadata": {"name": "much-too-long"},
                   "spec": {"subnets": {"default": {"subnet": "10.0.1.0/24", "vlan": 1001}}}}),
            "hhfab",
        )
        .unwrap();
    // Valid on its own, but its VLAN lies outside every VLAN namespace.
    k.server
        .create(
            json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
                   "metadata": {"name": "vpc-2"},
                   "spec": {"subnets": {"default": {"subnet": "10.0.2.0/24", "vlan": 3500}}}}),
            "hhfab",
        )
        .unwrap();
    let root = k.fabric("g");
    let out = k.run(&["import", "--fabric", "g", "--from-cluster", "--json"], 1);
    let r = json(&out);
    let rejected: Vec<&str> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["object"].as_str().unwrap())
        .collect();
    assert_eq!(rejected, ["VPC/much-too-long", "VPC/vpc-2"], "{r}");
    assert!(r["rejected"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("11"));
    assert_eq!(r["summary"]["created"], 2);
    assert!(!root.join("managed/vpcs/much-too-long.yaml").exists());
    assert!(!root.join("managed/vpcs/vpc-2.yaml").exists());
    assert!(root.join("managed/vlannamespaces/default.yaml").exists());
    let out = k.run(&["import", "--fabric", "g", "--from-cluster"], 1);
    assert!(
        stderr(&out).contains("VPC/much-too-long"),
        "{}",
        stderr(&out)
    );
}
