//! A real `kubectl` against the server: discovery, server-side printing, server-side apply, YAML output,
//! deletion and validation errors. Skipped, with a note, when `kubectl` is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use hhgitops_testapi::{FaultRule, TestApiServer};
use serde_json::{json, Value};

fn kubectl_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("skipping: kubectl is not installed");
    }
    found
}

/// A server, a kubeconfig for it and a private kubectl home, so runs never touch the user's config or cache.
struct Session {
    server: TestApiServer,
    kubectl: PathBuf,
    dir: tempfile::TempDir,
}

impl Session {
    fn start() -> Option<Session> {
        let kubectl = kubectl_binary()?;
        let server = start()?;
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(dir.path().join("kubeconfig"))
            .unwrap();
        Some(Session {
            server,
            kubectl,
            dir,
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        let home = self.dir.path();
        Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(home.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(home.join("cache"))
            .args(args)
            .env("HOME", home)
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

const SWITCH_AND_VPC: &str = "\
apiVersion: wiring.githedgehog.com/v1beta1
kind: Switch
metadata:
  name: leaf-01
  labels:
    hhgitops.githedgehog.com/fabric: f1
spec:
  role: server-leaf
  profile: vs
  asn: 65101
  ip: 172.30.0.9/21
  vlanNamespaces: [default]
  linkFlapErrDisable: {}
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-1
spec:
  ipv4Namespace: default
  vlanNamespace: default
  subnets:
    default:
      subnet: 10.0.1.0/24
      gateway: 10.0.1.1
      vlan: 1001
";

#[test]
fn kubectl_get_lists_switches_with_their_printer_columns() {
    let Some(s) = Session::start() else { return };
    let empty = s.run(&["get", "switches"]);
    assert!(empty.status.success());
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("No resources found in default namespace")
    );

    s.server
        .create(switch("leaf-01", "server-leaf"), "seed")
        .unwrap();
    s.server
        .create(switch("spine-01", "spine"), "seed")
        .unwrap();
    let out = s.ok(&["get", "switches"]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        vec!["NAME", "PROFILE", "ROLE", "DESCR", "GROUPS", "AGE"],
        "{out}"
    );
    assert_eq!(&lines[1][..3], &["leaf-01", "vs", "server-leaf"], "{out}");
    assert_eq!(&lines[2][..3], &["spine-01", "vs", "spine"], "{out}");

    let names = s.ok(&[
        "get",
        "sw",
        "-l",
        "hhgitops.githedgehog.com/fabric=f1",
        "-o",
        "name",
    ]);
    assert_eq!(
        names,
        "switch.wiring.githedgehog.com/leaf-01\nswitch.wiring.githedgehog.com/spine-01\n"
    );
    let by_category = s.ok(&["get", "hedgehog", "-o", "name"]);
    assert!(
        by_category.contains("switch.wiring.githedgehog.com/leaf-01"),
        "{by_category}"
    );
}

#[test]
fn kubectl_server_side_apply_then_get_yaml_then_delete() {
    let Some(s) = Session::start() else { return };
    let file = s.file("objects.yaml", SWITCH_AND_VPC);
    let out = s.ok(&["apply", "--server-side", "-f", path_str(&file)]);
    assert_eq!(
        out,
        "switch.wiring.githedgehog.com/leaf-01 serverside-applied\nvpc.vpc.githedgehog.com/vpc-1 serverside-applied\n"
    );

    let yaml = s.ok(&["get", "vpc", "vpc-1", "-o", "yaml"]);
    let vpc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(vpc["apiVersion"], "vpc.githedgehog.com/v1beta1");
    assert_eq!(vpc["kind"], "VPC");
    assert_eq!(vpc["metadata"]["namespace"], "default");
    assert_eq!(vpc["metadata"]["generation"], 1);
    assert!(vpc["metadata"]["uid"].is_string());
    assert_eq!(
        vpc["spec"]["subnets"]["default"],
        json!({"subnet": "10.0.1.0/24", "gateway": "10.0.1.1", "vlan": 1001})
    );
    let sw = s
        .server
        .object("wiring.githedgehog.com", "switches", "default", "leaf-01")
        .unwrap();
    assert_eq!(
        sw["spec"]["linkFlapErrDisable"]["flapThreshold"], 3,
        "schema defaults are applied"
    );
    assert_eq!(sw["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(sw["metadata"]["managedFields"][0]["operation"], "Apply");

    // Applying the same file again sends the patches but changes nothing.
    let rv = s.server.resource_version();
    s.server.clear_request_log();
    s.ok(&["apply", "--server-side", "-f", path_str(&file)]);
    let patches: Vec<_> = s
        .server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2);
    assert!(patches.iter().all(|r| r.content_type.as_deref()
        == Some("application/apply-patch+yaml")
        && r.status == Some(200)));
    assert_eq!(s.server.resource_version(), rv);

    let out = s.ok(&["delete", "-f", path_str(&file)]);
    assert!(
        out.contains("switch.wiring.githedgehog.com \"leaf-01\" deleted"),
        "{out}"
    );
    assert!(
        out.contains("vpc.vpc.githedgehog.com \"vpc-1\" deleted"),
        "{out}"
    );
    assert!(s
        .server
        .objects("wiring.githedgehog.com", "switches")
        .is_empty());
    assert!(s.server.objects("vpc.githedgehog.com", "vpcs").is_empty());
    let gone = s.run(&["get", "vpc", "vpc-1"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("Error from server (NotFound)"));
}

#[test]
fn kubectl_reports_a_schema_invalid_object_with_its_field() {
    let Some(s) = Session::start() else { return };
    let file = s.file(
        "bad.yaml",
        "apiVersion: wiring.githedgehog.com/v1beta1\nkind: Switch\nmetadata:\n  name: leaf-09\nspec:\n  role: boss\n",
    );
    for args in [vec!["apply", "--server-side", "-f"], vec!["create", "-f"]] {
        let mut args = args.clone();
        args.push(path_str(&file));
        let out = s.run(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is invalid"), "{stderr}");
        assert!(stderr.contains("spec.role"), "{stderr}");
        assert!(stderr.contains("Unsupported value: \"boss\""), "{stderr}");
    }
    assert!(s
        .server
        .objects("wiring.githedgehog.com", "switches")
        .is_empty());
    assert!(s.server.request_log().iter().any(|r| r.status == Some(422)));
}

#[test]
fn kubectl_apply_conflicts_are_reported_and_force_resolves_them() {
    let Some(s) = Session::start() else { return };
    s.server
        .apply(switch("leaf-01", "spine"), "hhgitops", false)
        .unwrap();
    let mut sw = switch("leaf-01", "border-leaf");
    sw["spec"] = json!({"role": "border-leaf"});
    let file = s.file("sw.json", &sw.to_string());
    let out = s.run(&["apply", "--server-side", "-f", path_str(&file)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("conflict with \"hhgitops\""), "{stderr}");
    s.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        path_str(&file),
    ]);
    let live = s
        .server
        .object("wiring.githedgehog.com", "switches", "default", "leaf-01")
        .unwrap();
    assert_eq!(live["spec"]["role"], "border-leaf");
    assert_eq!(
        live["spec"]["asn"], 65101,
        "fields only hhgitops applied stay"
    );
}

#[test]
fn kubectl_patch_label_and_namespaces_work_as_on_a_cluster() {
    let Some(s) = Session::start() else { return };
    s.server.create(switch("leaf-01", "spine"), "seed").unwrap();
    s.ok(&[
        "patch",
        "switch",
        "leaf-01",
        "--type=merge",
        "-p",
        r#"{"spec":{"description":"rack 7"}}"#,
    ]);
    s.ok(&["label", "switch", "leaf-01", "rack=7"]);
    s.ok(&[
        "patch",
        "switch",
        "leaf-01",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/asn","value":65109}]"#,
    ]);
    let live = s
        .server
        .object("wiring.githedgehog.com", "switches", "default", "leaf-01")
        .unwrap();
    assert_eq!(live["spec"]["description"], "rack 7");
    assert_eq!(live["metadata"]["labels"]["rack"], "7");
    assert_eq!(live["spec"]["asn"], 65109);
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(
        managers.contains(&"kubectl-patch") && managers.contains(&"kubectl-label"),
        "{managers:?}"
    );

    s.ok(&["create", "namespace", "lab"]);
    assert!(s
        .ok(&["get", "namespaces", "-o", "name"])
        .contains("namespace/lab"));
    let file = s.file("objects.yaml", SWITCH_AND_VPC);
    s.ok(&["apply", "--server-side", "-n", "lab", "-f", path_str(&file)]);
    assert!(s
        .server
        .object("vpc.githedgehog.com", "vpcs", "lab", "vpc-1")
        .is_some());
    s.ok(&["delete", "namespace", "lab"]);
    assert!(s
        .server
        .object("vpc.githedgehog.com", "vpcs", "lab", "vpc-1")
        .is_none());
    let refused = s.run(&["delete", "namespace", "default"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Forbidden"));
}

#[test]
fn kubectl_uses_the_openapi_v2_document_when_v3_is_missing() {
    let Some(s) = Session::start() else { return };
    s.server
        .faults()
        .inject(FaultRule::error(404).path_contains("/openapi/v3"));
    let file = s.file("objects.yaml", SWITCH_AND_VPC);
    s.ok(&["apply", "--server-side", "-f", path_str(&file)]);
    // kubectl 1.32 falls back to /openapi/v2 (protobuf); whichever version runs, what it fetched must parse.
    let v2: Vec<_> = s
        .server
        .request_log()
        .into_iter()
        .filter(|r| r.path == "/openapi/v2")
        .collect();
    assert!(v2.iter().all(|r| r.status == Some(200)), "{v2:?}");
    assert_eq!(s.server.objects("vpc.githedgehog.com", "vpcs").len(), 1);
}
