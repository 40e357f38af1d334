//! Defaulting as the fabric does it: [`default_object`] is the fabric's `Default()` of each kind (CATALOGUE §6b,
//! §4b.2, §4b.4) plus the re-encoding by the mutating webhook that matters for validation (§1a, §6b.1). It is what
//! the fabric stores: validation judges it, drift compares it with the cluster, `validate --show-defaulted`
//! prints it. Managed files keep what the author wrote.
//!
//! Pure and total: an object that cannot be defaulted in part (an unparsable subnet, a VPCAttachment without a
//! VPC name) is left as the fabric leaves it. Deliberately not modelled:
//! - `portLocators` (v0.129.1) are turned into absolute times relative to "now" by the webhook; core has no
//!   clock, so they are left as written;
//! - the v0.129.1-only annotations (`fabric.githedgehog.com/switches`, `gateway.githedgehog.com/vpcs` …): the
//!   baseline fabric writes none.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::gateway::{GatewayLogs, GatewayPeeringSpec, GatewaySpec};
use crate::model::ip::{canonical_mac, fmt_addr, Ipv4Prefix};
use crate::model::vpc::*;
use crate::model::wiring::*;
use crate::model::{Object, ObjectMeta, Spec};

/// Labels whose key contains this are the fabric's own (`CleanupFabricLabels` deletes them before rewriting).
pub const FABRIC_LABEL_PART: &str = "fabric.githedgehog.com/";
/// The SwitchProfile annotation summarising its ports.
pub const PORTS_ANNOTATION: &str = "fabric.githedgehog.com/ports";
/// Default DHCP interface MTU and lease time of a VPC subnet.
pub const DHCP_DEFAULT_MTU: u16 = 9036;
pub const DHCP_DEFAULT_LEASE: u32 = 3600;
/// The default NAT idle timeout, as the fabric encodes it.
pub const NAT_DEFAULT_IDLE_TIMEOUT: &str = "2m0s";

/// The object as the fabric stores it after its mutating webhook.
pub fn default_object(object: &Object) -> Object {
    let mut o = object.clone();
    let meta = &mut o.metadata;
    if meta.namespace.as_deref().unwrap_or("").is_empty() {
        meta.namespace = Some("default".to_string());
    }
    match &mut o.spec {
        Spec::SwitchProfile(s) => {
            let summary = ports_summary(s);
            meta.annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(PORTS_ANNOTATION.to_string(), summary);
        }
        Spec::SwitchGroup(_) | Spec::ServerProfile(_) | Spec::GatewayGroup(_) => {}
        Spec::Server(_) => cleanup_labels(meta),
        Spec::Switch(s) => switch(meta, Arc::make_mut(s)),
        Spec::VLANNamespace(s) => {
            cleanup_labels(meta);
            vlan_namespace(Arc::make_mut(s));
        }
        Spec::Connection(s) => connection(meta, s),
        Spec::IPv4Namespace(s) => {
            cleanup_labels(meta);
            if let Some(v) = &mut Arc::make_mut(s).subnets {
                v.sort();
            }
        }
        Spec::VPC(s) => vpc(meta, Arc::make_mut(s)),
        Spec::VPCAttachment(s) => vpc_attachment(meta, Arc::make_mut(s)),
        Spec::VPCPeering(s) => vpc_peering(meta, Arc::make_mut(s)),
        Spec::External(s) => {
            let s = Arc::make_mut(s);
            if s.ipv4_namespace.as_deref().unwrap_or("").is_empty() {
                s.ipv4_namespace = Some("default".to_string());
            }
            cleanup_labels(meta);
            let ns = s.ipv4_namespace.clone().unwrap_or_default();
            label(meta, "fabric.githedgehog.com/ipv4ns", &ns);
        }
        Spec::ExternalAttachment(s) => {
            let s = Arc::make_mut(s);
            cleanup_labels(meta);
            label(
                meta,
                "fabric.githedgehog.com/connection",
                s.connection.as_deref().unwrap_or(""),
            );
            label(
                meta,
                "fabric.githedgehog.com/external",
                s.external.as_deref().unwrap_or(""),
            );
            // Go always encodes these two structs; the schema then sees `{}`.
            s.switch.get_or_insert_with(Default::default);
            s.neighbor.get_or_insert_with(Default::default);
            o.spec_present = true;
        }
        Spec::ExternalPeering(s) => {
            let s = Arc::make_mut(s);
            cleanup_labels(meta);
            let permit = s.permit.as_ref();
            let vpc = permit
                .and_then(|p| p.vpc.as_ref())
                .and_then(|v| v.name.clone())
                .unwrap_or_default();
            let ext = permit
                .and_then(|p| p.external.as_ref())
                .and_then(|v| v.name.clone())
                .unwrap_or_default();
            label(meta, "fabric.githedgehog.com/vpc", &vpc);
            label(meta, "fabric.githedgehog.com/external", &ext);
            let Some(permit) = s.permit.as_mut() else {
                return o;
            };
            if let Some(v) = permit.vpc.as_mut().and_then(|v| v.subnets.as_mut()) {
                v.sort();
            }
            if let Some(v) = permit.external.as_mut().and_then(|v| v.prefixes.as_mut()) {
                v.sort_by(|a, b| a.prefix.cmp(&b.prefix));
            }
        }
        Spec::Gateway(s) => gateway(Arc::make_mut(s)),
        Spec::GatewayPeering(s) => gateway_peering(meta, Arc::make_mut(s)),
    }
    o
}

