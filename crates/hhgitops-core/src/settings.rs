//! Fabric settings: the parts of the fabric configuration (`meta.FabricConfig`) that validation reads, with the
//! fabricator defaults of CATALOGUE §1. A fabric may override any of them (e.g. from a YAML or JSON file whose
//! keys are the camelCase field names below).
//!
//! Topology mode: the fabric's `fabricMode` is `spine-leaf` for spine-leaf *and* mesh topologies (a mesh fabric is a
//! spine-leaf-mode fabric without spines: the mesh agent fixtures carry ESLAG and gateway connections and leaf VTEP
//! IPs, all of which the fabric allows only in spine-leaf mode). So the mode is a setting, not inferred from the
//! connections; the only other mode is the legacy `collapsed-core`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::ip::Ipv4Prefix;

/// How the fabric is built; the rules that depend on it are "ESLAG and gateway connections only in spine-leaf
/// mode" and "a leaf needs a VTEP IP in spine-leaf mode".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FabricMode {
    #[default]
    SpineLeaf,
    CollapsedCore,
}

/// An inclusive VLAN range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct VlanRange {
    pub from: u16,
    pub to: u16,
}

impl VlanRange {
    pub const fn new(from: u16, to: u16) -> Self {
        VlanRange { from, to }
    }
    pub const fn contains(&self, vlan: u16) -> bool {
        self.from <= vlan && vlan <= self.to
    }
    pub const fn overlaps(&self, from: u16, to: u16) -> bool {
        self.from <= to && from <= self.to
    }
}

/// The fabric configuration validation depends on. `Default` gives the fabricator defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FabricSettings {
    pub fabric_mode: FabricMode,
    pub management_subnet: Ipv4Prefix,
    /// The control VIP (with the management prefix length, as the fabric config writes it).
    #[serde(rename = "controlVIP")]
    pub control_vip: Ipv4Prefix,
    /// First address of the management DHCP range: switch management IPs must lie below it.
    #[serde(rename = "managementDHCPStart")]
    pub management_dhcp_start: String,
    pub protocol_subnet: Ipv4Prefix,
    pub vtep_subnet: Ipv4Prefix,
    pub fabric_subnet: Ipv4Prefix,
    pub vpc_loopback_subnet: Ipv4Prefix,
    #[serde(rename = "mclagSessionSubnet")]
    pub mclag_session_subnet: Ipv4Prefix,
    pub proxy_external_subnet: Ipv4Prefix,
    /// Extra reserved subnets on top of the seven fabric subnets above.
    pub extra_reserved_subnets: Vec<Ipv4Prefix>,
    /// The fabric config's own `reservedSubnets` list. When set (read from the fabric's configuration) it is the
    /// whole list, replacing the seven derived subnets and `extraReservedSubnets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_subnets: Option<Vec<Ipv4Prefix>>,
    /// Last address of the management DHCP range.
    #[serde(rename = "managementDHCPEnd")]
    pub management_dhcp_end: String,
    /// hhfab's `control.dummySubnet` (hydration of control nodes).
    pub dummy_subnet: Ipv4Prefix,
    #[serde(rename = "spineASN")]
    pub spine_asn: u32,
    #[serde(rename = "leafASNStart")]
    pub leaf_asn_start: u32,
    #[serde(rename = "leafASNEnd")]
    pub leaf_asn_end: u32,
    #[serde(rename = "gatewayASN")]
    pub gateway_asn: u32,
    /// VLANs the fabric uses for VPC IRBs; VLAN namespaces must not overlap them.
    #[serde(rename = "vpcIRBVLANs")]
    pub vpc_irb_vlans: Vec<VlanRange>,
    /// The TH5 workaround VLANs; VLAN namespaces must not overlap them.
    #[serde(rename = "th5WorkaroundVLANs")]
    pub th5_workaround_vlans: Vec<VlanRange>,
    #[serde(rename = "fabricMTU")]
    pub fabric_mtu: u16,
    #[serde(rename = "serverFacingMTUOffset")]
    pub server_facing_mtu_offset: u16,
    /// The VLANs of the VPC peering (loopback) workaround; fabric config `vpcPeeringVLANRange`. No rule reads it;
    /// empty unless the fabric's configuration gives it.
    #[serde(rename = "vpcPeeringVLANs")]
    pub vpc_peering_vlans: Vec<VlanRange>,
    /// `vpcPeeringDisabled`: VPCPeerings are rejected when set.
    #[serde(rename = "vpcPeeringDisabled")]
    pub vpc_peering_disabled: bool,
    /// SwitchProfiles other than the built-in ones are rejected unless this is set (fabricator hard-codes false).
    pub allow_extra_switch_profiles: bool,
    /// `enableGateway` (fab.yaml `spec.config.gateway.enable`): when false every gateway kind is rejected.
    ///
    /// Default **true**, unlike the fabricator's default (false): until the fabric's configuration is known,
    /// rejecting every gateway object of a wiring that has them would be a guess against the wiring's own
    /// evidence. A configuration read from the fabric sets it; there an absent `enableGateway` means false (Go
    /// `omitempty`).
    pub enable_gateway: bool,
    /// `includeSONiCCLSPlus` (fab.yaml `spec.config.fabric.includeCLSP`): the `-clsp` built-in profiles exist.
    #[serde(rename = "includeSONiCCLSPlus")]
    pub include_sonic_cls_plus: bool,
    /// `includeCumulus`: the `cumulus-vx` built-in profile exists.
    pub include_cumulus: bool,
    /// `gatewayCommunities` (priority → `a:b`); their number is the most gateways a GatewayGroup may have.
    pub gateway_communities: BTreeMap<u32, String>,
    /// `defaultMaxPathsEBGP`.
    #[serde(rename = "defaultMaxPathsEBGP")]
    pub default_max_paths_ebgp: u32,
    /// Accepted for settings stored by older versions; unhydrated switches and gateways are always rejected now
    /// (the fabric's webhooks reject them), so this has no effect.
    #[serde(skip_serializing)]
    pub require_hydration: bool,
}

