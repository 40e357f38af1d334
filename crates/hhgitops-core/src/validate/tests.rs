//! Unit tests of the rules on typed values built in code (the file-based cases are in `tests/`).

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::state::Origin;

fn obj(kind: Kind, name: &str, spec: serde_json::Value) -> Object {
    match Object::from_json(kind, name, spec) {
        Ok(o) => o,
        Err(e) => panic!("bad test object {kind} {name}: {e}"),
    }
}

/// A Switch with distinct hydration values filled in (the fabric rejects unhydrated switches), unless the spec
/// sets any of them.
fn hydrated_switch(name: &str, mut spec: serde_json::Value) -> Object {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 200 + 10;
    if let Some(m) = spec.as_object_mut() {
        let hydrated = ["asn", "ip", "protocolIP", "vtepIP"]
            .iter()
            .any(|k| m.contains_key(*k));
        if !hydrated {
            let spine = m.get("role").and_then(|r| r.as_str()) == Some("spine");
            m.insert("asn".into(), json!(if spine { 65100 } else { 65101 + n }));
            m.insert("ip".into(), json!(format!("172.30.0.{n}/21")));
            m.insert("protocolIP".into(), json!(format!("172.30.8.{n}/32")));
            if !spine {
                m.insert("vtepIP".into(), json!(format!("172.30.12.{n}/32")));
            }
        }
    }
    obj(Kind::Switch, name, spec)
}

/// Object-rule findings as `path: message` lines.
fn findings(o: &Object) -> Vec<String> {
    findings_with(o, &FabricSettings::default())
}

fn findings_with(o: &Object, s: &FabricSettings) -> Vec<String> {
    check_object(o, s)
        .into_iter()
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect()
}

fn assert_one(found: &[String], path: &str, needle: &str) {
    let hits: Vec<&String> = found
        .iter()
        .filter(|f| f.starts_with(&format!("{path}: ")) && f.contains(needle))
        .collect();
    assert!(
        !hits.is_empty(),
        "expected a finding at {path} containing {needle:?}, found {found:#?}"
    );
}

fn state(objs: Vec<Object>) -> FabricState {
    let mut st = FabricState::new();
    for (i, o) in objs.into_iter().enumerate() {
        st.insert(
            Arc::new(o),
            Origin {
                file: Arc::from("test.yaml"),
                document: i + 1,
                span: Span::default(),
                root: None,
            },
        );
    }
    st
}

fn state_errors(st: &FabricState) -> Vec<String> {
    validate_state(st, &FabricSettings::default())
        .errors
        .into_iter()
        .map(|d| {
            format!(
                "{}/{} {}: {}",
                d.kind.unwrap_or_default(),
                d.name.unwrap_or_default(),
                d.path,
                d.message
            )
        })
        .collect()
}

fn base_fabric() -> Vec<Object> {
    vec![
        obj(
            Kind::VLANNamespace,
            "default",
            json!({"ranges": [{"from": 1000, "to": 2999}]}),
        ),
        obj(
            Kind::IPv4Namespace,
            "default",
            json!({"subnets": ["10.0.0.0/16"]}),
        ),
        obj(Kind::SwitchGroup, "eslag-1", json!({})),
        hydrated_switch(
            "leaf-01",
            json!({"role": "server-leaf", "profile": "vs", "redundancy": {"group": "eslag-1", "type": "eslag"}}),
        ),
        hydrated_switch(
            "leaf-02",
            json!({"role": "server-leaf", "profile": "vs", "redundancy": {"group": "eslag-1", "type": "eslag"}}),
        ),
        hydrated_switch("spine-01", json!({"role": "spine", "profile": "vs"})),
        obj(Kind::Server, "server-01", json!({})),
        obj(Kind::Server, "server-02", json!({})),
        obj(
            Kind::Connection,
            "server-01--unbundled--leaf-01",
            json!({"unbundled": {"link": {"server": {"port": "server-01/enp2s1"}, "switch": {"port": "leaf-01/E1/1"}}}}),
        ),
        obj(
            Kind::Connection,
            "server-02--eslag--leaf-01--leaf-02",
            json!({"eslag": {"links": [
                {"server": {"port": "server-02/enp2s1"}, "switch": {"port": "leaf-01/E1/2"}},
                {"server": {"port": "server-02/enp2s2"}, "switch": {"port": "leaf-02/E1/2"}}]}}),
        ),
        obj(
            Kind::VPC,
            "vpc-1",
            json!({"subnets": {"default": {"subnet": "10.0.1.0/24", "vlan": 1001, "dhcp": {"enable": true}}}}),
        ),
        obj(
            Kind::VPCAttachment,
            "a1",
            json!({"subnet": "vpc-1/default", "connection": "server-01--unbundled--leaf-01"}),
        ),
    ]
}

#[test]
fn base_fabric_is_valid() {
    let objs = base_fabric();
    for o in &objs {
        assert!(
            findings(o).is_empty(),
            "{} {}: {:?}",
            o.kind(),
            o.name(),
            findings(o)
        );
    }
    let st = state(objs);
    let r = validate_state(&st, &FabricSettings::default());
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    assert!(r.checked > 10);
    // The built-in profile vs is embedded: its ports and features were checked although it is not in the state.
    assert_eq!(r.unchecked, 0, "{:?}", r.unchecked_reasons);
}

// ------------------------------------------------------------------------------------------------ object rules

#[test]
fn switch_rules() {
    let f = findings(&hydrated_switch("s", json!({"role": "leaf"})));
    assert_one(&f, "spec.role", "expected one of spine, server-leaf");
    assert_one(&f, "spec.profile", "missing required field");
    let f = findings(&hydrated_switch(
        "s",
        json!({"role": "virtual-edge", "profile": "vs"}),
    ));
    assert_one(&f, "spec.role", "not supported");
    let f = findings(&hydrated_switch(
        "s",
        json!({"role": "spine", "profile": "vs", "vtepIP": "172.30.12.0/32"}),
    ));
    assert_one(&f, "spec.vtepIP", "spine must not");
    let f = findings(&hydrated_switch(
        "s",
        json!({"role": "server-leaf", "profile": "vs", "redundancy": {"group": "g"}}),
    ));
    assert_one(&f, "spec.redundancy.type", "without a type");
    let f = findings(&hydrated_switch(
        "s",
        json!({"role": "server-leaf", "profile": "vs", "redundancy": {"type": "lacp"}}),
    ));
    assert_one(&f, "spec.redundancy.type", "expected one of mclag, eslag");
    assert_one(&f, "spec.redundancy.group", "without a group");
    let f = findings(&hydrated_switch(
        "s",
        json!({"role": "spine", "profile": "vs", "portFECs": {"E1/1": "foo"}, "portLocators": {"E1/1": "soon"}}),
    ));
    assert_one(
        &f,
        "spec.portFECs.E1/1",
        "expected one of rs, fc, auto, disabled",
    );
    assert_one(&f, "spec.portLocators.E1/1", "duration");
    let f = findings(&hydrated_switch(
        "s",
        json!({"role": "spine", "profile": "vs", "linkFlapErrDisable": {"flapThreshold": 51, "samplingInterval": 0}}),
    ));
    assert_one(&f, "spec.linkFlapErrDisable.flapThreshold", "1 to 50");
    assert_one(&f, "spec.linkFlapErrDisable.samplingInterval", "1 to 65535");
}