/// What the fabric stores for every object of a parsed file, as one YAML stream in document order (the normalized
/// form of each defaulted object; what `hhgitops validate --show-defaulted` prints).
pub fn defaulted_stream(report: &crate::validate::SourceReport) -> String {
    report
        .objects
        .iter()
        .map(|o| crate::normalize::normalize(&default_object(&o.object)))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn cleanup_labels(meta: &mut ObjectMeta) {
    if let Some(l) = &mut meta.labels {
        l.retain(|k, _| !k.contains(FABRIC_LABEL_PART));
    }
}

fn label(meta: &mut ObjectMeta, key: &str, value: &str) {
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

fn switch(meta: &mut ObjectMeta, s: &mut SwitchSpec) {
    cleanup_labels(meta);
    for map in [&mut s.port_group_speeds, &mut s.port_speeds]
        .into_iter()
        .flatten()
    {
        for v in map.values_mut() {
            if let Some(rest) = v.strip_prefix("SPEED_") {
                *v = rest.to_string();
            }
        }
    }
    if s.vlan_namespaces.as_ref().is_none_or(Vec::is_empty) {
        s.vlan_namespaces = Some(vec!["default".to_string()]);
    }
    if let Some(g) = s.redundancy.as_ref().and_then(|r| r.group.clone()) {
        if !g.is_empty() {
            let groups = s.groups.get_or_insert_with(Vec::new);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    if let Some(lf) = &mut s.link_flap_err_disable {
        lf.flap_threshold.get_or_insert(3);
        lf.sampling_interval.get_or_insert(30);
        lf.recovery_interval.get_or_insert(300);
    }
    for g in s.groups.iter().flatten() {
        label(
            meta,
            &format!("switchgroup.fabric.githedgehog.com/{g}"),
            "true",
        );
    }
    for ns in s.vlan_namespaces.iter().flatten() {
        label(meta, &format!("vlanns.fabric.githedgehog.com/{ns}"), "true");
    }
    if let Some(g) = &mut s.groups {
        g.sort();
    }
    if let Some(v) = &mut s.vlan_namespaces {
        v.sort();
    }
    label(
        meta,
        "fabric.githedgehog.com/profile",
        s.profile.as_deref().unwrap_or(""),
    );
}

/// `<count>x<profile>` per port profile (group ports under their group's profile, `-nb` dropped, management ports
/// skipped), largest count first, joined by `, `; equal counts by name (Go leaves them in map order).
pub fn ports_summary(s: &SwitchProfileSpec) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for port in s.ports.iter().flat_map(|m| m.values()) {
        if port.management == Some(true) {
            continue;
        }
        let profile = match (&port.profile, &port.group) {
            (Some(p), _) if !p.is_empty() => Some(p.clone()),
            (_, Some(g)) => s
                .port_groups
                .as_ref()
                .and_then(|m| m.get(g))
                .and_then(|g| g.profile.clone()),
            _ => None,
        };
        let Some(profile) = profile else { continue };
        let profile = profile
            .strip_suffix("-nb")
            .map(str::to_string)
            .unwrap_or(profile);
        *counts.entry(profile).or_insert(0) += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.iter()
        .map(|(p, n)| format!("{n}x{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn vlan_namespace(s: &mut VLANNamespaceSpec) {
    let Some(ranges) = &mut s.ranges else { return };
    for r in ranges.iter_mut() {
        if r.to.unwrap_or(0) == 0 {
            r.to = r.from;
        }
    }
    let invalid = ranges.iter().any(|r| {
        let (from, to) = (r.from.unwrap_or(0), r.to.unwrap_or(0));
        from == 0 || from > to || to > 4094
    });
    if invalid {
        // The normaliser's error check is inverted: the ranges are dropped instead of rejected.
        s.ranges = None;
        return;
    }
    if ranges.len() >= 2 {
        ranges.sort_by_key(|r| (r.from.unwrap_or(0), r.to.unwrap_or(0)));
    }
}

fn connection(meta: &mut ObjectMeta, s: &ConnectionSpec) {
    cleanup_labels(meta);
    let types = s.types();
    if matches!(
        types.as_slice(),
        [ConnectionType::MCLAG] | [ConnectionType::MCLAGDomain]
    ) {
        return;
    }
    // With no or several types the fabric writes `<invalid>`, which the API server rejects as a label value; the
    // connection-type rule reports that case, so no label is written here.
    if let [t] = types.as_slice() {
        label(meta, "fabric.githedgehog.com/connection-type", t.name());
    }
    if let Some(v) = s
        .static_external
        .as_ref()
        .and_then(|x| x.within_vpc.as_deref())
    {
        if !v.is_empty() {
            label(meta, "fabric.githedgehog.com/vpc", v);
        }
    }
    if types.len() != 1 {
        return;
    }
    let mut labels: Vec<String> = Vec::new();
    for p in s.ports() {
        let Some((device, _)) = split_port(p.port) else {
            // Endpoints do not resolve: no device labels at all.
            return;
        };
        match p.role {
            PortRole::Switch => labels.push(format!("switch.fabric.githedgehog.com/{device}")),
            PortRole::Server => labels.push(format!("server.fabric.githedgehog.com/{device}")),
            PortRole::Gateway => {}
        }
    }
    for l in labels {
        label(meta, &l, "true");
    }
}

fn vpc(meta: &mut ObjectMeta, s: &mut VPCSpec) {
    for f in [&mut s.ipv4_namespace, &mut s.vlan_namespace] {
        if f.as_deref().unwrap_or("").is_empty() {
            *f = Some("default".to_string());
        }
    }
    cleanup_labels(meta);
    let ipns = s.ipv4_namespace.clone().unwrap_or_default();
    let vlanns = s.vlan_namespace.clone().unwrap_or_default();
    label(meta, "fabric.githedgehog.com/ipv4ns", &ipns);
    label(meta, "fabric.githedgehog.com/vlanns", &vlanns);
    for sub in s.subnets.iter_mut().flat_map(|m| m.values_mut()) {
        vpc_subnet(sub);
    }
}

fn vpc_subnet(sub: &mut VPCSubnet) {
    let Some(p) = sub
        .subnet
        .as_deref()
        .and_then(|x| Ipv4Prefix::parse(x).ok())
    else {
        return;
    };
    if sub.gateway.as_deref().unwrap_or("").is_empty() && sub.host_bgp != Some(true) {
        sub.gateway = Some(fmt_addr(p.network().wrapping_add(1)));
    }
    if p.len > 30 {
        return;
    }
    let dhcp = sub.dhcp.get_or_insert_with(Default::default);
    if dhcp.enable != Some(true) {
        dhcp.range = None;
        dhcp.options = None;
        if *dhcp == VPCDHCP::default() {
            // Go encodes `dhcp: {}`; an absent dhcp stays absent in what we show.
            sub.dhcp = None;
        }
        return;
    }
    let range = dhcp.range.get_or_insert_with(Default::default);
    if range.start.as_deref().unwrap_or("").is_empty() {
        range.start = Some(fmt_addr(p.network().wrapping_add(2)));
    }
    if range.end.as_deref().unwrap_or("").is_empty() {
        range.end = Some(fmt_addr(p.last()));
    }
    if let Some(opts) = &mut dhcp.options {
        let empty = opts.pxe_url.as_deref().unwrap_or("").is_empty()
            && opts.dns_servers.is_none()
            && opts.time_servers.is_none()
            && opts.interface_mtu.unwrap_or(0) == 0
            && opts.lease_time_seconds.unwrap_or(0) == 0
            && opts.disable_default_route.is_none()
            && opts.advertised_routes.is_none();
        if empty {
            dhcp.options = None;
            return;
        }
        if opts.interface_mtu.unwrap_or(0) == 0 {
            opts.interface_mtu = Some(DHCP_DEFAULT_MTU);
        }
        opts.dns_servers.get_or_insert_with(Vec::new).sort();
        opts.time_servers.get_or_insert_with(Vec::new).sort();
        if opts.lease_time_seconds.unwrap_or(0) == 0 {
            opts.lease_time_seconds = Some(DHCP_DEFAULT_LEASE);
        }
        opts.advertised_routes
            .get_or_insert_with(Vec::new)
            .sort_by(|a, b| (&a.destination, &a.gateway).cmp(&(&b.destination, &b.gateway)));
    }
    if let Some(st) = dhcp.r#static.take() {
        dhcp.r#static = Some(
            st.into_iter()
                .map(|(k, v)| (canonical_mac(&k).unwrap_or(k), v))
                .collect(),
        );
    }
}

fn vpc_attachment(meta: &mut ObjectMeta, s: &mut VPCAttachmentSpec) {
    let subnet = s.subnet.clone().unwrap_or_default();
    let (vpc, sub) = match subnet.split_once('/') {
        Some((v, x)) => (v.to_string(), x.to_string()),
        None => (subnet.clone(), String::new()),
    };
    if vpc.is_empty() {
        return;
    }
    if !subnet.contains('/') {
        s.subnet = Some(format!("{vpc}/default"));
    }
    cleanup_labels(meta);
    let sub = if sub.is_empty() {
        "default".into()
    } else {
        sub
    };
    label(meta, "fabric.githedgehog.com/vpc", &vpc);
    label(meta, "fabric.githedgehog.com/subnet", &sub);
    label(
        meta,
        "fabric.githedgehog.com/connection",
        s.connection.as_deref().unwrap_or(""),
    );
    if s.native_vlan == Some(true) {
        label(meta, "fabric.githedgehog.com/nativevlan", "true");
    }
}

fn vpc_peering(meta: &mut ObjectMeta, s: &mut VPCPeeringSpec) {
    cleanup_labels(meta);
    let mut vpcs: Vec<&str> = s
        .permit
        .iter()
        .flatten()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    vpcs.sort_unstable();
    vpcs.dedup();
    if let [a, b] = vpcs[..] {
        let (a, b) = (a.to_string(), b.to_string());
        label(meta, &format!("vpc.fabric.githedgehog.com/{a}"), "true");
        label(meta, &format!("vpc.fabric.githedgehog.com/{b}"), "true");
        label(meta, "fabric.githedgehog.com/vpc1", &a);
        label(meta, "fabric.githedgehog.com/vpc2", &b);
    }
}

fn gateway(s: &mut GatewaySpec) {
    let logs = s.logs.get_or_insert_with(GatewayLogs::default);
    if logs.default.as_deref().unwrap_or("").is_empty() {
        logs.default = Some("info".to_string());
    }
    if logs.tags.as_ref().is_none_or(BTreeMap::is_empty) {
        logs.tags = Some(BTreeMap::from([("all".to_string(), "info".to_string())]));
    }
    if let Some(rl) = &mut logs.rate_limit {
        if rl.burst.unwrap_or(0) == 0 {
            rl.burst = Some(50);
        }
        if rl.replenish_per_second.unwrap_or(0) == 0 {
            rl.replenish_per_second = Some(5);
        }
    }
    if s.workers.unwrap_or(0) == 0 {
        s.workers = Some(4);
    }
    let groups = s.groups.get_or_insert_with(Vec::new);
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    if groups.is_empty() {
        groups.push(crate::model::gateway::GatewayGroupMembership {
            name: Some("default".to_string()),
            priority: Some(0),
        });
    }
}

fn gateway_peering(meta: &mut ObjectMeta, s: &mut GatewayPeeringSpec) {
    let keys: Vec<String> = s.peering.iter().flat_map(|m| m.keys().cloned()).collect();
    if keys.len() != 2 {
        return;
    }
    for k in &keys {
        label(meta, &format!("vpc.gateway.githedgehog.com/{k}"), "true");
    }
    for entry in s.peering.iter_mut().flat_map(|m| m.values_mut()) {
        for e in entry.expose.iter_mut().flatten() {
            let Some(nat) = &mut e.nat else { continue };
            if let Some(m) = &mut nat.masquerade {
                if is_zero_duration(m.idle_timeout.as_deref()) {
                    m.idle_timeout = Some(NAT_DEFAULT_IDLE_TIMEOUT.to_string());
                }
            }
            if let Some(p) = &mut nat.port_forward {
                if is_zero_duration(p.idle_timeout.as_deref()) {
                    p.idle_timeout = Some(NAT_DEFAULT_IDLE_TIMEOUT.to_string());
                }
            }
        }
    }
    if s.gateway_group.as_deref().unwrap_or("").is_empty() {
        s.gateway_group = Some("default".to_string());
    }
    if let Some(acl) = &mut s.acl {
        if acl.default.as_deref().unwrap_or("").is_empty() {
            acl.default = Some("deny-unless-exposed".to_string());
        }
        for r in acl.rules.iter_mut().flatten() {
            if r.scope.as_deref().unwrap_or("").is_empty() {
                r.scope = Some("flow".to_string());
            }
        }
    }
}

/// Whether a Go duration string is absent or zero (`0`, `0s`, `0m0s` …); an unparsable one is not zero (decoding
/// rejects it).
fn is_zero_duration(d: Option<&str>) -> bool {
    match d {
        None | Some("") => true,
        Some(d) => {
            crate::validate::is_go_duration(d) && !d.bytes().any(|b| (b'1'..=b'9').contains(&b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Kind;
    use serde_json::json;

    fn obj(kind: Kind, spec: serde_json::Value) -> Object {
        Object::from_json(kind, "x", spec).unwrap()
    }

    #[test]
    fn switch_defaults_like_the_webhook() {
        let o = default_object(&obj(
            Kind::Switch,
            json!({"role": "server-leaf", "profile": "vs", "groups": ["b", "a"],
                   "redundancy": {"group": "mclag-1", "type": "mclag"},
                   "portSpeeds": {"E1/1": "SPEED_25G", "E1/2": "SPEED_25GB"},
                   "linkFlapErrDisable": {"flapThreshold": 5}}),
        ));
        let Spec::Switch(s) = &o.spec else { panic!() };
        assert_eq!(s.groups.as_deref().unwrap(), ["a", "b", "mclag-1"]);
        assert_eq!(s.vlan_namespaces.as_deref().unwrap(), ["default"]);
        let ps = s.port_speeds.as_ref().unwrap();
        assert_eq!(ps["E1/1"], "25G");
        assert_eq!(ps["E1/2"], "25GB");
        let lf = s.link_flap_err_disable.as_ref().unwrap();
        assert_eq!(
            (
                lf.flap_threshold,
                lf.sampling_interval,
                lf.recovery_interval
            ),
            (Some(5), Some(30), Some(300))
        );
        let l = o.metadata.labels.as_ref().unwrap();
        assert_eq!(l["fabric.githedgehog.com/profile"], "vs");
        assert_eq!(l["switchgroup.fabric.githedgehog.com/mclag-1"], "true");
        assert_eq!(l["vlanns.fabric.githedgehog.com/default"], "true");
        assert_eq!(o.metadata.namespace.as_deref(), Some("default"));
        // Idempotent, as the webhook is on its own output.
        assert_eq!(default_object(&o), o);
    }

    #[test]
    fn vlan_namespace_ranges_are_sorted_or_dropped() {
        let o = default_object(&obj(
            Kind::VLANNamespace,
            json!({"ranges": [{"from": 2000, "to": 2100}, {"from": 1000}]}),
        ));
        let Spec::VLANNamespace(s) = &o.spec else {
            panic!()
        };
        let r = s.ranges.as_ref().unwrap();
        assert_eq!((r[0].from, r[0].to), (Some(1000), Some(1000)));
        let o = default_object(&obj(
            Kind::VLANNamespace,
            json!({"ranges": [{"from": 2000, "to": 1000}]}),
        ));
        let Spec::VLANNamespace(s) = &o.spec else {
            panic!()
        };
        assert!(s.ranges.is_none());
    }

    #[test]
    fn vpc_subnets_get_gateway_dhcp_range_and_options() {
        let o = default_object(&obj(
            Kind::VPC,
            json!({"subnets": {
                "a": {"subnet": "10.0.1.0/24", "dhcp": {"enable": true, "options": {"dnsServers": ["9.9.9.9", "1.1.1.1"]},
                      "static": {"AA-BB-CC-DD-EE-FF": {"ip": "10.0.1.9"}}}},
                "b": {"subnet": "10.0.2.0/24", "dhcp": {"range": {"start": "10.0.2.10"}}},
                "c": {"subnet": "nope"}}}),
        ));
        let Spec::VPC(s) = &o.spec else { panic!() };
        let a = &s.subnets.as_ref().unwrap()["a"];
        assert_eq!(a.gateway.as_deref(), Some("10.0.1.1"));
        let d = a.dhcp.as_ref().unwrap();
        let r = d.range.as_ref().unwrap();
        assert_eq!(
            (r.start.as_deref(), r.end.as_deref()),
            (Some("10.0.1.2"), Some("10.0.1.255"))
        );
        let opts = d.options.as_ref().unwrap();
        assert_eq!(opts.interface_mtu, Some(9036));
        assert_eq!(opts.lease_time_seconds, Some(3600));
        assert_eq!(opts.dns_servers.as_deref().unwrap(), ["1.1.1.1", "9.9.9.9"]);
        assert!(d
            .r#static
            .as_ref()
            .unwrap()
            .contains_key("aa:bb:cc:dd:ee:ff"));
        let b = &s.subnets.as_ref().unwrap()["b"];
        assert!(b.dhcp.as_ref().is_none_or(|d| d.range.is_none()));
        assert!(s.subnets.as_ref().unwrap()["c"].gateway.is_none());
        assert_eq!(s.vlan_namespace.as_deref(), Some("default"));
        assert_eq!(
            o.metadata.labels.as_ref().unwrap()["fabric.githedgehog.com/ipv4ns"],
            "default"
        );
    }

    #[test]
    fn gateway_peering_defaults_only_with_two_keys() {
        let o = default_object(&obj(
            Kind::GatewayPeering,
            json!({"peering": {"vpc-1": {"expose": [{"ips": [{"cidr": "10.0.1.0/24"}], "as": [{"cidr": "192.0.2.0/24"}], "nat": {"masquerade": {}}}]},
                               "vpc-2": {"expose": [{"default": true}]}},
                   "acl": {}}),
        ));
        let Spec::GatewayPeering(s) = &o.spec else {
            panic!()
        };
        assert_eq!(s.gateway_group.as_deref(), Some("default"));
        assert_eq!(
            s.acl.as_ref().unwrap().default.as_deref(),
            Some("deny-unless-exposed")
        );
        let e = &s.peering.as_ref().unwrap()["vpc-1"]
            .expose
            .as_ref()
            .unwrap()[0];
        let m = e.nat.as_ref().unwrap().masquerade.as_ref().unwrap();
        assert_eq!(m.idle_timeout.as_deref(), Some("2m0s"));
        assert_eq!(
            o.metadata.labels.as_ref().unwrap()["vpc.gateway.githedgehog.com/vpc-2"],
            "true"
        );
        let one = default_object(&obj(
            Kind::GatewayPeering,
            json!({"peering": {"vpc-1": {}}, "acl": {}}),
        ));
        let Spec::GatewayPeering(s) = &one.spec else {
            panic!()
        };
        assert!(s.gateway_group.is_none());
        assert!(s.acl.as_ref().unwrap().default.is_none());
    }

    #[test]
    fn gateway_defaults() {
        let o = default_object(&obj(
            Kind::Gateway,
            json!({"groups": [{"name": "b"}, {"name": "a"}], "logs": {"rateLimit": {}}}),
        ));
        let Spec::Gateway(s) = &o.spec else { panic!() };
        assert_eq!(s.workers, Some(4));
        let g: Vec<_> = s
            .groups
            .iter()
            .flatten()
            .map(|g| g.name.as_deref().unwrap())
            .collect();
        assert_eq!(g, ["a", "b"]);
        let logs = s.logs.as_ref().unwrap();
        assert_eq!(logs.default.as_deref(), Some("info"));
        assert_eq!(logs.tags.as_ref().unwrap()["all"], "info");
        assert_eq!(logs.rate_limit.as_ref().unwrap().burst, Some(50));
        let o = default_object(&obj(Kind::Gateway, json!({})));
        let Spec::Gateway(s) = &o.spec else { panic!() };
        assert_eq!(
            s.groups.as_ref().unwrap()[0].name.as_deref(),
            Some("default")
        );
    }

    #[test]
    fn connection_labels() {
        let o = default_object(&obj(
            Kind::Connection,
            json!({"unbundled": {"link": {"server": {"port": "server-1/enp2s1"}, "switch": {"port": "leaf-1/E1/1"}}}}),
        ));
        let l = o.metadata.labels.as_ref().unwrap();
        assert_eq!(l["fabric.githedgehog.com/connection-type"], "unbundled");
        assert_eq!(l["switch.fabric.githedgehog.com/leaf-1"], "true");
        assert_eq!(l["server.fabric.githedgehog.com/server-1"], "true");
    }

    #[test]
    fn switch_profile_port_summary_matches_the_built_in_annotation() {
        for p in crate::profiles::all() {
            let want = p.object.metadata.annotations.as_ref().unwrap()[PORTS_ANNOTATION].clone();
            let Spec::SwitchProfile(s) = &p.object.spec else {
                panic!()
            };
            assert_eq!(ports_summary(s), want, "{}", p.name);
        }
    }

    #[test]
    fn external_and_peering() {
        let o = default_object(&obj(
            Kind::ExternalPeering,
            json!({"permit": {"vpc": {"name": "v", "subnets": ["b", "a"]}, "external": {"name": "e"}}}),
        ));
        let Spec::ExternalPeering(s) = &o.spec else {
            panic!()
        };
        let p = s.permit.as_ref().unwrap();
        assert_eq!(
            p.vpc.as_ref().unwrap().subnets.as_deref().unwrap(),
            ["a", "b"]
        );
        assert!(p.external.as_ref().unwrap().prefixes.is_none());
        let o = default_object(&obj(
            Kind::ExternalAttachment,
            json!({"external": "e", "connection": "c", "static": {"remoteIP": "10.0.0.1", "ip": "10.0.0.2/31", "vlan": 10}}),
        ));
        let Spec::ExternalAttachment(s) = &o.spec else {
            panic!()
        };
        assert!(s.switch.is_some() && s.neighbor.is_some());
    }
}
