//! Hydration and the fabric's configuration with the real binary: `hydrate`, `--hydrate if-missing` during
//! ingestion, `--fabric-config` (offline and stored), `fabric set`, `fabric show` with the source of every setting,
//! and the ConfigMap read from a cluster.

mod common;
mod kube_support;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::parse_source;
use hhgitops_core::yaml::Limits;

fn generate(args: &[&str]) -> Option<Vec<u8>> {
    let tool = shared_dir()?.join("tools/gen_vlab_wiring.py");
    let out = std::process::Command::new("python3")
        .arg(tool)
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

/// Normalized objects of a stream (parsed without rules that could reject them: these are generator outputs).
fn normalized(bytes: &[u8]) -> BTreeMap<String, String> {
    let s = FabricSettings {
        enable_gateway: true,
        ..FabricSettings::default()
    };
    let r = parse_source("x", bytes, &Limits::default(), &s);
    r.objects
        .iter()
        .map(|o| (format!("{}/{}", o.kind, o.name), o.normalized().clone()))
        .collect()
}

fn managed_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for kind in std::fs::read_dir(root.join("managed")).unwrap().flatten() {
        for f in std::fs::read_dir(kind.path()).unwrap().flatten() {
            out.insert(
                format!(
                    "{}/{}",
                    kind.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ),
                std::fs::read(f.path()).unwrap(),
            );
        }
    }
    out
}

const FAB_YAML_ONE_GATEWAY: &str = "apiVersion: fabricator.githedgehog.com/v1beta1
kind: Fabricator
metadata: {name: default, namespace: fab}
spec:
  config:
    control: {managementSubnet: 172.30.0.0/21, controlVIP: 172.30.0.1/21}
---
apiVersion: fabricator.githedgehog.com/v1beta1
kind: ControlNode
metadata: {name: control-1, namespace: fab}
spec: {management: {interface: enp2s0}}
---
apiVersion: fabricator.githedgehog.com/v1beta1
kind: FabNode
metadata: {name: gateway-1, namespace: fab}
spec: {roles: [gateway]}
";

#[test]
fn hydrate_command_gives_the_generators_values() {
    let env = TestEnv::sqlite();
    for (args, fab) in [
        (&["--vpcs"][..], false),
        (&["--gateways", "1", "--vpcs"][..], true),
    ] {
        let Some(plain) = generate(&[args, &["--no-hydrate"]].concat()) else {
            return;
        };
        let hydrated = generate(args).unwrap();
        let input = env.path("wiring.yaml");
        std::fs::write(&input, &plain).unwrap();
        let out = env.path("out.yaml");
        let fab_path = env.path("fab.yaml");
        std::fs::write(&fab_path, FAB_YAML_ONE_GATEWAY).unwrap();
        let mut cmd = vec![
            "hydrate",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--json",
        ];
        if fab {
            cmd.extend(["--fab", fab_path.to_str().unwrap()]);
        }
        let r = json(&env.expect_code(&cmd, 0));
        assert_eq!(r["statusBefore"], "none");
        assert!(r["allocated"].as_u64().unwrap() > 20, "{r}");
        assert!(r.get("documents").is_none(), "-o: documents go to the file");
        let ours = normalized(&std::fs::read(&out).unwrap());
        let theirs = normalized(&hydrated);
        assert_eq!(ours.len(), theirs.len());
        for (k, v) in &theirs {
            assert_eq!(ours.get(k), Some(v), "{args:?}: {k}");
        }
        // Hydrating the hydrated output again changes nothing and allocates nothing.
        let r = json(&env.expect_code(&["hydrate", out.to_str().unwrap(), "--json"], 0));
        assert_eq!(r["allocated"], 0);
        assert_eq!(r["statusBefore"], "full");
    }
    // A partly hydrated switch is a pointed error (exit 1), with file, line and field.
    let bad = env.path("partly.yaml");
    std::fs::write(&bad, "apiVersion: wiring.githedgehog.com/v1beta1\nkind: Switch\nmetadata:\n  name: leaf-01\nspec:\n  role: server-leaf\n  asn: 65101\n").unwrap();
    let out = env.expect_code(&["hydrate", bad.to_str().unwrap()], 1);
    let err = stderr(&out);
    assert!(err.contains("partly.yaml:6:3: Switch leaf-01: spec: partly hydrated: it has asn but lacks ip, protocolIP, vtepIP"), "{err}");
    assert!(stdout(&out).is_empty());
}