#[test]
fn switch_hydration() {
    let ok = obj(
        Kind::Switch,
        "leaf-01",
        json!({"role": "server-leaf", "profile": "vs", "asn": 65101, "ip": "172.30.0.9/21", "protocolIP": "172.30.8.2/32", "vtepIP": "172.30.12.0/32"}),
    );
    assert!(findings(&ok).is_empty(), "{:?}", findings(&ok));
    let f = findings(&obj(
        Kind::Switch,
        "leaf-01",
        json!({"role": "server-leaf", "profile": "vs", "asn": 65101}),
    ));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_one(
        &f,
        "spec",
        "switch is partly hydrated: missing ip, protocolIP, vtepIP;",
    );
    assert_one(&f, "spec", "hhgitops hydrate");
    let f = findings(&obj(
        Kind::Switch,
        "leaf-01",
        json!({"role": "server-leaf", "profile": "vs", "asn": 64000, "ip": "172.30.4.9/21", "protocolIP": "172.30.8.2/31", "vtepIP": "10.0.0.1/32"}),
    ));
    assert_one(&f, "spec.asn", "leaf ASN range");
    assert_one(&f, "spec.ip", "DHCP range");
    assert_one(&f, "spec.protocolIP", "/32");
    assert_one(&f, "spec.vtepIP", "outside the VTEP subnet");
    let f = findings(&obj(
        Kind::Switch,
        "spine-01",
        json!({"role": "spine", "profile": "vs", "asn": 65101, "ip": "172.30.0.1/21", "protocolIP": "172.30.8.0/32"}),
    ));
    assert_one(&f, "spec.asn", "spine ASN");
    assert_one(&f, "spec.ip", "control VIP");
    // Unhydrated: one error naming every missing field; a spine needs no VTEP IP, nor a leaf in collapsed-core.
    let bare = obj(
        Kind::Switch,
        "leaf-01",
        json!({"role": "server-leaf", "profile": "vs"}),
    );
    let f = findings(&bare);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_one(
        &f,
        "spec",
        "switch is not hydrated: missing asn, ip, protocolIP, vtepIP;",
    );
    let cc = FabricSettings {
        fabric_mode: crate::settings::FabricMode::CollapsedCore,
        ..FabricSettings::default()
    };
    assert_one(
        &findings_with(&bare, &cc),
        "spec",
        "not hydrated: missing asn, ip, protocolIP;",
    );
    let spine = obj(
        Kind::Switch,
        "spine-01",
        json!({"role": "spine", "profile": "vs"}),
    );
    assert_one(
        &findings(&spine),
        "spec",
        "not hydrated: missing asn, ip, protocolIP;",
    );
}

#[test]
fn vlan_namespace_rules() {
    let f = findings(&obj(
        Kind::VLANNamespace,
        "v",
        json!({"ranges": [{"from": 0, "to": 10}, {"from": 20, "to": 10}, {"from": 2900, "to": 3100}, {"from": 5, "to": 0}]}),
    ));
    // The fabric's Default() drops all ranges when any is invalid (CATALOGUE §6b, §10.4): accepted, no ranges.
    assert!(f.is_empty(), "{f:?}");
    let f = findings(&obj(
        Kind::VLANNamespace,
        "v",
        json!({"ranges": [{"from": 2900, "to": 3100}, {"from": 5, "to": 0}]}),
    ));
    assert_one(&f, "spec.ranges[1]", "VPC IRB");
    assert_one(&f, "spec.ranges[1]", "fabric setting vpcIRBVLANRange");
    assert_eq!(f.len(), 1, "{f:?}");
}

#[test]
fn connection_shapes() {
    let f = findings(&obj(Kind::Connection, "c", json!({})));
    assert_one(&f, "spec", "found none");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"unbundled": {}, "external": {}}),
    ));
    assert_one(&f, "spec.external", "unbundled and external");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"unbundled": {"link": {"server": {"port": "srv"}, "switch": {"port": "leaf-01/E1/1"}}, "mtu": 9100}}),
    ));
    assert_one(&f, "spec.unbundled.link.server.port", "<device>/<port>");
    assert_one(&f, "spec.unbundled.mtu", "at most 9036");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"unbundled": {"link": {"switch": {"port": "leaf-01/E1/1"}}}}),
    ));
    assert_one(
        &f,
        "spec.unbundled.link.server.port",
        "missing required field",
    );
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"bundled": {"links": [
            {"server": {"port": "s1/e1"}, "switch": {"port": "leaf-01/E1/1"}},
            {"server": {"port": "s1/e2"}, "switch": {"port": "leaf-02/E1/1"}}]}}),
    ));
    assert_one(&f, "spec.bundled", "exactly 1 switch");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"eslag": {"links": [{"server": {"port": "s1/e1"}, "switch": {"port": "leaf-01/E1/1"}}]}}),
    ));
    assert_one(&f, "spec.eslag.links", "at least 2");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"fabric": {"links": [{"spine": {"port": "spine-01/E1/1", "ip": "172.30.128.0/31"}, "leaf": {"port": "spine-01/E1/1", "ip": "172.30.128.3/31"}}]}}),
    ));
    assert_one(&f, "spec.fabric.links[0].leaf.port", "used twice");
    assert_one(&f, "spec.fabric.links[0].leaf.ip", "same /31");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"mesh": {"links": [{"leaf1": {"port": "a/E1/1", "ip": "10.0.0.0/31"}, "leaf2": {"port": "b/E1/1"}}]}}),
    ));
    assert_one(&f, "spec.mesh.links[0].leaf2.ip", "both ends");
    assert_one(
        &f,
        "spec.mesh.links[0].leaf1.ip",
        "outside the fabric subnet",
    );
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"gateway": {"links": [{"switch": {"port": "a/E1/1", "ip": "172.30.128.0/30"}, "gateway": {"port": "gw/enp2s1", "ip": "172.30.128.1/30"}}]}}),
    ));
    assert_one(&f, "spec.gateway.links[0].switch.ip", "/31");
    // The gateway end is not a switch.
    let ok = obj(
        Kind::Connection,
        "c",
        json!({"gateway": {"links": [{"switch": {"port": "a/E1/1"}, "gateway": {"port": "gw/enp2s1"}}]}}),
    );
    assert!(findings(&ok).is_empty(), "{:?}", findings(&ok));
    // Deprecated MCLAG: accepted without further checks.
    assert!(findings(&obj(Kind::Connection, "c", json!({"mclag": {"links": []}}))).is_empty());
    let cc = FabricSettings {
        fabric_mode: crate::settings::FabricMode::CollapsedCore,
        ..FabricSettings::default()
    };
    assert_one(&findings_with(&ok, &cc), "spec.gateway", "spine-leaf mode");
}

#[test]
fn static_external_connection() {
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"staticExternal": {"link": {"switch": {"port": "leaf-01/E1/1", "ip": "172.31.0.1/24", "nextHop": "172.31.1.1", "subnets": ["10.0.0.1/24", "0.0.0.0/0", "172.30.0.0/24"]}}}}),
    ));
    assert_one(
        &f,
        "spec.staticExternal.link.switch.nextHop",
        "not in 172.31.0.0/24",
    );
    assert_one(
        &f,
        "spec.staticExternal.link.switch.subnets[0]",
        "host bits",
    );
    assert_one(
        &f,
        "spec.staticExternal.link.switch.subnets[1]",
        "only subnet",
    );
    assert_one(&f, "spec.staticExternal.link.switch.subnets[2]", "reserved");
    let f = findings(&obj(
        Kind::Connection,
        "c",
        json!({"staticExternal": {"link": {"switch": {"port": "leaf-01/E1/1", "ip": "172.31.0.1/24", "nextHop": "172.31.0.2", "subnets": ["10.0.0.0/16", "10.0.1.0/24"]}}}}),
    ));
    assert_one(&f, "spec.staticExternal.link.switch.subnets[1]", "overlaps");
}

