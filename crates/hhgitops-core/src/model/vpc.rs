//! `vpc.githedgehog.com/v1beta1`: IPv4Namespace, VPC, VPCAttachment, VPCPeering, External, ExternalAttachment,
//! ExternalPeering.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::api_struct;

// ---------------------------------------------------------------------------------------------------- IPv4Namespace

api_struct! {
    /// `IPv4Namespace.spec`.
    pub struct IPv4NamespaceSpec {
        pub subnets: Option<Vec<String>>,
    }
}

// ---------------------------------------------------------------------------------------------------- VPC

api_struct! {
    /// `VPC.spec`.
    pub struct VPCSpec {
        /// "" (L2VNI), l3vni or l3flat (rejected).
        pub mode: Option<String>,
        pub subnets: Option<BTreeMap<String, VPCSubnet>>,
        pub ipv4_namespace: Option<String>,
        pub vlan_namespace: Option<String>,
        pub default_isolated: Option<bool>,
        pub default_restricted: Option<bool>,
        pub permit: Option<Vec<Vec<String>>>,
        pub static_routes: Option<Vec<VPCStaticRoute>>,
    }
}

api_struct! {
    pub struct VPCSubnet {
        pub subnet: Option<String>,
        pub gateway: Option<String>,
        pub dhcp: Option<VPCDHCP>,
        pub vlan: Option<u16>,
        pub isolated: Option<bool>,
        pub restricted: Option<bool>,
        #[serde(rename = "hostBGP")]
        pub host_bgp: Option<bool>,
        /// v0.129.1.
        #[serde(rename = "hostBGPMinPrefixLen")]
        pub host_bgp_min_prefix_len: Option<u8>,
        /// v0.129.1.
        #[serde(rename = "hostBGPMaxPrefixLen")]
        pub host_bgp_max_prefix_len: Option<u8>,
        /// v0.129.1.
        #[serde(rename = "hostBGPExtraPrefixes")]
        pub host_bgp_extra_prefixes: Option<BTreeMap<String, VPCSubnetHostBGPPrefix>>,
    }
}

api_struct! {
    pub struct VPCSubnetHostBGPPrefix {
        pub min_prefix_len: Option<u8>,
        pub max_prefix_len: Option<u8>,
    }
}

api_struct! {
    pub struct VPCDHCP {
        pub relay: Option<String>,
        #[serde(rename = "relayVPC")]
        pub relay_vpc: Option<String>,
        pub enable: Option<bool>,
        pub range: Option<VPCDHCPRange>,
        pub options: Option<VPCDHCPOptions>,
        pub r#static: Option<BTreeMap<String, VPCDHCPStatic>>,
    }
}

api_struct! {
    pub struct VPCDHCPStatic {
        /// Required (CRD).
        pub ip: Option<String>,
    }
}

api_struct! {
    pub struct VPCDHCPRange {
        pub start: Option<String>,
        pub end: Option<String>,
    }
}

api_struct! {
    pub struct VPCDHCPOptions {
        #[serde(rename = "pxeURL")]
        pub pxe_url: Option<String>,
        pub dns_servers: Option<Vec<String>>,
        pub time_servers: Option<Vec<String>>,
        /// Required (CRD) whenever `options` is present.
        #[serde(rename = "interfaceMTU")]
        pub interface_mtu: Option<u16>,
        /// Required (CRD) whenever `options` is present.
        pub lease_time_seconds: Option<u32>,
        pub disable_default_route: Option<bool>,
        pub advertised_routes: Option<Vec<VPCDHCPRoute>>,
    }
}

api_struct! {
    pub struct VPCDHCPRoute {
        pub destination: Option<String>,
        pub gateway: Option<String>,
    }
}

api_struct! {
    pub struct VPCStaticRoute {
        pub prefix: Option<String>,
        pub next_hops: Option<Vec<String>>,
    }
}

