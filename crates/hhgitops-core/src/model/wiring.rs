//! `wiring.githedgehog.com/v1beta1`: Switch, SwitchProfile, Server, ServerProfile, VLANNamespace, Connection
//! (SwitchGroup has an empty spec, see [`super::EmptySpec`]).

use std::collections::BTreeMap;

use super::api_struct;

// ---------------------------------------------------------------------------------------------------- Switch

api_struct! {
    /// `Switch.spec`.
    pub struct SwitchSpec {
        /// Required (CRD): spine | server-leaf | border-leaf | mixed-leaf | virtual-edge.
        pub role: Option<String>,
        pub description: Option<String>,
        pub profile: Option<String>,
        pub groups: Option<Vec<String>>,
        pub redundancy: Option<SwitchRedundancy>,
        pub vlan_namespaces: Option<Vec<String>>,
        pub asn: Option<u32>,
        pub ip: Option<String>,
        #[serde(rename = "vtepIP")]
        pub vtep_ip: Option<String>,
        #[serde(rename = "protocolIP")]
        pub protocol_ip: Option<String>,
        pub port_group_speeds: Option<BTreeMap<String, String>>,
        pub port_speeds: Option<BTreeMap<String, String>>,
        pub port_breakouts: Option<BTreeMap<String, String>>,
        pub port_auto_negs: Option<BTreeMap<String, bool>>,
        #[serde(rename = "portFECs")]
        pub port_fecs: Option<BTreeMap<String, String>>,
        /// v0.129.1.
        pub port_locators: Option<BTreeMap<String, String>>,
        pub boot: Option<SwitchBoot>,
        pub enable_all_ports: Option<bool>,
        pub roce: Option<bool>,
        pub ecmp: Option<SwitchECMP>,
        pub link_flap_err_disable: Option<SwitchLinkFlapErrDisable>,
    }
}

api_struct! {
    pub struct SwitchRedundancy {
        pub group: Option<String>,
        /// mclag | eslag.
        pub r#type: Option<String>,
    }
}

api_struct! {
    pub struct SwitchBoot {
        pub serial: Option<String>,
        pub mac: Option<String>,
    }
}

api_struct! {
    pub struct SwitchECMP {
        #[serde(rename = "roceQPN")]
        pub roce_qpn: Option<bool>,
    }
}

api_struct! {
    pub struct SwitchLinkFlapErrDisable {
        pub flap_threshold: Option<u8>,
        pub sampling_interval: Option<u32>,
        pub recovery_interval: Option<u32>,
    }
}

/// Switch roles accepted by the CRD.
pub const SWITCH_ROLES: &[&str] = &[
    "spine",
    "server-leaf",
    "border-leaf",
    "mixed-leaf",
    "virtual-edge",
];
/// Port FEC modes accepted by the CRD.
pub const PORT_FEC_MODES: &[&str] = &["rs", "fc", "auto", "disabled"];
/// Redundancy types accepted by the CRD.
pub const REDUNDANCY_TYPES: &[&str] = &["mclag", "eslag"];

