//! Object rules of the wiring kinds.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::field_path;
use crate::model::ip::{first_overlap, fmt_addr, Ipv4Prefix};
use crate::model::wiring::*;
use crate::model::Spec;
use crate::path::FieldPath;
use crate::settings::{cite, FabricMode, FabricSettings};
use crate::validate::check::{atoi, is_go_datetime, is_go_duration, list, prefix, Findings};

// ---------------------------------------------------------------------------------------------------- Switch

pub(super) fn switch(s: &SwitchSpec, settings: &FabricSettings, f: &mut Findings) {
    let allowed_roles = &SWITCH_ROLES[..4];
    match s.role.as_deref() {
        None => f.missing(field_path!("spec", "role"), &format!("one of {}", list(allowed_roles))),
        Some("virtual-edge") => f.push(
            field_path!("spec", "role"),
            format!(
                "role \"virtual-edge\" is in the CRD but not supported by the fabric (hhfab rejects it): expected one of {}",
                list(allowed_roles)
            ),
        ),
        Some(r) => {
            f.one_of(field_path!("spec", "role"), r, SWITCH_ROLES);
        }
    }
    if s.profile.as_deref().unwrap_or("").is_empty() {
        f.missing(
            field_path!("spec", "profile"),
            "the name of a SwitchProfile (e.g. vs)",
        );
    }
    for (i, g) in s.groups.iter().flatten().enumerate() {
        if g.is_empty() {
            f.push(
                field_path!("spec", "groups", i),
                "expected the name of a SwitchGroup, found an empty string",
            );
        }
    }
    for (i, ns) in s.vlan_namespaces.iter().flatten().enumerate() {
        if ns.is_empty() {
            f.push(
                field_path!("spec", "vlanNamespaces", i),
                "expected the name of a VLANNamespace, found an empty string",
            );
        }
    }
    if let Some(r) = &s.redundancy {
        let group = r.group.as_deref().unwrap_or("");
        let rtype = r.r#type.as_deref();
        if let Some(t) = rtype {
            f.one_of(
                field_path!("spec", "redundancy", "type"),
                t,
                REDUNDANCY_TYPES,
            );
        }
        if !group.is_empty() && rtype.unwrap_or("").is_empty() {
            f.push(
                field_path!("spec", "redundancy", "type"),
                format!(
                    "redundancy group {group:?} is set without a type: expected one of {}",
                    list(REDUNDANCY_TYPES)
                ),
            );
        }
        if group.is_empty() && !rtype.unwrap_or("").is_empty() {
            f.push(
                field_path!("spec", "redundancy", "group"),
                "redundancy type is set without a group: expected the name of a SwitchGroup",
            );
        }
    }
    for (port, fec) in s.port_fecs.iter().flatten() {
        f.one_of(field_path!("spec", "portFECs", port), fec, PORT_FEC_MODES);
    }
    for (port, v) in s.port_locators.iter().flatten() {
        if !(v.is_empty() || is_go_duration(v) || is_go_datetime(v)) {
            f.push(
                field_path!("spec", "portLocators", port),
                format!("expected an empty value, a duration such as 10m or an exact UTC time such as \"2026-08-05 18:45:47\", found {v:?}"),
            );
        }
    }
    if let Some(lf) = &s.link_flap_err_disable {
        if let Some(v) = lf.flap_threshold {
            if !(1..=50).contains(&v) {
                f.push(
                    field_path!("spec", "linkFlapErrDisable", "flapThreshold"),
                    format!("expected 1 to 50, found {v}"),
                );
            }
        }
        if let Some(v) = lf.sampling_interval {
            if !(1..=65535).contains(&v) {
                f.push(
                    field_path!("spec", "linkFlapErrDisable", "samplingInterval"),
                    format!("expected 1 to 65535, found {v}"),
                );
            }
        }
        if let Some(v) = lf.recovery_interval {
            if v > 65534 {
                f.push(
                    field_path!("spec", "linkFlapErrDisable", "recoveryInterval"),
                    format!("expected 0 to 65534, found {v}"),
                );
            }
        }
    }
    hydration(s, settings, f);
}

/// How to hydrate, for the messages of unhydrated objects.
pub(crate) const HYDRATE_HINT: &str = "hydrate the wiring first (`hhgitops hydrate FILE...`, or register the fabric with `--hydrate if-missing` so that ingestion fills in what is missing)";