#[test]
fn switch_profile_rules() {
    let good = json!({
        "displayName": "Virtual", "switchSilicon": "vs", "nosType": "sonic-bcm-vs", "platform": "x86",
        "ports": {
            "M1": {"nos": "Management0", "management": true, "oniePortName": "eth0"},
            "E1/1": {"nos": "Ethernet0", "label": "1", "group": "1"},
            "E1/2": {"nos": "1/2", "baseNOSName": "Ethernet4", "label": "2", "profile": "QSFP"}
        },
        "portGroups": {"1": {"nos": "1", "profile": "SFP"}},
        "portProfiles": {
            "SFP": {"speed": {"default": "25G", "supported": ["10G", "25G"]}},
            "QSFP": {"breakout": {"default": "1x100G", "supported": {"1x100G": {"offsets": ["0"]}, "4x25G": {"offsets": ["0", "1", "2", "3"]}}}}
        }
    });
    let extra = FabricSettings {
        allow_extra_switch_profiles: true,
        ..FabricSettings::default()
    };
    let o = obj(Kind::SwitchProfile, "my-switch", good.clone());
    assert!(
        findings_with(&o, &extra).is_empty(),
        "{:?}",
        findings_with(&o, &extra)
    );
    let f = findings(&obj(Kind::SwitchProfile, "my-switch", good.clone()));
    assert_one(&f, "metadata.name", "allowExtraSwitchProfiles = false");
    // A built-in name: immutable, the spec must equal the fabric's copy.
    let f = findings(&obj(Kind::SwitchProfile, "vs", good));
    assert_one(&f, "spec", "default switch profiles are immutable");
    let vs = crate::profiles::builtin("vs").unwrap().object.clone();
    assert!(findings(&vs).is_empty(), "{:?}", findings(&vs));
    // A CLS+ profile while CLS+ is not included.
    let clsp = crate::profiles::builtin("vs-clsp").unwrap().object.clone();
    assert_one(
        &findings(&clsp),
        "metadata.name",
        "fabric setting includeSONiCCLSPlus = false",
    );
    let with_clsp = FabricSettings {
        include_sonic_cls_plus: true,
        ..FabricSettings::default()
    };
    assert!(findings_with(&clsp, &with_clsp).is_empty());
    let bad = json!({
        "displayName": "", "nosType": "sonic", "otherNames": ["a", "a", ""],
        "ports": {
            "M1": {"nos": "Mgmt0", "management": true, "group": "1"},
            "E1/1": {"nos": "Ethernet0", "group": "1", "profile": "SFP"},
            "E1/2": {"nos": "Ethernet0", "label": "2", "profile": "QSFP", "pipeline": "p1"},
            "X1": {"nos": "Ethernet9", "label": "9", "group": "2"}
        },
        "portGroups": {"1": {"nos": "x", "profile": "QSFP"}, "3": {"nos": "3", "profile": "SFP"}},
        "portProfiles": {"SFP": {"speed": {"default": "30G", "supported": ["30G"]}, "autoNegDefault": true}, "QSFP": {"breakout": {"default": "3x10G", "supported": {"3x10G": {}}}}, "unused": {"speed": {"default": "1G", "supported": ["1G"]}}}
    });
    let f = findings(&obj(Kind::SwitchProfile, "vs", bad));
    for (path, needle) in [
        ("spec.displayName", "missing"),
        ("spec.switchSilicon", "missing"),
        ("spec.platform", "missing"),
        ("spec.nosType", "expected one of"),
        ("spec.otherNames[1]", "duplicate"),
        ("spec.otherNames[2]", "non-empty"),
        ("spec.ports.M1.nos", "Management<n>"),
        ("spec.ports.M1.oniePortName", "missing"),
        ("spec.ports.M1.group", "must not have a group"),
        ("spec.ports.E1/1", "found both"),
        ("spec.ports.E1/1.label", "missing"),
        ("spec.ports.E1/2.nos", "already used"),
        ("spec.ports.E1/2.nos", "1/<n>"),
        ("spec.ports.E1/2.baseNOSName", "missing"),
        ("spec.ports.E1/2.pipeline", "does not exist"),
        ("spec.ports.X1", "E<asic>/<port>"),
        ("spec.ports.X1.group", "does not exist"),
        ("spec.portGroups.1.nos", "positive integer"),
        ("spec.portGroups.1.profile", "speed profile"),
        ("spec.portGroups.3", "not referenced"),
        (
            "spec.portProfiles.SFP.autoNegDefault",
            "requires autoNegAllowed",
        ),
        (
            "spec.portProfiles.SFP.speed.supported[0]",
            "expected a speed",
        ),
        (
            "spec.portProfiles.QSFP.breakout.supported.3x10G",
            "breakout mode",
        ),
        (
            "spec.portProfiles.QSFP.breakout.supported.3x10G.offsets",
            "missing",
        ),
        ("spec.portProfiles.unused", "not referenced"),
    ] {
        assert_one(&f, path, needle);
    }
}

#[test]
fn ipv4_namespace_rules() {
    let f = findings(&obj(
        Kind::IPv4Namespace,
        "too-long-name",
        json!({"subnets": ["10.0.0.0/16", "10.0.1.0/24", "10.1.0.1/16", "172.30.0.0/16", "nope"]}),
    ));
    assert_one(&f, "metadata.name", "at most 11");
    assert_one(&f, "spec.subnets[1]", "overlaps");
    assert_one(&f, "spec.subnets[2]", "host bits");
    assert_one(&f, "spec.subnets[3]", "reserved");
    assert_one(&f, "spec.subnets[4]", "not an IPv4 prefix");
    let many: Vec<String> = (0..11).map(|i| format!("10.{i}.0.0/16")).collect();
    assert_one(
        &findings(&obj(Kind::IPv4Namespace, "n", json!({ "subnets": many }))),
        "spec.subnets",
        "at most 10",
    );
}

#[test]
fn vpc_subnet_rules() {
    let f = findings(&obj(
        Kind::VPC,
        "ext.vpc",
        json!({"mode": "l3flat", "subnets": {
            "a": {"subnet": "10.0.1.0/31", "vlan": 1001},
            "b": {"subnet": "10.0.2.0/24", "gateway": "10.0.3.1"},
            "c": {"subnet": "172.30.96.0/24", "vlan": 1003},
            "d": {"subnet": "10.0.4.0/24", "vlan": 1004, "dhcp": {"enable": true, "relay": "10.1.1.1/32", "range": {"start": "10.0.4.1", "end": "10.0.5.9"}, "options": {"dnsServers": ["x"], "interfaceMTU": 10000}}},
            "e": {"subnet": "10.0.4.128/25", "vlan": 1004},
            "f": {"subnet": "10.0.6.0/24", "vlan": 1006, "dhcp": {"relayVPC": "x", "static": {"00:11:22:33:44:55": {"ip": "10.0.6.7"}}}},
            "g": {"subnet": "10.0.7.0/24", "vlan": 1007, "hostBGPExtraPrefixes": {"10.9.0.0/24": {}}, "hostBGPMinPrefixLen": 24}
        }}),
    ));
    for (path, needle) in [
        ("metadata.name", "ext."),
        ("spec.mode", "l3flat is not supported"),
        ("spec.subnets.a.subnet", "/30 or shorter"),
        ("spec.subnets.b.gateway", "outside the subnet"),
        ("spec.subnets.b.vlan", "missing"),
        ("spec.subnets.c.subnet", "reserved"),
        ("spec.subnets.d.dhcp.relay", "cannot both"),
        ("spec.subnets.d.dhcp.range.start", "gateway"),
        ("spec.subnets.d.dhcp.range.end", "outside the subnet"),
        ("spec.subnets.d.dhcp.options.dnsServers[0]", "IPv4 address"),
        ("spec.subnets.d.dhcp.options.interfaceMTU", "96 to 9036"),
        ("spec.subnets.e.vlan", "already used by subnet d"),
        ("spec.subnets.e.subnet", "overlaps"),
        ("spec.subnets.f.dhcp.relayVPC", "requires relay"),
        ("spec.subnets.f.dhcp.static", "need the DHCP server"),
        ("spec.subnets.g.hostBGPExtraPrefixes", "only on hostBGP"),
        ("spec.subnets.g.hostBGPMinPrefixLen", "only on hostBGP"),
    ] {
        assert_one(&f, path, needle);
    }
}

