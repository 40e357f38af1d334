//! Object rules: what the fabric's webhooks (and the CRD schema beyond types) check on one object alone, given the
//! fabric settings (CATALOGUE §3–4). Checks against other objects live in [`super::cross`].
//!
//! The webhook runs `Default()` before `Validate()`, so the rules read *effective* values (a missing VPC gateway is
//! network+1, a missing DHCP range is network+2…broadcast, missing namespaces are `default`) without writing them
//! back: normalization keeps what the author wrote.

mod gateway;
mod vpc;
mod wiring;

/// Helpers the cross-object rules share with the object rules.
pub(crate) mod wiring_helpers {
    pub(crate) use super::wiring::{ip_links, merged_vlan_ranges};
}

use crate::field_path;
use crate::model::{Object, Spec};
use crate::settings::FabricSettings;

use super::check::{label_value_problem, qualified_name_problem, Findings};

/// Runs the metadata and spec rules of one object.
pub fn check_object(object: &Object, settings: &FabricSettings, f: &mut Findings) {
    check_metadata(object, f);
    let name = object.name();
    match &object.spec {
        Spec::SwitchProfile(s) => wiring::switch_profile(name, s, settings, f),
        Spec::ServerProfile(_) | Spec::SwitchGroup(_) | Spec::Server(_) => {}
        Spec::GatewayGroup(_) => gateway::gateway_group(settings, f),
        Spec::VLANNamespace(s) => wiring::vlan_namespace(s, settings, f),
        Spec::Switch(s) => wiring::switch(s, settings, f),
        Spec::Connection(s) => wiring::connection(s, settings, f),
        Spec::IPv4Namespace(s) => vpc::ipv4_namespace(name, s, settings, f),
        Spec::VPC(s) => vpc::vpc(name, s, settings, f),
        Spec::VPCAttachment(s) => vpc::vpc_attachment(object, s, f),
        Spec::VPCPeering(s) => vpc::vpc_peering(s, settings, f),
        Spec::External(s) => vpc::external(name, s, f),
        Spec::ExternalAttachment(s) => vpc::external_attachment(object.spec_present, s, f),
        Spec::ExternalPeering(s) => vpc::external_peering(s, f),
        Spec::Gateway(s) => gateway::gateway(s, settings, f),
        Spec::GatewayPeering(s) => gateway::gateway_peering(s, settings, f),
    }
}

/// Label and annotation syntax (the API server's `ObjectMeta` validation). Name and namespace are checked before
/// decoding, by the document pipeline.
fn check_metadata(object: &Object, f: &mut Findings) {
    if let Some(labels) = &object.metadata.labels {
        for (k, v) in labels {
            if let Some(p) = qualified_name_problem(k) {
                f.push(
                    field_path!("metadata", "labels", k),
                    format!("invalid label: {p}"),
                );
            }
            if let Some(p) = label_value_problem(v) {
                f.push(field_path!("metadata", "labels", k), p);
            }
        }
    }
    if let Some(ann) = &object.metadata.annotations {
        let mut total = 0usize;
        for (k, v) in ann {
            if let Some(p) = qualified_name_problem(k) {
                f.push(
                    field_path!("metadata", "annotations", k),
                    format!("invalid annotation: {p}"),
                );
            }
            total += k.len() + v.len();
        }
        if total > 256 * 1024 {
            f.push(
                field_path!("metadata", "annotations"),
                format!("annotations take {total} bytes: expected at most 262144 bytes in total"),
            );
        }
    }
}

/// Shared name-length rule of VPC, IPv4Namespace and External.
fn short_name(kind: &str, name: &str, f: &mut Findings) {
    if name.len() > 11 {
        f.push(
            field_path!("metadata", "name"),
            format!(
                "{kind} name {name:?} is {} characters long: expected at most 11",
                name.len()
            ),
        );
    }
}