impl VPCSpec {
    /// The IPv4 namespace after defaulting.
    pub fn ipv4_namespace(&self) -> &str {
        non_empty_or(&self.ipv4_namespace, "default")
    }
    /// The VLAN namespace after defaulting.
    pub fn vlan_namespace(&self) -> &str {
        non_empty_or(&self.vlan_namespace, "default")
    }
    pub fn mode(&self) -> &str {
        self.mode.as_deref().unwrap_or("")
    }
    pub fn subnet(&self, name: &str) -> Option<&VPCSubnet> {
        self.subnets.as_ref().and_then(|s| s.get(name))
    }
}

impl VPCSubnet {
    pub fn is_host_bgp(&self) -> bool {
        self.host_bgp == Some(true)
    }
    pub fn dhcp_enabled(&self) -> bool {
        self.dhcp.as_ref().and_then(|d| d.enable) == Some(true)
    }
}

pub(crate) fn non_empty_or<'a>(v: &'a Option<String>, default: &'a str) -> &'a str {
    match v.as_deref() {
        Some(s) if !s.is_empty() => s,
        _ => default,
    }
}

// ---------------------------------------------------------------------------------------------------- VPCAttachment

api_struct! {
    /// `VPCAttachment.spec`.
    pub struct VPCAttachmentSpec {
        /// `<vpc>/<subnet>`; a bare `<vpc>` means `<vpc>/default`.
        pub subnet: Option<String>,
        pub connection: Option<String>,
        #[serde(rename = "nativeVLAN")]
        pub native_vlan: Option<bool>,
    }
}

impl VPCAttachmentSpec {
    /// `(vpc, subnet)` after the webhook's defaulting (`vpc` → `vpc/default`); `None` without a VPC name.
    pub fn vpc_subnet(&self) -> Option<(&str, &str)> {
        let s = self.subnet.as_deref()?;
        match s.split_once('/') {
            Some(("", _)) => None,
            Some((vpc, subnet)) => Some((vpc, subnet)),
            None if s.is_empty() => None,
            None => Some((s, "default")),
        }
    }
}

// ---------------------------------------------------------------------------------------------------- VPCPeering

api_struct! {
    /// `VPCPeering.spec`.
    pub struct VPCPeeringSpec {
        /// Rejected by the fabric when set.
        pub remote: Option<String>,
        /// Each entry maps exactly two VPC names to their peer settings. A null peer (`vpc-02:`) means `{}`.
        #[serde(deserialize_with = "permit_with_null_peers")]
        pub permit: Option<Vec<BTreeMap<String, VPCPeer>>>,
    }
}

api_struct! {
    pub struct VPCPeer {
        pub subnets: Option<Vec<String>>,
    }
}

type Permit = Vec<BTreeMap<String, VPCPeer>>;

/// Go decodes a null peer like `{}` (all subnets), and normalization must keep the key: read null as `{}`.
fn permit_with_null_peers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Permit>, D::Error> {
    let raw: Option<Vec<BTreeMap<String, Option<VPCPeer>>>> = Option::deserialize(d)?;
    Ok(raw.map(|entries| {
        entries
            .into_iter()
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect()
            })
            .collect()
    }))
}

// ---------------------------------------------------------------------------------------------------- External

api_struct! {
    /// `External.spec`: BGP (communities) or static (prefixes).
    pub struct ExternalSpec {
        pub ipv4_namespace: Option<String>,
        pub inbound_community: Option<String>,
        pub outbound_community: Option<String>,
        pub r#static: Option<ExternalStaticSpec>,
    }
}

api_struct! {
    pub struct ExternalStaticSpec {
        pub prefixes: Option<Vec<String>>,
    }
}

impl ExternalSpec {
    pub fn ipv4_namespace(&self) -> &str {
        non_empty_or(&self.ipv4_namespace, "default")
    }
    pub fn is_static(&self) -> bool {
        self.r#static.is_some()
    }
}

// ---------------------------------------------------------------------------------------------------- ExternalAttachment

