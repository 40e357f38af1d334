//! Object rules of the vpc kinds.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::field_path;
use crate::model::ip::{first_overlap, fmt_addr, is_mac, Ipv4Prefix};
use crate::model::meta::P2P_LINK_ANNOTATION;
use crate::model::vpc::*;
use crate::model::Object;
use crate::path::FieldPath;
use crate::settings::FabricSettings;
use crate::validate::check::{addr, list, prefix, Findings};

use super::short_name;

// ---------------------------------------------------------------------------------------------------- IPv4Namespace

pub(super) fn ipv4_namespace(
    name: &str,
    s: &IPv4NamespaceSpec,
    settings: &FabricSettings,
    f: &mut Findings,
) {
    short_name("IPv4Namespace", name, f);
    let subnets = s.subnets.as_deref().unwrap_or(&[]);
    if subnets.is_empty() {
        f.missing(field_path!("spec", "subnets"), "1 to 10 IPv4 prefixes");
    }
    if subnets.len() > 10 {
        f.push(
            field_path!("spec", "subnets"),
            format!("expected at most 10 subnets, found {}", subnets.len()),
        );
    }
    let mut parsed: Vec<(usize, Ipv4Prefix)> = Vec::new();
    for (i, sn) in subnets.iter().enumerate() {
        let path = || field_path!("spec", "subnets", i);
        let Some(p) = prefix(f, path, sn) else {
            continue;
        };
        if !p.is_canonical() {
            f.push(
                path(),
                format!("subnet {sn} has host bits set: expected {}", p.masked()),
            );
            continue;
        }
        if let Some(r) = settings.reserved_overlap(p) {
            f.push(path(), format!("subnet {sn} overlaps the reserved subnet {r}: expected a subnet outside the fabric's reserved subnets"));
            continue;
        }
        parsed.push((i, p));
    }
    let prefixes: Vec<Ipv4Prefix> = parsed.iter().map(|(_, p)| *p).collect();
    if let Some((a, b)) = first_overlap(&prefixes) {
        let later = parsed[a].0.max(parsed[b].0);
        f.push(
            field_path!("spec", "subnets", later),
            format!("subnet {} overlaps subnet {}", prefixes[b], prefixes[a]),
        );
    }
}

// ---------------------------------------------------------------------------------------------------- VPC