#[test]
fn vpc_defaults_are_applied_when_checking() {
    // Gateway defaults to .1 and the range to .2 .. broadcast: a range starting at .1 hits the gateway.
    let f = findings(&obj(
        Kind::VPC,
        "v",
        json!({"subnets": {"s": {"subnet": "10.0.1.0/24", "vlan": 1001, "dhcp": {"enable": true, "range": {"start": "10.0.1.1"}}}}}),
    ));
    assert_one(&f, "spec.subnets.s.dhcp.range.start", "gateway");
    // Range and options without enable are dropped by the webhook's defaulting: accepted.
    let ok = obj(
        Kind::VPC,
        "v",
        json!({"subnets": {"s": {"subnet": "10.0.1.0/24", "vlan": 1001, "dhcp": {"range": {"start": "10.0.1.9"}}}}}),
    );
    assert!(findings(&ok).is_empty(), "{:?}", findings(&ok));
}

#[test]
fn vpc_static_leases_and_host_bgp() {
    let f = findings(&obj(
        Kind::VPC,
        "v",
        json!({"subnets": {
            "s": {"subnet": "10.0.1.0/24", "vlan": 1001, "dhcp": {"enable": true, "static": {
                "zz": {"ip": "10.0.1.9"}, "00:00:00:00:00:01": {"ip": "10.0.1.255"}, "00:00:00:00:00:02": {"ip": "10.0.1.1"},
                "00:00:00:00:00:03": {"ip": "10.0.1.10"}, "00:00:00:00:00:04": {"ip": "10.0.1.10"}, "00:00:00:00:00:05": {}}}},
            "h": {"subnet": "10.0.2.0/24", "hostBGP": true, "dhcp": {"enable": true}, "hostBGPMinPrefixLen": 20,
                  "hostBGPExtraPrefixes": {"10.0.9.1/24": {}, "10.0.8.0/24": {"minPrefixLen": 30, "maxPrefixLen": 28}, "172.30.0.0/24": {}}}
        }}),
    ));
    for (path, needle) in [
        ("spec.subnets.s.dhcp.static.zz", "MAC address"),
        (
            "spec.subnets.s.dhcp.static.00:00:00:00:00:01.ip",
            "broadcast",
        ),
        ("spec.subnets.s.dhcp.static.00:00:00:00:00:02.ip", "gateway"),
        (
            "spec.subnets.s.dhcp.static.00:00:00:00:00:04.ip",
            "already assigned",
        ),
        ("spec.subnets.s.dhcp.static.00:00:00:00:00:05.ip", "missing"),
        ("spec.subnets.h.dhcp.enable", "hostBGP"),
        (
            "spec.subnets.h.hostBGPMinPrefixLen",
            "shorter than the prefix length",
        ),
        (
            "spec.subnets.h.hostBGPExtraPrefixes[\"10.0.9.1/24\"]",
            "canonical",
        ),
        (
            "spec.subnets.h.hostBGPExtraPrefixes[\"10.0.8.0/24\"].minPrefixLen",
            "greater than the max",
        ),
        (
            "spec.subnets.h.hostBGPExtraPrefixes[\"172.30.0.0/24\"]",
            "reserved",
        ),
    ] {
        assert_one(&f, path, needle);
    }
    let ok = obj(
        Kind::VPC,
        "v",
        json!({"mode": "l3vni", "subnets": {"h": {"subnet": "10.0.2.0/24", "hostBGP": true, "vlan": 0, "hostBGPMinPrefixLen": 28, "hostBGPExtraPrefixes": {"10.9.0.0/16": {"minPrefixLen": 24}}}}}),
    );
    assert!(findings(&ok).is_empty(), "{:?}", findings(&ok));
}

#[test]
fn vpc_permits_and_routes() {
    let f = findings(&obj(
        Kind::VPC,
        "v",
        json!({"subnets": {"a": {"subnet": "10.0.1.0/24", "vlan": 1}, "b": {"subnet": "10.0.2.0/24", "vlan": 2}},
               "permit": [["a"], ["a", "x"], ["a", "a"]],
               "staticRoutes": [{"prefix": "10.42.0.1/24", "nextHops": ["10.0.1.5"]}, {"prefix": "10.43.0.0/24"}]}),
    ));
    assert_one(&f, "spec.permit[0]", "at least 2");
    assert_one(&f, "spec.permit[1][1]", "does not exist");
    assert_one(&f, "spec.permit[2][1]", "listed twice");
    assert_one(&f, "spec.staticRoutes[0].prefix", "host bits");
    assert_one(&f, "spec.staticRoutes[1].nextHops", "missing");
    assert_one(
        &findings(&obj(Kind::VPC, "v", json!({}))),
        "spec.subnets",
        "missing",
    );
}

#[test]
fn attachment_and_peering_rules() {
    let mut a = obj(Kind::VPCAttachment, "a", json!({"subnet": "/default"}));
    a.metadata.annotations = Some(
        [(
            crate::model::meta::P2P_LINK_ANNOTATION.to_string(),
            "10.0.0.0/30".to_string(),
        )]
        .into_iter()
        .collect(),
    );
    let f = findings(&a);
    assert_one(&f, "spec.subnet", "VPC name is missing");
    assert_one(&f, "spec.connection", "missing");
    assert_one(
        &f,
        "metadata.annotations[\"fabric.githedgehog.com/p2p-link\"]",
        "/31",
    );
    let f = findings(&obj(
        Kind::VPCPeering,
        "p",
        json!({"remote": "x", "permit": [{"a": {}, "b": {}, "c": {}}, {"a": {"subnets": []}, "d": {}}]}),
    ));
    assert_one(&f, "spec.remote", "not supported");
    assert_one(&f, "spec.permit[0]", "exactly 2 VPCs in a permit entry");
    assert_one(&f, "spec.permit[1].a.subnets", "1 to 10");
    assert_one(&f, "spec.permit", "exactly 2 VPCs across");
    let off = FabricSettings {
        vpc_peering_disabled: true,
        ..FabricSettings::default()
    };
    assert_one(
        &findings_with(
            &obj(
                Kind::VPCPeering,
                "p",
                json!({"permit": [{"a": {}, "b": {}}]}),
            ),
            &off,
        ),
        "spec",
        "disabled",
    );
}

#[test]
fn external_rules() {
    let f = findings(&obj(
        Kind::External,
        "external-bgp-1",
        json!({"inboundCommunity": "65102:70000", "outboundCommunity": "x"}),
    ));
    assert_one(&f, "metadata.name", "at most 11");
    assert_one(&f, "spec.inboundCommunity", "<0-65535>:<0-65535>");
    assert_one(&f, "spec.outboundCommunity", "<0-65535>:<0-65535>");
    let f = findings(&obj(
        Kind::External,
        "e",
        json!({"inboundCommunity": "1:1", "static": {"prefixes": ["10.0.0.0/8", "10.1.0.0/16"]}}),
    ));
    assert_one(
        &f,
        "spec.inboundCommunity",
        "static external has no communities",
    );
    assert_one(&f, "spec.static.prefixes[1]", "overlaps");
    assert_one(
        &findings(&obj(Kind::External, "e", json!({"static": {}}))),
        "spec.static.prefixes",
        "missing",
    );
}