const NEW_LEAF: &str = "apiVersion: wiring.githedgehog.com/v1beta1
kind: Switch
metadata:
  name: leaf-04
spec:
  role: server-leaf
  profile: vs
  description: VS-06
  boot:
    mac: 0c:20:12:ff:05:00
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Connection
metadata:
  name: spine-01--fabric--leaf-04
spec:
  fabric:
    links:
    - spine: {port: spine-01/E1/20}
      leaf: {port: leaf-04/E1/1}
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Connection
metadata:
  name: spine-02--fabric--leaf-04
spec:
  fabric:
    links:
    - spine: {port: spine-02/E1/20}
      leaf: {port: leaf-04/E1/2}
";

#[test]
fn ingestion_hydrates_if_missing_and_a_new_leaf_changes_no_existing_file() {
    let Some(plain) = generate(&["--vpcs", "--no-hydrate"]) else {
        return;
    };
    let hydrated = generate(&["--vpcs"]).unwrap();
    let env = TestEnv::sqlite();
    let root = env.path("gitops");
    env.ok(&[
        "fabric",
        "add",
        "f",
        "--path",
        root.to_str().unwrap(),
        "--hydrate",
        "if-missing",
    ]);
    std::fs::write(root.join("raw/wiring.yaml"), &plain).unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["files"][0]["status"], "ingested", "{r}");
    // Managed files are the hydrated objects; the archived original is what was written.
    let before = managed_files(&root);
    let theirs = normalized(&hydrated);
    assert_eq!(before.len(), theirs.len());
    let leaf = String::from_utf8(before["switches/leaf-01.yaml"].clone()).unwrap();
    assert_eq!(Some(&leaf), theirs.get("Switch/leaf-01"));
    assert_eq!(
        std::fs::read(root.join("raw/wiring.yaml.archived")).unwrap(),
        plain
    );

    // One more leaf and its connections, unhydrated.
    std::fs::write(root.join("raw/leaf-04.yaml"), NEW_LEAF).unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    let f = &r["files"][0];
    assert_eq!(f["status"], "ingested", "{r}");
    assert_eq!(f["created"].as_array().unwrap().len(), 3);
    assert!(f["updated"].as_array().unwrap().is_empty());
    let after = managed_files(&root);
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
    assert_eq!(after.len(), before.len() + 3);
    let leaf4 = String::from_utf8(after["switches/leaf-04.yaml"].clone()).unwrap();
    // default VLAB: control-1 .5, spines .6-.7, leaves .8-.10; protocol .0-.4; VTEP .0-.2; ASNs 65101-65103;
    // 6 fabric connections of 2 links use 172.30.128.0-.23.
    for v in [
        "ip: 172.30.0.11/21",
        "protocolIP: 172.30.8.5/32",
        "vtepIP: 172.30.12.3/32",
        "asn: 65104",
    ] {
        assert!(leaf4.contains(v), "{v} in\n{leaf4}");
    }
    let c = String::from_utf8(after["connections/spine-01--fabric--leaf-04.yaml"].clone()).unwrap();
    assert!(
        c.contains("172.30.128.24/31") && c.contains("172.30.128.25/31"),
        "{c}"
    );
    let c = String::from_utf8(after["connections/spine-02--fabric--leaf-04.yaml"].clone()).unwrap();
    assert!(c.contains("172.30.128.26/31"), "{c}");

    // Without hydration the same file is refused (the fabric's webhooks reject an unhydrated switch).
    let root2 = env.path("gitops2");
    env.ok(&["fabric", "add", "g", "--path", root2.to_str().unwrap()]);
    std::fs::write(root2.join("raw/wiring.yaml"), &plain).unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "g", "--json"], 1));
    assert_eq!(r["files"][0]["status"], "rejected");
    // `fabric set` switches hydration on; the next run takes the file.
    env.ok(&["fabric", "set", "g", "--hydrate", "if-missing"]);
    std::fs::write(root2.join("raw/wiring.yaml"), [&plain[..], b"\n"].concat()).unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "g", "--json"], 0));
    assert_eq!(r["files"][0]["status"], "ingested", "{r}");
}