api_struct! {
    /// `ExternalAttachment.spec`. The CRD requires `switch` and `neighbor` (both `{}` for static attachments).
    pub struct ExternalAttachmentSpec {
        pub external: Option<String>,
        pub connection: Option<String>,
        pub switch: Option<ExternalAttachmentSwitch>,
        pub neighbor: Option<ExternalAttachmentNeighbor>,
        pub r#static: Option<ExternalAttachmentStatic>,
        #[serde(rename = "inboundACL")]
        pub inbound_acl: Option<ACLSpec>,
    }
}

api_struct! {
    pub struct ExternalAttachmentSwitch {
        pub vlan: Option<u16>,
        pub ip: Option<String>,
    }
}

api_struct! {
    pub struct ExternalAttachmentNeighbor {
        pub asn: Option<u32>,
        pub ip: Option<String>,
    }
}

api_struct! {
    pub struct ExternalAttachmentStatic {
        /// Required (CRD).
        #[serde(rename = "remoteIP")]
        pub remote_ip: Option<String>,
        pub vlan: Option<u16>,
        pub ip: Option<String>,
        pub proxy: Option<bool>,
    }
}

impl ExternalAttachmentSpec {
    /// The VLAN that must be unique per connection (`switch.vlan`, or `static.vlan`; 0 included).
    pub fn vlan(&self) -> u16 {
        match &self.r#static {
            Some(s) => s.vlan.unwrap_or(0),
            None => self.switch.as_ref().and_then(|s| s.vlan).unwrap_or(0),
        }
    }
}

api_struct! {
    pub struct ACLSpec {
        pub statements: Option<Vec<ACLStatement>>,
    }
}

api_struct! {
    /// Required (CRD): seq, action, protocol, srcPrefix, dstPrefix.
    pub struct ACLStatement {
        pub seq: Option<u16>,
        pub action: Option<String>,
        pub protocol: Option<String>,
        pub src_prefix: Option<String>,
        pub dst_prefix: Option<String>,
        pub port_range_begin: Option<u16>,
        pub port_range_end: Option<u16>,
        #[serde(rename = "tcpFilters")]
        pub tcp_filters: Option<ACLTCPFilters>,
        pub icmp_type: Option<u8>,
        pub icmp_code: Option<u8>,
    }
}

api_struct! {
    pub struct ACLTCPFilters {
        pub established: Option<bool>,
        pub fin: Option<bool>,
        pub not_fin: Option<bool>,
        pub syn: Option<bool>,
        pub not_syn: Option<bool>,
        pub rst: Option<bool>,
        pub not_rst: Option<bool>,
        pub psh: Option<bool>,
        pub not_psh: Option<bool>,
        pub ack: Option<bool>,
        pub not_ack: Option<bool>,
        pub urg: Option<bool>,
        pub not_urg: Option<bool>,
    }
}

pub const ACL_ACTIONS: &[&str] = &["permit", "deny", "discard", "transit"];
pub const ACL_PROTOCOLS: &[&str] = &["ip", "tcp", "udp", "icmp"];

// ---------------------------------------------------------------------------------------------------- ExternalPeering

api_struct! {
    /// `ExternalPeering.spec`.
    pub struct ExternalPeeringSpec {
        pub permit: Option<ExternalPeeringPermit>,
    }
}

api_struct! {
    pub struct ExternalPeeringPermit {
        pub vpc: Option<ExternalPeeringVPC>,
        pub external: Option<ExternalPeeringExternal>,
    }
}

api_struct! {
    pub struct ExternalPeeringVPC {
        pub name: Option<String>,
        pub subnets: Option<Vec<String>>,
    }
}

api_struct! {
    pub struct ExternalPeeringExternal {
        pub name: Option<String>,
        pub prefixes: Option<Vec<ExternalPeeringPrefix>>,
    }
}

api_struct! {
    pub struct ExternalPeeringPrefix {
        pub prefix: Option<String>,
    }
}