pub(super) fn vpc(name: &str, s: &VPCSpec, settings: &FabricSettings, f: &mut Findings) {
    short_name("VPC", name, f);
    if name.starts_with("ext.") {
        f.push(field_path!("metadata", "name"), format!("VPC name {name:?} must not start with \"ext.\" (reserved for externals in gateway peerings)"));
    }
    match s.mode() {
        "" | "l3vni" => {}
        "l3flat" => f.push(
            field_path!("spec", "mode"),
            "mode l3flat is not supported yet: expected \"\" (L2VNI) or l3vni",
        ),
        m => f.push(
            field_path!("spec", "mode"),
            format!("expected one of \"\" (L2VNI), l3vni, found {m:?}"),
        ),
    }
    let empty = Default::default();
    let subnets = s.subnets.as_ref().unwrap_or(&empty);
    if subnets.is_empty() {
        f.missing(field_path!("spec", "subnets"), "1 to 20 subnets");
    }
    if subnets.len() > 20 {
        f.push(
            field_path!("spec", "subnets"),
            format!("expected at most 20 subnets, found {}", subnets.len()),
        );
    }
    let mut prefixes: Vec<(FieldPath, Ipv4Prefix)> = Vec::new();
    let mut vlans: HashMap<u16, &str> = HashMap::new();
    for (sname, sub) in subnets {
        subnet(sname, sub, settings, f, &mut prefixes, &mut vlans);
    }
    let only: Vec<Ipv4Prefix> = prefixes.iter().map(|(_, p)| *p).collect();
    if let Some((a, b)) = first_overlap(&only) {
        f.push(
            prefixes[b].0.clone(),
            format!("{} overlaps {} (at {})", only[b], only[a], prefixes[a].0),
        );
    }
    for (i, permit) in s.permit.iter().flatten().enumerate() {
        let path = field_path!("spec", "permit", i);
        if permit.len() < 2 {
            f.push(
                path.clone(),
                format!(
                    "a permit list needs at least 2 subnets, found {}",
                    permit.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        for (j, sn) in permit.iter().enumerate() {
            if !subnets.contains_key(sn) {
                f.push(
                    path.index(j),
                    format!(
                        "subnet {sn:?} does not exist in this VPC: expected one of {}",
                        names(subnets.keys())
                    ),
                );
            } else if !seen.insert(sn.as_str()) {
                f.push(path.index(j), format!("subnet {sn:?} is listed twice"));
            }
        }
    }
    for (i, r) in s.static_routes.iter().flatten().enumerate() {
        let path = field_path!("spec", "staticRoutes", i);
        match r.prefix.as_deref() {
            None | Some("") => f.missing(path.key("prefix"), "a prefix such as 10.42.0.0/24"),
            Some(p) => {
                if let Some(pp) = prefix(f, || path.key("prefix"), p) {
                    if !pp.is_canonical() {
                        f.push(
                            path.key("prefix"),
                            format!("prefix {p} has host bits set: expected {}", pp.masked()),
                        );
                    }
                }
            }
        }
        if r.next_hops.as_ref().is_none_or(|n| n.is_empty()) {
            f.missing(path.key("nextHops"), "at least one next hop");
        }
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

fn subnet<'a>(
    sname: &'a str,
    s: &VPCSubnet,
    settings: &FabricSettings,
    f: &mut Findings,
    prefixes: &mut Vec<(FieldPath, Ipv4Prefix)>,
    vlans: &mut HashMap<u16, &'a str>,
) {
    let p = |field: &str| field_path!("spec", "subnets", sname, field);
    let net = match s.subnet.as_deref() {
        None | Some("") => {
            f.missing(p("subnet"), "an IPv4 prefix such as 10.0.1.0/24");
            None
        }
        Some(sn) => prefix(f, || p("subnet"), sn),
    };
    if let Some(n) = net {
        if n.len > 30 {
            f.push(
                p("subnet"),
                format!(
                    "prefix length /{} is too long: expected /30 or shorter",
                    n.len
                ),
            );
        } else if let Some(r) = settings.reserved_overlap(n) {
            f.push(p("subnet"), format!("subnet {n} overlaps the reserved subnet {r}: expected a subnet outside the fabric's reserved subnets"));
        } else {
            prefixes.push((p("subnet"), n));
        }
    }
    let no_dhcp = VPCDHCP::default();
    let dhcp = s.dhcp.as_ref().unwrap_or(&no_dhcp);
    let enabled = dhcp.enable == Some(true);
    let mut gateway: Option<u32> = None;
    if s.is_host_bgp() {
        if enabled {
            f.push(
                field_path!("spec", "subnets", sname, "dhcp", "enable"),
                "DHCP must not be enabled on a hostBGP subnet",
            );
        }
        let lens = (
            s.host_bgp_min_prefix_len.unwrap_or(32),
            s.host_bgp_max_prefix_len.unwrap_or(32),
        );
        for (field, v) in [
            ("hostBGPMinPrefixLen", s.host_bgp_min_prefix_len),
            ("hostBGPMaxPrefixLen", s.host_bgp_max_prefix_len),
        ] {
            if let Some(v) = v {
                if !(1..=32).contains(&v) {
                    f.push(
                        p(field),
                        format!("expected a prefix length from 1 to 32, found {v}"),
                    );
                }
            }
        }
        if let Some(n) = net {
            host_bgp_lens(f, p("hostBGPMinPrefixLen"), n, lens.0, lens.1);
        }
        if let Some(extra) = &s.host_bgp_extra_prefixes {
            if extra.len() > 100 {
                f.push(
                    p("hostBGPExtraPrefixes"),
                    format!("expected at most 100 extra prefixes, found {}", extra.len()),
                );
            }
            for (ps, cfg) in extra {
                let ep = field_path!("spec", "subnets", sname, "hostBGPExtraPrefixes", ps);
                let Some(pp) = prefix(f, || ep.clone(), ps) else {
                    continue;
                };
                if !pp.is_canonical() {
                    f.push(
                        ep,
                        format!(
                            "extra prefix {ps} is not canonical: expected {}",
                            pp.masked()
                        ),
                    );
                    continue;
                }
                for (field, v) in [
                    ("minPrefixLen", cfg.min_prefix_len),
                    ("maxPrefixLen", cfg.max_prefix_len),
                ] {
                    if let Some(v) = v {
                        if !(1..=32).contains(&v) {
                            f.push(
                                ep.key(field),
                                format!("expected a prefix length from 1 to 32, found {v}"),
                            );
                        }
                    }
                }
                let min = cfg.min_prefix_len.filter(|v| *v != 0).unwrap_or(lens.0);
                let max = cfg.max_prefix_len.filter(|v| *v != 0).unwrap_or(lens.1);
                host_bgp_lens(f, ep.key("minPrefixLen"), pp, min, max);
                if let Some(r) = settings.reserved_overlap(pp) {
                    f.push(
                        ep,
                        format!("extra prefix {ps} overlaps the reserved subnet {r}"),
                    );
                    continue;
                }
                prefixes.push((ep, pp));
            }
        }
    } else {
        if s.host_bgp_extra_prefixes
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            f.push(
                p("hostBGPExtraPrefixes"),
                "hostBGP extra prefixes are allowed only on hostBGP subnets",
            );
        }
        for (field, v) in [
            ("hostBGPMinPrefixLen", s.host_bgp_min_prefix_len),
            ("hostBGPMaxPrefixLen", s.host_bgp_max_prefix_len),
        ] {
            if v.is_some_and(|v| v != 0) {
                f.push(
                    p(field),
                    "hostBGP prefix lengths are allowed only on hostBGP subnets",
                );
            }
        }
        match s.gateway.as_deref() {
            Some(g) if !g.is_empty() => {
                if let Some(a) = addr(f, || p("gateway"), g) {
                    if net.is_some_and(|n| !n.contains_addr(a)) {
                        f.push(
                            p("gateway"),
                            format!(
                                "gateway {g} is outside the subnet: expected an address in {}",
                                net.map(|n| n.masked().to_string()).unwrap_or_default()
                            ),
                        );
                    }
                    gateway = Some(a);
                }
            }
            // Defaulted by the webhook to the first address after the network.
            _ => gateway = net.map(|n| n.network().wrapping_add(1)),
        }
        match s.vlan {
            None | Some(0) => f.missing(p("vlan"), "a VLAN from the VPC's VLAN namespace"),
            Some(v) => {
                if let Some(other) = vlans.insert(v, sname) {
                    f.push(
                        p("vlan"),
                        format!("VLAN {v} is already used by subnet {other} of this VPC"),
                    );
                }
            }
        }
    }

    let dp = |field: &str| field_path!("spec", "subnets", sname, "dhcp", field);
    let relay = dhcp.relay.as_deref().unwrap_or("");
    if !relay.is_empty() {
        if enabled {
            f.push(dp("relay"), "a DHCP relay and the DHCP server cannot both be enabled: expected either relay or enable");
        }
        prefix(f, || dp("relay"), relay);
    } else if dhcp.relay_vpc.as_deref().is_some_and(|v| !v.is_empty()) {
        f.push(
            dp("relayVPC"),
            "relayVPC requires relay: expected a DHCP relay address with prefix length",
        );
    }
    if let Some(opts) = &dhcp.options {
        // The CRD requires these two whenever options are present (they have no omitempty in Go).
        if opts.interface_mtu.is_none() {
            f.missing(
                field_path!("spec", "subnets", sname, "dhcp", "options", "interfaceMTU"),
                "an MTU from 96 to 9036 (required whenever options are present)",
            );
        }
        if opts.lease_time_seconds.is_none() {
            f.missing(
                field_path!(
                    "spec",
                    "subnets",
                    sname,
                    "dhcp",
                    "options",
                    "leaseTimeSeconds"
                ),
                "a lease time in seconds (required whenever options are present)",
            );
        }
    }
    // Without `enable`, the webhook's defaulting silently drops range and options (on /30 and shorter prefixes),
    // so they are accepted; static leases are not dropped, and are rejected.
    if enabled {
        if let Some(n) = net {
            dhcp_server(sname, dhcp, n, gateway, f);
        }
    } else if dhcp.r#static.as_ref().is_some_and(|m| !m.is_empty()) {
        f.push(
            dp("static"),
            "static leases need the DHCP server: expected dhcp.enable: true",
        );
    }
}

fn host_bgp_lens(f: &mut Findings, path: FieldPath, p: Ipv4Prefix, min: u8, max: u8) {
    if min > max {
        f.push(
            path,
            format!("hostBGP min prefix length {min} is greater than the max prefix length {max}"),
        );
    } else if max > 32 {
        f.push(
            path,
            format!("hostBGP max prefix length {max} is greater than 32"),
        );
    } else if min < p.len {
        f.push(path, format!("hostBGP min prefix length {min} is shorter than the prefix length of {p}: expected at least {}", p.len));
    }
}

fn dhcp_server(
    sname: &str,
    dhcp: &VPCDHCP,
    net: Ipv4Prefix,
    gateway: Option<u32>,
    f: &mut Findings,
) {
    let rp = |field: &str| field_path!("spec", "subnets", sname, "dhcp", "range", field);
    let no_range = VPCDHCPRange::default();
    let range = dhcp.range.as_ref().unwrap_or(&no_range);
    // Defaults: network+2 .. the last address of the subnet.
    let endpoint = |f: &mut Findings, field: &str, v: Option<&str>, default: u32| -> Option<u32> {
        let a = match v {
            Some(s) if !s.is_empty() => addr(f, || rp(field), s)?,
            _ => default,
        };
        let shown = fmt_addr(a);
        if a == net.network() {
            f.push(
                rp(field),
                format!("DHCP range {field} {shown} is the subnet's network address"),
            );
        } else if Some(a) == gateway {
            f.push(
                rp(field),
                format!("DHCP range {field} {shown} is the subnet's gateway"),
            );
        } else if !net.contains_addr(a) {
            f.push(
                rp(field),
                format!(
                    "DHCP range {field} {shown} is outside the subnet: expected an address in {}",
                    net.masked()
                ),
            );
        }
        Some(a)
    };
    let start = endpoint(
        f,
        "start",
        range.start.as_deref(),
        net.network().wrapping_add(2),
    );
    let end = endpoint(f, "end", range.end.as_deref(), net.last());
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            f.push(
                rp("start"),
                format!(
                    "DHCP range start {} does not come before its end {}",
                    fmt_addr(s),
                    fmt_addr(e)
                ),
            );
        }
    }
    if let Some(o) = &dhcp.options {
        let op = |field: &str| field_path!("spec", "subnets", sname, "dhcp", "options", field);
        for (field, list) in [
            ("dnsServers", &o.dns_servers),
            ("timeServers", &o.time_servers),
        ] {
            for (i, ip) in list.iter().flatten().enumerate() {
                addr(f, || op(field).index(i), ip);
            }
        }
        if let Some(mtu) = o.interface_mtu {
            if !(96..=9036).contains(&mtu) {
                f.push(
                    op("interfaceMTU"),
                    format!("expected an MTU from 96 to 9036, found {mtu}"),
                );
            }
        }
        if o.lease_time_seconds == Some(0) {
            f.push(
                op("leaseTimeSeconds"),
                "expected a lease time of at least 1 second, found 0",
            );
        }
        for (i, r) in o.advertised_routes.iter().flatten().enumerate() {
            let path = op("advertisedRoutes").index(i);
            match r.destination.as_deref() {
                None | Some("") => f.missing(path.key("destination"), "a destination prefix"),
                Some(d) => {
                    prefix(f, || path.key("destination"), d);
                }
            }
            match r.gateway.as_deref() {
                None | Some("") => {
                    f.missing(path.key("gateway"), "a gateway address inside the subnet")
                }
                Some(g) => {
                    if let Some(a) = addr(f, || path.key("gateway"), g) {
                        if !net.contains_addr(a) {
                            f.push(path.key("gateway"), format!("route gateway {g} is outside the subnet: expected an address in {}", net.masked()));
                        }
                    }
                }
            }
        }
    }
    let mut seen: HashMap<u32, &str> = HashMap::new();
    for (mac, st) in dhcp.r#static.iter().flatten() {
        let path = field_path!("spec", "subnets", sname, "dhcp", "static", mac);
        if !is_mac(mac) {
            f.push(
                path.clone(),
                format!("expected a MAC address such as 0c:20:12:ff:00:00, found {mac:?}"),
            );
        }
        let Some(ip) = st.ip.as_deref().filter(|s| !s.is_empty()) else {
            f.missing(path.key("ip"), "the static IP address");
            continue;
        };
        let Some(a) = addr(f, || path.key("ip"), ip) else {
            continue;
        };
        let problem = if !net.contains_addr(a) {
            Some(format!(
                "static IP {ip} is outside the subnet: expected an address in {}",
                net.masked()
            ))
        } else if a == net.network() {
            Some(format!("static IP {ip} is the subnet's network address"))
        } else if Some(a) == gateway {
            Some(format!("static IP {ip} is the subnet's gateway"))
        } else if a == net.last() {
            Some(format!("static IP {ip} is the subnet's broadcast address"))
        } else {
            None
        };
        if let Some(m) = problem {
            f.push(path.key("ip"), m);
        } else if let Some(other) = seen.insert(a, mac) {
            f.push(
                path.key("ip"),
                format!("static IP {ip} is already assigned to {other}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------- VPCAttachment

pub(super) fn vpc_attachment(o: &Object, s: &VPCAttachmentSpec, f: &mut Findings) {
    match s.subnet.as_deref() {
        None | Some("") => f.missing(
            field_path!("spec", "subnet"),
            "<vpc>/<subnet>, e.g. vpc-1/default",
        ),
        Some(sn) => {
            if sn.starts_with('/') {
                f.push(
                    field_path!("spec", "subnet"),
                    format!("expected <vpc>/<subnet>, found {sn:?} (the VPC name is missing)"),
                );
            }
        }
    }
    if s.connection.as_deref().unwrap_or("").is_empty() {
        f.missing(
            field_path!("spec", "connection"),
            "the name of an unbundled, bundled or eslag Connection",
        );
    }
    if let Some(v) = o
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(P2P_LINK_ANNOTATION))
    {
        let ok = Ipv4Prefix::parse(v).is_ok_and(|p| p.len == 31);
        if !ok {
            f.push(
                field_path!("metadata", "annotations", P2P_LINK_ANNOTATION),
                format!("expected an IPv4 /31 prefix such as 10.0.0.0/31, found {v:?}"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------- VPCPeering

pub(super) fn vpc_peering(s: &VPCPeeringSpec, settings: &FabricSettings, f: &mut Findings) {
    if settings.vpc_peering_disabled {
        f.push(
            field_path!("spec"),
            "VPC peering is disabled in this fabric (fabric setting vpcPeeringDisabled = true)",
        );
    }
    if s.remote.as_deref().is_some_and(|r| !r.is_empty()) {
        f.push(
            field_path!("spec", "remote"),
            "remote peering is not supported: expected no remote",
        );
    }
    let permit = s.permit.as_deref().unwrap_or(&[]);
    if permit.is_empty() {
        f.missing(
            field_path!("spec", "permit"),
            "1 to 10 permit entries of exactly 2 VPCs",
        );
    }
    if permit.len() > 10 {
        f.push(
            field_path!("spec", "permit"),
            format!("expected at most 10 permit entries, found {}", permit.len()),
        );
    }
    let mut vpcs: BTreeSet<&str> = BTreeSet::new();
    for (i, entry) in permit.iter().enumerate() {
        if entry.len() != 2 {
            f.push(
                field_path!("spec", "permit", i),
                format!(
                    "expected exactly 2 VPCs in a permit entry, found {}",
                    entry.len()
                ),
            );
        }
        for (vpc, peer) in entry {
            vpcs.insert(vpc);
            if let Some(sub) = &peer.subnets {
                if sub.is_empty() || sub.len() > 10 {
                    f.push(
                        field_path!("spec", "permit", i, vpc, "subnets"),
                        format!(
                            "expected 1 to 10 subnets (or none for all subnets), found {}",
                            sub.len()
                        ),
                    );
                }
            }
        }
    }
    if !permit.is_empty() && vpcs.len() != 2 {
        f.push(
            field_path!("spec", "permit"),
            format!(
                "expected exactly 2 VPCs across all permit entries, found {} ({})",
                vpcs.len(),
                vpcs.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------------- External

fn community_ok(c: &str) -> bool {
    match c.split_once(':') {
        Some((a, b)) => [a, b].iter().all(|x| {
            !x.is_empty()
                && x.len() <= 5
                && x.bytes().all(|d| d.is_ascii_digit())
                && x.parse::<u32>().is_ok_and(|n| n <= 65535)
        }),
        None => false,
    }
}

pub(super) fn external(name: &str, s: &ExternalSpec, f: &mut Findings) {
    short_name("External", name, f);
    if let Some(st) = &s.r#static {
        for (field, v) in [
            ("inboundCommunity", &s.inbound_community),
            ("outboundCommunity", &s.outbound_community),
        ] {
            if v.as_deref().is_some_and(|c| !c.is_empty()) {
                f.push(field_path!("spec", field), "a static external has no communities: expected no inboundCommunity/outboundCommunity");
            }
        }
        let prefixes = st.prefixes.as_deref().unwrap_or(&[]);
        if prefixes.is_empty() {
            f.missing(
                field_path!("spec", "static", "prefixes"),
                "at least one prefix",
            );
        }
        let mut parsed: Vec<(usize, Ipv4Prefix)> = Vec::new();
        for (i, pstr) in prefixes.iter().enumerate() {
            if let Some(p) = prefix(f, || field_path!("spec", "static", "prefixes", i), pstr) {
                parsed.push((i, p));
            }
        }
        let only: Vec<Ipv4Prefix> = parsed.iter().map(|(_, p)| *p).collect();
        if let Some((a, b)) = first_overlap(&only) {
            let later = parsed[a].0.max(parsed[b].0);
            f.push(
                field_path!("spec", "static", "prefixes", later),
                format!("prefix {} overlaps prefix {}", only[b], only[a]),
            );
        }
    } else {
        for (field, v) in [
            ("inboundCommunity", &s.inbound_community),
            ("outboundCommunity", &s.outbound_community),
        ] {
            // Both communities are optional; a non-empty one must be well formed (CATALOGUE §10.1).
            match v.as_deref() {
                None | Some("") => {}
                Some(c) => {
                    if !community_ok(c) {
                        f.push(field_path!("spec", field), format!("expected a BGP community <0-65535>:<0-65535> such as 65102:5000, found {c:?}"));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------- ExternalAttachment

pub(super) fn external_attachment(
    spec_present: bool,
    s: &ExternalAttachmentSpec,
    f: &mut Findings,
) {
    if !spec_present {
        f.missing(
            field_path!("spec"),
            "spec with external, connection, switch and neighbor",
        );
        return;
    }
    for (field, v) in [("external", &s.external), ("connection", &s.connection)] {
        if v.as_deref().unwrap_or("").is_empty() {
            f.missing(
                field_path!("spec", field),
                if field == "external" {
                    "the name of an External"
                } else {
                    "the name of an external Connection"
                },
            );
        }
    }
    if s.switch.is_none() {
        f.missing(
            field_path!("spec", "switch"),
            "switch ({} for a static attachment)",
        );
    }
    if s.neighbor.is_none() {
        f.missing(
            field_path!("spec", "neighbor"),
            "neighbor ({} for a static attachment)",
        );
    }
    let (no_sw, no_nb) = (
        ExternalAttachmentSwitch::default(),
        ExternalAttachmentNeighbor::default(),
    );
    let sw = s.switch.as_ref().unwrap_or(&no_sw);
    let nb = s.neighbor.as_ref().unwrap_or(&no_nb);
    match &s.r#static {
        None => {
            // A missing switch or neighbor is reported once, above, not once per sub-field.
            match sw.ip.as_deref() {
                _ if s.switch.is_none() => {}
                None | Some("") => f.missing(
                    field_path!("spec", "switch", "ip"),
                    "the switch IP with prefix length, e.g. 100.1.10.1/24",
                ),
                Some(ip) => {
                    prefix(f, || field_path!("spec", "switch", "ip"), ip);
                }
            }
            if nb.asn.unwrap_or(0) == 0 && s.neighbor.is_some() {
                f.missing(
                    field_path!("spec", "neighbor", "asn"),
                    "the BGP neighbor's ASN",
                );
            }
            match nb.ip.as_deref() {
                _ if s.neighbor.is_none() => {}
                None | Some("") => f.missing(
                    field_path!("spec", "neighbor", "ip"),
                    "the BGP neighbor's IP address",
                ),
                Some(ip) => {
                    addr(f, || field_path!("spec", "neighbor", "ip"), ip);
                }
            }
        }
        Some(st) => {
            if sw.ip.as_deref().is_some_and(|v| !v.is_empty()) || sw.vlan.unwrap_or(0) != 0 {
                f.push(
                    field_path!("spec", "switch"),
                    "a static attachment sets no switch parameters: expected switch: {}",
                );
            }
            if nb.asn.unwrap_or(0) != 0 || nb.ip.as_deref().is_some_and(|v| !v.is_empty()) {
                f.push(
                    field_path!("spec", "neighbor"),
                    "a static attachment sets no neighbor parameters: expected neighbor: {}",
                );
            }
            match st.remote_ip.as_deref() {
                None | Some("") => f.missing(
                    field_path!("spec", "static", "remoteIP"),
                    "the external's IP address (next hop of its prefixes)",
                ),
                Some(ip) => {
                    addr(f, || field_path!("spec", "static", "remoteIP"), ip);
                }
            }
            let has_ip = st.ip.as_deref().is_some_and(|v| !v.is_empty());
            let proxy = st.proxy == Some(true);
            if has_ip == proxy {
                f.push(
                    field_path!("spec", "static"),
                    if has_ip {
                        "expected exactly one of static.ip or static.proxy, found both"
                    } else {
                        "expected exactly one of static.ip or static.proxy, found neither"
                    },
                );
            }
            if let Some(ip) = st.ip.as_deref().filter(|v| !v.is_empty()) {
                prefix(f, || field_path!("spec", "static", "ip"), ip);
            }
        }
    }
    if let Some(acl) = &s.inbound_acl {
        acl_statements(acl, f);
    }
}

fn acl_statements(acl: &ACLSpec, f: &mut Findings) {
    let mut seqs: HashMap<u16, usize> = HashMap::new();
    for (i, st) in acl.statements.iter().flatten().enumerate() {
        let p = |field: &str| field_path!("spec", "inboundACL", "statements", i, field);
        match st.seq {
            None => f.missing(p("seq"), "a sequence number of at least 10"),
            Some(seq) => {
                if seq < 10 {
                    f.push(p("seq"), format!("sequence number {seq} is reserved for the fabric's security rules: expected 10 or more"));
                }
                if let Some(j) = seqs.insert(seq, i) {
                    f.push(
                        p("seq"),
                        format!("sequence number {seq} is already used by statement {j}"),
                    );
                }
            }
        }
        match st.action.as_deref() {
            None => f.missing(p("action"), &format!("one of {}", list(ACL_ACTIONS))),
            Some(a) => {
                f.one_of(p("action"), a, ACL_ACTIONS);
            }
        }
        let proto = st.protocol.as_deref();
        match proto {
            None => f.missing(p("protocol"), &format!("one of {}", list(ACL_PROTOCOLS))),
            Some(pr) => {
                f.one_of(p("protocol"), pr, ACL_PROTOCOLS);
            }
        }
        for field in ["srcPrefix", "dstPrefix"] {
            let v = if field == "srcPrefix" {
                &st.src_prefix
            } else {
                &st.dst_prefix
            };
            match v.as_deref() {
                None | Some("") => f.missing(p(field), "any or a prefix such as 10.0.0.0/8"),
                Some("any") => {}
                Some(pfx) => {
                    prefix(f, || p(field), pfx);
                }
            }
        }
        if let Some(tf) = &st.tcp_filters {
            if proto != Some("tcp") {
                f.push(
                    p("tcpFilters"),
                    format!(
                        "tcpFilters apply only to protocol tcp, found protocol {:?}",
                        proto.unwrap_or("")
                    ),
                );
            }
            let flags = [
                tf.fin, tf.not_fin, tf.syn, tf.not_syn, tf.rst, tf.not_rst, tf.psh, tf.not_psh,
                tf.ack, tf.not_ack, tf.urg, tf.not_urg,
            ];
            if tf.established == Some(true) && flags.contains(&Some(true)) {
                f.push(
                    p("tcpFilters"),
                    "established excludes the individual TCP flags",
                );
            }
        }
        if (st.icmp_type.is_some() || st.icmp_code.is_some()) && proto != Some("icmp") {
            f.push(
                p(if st.icmp_type.is_some() {
                    "icmpType"
                } else {
                    "icmpCode"
                }),
                format!(
                    "icmpType and icmpCode apply only to protocol icmp, found protocol {:?}",
                    proto.unwrap_or("")
                ),
            );
        }
        let (b, e) = (
            st.port_range_begin.unwrap_or(0),
            st.port_range_end.unwrap_or(0),
        );
        if b > 0 || e > 0 {
            if !matches!(proto, Some("tcp" | "udp")) {
                f.push(
                    p("portRangeBegin"),
                    format!(
                        "port ranges apply only to protocols tcp and udp, found protocol {:?}",
                        proto.unwrap_or("")
                    ),
                );
            } else if b == 0 {
                f.push(
                    p("portRangeBegin"),
                    "expected a port range begin of at least 1",
                );
            } else if b > e {
                f.push(
                    p("portRangeEnd"),
                    format!("port range end {e} is below its begin {b}: expected begin <= end"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------- ExternalPeering

pub(super) fn external_peering(s: &ExternalPeeringSpec, f: &mut Findings) {
    let no_permit = ExternalPeeringPermit::default();
    let permit = s.permit.as_ref().unwrap_or(&no_permit);
    if permit
        .vpc
        .as_ref()
        .and_then(|v| v.name.as_deref())
        .unwrap_or("")
        .is_empty()
    {
        f.missing(
            field_path!("spec", "permit", "vpc", "name"),
            "the name of a VPC",
        );
    }
    let no_ext = ExternalPeeringExternal::default();
    let ext = permit.external.as_ref().unwrap_or(&no_ext);
    if ext.name.as_deref().unwrap_or("").is_empty() {
        f.missing(
            field_path!("spec", "permit", "external", "name"),
            "the name of an External",
        );
    }
    // An absent or empty list is accepted; only a listed item without a prefix is not (CATALOGUE §10.3).
    let prefixes = ext.prefixes.as_deref().unwrap_or(&[]);
    for (i, p) in prefixes.iter().enumerate() {
        if p.prefix.as_deref().unwrap_or("").is_empty() {
            f.missing(
                field_path!("spec", "permit", "external", "prefixes", i, "prefix"),
                "a prefix such as 0.0.0.0/0",
            );
        }
    }
}