impl SwitchSpec {
    pub fn role(&self) -> &str {
        self.role.as_deref().unwrap_or("")
    }
    pub fn is_spine(&self) -> bool {
        self.role() == "spine"
    }
    pub fn is_leaf(&self) -> bool {
        matches!(self.role(), "server-leaf" | "border-leaf" | "mixed-leaf")
    }
    pub fn redundancy_type(&self) -> &str {
        self.redundancy
            .as_ref()
            .and_then(|r| r.r#type.as_deref())
            .unwrap_or("")
    }
    pub fn redundancy_group(&self) -> &str {
        self.redundancy
            .as_ref()
            .and_then(|r| r.group.as_deref())
            .unwrap_or("")
    }
    /// The VLAN namespaces after the webhook's defaulting (`[default]` when empty).
    pub fn effective_vlan_namespaces(&self) -> Vec<&str> {
        match &self.vlan_namespaces {
            Some(v) if !v.is_empty() => v.iter().map(String::as_str).collect(),
            _ => vec!["default"],
        }
    }
}

// ---------------------------------------------------------------------------------------------------- SwitchProfile

api_struct! {
    /// `SwitchProfile.spec`.
    pub struct SwitchProfileSpec {
        pub display_name: Option<String>,
        pub other_names: Option<Vec<String>>,
        pub switch_silicon: Option<String>,
        pub features: Option<SwitchProfileFeatures>,
        pub notes: Option<String>,
        pub config: Option<SwitchProfileConfig>,
        pub ports: Option<BTreeMap<String, SwitchProfilePort>>,
        pub port_groups: Option<BTreeMap<String, SwitchProfilePortGroup>>,
        pub port_profiles: Option<BTreeMap<String, SwitchProfilePortProfile>>,
        pub pipelines: Option<BTreeMap<String, SwitchProfilePipeline>>,
        pub max_ports: Option<u16>,
        pub nos_type: Option<String>,
        pub platform: Option<String>,
    }
}

api_struct! {
    pub struct SwitchProfileFeatures {
        pub subinterfaces: Option<bool>,
        pub acls: Option<bool>,
        pub l2vni: Option<bool>,
        pub l3vni: Option<bool>,
        pub roce: Option<bool>,
        pub mclag: Option<bool>,
        pub eslag: Option<bool>,
        #[serde(rename = "ecmpRoCEQPN")]
        pub ecmp_roce_qpn: Option<bool>,
        /// v0.129.1 (required by Switch `portLocators`).
        pub port_locator: Option<bool>,
    }
}

api_struct! {
    pub struct SwitchProfileConfig {
        #[serde(rename = "maxPathsEBGP")]
        pub max_paths_ebgp: Option<u32>,
    }
}

api_struct! {
    pub struct SwitchProfilePort {
        #[serde(rename = "nos")]
        pub nos_name: Option<String>,
        #[serde(rename = "baseNOSName")]
        pub base_nos_name: Option<String>,
        pub label: Option<String>,
        pub group: Option<String>,
        pub profile: Option<String>,
        pub management: Option<bool>,
        pub onie_port_name: Option<String>,
        pub pipeline: Option<String>,
    }
}

api_struct! {
    pub struct SwitchProfilePortGroup {
        #[serde(rename = "nos")]
        pub nos_name: Option<String>,
        pub profile: Option<String>,
    }
}

api_struct! {
    pub struct SwitchProfilePortProfile {
        pub speed: Option<SwitchProfilePortProfileSpeed>,
        pub breakout: Option<SwitchProfilePortProfileBreakout>,
        pub auto_neg_allowed: Option<bool>,
        pub auto_neg_default: Option<bool>,
    }
}

api_struct! {
    pub struct SwitchProfilePortProfileSpeed {
        pub default: Option<String>,
        pub supported: Option<Vec<String>>,
    }
}

api_struct! {
    pub struct SwitchProfilePortProfileBreakout {
        pub default: Option<String>,
        pub supported: Option<BTreeMap<String, SwitchProfilePortProfileBreakoutMode>>,
    }
}

api_struct! {
    pub struct SwitchProfilePortProfileBreakoutMode {
        pub offsets: Option<Vec<String>>,
    }
}

api_struct! {
    pub struct SwitchProfilePipeline {
        pub max_ports: Option<u16>,
    }
}

/// NOS types the fabric knows (`meta.NOSTypes`).
pub const NOS_TYPES: &[&str] = &[
    "sonic-bcm-base",
    "sonic-bcm-campus",
    "sonic-bcm-vs",
    "sonic-cls-plus-broadcom",
    "sonic-cls-plus-marvell",
    "sonic-cls-plus-vs",
    "cumulus-vx",
    "cumulus-mlx",
];

/// Names of the built-in SwitchProfiles (CATALOGUE §3). Only the names are embedded, not their port maps:
/// checks that need the ports of a built-in profile that is not in the state are counted as unchecked.
pub const BUILTIN_SWITCH_PROFILES: &[&str] = &[
    "celestica-ds2000",
    "celestica-ds2000-clsp",
    "celestica-ds3000",
    "celestica-ds3000-clsp",
    "celestica-ds4000",
    "celestica-ds4000-clsp",
    "celestica-ds4101",
    "celestica-ds4101-clsp",
    "celestica-ds5000",
    "celestica-ds5000-clsp",
    "dell-s5232f-on",
    "dell-s5248f-on",
    "dell-z9332f-on",
    "edgecore-dcs203",
    "edgecore-dcs204",
    "edgecore-dcs240",
    "edgecore-dcs501",
    "edgecore-eps202",
    "edgecore-eps203",
    "supermicro-sse-c4632sb",
    "vs",
    "vs-clsp",
    "cumulus-vx",
];

// ---------------------------------------------------------------------------------------------------- Server(Profile)

api_struct! {
    /// `Server.spec`.
    pub struct ServerSpec {
        pub description: Option<String>,
        pub profile: Option<String>,
    }
}

api_struct! {
    /// `ServerProfile.spec` (documented as unused by the fabric).
    pub struct ServerProfileSpec {
        pub nics: Option<Vec<ServerProfileNIC>>,
    }
}

api_struct! {
    pub struct ServerProfileNIC {
        pub name: Option<String>,
        pub ports: Option<Vec<ServerProfileNICPort>>,
    }
}

api_struct! {
    pub struct ServerProfileNICPort {
        pub name: Option<String>,
    }
}

// ---------------------------------------------------------------------------------------------------- VLANNamespace

api_struct! {
    /// `VLANNamespace.spec`.
    pub struct VLANNamespaceSpec {
        pub ranges: Option<Vec<VLANRange>>,
    }
}

api_struct! {
    /// A VLAN range; `to: 0` (or absent) means `to = from`.
    pub struct VLANRange {
        pub from: Option<u16>,
        pub to: Option<u16>,
    }
}

impl VLANRange {
    /// `(from, to)` with `to: 0` read as `from`.
    pub fn bounds(&self) -> (u16, u16) {
        let from = self.from.unwrap_or(0);
        let to = match self.to {
            None | Some(0) => from,
            Some(t) => t,
        };
        (from, to)
    }
}

// ---------------------------------------------------------------------------------------------------- Connection

api_struct! {
    /// `Connection.spec`: exactly one member is set.
    pub struct ConnectionSpec {
        pub unbundled: Option<ConnUnbundled>,
        pub bundled: Option<ConnBundled>,
        pub mclag: Option<ConnBundled>,
        pub eslag: Option<ConnBundled>,
        pub mclag_domain: Option<ConnMCLAGDomain>,
        pub fabric: Option<ConnFabric>,
        pub mesh: Option<ConnMesh>,
        pub gateway: Option<ConnGateway>,
        pub vpc_loopback: Option<ConnVPCLoopback>,
        pub external: Option<ConnExternal>,
        pub static_external: Option<ConnStaticExternal>,
    }
}

api_struct! {
    /// `{port: "<device>/<port>"}`.
    pub struct BasePortName {
        pub port: Option<String>,
    }
}

api_struct! {
    pub struct ServerToSwitchLink {
        pub server: Option<BasePortName>,
        pub switch: Option<BasePortName>,
    }
}

api_struct! {
    pub struct ConnUnbundled {
        pub link: Option<ServerToSwitchLink>,
        pub mtu: Option<u16>,
    }
}

api_struct! {
    /// The shape of `bundled`, `mclag` and `eslag`.
    pub struct ConnBundled {
        pub links: Option<Vec<ServerToSwitchLink>>,
        pub mtu: Option<u16>,
        pub fallback: Option<bool>,
    }
}

api_struct! {
    pub struct SwitchToSwitchLink {
        pub switch1: Option<BasePortName>,
        pub switch2: Option<BasePortName>,
    }
}

api_struct! {
    pub struct ConnMCLAGDomain {
        pub peer_links: Option<Vec<SwitchToSwitchLink>>,
        pub session_links: Option<Vec<SwitchToSwitchLink>>,
    }
}

api_struct! {
    /// One end of a fabric, mesh or gateway link.
    pub struct ConnFabricLinkSwitch {
        pub port: Option<String>,
        pub ip: Option<String>,
    }
}

api_struct! {
    pub struct FabricLink {
        pub spine: Option<ConnFabricLinkSwitch>,
        pub leaf: Option<ConnFabricLinkSwitch>,
    }
}

api_struct! {
    pub struct ConnFabric {
        pub links: Option<Vec<FabricLink>>,
    }
}

api_struct! {
    pub struct MeshLink {
        pub leaf1: Option<ConnFabricLinkSwitch>,
        pub leaf2: Option<ConnFabricLinkSwitch>,
    }
}

api_struct! {
    pub struct ConnMesh {
        pub links: Option<Vec<MeshLink>>,
    }
}

api_struct! {
    pub struct GatewayLink {
        pub switch: Option<ConnFabricLinkSwitch>,
        pub gateway: Option<ConnFabricLinkSwitch>,
    }
}

api_struct! {
    pub struct ConnGateway {
        pub links: Option<Vec<GatewayLink>>,
    }
}

api_struct! {
    pub struct ConnVPCLoopback {
        pub links: Option<Vec<SwitchToSwitchLink>>,
    }
}

api_struct! {
    pub struct ConnExternalLink {
        pub switch: Option<BasePortName>,
    }
}

api_struct! {
    pub struct ConnExternal {
        pub link: Option<ConnExternalLink>,
    }
}

api_struct! {
    pub struct ConnStaticExternalLinkSwitch {
        pub port: Option<String>,
        pub ip: Option<String>,
        pub next_hop: Option<String>,
        pub subnets: Option<Vec<String>>,
        pub vlan: Option<u16>,
    }
}

api_struct! {
    pub struct ConnStaticExternalLink {
        pub switch: Option<ConnStaticExternalLinkSwitch>,
    }
}

api_struct! {
    pub struct ConnStaticExternal {
        pub link: Option<ConnStaticExternalLink>,
        #[serde(rename = "withinVPC")]
        pub within_vpc: Option<String>,
    }
}

/// Connection types (the value of the `fabric.githedgehog.com/connection-type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionType {
    Unbundled,
    Bundled,
    MCLAG,
    ESLAG,
    MCLAGDomain,
    Fabric,
    Mesh,
    Gateway,
    VPCLoopback,
    External,
    StaticExternal,
}