/// Hydration fields and their values (checks against other switches are in the cross rules).
///
/// The fabric's webhook rejects a switch without ASN, management IP, protocol IP or (a leaf in spine-leaf mode)
/// VTEP IP (CATALOGUE §8b.6): one error names every missing field, whether nothing or only part is hydrated.
fn hydration(s: &SwitchSpec, settings: &FabricSettings, f: &mut Findings) {
    if s.is_spine() && s.vtep_ip.as_deref().is_some_and(|v| !v.is_empty()) {
        f.push(
            field_path!("spec", "vtepIP"),
            "a spine must not have a VTEP IP: expected no vtepIP",
        );
    }
    let set = |v: &Option<String>| v.as_deref().is_some_and(|x| !x.is_empty());
    let needs_vtep = s.is_leaf() && settings.fabric_mode == FabricMode::SpineLeaf;
    let mut missing: Vec<&str> = Vec::new();
    if s.asn.unwrap_or(0) == 0 {
        missing.push("asn");
    }
    if !set(&s.ip) {
        missing.push("ip");
    }
    if !set(&s.protocol_ip) {
        missing.push("protocolIP");
    }
    if needs_vtep && !set(&s.vtep_ip) {
        missing.push("vtepIP");
    }
    if !missing.is_empty() {
        let state = if missing.len() == 3 + usize::from(needs_vtep) {
            "not hydrated"
        } else {
            "partly hydrated"
        };
        let vtep = if needs_vtep {
            format!(
                ", a leaf in spine-leaf mode also a VTEP IP {}",
                cite("fabricMode", "spine-leaf")
            )
        } else {
            String::new()
        };
        f.push(
            field_path!("spec"),
            format!(
                "switch is {state}: missing {}; the fabric rejects a switch without ASN, management IP and protocol IP{vtep}: {HYDRATE_HINT}",
                missing.join(", ")
            ),
        );
    }
    if let Some(asn) = s.asn.filter(|a| *a != 0) {
        if s.is_leaf() && !(settings.leaf_asn_start..=settings.leaf_asn_end).contains(&asn) {
            f.push(
                field_path!("spec", "asn"),
                format!(
                    "leaf ASN {asn} is outside the fabric leaf ASN range: expected {} to {} (fabric settings leafASNStart = {}, leafASNEnd = {})",
                    settings.leaf_asn_start, settings.leaf_asn_end, settings.leaf_asn_start, settings.leaf_asn_end
                ),
            );
        }
        if s.is_spine() && asn != settings.spine_asn {
            f.push(
                field_path!("spec", "asn"),
                format!(
                    "spine ASN {asn} is not the fabric spine ASN: expected {} {}",
                    settings.spine_asn,
                    cite("spineASN", settings.spine_asn)
                ),
            );
        }
    }
    if let Some(ip) = s.ip.as_deref().filter(|x| !x.is_empty()) {
        if let Some(p) = prefix(f, || field_path!("spec", "ip"), ip) {
            let a = p.addr;
            if !settings.management_subnet.contains_addr(a) {
                f.push(field_path!("spec", "ip"), format!("management IP {ip} is outside the management subnet: expected an address in {} {}", settings.management_subnet, cite("managementSubnet", settings.management_subnet)));
            } else if settings
                .management_dhcp_start_addr()
                .is_some_and(|start| a >= start)
            {
                f.push(
                    field_path!("spec", "ip"),
                    format!("management IP {ip} is in the management DHCP range: expected an address below {} {}", settings.management_dhcp_start, cite("managementDHCPStart", &settings.management_dhcp_start)),
                );
            }
            if a == settings.control_vip.addr {
                f.push(
                    field_path!("spec", "ip"),
                    format!(
                        "management IP {ip} is the control VIP {} {}",
                        fmt_addr(settings.control_vip.addr),
                        cite("controlVIP", settings.control_vip)
                    ),
                );
            }
        }
    }
    if let Some(ip) = s.protocol_ip.as_deref().filter(|x| !x.is_empty()) {
        slash32_in(
            f,
            field_path!("spec", "protocolIP"),
            ip,
            (settings.protocol_subnet, "protocolSubnet"),
            "protocol",
        );
    }
    if s.is_leaf() {
        if let Some(ip) = s.vtep_ip.as_deref().filter(|x| !x.is_empty()) {
            slash32_in(
                f,
                field_path!("spec", "vtepIP"),
                ip,
                (settings.vtep_subnet, "vtepSubnet"),
                "VTEP",
            );
        }
    }
}

