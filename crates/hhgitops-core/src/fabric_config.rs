//! The fabric controller's configuration as the fabric holds it: the `config.yaml` key of ConfigMap
//! `fabric-ctrl-config` in namespace `fab` (Go `meta.FabricConfig`, CATALOGUE §1), read into [`FabricSettings`].
//!
//! Invariants:
//! - only the fields below are read; every other field (`users` with its password hashes and SSH keys, repository
//!   credentials, …) is ignored and never part of [`ControllerConfig`], so it cannot be stored, logged or shown;
//! - a field that is absent, or zero/empty as Go's `omitempty` writes it, keeps the setting it had;
//! - a field that is present but malformed is an error naming the field.

use serde::{Deserialize, Serialize};

use crate::model::ip::{parse_addr, Ipv4Prefix};
use crate::settings::{FabricMode, FabricSettings, VlanRange};
use crate::yaml::{self, Limits};

/// The ConfigMap and key the fabric controller reads its configuration from.
pub const CONFIGMAP_NAMESPACE: &str = "fab";
pub const CONFIGMAP_NAME: &str = "fabric-ctrl-config";
pub const CONFIGMAP_KEY: &str = "config.yaml";

/// A malformed fabric configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fabric configuration: {0}")]
pub struct ConfigError(pub String);

/// `{from, to}` as the fabric config writes a VLAN range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigVlanRange {
    #[serde(default)]
    pub from: u16,
    #[serde(default)]
    pub to: u16,
}

/// The fields of the fabric controller's configuration that validation and hydration read. Unknown fields are
/// ignored on purpose (the real config has many more, some of them secret).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_mode: Option<String>,
    #[serde(
        default,
        rename = "controlVIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub control_vip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_subnet: Option<String>,
    #[serde(
        default,
        rename = "managementDHCPStart",
        skip_serializing_if = "Option::is_none"
    )]
    pub management_dhcp_start: Option<String>,
    #[serde(
        default,
        rename = "managementDHCPEnd",
        skip_serializing_if = "Option::is_none"
    )]
    pub management_dhcp_end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric_subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtep_subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_loopback_subnet: Option<String>,
    #[serde(
        default,
        rename = "mclagSessionSubnet",
        skip_serializing_if = "Option::is_none"
    )]
    pub mclag_session_subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_subnets: Option<Vec<String>>,
    #[serde(default, rename = "spineASN", skip_serializing_if = "Option::is_none")]
    pub spine_asn: Option<u32>,
    #[serde(
        default,
        rename = "leafASNStart",
        skip_serializing_if = "Option::is_none"
    )]
    pub leaf_asn_start: Option<u32>,
    #[serde(
        default,
        rename = "leafASNEnd",
        skip_serializing_if = "Option::is_none"
    )]
    pub leaf_asn_end: Option<u32>,
    #[serde(
        default,
        rename = "gatewayASN",
        skip_serializing_if = "Option::is_none"
    )]
    pub gateway_asn: Option<u32>,
    #[serde(
        default,
        rename = "vpcIRBVLANRange",
        skip_serializing_if = "Option::is_none"
    )]
    pub vpc_irb_vlan_range: Option<Vec<ConfigVlanRange>>,
    #[serde(
        default,
        rename = "vpcPeeringVLANRange",
        skip_serializing_if = "Option::is_none"
    )]
    pub vpc_peering_vlan_range: Option<Vec<ConfigVlanRange>>,
    #[serde(
        default,
        rename = "th5WorkaroundVLANRange",
        skip_serializing_if = "Option::is_none"
    )]
    pub th5_workaround_vlan_range: Option<Vec<ConfigVlanRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_peering_disabled: Option<bool>,
    #[serde(default, rename = "fabricMTU", skip_serializing_if = "Option::is_none")]
    pub fabric_mtu: Option<u16>,
    #[serde(
        default,
        rename = "serverFacingMTUOffset",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_facing_mtu_offset: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_gateway: Option<bool>,
    #[serde(
        default,
        rename = "includeSONiCCLSPlus",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_sonic_cls_plus: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_cumulus: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_extra_switch_profiles: Option<bool>,
    #[serde(
        default,
        rename = "defaultMaxPathsEBGP",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_max_paths_ebgp: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_communities: Option<std::collections::BTreeMap<String, String>>,
}

