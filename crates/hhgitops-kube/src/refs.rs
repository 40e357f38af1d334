//! Which objects an object depends on, per kind: what must exist before it is applied, and what may not be
//! deleted before it is. Only references to kinds applied earlier count (the gateway end of a connection and a
//! static external's `withinVPC` point forward and are not followed, as the fabric does not look them up first).

use hhgitops_core::kinds::Kind;
use hhgitops_core::model::wiring::{split_port, PortRole};
use hhgitops_core::model::{spec_from_json, Object, ObjectMeta, Spec};
use serde_json::Value;

/// The objects `object` refers to, without duplicates, in a stable order.
pub fn references(object: &Object) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = Vec::new();
    let mut add = |kind: Kind, name: &str| {
        if !name.is_empty() && !out.iter().any(|(k, n)| *k == kind && n == name) {
            out.push((kind, name.to_string()));
        }
    };
    match &object.spec {
        Spec::Switch(s) => {
            if let Some(p) = s.profile.as_deref() {
                add(Kind::SwitchProfile, p);
            }
            for g in s.groups.iter().flatten() {
                add(Kind::SwitchGroup, g);
            }
            add(Kind::SwitchGroup, s.redundancy_group());
            for ns in s.effective_vlan_namespaces() {
                add(Kind::VLANNamespace, ns);
            }
        }
        Spec::Connection(c) => {
            for p in c.ports() {
                let Some((device, _)) = split_port(p.port) else {
                    continue;
                };
                match p.role {
                    PortRole::Switch => add(Kind::Switch, device),
                    PortRole::Server => add(Kind::Server, device),
                    PortRole::Gateway => {}
                }
            }
        }
        Spec::VPC(v) => {
            add(Kind::IPv4Namespace, v.ipv4_namespace());
            add(Kind::VLANNamespace, v.vlan_namespace());
        }
        Spec::External(e) => add(Kind::IPv4Namespace, e.ipv4_namespace()),
        Spec::VPCAttachment(a) => {
            if let Some((vpc, _)) = a.vpc_subnet() {
                add(Kind::VPC, vpc);
            }
            if let Some(c) = a.connection.as_deref() {
                add(Kind::Connection, c);
            }
        }
        Spec::VPCPeering(p) => {
            for entry in p.permit.iter().flatten() {
                for vpc in entry.keys() {
                    add(Kind::VPC, vpc);
                }
            }
        }
        Spec::ExternalAttachment(a) => {
            if let Some(e) = a.external.as_deref() {
                add(Kind::External, e);
            }
            if let Some(c) = a.connection.as_deref() {
                add(Kind::Connection, c);
            }
        }
        Spec::ExternalPeering(p) => {
            if let Some(permit) = &p.permit {
                if let Some(v) = permit.vpc.as_ref().and_then(|v| v.name.as_deref()) {
                    add(Kind::VPC, v);
                }
                if let Some(e) = permit.external.as_ref().and_then(|e| e.name.as_deref()) {
                    add(Kind::External, e);
                }
            }
        }
        Spec::Gateway(g) => {
            for (_, group) in g.effective_groups() {
                add(Kind::GatewayGroup, group);
            }
        }
        Spec::GatewayPeering(p) => {
            if let Some(g) = p.gateway_group.as_deref() {
                add(Kind::GatewayGroup, g);
            }
            for key in p.peering.iter().flat_map(|m| m.keys()) {
                match key.strip_prefix("ext.") {
                    Some(ext) => add(Kind::External, ext),
                    None => add(Kind::VPC, key),
                }
            }
        }
        Spec::SwitchProfile(_)
        | Spec::ServerProfile(_)
        | Spec::VLANNamespace(_)
        | Spec::IPv4Namespace(_)
        | Spec::SwitchGroup(_)
        | Spec::Server(_)
        | Spec::GatewayGroup(_) => {}
    }
    out
}