const CONFIG: &str = "# fabric-ctrl-config config.yaml
controlVIP: 172.30.0.1/21
fabricMode: collapsed-core
fabricSubnet: 10.99.0.0/16
vpcIRBVLANRange:
- {from: 3000, to: 3899}
users:
- name: admin
  password: $5$topsecrethash
  role: admin
  sshKeys: [ssh-ed25519 AAAAC3secretkey]
unknownFutureField: 1
";

#[test]
fn a_fabric_config_changes_the_verdicts() {
    let env = TestEnv::sqlite();
    let config = env.path("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    // A VPC in 10.99.1.0/24: fine with the default fabric subnet, reserved with the configured one.
    let vpcs = env.path("vpcs.yaml");
    let ipns = NAMESPACES.replace("10.0.0.0/16", "10.99.0.0/16");
    std::fs::write(
        &vpcs,
        format!(
            "{ipns}---\n{}",
            vpc("vpc-1", 1).replace("10.0.1.", "10.99.1.")
        ),
    )
    .unwrap();
    env.expect_code(&["validate", vpcs.to_str().unwrap()], 0);
    let r = json(&env.expect_code(
        &[
            "validate",
            "--fabric-config",
            config.to_str().unwrap(),
            vpcs.to_str().unwrap(),
            "--json",
        ],
        1,
    ));
    let msgs: Vec<String> = r["files"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(msgs.iter().any(|m| m.contains("10.99.0.0/16")), "{msgs:?}");

    // A mesh VLAB with ESLAG: valid in spine-leaf mode, refused in collapsed-core mode.
    let Some(mesh) = generate(&["--mesh-links", "2", "--vpcs"]) else {
        return;
    };
    let mesh_path = env.path("mesh.yaml");
    std::fs::write(&mesh_path, &mesh).unwrap();
    env.expect_code(&["validate", mesh_path.to_str().unwrap()], 0);
    let mode_only = env.path("mode.yaml");
    std::fs::write(&mode_only, "fabricMode: collapsed-core\n").unwrap();
    let r = json(&env.expect_code(
        &[
            "validate",
            "--fabric-config",
            mode_only.to_str().unwrap(),
            mesh_path.to_str().unwrap(),
            "--json",
        ],
        1,
    ));
    let msgs = r["files"][0]["errors"].to_string();
    assert!(msgs.contains("spine-leaf"), "{msgs}");

    // Stored with the fabric: ingestion uses it, `fabric show` says where each setting came from, and nothing
    // secret is kept.
    let root = env.path("gitops");
    env.ok(&[
        "fabric",
        "add",
        "f",
        "--path",
        root.to_str().unwrap(),
        "--fabric-config",
        config.to_str().unwrap(),
    ]);
    let show = env.ok(&["fabric", "show", "f"]);
    let line = show
        .lines()
        .find(|l| l.trim_start().starts_with("fabricSubnet"))
        .unwrap();
    assert!(
        line.contains("10.99.0.0/16") && line.trim_end().ends_with("file"),
        "{show}"
    );
    let line = show
        .lines()
        .find(|l| l.trim_start().starts_with("spineASN"))
        .unwrap();
    assert!(line.trim_end().ends_with("default"), "{line}");
    let j = json(&env.expect_code(&["fabric", "show", "f", "--json"], 0));
    assert_eq!(
        j["settings"]["values"]["fabricMode"]["value"],
        "collapsed-core"
    );
    assert_eq!(j["settings"]["values"]["fabricMode"]["source"], "file");
    assert_eq!(j["settings"]["config"]["source"], "file");
    for text in [
        show.clone(),
        j.to_string(),
        String::from_utf8_lossy(&std::fs::read(env.home().join("hhgitops.db")).unwrap())
            .into_owned(),
    ] {
        for secret in ["topsecrethash", "secretkey", "admin"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }
    std::fs::write(root.join("raw/vpcs.yaml"), std::fs::read(&vpcs).unwrap()).unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 1));
    assert_eq!(r["files"][0]["status"], "rejected");
    // `fabric set` with another file: the VPC becomes acceptable.
    std::fs::write(&config, "fabricSubnet: 172.30.128.0/17\n").unwrap();
    env.ok(&[
        "fabric",
        "set",
        "f",
        "--fabric-config",
        config.to_str().unwrap(),
    ]);
    std::fs::write(
        root.join("raw/vpcs.yaml"),
        [std::fs::read(&vpcs).unwrap(), b"\n".to_vec()].concat(),
    )
    .unwrap();
    let r = json(&env.expect_code(&["ingest", "--fabric", "f", "--json"], 0));
    assert_eq!(r["files"][0]["status"], "ingested", "{r}");
    // A malformed config is a usage error naming the field.
    std::fs::write(&config, "spineASN: [1]\n").unwrap();
    let out = env.expect_code(
        &[
            "fabric",
            "set",
            "f",
            "--fabric-config",
            config.to_str().unwrap(),
        ],
        2,
    );
    assert!(stderr(&out).contains("spineASN"), "{}", stderr(&out));
}

#[test]
fn the_cluster_configmap_is_read_by_show_refresh_drift_and_sync() {
    let Some(k) = kube_support::start() else {
        return;
    };
    let root = k.fabric("f");
    // No ConfigMap yet: the defaults stay.
    let j = k.json(&["fabric", "show", "f", "--refresh"], 0);
    assert_eq!(j["refresh"], "absent");
    assert_eq!(j["settings"]["values"]["fabricSubnet"]["source"], "default");
    k.server
        .create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fab"}}), "test")
        .unwrap();
    k.server
        .create(
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "fabric-ctrl-config", "namespace": "fab"},
                "data": {"config.yaml": CONFIG},
            }),
            "fabric-ctrl",
        )
        .unwrap();
    let j = k.json(&["fabric", "show", "f", "--refresh"], 0);
    assert_eq!(j["refresh"], "updated");
    assert_eq!(
        j["settings"]["values"]["fabricSubnet"]["value"],
        "10.99.0.0/16"
    );
    assert_eq!(j["settings"]["values"]["fabricSubnet"]["source"], "cluster");
    assert!(!j.to_string().contains("topsecrethash"));
    let j = k.json(&["fabric", "show", "f", "--refresh"], 0);
    assert_eq!(j["refresh"], "unchanged");
    // sync judges raw files with the cluster's settings: the VPC in the configured fabric subnet is refused.
    let ipns = NAMESPACES.replace("10.0.0.0/16", "10.99.0.0/16");
    kube_support::drop_raw(
        &root,
        "vpcs.yaml",
        &format!(
            "{ipns}---\n{}",
            vpc("vpc-1", 1).replace("10.0.1.", "10.99.1.")
        ),
    );
    let r = k.json(&["sync", "--fabric", "f"], 1);
    assert!(r.to_string().contains("10.99.0.0/16"), "{r}");
    // drift reads it too (a changed ConfigMap is stored anew).
    k.server
        .apply(
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "fabric-ctrl-config", "namespace": "fab"},
                "data": {"config.yaml": "fabricSubnet: 172.30.128.0/17\nspineASN: 64999\n"},
            }),
            "fabric-ctrl",
            true,
        )
        .unwrap();
    k.run(&["drift", "--fabric", "f"], 0);
    let j = k.json(&["fabric", "show", "f"], 0);
    assert_eq!(j["settings"]["values"]["spineASN"]["value"], 64999);
    assert_eq!(j["settings"]["values"]["spineASN"]["source"], "cluster");
}
