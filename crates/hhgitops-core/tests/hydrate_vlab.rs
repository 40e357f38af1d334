//! Hydration from scratch equals hhfab's: for the default VLAB, the mesh VLAB and the ~5,600-object fabric, the
//! generator's unhydrated output hydrated here equals its hydrated output object by object (the generator follows
//! hhfab's rules; CATALOGUE §8b.4). Incremental hydration of a new leaf keeps every existing value.

#[path = "validate_support/mod.rs"]
mod common;

use std::collections::BTreeMap;

use hhgitops_core::hydrate::{parse_fab_yaml, status, HydrateConfig};
use hhgitops_core::model::Object;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::{parse_source, parse_source_hydrated};
use hhgitops_core::yaml::Limits;

/// A fab.yaml as `hhfab vlab gen` writes it for `gateways` gateway nodes: one control node, one FabNode per
/// gateway (the generator places them after the control node in the management range).
fn fab_yaml(gateways: usize) -> String {
    let mut s = String::from(
        "apiVersion: fabricator.githedgehog.com/v1beta1\nkind: Fabricator\nmetadata: {name: default, namespace: fab}\nspec:\n  config:\n    control: {managementSubnet: 172.30.0.0/21, controlVIP: 172.30.0.1/21}\n    gateway: {enable: true}\n---\napiVersion: fabricator.githedgehog.com/v1beta1\nkind: ControlNode\nmetadata: {name: control-1, namespace: fab}\nspec: {management: {interface: enp2s0}}\n",
    );
    for i in 1..=gateways {
        s.push_str(&format!("---\napiVersion: fabricator.githedgehog.com/v1beta1\nkind: FabNode\nmetadata: {{name: gateway-{i}, namespace: fab}}\nspec: {{roles: [gateway]}}\n"));
    }
    s
}

fn by_key(bytes: &[u8], hydrate: Option<&HydrateConfig>) -> BTreeMap<(String, String), String> {
    let settings = FabricSettings::default();
    let report = match hydrate {
        None => parse_source("gen", bytes, &Limits::default(), &settings),
        Some(cfg) => {
            let (r, h) =
                parse_source_hydrated("gen", bytes, &Limits::default(), &settings, [], cfg);
            assert!(h.is_some(), "hydration failed: {:?}", r.errors);
            r
        }
    };
    assert!(
        report.errors.is_empty(),
        "{:?}",
        &report.errors[..report.errors.len().min(5)]
    );
    report
        .objects
        .iter()
        .map(|o| ((o.kind.to_string(), o.name.clone()), o.normalized().clone()))
        .collect()
}

fn assert_equal_hydration(args: &[&str], gateways: usize, with_fab: bool) {
    let Some(plain) = common::generate(&[args, &["--no-hydrate"]].concat()) else {
        return;
    };
    let Some(hydrated) = common::generate(args) else {
        return;
    };
    let base = HydrateConfig::from_settings(&FabricSettings::default());
    let cfg = if with_fab {
        parse_fab_yaml(fab_yaml(gateways).as_bytes(), &base).unwrap()
    } else {
        base
    };
    let ours = by_key(&plain, Some(&cfg));
    let theirs = by_key(&hydrated, None);
    assert_eq!(ours.len(), theirs.len(), "{args:?}: object count");
    let mut differing = Vec::new();
    for (k, v) in &theirs {
        match ours.get(k) {
            Some(o) if o == v => {}
            Some(o) => differing.push(format!("{k:?}:\n--- generator\n{v}\n--- hhgitops\n{o}")),
            None => differing.push(format!("{k:?} missing")),
        }
    }
    assert!(
        differing.is_empty(),
        "{args:?}: {} objects differ, first:\n{}",
        differing.len(),
        differing[0]
    );
    // And the status check finds the unhydrated input "none" and the result "full".
    let plain_objects = objects(&plain);
    assert_eq!(
        status(&plain_objects.iter().collect::<Vec<_>>()).name(),
        "none"
    );
}