/// A reserved subnet a verdict depended on: displays as `172.30.128.0/17 (fabric setting fabricSubnet =
/// 172.30.128.0/17)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub prefix: Ipv4Prefix,
    pub setting: &'static str,
}

impl std::fmt::Display for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (fabric setting {} = {})",
            self.prefix, self.setting, self.prefix
        )
    }
}

/// `(fabric setting NAME = VALUE)`, appended to a verdict that depended on a setting.
pub fn cite(name: &str, value: impl std::fmt::Display) -> String {
    format!("(fabric setting {name} = {value})")
}

const fn p(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Prefix {
    Ipv4Prefix::new(u32::from_be_bytes([a, b, c, d]), len)
}

impl Default for FabricSettings {
    fn default() -> Self {
        FabricSettings {
            fabric_mode: FabricMode::SpineLeaf,
            management_subnet: p(172, 30, 0, 0, 21),
            control_vip: p(172, 30, 0, 1, 21),
            management_dhcp_start: "172.30.4.0".to_string(),
            protocol_subnet: p(172, 30, 8, 0, 22),
            vtep_subnet: p(172, 30, 12, 0, 22),
            fabric_subnet: p(172, 30, 128, 0, 17),
            vpc_loopback_subnet: p(172, 30, 96, 0, 19),
            mclag_session_subnet: p(172, 30, 95, 0, 31),
            proxy_external_subnet: p(172, 30, 16, 0, 22),
            extra_reserved_subnets: Vec::new(),
            reserved_subnets: None,
            management_dhcp_end: "172.30.7.254".to_string(),
            dummy_subnet: p(172, 30, 90, 0, 24),
            spine_asn: 65100,
            leaf_asn_start: 65101,
            leaf_asn_end: 65533,
            gateway_asn: 65534,
            vpc_irb_vlans: vec![VlanRange::new(3000, 3899)],
            th5_workaround_vlans: vec![VlanRange::new(3900, 3999)],
            fabric_mtu: 9100,
            server_facing_mtu_offset: 64,
            vpc_peering_vlans: Vec::new(),
            vpc_peering_disabled: false,
            allow_extra_switch_profiles: false,
            enable_gateway: true,
            include_sonic_cls_plus: false,
            include_cumulus: false,
            gateway_communities: (0..10u32).map(|i| (i, format!("50001:{i}"))).collect(),
            default_max_paths_ebgp: 64,
            require_hydration: false,
        }
    }
}

impl FabricSettings {
    /// `reservedSubnets`: management, fabric, protocol, VTEP, VPC loopback, MCLAG session, proxy-external, plus the
    /// extra ones.
    pub fn reserved_subnets(&self) -> Vec<Ipv4Prefix> {
        if let Some(list) = &self.reserved_subnets {
            return list.clone();
        }
        let mut v = vec![
            self.management_subnet,
            self.fabric_subnet,
            self.protocol_subnet,
            self.vtep_subnet,
            self.vpc_loopback_subnet,
            self.mclag_session_subnet,
            self.proxy_external_subnet,
        ];
        v.extend(self.extra_reserved_subnets.iter().copied());
        v
    }

    /// The reserved subnets with the fabric setting each one comes from.
    pub fn reserved_subnets_named(&self) -> Vec<(Ipv4Prefix, &'static str)> {
        if let Some(list) = &self.reserved_subnets {
            return list.iter().map(|p| (*p, "reservedSubnets")).collect();
        }
        let mut v = vec![
            (self.management_subnet, "managementSubnet"),
            (self.fabric_subnet, "fabricSubnet"),
            (self.protocol_subnet, "protocolSubnet"),
            (self.vtep_subnet, "vtepSubnet"),
            (self.vpc_loopback_subnet, "vpcLoopbackSubnet"),
            (self.mclag_session_subnet, "mclagSessionSubnet"),
            (self.proxy_external_subnet, "l2ProxyExternalSubnet"),
        ];
        v.extend(
            self.extra_reserved_subnets
                .iter()
                .map(|p| (*p, "extraReservedSubnets")),
        );
        v
    }

    /// The first reserved subnet that overlaps `p`; it displays as the subnet and the setting it comes from.
    pub fn reserved_overlap(&self, prefix: Ipv4Prefix) -> Option<Reserved> {
        self.reserved_subnets_named()
            .into_iter()
            .find(|(r, _)| r.overlaps(prefix))
            .map(|(prefix, setting)| Reserved { prefix, setting })
    }

    /// Largest MTU of a server-facing connection (fabric MTU minus the server-facing offset: 9036 by default).
    pub fn max_server_facing_mtu(&self) -> u16 {
        self.fabric_mtu
            .saturating_sub(self.server_facing_mtu_offset)
    }

    /// The VLAN ranges a VLAN namespace must not overlap, with what they are, for messages.
    pub fn reserved_vlans(&self) -> Vec<(VlanRange, &'static str)> {
        let mut v: Vec<(VlanRange, &'static str)> = self
            .vpc_irb_vlans
            .iter()
            .map(|r| {
                (
                    *r,
                    "the fabric's VPC IRB VLANs (fabric setting vpcIRBVLANRange)",
                )
            })
            .collect();
        v.extend(self.th5_workaround_vlans.iter().map(|r| {
            (
                *r,
                "the fabric's TH5 workaround VLANs (fabric setting th5WorkaroundVLANRange)",
            )
        }));
        v
    }

    /// Most gateways one GatewayGroup may have: the number of gateway communities (`None`: no limit).
    pub fn max_gateways_per_group(&self) -> Option<usize> {
        (!self.gateway_communities.is_empty()).then_some(self.gateway_communities.len())
    }

    /// The management DHCP start as an address (`None` if the setting is not an IPv4 address).
    pub fn management_dhcp_start_addr(&self) -> Option<u32> {
        crate::model::ip::parse_addr(&self.management_dhcp_start).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_catalogue() {
        let s = FabricSettings::default();
        assert_eq!(s.reserved_subnets().len(), 7);
        assert_eq!(s.max_server_facing_mtu(), 9036);
        assert_eq!(s.control_vip.to_string(), "172.30.0.1/21");
        let hit = s
            .reserved_overlap(Ipv4Prefix::parse("172.30.130.0/24").unwrap())
            .unwrap();
        assert_eq!(
            hit.to_string(),
            "172.30.128.0/17 (fabric setting fabricSubnet = 172.30.128.0/17)"
        );
        assert!(s
            .reserved_overlap(Ipv4Prefix::parse("10.0.0.0/16").unwrap())
            .is_none());
    }

    #[test]
    fn overrides_deserialize() {
        let s: FabricSettings = serde_json::from_value(serde_json::json!({
            "fabricMode": "collapsed-core",
            "spineASN": 64000,
            "vpcIRBVLANs": [{"from": 3500, "to": 3599}],
            "fabricSubnet": "10.255.0.0/16",
        }))
        .unwrap();
        assert_eq!(s.fabric_mode, FabricMode::CollapsedCore);
        assert_eq!(s.spine_asn, 64000);
        assert_eq!(s.leaf_asn_start, 65101);
        assert_eq!(s.fabric_subnet.to_string(), "10.255.0.0/16");
        assert!(serde_json::from_value::<FabricSettings>(
            serde_json::json!({"fabricSubnet": "nope"})
        )
        .is_err());
        assert!(
            serde_json::from_value::<FabricSettings>(serde_json::json!({"unknown": 1})).is_err()
        );
    }
}
