//! Hydration (SPEC §10, CATALOGUE §8b): filling in what hhfab's `hydrate` fills in — switch management,
//! protocol and VTEP IPs and ASNs, the /31s of fabric, mesh and gateway links, and the Gateways' addresses, ASN,
//! VTEP MAC and the interface and neighbour entries their gateway links imply.
//!
//! Invariants:
//! - **From scratch it is hhfab's `if-not-present` mode**: the same counters, the same order (nodes by name;
//!   spines, then the other roles in byte order of the role, by name; connections by name; gateways by name) and
//!   the same values.
//! - **Incremental**: values an object already has are kept; an input object without values that names an object
//!   of the existing fabric takes that object's values (links are matched by their ports); what is still missing is
//!   allocated **after the highest value in use** of each counter, so nothing taken (or once taken, or taken by a
//!   node the wiring does not show) is ever reused. With no existing values this is exactly the from-scratch order.
//! - A **partly hydrated** input object (some of its slots set, others not) is an error, never completed; so is a
//!   link with one end numbered.
//! - **Exhausted ranges** are pointed errors at the object that would get the first address outside its range.
//! - After hydrating, the status check of §8b.3 runs over the result (every value is checked as hhfab checks it)
//!   and every input object must be full.
//! - Pure and deterministic: same input, existing state and settings give the same values.
//!
//! Where hhfab and this module differ, by decision: hhfab refuses a wiring that mixes hydrated and unhydrated
//! objects ("partially hydrated"); here a mix of *whole* objects is hydrated incrementally (only partly hydrated
//! objects are refused).

mod check;
mod fab;
mod source;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::kinds::Kind;
use crate::model::gateway::{GatewayBGPNeighbor, GatewaySpec};
use crate::model::ip::{fmt_addr, parse_addr, Ipv4Prefix};
use crate::model::wiring::{split_port, ConnFabricLinkSwitch, ConnectionSpec, SwitchSpec};
use crate::model::{Object, Spec};
use crate::settings::FabricSettings;

pub use check::{status, Status};
pub use fab::{parse_fab_yaml, FabYamlError};
pub use source::{decode_documents, hydrate_documents, DecodedObject};

/// MTU hhfab gives a gateway interface of a gateway link.
pub const GATEWAY_INTERFACE_MTU: u32 = 9100;
/// VTEP MTU hhfab gives a Gateway.
pub const GATEWAY_VTEP_MTU: u32 = 9036;
/// Prefix of the VTEP MACs hhfab gives Gateways (`CA:FE:BA:BE:01:<nn>`).
pub const GATEWAY_VTEP_MAC_PREFIX: &str = "CA:FE:BA:BE:01:";
/// Most Gateways the VTEP MAC scheme can number.
pub const MAX_GATEWAYS: usize = 254;

/// A control node or gateway node of `fab.yaml`: it takes a management address before the switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    pub name: String,
    /// `ControlNode` or `FabNode`.
    pub kind: String,
    /// Its `management.ip` address when `fab.yaml` gives one.
    pub management_ip: Option<u32>,
}

/// What hydration reads: the addressing of CATALOGUE §8b.1.
#[derive(Debug, Clone, PartialEq)]
pub struct HydrateConfig {
    pub management_subnet: Ipv4Prefix,
    /// The control VIP address (must be the management network + 1).
    pub control_vip: u32,
    pub management_dhcp_start: u32,
    pub management_dhcp_end: Option<u32>,
    pub dummy_subnet: Ipv4Prefix,
    pub protocol_subnet: Ipv4Prefix,
    pub vtep_subnet: Ipv4Prefix,
    pub fabric_subnet: Ipv4Prefix,
    pub spine_asn: u32,
    pub leaf_asn_start: u32,
    pub leaf_asn_end: u32,
    pub gateway_asn: u32,
    /// Control nodes, by name (hhfab allows exactly one).
    pub control_nodes: Vec<NodeSpec>,
    /// Gateway (fab) nodes, by name.
    pub fab_nodes: Vec<NodeSpec>,
}

/// Default dummy subnet of the fabricator (`control.dummySubnet`).
pub const DEFAULT_DUMMY_SUBNET: Ipv4Prefix =
    Ipv4Prefix::new(u32::from_be_bytes([172, 30, 90, 0]), 24);

impl HydrateConfig {
    /// The fabric's settings and one control node (`control-1`), as SPEC §10 says for hydration without
    /// `fab.yaml`.
    pub fn from_settings(s: &FabricSettings) -> Self {
        HydrateConfig {
            management_subnet: s.management_subnet,
            control_vip: s.control_vip.addr,
            management_dhcp_start: s.management_dhcp_start_addr().unwrap_or(0),
            management_dhcp_end: parse_addr(&s.management_dhcp_end).ok(),
            dummy_subnet: s.dummy_subnet,
            protocol_subnet: s.protocol_subnet,
            vtep_subnet: s.vtep_subnet,
            fabric_subnet: s.fabric_subnet,
            spine_asn: s.spine_asn,
            leaf_asn_start: s.leaf_asn_start,
            leaf_asn_end: s.leaf_asn_end,
            gateway_asn: s.gateway_asn,
            control_nodes: vec![NodeSpec {
                name: "control-1".into(),
                kind: "ControlNode".into(),
                management_ip: None,
            }],
            fab_nodes: Vec::new(),
        }
    }
}

