//! Object rules of the gateway kinds (CATALOGUE §4b): the fabric's `Validate()` of Gateway, GatewayGroup and
//! GatewayPeering on the defaulted object, plus the CRD enums. The checks against other objects (uniqueness,
//! group sizes, membership, overlaps) are in the cross rules.
//!
//! Unlike the fabric, which stops at the first failure, every failure is reported. An unhydrated gateway (no
//! protocol IP, VTEP IP/MAC, ASN, interface IPs or neighbours) gets one error naming everything missing.

use crate::field_path;
use crate::model::gateway::*;
use crate::model::ip::{parse_addr, parse_mac, Ipv4Prefix};
use crate::path::FieldPath;
use crate::settings::{cite, FabricSettings};
use crate::validate::check::{atoi, list, rfc1123_subdomain_problem, Findings};

use super::wiring::HYDRATE_HINT;

/// The enable flag every gateway kind checks first; `false` when the kind is rejected.
pub(super) fn enabled(kind: &str, settings: &FabricSettings, f: &mut Findings) -> bool {
    if !settings.enable_gateway {
        f.push(
            FieldPath::root(),
            format!(
                "{kind}: gateway support is not enabled in this fabric {}: enable the gateway in the fabric's configuration or leave the gateway kinds out",
                cite("enableGateway", false)
            ),
        );
    }
    settings.enable_gateway
}

/// `^[a-zA-Z][a-zA-Z0-9_.-]{0,8}[a-zA-Z0-9]$`.
fn is_interface_name(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=10).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b[1..b.len() - 1]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `DDDD:BB:dd.f`, all hex, device ≤ 0x1F, function ≤ 7.
fn pci_problem(s: &str) -> Option<String> {
    let bad = || {
        Some(format!("PCI address {s:?} is not valid: expected DDDD:BB:dd.f in hex (e.g. 0000:00:03.0), device at most 1f, function at most 7"))
    };
    if s.len() != 12 {
        return bad();
    }
    let b = s.as_bytes();
    if b[4] != b':' || b[7] != b':' || b[10] != b'.' {
        return bad();
    }
    let hex = |r: std::ops::Range<usize>| u32::from_str_radix(&s[r], 16).ok();
    match (hex(0..4), hex(5..7), hex(8..10), hex(11..12)) {
        (Some(_), Some(_), Some(dev), Some(func)) if dev <= 0x1f && func <= 7 => None,
        _ => bad(),
    }
}

fn is_multicast(a: u32) -> bool {
    a >> 28 == 0xe
}

fn is_loopback(a: u32) -> bool {
    a >> 24 == 127
}

/// A `/32` IPv4 prefix field (protocol or VTEP IP).
fn slash32(f: &mut Findings, path: FieldPath, what: &str, v: &str) -> Option<Ipv4Prefix> {
    match Ipv4Prefix::parse(v) {
        Err(e) => {
            f.push(
                path,
                format!(
                    "invalid {what} {v:?}: expected an IPv4 /32 prefix such as 172.30.8.9/32 ({e})"
                ),
            );
            None
        }
        Ok(p) if p.len != 32 => {
            f.push(path, format!("{what} {v} must be a /32 prefix"));
            None
        }
        Ok(p) => Some(p),
    }
}

