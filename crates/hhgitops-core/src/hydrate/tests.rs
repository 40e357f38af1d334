use super::*;
use serde_json::json;

fn sw(name: &str, spec: serde_json::Value) -> Object {
    Object::from_json(Kind::Switch, name, spec).unwrap()
}
fn conn(name: &str, spec: serde_json::Value) -> Object {
    Object::from_json(Kind::Connection, name, spec).unwrap()
}
fn cfg() -> HydrateConfig {
    HydrateConfig::from_settings(&FabricSettings::default())
}
fn spec_of(o: &Object) -> serde_json::Value {
    o.spec.to_json()
}

#[test]
fn from_scratch_order_and_values() {
    let mut input = vec![
        sw("leaf-02", json!({"role": "server-leaf"})),
        sw("spine-01", json!({"role": "spine"})),
        sw("leaf-01", json!({"role": "server-leaf"})),
        sw("border", json!({"role": "border-leaf"})),
        conn(
            "spine-01--fabric--leaf-01",
            json!({"fabric": {"links": [
            {"spine": {"port": "spine-01/E1/1"}, "leaf": {"port": "leaf-01/E1/1"}},
            {"spine": {"port": "spine-01/E1/2"}, "leaf": {"port": "leaf-01/E1/2"}}]}}),
        ),
    ];
    let rep = hydrate(&mut input, [], &cfg()).unwrap();
    // control-1 at .5, then spine-01 .6, border .7 (border-leaf < server-leaf), leaf-01 .8, leaf-02 .9
    assert_eq!(spec_of(&input[1])["ip"], "172.30.0.6/21");
    assert_eq!(spec_of(&input[1])["asn"], 65100);
    assert!(spec_of(&input[1]).get("vtepIP").is_none());
    assert_eq!(spec_of(&input[3])["ip"], "172.30.0.7/21");
    assert_eq!(spec_of(&input[3])["asn"], 65101);
    assert_eq!(spec_of(&input[3])["vtepIP"], "172.30.12.0/32");
    assert_eq!(spec_of(&input[2])["protocolIP"], "172.30.8.2/32");
    assert_eq!(spec_of(&input[0])["ip"], "172.30.0.9/21");
    assert_eq!(spec_of(&input[0])["asn"], 65103);
    let links = &spec_of(&input[4])["fabric"]["links"];
    assert_eq!(links[0]["spine"]["ip"], "172.30.128.0/31");
    assert_eq!(links[0]["leaf"]["ip"], "172.30.128.1/31");
    assert_eq!(links[1]["spine"]["ip"], "172.30.128.2/31");
    assert_eq!(rep.nodes[0].management_ip, "172.30.0.5/21");
    assert_eq!(rep.nodes[0].dummy_ip.as_deref(), Some("172.30.90.0/31"));
    assert_eq!(rep.changed.len(), 5);
}

#[test]
fn mclag_peers_share_asn_and_vtep() {
    let mut input = vec![
        sw(
            "leaf-01",
            json!({"role": "server-leaf", "redundancy": {"group": "m", "type": "mclag"}}),
        ),
        sw(
            "leaf-02",
            json!({"role": "server-leaf", "redundancy": {"group": "m", "type": "mclag"}}),
        ),
        sw("leaf-03", json!({"role": "server-leaf"})),
    ];
    hydrate(&mut input, [], &cfg()).unwrap();
    assert_eq!(spec_of(&input[0])["asn"], spec_of(&input[1])["asn"]);
    assert_eq!(spec_of(&input[0])["vtepIP"], spec_of(&input[1])["vtepIP"]);
    assert_eq!(spec_of(&input[2])["asn"], 65102);
    assert_eq!(spec_of(&input[2])["vtepIP"], "172.30.12.1/32");
    assert_ne!(spec_of(&input[0])["ip"], spec_of(&input[1])["ip"]);
}

#[test]
fn partly_hydrated_objects_are_errors() {
    let mut input = vec![sw("leaf-01", json!({"role": "server-leaf", "asn": 65101}))];
    let errs = hydrate(&mut input, [], &cfg()).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .message
            .contains("partly hydrated: it has asn but lacks ip, protocolIP, vtepIP"),
        "{}",
        errs[0]
    );
    assert!(
        spec_of(&input[0]).get("ip").is_none(),
        "nothing changes on error"
    );
    let mut input = vec![conn(
        "c",
        json!({"fabric": {"links": [{"spine": {"port": "s/E1/1", "ip": "172.30.128.0/31"}, "leaf": {"port": "l/E1/1"}}]}}),
    )];
    let errs = hydrate(&mut input, [], &cfg()).unwrap_err();
    assert_eq!(errs[0].path, "spec.fabric.links[0].leaf.ip");
}

#[test]
fn incremental_keeps_and_continues_after_highest() {
    let mut first = vec![
        sw("spine-01", json!({"role": "spine"})),
        sw("leaf-01", json!({"role": "server-leaf"})),
        sw("leaf-02", json!({"role": "server-leaf"})),
    ];
    hydrate(&mut first, [], &cfg()).unwrap();
    // leaf-01 removed from the fabric: its values are never reused; leaf-02 re-given unhydrated keeps its values.
    let existing = [first[0].clone(), first[2].clone()];
    let mut input = vec![
        sw("leaf-02", json!({"role": "server-leaf"})),
        sw("leaf-00", json!({"role": "server-leaf"})),
    ];
    let rep = hydrate(&mut input, existing.iter(), &cfg()).unwrap();
    assert_eq!(spec_of(&input[0]), spec_of(&first[2]));
    assert_eq!(spec_of(&input[1])["ip"], "172.30.0.9/21");
    assert_eq!(spec_of(&input[1])["asn"], 65103);
    assert_eq!(spec_of(&input[1])["vtepIP"], "172.30.12.2/32");
    assert_eq!(spec_of(&input[1])["protocolIP"], "172.30.8.3/32");
    assert_eq!(rep.allocated(), 4);
}