#[test]
fn external_attachment_rules() {
    let f = findings(&obj(
        Kind::ExternalAttachment,
        "x",
        json!({"external": "e", "connection": "c", "switch": {"ip": "100.1.10.1"}, "neighbor": {"ip": "100.1.10"}}),
    ));
    assert_one(&f, "spec.switch.ip", "a.b.c.d/len");
    assert_one(&f, "spec.neighbor.asn", "missing");
    assert_one(&f, "spec.neighbor.ip", "IPv4 address");
    let f = findings(&obj(
        Kind::ExternalAttachment,
        "x",
        json!({"external": "e", "connection": "c", "switch": {"vlan": 5}, "neighbor": {}, "static": {"ip": "1.1.1.1/24", "proxy": true}}),
    ));
    assert_one(&f, "spec.switch", "no switch parameters");
    assert_one(&f, "spec.static.remoteIP", "missing");
    assert_one(&f, "spec.static", "found both");
    let f = findings(&obj(
        Kind::ExternalAttachment,
        "x",
        json!({"external": "e", "connection": "c"}),
    ));
    // The webhook's re-encoding adds `switch: {}` and `neighbor: {}` (CATALOGUE §10.2): their fields are missing.
    assert_one(&f, "spec.switch.ip", "missing");
    assert_one(&f, "spec.neighbor.asn", "missing");
    let f = findings(&obj(
        Kind::ExternalAttachment,
        "x",
        json!({"external": "e", "connection": "c", "switch": {}, "neighbor": {}, "static": {"remoteIP": "1.1.1.2", "proxy": true},
               "inboundACL": {"statements": [
                   {"seq": 5, "action": "allow", "protocol": "sctp", "srcPrefix": "any", "dstPrefix": "10.0.0.0/8"},
                   {"seq": 5, "action": "permit", "protocol": "udp", "srcPrefix": "x", "dstPrefix": "any", "tcpFilters": {"syn": true}, "icmpType": 3, "portRangeBegin": 20, "portRangeEnd": 10},
                   {"seq": 30, "action": "deny", "protocol": "tcp", "srcPrefix": "any", "dstPrefix": "any", "tcpFilters": {"established": true, "ack": true}},
                   {"seq": 40, "action": "deny", "protocol": "icmp", "dstPrefix": "any", "portRangeEnd": 10}]}}),
    ));
    for (path, needle) in [
        ("spec.inboundACL.statements[0].seq", "reserved"),
        (
            "spec.inboundACL.statements[0].action",
            "expected one of permit, deny, discard, transit",
        ),
        (
            "spec.inboundACL.statements[0].protocol",
            "expected one of ip, tcp, udp, icmp",
        ),
        ("spec.inboundACL.statements[1].seq", "already used"),
        ("spec.inboundACL.statements[1].srcPrefix", "prefix"),
        (
            "spec.inboundACL.statements[1].tcpFilters",
            "only to protocol tcp",
        ),
        (
            "spec.inboundACL.statements[1].icmpType",
            "only to protocol icmp",
        ),
        (
            "spec.inboundACL.statements[1].portRangeEnd",
            "below its begin",
        ),
        (
            "spec.inboundACL.statements[2].tcpFilters",
            "established excludes",
        ),
        ("spec.inboundACL.statements[3].srcPrefix", "missing"),
        (
            "spec.inboundACL.statements[3].portRangeBegin",
            "only to protocols tcp and udp",
        ),
    ] {
        assert_one(&f, path, needle);
    }
}

#[test]
fn external_peering_and_gateway_rules() {
    let f = findings(&obj(
        Kind::ExternalPeering,
        "p",
        json!({"permit": {"vpc": {}, "external": {"name": "e", "prefixes": [{}]}}}),
    ));
    assert_one(&f, "spec.permit.vpc.name", "missing");
    assert_one(&f, "spec.permit.external.prefixes[0].prefix", "missing");
    let gw = FabricSettings {
        enable_gateway: true,
        ..FabricSettings::default()
    };
    let peering = obj(
        Kind::GatewayPeering,
        "g",
        json!({"peering": {"vpc-1": {"expose": [{"nat": {"portForward": {"ports": [{"proto": "icmp"}]}}}]}}, "acl": {"rules": [{"scope": "x"}]}}),
    );
    // Without the gateway enabled, every gateway kind gets exactly that one error.
    let off = FabricSettings {
        enable_gateway: false,
        ..FabricSettings::default()
    };
    let f = findings_with(&peering, &off);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_one(&f, "", "fabric setting enableGateway = false");
    let f = findings_with(&peering, &gw);
    assert_one(
        &f,
        "spec.peering.vpc-1.expose[0].nat.portForward.ports[0].proto",
        "expected one of tcp, udp",
    );
    // One key: Default() stops early, so neither the group nor the ACL default is filled in.
    assert_one(&f, "spec.gatewayGroup", "missing");
    assert_one(&f, "spec.peering", "exactly 2 VPCs, got 1");
    assert_one(&f, "spec.acl.default", "missing");
    assert_one(&f, "spec.acl.rules[0].action", "missing");
    assert_one(
        &f,
        "spec.acl.rules[0].scope",
        "expected one of flow, packet",
    );
    let f = findings_with(
        &obj(
            Kind::Gateway,
            "g",
            json!({"logs": {"rateLimit": {"burst": -1}}, "groups": [{}]}),
        ),
        &gw,
    );
    assert_one(&f, "spec.logs.rateLimit.burst", "above 0");
    assert_one(&f, "spec.groups[0].name", "missing");
    assert_one(
        &f,
        "spec",
        "gateway is not hydrated: missing protocolIP, vtepIP, vtepMAC, asn, neighbors;",
    );
}

#[test]
fn metadata_rules() {
    let mut o = obj(Kind::Server, "s", json!({}));
    o.metadata.labels = Some(
        [
            ("bad key!".to_string(), "v".to_string()),
            ("ok".to_string(), "bad value!".to_string()),
        ]
        .into_iter()
        .collect(),
    );
    let f = findings(&o);
    assert_one(&f, "metadata.labels[\"bad key!\"]", "invalid label");
    assert_one(&f, "metadata.labels.ok", "label value");
}

// ------------------------------------------------------------------------------------------------ cross rules

fn with(mut objs: Vec<Object>, extra: Vec<Object>) -> FabricState {
    objs.extend(extra);
    state(objs)
}

fn assert_state(errs: &[String], needle: &str) {
    assert!(
        errs.iter().any(|e| e.contains(needle)),
        "expected a state error containing {needle:?}, found {errs:#?}"
    );
}

