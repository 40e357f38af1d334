//! hhfab's hydration status (CATALOGUE §8b.3): counting the value slots, and checking every value that is present
//! the way hhfab checks it before and after hydrating.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{
    end_ip, gateway_slots, leaf_like, link_ends, switch_slots, HydrateConfig, HydrateError,
    NodeAddress, ROLES,
};
use crate::kinds::Kind;
use crate::model::ip::{fmt_addr, Ipv4Prefix};
use crate::model::{Object, Spec};

/// Hydration status of a set of objects: value slots in total and missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub total: usize,
    pub missing: usize,
}

impl Status {
    /// `none`, `partial` or `full`, as hhfab names them (no slots at all counts as `none`).
    pub fn name(&self) -> &'static str {
        if self.total > 0 && self.missing == 0 {
            "full"
        } else if self.missing == self.total {
            "none"
        } else {
            "partial"
        }
    }
}

/// Counts the slots of §8b.3 (switches, numbered links, gateways; nodes are not wiring objects).
pub fn status(objects: &[&Object]) -> Status {
    let mut st = Status::default();
    for o in objects {
        match &o.spec {
            Spec::Switch(s) => {
                for (_, set) in switch_slots(s) {
                    st.total += 1;
                    st.missing += usize::from(!set);
                }
            }
            Spec::Gateway(g) => {
                for (_, set) in gateway_slots(g) {
                    st.total += 1;
                    st.missing += usize::from(!set);
                }
            }
            Spec::Connection(c) => {
                if let Some((_, _, links)) = link_ends(c) {
                    for [a, b] in links {
                        st.total += 2;
                        st.missing +=
                            usize::from(end_ip(a).is_none()) + usize::from(end_ip(b).is_none());
                    }
                }
            }
            _ => {}
        }
    }
    st
}

pub(super) fn check_config(cfg: &HydrateConfig, errors: &mut Vec<HydrateError>) {
    let m = cfg.management_subnet;
    if cfg.control_vip != m.network().wrapping_add(1) {
        errors.push(HydrateError::config(format!(
            "control VIP {} is not the first IP of the management subnet {}",
            fmt_addr(cfg.control_vip),
            m
        )));
    }
    if !m.contains_addr(cfg.management_dhcp_start) {
        errors.push(HydrateError::config(format!(
            "management DHCP start {} is not in the management subnet {m}",
            fmt_addr(cfg.management_dhcp_start)
        )));
    }
    if let Some(end) = cfg.management_dhcp_end {
        if !m.contains_addr(end) {
            errors.push(HydrateError::config(format!(
                "management DHCP end {} is not in the management subnet {m}",
                fmt_addr(end)
            )));
        } else if cfg.management_dhcp_start >= end {
            errors.push(HydrateError::config(format!(
                "management DHCP start {} must be below its end {}",
                fmt_addr(cfg.management_dhcp_start),
                fmt_addr(end)
            )));
        }
    }
    if cfg.dummy_subnet.len > 24 {
        errors.push(HydrateError::config(format!(
            "dummy subnet {} should be at least a /24",
            cfg.dummy_subnet
        )));
    }
}

/// A value pool: address → the object that holds it.
struct Pool<'a>(HashMap<u32, (Kind, &'a str)>);