impl ConnectionType {
    pub const fn name(self) -> &'static str {
        match self {
            ConnectionType::Unbundled => "unbundled",
            ConnectionType::Bundled => "bundled",
            ConnectionType::MCLAG => "mclag",
            ConnectionType::ESLAG => "eslag",
            ConnectionType::MCLAGDomain => "mclag-domain",
            ConnectionType::Fabric => "fabric",
            ConnectionType::Mesh => "mesh",
            ConnectionType::Gateway => "gateway",
            ConnectionType::VPCLoopback => "vpc-loopback",
            ConnectionType::External => "external",
            ConnectionType::StaticExternal => "static-external",
        }
    }
    /// The member of `spec` that holds this type.
    pub const fn field(self) -> &'static str {
        match self {
            ConnectionType::Unbundled => "unbundled",
            ConnectionType::Bundled => "bundled",
            ConnectionType::MCLAG => "mclag",
            ConnectionType::ESLAG => "eslag",
            ConnectionType::MCLAGDomain => "mclagDomain",
            ConnectionType::Fabric => "fabric",
            ConnectionType::Mesh => "mesh",
            ConnectionType::Gateway => "gateway",
            ConnectionType::VPCLoopback => "vpcLoopback",
            ConnectionType::External => "external",
            ConnectionType::StaticExternal => "staticExternal",
        }
    }
}