/// Parses the `config.yaml` text (YAML or JSON). Unknown fields are ignored.
pub fn parse_controller_config(bytes: &[u8]) -> Result<ControllerConfig, ConfigError> {
    let docs =
        yaml::parse_stream(bytes, &Limits::default()).map_err(|e| ConfigError(e.to_string()))?;
    let mut roots = docs.into_iter().filter_map(|d| d.root);
    let Some(root) = roots.next() else {
        return Ok(ControllerConfig::default());
    };
    if roots.next().is_some() {
        return Err(ConfigError(
            "expected one YAML document, found several".into(),
        ));
    }
    let json = root.to_json();
    if !json.is_object() {
        return Err(ConfigError("expected a mapping of settings".into()));
    }
    serde_json::from_value(json.clone()).map_err(|e| {
        // Name the field: the first known field that does not decode on its own.
        let field = json.as_object().and_then(|m| {
            m.iter()
                .find(|(k, v)| {
                    let one = serde_json::json!({ k.as_str(): v });
                    serde_json::from_value::<ControllerConfig>(one).is_err()
                })
                .map(|(k, _)| k.clone())
        });
        match field {
            Some(f) => ConfigError(format!("{f}: {e}")),
            None => ConfigError(e.to_string()),
        }
    })
}

fn prefix(field: &str, v: &str) -> Result<Ipv4Prefix, ConfigError> {
    Ipv4Prefix::parse(v).map_err(|e| ConfigError(format!("{field}: {e}")))
}

fn ranges(field: &str, v: &[ConfigVlanRange]) -> Result<Vec<VlanRange>, ConfigError> {
    v.iter()
        .map(|r| {
            if r.from == 0 || r.to < r.from || r.to > 4094 {
                Err(ConfigError(format!(
                    "{field}: {}-{} is not a VLAN range (1 to 4094, from <= to)",
                    r.from, r.to
                )))
            } else {
                Ok(VlanRange::new(r.from, r.to))
            }
        })
        .collect()
}