impl<'a> Pool<'a> {
    fn claim(&mut self, a: u32, who: (Kind, &'a str)) -> Option<(Kind, &'a str)> {
        match self.0.get(&a) {
            Some(prev) if *prev != who => Some(*prev),
            Some(_) => None,
            None => {
                self.0.insert(a, who);
                None
            }
        }
    }
}

fn parse_pref(s: &str) -> Result<Ipv4Prefix, String> {
    Ipv4Prefix::parse(s)
}

/// Checks every present value of `objects` as hhfab does (§8b.3 steps 3–6). Errors name the object holding the
/// value that breaks the rule (the later one, in hhfab's order, for collisions).
pub(super) fn check_values(
    objects: &[&Object],
    cfg: &HydrateConfig,
    nodes: &[NodeAddress],
) -> Vec<HydrateError> {
    let mut errors = Vec::new();
    let mut mgmt = Pool(HashMap::new());
    mgmt.0
        .insert(cfg.control_vip, (Kind::Switch, "control VIP"));
    for n in nodes {
        if let Ok(p) = parse_pref(&n.management_ip) {
            mgmt.0.insert(p.addr, (Kind::Switch, "a node"));
        }
    }
    let mut proto = Pool(HashMap::new());
    let mut vtep = Pool(HashMap::new());
    let mut asns: HashMap<u32, &str> = HashMap::new();
    let mut mclag: BTreeMap<&str, (Option<u32>, Option<&str>)> = BTreeMap::new();

    let mut switches: Vec<&Object> = objects
        .iter()
        .copied()
        .filter(|o| o.kind() == Kind::Switch)
        .collect();
    switches.sort_by(|a, b| a.name().cmp(b.name()));
    for o in switches {
        let Spec::Switch(s) = &o.spec else { continue };
        let name = o.name();
        let err = |path: &str, m: String| HydrateError::new(Kind::Switch, name, path, m);
        let role = s.role();
        if role.is_empty() {
            errors.push(err("spec.role", format!("switch {name} role is not set")));
            continue;
        }
        if !ROLES.contains(&role) {
            errors.push(err(
                "spec.role",
                format!("switch {name} role {role:?} is invalid"),
            ));
            continue;
        }
        if let Some(ip) = s.ip.as_deref().filter(|v| !v.is_empty()) {
            match parse_pref(ip) {
                Err(e) => errors.push(err("spec.ip", e)),
                Ok(p) => {
                    if !cfg.management_subnet.contains_addr(p.addr)
                        || p.addr >= cfg.management_dhcp_start
                    {
                        errors.push(err("spec.ip", format!(
                            "switch {name} (management) IP {ip} is not in the management subnet {} below the DHCP start {}",
                            cfg.management_subnet,
                            fmt_addr(cfg.management_dhcp_start)
                        )));
                    } else if let Some((_, by)) = mgmt.claim(p.addr, (Kind::Switch, name)) {
                        errors.push(err(
                            "spec.ip",
                            format!(
                                "switch {name} (management) IP {ip} is already in use (by {by})"
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(ip) = s.protocol_ip.as_deref().filter(|v| !v.is_empty()) {
            match parse_pref(ip) {
                Err(e) => errors.push(err("spec.protocolIP", e)),
                Ok(p) if p.len != 32 || !cfg.protocol_subnet.contains_addr(p.addr) => {
                    errors.push(err(
                        "spec.protocolIP",
                        format!(
                            "switch {name} protocol IP {ip} is not a /32 in the protocol subnet {}",
                            cfg.protocol_subnet
                        ),
                    ))
                }
                Ok(p) => {
                    if let Some((_, by)) = proto.claim(p.addr, (Kind::Switch, name)) {
                        errors.push(err(
                            "spec.protocolIP",
                            format!("switch {name} protocol IP {ip} is already in use (by {by})"),
                        ));
                    }
                }
            }
        }
        let mclag_group = (s.redundancy_type() == "mclag").then(|| s.redundancy_group());
        let peer = mclag_group.and_then(|g| mclag.get(g).copied());
        if let Some(asn) = s.asn.filter(|a| *a != 0) {
            if role == "spine" {
                if asn != cfg.spine_asn {
                    errors.push(err(
                        "spec.asn",
                        format!("spine {name} ASN {asn} is not {}", cfg.spine_asn),
                    ));
                }
            } else if let Some((peer_asn, _)) = peer {
                if peer_asn != Some(asn) {
                    errors.push(err(
                        "spec.asn",
                        format!(
                            "mclag peers should have same ASNs: {name} has {asn}, its peer {}",
                            peer_asn.unwrap_or(0)
                        ),
                    ));
                }
            } else if asn < cfg.leaf_asn_start || asn > cfg.leaf_asn_end {
                errors.push(err(
                    "spec.asn",
                    format!(
                        "leaf {name} ASN {asn} is not in the leaf ASN range {}-{}",
                        cfg.leaf_asn_start, cfg.leaf_asn_end
                    ),
                ));
            } else if let Some(by) = asns.get(&asn) {
                errors.push(err(
                    "spec.asn",
                    format!("leaf {name} ASN {asn} is already in use (by {by})"),
                ));
            } else {
                asns.insert(asn, name);
            }
        }
        let vt = s.vtep_ip.as_deref().filter(|v| !v.is_empty());
        if role == "spine" {
            if vt.is_some() {
                errors.push(err(
                    "spec.vtepIP",
                    format!("spine {name} should not have VTEP IP"),
                ));
            }
        } else if let Some(ip) = vt {
            match parse_pref(ip) {
                Err(e) => errors.push(err("spec.vtepIP", e)),
                Ok(p) if p.len != 32 || !cfg.vtep_subnet.contains_addr(p.addr) => errors.push(err(
                    "spec.vtepIP",
                    format!(
                        "switch {name} VTEP IP {ip} is not a /32 in the VTEP subnet {}",
                        cfg.vtep_subnet
                    ),
                )),
                Ok(p) => {
                    if let Some((_, Some(peer_vtep))) = peer {
                        if peer_vtep != ip {
                            errors.push(err("spec.vtepIP", format!("mclag peers should have same VTEP IPs: {name} has {ip}, its peer {peer_vtep}")));
                        }
                    } else if let Some((_, by)) = vtep.claim(p.addr, (Kind::Switch, name)) {
                        errors.push(err(
                            "spec.vtepIP",
                            format!("switch {name} VTEP IP {ip} is already in use (by {by})"),
                        ));
                    }
                }
            }
        }
        if let Some(g) = mclag_group {
            mclag.entry(g).or_insert((s.asn, vt));
        }
        let _ = leaf_like(role);
    }

    let mut conns: Vec<&Object> = objects
        .iter()
        .copied()
        .filter(|o| o.kind() == Kind::Connection)
        .collect();
    conns.sort_by(|a, b| a.name().cmp(b.name()));
    let mut links = Pool(HashMap::new());
    for o in conns {
        let Spec::Connection(c) = &o.spec else {
            continue;
        };
        let Some((ty, names, ends)) = link_ends(c) else {
            continue;
        };
        let name = o.name();
        for (i, [a, b]) in ends.into_iter().enumerate() {
            let (Some(ia), Some(ib)) = (end_ip(a), end_ip(b)) else {
                continue;
            };
            let path = |n: &str| format!("spec.{ty}.links[{i}].{n}.ip");
            let (pa, pb) = match (parse_pref(ia), parse_pref(ib)) {
                (Ok(pa), Ok(pb)) => (pa, pb),
                (Err(e), _) => {
                    errors.push(HydrateError::new(Kind::Connection, name, path(names[0]), e));
                    continue;
                }
                (_, Err(e)) => {
                    errors.push(HydrateError::new(Kind::Connection, name, path(names[1]), e));
                    continue;
                }
            };
            let mut bad = false;
            for (p, ip, n) in [(pa, ia, names[0]), (pb, ib, names[1])] {
                if p.len != 31 || !cfg.fabric_subnet.contains_addr(p.addr) {
                    errors.push(HydrateError::new(
                        Kind::Connection,
                        name,
                        path(n),
                        format!(
                            "{ty} link IP {ip} is not a /31 in the fabric subnet {}",
                            cfg.fabric_subnet
                        ),
                    ));
                    bad = true;
                } else if let Some((_, by)) = links.claim(p.addr, (Kind::Connection, name)) {
                    errors.push(HydrateError::new(
                        Kind::Connection,
                        name,
                        path(n),
                        format!("{ty} link IP {ip} is already in use (by {by})"),
                    ));
                    bad = true;
                }
            }
            if !bad && (pa.network() != pb.network() || pa.addr == pb.addr) {
                errors.push(HydrateError::new(
                    Kind::Connection,
                    name,
                    path(names[1]),
                    format!("{ty} link IPs {ia} and {ib} are not the two ends of one /31"),
                ));
            }
        }
    }

    let mut gws: Vec<&Object> = objects
        .iter()
        .copied()
        .filter(|o| o.kind() == Kind::Gateway)
        .collect();
    gws.sort_by(|a, b| a.name().cmp(b.name()));
    for o in gws {
        let Spec::Gateway(g) = &o.spec else { continue };
        let name = o.name();
        let err = |path: &str, m: String| HydrateError::new(Kind::Gateway, name, path, m);
        if let Some(asn) = g.asn.filter(|a| *a != 0) {
            if asn != cfg.gateway_asn {
                errors.push(err(
                    "spec.asn",
                    format!("gateway {name} ASN {asn} is not {}", cfg.gateway_asn),
                ));
            }
        }
        for (field, v, subnet, pool) in [
            (
                "spec.protocolIP",
                g.protocol_ip.as_deref(),
                cfg.protocol_subnet,
                &mut proto,
            ),
            (
                "spec.vtepIP",
                g.vtep_ip.as_deref(),
                cfg.vtep_subnet,
                &mut vtep,
            ),
        ] {
            let Some(ip) = v.filter(|v| !v.is_empty()) else {
                continue;
            };
            match parse_pref(ip) {
                Err(e) => errors.push(err(field, e)),
                Ok(p) if p.len != 32 || !subnet.contains_addr(p.addr) => errors.push(err(
                    field,
                    format!(
                        "gateway {name} {} {ip} is not a /32 in {subnet}",
                        &field[5..]
                    ),
                )),
                Ok(p) => {
                    if let Some((_, by)) = pool.claim(p.addr, (Kind::Gateway, name)) {
                        errors.push(err(
                            field,
                            format!(
                                "gateway {name} {} {ip} is already in use (by {by})",
                                &field[5..]
                            ),
                        ));
                    }
                }
            }
        }
    }
    errors
}