/// Where a port reference sits in a connection, and what is at its other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRole {
    Switch,
    Server,
    /// The gateway end of a gateway link: the gateway device is not looked up (as in the fabric).
    Gateway,
}

/// Where a port field sits in a connection, kept as static parts so that a path is built only for an error:
/// `spec.<member>[.<list>[<index>]][.link].<end>.port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortAt {
    pub member: &'static str,
    pub list: Option<(&'static str, usize)>,
    pub link: bool,
    pub end: &'static str,
}

impl PortAt {
    /// The field path of the `port` value.
    pub fn path(&self) -> crate::path::FieldPath {
        let mut p = crate::field_path!("spec", self.member);
        if let Some((list, i)) = self.list {
            p.push_key(list);
            p.push_index(i);
        }
        if self.link {
            p.push_key("link");
        }
        p.push_key(self.end);
        p.push_key("port");
        p
    }
}

/// One port field a connection of its type must have; `port` is `None` when it is absent.
#[derive(Debug, Clone, Copy)]
pub struct PortSlot<'a> {
    pub port: Option<&'a str>,
    pub role: PortRole,
    pub at: PortAt,
}

/// One `port` value of a connection.
#[derive(Debug, Clone, Copy)]
pub struct PortRef<'a> {
    pub port: &'a str,
    pub role: PortRole,
    pub at: PortAt,
}