#[test]
fn exhausted_leaf_asns_are_pointed() {
    let mut c = cfg();
    c.leaf_asn_end = c.leaf_asn_start;
    let mut input = vec![
        sw("a", json!({"role": "server-leaf"})),
        sw("b", json!({"role": "server-leaf"})),
    ];
    let errs = hydrate(&mut input, [], &c).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].name, "b");
    assert_eq!(errs[0].path, "spec.asn");
    assert!(errs[0].message.contains("exhausted"));
}

#[test]
fn exhausted_management_range_is_pointed() {
    let mut c = cfg();
    c.management_dhcp_start = u32::from_be_bytes([172, 30, 0, 7]);
    let mut input = vec![
        sw("a", json!({"role": "spine"})),
        sw("b", json!({"role": "spine"})),
        sw("c", json!({"role": "spine"})),
    ];
    let errs = hydrate(&mut input, [], &c).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].name, "b");
    assert!(errs[0].message.contains("172.30.0.7"), "{}", errs[0]);
}

#[test]
fn bad_present_values_fail_the_check() {
    let mut input = vec![
        sw(
            "spine-01",
            json!({"role": "spine", "asn": 65000, "ip": "172.30.0.6/21", "protocolIP": "172.30.8.0/32"}),
        ),
        sw("leaf-01", json!({"role": "server-leaf"})),
    ];
    let errs = hydrate(&mut input, [], &cfg()).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message == "spine spine-01 ASN 65000 is not 65100"),
        "{errs:?}"
    );
}

#[test]
fn gateway_link_fills_interface_and_neighbor() {
    let mut input = vec![
        sw("spine-01", json!({"role": "spine"})),
        Object::from_json(
            Kind::Gateway,
            "gateway-1",
            json!({"interfaces": {"enp2s1": {}}}),
        )
        .unwrap(),
        conn(
            "spine-01--gateway--gateway-1",
            json!({"gateway": {"links": [{"switch": {"port": "spine-01/E1/9"}, "gateway": {"port": "gateway-1/enp2s1"}}]}}),
        ),
    ];
    hydrate(&mut input, [], &cfg()).unwrap();
    let g = spec_of(&input[1]);
    assert_eq!(g["interfaces"]["enp2s1"]["ips"], json!(["172.30.128.1/31"]));
    assert_eq!(g["interfaces"]["enp2s1"]["mtu"], 9100);
    assert_eq!(
        g["neighbors"],
        json!([{"source": "enp2s1", "ip": "172.30.128.0", "asn": 65100}])
    );
    assert_eq!(g["vtepMAC"], "CA:FE:BA:BE:01:01");
    assert_eq!(g["protocolIP"], "172.30.8.1/32");
    assert_eq!(g["vtepIP"], "172.30.12.0/32");
    assert_eq!(g["asn"], 65534);
    let mut bad = vec![
        sw("spine-01", json!({"role": "spine"})),
        Object::from_json(Kind::Gateway, "gateway-1", json!({"interfaces": {}})).unwrap(),
        conn(
            "spine-01--gateway--gateway-1",
            json!({"gateway": {"links": [{"switch": {"port": "spine-01/E1/9"}, "gateway": {"port": "gateway-1/enp2s1"}}]}}),
        ),
    ];
    let errs = hydrate(&mut bad, [], &cfg()).unwrap_err();
    assert_eq!(
        errs[0].message,
        "gateway gateway-1 does not have interface enp2s1"
    );
}

#[test]
fn fab_yaml_nodes_come_first() {
    let fab = br#"
apiVersion: fabricator.githedgehog.com/v1beta1
kind: Fabricator
metadata: {name: default, namespace: fab}
spec:
  config:
    control: {managementSubnet: 10.10.0.0/21, controlVIP: 10.10.0.1/21}
    fabric: {managementDHCPStart: 10.10.4.0, managementDHCPEnd: 10.10.7.254, spineASN: 64000, leafASNStart: 64001, leafASNEnd: 64100}
    gateway: {asn: 64200}
---
apiVersion: fabricator.githedgehog.com/v1beta1
kind: FabNode
metadata: {name: gateway-1, namespace: fab}
spec: {roles: [gateway]}
---
apiVersion: fabricator.githedgehog.com/v1beta1
kind: ControlNode
metadata: {name: control-1, namespace: fab}
spec: {management: {interface: enp2s0}}
"#;
    let c = parse_fab_yaml(fab, &cfg()).unwrap();
    assert_eq!(c.fab_nodes.len(), 1);
    let mut input = vec![sw("spine-01", json!({"role": "spine"}))];
    let rep = hydrate(&mut input, [], &c).unwrap();
    assert_eq!(spec_of(&input[0])["ip"], "10.10.0.7/21");
    assert_eq!(spec_of(&input[0])["asn"], 64000);
    assert_eq!(rep.nodes[1].management_ip, "10.10.0.6/21");
    assert!(parse_fab_yaml(b"kind: ControlNode\nmetadata: {name: a}\n", &cfg()).is_err());
}

#[test]
fn status_names() {
    let a = sw("a", json!({"role": "spine"}));
    assert_eq!(status(&[&a]).name(), "none");
    let b = sw(
        "b",
        json!({"role": "spine", "asn": 65100, "ip": "172.30.0.6/21", "protocolIP": "172.30.8.0/32"}),
    );
    assert_eq!(status(&[&b]).name(), "full");
    assert_eq!(status(&[&a, &b]).name(), "partial");
}
