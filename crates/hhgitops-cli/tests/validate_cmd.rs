//! `hhgitops validate` with the real binary: compiler-style output, the JSON of SPEC §7, exit codes, and
//! validation merged over a fabric's managed state.

mod common;

use common::*;

#[test]
fn valid_and_invalid_files_with_exit_codes_and_locations() {
    let env = TestEnv::sqlite();
    let good = env.path("good.yaml");
    std::fs::write(&good, format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1))).unwrap();
    let out = env.expect_code(&["validate", good.to_str().unwrap()], 0);
    assert!(
        stdout(&out).starts_with("valid: 1 file(s), 3 object(s)"),
        "{}",
        stdout(&out)
    );

    let bad = env.path("bad.yaml");
    std::fs::write(&bad, vpc("vpc-2", 2).replace("vlan: 1002", "vlan: 5000")).unwrap();
    // Both files as one state: the namespaces come from good.yaml.
    let out = env.expect_code(
        &["validate", good.to_str().unwrap(), bad.to_str().unwrap()],
        1,
    );
    let err = stderr(&out);
    let expected = format!(
        "{}:10:13: VPC vpc-2: spec.subnets.default.vlan: ",
        bad.display()
    );
    assert!(
        err.lines().any(|l| l.starts_with(&expected)),
        "compiler-style location:\n{err}"
    );
    assert!(stdout(&out).contains("invalid: 1 of 2 file(s)"));

    let r = json(&env.expect_code(
        &[
            "validate",
            "--json",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        1,
    ));
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[0]["documents"], 3);
    assert_eq!(files[1]["valid"], false);
    let e = &files[1]["errors"][0];
    assert_eq!(
        (
            e["document"].as_u64(),
            e["line"].as_u64(),
            e["column"].as_u64()
        ),
        (Some(1), Some(10), Some(13))
    );
    assert_eq!(
        (e["kind"].as_str(), e["name"].as_str()),
        (Some("VPC"), Some("vpc-2"))
    );
    assert_eq!(e["path"], "spec.subnets.default.vlan");

    // Alone, the VPC's namespaces are missing: a cross-object error, located at the reference.
    let out = env.expect_code(&["validate", "--json", bad.to_str().unwrap()], 1);
    let msgs: Vec<String> = json(&out)["files"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert!(msgs.len() >= 2, "{msgs:?}");

    // Usage errors.
    env.expect_code(&["validate"], 2);
    env.expect_code(&["validate", env.path("missing.yaml").to_str().unwrap()], 2);
}

#[test]
fn syntax_errors_and_nasty_input_are_located() {
    let env = TestEnv::sqlite();
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "tabs.yaml",
            b"apiVersion: v1\nkind: VPC\nmetadata:\n\tname: x\n",
            "4:",
        ),
        (
            "dup.yaml",
            b"apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nkind: VPC\n",
            "3:1",
        ),
        ("binary.yaml", b"apiVersion: \x00\x01\x02\n", "1:"),
        ("latin1.yaml", b"kind: caf\xe9\n", "1:"),
    ];
    for (name, bytes, at) in cases {
        let p = env.path(name);
        std::fs::write(&p, bytes).unwrap();
        let out = env.expect_code(&["validate", p.to_str().unwrap()], 1);
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{}:{at}", p.display())),
            "{name}: {err}"
        );
    }
}

#[test]
fn validate_merged_over_a_fabric_and_its_managed_state() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");
    std::fs::write(
        root.join("raw/a.yaml"),
        format!("{NAMESPACES}---\n{}", vpc("vpc-1", 1)),
    )
    .unwrap();
    env.ok(&["ingest", "--fabric", "f"]);
    // A new VPC alone is valid against the fabric (its namespaces are managed there) …
    let new = env.path("new.yaml");
    std::fs::write(&new, vpc("vpc-2", 2)).unwrap();
    env.expect_code(&["validate", "--fabric", "f", new.to_str().unwrap()], 0);
    // … but not one whose subnet collides with a managed VPC.
    std::fs::write(&new, vpc("vpc-3", 1)).unwrap();
    let out = env.expect_code(
        &["validate", "--fabric", "f", "--json", new.to_str().unwrap()],
        1,
    );
    let r = json(&out);
    let errs = r["files"][0]["errors"].as_array().unwrap();
    assert!(
        errs.iter()
            .any(|e| e["message"].as_str().unwrap().contains("vpc-1")),
        "{r:#}"
    );
    // The managed state alone.
    let r = json(&env.expect_code(&["validate", "--fabric", "f", "--json"], 0));
    assert_eq!(r["files"].as_array().unwrap().len(), 3);
    assert!(r["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["valid"] == true));
    // A hand-broken managed file is reported there, located.
    let p = root.join("managed/vpcs/vpc-1.yaml");
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("vlan: 1001", "vlan: 9999"),
    )
    .unwrap();
    let r = json(&env.expect_code(&["validate", "--fabric", "f", "--json"], 1));
    let f = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "managed/vpcs/vpc-1.yaml")
        .unwrap()
        .clone();
    assert_eq!(f["valid"], false);
    assert!(
        f["errors"][0]["line"].as_u64().unwrap() > 1,
        "located at the field, not the document: {f}"
    );
}

#[test]
fn show_defaulted_prints_what_the_fabric_stores() {
    let env = TestEnv::sqlite();
    let file = env.path("wiring.yaml");
    std::fs::write(
        &file,
        "apiVersion: wiring.githedgehog.com/v1beta1
kind: Switch
metadata:
  name: leaf-01
spec:
  role: server-leaf
  profile: vs
  groups: [rack-2, rack-1]
  portSpeeds: {E1/1: SPEED_10G}
  asn: 65101
  ip: 172.30.0.9/21
  protocolIP: 172.30.8.2/32
  vtepIP: 172.30.12.0/32
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-1
spec:
  subnets:
    default: {subnet: 10.0.1.0/24, vlan: 1001, dhcp: {enable: true}}
",
    )
    .unwrap();
    let out = env.expect_code(&["validate", "--show-defaulted", file.to_str().unwrap()], 0);
    let text = stdout(&out);
    for needle in [
        "fabric.githedgehog.com/profile: vs",
        "- rack-1\n  - rack-2",
        "E1/1: 10G",
        "vlanNamespaces:\n  - default",
        "gateway: 10.0.1.1",
        "start: 10.0.1.2",
        "end: 10.0.1.255",
        "ipv4Namespace: default",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    assert_eq!(text.matches("\n---\n").count(), 1, "{text}");
    // The file itself is left as written.
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("SPEED_10G"));
    // An invalid object is still shown, its errors go to standard error, and the exit code says rejected.
    std::fs::write(
        &file,
        "apiVersion: wiring.githedgehog.com/v1beta1\nkind: Switch\nmetadata: {name: leaf-02}\nspec: {role: server-leaf, profile: vs}\n",
    )
    .unwrap();
    let out = env.expect_code(&["validate", "--show-defaulted", file.to_str().unwrap()], 1);
    assert!(stderr(&out).contains("switch is not hydrated: missing asn, ip, protocolIP, vtepIP"));
    assert!(stdout(&out).contains("name: leaf-02"));
}