impl ControllerConfig {
    /// Applies the present fields over `s`; returns the camelCase names of the settings it set.
    pub fn apply(&self, s: &mut FabricSettings) -> Result<Vec<&'static str>, ConfigError> {
        let mut set = Vec::new();
        macro_rules! put {
            ($name:literal, $slot:expr, $val:expr) => {{
                $slot = $val;
                set.push($name);
            }};
        }
        let nz = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(str::to_string);
        if let Some(m) = nz(&self.fabric_mode) {
            let mode = match m.as_str() {
                "spine-leaf" => FabricMode::SpineLeaf,
                "collapsed-core" => FabricMode::CollapsedCore,
                other => {
                    return Err(ConfigError(format!(
                        "fabricMode: {other:?} is not spine-leaf or collapsed-core"
                    )))
                }
            };
            put!("fabricMode", s.fabric_mode, mode);
        }
        if let Some(v) = nz(&self.control_vip) {
            let p = if v.contains('/') {
                prefix("controlVIP", &v)?
            } else {
                let a = parse_addr(&v).map_err(|e| ConfigError(format!("controlVIP: {e}")))?;
                Ipv4Prefix::new(a, s.management_subnet.len)
            };
            put!("controlVIP", s.control_vip, p);
        }
        if let Some(v) = nz(&self.management_subnet) {
            put!(
                "managementSubnet",
                s.management_subnet,
                prefix("managementSubnet", &v)?
            );
        }
        for (name, val, slot) in [
            (
                "managementDHCPStart",
                &self.management_dhcp_start,
                &mut s.management_dhcp_start,
            ),
            (
                "managementDHCPEnd",
                &self.management_dhcp_end,
                &mut s.management_dhcp_end,
            ),
        ] {
            if let Some(v) = nz(val) {
                parse_addr(&v).map_err(|e| ConfigError(format!("{name}: {e}")))?;
                *slot = v;
                set.push(name);
            }
        }
        for (name, val, slot) in [
            ("fabricSubnet", &self.fabric_subnet, &mut s.fabric_subnet),
            (
                "protocolSubnet",
                &self.protocol_subnet,
                &mut s.protocol_subnet,
            ),
            ("vtepSubnet", &self.vtep_subnet, &mut s.vtep_subnet),
            (
                "vpcLoopbackSubnet",
                &self.vpc_loopback_subnet,
                &mut s.vpc_loopback_subnet,
            ),
            (
                "mclagSessionSubnet",
                &self.mclag_session_subnet,
                &mut s.mclag_session_subnet,
            ),
        ] {
            if let Some(v) = nz(val) {
                *slot = prefix(name, &v)?;
                set.push(name);
            }
        }
        if let Some(list) = self.reserved_subnets.as_ref().filter(|l| !l.is_empty()) {
            let parsed = list
                .iter()
                .map(|v| prefix("reservedSubnets", v))
                .collect::<Result<Vec<_>, _>>()?;
            put!("reservedSubnets", s.reserved_subnets, Some(parsed));
        }
        for (name, val, slot) in [
            ("spineASN", self.spine_asn, &mut s.spine_asn),
            ("leafASNStart", self.leaf_asn_start, &mut s.leaf_asn_start),
            ("leafASNEnd", self.leaf_asn_end, &mut s.leaf_asn_end),
            ("gatewayASN", self.gateway_asn, &mut s.gateway_asn),
            (
                "defaultMaxPathsEBGP",
                self.default_max_paths_ebgp,
                &mut s.default_max_paths_ebgp,
            ),
        ] {
            if let Some(v) = val.filter(|v| *v != 0) {
                *slot = v;
                set.push(name);
            }
        }
        for (name, val, slot) in [
            (
                "vpcIRBVLANRange",
                &self.vpc_irb_vlan_range,
                &mut s.vpc_irb_vlans,
            ),
            (
                "vpcPeeringVLANRange",
                &self.vpc_peering_vlan_range,
                &mut s.vpc_peering_vlans,
            ),
            (
                "th5WorkaroundVLANRange",
                &self.th5_workaround_vlan_range,
                &mut s.th5_workaround_vlans,
            ),
        ] {
            if let Some(v) = val.as_ref().filter(|v| !v.is_empty()) {
                *slot = ranges(name, v)?;
                set.push(name);
            }
        }
        for (name, val, slot) in [
            ("fabricMTU", self.fabric_mtu, &mut s.fabric_mtu),
            (
                "serverFacingMTUOffset",
                self.server_facing_mtu_offset,
                &mut s.server_facing_mtu_offset,
            ),
        ] {
            if let Some(v) = val.filter(|v| *v != 0) {
                *slot = v;
                set.push(name);
            }
        }
        // Booleans: Go omits false, so a present value is taken as written.
        for (name, val, slot) in [
            (
                "vpcPeeringDisabled",
                self.vpc_peering_disabled,
                &mut s.vpc_peering_disabled,
            ),
            ("enableGateway", self.enable_gateway, &mut s.enable_gateway),
            (
                "includeSONiCCLSPlus",
                self.include_sonic_cls_plus,
                &mut s.include_sonic_cls_plus,
            ),
            (
                "includeCumulus",
                self.include_cumulus,
                &mut s.include_cumulus,
            ),
            (
                "allowExtraSwitchProfiles",
                self.allow_extra_switch_profiles,
                &mut s.allow_extra_switch_profiles,
            ),
        ] {
            if let Some(v) = val {
                *slot = v;
                set.push(name);
            }
        }
        if let Some(c) = self.gateway_communities.as_ref().filter(|c| !c.is_empty()) {
            let mut m = std::collections::BTreeMap::new();
            for (k, v) in c {
                let k: u32 = k.parse().map_err(|_| {
                    ConfigError(format!("gatewayCommunities: key {k:?} is not a number"))
                })?;
                m.insert(k, v.clone());
            }
            put!("gatewayCommunities", s.gateway_communities, m);
        }
        Ok(set)
    }
}

/// The settings a [`ControllerConfig`] can set, in display order (for `fabric show`).
pub const SETTING_NAMES: &[&str] = &[
    "fabricMode",
    "controlVIP",
    "managementSubnet",
    "managementDHCPStart",
    "managementDHCPEnd",
    "fabricSubnet",
    "protocolSubnet",
    "vtepSubnet",
    "vpcLoopbackSubnet",
    "mclagSessionSubnet",
    "reservedSubnets",
    "spineASN",
    "leafASNStart",
    "leafASNEnd",
    "gatewayASN",
    "vpcIRBVLANRange",
    "vpcPeeringVLANRange",
    "th5WorkaroundVLANRange",
    "vpcPeeringDisabled",
    "fabricMTU",
    "serverFacingMTUOffset",
    "enableGateway",
    "includeSONiCCLSPlus",
    "includeCumulus",
    "allowExtraSwitchProfiles",
    "defaultMaxPathsEBGP",
    "gatewayCommunities",
];