fn objects(bytes: &[u8]) -> Vec<Object> {
    parse_source("gen", bytes, &Limits::default(), &FabricSettings::default())
        .objects
        .iter()
        .map(|o| (*o.object).clone())
        .collect()
}

#[test]
fn default_vlab_without_gateway_needs_no_fab_yaml() {
    assert_equal_hydration(&["--vpcs"], 0, false);
}

#[test]
fn default_vlab_with_gateway() {
    assert_equal_hydration(&["--gateways", "1", "--vpcs"], 1, true);
}

#[test]
fn mesh_vlab_with_gateway() {
    assert_equal_hydration(&["--mesh-links", "2", "--gateways", "1", "--vpcs"], 1, true);
}

#[test]
fn large_fabric() {
    assert_equal_hydration(
        &[
            "--spines",
            "8",
            "--eslag-leaf-groups",
            "2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2",
            "--orphan-leafs",
            "16",
            "--eslag-servers",
            "16",
            "--unbundled-servers",
            "16",
            "--bundled-servers",
            "16",
            "--gateways",
            "2",
            "--vpcs",
        ],
        2,
        true,
    );
}

#[test]
fn the_sample_matches_the_worked_example() {
    let Some(samples) = common::samples() else {
        return;
    };
    let Some((_, sample)) = samples
        .iter()
        .find(|(n, _)| n == "vlab-default-spine-leaf.hydrated-with-vpcs.yaml")
    else {
        return;
    };
    let Some(plain) = common::generate(&["--gateways", "1", "--vpcs", "--no-hydrate"]) else {
        return;
    };
    let cfg = parse_fab_yaml(
        fab_yaml(1).as_bytes(),
        &HydrateConfig::from_settings(&FabricSettings::default()),
    )
    .unwrap();
    assert_eq!(by_key(&plain, Some(&cfg)), by_key(sample, None));
}

#[test]
fn a_new_leaf_gets_the_next_values_and_nothing_else_changes() {
    let Some(hydrated) = common::generate(&["--gateways", "1"]) else {
        return;
    };
    let existing = objects(&hydrated);
    let new = br#"
apiVersion: wiring.githedgehog.com/v1beta1
kind: Switch
metadata: {name: leaf-04}
spec: {role: server-leaf, profile: vs, description: new}
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Connection
metadata: {name: spine-01--fabric--leaf-04}
spec:
  fabric:
    links:
    - spine: {port: spine-01/E1/40}
      leaf: {port: leaf-04/E1/1}
"#;
    let cfg = parse_fab_yaml(
        fab_yaml(1).as_bytes(),
        &HydrateConfig::from_settings(&FabricSettings::default()),
    )
    .unwrap();
    let (report, h) = parse_source_hydrated(
        "new",
        new,
        &Limits::default(),
        &FabricSettings::default(),
        existing.iter(),
        &cfg,
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let h = h.unwrap();
    assert_eq!(h.allocated(), 6, "{:?}", h.allocations);
    let spec = report.objects[0].object.spec.to_json();
    // default VLAB: mgmt .5 control, .6 gateway node, .7-.11 switches; protocol .0-.5 (gateway last); VTEP .0-.3;
    // leaf ASNs 65101-65103; fabric links: 6 fabric connections of 2 links and 2 gateway links use .0-.27.
    assert_eq!(spec["ip"], "172.30.0.12/21");
    assert_eq!(spec["protocolIP"], "172.30.8.6/32");
    assert_eq!(spec["vtepIP"], "172.30.12.4/32");
    assert_eq!(spec["asn"], 65104);
    let c = report.objects[1].object.spec.to_json();
    assert_eq!(c["fabric"]["links"][0]["spine"]["ip"], "172.30.128.28/31");
    assert_eq!(c["fabric"]["links"][0]["leaf"]["ip"], "172.30.128.29/31");
}