impl PortRef<'_> {
    pub fn path(&self) -> crate::path::FieldPath {
        self.at.path()
    }
}

impl ConnectionSpec {
    /// The types whose member is set, in API order.
    pub fn types(&self) -> Vec<ConnectionType> {
        self.type_flags()
            .into_iter()
            .filter_map(|(set, t)| set.then_some(t))
            .collect()
    }

    fn type_flags(&self) -> [(bool, ConnectionType); 11] {
        [
            (self.unbundled.is_some(), ConnectionType::Unbundled),
            (self.bundled.is_some(), ConnectionType::Bundled),
            (self.mclag.is_some(), ConnectionType::MCLAG),
            (self.eslag.is_some(), ConnectionType::ESLAG),
            (self.mclag_domain.is_some(), ConnectionType::MCLAGDomain),
            (self.fabric.is_some(), ConnectionType::Fabric),
            (self.mesh.is_some(), ConnectionType::Mesh),
            (self.gateway.is_some(), ConnectionType::Gateway),
            (self.vpc_loopback.is_some(), ConnectionType::VPCLoopback),
            (self.external.is_some(), ConnectionType::External),
            (
                self.static_external.is_some(),
                ConnectionType::StaticExternal,
            ),
        ]
    }

    /// The single type when exactly one member is set.
    pub fn connection_type(&self) -> Option<ConnectionType> {
        let mut found = None;
        for (set, t) in self.type_flags() {
            if set {
                if found.is_some() {
                    return None;
                }
                found = Some(t);
            }
        }
        found
    }