pub(super) fn gateway(s: &GatewaySpec, settings: &FabricSettings, f: &mut Findings) {
    if !enabled("Gateway", settings, f) {
        return;
    }
    let workers = s.workers.unwrap_or(0);
    if !(1..=64).contains(&workers) {
        f.push(
            field_path!("spec", "workers"),
            format!("workers should be between 1 and 64, found {workers}"),
        );
    }
    if let Some(rl) = s.logs.as_ref().and_then(|l| l.rate_limit.as_ref()) {
        for (field, v) in [
            ("burst", rl.burst),
            ("replenishPerSecond", rl.replenish_per_second),
        ] {
            if let Some(v) = v.filter(|v| *v <= 0) {
                f.push(
                    field_path!("spec", "logs", "rateLimit", field),
                    format!("expected a value above 0, found {v}"),
                );
            }
        }
    }
    // Hydration: one error naming everything hhfab would fill in.
    let set = |v: &Option<String>| v.as_deref().is_some_and(|x| !x.is_empty());
    let mut missing: Vec<String> = Vec::new();
    for (field, v) in [
        ("protocolIP", &s.protocol_ip),
        ("vtepIP", &s.vtep_ip),
        ("vtepMAC", &s.vtep_mac),
    ] {
        if !set(v) {
            missing.push(field.to_string());
        }
    }
    if s.asn.unwrap_or(0) == 0 {
        missing.push("asn".into());
    }
    for (name, i) in s.interfaces.iter().flatten() {
        if i.ips.as_ref().is_none_or(Vec::is_empty) {
            missing.push(format!("interfaces.{name}.ips"));
        }
    }
    if s.neighbors.as_ref().is_none_or(Vec::is_empty) {
        missing.push("neighbors".into());
    }
    if !missing.is_empty() {
        let state = if missing.len() >= 5 {
            "not hydrated"
        } else {
            "partly hydrated"
        };
        f.push(
            field_path!("spec"),
            format!(
                "gateway is {state}: missing {}; the fabric rejects a gateway without protocol IP, VTEP IP and MAC, ASN, interface IPs and BGP neighbors: {HYDRATE_HINT}",
                missing.join(", ")
            ),
        );
    }
    if let Some(v) = s.protocol_ip.as_deref().filter(|v| !v.is_empty()) {
        slash32(f, field_path!("spec", "protocolIP"), "ProtocolIP", v);
    }
    if let Some(v) = s.vtep_ip.as_deref().filter(|v| !v.is_empty()) {
        if let Some(p) = slash32(f, field_path!("spec", "vtepIP"), "VTEPIP", v) {
            if is_multicast(p.addr) || is_loopback(p.addr) || p.addr == 0 {
                f.push(
                    field_path!("spec", "vtepIP"),
                    format!("VTEPIP {v} must be a unicast IPv4 address (not multicast, loopback or unspecified)"),
                );
            }
        }
    }
    if let Some(v) = s.vtep_mac.as_deref().filter(|v| !v.is_empty()) {
        match parse_mac(v) {
            None => f.push(
                field_path!("spec", "vtepMAC"),
                format!("VTEPMAC {v:?} is not a MAC address: expected e.g. ca:fe:ba:be:01:01"),
            ),
            Some(m) if m.iter().all(|b| *b == 0) => f.push(
                field_path!("spec", "vtepMAC"),
                format!("VTEPMAC {v} must not be all zeros"),
            ),
            Some(m) if m[0] & 1 == 1 => f.push(
                field_path!("spec", "vtepMAC"),
                format!("VTEPMAC {v} must be a unicast MAC address (the least significant bit of the first octet is 0)"),
            ),
            Some(_) => {}
        }
    }
    match &s.interfaces {
        Some(m) if !m.is_empty() => {
            for (name, i) in m {
                interface(f, name, i);
            }
        }
        _ => f.push(
            field_path!("spec", "interfaces"),
            "at least one interface must be defined",
        ),
    }
    for (i, n) in s.neighbors.iter().flatten().enumerate() {
        match n.ip.as_deref() {
            None | Some("") => f.missing(
                field_path!("spec", "neighbors", i, "ip"),
                "the neighbor's IPv4 address (without prefix length)",
            ),
            Some(ip) => match parse_addr(ip) {
                Err(e) => f.push(
                    field_path!("spec", "neighbors", i, "ip"),
                    format!("invalid neighbor IP {ip:?}: expected an IPv4 address without prefix length ({e})"),
                ),
                Ok(a) if is_multicast(a) || a == 0 => f.push(
                    field_path!("spec", "neighbors", i, "ip"),
                    format!("neighbor IP {ip} must not be multicast or unspecified"),
                ),
                Ok(_) => {}
            },
        }
        if n.asn.unwrap_or(0) == 0 {
            f.missing(
                field_path!("spec", "neighbors", i, "asn"),
                "the neighbor's ASN (non-zero)",
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, g) in s.groups.iter().flatten().enumerate() {
        let name = g.name.as_deref().unwrap_or("");
        if name.is_empty() {
            f.missing(
                field_path!("spec", "groups", i, "name"),
                "the name of a GatewayGroup",
            );
        } else if !seen.insert(name) {
            f.push(
                field_path!("spec", "groups", i, "name"),
                format!("gateway group {name} is duplicate"),
            );
        }
    }
}

fn interface(f: &mut Findings, name: &str, i: &GatewayInterface) {
    let p = field_path!("spec", "interfaces", name);
    if name.len() > 15 {
        f.push(
            p.clone(),
            format!("interface name {name:?} is too long: expected at most 15 characters"),
        );
    } else if !is_interface_name(name) {
        f.push(p.clone(), format!("interface name {name:?} is not valid: expected 2 to 10 characters, letters, digits, '_', '.' and '-', starting with a letter and ending with a letter or digit"));
    }
    for (j, ip) in i.ips.iter().flatten().enumerate() {
        if let Err(e) = Ipv4Prefix::parse(ip) {
            f.push(
                p.key("ips").index(j),
                format!("interface {name} IP {ip:?} is not valid: expected an IPv4 prefix such as 172.30.128.1/31 ({e})"),
            );
        }
    }
    let pci = i.pci.as_deref().filter(|x| !x.is_empty());
    let kernel = i.kernel.as_deref().filter(|x| !x.is_empty());
    if pci.is_some() && kernel.is_some() {
        f.push(
            p.key("kernel"),
            format!("interface {name} sets both pci and kernel: expected one of them"),
        );
    }
    if let Some(problem) = pci.and_then(pci_problem) {
        f.push(p.key("pci"), problem);
    }
    if let Some(k) = kernel {
        if !is_interface_name(k) {
            f.push(p.key("kernel"), format!("kernel interface name {k:?} is not valid: expected 2 to 10 characters, letters, digits, '_', '.' and '-', starting with a letter and ending with a letter or digit"));
        } else if k == name {
            f.push(
                p.key("kernel"),
                format!("kernel interface name {k} must differ from the interface name"),
            );
        }
    }
}

pub(super) fn gateway_group(settings: &FabricSettings, f: &mut Findings) {
    enabled("GatewayGroup", settings, f);
}

/// `validatePort`: `N` or `N-M` (spaces around `-` allowed), 1–65535, start ≤ end.
pub(crate) fn port_problem(s: &str) -> Option<String> {
    let bad = |why: &str| {
        Some(format!(
            "invalid port {s:?}: {why}: expected a port 1-65535 or a range such as 8080-8090"
        ))
    };
    if s.is_empty() {
        return bad("empty");
    }
    if s.trim() != s || s.contains(',') {
        return bad("no surrounding spaces or commas allowed");
    }
    let num = |p: &str| atoi(p).filter(|n| (1..=65535).contains(n));
    if !s.contains('-') {
        return match num(s) {
            Some(_) => None,
            None => bad("not a number from 1 to 65535"),
        };
    }
    let parts: Vec<&str> = s.split('-').map(str::trim).collect();
    match parts[..] {
        [a, b] if !a.is_empty() && !b.is_empty() => match (num(a), num(b)) {
            (Some(x), Some(y)) if x <= y => None,
            (Some(_), Some(_)) => bad("the range starts after it ends"),
            _ => bad("not a number from 1 to 65535"),
        },
        _ => bad("expected exactly two parts around '-'"),
    }
}

pub(super) fn gateway_peering(s: &GatewayPeeringSpec, settings: &FabricSettings, f: &mut Findings) {
    if !enabled("GatewayPeering", settings, f) {
        return;
    }
    if s.gateway_group.as_deref().unwrap_or("").is_empty() {
        f.missing(
            field_path!("spec", "gatewayGroup"),
            "the name of a GatewayGroup (it defaults to `default` only when the peering has exactly 2 entries)",
        );
    }
    let peering = s.peering.clone().unwrap_or_default();
    if peering.len() != 2 {
        f.push(
            field_path!("spec", "peering"),
            format!(
                "peering must have exactly 2 VPCs, got {}: expected two entries, each a VPC name or ext.<External name>",
                peering.len()
            ),
        );
    }
    let mut stateful: Vec<&str> = Vec::new();
    let mut stateless: Vec<&str> = Vec::new();
    for (key, entry) in &peering {
        let ext = key.starts_with(EXTERNAL_PEER_PREFIX);
        for (i, e) in entry.expose.iter().flatten().enumerate() {
            let p = field_path!("spec", "peering", key, "expose", i);
            let ips = e.ips.as_deref().unwrap_or(&[]);
            let r#as = e.r#as.as_deref().unwrap_or(&[]);
            if e.default == Some(true) {
                if !ips.is_empty() || !r#as.is_empty() || e.nat.is_some() {
                    f.push(
                        p.key("default"),
                        format!("default flag should be the only thing set in expose of VPC {key}"),
                    );
                }
            } else if ips.is_empty() {
                f.push(
                    p.key("ips"),
                    format!("at least one IP block must be specified in expose of VPC {key}"),
                );
            }
            for (j, ip) in ips.iter().enumerate() {
                let ip_path = p.key("ips").index(j);
                let n = [ip.cidr.is_some(), ip.not.is_some(), ip.vpc_subnet.is_some()]
                    .iter()
                    .filter(|x| **x)
                    .count();
                if n != 1 {
                    f.push(
                        ip_path.clone(),
                        "exactly one of cidr, not and vpcSubnet must be set",
                    );
                }
                for (field, v) in [("cidr", &ip.cidr), ("not", &ip.not)] {
                    if let Some(v) = v {
                        if let Err(e) = Ipv4Prefix::parse(v) {
                            f.push(ip_path.key(field), format!("invalid {field} {v:?}: {e}"));
                        }
                    }
                }
                if ext && ip.vpc_subnet.is_some() {
                    let name = key.trim_start_matches(EXTERNAL_PEER_PREFIX);
                    f.push(
                        ip_path.key("vpcSubnet"),
                        format!(
                            "external {name} cannot have an IP block with VPC Subnets specified"
                        ),
                    );
                }
            }
            for (j, a) in r#as.iter().enumerate() {
                let as_path = p.key("as").index(j);
                if a.cidr.is_some() == a.not.is_some() {
                    f.push(as_path.clone(), "exactly one of cidr and not must be set");
                }
                for (field, v) in [("cidr", &a.cidr), ("not", &a.not)] {
                    if let Some(v) = v {
                        if let Err(e) = Ipv4Prefix::parse(v) {
                            f.push(as_path.key(field), format!("invalid {field} {v:?}: {e}"));
                        }
                    }
                }
            }
            if r#as.is_empty() != e.nat.is_none() {
                f.push(
                    p.clone(),
                    format!("expose.As and expose.NAT must both be set or both be empty in expose of VPC {key}"),
                );
            }
            let Some(nat) = &e.nat else { continue };
            let np = p.key("nat");
            let kinds = [
                nat.r#static.is_some(),
                nat.masquerade.is_some(),
                nat.port_forward.is_some(),
            ];
            if kinds.iter().filter(|x| **x).count() != 1 {
                f.push(
                    np.clone(),
                    "exactly one of static, masquerade and portForward must be set",
                );
            }
            if nat.r#static.is_some() {
                stateless.push(key);
            }
            if nat.masquerade.is_some() || nat.port_forward.is_some() {
                stateful.push(key);
            }
            for (field, t) in [
                (
                    "masquerade",
                    nat.masquerade
                        .as_ref()
                        .and_then(|m| m.idle_timeout.as_ref()),
                ),
                (
                    "portForward",
                    nat.port_forward
                        .as_ref()
                        .and_then(|m| m.idle_timeout.as_ref()),
                ),
            ] {
                if let Some(t) = t {
                    if !crate::validate::is_go_duration(t) {
                        f.push(
                            np.key(field).key("idleTimeout"),
                            format!("expected a duration such as 2m or 1h30m, found {t:?}"),
                        );
                    }
                }
            }
            if let Some(pf) = &nat.port_forward {
                let ports = pf.ports.as_deref().unwrap_or(&[]);
                if ports.is_empty() {
                    f.push(
                        np.key("portForward").key("ports"),
                        "port forwarding needs at least one ports entry",
                    );
                }
                for (j, pe) in ports.iter().enumerate() {
                    let pp = np.key("portForward").key("ports").index(j);
                    for (field, v) in [("port", &pe.port), ("as", &pe.r#as)] {
                        match v.as_deref() {
                            None => f.missing(pp.key(field), "a port or port range"),
                            Some(v) => {
                                if let Some(problem) = port_problem(v) {
                                    f.push(pp.key(field), problem);
                                }
                            }
                        }
                    }
                    if let Some(proto) = pe.proto.as_deref() {
                        f.one_of(pp.key("proto"), proto, PORT_FORWARD_PROTOS);
                    }
                }
            }
        }
    }
    stateful.dedup();
    stateless.dedup();
    if stateful.len() > 1 {
        f.push(
            field_path!("spec", "peering"),
            "only one side of a peering can use stateful NAT (masquerade or port forwarding)",
        );
    }
    if let (Some(a), Some(b)) = (
        stateless.first(),
        stateful.iter().find(|k| !stateless.contains(k)),
    ) {
        f.push(
            field_path!("spec", "peering"),
            format!("one side of a peering using static NAT cannot peer with a side using stateful NAT ({a} and {b})"),
        );
    }
    if let Some(acl) = &s.acl {
        acl_rules(acl, &peering, f);
    }
}

