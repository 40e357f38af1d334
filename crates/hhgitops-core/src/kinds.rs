//! The one table of supported kinds: group, version, plural (= managed folder), short names and apply order.

use std::fmt;
use std::str::FromStr;

/// An API group of the Hedgehog fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    Wiring,
    Vpc,
    Gateway,
}

impl Group {
    pub const fn name(self) -> &'static str {
        match self {
            Group::Wiring => "wiring.githedgehog.com",
            Group::Vpc => "vpc.githedgehog.com",
            Group::Gateway => "gateway.githedgehog.com",
        }
    }
    pub const fn version(self) -> &'static str {
        match self {
            Group::Wiring | Group::Vpc => "v1beta1",
            Group::Gateway => "v1alpha1",
        }
    }
    pub const fn api_version(self) -> &'static str {
        match self {
            Group::Wiring => "wiring.githedgehog.com/v1beta1",
            Group::Vpc => "vpc.githedgehog.com/v1beta1",
            Group::Gateway => "gateway.githedgehog.com/v1alpha1",
        }
    }
}

/// The 17 supported kinds. The declaration order is the dependency (apply) order of SPEC §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    SwitchProfile,
    ServerProfile,
    VLANNamespace,
    IPv4Namespace,
    SwitchGroup,
    Switch,
    Server,
    Connection,
    VPC,
    External,
    VPCAttachment,
    VPCPeering,
    ExternalAttachment,
    ExternalPeering,
    GatewayGroup,
    Gateway,
    GatewayPeering,
}