fn slash32_in(
    f: &mut Findings,
    path: FieldPath,
    ip: &str,
    (subnet, setting): (Ipv4Prefix, &str),
    what: &str,
) {
    let Some(p) = prefix(f, || path.clone(), ip) else {
        return;
    };
    if p.len != 32 {
        f.push(
            path.clone(),
            format!("{what} IP {ip} must be a /32: expected a.b.c.d/32"),
        );
    }
    if !subnet.contains_addr(p.addr) {
        f.push(
            path,
            format!(
                "{what} IP {ip} is outside the {what} subnet: expected an address in {subnet} {}",
                cite(setting, subnet)
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------------- SwitchProfile

const PORT_SPEEDS: &[&str] = &[
    "1G", "2.5G", "5G", "10G", "20G", "25G", "40G", "50G", "100G", "200G", "400G", "800G",
];

pub(crate) fn speed_problem(speed: &str) -> Option<String> {
    if PORT_SPEEDS.contains(&speed) {
        None
    } else {
        Some(format!(
            "expected a speed out of {}, found {speed:?}",
            PORT_SPEEDS.join(", ")
        ))
    }
}

pub(crate) fn breakout_mode_problem(mode: &str) -> Option<String> {
    let ok = match mode.split_once('x') {
        Some((n, speed)) => matches!(n, "1" | "2" | "4" | "8") && PORT_SPEEDS.contains(&speed),
        None => false,
    };
    if ok {
        None
    } else {
        Some(format!(
            "expected a breakout mode <1|2|4|8>x<speed> such as 4x25G, found {mode:?}"
        ))
    }
}

/// Where two specs differ semantically (Go's `equality.Semantic`: absent, null, false, 0, "" and empty containers
/// are all the zero value), as a dotted path; `None` when they are equal.
fn first_difference(a: &Spec, b: &Spec) -> Option<String> {
    use serde_json::Value;
    fn zero(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(m) => m.values().all(zero),
        }
    }
    fn walk(a: &Value, b: &Value, path: &mut Vec<String>) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let null = Value::Null;
                    let (va, vb) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                    path.push(k.clone());
                    if let Some(p) = walk(va, vb, path) {
                        return Some(p);
                    }
                    path.pop();
                }
                None
            }
            _ if zero(a) && zero(b) => None,
            _ if a == b => None,
            _ => Some(path.join(".")),
        }
    }
    walk(&a.to_json(), &b.to_json(), &mut vec!["spec".to_string()])
}

fn int_suffix(s: &str, prefix: &str) -> Option<i64> {
    s.strip_prefix(prefix).and_then(atoi)
}