#[test]
fn references_resolve() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            hydrated_switch(
                "leaf-09",
                json!({"role": "server-leaf", "profile": "nope", "groups": ["g9"], "vlanNamespaces": ["v9"]}),
            ),
            obj(
                Kind::Connection,
                "c9",
                json!({"unbundled": {"link": {"server": {"port": "server-09/e1"}, "switch": {"port": "leaf-99/E1/1"}}}}),
            ),
            obj(
                Kind::VPC,
                "vpc-9",
                json!({"ipv4Namespace": "ns9", "vlanNamespace": "v9", "subnets": {"s": {"subnet": "10.9.0.0/24", "vlan": 1900, "dhcp": {"relay": "10.0.0.1/32", "relayVPC": "vpc-x"}}}}),
            ),
            obj(
                Kind::VPCAttachment,
                "a9",
                json!({"subnet": "vpc-x/default", "connection": "c-x"}),
            ),
            obj(
                Kind::VPCAttachment,
                "a10",
                json!({"subnet": "vpc-1/other", "connection": "server-01--unbundled--leaf-01"}),
            ),
            obj(
                Kind::External,
                "ext-9",
                json!({"ipv4Namespace": "ns9", "inboundCommunity": "1:1", "outboundCommunity": "1:2"}),
            ),
            obj(
                Kind::ExternalAttachment,
                "xa9",
                json!({"external": "ext-x", "connection": "c-x", "switch": {"ip": "1.1.1.1/24"}, "neighbor": {"asn": 1, "ip": "1.1.1.2"}}),
            ),
            obj(
                Kind::ExternalPeering,
                "xp9",
                json!({"permit": {"vpc": {"name": "vpc-x"}, "external": {"name": "ext-x", "prefixes": [{"prefix": "0.0.0.0/0"}]}}}),
            ),
            obj(
                Kind::VPCPeering,
                "vp9",
                json!({"permit": [{"vpc-1": {"subnets": ["nope"]}, "vpc-x": {}}]}),
            ),
            obj(Kind::Gateway, "gw-1", json!({"groups": [{"name": "gg"}]})),
            obj(
                Kind::GatewayPeering,
                "gp",
                json!({"gatewayGroup": "gg", "peering": {"vpc-1": {}, "ext.ext-x": {}}}),
            ),
        ],
    ));
    for needle in [
        "Switch/leaf-09 spec.profile: SwitchProfile \"nope\" does not exist",
        "Switch/leaf-09 spec.groups[0]: switch group \"g9\" does not exist",
        "Switch/leaf-09 spec.vlanNamespaces[0]: VLAN namespace \"v9\" does not exist",
        "Connection/c9 spec.unbundled.link.server.port: server \"server-09\" does not exist",
        "Connection/c9 spec.unbundled.link.switch.port: switch \"leaf-99\" does not exist",
        "VPC/vpc-9 spec.ipv4Namespace",
        "VPC/vpc-9 spec.vlanNamespace",
        "VPC/vpc-9 spec.subnets.s.dhcp.relayVPC",
        "VPCAttachment/a9 spec.subnet: VPC \"vpc-x\" does not exist",
        "VPCAttachment/a9 spec.connection",
        "VPCAttachment/a10 spec.subnet: subnet \"other\" does not exist in VPC vpc-1",
        "External/ext-9 spec.ipv4Namespace",
        "ExternalAttachment/xa9 spec.external",
        "ExternalAttachment/xa9 spec.connection",
        "ExternalPeering/xp9 spec.permit.vpc.name",
        "ExternalPeering/xp9 spec.permit.external.name",
        "VPCPeering/vp9 spec.permit[0].vpc-x",
        "VPCPeering/vp9 spec.permit[0].vpc-1.subnets[0]: subnet \"nope\"",
        "Gateway/gw-1 spec.groups[0].name",
        "GatewayPeering/gp spec.gatewayGroup",
        "GatewayPeering/gp spec.peering[\"ext.ext-x\"]",
    ] {
        assert_state(&errs, needle);
    }
    assert!(
        !errs
            .iter()
            .any(|e| e.contains("GatewayPeering/gp spec.peering.vpc-1")),
        "{errs:#?}"
    );
}

#[test]
fn ports_collide_across_connections_with_breakout_alias() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(Kind::Server, "server-03", json!({})),
            obj(
                Kind::Connection,
                "c-dup",
                json!({"unbundled": {"link": {"server": {"port": "server-03/enp2s1"}, "switch": {"port": "leaf-01/E1/1/1"}}}}),
            ),
            obj(
                Kind::Connection,
                "c-dup2",
                json!({"unbundled": {"link": {"server": {"port": "server-03/enp2s2"}, "switch": {"port": "leaf-02/E1/2"}}}}),
            ),
        ],
    ));
    assert_state(&errs, "Connection/c-dup spec.unbundled.link.switch.port: port leaf-01/E1/1/1 is already used by connection server-01--unbundled--leaf-01");
    assert_state(
        &errs,
        "Connection/c-dup2 spec.unbundled.link.switch.port: port leaf-02/E1/2 is already used",
    );
}