/// The effective value of one setting, as JSON (for `fabric show`).
pub fn setting_value(s: &FabricSettings, name: &str) -> serde_json::Value {
    use serde_json::json;
    let vlans = |v: &[VlanRange]| {
        json!(v
            .iter()
            .map(|r| format!("{}-{}", r.from, r.to))
            .collect::<Vec<_>>())
    };
    match name {
        "fabricMode" => json!(match s.fabric_mode {
            FabricMode::SpineLeaf => "spine-leaf",
            FabricMode::CollapsedCore => "collapsed-core",
        }),
        "controlVIP" => json!(s.control_vip.to_string()),
        "managementSubnet" => json!(s.management_subnet.to_string()),
        "managementDHCPStart" => json!(s.management_dhcp_start),
        "managementDHCPEnd" => json!(s.management_dhcp_end),
        "fabricSubnet" => json!(s.fabric_subnet.to_string()),
        "protocolSubnet" => json!(s.protocol_subnet.to_string()),
        "vtepSubnet" => json!(s.vtep_subnet.to_string()),
        "vpcLoopbackSubnet" => json!(s.vpc_loopback_subnet.to_string()),
        "mclagSessionSubnet" => json!(s.mclag_session_subnet.to_string()),
        "reservedSubnets" => json!(s
            .reserved_subnets()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()),
        "spineASN" => json!(s.spine_asn),
        "leafASNStart" => json!(s.leaf_asn_start),
        "leafASNEnd" => json!(s.leaf_asn_end),
        "gatewayASN" => json!(s.gateway_asn),
        "vpcIRBVLANRange" => vlans(&s.vpc_irb_vlans),
        "vpcPeeringVLANRange" => vlans(&s.vpc_peering_vlans),
        "th5WorkaroundVLANRange" => vlans(&s.th5_workaround_vlans),
        "vpcPeeringDisabled" => json!(s.vpc_peering_disabled),
        "fabricMTU" => json!(s.fabric_mtu),
        "serverFacingMTUOffset" => json!(s.server_facing_mtu_offset),
        "enableGateway" => json!(s.enable_gateway),
        "includeSONiCCLSPlus" => json!(s.include_sonic_cls_plus),
        "includeCumulus" => json!(s.include_cumulus),
        "allowExtraSwitchProfiles" => json!(s.allow_extra_switch_profiles),
        "defaultMaxPathsEBGP" => json!(s.default_max_paths_ebgp),
        "gatewayCommunities" => json!(s
            .gateway_communities
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()),
        _ => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_fields_and_drops_the_rest() {
        let text = br#"
controlVIP: 172.30.0.1/21
fabricMode: spine-leaf
fabricSubnet: 10.99.0.0/16
spineASN: 64512
vpcIRBVLANRange: [{from: 3100, to: 3199}]
enableGateway: true
users:
- name: admin
  password: $5$secret-hash
  sshKeys: [ssh-ed25519 AAAA]
someFutureField: {x: 1}
"#;
        let c = parse_controller_config(text).unwrap();
        let stored = serde_json::to_string(&c).unwrap();
        assert!(
            !stored.contains("secret") && !stored.contains("admin") && !stored.contains("ssh"),
            "{stored}"
        );
        let mut s = FabricSettings::default();
        let set = c.apply(&mut s).unwrap();
        assert_eq!(
            set,
            [
                "fabricMode",
                "controlVIP",
                "fabricSubnet",
                "spineASN",
                "vpcIRBVLANRange",
                "enableGateway"
            ]
        );
        assert_eq!(s.fabric_subnet.to_string(), "10.99.0.0/16");
        assert_eq!(s.spine_asn, 64512);
        assert_eq!(s.vpc_irb_vlans, vec![VlanRange::new(3100, 3199)]);
        assert!(s.enable_gateway);
        assert_eq!(s.leaf_asn_start, 65101, "absent fields keep their value");
    }

    #[test]
    fn malformed_fields_are_named() {
        let e = parse_controller_config(b"fabricSubnet: 10.0.0.0/99\n")
            .unwrap()
            .apply(&mut FabricSettings::default())
            .unwrap_err();
        assert!(e.0.starts_with("fabricSubnet:"), "{e}");
        let e = parse_controller_config(b"spineASN: nope\n").unwrap_err();
        assert!(e.0.starts_with("spineASN: "), "{e}");
        let e = parse_controller_config(b"fabricMode: ring\n")
            .unwrap()
            .apply(&mut FabricSettings::default())
            .unwrap_err();
        assert!(e.0.contains("ring"));
    }
}