impl Kind {
    /// All kinds, in dependency order.
    pub const ALL: [Kind; 17] = [
        Kind::SwitchProfile,
        Kind::ServerProfile,
        Kind::VLANNamespace,
        Kind::IPv4Namespace,
        Kind::SwitchGroup,
        Kind::Switch,
        Kind::Server,
        Kind::Connection,
        Kind::VPC,
        Kind::External,
        Kind::VPCAttachment,
        Kind::VPCPeering,
        Kind::ExternalAttachment,
        Kind::ExternalPeering,
        Kind::GatewayGroup,
        Kind::Gateway,
        Kind::GatewayPeering,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Kind::SwitchProfile => "SwitchProfile",
            Kind::ServerProfile => "ServerProfile",
            Kind::VLANNamespace => "VLANNamespace",
            Kind::IPv4Namespace => "IPv4Namespace",
            Kind::SwitchGroup => "SwitchGroup",
            Kind::Switch => "Switch",
            Kind::Server => "Server",
            Kind::Connection => "Connection",
            Kind::VPC => "VPC",
            Kind::External => "External",
            Kind::VPCAttachment => "VPCAttachment",
            Kind::VPCPeering => "VPCPeering",
            Kind::ExternalAttachment => "ExternalAttachment",
            Kind::ExternalPeering => "ExternalPeering",
            Kind::GatewayGroup => "GatewayGroup",
            Kind::Gateway => "Gateway",
            Kind::GatewayPeering => "GatewayPeering",
        }
    }

    pub const fn group(self) -> Group {
        match self {
            Kind::SwitchProfile
            | Kind::ServerProfile
            | Kind::VLANNamespace
            | Kind::SwitchGroup
            | Kind::Switch
            | Kind::Server
            | Kind::Connection => Group::Wiring,
            Kind::IPv4Namespace
            | Kind::VPC
            | Kind::External
            | Kind::VPCAttachment
            | Kind::VPCPeering
            | Kind::ExternalAttachment
            | Kind::ExternalPeering => Group::Vpc,
            Kind::GatewayGroup | Kind::Gateway | Kind::GatewayPeering => Group::Gateway,
        }
    }

    pub const fn api_version(self) -> &'static str {
        self.group().api_version()
    }

    /// The resource plural; also the folder under `managed/`.
    pub const fn plural(self) -> &'static str {
        match self {
            Kind::SwitchProfile => "switchprofiles",
            Kind::ServerProfile => "serverprofiles",
            Kind::VLANNamespace => "vlannamespaces",
            Kind::IPv4Namespace => "ipv4namespaces",
            Kind::SwitchGroup => "switchgroups",
            Kind::Switch => "switches",
            Kind::Server => "servers",
            Kind::Connection => "connections",
            Kind::VPC => "vpcs",
            Kind::External => "externals",
            Kind::VPCAttachment => "vpcattachments",
            Kind::VPCPeering => "vpcpeerings",
            Kind::ExternalAttachment => "externalattachments",
            Kind::ExternalPeering => "externalpeerings",
            Kind::GatewayGroup => "gatewaygroups",
            Kind::Gateway => "gateways",
            Kind::GatewayPeering => "gatewaypeerings",
        }
    }

    pub const fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::SwitchProfile => &["sp"],
            Kind::ServerProfile => &[],
            Kind::VLANNamespace => &["vlanns"],
            Kind::IPv4Namespace => &["ipns"],
            Kind::SwitchGroup => &["sg"],
            Kind::Switch => &["sw"],
            Kind::Server => &["srv"],
            Kind::Connection => &["conn"],
            Kind::VPC => &[],
            Kind::External => &["ext"],
            Kind::VPCAttachment => &["vpcattach"],
            Kind::VPCPeering => &["vpcpeer"],
            Kind::ExternalAttachment => &["extattach"],
            Kind::ExternalPeering => &["extpeering", "extpeer"],
            Kind::GatewayGroup => &["gwgr"],
            Kind::Gateway => &["gw"],
            Kind::GatewayPeering => &["gwpeer"],
        }
    }

    /// Apply order rank (SPEC §6); lower ranks are applied first and pruned last.
    pub const fn apply_rank(self) -> u8 {
        match self {
            Kind::SwitchProfile
            | Kind::ServerProfile
            | Kind::VLANNamespace
            | Kind::IPv4Namespace => 0,
            Kind::SwitchGroup => 1,
            Kind::Switch | Kind::Server => 2,
            Kind::Connection => 3,
            Kind::VPC | Kind::External => 4,
            Kind::VPCAttachment
            | Kind::VPCPeering
            | Kind::ExternalAttachment
            | Kind::ExternalPeering => 5,
            Kind::GatewayGroup => 6,
            Kind::Gateway => 7,
            Kind::GatewayPeering => 8,
        }
    }

    /// Looks a kind up by its exact `kind` field value.
    pub fn from_kind_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Looks a kind up the way a person types it on the command line: kind name (any case), plural or short name.
    pub fn from_user_input(s: &str) -> Option<Kind> {
        let lower = s.to_ascii_lowercase();
        Kind::ALL.iter().copied().find(|k| {
            k.name().eq_ignore_ascii_case(&lower)
                || k.plural() == lower
                || k.short_names().contains(&lower.as_str())
        })
    }

    pub fn from_plural(plural: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.plural() == plural)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error of [`Kind::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}: expected one of the 17 Hedgehog kinds (e.g. VPC, Switch, Connection)")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::from_user_input(s).ok_or_else(|| UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut plurals: Vec<_> = Kind::ALL.iter().map(|k| k.plural()).collect();
        plurals.sort_unstable();
        plurals.dedup();
        assert_eq!(plurals.len(), 17);
        for k in Kind::ALL {
            assert_eq!(Kind::from_kind_name(k.name()), Some(k));
            assert_eq!(Kind::from_plural(k.plural()), Some(k));
            assert_eq!(k.name().parse::<Kind>().ok(), Some(k));
            assert!(k.api_version().starts_with(k.group().name()));
        }
        assert_eq!(Kind::Switch.plural(), "switches");
        assert_eq!("vpcs".parse::<Kind>().ok(), Some(Kind::VPC));
        assert!("switchs".parse::<Kind>().is_err());
    }

    #[test]
    fn all_is_in_apply_order() {
        let ranks: Vec<_> = Kind::ALL.iter().map(|k| k.apply_rank()).collect();
        let mut sorted = ranks.clone();
        sorted.sort_unstable();
        assert_eq!(ranks, sorted);
    }
}