#[test]
fn ports_exist_in_profile_when_profile_is_in_state() {
    let profile = obj(
        Kind::SwitchProfile,
        "vs",
        json!({"displayName": "v", "switchSilicon": "vs", "nosType": "sonic-bcm-vs", "platform": "p",
               "features": {"l2vni": true, "l3vni": true, "eslag": true},
               "ports": {"E1/1": {"nos": "Ethernet0", "label": "1", "profile": "SFP"}, "E1/2": {"nos": "1/2", "baseNOSName": "Ethernet4", "label": "2", "profile": "Q"}},
               "portProfiles": {"SFP": {"speed": {"default": "25G", "supported": ["25G"]}}, "Q": {"breakout": {"default": "4x25G", "supported": {"4x25G": {"offsets": ["0", "1", "2", "3"]}}}}}}),
    );
    let st = with(
        base_fabric(),
        vec![
            profile,
            obj(Kind::Server, "server-03", json!({})),
            obj(
                Kind::Connection,
                "c3",
                json!({"unbundled": {"link": {"server": {"port": "server-03/e1"}, "switch": {"port": "leaf-01/E1/49"}}}}),
            ),
            obj(
                Kind::Connection,
                "c4",
                json!({"unbundled": {"link": {"server": {"port": "server-03/e2"}, "switch": {"port": "leaf-02/E1/2/3"}}}}),
            ),
        ],
    );
    let r = validate_state(&st, &FabricSettings::default());
    let errs: Vec<String> = r
        .errors
        .iter()
        .map(|d| {
            format!(
                "{}/{} {}: {}",
                d.kind.clone().unwrap_or_default(),
                d.name.clone().unwrap_or_default(),
                d.path,
                d.message
            )
        })
        .collect();
    // The switches use the built-in vs (48 group ports), whose spec replaces the state's copy of vs.
    assert_state(
        &errs,
        "Connection/c3 spec.unbundled.link.switch.port: port E1/49 does not exist on switch leaf-01",
    );
    assert_state(
        &errs,
        "Connection/c4 spec.unbundled.link.switch.port: port E1/2/3 does not exist on switch leaf-02",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(r.unchecked, 0, "{:?}", r.unchecked_reasons);
}

#[test]
fn switch_profile_settings_are_checked() {
    let profile = obj(
        Kind::SwitchProfile,
        "custom",
        json!({"displayName": "v", "switchSilicon": "vs", "nosType": "sonic-bcm-vs", "platform": "p", "maxPorts": 3,
               "ports": {"E1/1": {"nos": "Ethernet0", "label": "1", "profile": "SFP"}, "E1/2": {"nos": "1/2", "baseNOSName": "Ethernet4", "label": "2", "profile": "Q"}},
               "portProfiles": {"SFP": {"speed": {"default": "25G", "supported": ["25G"]}}, "Q": {"breakout": {"default": "1x100G", "supported": {"1x100G": {"offsets": ["0"]}, "4x25G": {"offsets": ["0", "1", "2", "3"]}}}}}}),
    );
    let sw = hydrated_switch(
        "leaf-07",
        json!({"role": "server-leaf", "profile": "custom", "roce": true, "redundancy": {"group": "eslag-1", "type": "eslag"},
               "portSpeeds": {"E1/1": "SPEED_10G", "E1/9": "25G"}, "portBreakouts": {"E1/2": "4x25G", "E1/1": "4x25G"},
               "portAutoNegs": {"E1/1": true}, "portFECs": {"E1/2": "rs", "E1/2/1": "rs"}, "portLocators": {"E1/1": "10m"}}),
    );
    let extra = FabricSettings {
        allow_extra_switch_profiles: true,
        ..FabricSettings::default()
    };
    let errs: Vec<String> = validate_state(&with(base_fabric(), vec![profile, sw]), &extra)
        .errors
        .into_iter()
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    for needle in [
        "spec.portSpeeds.E1/1: port \"E1/1\" does not support speed 10G",
        "spec.portSpeeds.E1/9: port \"E1/9\" does not exist",
        "spec.portBreakouts.E1/1: port \"E1/1\" cannot be broken out",
        "spec.portAutoNegs.E1/1: port \"E1/1\" does not support configuring auto-negotiation",
        "spec.portFECs.E1/2: port \"E1/2\" does not support configuring FEC",
        "spec.portLocators: port locators are not supported",
        "spec.roce: RoCEv2 is not supported",
        "spec.redundancy: ESLAG is not supported",
        "the switch would have 5 ports",
    ] {
        assert_state(&errs, needle);
    }
    assert!(!errs.iter().any(|e| e.contains("E1/2/1")), "{errs:#?}");
}

#[test]
fn hydration_uniqueness() {
    let sw = |name: &str, role: &str, extra: serde_json::Value| {
        let mut spec = json!({"role": role, "profile": "vs"});
        if let (Some(m), Some(x)) = (spec.as_object_mut(), extra.as_object()) {
            m.extend(x.clone());
        }
        obj(Kind::Switch, name, spec)
    };
    let st = state(vec![
        obj(
            Kind::VLANNamespace,
            "default",
            json!({"ranges": [{"from": 1000, "to": 2999}]}),
        ),
        obj(Kind::SwitchGroup, "mclag-1", json!({})),
        sw(
            "leaf-01",
            "server-leaf",
            json!({"asn": 65101, "ip": "172.30.0.9/21", "protocolIP": "172.30.8.2/32", "vtepIP": "172.30.12.0/32", "redundancy": {"group": "mclag-1", "type": "mclag"}}),
        ),
        sw(
            "leaf-02",
            "server-leaf",
            json!({"asn": 65101, "ip": "172.30.0.10/21", "protocolIP": "172.30.8.3/32", "vtepIP": "172.30.12.0/32", "redundancy": {"group": "mclag-1", "type": "mclag"}}),
        ),
        sw(
            "leaf-03",
            "server-leaf",
            json!({"asn": 65101, "ip": "172.30.0.10/21", "protocolIP": "172.30.8.3/32", "vtepIP": "172.30.12.0/32"}),
        ),
        obj(Kind::GatewayGroup, "default", json!({})),
        obj(Kind::Gateway, "gw", json!({"protocolIP": "172.30.8.9/32"})),
        sw(
            "spine-01",
            "spine",
            json!({"asn": 65100, "ip": "172.30.0.7/21", "protocolIP": "172.30.8.9/32"}),
        ),
        sw(
            "spine-02",
            "spine",
            json!({"asn": 65100, "ip": "172.30.0.8/21", "protocolIP": "172.30.8.0/32"}),
        ),
    ]);
    let errs = state_errors(&st);
    assert_state(
        &errs,
        "Switch/leaf-03 spec.asn: leaf ASN 65101 is already used by leaf leaf-01",
    );
    assert_state(
        &errs,
        "Switch/leaf-03 spec.ip: management IP 172.30.0.10 is already used by switch leaf-02",
    );
    assert_state(
        &errs,
        "Switch/leaf-03 spec.protocolIP: protocol IP 172.30.8.3 is already used by switch leaf-02",
    );
    assert_state(
        &errs,
        "Switch/leaf-03 spec.vtepIP: VTEP IP 172.30.12.0 is already used by switch leaf-01",
    );
    assert_state(
        &errs,
        "Gateway/gw spec.protocolIP: gateway gw protocol IP 172.30.8.9 is already in use by switch spine-01",
    );
    assert_eq!(
        errs.len(),
        5,
        "MCLAG peers share ASN and VTEP, spines share the spine ASN: {errs:#?}"
    );
}

#[test]
fn vlans_and_subnets_collide_across_vpcs() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(
                Kind::VPC,
                "vpc-2",
                json!({"subnets": {"a": {"subnet": "10.0.1.128/25", "vlan": 1001}, "b": {"subnet": "10.1.0.0/24", "vlan": 3500}}}),
            ),
            obj(
                Kind::VPC,
                "vpc-3",
                json!({"mode": "l3vni", "subnets": {"h": {"subnet": "10.0.3.0/24", "hostBGP": true, "hostBGPExtraPrefixes": {"10.0.1.0/26": {}}}}}),
            ),
            obj(
                Kind::VPC,
                "vpc-4",
                json!({"mode": "l3vni", "subnets": {"h": {"subnet": "10.0.4.0/24", "hostBGP": true}}}),
            ),
        ],
    ));
    assert_state(
        &errs,
        "VPC/vpc-2 spec.subnets.a.vlan: VLAN 1001 is already used by subnet default of VPC vpc-1",
    );
    assert_state(
        &errs,
        "VPC/vpc-2 spec.subnets.a.subnet: 10.0.1.128/25 overlaps 10.0.1.0/24 of VPC vpc-1",
    );
    assert_state(
        &errs,
        "VPC/vpc-2 spec.subnets.b.subnet: 10.1.0.0/24 is outside IPv4 namespace default",
    );
    assert_state(
        &errs,
        "VPC/vpc-2 spec.subnets.b.vlan: VLAN 3500 is outside VLAN namespace default",
    );
    assert_state(&errs, "VPC/vpc-3 spec.subnets.h.hostBGPExtraPrefixes[\"10.0.1.0/26\"]: 10.0.1.0/26 overlaps 10.0.1.0/24 of VPC vpc-1");
    assert_eq!(
        errs.len(),
        5,
        "hostBGP VLAN-0 subnets may repeat: {errs:#?}"
    );
}

#[test]
fn attachment_cross_rules() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(
                Kind::VPC,
                "vpc-h",
                json!({"mode": "l3vni", "subnets": {"h": {"subnet": "10.0.5.0/24", "hostBGP": true}}}),
            ),
            obj(
                Kind::VPC,
                "vpc-o",
                json!({"vlanNamespace": "other", "subnets": {"s": {"subnet": "10.0.6.0/24", "vlan": 1500}}}),
            ),
            obj(
                Kind::VLANNamespace,
                "other",
                json!({"ranges": [{"from": 1500, "to": 1600}]}),
            ),
            obj(
                Kind::Connection,
                "leaf-01--external",
                json!({"external": {"link": {"switch": {"port": "leaf-01/E1/9"}}}}),
            ),
            obj(
                Kind::VPCAttachment,
                "a-dup",
                json!({"subnet": "vpc-1/default", "connection": "server-01--unbundled--leaf-01"}),
            ),
            obj(
                Kind::VPCAttachment,
                "a-ext",
                json!({"subnet": "vpc-1", "connection": "leaf-01--external"}),
            ),
            obj(
                Kind::VPCAttachment,
                "a-h",
                json!({"subnet": "vpc-h/h", "connection": "server-02--eslag--leaf-01--leaf-02", "nativeVLAN": true}),
            ),
            obj(
                Kind::VPCAttachment,
                "a-o",
                json!({"subnet": "vpc-o/s", "connection": "server-01--unbundled--leaf-01", "nativeVLAN": true}),
            ),
            obj(
                Kind::VPCAttachment,
                "a-n",
                json!({"subnet": "vpc-o/s", "connection": "server-02--eslag--leaf-01--leaf-02", "nativeVLAN": true}),
            ),
            obj(
                Kind::VPCAttachment,
                "a-n2",
                json!({"subnet": "vpc-1/default", "connection": "server-02--eslag--leaf-01--leaf-02", "nativeVLAN": true}),
            ),
        ],
    ));
    for needle in [
        "VPCAttachment/a-dup spec.subnet: connection server-01--unbundled--leaf-01 is already attached to vpc-1/default by VPCAttachment a1",
        "VPCAttachment/a-ext spec.connection: a VPC can be attached only to unbundled, bundled or eslag connections, found external",
        "VPCAttachment/a-h spec.connection: ESLAG connections need an L2VNI VPC",
        "VPCAttachment/a-h spec.connection: only unbundled connections",
        "VPCAttachment/a-h spec.nativeVLAN: native VLAN is not supported for hostBGP",
        "VPCAttachment/a-o spec.subnet: switch leaf-01 of connection server-01--unbundled--leaf-01 does not have VLAN namespace other",
        "VPCAttachment/a-n2 spec.nativeVLAN: connection server-02--eslag--leaf-01--leaf-02 already has a native-VLAN attachment",
    ] {
        assert_state(&errs, needle);
    }
}

