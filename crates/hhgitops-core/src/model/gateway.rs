//! `gateway.githedgehog.com/v1alpha1`: Gateway, GatewayGroup (empty spec), GatewayPeering. Only the CRD schema is
//! validated for these kinds (plus their references), not the gateway webhooks' hydration requirements.

use std::collections::BTreeMap;

use super::api_struct;

api_struct! {
    /// `Gateway.spec`.
    pub struct GatewaySpec {
        #[serde(rename = "protocolIP")]
        pub protocol_ip: Option<String>,
        #[serde(rename = "vtepIP")]
        pub vtep_ip: Option<String>,
        #[serde(rename = "vtepMAC")]
        pub vtep_mac: Option<String>,
        pub asn: Option<u32>,
        #[serde(rename = "vtepMTU")]
        pub vtep_mtu: Option<u32>,
        pub interfaces: Option<BTreeMap<String, GatewayInterface>>,
        pub neighbors: Option<Vec<GatewayBGPNeighbor>>,
        pub logs: Option<GatewayLogs>,
        pub profiling: Option<GatewayProfiling>,
        pub workers: Option<u8>,
        pub flow_table_capacity: Option<u32>,
        pub groups: Option<Vec<GatewayGroupMembership>>,
    }
}

api_struct! {
    pub struct GatewayInterface {
        pub pci: Option<String>,
        pub kernel: Option<String>,
        pub ips: Option<Vec<String>>,
        pub mtu: Option<u32>,
    }
}

api_struct! {
    pub struct GatewayBGPNeighbor {
        pub source: Option<String>,
        pub ip: Option<String>,
        pub asn: Option<u32>,
    }
}

api_struct! {
    pub struct GatewayLogs {
        pub default: Option<String>,
        pub tags: Option<BTreeMap<String, String>>,
        pub rate_limit: Option<GatewayLogRateLimit>,
    }
}

api_struct! {
    pub struct GatewayLogRateLimit {
        pub burst: Option<i32>,
        pub replenish_per_second: Option<i32>,
    }
}

api_struct! {
    pub struct GatewayProfiling {
        pub enabled: Option<bool>,
    }
}

api_struct! {
    pub struct GatewayGroupMembership {
        pub name: Option<String>,
        pub priority: Option<u32>,
    }
}

impl GatewaySpec {
    /// Group names after defaulting (`[default]` when none are listed).
    pub fn effective_groups(&self) -> Vec<(usize, &str)> {
        match &self.groups {
            Some(g) if !g.is_empty() => g
                .iter()
                .enumerate()
                .filter_map(|(i, m)| m.name.as_deref().map(|n| (i, n)))
                .collect(),
            _ => vec![(usize::MAX, "default")],
        }
    }
}

api_struct! {
    /// `GatewayPeering.spec`.
    pub struct GatewayPeeringSpec {
        pub gateway_group: Option<String>,
        /// Keyed by VPC name (`ext.<name>` for an External).
        pub peering: Option<BTreeMap<String, PeeringEntry>>,
        pub acl: Option<PeeringACL>,
    }
}

api_struct! {
    pub struct PeeringEntry {
        pub expose: Option<Vec<PeeringEntryExpose>>,
    }
}

api_struct! {
    pub struct PeeringEntryExpose {
        pub ips: Option<Vec<PeeringEntryIP>>,
        pub r#as: Option<Vec<PeeringEntryAs>>,
        pub default: Option<bool>,
        pub nat: Option<PeeringNAT>,
    }
}

api_struct! {
    pub struct PeeringEntryIP {
        pub cidr: Option<String>,
        pub not: Option<String>,
        pub vpc_subnet: Option<String>,
    }
}

api_struct! {
    pub struct PeeringEntryAs {
        pub cidr: Option<String>,
        pub not: Option<String>,
    }
}

api_struct! {
    pub struct PeeringNAT {
        pub masquerade: Option<PeeringNATMasquerade>,
        pub port_forward: Option<PeeringNATPortForward>,
        pub r#static: Option<super::EmptySpec>,
    }
}

api_struct! {
    pub struct PeeringNATMasquerade {
        pub idle_timeout: Option<String>,
    }
}

api_struct! {
    pub struct PeeringNATPortForward {
        pub idle_timeout: Option<String>,
        pub ports: Option<Vec<PeeringNATPortForwardEntry>>,
    }
}

api_struct! {
    pub struct PeeringNATPortForwardEntry {
        /// tcp | udp | "".
        pub proto: Option<String>,
        pub port: Option<String>,
        pub r#as: Option<String>,
    }
}

api_struct! {
    /// Required (CRD): `default`.
    pub struct PeeringACL {
        pub default: Option<String>,
        pub rules: Option<Vec<PeeringACLRule>>,
    }
}

api_struct! {
    /// Required (CRD): `action`.
    pub struct PeeringACLRule {
        pub name: Option<String>,
        pub action: Option<String>,
        pub from: Option<String>,
        pub to: Option<String>,
        pub scope: Option<String>,
        pub log: Option<bool>,
        pub r#match: Option<PeeringACLMatch>,
    }
}

api_struct! {
    pub struct PeeringACLMatch {
        pub proto: Option<String>,
        pub src: Option<Vec<PeeringACLMatchEntry>>,
        pub dst: Option<Vec<PeeringACLMatchEntry>>,
    }
}

api_struct! {
    pub struct PeeringACLMatchEntry {
        pub cidr: Option<String>,
        pub vpc_subnet: Option<String>,
        pub ports: Option<Vec<String>>,
    }
}

pub const ACL_DEFAULTS: &[&str] = &["deny", "deny-unless-exposed", ""];
pub const ACL_ACTIONS: &[&str] = &["deny", "allow"];
pub const ACL_SCOPES: &[&str] = &["flow", "packet", ""];
pub const PORT_FORWARD_PROTOS: &[&str] = &["tcp", "udp", ""];
/// The prefix of a GatewayPeering key that names an External instead of a VPC.
pub const EXTERNAL_PEER_PREFIX: &str = "ext.";
