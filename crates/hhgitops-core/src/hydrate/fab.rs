//! hhfab's `fab.yaml` as hydration reads it (CATALOGUE §8b.1): exactly one Fabricator (its zero-valued settings
//! filled from the base configuration), exactly one ControlNode, any number of FabNodes, each sorted by name.

use serde_json::Value;

use super::{addr_of, HydrateConfig, NodeSpec};
use crate::model::ip::Ipv4Prefix;
use crate::yaml::{self, Limits};

/// What is wrong with a `fab.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fab.yaml: {0}")]
pub struct FabYamlError(pub String);

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    match get(v, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn number(v: &Value, path: &[&str]) -> Result<Option<u32>, FabYamlError> {
    match get(v, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(0) => Ok(None),
            Some(n) => Ok(Some(n)),
            None => Err(FabYamlError(format!(
                "{} must be a positive number",
                path.join(".")
            ))),
        },
        Some(_) => Err(FabYamlError(format!("{} must be a number", path.join(".")))),
    }
}

fn prefix(v: &Value, path: &[&str]) -> Result<Option<Ipv4Prefix>, FabYamlError> {
    match text(v, path) {
        None => Ok(None),
        Some(s) => Ipv4Prefix::parse(&s)
            .map(Some)
            .map_err(|e| FabYamlError(format!("{}: {e}", path.join(".")))),
    }
}

fn addr(v: &Value, path: &[&str]) -> Result<Option<u32>, FabYamlError> {
    match text(v, path) {
        None => Ok(None),
        Some(s) => addr_of(&s).map(Some).ok_or_else(|| {
            FabYamlError(format!("{}: {s:?} is not an IPv4 address", path.join(".")))
        }),
    }
}

/// Reads `fab.yaml` over `base` (the fabric's settings): its Fabricator's non-zero settings replace the base's,
/// and its ControlNode and FabNodes replace the default control node.
pub fn parse_fab_yaml(bytes: &[u8], base: &HydrateConfig) -> Result<HydrateConfig, FabYamlError> {
    let docs =
        yaml::parse_stream(bytes, &Limits::default()).map_err(|e| FabYamlError(e.to_string()))?;
    let mut cfg = base.clone();
    let mut fabricators = 0;
    let mut controls = Vec::new();
    let mut fabs = Vec::new();
    for d in docs {
        let Some(root) = d.root else { continue };
        let v = root.to_json();
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = get(&v, &["metadata", "name"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match kind {
            "Fabricator" => {
                fabricators += 1;
                let c = get(&v, &["spec", "config"]).cloned().unwrap_or(Value::Null);
                if let Some(p) = prefix(&c, &["control", "managementSubnet"])? {
                    cfg.management_subnet = p;
                }
                if let Some(a) = addr(&c, &["control", "controlVIP"])? {
                    cfg.control_vip = a;
                }
                if let Some(p) = prefix(&c, &["control", "dummySubnet"])? {
                    cfg.dummy_subnet = p;
                }
                if let Some(a) = addr(&c, &["fabric", "managementDHCPStart"])? {
                    cfg.management_dhcp_start = a;
                }
                if let Some(a) = addr(&c, &["fabric", "managementDHCPEnd"])? {
                    cfg.management_dhcp_end = Some(a);
                }
                for (key, slot) in [
                    ("protocolSubnet", &mut cfg.protocol_subnet),
                    ("vtepSubnet", &mut cfg.vtep_subnet),
                    ("fabricSubnet", &mut cfg.fabric_subnet),
                ] {
                    if let Some(p) = prefix(&c, &["fabric", key])? {
                        *slot = p;
                    }
                }
                for (path, slot) in [
                    (&["fabric", "spineASN"][..], &mut cfg.spine_asn),
                    (&["fabric", "leafASNStart"][..], &mut cfg.leaf_asn_start),
                    (&["fabric", "leafASNEnd"][..], &mut cfg.leaf_asn_end),
                    (&["gateway", "asn"][..], &mut cfg.gateway_asn),
                ] {
                    if let Some(n) = number(&c, path)? {
                        *slot = n;
                    }
                }
                // Fabricator.Default(): a legacy leafASNEnd of 65534 becomes 65533 when the gateway takes 65534.
                if cfg.leaf_asn_end == 65534 && cfg.gateway_asn == 65534 {
                    cfg.leaf_asn_end = 65533;
                }
            }
            "ControlNode" | "FabNode" => {
                if name.is_empty() {
                    return Err(FabYamlError(format!("a {kind} without metadata.name")));
                }
                let node = NodeSpec {
                    name,
                    kind: kind.to_string(),
                    management_ip: addr(&v, &["spec", "management", "ip"])?,
                };
                if kind == "ControlNode" {
                    controls.push(node);
                } else {
                    fabs.push(node);
                }
            }
            _ => {}
        }
    }
    if fabricators != 1 {
        return Err(FabYamlError(format!(
            "exactly one Fabricator expected, found {fabricators}"
        )));
    }
    if controls.len() != 1 {
        return Err(FabYamlError(format!(
            "only one control node is currently allowed (found {})",
            controls.len()
        )));
    }
    fabs.sort_by(|a, b| a.name.cmp(&b.name));
    cfg.control_nodes = controls;
    cfg.fab_nodes = fabs;
    Ok(cfg)
}