/// One hydration error, pointed at an object and field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HydrateError {
    /// `None` for errors about the settings or `fab.yaml`.
    #[serde(serialize_with = "ser_kind")]
    pub kind: Option<Kind>,
    pub name: String,
    /// Field path in display form (`spec.ip`, `spec.fabric.links[0].leaf.ip`); empty for the whole object.
    pub path: String,
    pub message: String,
}

fn ser_kind<S: serde::Serializer>(k: &Option<Kind>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(k.name()),
        None => s.serialize_none(),
    }
}

impl HydrateError {
    fn new(kind: Kind, name: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        HydrateError {
            kind: Some(kind),
            name: name.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }
    fn config(message: impl Into<String>) -> Self {
        HydrateError {
            kind: None,
            name: String::new(),
            path: String::new(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for HydrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Some(k) if self.path.is_empty() => write!(f, "{k} {}: {}", self.name, self.message),
            Some(k) => write!(f, "{k} {}: {}: {}", self.name, self.path, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// One value hydration set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    pub kind: String,
    pub name: String,
    pub path: String,
    pub value: String,
    /// True when the value was taken from the existing fabric's copy of the object, not newly allocated.
    pub kept: bool,
}

/// What hydration did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HydrateReport {
    /// Every value set, in allocation order.
    pub allocations: Vec<Allocation>,
    /// Input objects that were changed (indexes into the input).
    #[serde(skip)]
    pub changed: BTreeSet<usize>,
    /// Input objects that were already fully hydrated and left as they are.
    pub already_hydrated: usize,
    /// Management (and dummy) addresses of the nodes, as hhfab gives them.
    pub nodes: Vec<NodeAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    pub name: String,
    pub kind: String,
    pub management_ip: String,
    pub dummy_ip: Option<String>,
}

impl HydrateReport {
    /// Newly allocated values (not kept from the existing fabric).
    pub fn allocated(&self) -> usize {
        self.allocations.iter().filter(|a| !a.kept).count()
    }
}

/// An address counter that hands out values after the highest one in use.
struct Counter {
    next: u64,
}

impl Counter {
    fn new(start: u64, taken: impl Iterator<Item = u64>, step: u64) -> Self {
        let mut next = start;
        for t in taken {
            if t >= next {
                next = t + 1;
            }
        }
        // keep alignment to the step (a /31 pair starts on an even address)
        if step > 1 {
            let rem = (next - start % step) % step;
            if rem != 0 {
                next += step - rem;
            }
        }
        Counter { next }
    }
    fn take(&mut self, n: u64) -> u64 {
        let v = self.next;
        self.next += n;
        v
    }
}

fn addr_of(s: &str) -> Option<u32> {
    let a = s.split_once('/').map_or(s, |(a, _)| a);
    parse_addr(a).ok()
}

fn leaf_like(role: &str) -> bool {
    matches!(role, "server-leaf" | "border-leaf" | "mixed-leaf")
}

const ROLES: &[&str] = &["spine", "server-leaf", "border-leaf", "mixed-leaf"];

/// A connection type, the names of its two link ends, and the ends of each link.
pub(crate) type LinkEnds<'a> = (
    &'static str,
    [&'static str; 2],
    Vec<[Option<&'a ConnFabricLinkSwitch>; 2]>,
);

/// The two ends of each numbered link of a connection, with the names of the ends and the connection type.
pub(crate) fn link_ends(spec: &ConnectionSpec) -> Option<LinkEnds<'_>> {
    if let Some(f) = &spec.fabric {
        let v = f
            .links
            .iter()
            .flatten()
            .map(|l| [l.spine.as_ref(), l.leaf.as_ref()])
            .collect();
        return Some(("fabric", ["spine", "leaf"], v));
    }
    if let Some(m) = &spec.mesh {
        let v = m
            .links
            .iter()
            .flatten()
            .map(|l| [l.leaf1.as_ref(), l.leaf2.as_ref()])
            .collect();
        return Some(("mesh", ["leaf1", "leaf2"], v));
    }
    if let Some(g) = &spec.gateway {
        let v = g
            .links
            .iter()
            .flatten()
            .map(|l| [l.switch.as_ref(), l.gateway.as_ref()])
            .collect();
        return Some(("gateway", ["switch", "gateway"], v));
    }
    None
}

fn link_ends_mut(spec: &mut ConnectionSpec) -> Vec<[&mut Option<ConnFabricLinkSwitch>; 2]> {
    if let Some(f) = &mut spec.fabric {
        return f
            .links
            .iter_mut()
            .flatten()
            .map(|l| [&mut l.spine, &mut l.leaf])
            .collect();
    }
    if let Some(m) = &mut spec.mesh {
        return m
            .links
            .iter_mut()
            .flatten()
            .map(|l| [&mut l.leaf1, &mut l.leaf2])
            .collect();
    }
    if let Some(g) = &mut spec.gateway {
        return g
            .links
            .iter_mut()
            .flatten()
            .map(|l| [&mut l.switch, &mut l.gateway])
            .collect();
    }
    Vec::new()
}

fn end_ip(e: Option<&ConnFabricLinkSwitch>) -> Option<&str> {
    e.and_then(|e| e.ip.as_deref()).filter(|s| !s.is_empty())
}

fn end_port(e: Option<&ConnFabricLinkSwitch>) -> &str {
    e.and_then(|e| e.port.as_deref()).unwrap_or("")
}

fn nonempty(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

fn switch_slots(s: &SwitchSpec) -> Vec<(&'static str, bool)> {
    let mut v = vec![
        ("ip", nonempty(&s.ip)),
        ("protocolIP", nonempty(&s.protocol_ip)),
        ("asn", s.asn.is_some_and(|a| a != 0)),
    ];
    if leaf_like(s.role()) {
        v.push(("vtepIP", nonempty(&s.vtep_ip)));
    }
    v
}

fn gateway_slots(g: &GatewaySpec) -> Vec<(&'static str, bool)> {
    vec![
        ("asn", g.asn.is_some_and(|a| a != 0)),
        ("protocolIP", nonempty(&g.protocol_ip)),
        ("vtepIP", nonempty(&g.vtep_ip)),
    ]
}

/// "it has a, b but lacks c": for partly hydrated messages.
fn partly(slots: &[(&str, bool)]) -> Option<String> {
    let have: Vec<&str> = slots.iter().filter(|s| s.1).map(|s| s.0).collect();
    let lack: Vec<&str> = slots.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if have.is_empty() || lack.is_empty() {
        None
    } else {
        Some(format!(
            "partly hydrated: it has {} but lacks {}; give all of them or none (hydration never completes a partly hydrated object)",
            have.join(", "),
            lack.join(", ")
        ))
    }
}

/// Hydrates `input` in place against the `existing` fabric (objects not in the input, or the existing copies of
/// input objects). Returns what was set, or every error found (nothing is changed then).
pub fn hydrate<'a>(
    input: &mut [Object],
    existing: impl IntoIterator<Item = &'a Object>,
    cfg: &HydrateConfig,
) -> Result<HydrateReport, Vec<HydrateError>> {
    let mut work: Vec<Object> = input.to_vec();
    let report = hydrate_inner(&mut work, existing.into_iter().collect(), cfg)?;
    for i in &report.changed {
        input[*i] = work[*i].clone();
    }
    Ok(report)
}

fn hydrate_inner(
    work: &mut [Object],
    existing: Vec<&Object>,
    cfg: &HydrateConfig,
) -> Result<HydrateReport, Vec<HydrateError>> {
    let mut errors: Vec<HydrateError> = Vec::new();
    check::check_config(cfg, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let input_keys: HashMap<(Kind, String), usize> = work
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.kind(), o.name().to_string()), i))
        .collect();
    let existing_by_key: HashMap<(Kind, &str), &Object> = existing
        .iter()
        .map(|o| ((o.kind(), o.name()), *o))
        .collect();
    // Objects of the existing fabric that the input does not replace: their values are taken.
    let others: Vec<&Object> = existing
        .iter()
        .copied()
        .filter(|o| !input_keys.contains_key(&(o.kind(), o.name().to_string())))
        .collect();

    let mut report = HydrateReport::default();

    // 1. Partly hydrated input objects are errors.
    for o in work.iter() {
        match &o.spec {
            Spec::Switch(s) => {
                if let Some(m) = partly(&switch_slots(s)) {
                    errors.push(HydrateError::new(Kind::Switch, o.name(), "spec", m));
                }
            }
            Spec::Gateway(g) => {
                if let Some(m) = partly(&gateway_slots(g)) {
                    errors.push(HydrateError::new(Kind::Gateway, o.name(), "spec", m));
                }
            }
            Spec::Connection(c) => {
                if let Some((ty, names, links)) = link_ends(c) {
                    for (i, [a, b]) in links.iter().enumerate() {
                        let (ha, hb) = (end_ip(*a).is_some(), end_ip(*b).is_some());
                        if ha != hb {
                            let (set, unset) = if ha {
                                (names[0], names[1])
                            } else {
                                (names[1], names[0])
                            };
                            errors.push(HydrateError::new(
                                Kind::Connection,
                                o.name(),
                                format!("spec.{ty}.links[{i}].{unset}.ip"),
                                format!("partly hydrated link: {set} has an IP but {unset} has none; number both ends or neither"),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // 2. Input objects without values take those of their existing copy.
    for (idx, o) in work.iter_mut().enumerate() {
        let name = o.name().to_string();
        let Some(prev) = existing_by_key.get(&(o.kind(), name.as_str())) else {
            continue;
        };
        let mut kept = |path: &str, value: String| {
            report.allocations.push(Allocation {
                kind: o_kind_name(&prev.spec),
                name: name.clone(),
                path: path.into(),
                value,
                kept: true,
            });
            report.changed.insert(idx);
        };
        match (&mut o.spec, &prev.spec) {
            (Spec::Switch(s), Spec::Switch(p)) if switch_slots(s).iter().all(|x| !x.1) => {
                let s = std::sync::Arc::make_mut(s);
                if let Some(v) = p.ip.clone().filter(|v| !v.is_empty()) {
                    kept("spec.ip", v.clone());
                    s.ip = Some(v);
                }
                if let Some(v) = p.protocol_ip.clone().filter(|v| !v.is_empty()) {
                    kept("spec.protocolIP", v.clone());
                    s.protocol_ip = Some(v);
                }
                if let Some(v) = p.asn.filter(|a| *a != 0) {
                    kept("spec.asn", v.to_string());
                    s.asn = Some(v);
                }
                if leaf_like(s.role()) {
                    if let Some(v) = p.vtep_ip.clone().filter(|v| !v.is_empty()) {
                        kept("spec.vtepIP", v.clone());
                        s.vtep_ip = Some(v);
                    }
                }
            }
            (Spec::Gateway(g), Spec::Gateway(p)) if gateway_slots(g).iter().all(|x| !x.1) => {
                let g = std::sync::Arc::make_mut(g);
                {
                    if let Some(v) = p.asn.filter(|a| *a != 0) {
                        kept("spec.asn", v.to_string());
                        g.asn = Some(v);
                    }
                    if let Some(v) = p.protocol_ip.clone().filter(|v| !v.is_empty()) {
                        kept("spec.protocolIP", v.clone());
                        g.protocol_ip = Some(v);
                    }
                    if let Some(v) = p.vtep_ip.clone().filter(|v| !v.is_empty()) {
                        kept("spec.vtepIP", v.clone());
                        g.vtep_ip = Some(v);
                    }
                    if g.vtep_mac.is_none() {
                        if let Some(v) = p.vtep_mac.clone() {
                            kept("spec.vtepMAC", v.clone());
                            g.vtep_mac = Some(v);
                        }
                    }
                    if g.vtep_mtu.is_none() {
                        if let Some(v) = p.vtep_mtu {
                            kept("spec.vtepMTU", v.to_string());
                            g.vtep_mtu = Some(v);
                        }
                    }
                    // Interfaces and neighbours the existing copy has for its links.
                    if let (Some(ifs), Some(pifs)) = (&mut g.interfaces, &p.interfaces) {
                        for (n, i) in ifs.iter_mut() {
                            if let Some(pi) = pifs.get(n) {
                                if i.ips.as_ref().is_none_or(|v| v.is_empty()) && pi.ips.is_some() {
                                    i.ips = pi.ips.clone();
                                    if i.mtu.is_none() {
                                        i.mtu = pi.mtu;
                                    }
                                    kept(
                                        &format!("spec.interfaces.{n}.ips"),
                                        pi.ips.clone().unwrap_or_default().join(","),
                                    );
                                }
                            }
                        }
                    }
                    if g.neighbors.as_ref().is_none_or(|v| v.is_empty()) && p.neighbors.is_some() {
                        g.neighbors = p.neighbors.clone();
                        kept(
                            "spec.neighbors",
                            format!("{} neighbour(s)", g.neighbors.as_ref().map_or(0, Vec::len)),
                        );
                    }
                }
            }
            (Spec::Connection(c), Spec::Connection(p)) => {
                let prev_links: HashMap<(String, String), [Option<String>; 2]> = link_ends(p)
                    .map(|(_, _, links)| {
                        links
                            .iter()
                            .map(|[a, b]| {
                                (
                                    (end_port(*a).to_string(), end_port(*b).to_string()),
                                    [
                                        end_ip(*a).map(str::to_string),
                                        end_ip(*b).map(str::to_string),
                                    ],
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let ty = link_ends(c).map(|x| (x.0, x.1));
                if let Some((ty, names)) = ty {
                    for (i, [a, b]) in link_ends_mut(std::sync::Arc::make_mut(c))
                        .into_iter()
                        .enumerate()
                    {
                        if end_ip(a.as_ref()).is_some() {
                            continue;
                        }
                        let key = (
                            end_port(a.as_ref()).to_string(),
                            end_port(b.as_ref()).to_string(),
                        );
                        if let Some([Some(pa), Some(pb)]) = prev_links.get(&key) {
                            kept(&format!("spec.{ty}.links[{i}].{}.ip", names[0]), pa.clone());
                            kept(&format!("spec.{ty}.links[{i}].{}.ip", names[1]), pb.clone());
                            a.get_or_insert_with(Default::default).ip = Some(pa.clone());
                            b.get_or_insert_with(Default::default).ip = Some(pb.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // 3. What is taken: every value of the existing fabric and of the input.
    let all: Vec<&Object> = others.iter().copied().chain(work.iter()).collect();
    let mut mgmt_taken: Vec<u64> = vec![u64::from(cfg.control_vip)];
    let mut proto_taken = Vec::new();
    let mut vtep_taken = Vec::new();
    let mut asn_taken = Vec::new();
    let mut fabric_taken = Vec::new();
    let mut mac_taken = Vec::new();
    let mut gateways_total = 0usize;
    // MCLAG group -> (asn, vtepIP) of an already hydrated member.
    let mut mclag: BTreeMap<String, (Option<u32>, Option<String>)> = BTreeMap::new();
    for n in cfg.control_nodes.iter().chain(&cfg.fab_nodes) {
        if let Some(ip) = n.management_ip {
            mgmt_taken.push(u64::from(ip));
        }
    }
    for o in &all {
        match &o.spec {
            Spec::Switch(s) => {
                mgmt_taken.extend(s.ip.as_deref().and_then(addr_of).map(u64::from));
                proto_taken.extend(s.protocol_ip.as_deref().and_then(addr_of).map(u64::from));
                vtep_taken.extend(s.vtep_ip.as_deref().and_then(addr_of).map(u64::from));
                if !s.is_spine() {
                    asn_taken.extend(s.asn.filter(|a| *a != 0).map(u64::from));
                }
                if s.redundancy_type() == "mclag" && s.asn.is_some_and(|a| a != 0) {
                    mclag
                        .entry(s.redundancy_group().to_string())
                        .or_insert((s.asn, s.vtep_ip.clone()));
                }
            }
            Spec::Gateway(g) => {
                gateways_total += 1;
                proto_taken.extend(g.protocol_ip.as_deref().and_then(addr_of).map(u64::from));
                vtep_taken.extend(g.vtep_ip.as_deref().and_then(addr_of).map(u64::from));
                if let Some(mac) = &g.vtep_mac {
                    let m = mac.to_ascii_uppercase();
                    if let Some(n) = m.strip_prefix(GATEWAY_VTEP_MAC_PREFIX) {
                        if let Ok(n) = u8::from_str_radix(n, 16) {
                            mac_taken.push(u64::from(n));
                        }
                    }
                }
            }
            Spec::Connection(c) => {
                if let Some((_, _, links)) = link_ends(c) {
                    for [a, b] in links {
                        fabric_taken.extend(end_ip(a).and_then(addr_of).map(u64::from));
                        fabric_taken.extend(end_ip(b).and_then(addr_of).map(u64::from));
                    }
                }
            }
            _ => {}
        }
    }
    if gateways_total > MAX_GATEWAYS {
        return Err(vec![HydrateError::config(format!(
            "too many gateways ({gateways_total}) for our current VTEPMAC hydration scheme, maximum is {MAX_GATEWAYS}"
        ))]);
    }

    // Nodes come first in the management range (hhfab gave them the first addresses when the fabric was first
    // hydrated, and the wiring does not show them), so their addresses start at VIP + 4 whatever else is taken.
    let mut node_counter = Counter::new(u64::from(cfg.control_vip) + 4, std::iter::empty(), 1);
    let node_ips: Vec<u32> = cfg
        .control_nodes
        .iter()
        .chain(&cfg.fab_nodes)
        .map(|n| {
            n.management_ip
                .unwrap_or_else(|| node_counter.take(1) as u32)
        })
        .collect();
    mgmt_taken.extend(node_ips.iter().map(|a| u64::from(*a)));
    let mut mgmt = Counter::new(u64::from(cfg.control_vip) + 4, mgmt_taken.into_iter(), 1);
    let mut dummy = Counter::new(u64::from(cfg.dummy_subnet.network()), std::iter::empty(), 2);
    let mut proto = Counter::new(
        u64::from(cfg.protocol_subnet.network()),
        proto_taken.into_iter(),
        1,
    );
    let mut vtep = Counter::new(
        u64::from(cfg.vtep_subnet.network()),
        vtep_taken.into_iter(),
        1,
    );
    let mut leaf_asn = Counter::new(u64::from(cfg.leaf_asn_start), asn_taken.into_iter(), 1);
    let mut fabric = Counter::new(
        u64::from(cfg.fabric_subnet.network()),
        fabric_taken.into_iter(),
        2,
    );
    let mut mac = Counter::new(1, mac_taken.into_iter(), 1);
    let mgmt_len = cfg.management_subnet.len;

    // 4. Nodes: control nodes, then gateway nodes, by name.
    for (n, ip) in cfg.control_nodes.iter().chain(&cfg.fab_nodes).zip(node_ips) {
        let dummy_ip = match n.management_ip {
            Some(_) => None,
            None => Some(format!("{}/31", fmt_addr(dummy.take(2) as u32))),
        };
        report.nodes.push(NodeAddress {
            name: n.name.clone(),
            kind: n.kind.clone(),
            management_ip: format!("{}/{mgmt_len}", fmt_addr(ip)),
            dummy_ip,
        });
    }

    let mgmt_limit = u64::from(cfg.management_dhcp_start.min(cfg.management_subnet.last()));
    let next_in = |c: &mut Counter, limit: u64, what: &str, range: String| -> Result<u32, String> {
        let v = c.take(1);
        if v >= limit {
            Err(format!(
                "the {what} is exhausted: the next address, {}, is outside {range}",
                fmt_addr(v as u32)
            ))
        } else {
            Ok(v as u32)
        }
    };
    let proto_limit = u64::from(cfg.protocol_subnet.last()) + 1;
    let vtep_limit = u64::from(cfg.vtep_subnet.last()) + 1;

    // 5. Switches: spines first, then the other roles in byte order, by name.
    let mut switches: Vec<usize> = work
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(&o.spec, Spec::Switch(s) if switch_slots(s).iter().all(|x| !x.1)))
        .map(|(i, _)| i)
        .collect();
    let role_of = |o: &Object| match &o.spec {
        Spec::Switch(s) => s.role().to_string(),
        _ => String::new(),
    };
    switches.sort_by(|a, b| {
        let (ra, rb) = (role_of(&work[*a]), role_of(&work[*b]));
        ((ra != "spine"), ra, work[*a].name()).cmp(&((rb != "spine"), rb, work[*b].name()))
    });
    for idx in switches {
        let name = work[idx].name().to_string();
        let Spec::Switch(s) = &mut work[idx].spec else {
            continue;
        };
        let s = std::sync::Arc::make_mut(s);
        let role = s.role().to_string();
        if role.is_empty() {
            errors.push(HydrateError::new(
                Kind::Switch,
                &name,
                "spec.role",
                format!("switch {name} role is not set"),
            ));
            continue;
        }
        if !ROLES.contains(&role.as_str()) {
            errors.push(HydrateError::new(
                Kind::Switch,
                &name,
                "spec.role",
                format!("switch {name} role {role:?} is invalid"),
            ));
            continue;
        }
        let mut out: Vec<(&str, String)> = Vec::new();
        match next_in(
            &mut mgmt,
            mgmt_limit,
            "management range",
            format!(
                "{} below the DHCP start {}",
                cfg.management_subnet,
                fmt_addr(cfg.management_dhcp_start)
            ),
        ) {
            Ok(a) => {
                let v = format!("{}/{mgmt_len}", fmt_addr(a));
                s.ip = Some(v.clone());
                out.push(("spec.ip", v));
            }
            Err(m) => errors.push(HydrateError::new(Kind::Switch, &name, "spec.ip", m)),
        }
        match next_in(
            &mut proto,
            proto_limit,
            "protocol subnet",
            cfg.protocol_subnet.to_string(),
        ) {
            Ok(a) => {
                let v = format!("{}/32", fmt_addr(a));
                s.protocol_ip = Some(v.clone());
                out.push(("spec.protocolIP", v));
            }
            Err(m) => errors.push(HydrateError::new(Kind::Switch, &name, "spec.protocolIP", m)),
        }
        if role == "spine" {
            s.asn = Some(cfg.spine_asn);
            out.push(("spec.asn", cfg.spine_asn.to_string()));
        } else {
            let group = s.redundancy_group().to_string();
            let peer = if s.redundancy_type() == "mclag" {
                mclag.get(&group).cloned()
            } else {
                None
            };
            if let Some((asn, vtep_ip)) = peer {
                s.asn = asn;
                s.vtep_ip = vtep_ip.clone();
                out.push(("spec.asn", asn.unwrap_or(0).to_string()));
                out.push(("spec.vtepIP", vtep_ip.unwrap_or_default()));
            } else {
                let a = leaf_asn.take(1);
                if a > u64::from(cfg.leaf_asn_end) {
                    errors.push(HydrateError::new(
                        Kind::Switch,
                        &name,
                        "spec.asn",
                        format!(
                            "the leaf ASN range {}-{} is exhausted: the next ASN would be {a}",
                            cfg.leaf_asn_start, cfg.leaf_asn_end
                        ),
                    ));
                } else {
                    s.asn = Some(a as u32);
                    out.push(("spec.asn", a.to_string()));
                }
                match next_in(
                    &mut vtep,
                    vtep_limit,
                    "VTEP subnet",
                    cfg.vtep_subnet.to_string(),
                ) {
                    Ok(a) => {
                        let v = format!("{}/32", fmt_addr(a));
                        s.vtep_ip = Some(v.clone());
                        out.push(("spec.vtepIP", v));
                    }
                    Err(m) => errors.push(HydrateError::new(Kind::Switch, &name, "spec.vtepIP", m)),
                }
                if s.redundancy_type() == "mclag" {
                    mclag.insert(group, (s.asn, s.vtep_ip.clone()));
                }
            }
        }
        for (path, value) in out {
            report.allocations.push(Allocation {
                kind: "Switch".into(),
                name: name.clone(),
                path: path.into(),
                value,
                kept: false,
            });
        }
        report.changed.insert(idx);
    }

    // Switch ASNs after hydration, for gateway neighbours.
    let mut switch_asn: HashMap<String, u32> = HashMap::new();
    for o in others.iter().copied().chain(work.iter()) {
        if let Spec::Switch(s) = &o.spec {
            if let Some(a) = s.asn.filter(|a| *a != 0) {
                switch_asn.insert(o.name().to_string(), a);
            }
        }
    }

    // 6. Connections, by name.
    let mut conns: Vec<usize> = work
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind() == Kind::Connection)
        .map(|(i, _)| i)
        .collect();
    conns.sort_by(|a, b| work[*a].name().cmp(work[*b].name()));
    let fabric_limit = u64::from(cfg.fabric_subnet.last()) + 1;
    // (gateway, interface, gateway-side IP, neighbour)
    let mut gateway_updates: Vec<(String, String, String, GatewayBGPNeighbor, String, String)> =
        Vec::new();
    for idx in conns {
        let name = work[idx].name().to_string();
        let Spec::Connection(c) = &mut work[idx].spec else {
            continue;
        };
        let c = std::sync::Arc::make_mut(c);
        let Some((ty, names, _)) = link_ends(c) else {
            continue;
        };
        let mut allocs = Vec::new();
        for (i, [a, b]) in link_ends_mut(c).into_iter().enumerate() {
            if end_ip(a.as_ref()).is_some() {
                continue;
            }
            let even = fabric.take(2);
            if even + 1 >= fabric_limit {
                errors.push(HydrateError::new(
                    Kind::Connection,
                    &name,
                    format!("spec.{ty}.links[{i}]"),
                    format!(
                        "the fabric subnet {} is exhausted: the next link would be {}/31",
                        cfg.fabric_subnet,
                        fmt_addr(even as u32)
                    ),
                ));
                continue;
            }
            let va = format!("{}/31", fmt_addr(even as u32));
            let vb = format!("{}/31", fmt_addr(even as u32 + 1));
            a.get_or_insert_with(Default::default).ip = Some(va.clone());
            b.get_or_insert_with(Default::default).ip = Some(vb.clone());
            allocs.push((format!("spec.{ty}.links[{i}].{}.ip", names[0]), va.clone()));
            allocs.push((format!("spec.{ty}.links[{i}].{}.ip", names[1]), vb.clone()));
            if ty == "gateway" {
                let gw_port = end_port(b.as_ref()).to_string();
                let sw_port = end_port(a.as_ref()).to_string();
                let (Some((gw, gif)), Some((sw, _))) = (split_port(&gw_port), split_port(&sw_port))
                else {
                    errors.push(HydrateError::new(
                        Kind::Connection,
                        &name,
                        format!("spec.gateway.links[{i}]"),
                        "a gateway link needs <switch>/<port> and <gateway>/<interface> ports",
                    ));
                    continue;
                };
                let Some(asn) = switch_asn.get(sw).copied() else {
                    errors.push(HydrateError::new(
                        Kind::Connection,
                        &name,
                        format!("spec.gateway.links[{i}].switch.port"),
                        format!("switch {sw} not found or ASN not set"),
                    ));
                    continue;
                };
                gateway_updates.push((
                    gw.to_string(),
                    gif.to_string(),
                    vb.clone(),
                    GatewayBGPNeighbor {
                        source: Some(gif.to_string()),
                        ip: Some(fmt_addr(even as u32)),
                        asn: Some(asn),
                    },
                    name.clone(),
                    format!("spec.gateway.links[{i}].gateway.port"),
                ));
            }
        }
        if !allocs.is_empty() {
            report.changed.insert(idx);
        }
        for (path, value) in allocs {
            report.allocations.push(Allocation {
                kind: "Connection".into(),
                name: name.clone(),
                path,
                value,
                kept: false,
            });
        }
    }
    for (gw, gif, ip, neighbor, conn, path) in gateway_updates {
        let Some(&gi) = input_keys.get(&(Kind::Gateway, gw.clone())) else {
            let m = if existing_by_key.contains_key(&(Kind::Gateway, gw.as_str())) {
                format!("gateway {gw} is not in the input: its interface and neighbour for this link must be hydrated with it; give {gw} together with this connection")
            } else {
                format!("getting gateway {gw}: not found")
            };
            errors.push(HydrateError::new(Kind::Connection, &conn, path, m));
            continue;
        };
        let Spec::Gateway(g) = &mut work[gi].spec else {
            continue;
        };
        let g = std::sync::Arc::make_mut(g);
        let Some(iface) = g.interfaces.as_mut().and_then(|m| m.get_mut(&gif)) else {
            errors.push(HydrateError::new(
                Kind::Connection,
                &conn,
                path,
                format!("gateway {gw} does not have interface {gif}"),
            ));
            continue;
        };
        iface.ips = Some(vec![ip.clone()]);
        iface.mtu = Some(GATEWAY_INTERFACE_MTU);
        report.allocations.push(Allocation {
            kind: "Gateway".into(),
            name: gw.clone(),
            path: format!("spec.interfaces.{gif}.ips"),
            value: ip,
            kept: false,
        });
        report.allocations.push(Allocation {
            kind: "Gateway".into(),
            name: gw.clone(),
            path: "spec.neighbors".into(),
            value: format!(
                "{} AS {}",
                neighbor.ip.clone().unwrap_or_default(),
                neighbor.asn.unwrap_or(0)
            ),
            kept: false,
        });
        g.neighbors.get_or_insert_with(Vec::new).push(neighbor);
        report.changed.insert(gi);
    }

    // 7. Gateways, by name.
    let mut gws: Vec<usize> = work
        .iter()
        .enumerate()
        .filter(
            |(_, o)| matches!(&o.spec, Spec::Gateway(g) if gateway_slots(g).iter().all(|x| !x.1)),
        )
        .map(|(i, _)| i)
        .collect();
    gws.sort_by(|a, b| work[*a].name().cmp(work[*b].name()));
    for idx in gws {
        let name = work[idx].name().to_string();
        let Spec::Gateway(g) = &mut work[idx].spec else {
            continue;
        };
        let g = std::sync::Arc::make_mut(g);
        let mut out: Vec<(&str, String)> = Vec::new();
        g.asn = Some(cfg.gateway_asn);
        out.push(("spec.asn", cfg.gateway_asn.to_string()));
        match next_in(
            &mut proto,
            proto_limit,
            "protocol subnet",
            cfg.protocol_subnet.to_string(),
        ) {
            Ok(a) => {
                let v = format!("{}/32", fmt_addr(a));
                g.protocol_ip = Some(v.clone());
                out.push(("spec.protocolIP", v));
            }
            Err(m) => errors.push(HydrateError::new(
                Kind::Gateway,
                &name,
                "spec.protocolIP",
                m,
            )),
        }
        match next_in(
            &mut vtep,
            vtep_limit,
            "VTEP subnet",
            cfg.vtep_subnet.to_string(),
        ) {
            Ok(a) => {
                let v = format!("{}/32", fmt_addr(a));
                g.vtep_ip = Some(v.clone());
                out.push(("spec.vtepIP", v));
            }
            Err(m) => errors.push(HydrateError::new(Kind::Gateway, &name, "spec.vtepIP", m)),
        }
        let m = mac.take(1);
        if m > MAX_GATEWAYS as u64 {
            errors.push(HydrateError::new(
                Kind::Gateway,
                &name,
                "spec.vtepMAC",
                format!("the gateway VTEP MACs {GATEWAY_VTEP_MAC_PREFIX}01..fe are exhausted"),
            ));
        } else {
            let v = format!("{GATEWAY_VTEP_MAC_PREFIX}{m:02x}");
            g.vtep_mac = Some(v.clone());
            out.push(("spec.vtepMAC", v));
        }
        g.vtep_mtu = Some(GATEWAY_VTEP_MTU);
        out.push(("spec.vtepMTU", GATEWAY_VTEP_MTU.to_string()));
        for (path, value) in out {
            report.allocations.push(Allocation {
                kind: "Gateway".into(),
                name: name.clone(),
                path: path.into(),
                value,
                kept: false,
            });
        }
        report.changed.insert(idx);
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // 8. The status check of §8b.3 over the result: values checked, every input object full.
    let input_set: BTreeSet<(Kind, String)> = work
        .iter()
        .map(|o| (o.kind(), o.name().to_string()))
        .collect();
    let all: Vec<&Object> = others.iter().copied().chain(work.iter()).collect();
    let mut errors = check::check_values(&all, cfg, &report.nodes);
    errors.retain(|e| {
        e.kind.is_none() || input_set.contains(&(e.kind.unwrap_or(Kind::Switch), e.name.clone()))
    });
    for o in work.iter() {
        let st = status(std::slice::from_ref(&o));
        if st.missing > 0 {
            errors.push(HydrateError::new(
                o.kind(),
                o.name(),
                "spec",
                "wiring is not fully hydrated after hydration",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    report.already_hydrated = work
        .iter()
        .enumerate()
        .filter(|(i, o)| !report.changed.contains(i) && status(std::slice::from_ref(o)).total > 0)
        .count();
    Ok(report)
}

fn o_kind_name(s: &Spec) -> String {
    s.kind().name().to_string()
}

#[cfg(test)]
mod tests;