pub(super) fn switch_profile(
    name: &str,
    s: &SwitchProfileSpec,
    settings: &FabricSettings,
    f: &mut Findings,
) {
    match crate::profiles::builtin(name) {
        Some(b) if b.set.included(settings) => {
            if let Some(path) = first_difference(
                &Spec::SwitchProfile(std::sync::Arc::new(s.clone())),
                &b.object.spec,
            ) {
                f.push(
                    field_path!("spec"),
                    format!(
                        "SwitchProfile {name} is a built-in profile and the fabric's copy is immutable (\"default switch profiles are immutable\"): this spec differs from it at {path}; leave the profile out of the files (the fabric ships it) or copy it unchanged"
                    ),
                );
            }
        }
        Some(b) if !settings.allow_extra_switch_profiles => {
            let setting = b.set.setting().unwrap_or("includeSONiCCLSPlus");
            f.push(
                field_path!("metadata", "name"),
                format!(
                    "SwitchProfile {name} is a built-in profile the fabric registers only with {setting} (fabric setting {setting} = false), and extra profiles are not allowed (fabric setting allowExtraSwitchProfiles = false): only default switch profiles are allowed"
                ),
            );
        }
        None if !settings.allow_extra_switch_profiles => {
            f.push(
                field_path!("metadata", "name"),
                format!(
                    "SwitchProfile {name:?} is not one of the built-in profiles ({}): only default switch profiles are allowed (fabric setting allowExtraSwitchProfiles = false)",
                    BUILTIN_SWITCH_PROFILES.join(", ")
                ),
            );
        }
        _ => {}
    }
    for (field, v) in [
        ("displayName", &s.display_name),
        ("switchSilicon", &s.switch_silicon),
        ("platform", &s.platform),
    ] {
        if v.as_deref().unwrap_or("").is_empty() {
            f.missing(field_path!("spec", field), "a non-empty string");
        }
    }
    match s.nos_type.as_deref() {
        None | Some("") => f.missing(
            field_path!("spec", "nosType"),
            &format!("one of {}", list(NOS_TYPES)),
        ),
        Some(t) => {
            f.one_of(field_path!("spec", "nosType"), t, NOS_TYPES);
        }
    }
    if let Some(names) = &s.other_names {
        if names.len() > 5 {
            f.push(
                field_path!("spec", "otherNames"),
                format!("expected at most 5 other names, found {}", names.len()),
            );
        }
        let mut seen = HashSet::new();
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                f.push(
                    field_path!("spec", "otherNames", i),
                    "expected a non-empty name",
                );
            } else if !seen.insert(n.as_str()) {
                f.push(
                    field_path!("spec", "otherNames", i),
                    format!("duplicate other name {n:?}"),
                );
            }
        }
    }
    let empty_ports = BTreeMap::new();
    let empty_groups = BTreeMap::new();
    let empty_profiles = BTreeMap::new();
    let empty_pipelines = BTreeMap::new();
    let ports = s.ports.as_ref().unwrap_or(&empty_ports);
    let groups = s.port_groups.as_ref().unwrap_or(&empty_groups);
    let profiles = s.port_profiles.as_ref().unwrap_or(&empty_profiles);
    let pipelines = s.pipelines.as_ref().unwrap_or(&empty_pipelines);

    let mut used_profiles: HashSet<&str> = HashSet::new();
    let mut used_groups: HashSet<&str> = HashSet::new();
    let mut nos_names: HashMap<&str, &str> = HashMap::new();
    let mut base_nos_names: HashMap<&str, &str> = HashMap::new();
    let mut labels: HashMap<&str, &str> = HashMap::new();
    for (pname, port) in ports {
        let p = |field: &str| field_path!("spec", "ports", pname, field);
        let nos = port.nos_name.as_deref().unwrap_or("");
        if nos.is_empty() {
            f.missing(p("nos"), "the port's NOS name");
        } else if let Some(other) = nos_names.insert(nos, pname) {
            f.push(
                p("nos"),
                format!("NOS name {nos:?} is already used by port {other}"),
            );
        }
        if pname.len() < 2 {
            f.push(
                field_path!("spec", "ports", pname),
                format!("port name {pname:?} is too short: expected M<n> or E<asic>/<port>"),
            );
        }
        let base = port.base_nos_name.as_deref().unwrap_or("");
        if !base.is_empty() {
            if let Some(other) = base_nos_names.insert(base, pname) {
                f.push(
                    p("baseNOSName"),
                    format!("base NOS name {base:?} is already used by port {other}"),
                );
            }
        }
        let group = port.group.as_deref().unwrap_or("");
        let profile = port.profile.as_deref().unwrap_or("");
        if port.management == Some(true) {
            if int_suffix(pname, "M").is_none_or(|n| n <= 0) {
                f.push(
                    field_path!("spec", "ports", pname),
                    format!("management port {pname:?} must be named M<n> with a positive n"),
                );
            }
            if !nos.is_empty() && int_suffix(nos, "Management").is_none_or(|n| n < 0) {
                f.push(
                    p("nos"),
                    format!("management port NOS name must be Management<n>, found {nos:?}"),
                );
            }
            match port.onie_port_name.as_deref() {
                None | Some("") => f.missing(
                    p("oniePortName"),
                    "the ONIE port name eth<n> of the management port",
                ),
                Some(o) => {
                    if int_suffix(o, "eth").is_none_or(|n| n < 0) {
                        f.push(p("oniePortName"), format!("expected eth<n>, found {o:?}"));
                    }
                }
            }
            for (field, v) in [
                ("group", group),
                ("profile", profile),
                ("baseNOSName", base),
            ] {
                if !v.is_empty() {
                    f.push(
                        p(field),
                        format!("a management port must not have a {field}"),
                    );
                }
            }
            continue;
        }
        let data_ok = pname
            .strip_prefix('E')
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(a, b)| {
                !b.contains('/') && atoi(a).is_some_and(|n| n > 0) && atoi(b).is_some_and(|n| n > 0)
            });
        if !data_ok {
            f.push(
                field_path!("spec", "ports", pname),
                format!("data port {pname:?} must be named E<asic>/<port> with positive integers"),
            );
        }
        match port.label.as_deref() {
            None | Some("") => f.missing(p("label"), "the port label printed on the switch"),
            Some(l) => {
                if let Some(other) = labels.insert(l, pname) {
                    f.push(
                        p("label"),
                        format!("label {l:?} is already used by port {other}"),
                    );
                }
            }
        }
        if group.is_empty() == profile.is_empty() {
            f.push(
                field_path!("spec", "ports", pname),
                if group.is_empty() {
                    "expected exactly one of group or profile, found neither"
                } else {
                    "expected exactly one of group or profile, found both"
                },
            );
        }
        let mut breakout = false;
        if !profile.is_empty() {
            used_profiles.insert(profile);
            match profiles.get(profile) {
                None => f.push(
                    p("profile"),
                    format!("port profile {profile:?} does not exist in spec.portProfiles"),
                ),
                Some(pp) if pp.breakout.is_some() => {
                    breakout = true;
                    if !nos.is_empty() && int_suffix(nos, "1/").is_none() {
                        f.push(
                            p("nos"),
                            format!("a breakout port's NOS name must be 1/<n>, found {nos:?}"),
                        );
                    }
                    if base.is_empty() {
                        f.missing(p("baseNOSName"), "Ethernet<n> for a breakout port");
                    } else if int_suffix(base, "Ethernet").is_none_or(|n| n < 0) {
                        f.push(
                            p("baseNOSName"),
                            format!("expected Ethernet<n>, found {base:?}"),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        if !breakout && !nos.is_empty() && int_suffix(nos, "Ethernet").is_none_or(|n| n < 0) {
            f.push(
                p("nos"),
                format!("a data port's NOS name must be Ethernet<n>, found {nos:?}"),
            );
        }
        if !group.is_empty() {
            used_groups.insert(group);
            if !groups.contains_key(group) {
                f.push(
                    p("group"),
                    format!("port group {group:?} does not exist in spec.portGroups"),
                );
            }
        }
        if let Some(pl) = port.pipeline.as_deref() {
            if !breakout {
                f.push(
                    p("pipeline"),
                    "a pipeline may only be set on a breakout port",
                );
            } else if !pipelines.contains_key(pl) {
                f.push(
                    p("pipeline"),
                    format!("pipeline {pl:?} does not exist in spec.pipelines"),
                );
            }
        }
    }
    for (gname, g) in groups {
        let p = |field: &str| field_path!("spec", "portGroups", gname, field);
        if !used_groups.contains(gname.as_str()) {
            f.push(
                field_path!("spec", "portGroups", gname),
                format!("port group {gname:?} is not referenced by any port"),
            );
        }
        match g.nos_name.as_deref() {
            None | Some("") => f.missing(p("nos"), "the group's NOS name (a positive integer)"),
            Some(n) => {
                if atoi(n).is_none_or(|v| v <= 0) {
                    f.push(
                        p("nos"),
                        format!("expected a positive integer, found {n:?}"),
                    );
                }
            }
        }
        match g.profile.as_deref() {
            None | Some("") => f.missing(p("profile"), "the name of a speed port profile"),
            Some(pr) => {
                used_profiles.insert(pr);
                match profiles.get(pr) {
                    None => f.push(
                        p("profile"),
                        format!("port profile {pr:?} does not exist in spec.portProfiles"),
                    ),
                    Some(pp) => {
                        if pp.speed.is_none() {
                            f.push(
                                p("profile"),
                                format!("port profile {pr:?} of a group must be a speed profile"),
                            );
                        }
                        if pp.auto_neg_allowed == Some(true) {
                            f.push(p("profile"), format!("port profile {pr:?} of a group must not allow auto-negotiation"));
                        }
                    }
                }
            }
        }
    }
    for (prname, pp) in profiles {
        let p = |field: &str| field_path!("spec", "portProfiles", prname, field);
        let at = field_path!("spec", "portProfiles", prname);
        if !used_profiles.contains(prname.as_str()) {
            f.push(
                at.clone(),
                format!("port profile {prname:?} is not referenced by any port or group"),
            );
        }
        match (&pp.speed, &pp.breakout) {
            (None, None) => f.push(
                at.clone(),
                "expected exactly one of speed or breakout, found neither",
            ),
            (Some(_), Some(_)) => f.push(
                at.clone(),
                "expected exactly one of speed or breakout, found both",
            ),
            _ => {}
        }
        if pp.auto_neg_default == Some(true) && pp.auto_neg_allowed != Some(true) {
            f.push(
                p("autoNegDefault"),
                "autoNegDefault requires autoNegAllowed",
            );
        }
        if let Some(sp) = &pp.speed {
            let supported = sp.supported.as_deref().unwrap_or(&[]);
            match sp.default.as_deref() {
                None | Some("") => f.missing(
                    field_path!("spec", "portProfiles", prname, "speed", "default"),
                    "the default speed",
                ),
                Some(d) => {
                    if !supported.iter().any(|x| x == d) {
                        f.push(
                            field_path!("spec", "portProfiles", prname, "speed", "default"),
                            format!("default speed {d:?} is not in the supported speeds"),
                        );
                    }
                }
            }
            if supported.is_empty() {
                f.missing(
                    field_path!("spec", "portProfiles", prname, "speed", "supported"),
                    "at least one supported speed",
                );
            }
            for (i, sv) in supported.iter().enumerate() {
                if let Some(pr) = speed_problem(sv) {
                    f.push(
                        field_path!("spec", "portProfiles", prname, "speed", "supported", i),
                        pr,
                    );
                }
            }
        }
        if let Some(b) = &pp.breakout {
            let empty = BTreeMap::new();
            let supported = b.supported.as_ref().unwrap_or(&empty);
            match b.default.as_deref() {
                None | Some("") => f.missing(
                    field_path!("spec", "portProfiles", prname, "breakout", "default"),
                    "the default breakout mode",
                ),
                Some(d) => {
                    if !supported.contains_key(d) {
                        f.push(
                            field_path!("spec", "portProfiles", prname, "breakout", "default"),
                            format!("default breakout {d:?} is not in the supported modes"),
                        );
                    }
                }
            }
            if supported.is_empty() {
                f.missing(
                    field_path!("spec", "portProfiles", prname, "breakout", "supported"),
                    "at least one supported breakout mode",
                );
            }
            for (mode, m) in supported {
                let mp = field_path!(
                    "spec",
                    "portProfiles",
                    prname,
                    "breakout",
                    "supported",
                    mode
                );
                if let Some(pr) = breakout_mode_problem(mode) {
                    f.push(mp.clone(), pr);
                }
                if m.offsets.as_ref().is_none_or(|o| o.is_empty()) {
                    f.missing(mp.key("offsets"), "at least one NOS port offset");
                }
                for (i, o) in m.offsets.iter().flatten().enumerate() {
                    if atoi(o).is_none() {
                        f.push(
                            mp.key("offsets").index(i),
                            format!("expected an integer offset, found {o:?}"),
                        );
                    }
                }
            }
        }
    }
    for (plname, pl) in pipelines {
        if pl.max_ports.unwrap_or(0) == 0 {
            f.push(
                field_path!("spec", "pipelines", plname, "maxPorts"),
                "expected a maxPorts greater than 0",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------- VLANNamespace

/// Merges ranges (`to: 0` is `from`), as `NormalizedVLANRanges` does; invalid ranges are skipped.
pub(crate) fn merged_vlan_ranges(ranges: &[VLANRange]) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = ranges
        .iter()
        .map(VLANRange::bounds)
        .filter(|(a, b)| *a >= 1 && a <= b && *b <= 4094)
        .collect();
    v.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

pub(super) fn vlan_namespace(s: &VLANNamespaceSpec, settings: &FabricSettings, f: &mut Findings) {
    // No ranges pass: the CRD does not require the list, and Default() empties it when a range is invalid.
    let ranges = s.ranges.as_deref().unwrap_or(&[]);
    if ranges.len() > 20 {
        f.push(
            field_path!("spec", "ranges"),
            format!("expected at most 20 ranges, found {}", ranges.len()),
        );
    }
    for (i, r) in ranges.iter().enumerate() {
        let (from, to) = r.bounds();
        if r.from.is_none() {
            f.missing(
                field_path!("spec", "ranges", i, "from"),
                "a VLAN from 1 to 4094",
            );
            continue;
        }
        if !(1..=4094).contains(&from) {
            f.push(
                field_path!("spec", "ranges", i, "from"),
                format!("expected a VLAN from 1 to 4094, found {from}"),
            );
        } else if to > 4094 {
            f.push(
                field_path!("spec", "ranges", i, "to"),
                format!("expected a VLAN from 1 to 4094 (or 0 for 'same as from'), found {to}"),
            );
        } else if from > to {
            f.push(
                field_path!("spec", "ranges", i, "to"),
                format!("range end {to} is below its start {from}: expected to >= from"),
            );
        } else {
            for (reserved, what) in settings.reserved_vlans() {
                if reserved.overlaps(from, to) {
                    f.push(
                        field_path!("spec", "ranges", i),
                        format!(
                            "range {from}-{to} overlaps {what} {}-{}: expected VLANs outside them",
                            reserved.from, reserved.to
                        ),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------- Connection

pub(super) fn connection(s: &ConnectionSpec, settings: &FabricSettings, f: &mut Findings) {
    let types = s.types();
    let t = match types.as_slice() {
        [t] => *t,
        [] => {
            f.push(
                field_path!("spec"),
                "expected exactly one connection type (unbundled, bundled, mclag, eslag, mclagDomain, fabric, mesh, gateway, vpcLoopback, external, staticExternal), found none",
            );
            return;
        }
        many => {
            let names: Vec<&str> = many.iter().map(|t| t.field()).collect();
            f.push(
                field_path!("spec", many[1].field()),
                format!(
                    "expected exactly one connection type, found {}",
                    names.join(" and ")
                ),
            );
            return;
        }
    };
    // MCLAG is deprecated: the fabric stops validating with a warning.
    if matches!(t, ConnectionType::MCLAG | ConnectionType::MCLAGDomain) {
        return;
    }
    let max_mtu = settings.max_server_facing_mtu();
    let mtu_check = |f: &mut Findings, field: &str, mtu: Option<u16>| {
        if let Some(m) = mtu {
            if m > max_mtu {
                f.push(
                    field_path!("spec", field, "mtu"),
                    format!("MTU {m} is too large: expected at most {max_mtu} (fabric MTU minus server-facing offset; fabric settings fabricMTU = {}, serverFacingMTUOffset = {})", settings.fabric_mtu, settings.server_facing_mtu_offset),
                );
            }
        }
    };
    match t {
        ConnectionType::Unbundled => {
            mtu_check(f, "unbundled", s.unbundled.as_ref().and_then(|c| c.mtu))
        }
        ConnectionType::Bundled => mtu_check(f, "bundled", s.bundled.as_ref().and_then(|c| c.mtu)),
        _ => {}
    }
    if settings.fabric_mode != FabricMode::SpineLeaf
        && matches!(t, ConnectionType::ESLAG | ConnectionType::Gateway)
    {
        f.push(
            field_path!("spec", t.field()),
            format!(
                "{} connections are allowed only in spine-leaf mode {}",
                t.name(),
                cite("fabricMode", "collapsed-core")
            ),
        );
    }

    // Required links and ports, and the shape (devices and cardinalities).
    let field = t.field();
    let slots = s.port_slots();
    let links_len = |links: Option<usize>| links.unwrap_or(0);
    let (min_links, count) = match t {
        ConnectionType::Bundled => (
            1,
            links_len(
                s.bundled
                    .as_ref()
                    .and_then(|c| c.links.as_ref())
                    .map(Vec::len),
            ),
        ),
        ConnectionType::ESLAG => (
            2,
            links_len(
                s.eslag
                    .as_ref()
                    .and_then(|c| c.links.as_ref())
                    .map(Vec::len),
            ),
        ),
        ConnectionType::Fabric => (
            1,
            links_len(
                s.fabric
                    .as_ref()
                    .and_then(|c| c.links.as_ref())
                    .map(Vec::len),
            ),
        ),
        ConnectionType::Mesh => (
            1,
            links_len(s.mesh.as_ref().and_then(|c| c.links.as_ref()).map(Vec::len)),
        ),
        ConnectionType::Gateway => (
            1,
            links_len(
                s.gateway
                    .as_ref()
                    .and_then(|c| c.links.as_ref())
                    .map(Vec::len),
            ),
        ),
        ConnectionType::VPCLoopback => (
            1,
            links_len(
                s.vpc_loopback
                    .as_ref()
                    .and_then(|c| c.links.as_ref())
                    .map(Vec::len),
            ),
        ),
        _ => (0, 0),
    };
    if count < min_links {
        f.push(
            field_path!("spec", field, "links"),
            format!("expected at least {min_links} link(s), found {count}"),
        );
    }
    let mut switches: Vec<&str> = Vec::new();
    let mut servers: Vec<&str> = Vec::new();
    let mut seen_ports: HashMap<&str, PortAt> = HashMap::new();
    let mut bad_syntax = false;
    for slot in &slots {
        // Every port field of the connection's links must be present.
        let Some(port) = slot.port else {
            f.missing(
                slot.at.path(),
                "a port \"<device>/<port>\", e.g. leaf-01/E1/1",
            );
            bad_syntax = true;
            continue;
        };
        let Some((dev, _)) = split_port(port) else {
            f.push(
                slot.at.path(),
                format!("expected a port \"<device>/<port>\" such as leaf-01/E1/1, found {port:?}"),
            );
            bad_syntax = true;
            continue;
        };
        match slot.role {
            PortRole::Switch if !switches.contains(&dev) => switches.push(dev),
            PortRole::Server if !servers.contains(&dev) => servers.push(dev),
            _ => {}
        }
        if let Some(first) = seen_ports.get(port) {
            f.push(
                slot.at.path(),
                format!(
                    "port {port} is used twice in this connection (also at {})",
                    first.path()
                ),
            );
        } else {
            seen_ports.insert(port, slot.at);
        }
    }
    if !bad_syntax {
        let (sw, srv) = (switches.len(), servers.len());
        let shape = match t {
            ConnectionType::Unbundled | ConnectionType::Bundled => {
                if sw != 1 {
                    Some(format!(
                        "expected exactly 1 switch in a {} connection, found {sw} ({})",
                        t.name(),
                        switches.join(", ")
                    ))
                } else if srv != 1 {
                    Some(format!(
                        "expected exactly 1 server in a {} connection, found {srv} ({})",
                        t.name(),
                        servers.join(", ")
                    ))
                } else {
                    None
                }
            }
            ConnectionType::ESLAG => {
                if !(1..=4).contains(&sw) {
                    Some(format!(
                        "expected 1 to 4 switches in an eslag connection, found {sw}"
                    ))
                } else if srv != 1 {
                    Some(format!(
                        "expected exactly 1 server in an eslag connection, found {srv} ({})",
                        servers.join(", ")
                    ))
                } else {
                    None
                }
            }
            ConnectionType::Fabric | ConnectionType::Mesh => (sw != 2 && count > 0).then(|| {
                format!(
                    "expected exactly 2 switches in a {} connection, found {sw} ({})",
                    t.name(),
                    switches.join(", ")
                )
            }),
            ConnectionType::Gateway | ConnectionType::VPCLoopback => {
                (sw != 1 && count > 0).then(|| {
                    format!(
                        "expected exactly 1 switch in a {} connection, found {sw} ({})",
                        t.name(),
                        switches.join(", ")
                    )
                })
            }
            _ => None,
        };
        if let Some(m) = shape {
            f.push(field_path!("spec", field), m);
        }
    }
    link_ips(s, t, settings, f);
    if let Some(se) = &s.static_external {
        static_external(se, settings, f);
    }
}

/// One fabric, mesh or gateway link: its index and its two ends (name, IP).
pub(crate) type IpLink<'a> = (
    usize,
    (&'static str, Option<&'a str>),
    (&'static str, Option<&'a str>),
);

/// The two ends of each fabric, mesh or gateway link with their names.
pub(crate) fn ip_links(s: &ConnectionSpec) -> Vec<IpLink<'_>> {
    fn ip(e: &Option<ConnFabricLinkSwitch>) -> Option<&str> {
        e.as_ref().and_then(|e| e.ip.as_deref())
    }
    let mut out = Vec::new();
    if let Some(c) = &s.fabric {
        for (i, l) in c.links.iter().flatten().enumerate() {
            out.push((i, ("spine", ip(&l.spine)), ("leaf", ip(&l.leaf))));
        }
    }
    if let Some(c) = &s.mesh {
        for (i, l) in c.links.iter().flatten().enumerate() {
            out.push((i, ("leaf1", ip(&l.leaf1)), ("leaf2", ip(&l.leaf2))));
        }
    }
    if let Some(c) = &s.gateway {
        for (i, l) in c.links.iter().flatten().enumerate() {
            out.push((i, ("switch", ip(&l.switch)), ("gateway", ip(&l.gateway))));
        }
    }
    out
}

fn link_ips(s: &ConnectionSpec, t: ConnectionType, settings: &FabricSettings, f: &mut Findings) {
    if !matches!(
        t,
        ConnectionType::Fabric | ConnectionType::Mesh | ConnectionType::Gateway
    ) {
        return;
    }
    let field = t.field();
    let mut used: HashMap<u32, FieldPath> = HashMap::new();
    for (i, (an, a), (bn, b)) in ip_links(s) {
        let pa = field_path!("spec", field, "links", i, an, "ip");
        let pb = field_path!("spec", field, "links", i, bn, "ip");
        match (a, b) {
            // Unnumbered links are accepted by the fabric (CATALOGUE §8b.6).
            (None, None) => continue,
            (Some(a), None) => {
                link_ip(f, &pa, a, settings, &mut used);
                f.missing(
                    pb,
                    "an IP on both ends of a numbered link (or on neither for an unnumbered one)",
                );
            }
            (None, Some(b)) => {
                f.missing(
                    pa,
                    "an IP on both ends of a numbered link (or on neither for an unnumbered one)",
                );
                link_ip(f, &pb, b, settings, &mut used);
            }
            (Some(a), Some(b)) => {
                let pfa = link_ip(f, &pa, a, settings, &mut used);
                let pfb = link_ip(f, &pb, b, settings, &mut used);
                if let (Some(x), Some(y)) = (pfa, pfb) {
                    if x.len == 31 && y.len == 31 && x.masked() != y.masked() {
                        f.push(pb, format!("{bn} IP {b} is not in the same /31 as {an} IP {a}: expected the other address of {}", x.masked()));
                    }
                }
            }
        }
    }
}

fn link_ip(
    f: &mut Findings,
    path: &FieldPath,
    ip: &str,
    settings: &FabricSettings,
    used: &mut HashMap<u32, FieldPath>,
) -> Option<Ipv4Prefix> {
    let p = prefix(f, || path.clone(), ip)?;
    if p.len != 31 {
        f.push(
            path.clone(),
            format!("link IP {ip} must be a /31: expected a.b.c.d/31"),
        );
    }
    if !settings.fabric_subnet.contains_addr(p.addr) {
        f.push(
            path.clone(),
            format!(
                "link IP {ip} is outside the fabric subnet: expected an address in {} {}",
                settings.fabric_subnet,
                cite("fabricSubnet", settings.fabric_subnet)
            ),
        );
    }
    if let Some(first) = used.get(&p.addr) {
        f.push(
            path.clone(),
            format!(
                "IP {} is used twice in this connection (also at {first})",
                fmt_addr(p.addr)
            ),
        );
    } else {
        used.insert(p.addr, path.clone());
    }
    Some(p)
}

fn static_external(se: &ConnStaticExternal, settings: &FabricSettings, f: &mut Findings) {
    let base = field_path!("spec", "staticExternal", "link", "switch");
    let Some(sw) = se.link.as_ref().and_then(|l| l.switch.as_ref()) else {
        return;
    };
    let net = match sw.ip.as_deref() {
        None | Some("") => {
            f.missing(
                base.key("ip"),
                "the switch IP with prefix length, e.g. 172.31.0.1/24",
            );
            None
        }
        Some(ip) => prefix(f, || base.key("ip"), ip),
    };
    match sw.next_hop.as_deref() {
        None | Some("") => f.missing(base.key("nextHop"), "the next hop IP address"),
        Some(nh) => {
            if let (Some(a), Some(n)) = (
                crate::validate::check::addr(f, || base.key("nextHop"), nh),
                net,
            ) {
                if !n.contains_addr(a) {
                    f.push(base.key("nextHop"), format!("next hop {nh} is not in {}: expected an address in the switch IP's subnet", n.masked()));
                }
            }
        }
    }
    let subnets = sw.subnets.as_deref().unwrap_or(&[]);
    let mut parsed: Vec<(usize, Ipv4Prefix)> = Vec::new();
    for (i, sn) in subnets.iter().enumerate() {
        let path = base.key("subnets").index(i);
        let Some(p) = prefix(f, || path.clone(), sn) else {
            continue;
        };
        if sn == "0.0.0.0/0" {
            if subnets.len() > 1 {
                f.push(path, "the default route 0.0.0.0/0 must be the only subnet");
            }
            continue;
        }
        if !p.is_canonical() {
            f.push(
                path,
                format!("subnet {sn} has host bits set: expected {}", p.masked()),
            );
            continue;
        }
        if let Some(r) = settings.reserved_overlap(p) {
            f.push(
                path,
                format!("subnet {sn} overlaps the reserved subnet {r}"),
            );
            continue;
        }
        parsed.push((i, p));
    }
    let prefixes: Vec<Ipv4Prefix> = parsed.iter().map(|(_, p)| *p).collect();
    if let Some((a, b)) = first_overlap(&prefixes) {
        let (ia, ib) = (parsed[a].0, parsed[b].0);
        f.push(
            base.key("subnets").index(ia.max(ib)),
            format!("subnet {} overlaps subnet {}", prefixes[b], prefixes[a]),
        );
    }
}