    /// Every port field the connection's members have or must have, in document order.
    pub fn port_slots(&self) -> Vec<PortSlot<'_>> {
        fn bp(b: &Option<BasePortName>) -> Option<&str> {
            b.as_ref().and_then(|b| b.port.as_deref())
        }
        fn fp(b: &Option<ConnFabricLinkSwitch>) -> Option<&str> {
            b.as_ref().and_then(|b| b.port.as_deref())
        }
        let at = |member, list, link, end| PortAt {
            member,
            list,
            link,
            end,
        };
        let mut v: Vec<PortSlot<'_>> = Vec::new();
        if let Some(c) = &self.unbundled {
            let l = c.link.as_ref();
            v.push(PortSlot {
                port: l.and_then(|l| bp(&l.server)),
                role: PortRole::Server,
                at: at("unbundled", None, true, "server"),
            });
            v.push(PortSlot {
                port: l.and_then(|l| bp(&l.switch)),
                role: PortRole::Switch,
                at: at("unbundled", None, true, "switch"),
            });
        }
        for (member, c) in [
            ("bundled", &self.bundled),
            ("mclag", &self.mclag),
            ("eslag", &self.eslag),
        ] {
            for (i, l) in c.iter().flat_map(|c| c.links.iter().flatten()).enumerate() {
                v.push(PortSlot {
                    port: bp(&l.server),
                    role: PortRole::Server,
                    at: at(member, Some(("links", i)), false, "server"),
                });
                v.push(PortSlot {
                    port: bp(&l.switch),
                    role: PortRole::Switch,
                    at: at(member, Some(("links", i)), false, "switch"),
                });
            }
        }
        if let Some(c) = &self.mclag_domain {
            for (list, links) in [
                ("peerLinks", &c.peer_links),
                ("sessionLinks", &c.session_links),
            ] {
                for (i, l) in links.iter().flatten().enumerate() {
                    v.push(PortSlot {
                        port: bp(&l.switch1),
                        role: PortRole::Switch,
                        at: at("mclagDomain", Some((list, i)), false, "switch1"),
                    });
                    v.push(PortSlot {
                        port: bp(&l.switch2),
                        role: PortRole::Switch,
                        at: at("mclagDomain", Some((list, i)), false, "switch2"),
                    });
                }
            }
        }
        for (i, l) in self
            .fabric
            .iter()
            .flat_map(|c| c.links.iter().flatten())
            .enumerate()
        {
            v.push(PortSlot {
                port: fp(&l.spine),
                role: PortRole::Switch,
                at: at("fabric", Some(("links", i)), false, "spine"),
            });
            v.push(PortSlot {
                port: fp(&l.leaf),
                role: PortRole::Switch,
                at: at("fabric", Some(("links", i)), false, "leaf"),
            });
        }
        for (i, l) in self
            .mesh
            .iter()
            .flat_map(|c| c.links.iter().flatten())
            .enumerate()
        {
            v.push(PortSlot {
                port: fp(&l.leaf1),
                role: PortRole::Switch,
                at: at("mesh", Some(("links", i)), false, "leaf1"),
            });
            v.push(PortSlot {
                port: fp(&l.leaf2),
                role: PortRole::Switch,
                at: at("mesh", Some(("links", i)), false, "leaf2"),
            });
        }
        for (i, l) in self
            .gateway
            .iter()
            .flat_map(|c| c.links.iter().flatten())
            .enumerate()
        {
            v.push(PortSlot {
                port: fp(&l.switch),
                role: PortRole::Switch,
                at: at("gateway", Some(("links", i)), false, "switch"),
            });
            v.push(PortSlot {
                port: fp(&l.gateway),
                role: PortRole::Gateway,
                at: at("gateway", Some(("links", i)), false, "gateway"),
            });
        }
        for (i, l) in self
            .vpc_loopback
            .iter()
            .flat_map(|c| c.links.iter().flatten())
            .enumerate()
        {
            v.push(PortSlot {
                port: bp(&l.switch1),
                role: PortRole::Switch,
                at: at("vpcLoopback", Some(("links", i)), false, "switch1"),
            });
            v.push(PortSlot {
                port: bp(&l.switch2),
                role: PortRole::Switch,
                at: at("vpcLoopback", Some(("links", i)), false, "switch2"),
            });
        }
        if let Some(c) = &self.external {
            let p = c.link.as_ref().and_then(|l| bp(&l.switch));
            v.push(PortSlot {
                port: p,
                role: PortRole::Switch,
                at: at("external", None, true, "switch"),
            });
        }
        if let Some(c) = &self.static_external {
            let p = c
                .link
                .as_ref()
                .and_then(|l| l.switch.as_ref())
                .and_then(|s| s.port.as_deref());
            v.push(PortSlot {
                port: p,
                role: PortRole::Switch,
                at: at("staticExternal", None, true, "switch"),
            });
        }
        v
    }

    /// Every port value that is present, in document order.
    pub fn ports(&self) -> Vec<PortRef<'_>> {
        self.port_slots()
            .into_iter()
            .filter_map(|s| {
                s.port.map(|port| PortRef {
                    port,
                    role: s.role,
                    at: s.at,
                })
            })
            .collect()
    }
}

/// The key under which a port is unique across connections: `X/E1/4` is an alias of `X/E1/4/1` (when E1/4 is
/// broken out), so a trailing `/1` after two slashes is dropped; no allocation.
pub fn port_key(port: &str) -> &str {
    match port.strip_suffix("/1") {
        Some(base) if port.bytes().filter(|b| *b == b'/').count() == 3 => base,
        _ => port,
    }
}

/// Splits `<device>/<port>` at the first slash; `None` unless both parts are non-empty.
pub fn split_port(port: &str) -> Option<(&str, &str)> {
    let (dev, local) = port.split_once('/')?;
    if dev.is_empty() || local.is_empty() {
        None
    } else {
        Some((dev, local))
    }
}