#[test]
fn eslag_group_consistency() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(Kind::SwitchGroup, "eslag-2", json!({})),
            hydrated_switch(
                "leaf-03",
                json!({"role": "server-leaf", "profile": "vs", "redundancy": {"group": "eslag-2", "type": "eslag"}}),
            ),
            hydrated_switch("leaf-04", json!({"role": "server-leaf", "profile": "vs"})),
            obj(Kind::Server, "server-05", json!({})),
            obj(
                Kind::Connection,
                "c5",
                json!({"eslag": {"links": [
                    {"server": {"port": "server-05/e1"}, "switch": {"port": "leaf-01/E1/5"}},
                    {"server": {"port": "server-05/e2"}, "switch": {"port": "leaf-03/E1/5"}},
                    {"server": {"port": "server-05/e3"}, "switch": {"port": "leaf-04/E1/5"}}]}}),
            ),
        ],
    ));
    assert_state(&errs, "Connection/c5 spec.eslag: all switches of an ESLAG connection must be in one redundancy group");
    assert_state(&errs, "Connection/c5 spec.eslag: switch leaf-04 of an ESLAG connection must have redundancy type eslag, found none");
}

#[test]
fn external_attachment_cross_rules() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(
                Kind::External,
                "bgp",
                json!({"inboundCommunity": "1:1", "outboundCommunity": "1:2"}),
            ),
            obj(
                Kind::External,
                "st",
                json!({"static": {"prefixes": ["0.0.0.0/0"]}}),
            ),
            obj(
                Kind::Connection,
                "leaf-01--external",
                json!({"external": {"link": {"switch": {"port": "leaf-01/E1/9"}}}}),
            ),
            obj(
                Kind::ExternalAttachment,
                "x1",
                json!({"external": "bgp", "connection": "leaf-01--external", "switch": {"ip": "1.1.1.1/24", "vlan": 10}, "neighbor": {"asn": 1, "ip": "1.1.1.2"}}),
            ),
            obj(
                Kind::ExternalAttachment,
                "x2",
                json!({"external": "st", "connection": "leaf-01--external", "switch": {"ip": "1.1.2.1/24", "vlan": 10}, "neighbor": {"asn": 1, "ip": "1.1.2.2"}}),
            ),
            obj(
                Kind::ExternalAttachment,
                "x3",
                json!({"external": "bgp", "connection": "server-01--unbundled--leaf-01", "switch": {}, "neighbor": {}, "static": {"remoteIP": "1.1.3.2", "proxy": true}}),
            ),
            obj(
                Kind::ExternalPeering,
                "xp",
                json!({"permit": {"vpc": {"name": "vpc-1", "subnets": ["default", "zz"]}, "external": {"name": "bgp", "prefixes": [{"prefix": "0.0.0.0/0"}]}}}),
            ),
        ],
    ));
    for needle in [
        "ExternalAttachment/x2 spec.external: External st is static",
        "ExternalAttachment/x2 spec.switch.vlan: connection leaf-01--external already has an external attachment with VLAN 10 (x1)",
        "ExternalAttachment/x3 spec.static: the attachment is static but External bgp is a BGP external",
        "ExternalAttachment/x3 spec.connection: expected an external connection, found unbundled",
        "ExternalPeering/xp spec.permit.vpc.subnets[1]: subnet \"zz\" does not exist in VPC vpc-1",
    ] {
        assert_state(&errs, needle);
    }
}

#[test]
fn link_ips_unique_across_connections() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(
                Kind::Connection,
                "f1",
                json!({"fabric": {"links": [{"spine": {"port": "spine-01/E1/1", "ip": "172.30.128.0/31"}, "leaf": {"port": "leaf-01/E1/10", "ip": "172.30.128.1/31"}}]}}),
            ),
            obj(
                Kind::Connection,
                "f2",
                json!({"fabric": {"links": [{"spine": {"port": "spine-01/E1/2", "ip": "172.30.128.0/31"}, "leaf": {"port": "leaf-02/E1/10", "ip": "172.30.128.1/31"}}]}}),
            ),
        ],
    ));
    assert_state(&errs, "Connection/f2 spec.fabric.links[0].spine.ip: IP 172.30.128.0 is already used by connection f1");
    assert_state(&errs, "Connection/f2 spec.fabric.links[0].leaf.ip: IP 172.30.128.1 is already used by connection f1");
}

#[test]
fn switch_vlan_namespaces_must_not_overlap() {
    let errs = state_errors(&with(
        base_fabric(),
        vec![
            obj(
                Kind::VLANNamespace,
                "other",
                json!({"ranges": [{"from": 2000, "to": 2100}]}),
            ),
            hydrated_switch(
                "leaf-05",
                json!({"role": "server-leaf", "profile": "vs", "vlanNamespaces": ["default", "other"]}),
            ),
        ],
    ));
    assert_state(&errs, "Switch/leaf-05 spec.vlanNamespaces: VLAN namespaces default (1000-2999) and other (2000-2100) overlap");
}

#[test]
fn a_file_checked_without_trees_gets_its_state_errors_at_the_same_fields_once_relocated() {
    // Two documents; the VPC's VLAN lies outside the namespace, its subnet outside the IPv4 namespace.
    let text = "apiVersion: wiring.githedgehog.com/v1beta1\nkind: VLANNamespace\nmetadata:\n  name: default\nspec:\n  ranges:\n  - from: 1000\n    to: 1999\n---\n# a comment\napiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: vpc-1\nspec:\n  subnets:\n    default:\n      subnet: 10.9.1.0/24\n      vlan: 2500\n";
    let settings = FabricSettings::default();
    let limits = Limits::default();
    let with = parse_source("f.yaml", text.as_bytes(), &limits, &settings);
    let without = parse_source_without_trees("f.yaml", text.as_bytes(), &limits, &settings);
    assert!(with.errors.is_empty() && without.errors.is_empty());
    assert_eq!(with.documents, without.documents);
    assert!(with.objects.iter().all(|o| o.root.is_some()));
    assert!(without.objects.iter().all(|o| o.root.is_none()));
    for (a, b) in with.objects.iter().zip(&without.objects) {
        assert_eq!(
            (a.kind, &a.name, a.normalized()),
            (b.kind, &b.name, b.normalized())
        );
    }
    let errors = |r: &SourceReport| {
        let mut s = FabricState::new();
        s.insert_report("f.yaml", r);
        validate_state(&s, &settings).errors
    };
    let expected = errors(&with);
    assert!(!expected.is_empty(), "the VPC breaks state rules");
    let mut got = errors(&without);
    assert_ne!(
        got, expected,
        "without trees, errors point at their document"
    );
    relocate_in_source(text.as_bytes(), &limits, &mut got);
    assert_eq!(got, expected);
    assert!(got.iter().any(|d| d.line > 12), "{got:?}");
}