/// The references of a cluster object (lenient: a spec this build cannot decode has none).
pub fn live_references(kind: Kind, live: &Value) -> Vec<(Kind, String)> {
    let spec = live
        .get("spec")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    match spec_from_json(kind, spec) {
        Ok(spec) => references(&Object {
            metadata: ObjectMeta::default(),
            spec,
            spec_present: true,
        }),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refs(kind: Kind, spec: Value) -> Vec<(Kind, String)> {
        references(&Object::from_json(kind, "x", spec).unwrap())
    }

    fn r(kind: Kind, name: &str) -> (Kind, String) {
        (kind, name.to_string())
    }

    #[test]
    fn references_per_kind() {
        assert_eq!(
            refs(
                Kind::VPCAttachment,
                json!({"subnet": "vpc-1/default", "connection": "server-01--unbundled--leaf-01"})
            ),
            vec![
                r(Kind::VPC, "vpc-1"),
                r(Kind::Connection, "server-01--unbundled--leaf-01")
            ]
        );
        assert_eq!(
            refs(Kind::VPCAttachment, json!({"subnet": "vpc-2"})),
            vec![r(Kind::VPC, "vpc-2")]
        );
        assert_eq!(
            refs(
                Kind::Connection,
                json!({"unbundled": {"link": {"server": {"port": "server-01/enp2s1"}, "switch": {"port": "leaf-01/E1/1"}}}})
            ),
            vec![r(Kind::Server, "server-01"), r(Kind::Switch, "leaf-01")]
        );
        assert_eq!(
            refs(
                Kind::Connection,
                json!({"fabric": {"links": [{"spine": {"port": "spine-01/E1/1"}, "leaf": {"port": "leaf-01/E1/5"}},
                                             {"spine": {"port": "spine-01/E1/2"}, "leaf": {"port": "leaf-01/E1/6"}}]}})
            ),
            vec![r(Kind::Switch, "spine-01"), r(Kind::Switch, "leaf-01")]
        );
        assert_eq!(
            refs(
                Kind::Switch,
                json!({"role": "server-leaf", "profile": "vs", "groups": ["eslag-1"],
                       "redundancy": {"group": "eslag-1", "type": "eslag"}})
            ),
            vec![
                r(Kind::SwitchProfile, "vs"),
                r(Kind::SwitchGroup, "eslag-1"),
                r(Kind::VLANNamespace, "default")
            ]
        );
        assert_eq!(
            refs(Kind::VPC, json!({"ipv4Namespace": "ns1"})),
            vec![
                r(Kind::IPv4Namespace, "ns1"),
                r(Kind::VLANNamespace, "default")
            ]
        );
        assert_eq!(
            refs(Kind::External, json!({})),
            vec![r(Kind::IPv4Namespace, "default")]
        );
        assert_eq!(
            refs(
                Kind::ExternalAttachment,
                json!({"external": "ext-1", "connection": "c1"})
            ),
            vec![r(Kind::External, "ext-1"), r(Kind::Connection, "c1")]
        );
        assert_eq!(
            refs(
                Kind::ExternalPeering,
                json!({"permit": {"vpc": {"name": "vpc-1"}, "external": {"name": "ext-1"}}})
            ),
            vec![r(Kind::VPC, "vpc-1"), r(Kind::External, "ext-1")]
        );
        assert_eq!(
            refs(
                Kind::VPCPeering,
                json!({"permit": [{"vpc-1": {}, "vpc-2": {}}]})
            ),
            vec![r(Kind::VPC, "vpc-1"), r(Kind::VPC, "vpc-2")]
        );
        assert_eq!(
            refs(Kind::Gateway, json!({})),
            vec![r(Kind::GatewayGroup, "default")]
        );
        assert_eq!(
            refs(
                Kind::GatewayPeering,
                json!({"peering": {"vpc-1": {}, "ext.ext-1": {}}})
            ),
            vec![r(Kind::External, "ext-1"), r(Kind::VPC, "vpc-1")]
        );
        assert!(refs(Kind::SwitchGroup, json!({})).is_empty());
    }

    #[test]
    fn references_point_to_earlier_ranks() {
        let samples = [
            (
                Kind::VPCAttachment,
                json!({"subnet": "v/s", "connection": "c"}),
            ),
            (
                Kind::Connection,
                json!({"unbundled": {"link": {"server": {"port": "s/p"}, "switch": {"port": "w/E1/1"}}}}),
            ),
            (Kind::Switch, json!({"profile": "vs", "groups": ["g"]})),
            (Kind::VPC, json!({})),
            (Kind::External, json!({})),
            (
                Kind::ExternalAttachment,
                json!({"external": "e", "connection": "c"}),
            ),
            (
                Kind::ExternalPeering,
                json!({"permit": {"vpc": {"name": "v"}, "external": {"name": "e"}}}),
            ),
            (Kind::VPCPeering, json!({"permit": [{"a": {}, "b": {}}]})),
            (Kind::Gateway, json!({})),
            (
                Kind::GatewayPeering,
                json!({"gatewayGroup": "g", "peering": {"v": {}, "ext.e": {}}}),
            ),
        ];
        for (kind, spec) in samples {
            for (k, _) in refs(kind, spec) {
                assert!(
                    k.apply_rank() < kind.apply_rank(),
                    "{kind} refers to {k}, which is not applied before it"
                );
            }
        }
    }

    #[test]
    fn live_references_tolerate_unknown_specs() {
        assert!(live_references(Kind::VPC, &json!({"spec": {"unknownField": 1}})).is_empty());
        assert_eq!(
            live_references(Kind::External, &json!({"spec": {"ipv4Namespace": "n"}})),
            vec![(Kind::IPv4Namespace, "n".to_string())]
        );
    }
}