fn acl_rules(
    acl: &PeeringACL,
    peering: &std::collections::BTreeMap<String, PeeringEntry>,
    f: &mut Findings,
) {
    let allowed = ["deny", "deny-unless-exposed"];
    match acl.default.as_deref() {
        None | Some("") => f.missing(
            field_path!("spec", "acl", "default"),
            &format!("one of {}", list(&allowed)),
        ),
        Some(d) => {
            f.one_of(field_path!("spec", "acl", "default"), d, &allowed);
        }
    }
    for (i, r) in acl.rules.iter().flatten().enumerate() {
        let rp = field_path!("spec", "acl", "rules", i);
        if let Some(n) = r.name.as_deref().filter(|n| !n.is_empty()) {
            if n.len() > 64 {
                f.push(
                    rp.key("name"),
                    format!("ACL rule name {n:?} is too long: expected at most 64 characters"),
                );
            } else if let Some(problem) = rfc1123_subdomain_problem(n) {
                f.push(rp.key("name"), format!("invalid ACL rule name: {problem}"));
            }
        }
        match r.action.as_deref() {
            None | Some("") => {
                f.missing(rp.key("action"), &format!("one of {}", list(ACL_ACTIONS)))
            }
            Some(a) => {
                f.one_of(rp.key("action"), a, ACL_ACTIONS);
            }
        }
        if let Some(sc) = r.scope.as_deref() {
            f.one_of(rp.key("scope"), sc, &ACL_SCOPES[..2]);
        }
        let from = r.from.as_deref().filter(|x| !x.is_empty());
        let to = r.to.as_deref().filter(|x| !x.is_empty());
        if from.is_none() && to.is_none() {
            f.push(
                rp.clone(),
                format!("ACL rule {i} needs at least one of from and to"),
            );
        }
        for (field, v) in [("from", from), ("to", to)] {
            if let Some(v) = v {
                if !peering.contains_key(v) {
                    let keys: Vec<&str> = peering.keys().map(String::as_str).collect();
                    f.push(
                        rp.key(field),
                        format!("ACL rule {i} {field} {v:?} is not a key of the peering: expected one of {}", keys.join(", ")),
                    );
                }
            }
        }
        let Some(m) = &r.r#match else { continue };
        for (side, items) in [("src", &m.src), ("dst", &m.dst)] {
            for (j, it) in items.iter().flatten().enumerate() {
                let ip = rp.key("match").key(side).index(j);
                if it.cidr.is_some() && it.vpc_subnet.is_some() {
                    f.push(ip.clone(), "at most one of cidr and vpcSubnet may be set");
                }
                if let Some(c) = &it.cidr {
                    if let Err(e) = Ipv4Prefix::parse(c) {
                        f.push(ip.key("cidr"), format!("invalid cidr {c:?}: {e}"));
                    }
                }
                for (k, port) in it.ports.iter().flatten().enumerate() {
                    if let Some(problem) = port_problem(port) {
                        f.push(ip.key("ports").index(k), problem);
                    }
                }
            }
        }
        if let Some(p) = m.proto.as_deref() {
            if !(p.is_empty() || p == "tcp" || p == "udp" || p.parse::<i64>().is_ok()) {
                f.push(
                    rp.key("match").key("proto"),
                    format!("invalid protocol {p:?}: expected tcp, udp or a protocol number"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        for ok in ["80", "+80", "080", "80-90", "80 - 90", "65535", "1-1"] {
            assert!(port_problem(ok).is_none(), "{ok}");
        }
        for bad in [
            "", " 80", "80,81", "-80", "0", "65536", "90-80", "1-2-3", "x",
        ] {
            assert!(port_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn pci_and_names() {
        assert!(pci_problem("0000:00:03.0").is_none());
        assert!(pci_problem("0000:00:20.0").is_some());
        assert!(pci_problem("0000:00:03.8").is_some());
        assert!(pci_problem("000:00:03.0").is_some());
        assert!(is_interface_name("enp2s1"));
        assert!(is_interface_name("e1"));
        assert!(!is_interface_name("e"));
        assert!(!is_interface_name("1abc"));
        assert!(!is_interface_name("abcdefghijk"));
        assert!(!is_interface_name("abc-"));
    }
}
