//! Typed models of the 17 Hedgehog kinds, written from the CRDs in `crds/` plus the fabric v0.129.1 additions
//! (CATALOGUE §7).
//!
//! Invariants the rest of the crate relies on:
//! - every struct denies unknown fields, so decoding is as strict as hhfab's (`serializer.EnableStrict`);
//! - fields are declared in the API's (Go struct) order, because normalization serializes these types;
//! - every field is an `Option` that is skipped when absent: what the author wrote is kept, nothing is defaulted.
//!   Fields the CRD or the webhook requires are checked by the rules in [`crate::validate`], which say
//!   "missing required field" with a position instead of failing the whole decode;
//! - enum-valued strings stay strings here; the rules check them and name the allowed values.

pub mod gateway;
pub mod ip;
pub mod meta;
pub mod vpc;
pub mod wiring;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::kinds::Kind;
use crate::yaml::{self, DecodeError, Node};

pub use meta::ObjectMeta;

/// Declares an API struct: all fields optional and skipped when absent, unknown fields denied, camelCase names.
macro_rules! api_struct {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $field:ident : Option<$ty:ty> ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}
pub(crate) use api_struct;

/// An empty spec (`SwitchGroup`, `GatewayGroup`): `{}` and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmptySpec {}

/// The top level of every document. `apiVersion` and `kind` were checked before decoding; `status` is
/// accepted (it is server-owned and every status of these kinds is empty) and dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Envelope<S> {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    metadata: ObjectMeta,
    #[serde(default = "none")]
    spec: Option<S>,
    #[serde(default, rename = "status")]
    _status: Option<IgnoredAny>,
}

fn none<S>() -> Option<S> {
    None
}

/// The spec of one object, by kind. Specs are behind an `Arc`: an object then takes the size of its own kind's spec,
/// not of the largest one (a fabric holds tens of thousands of small objects), and the defaulted copy of an object
/// whose defaulting changes only its metadata (every Connection and Server: labels, namespace) shares the authored
/// spec instead of holding a second one. A spec is changed through `Arc::make_mut`, which copies it only while it
/// is shared.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    SwitchProfile(Arc<wiring::SwitchProfileSpec>),
    ServerProfile(Arc<wiring::ServerProfileSpec>),
    VLANNamespace(Arc<wiring::VLANNamespaceSpec>),
    IPv4Namespace(Arc<vpc::IPv4NamespaceSpec>),
    SwitchGroup(EmptySpec),
    Switch(Arc<wiring::SwitchSpec>),
    Server(Arc<wiring::ServerSpec>),
    Connection(Arc<wiring::ConnectionSpec>),
    VPC(Arc<vpc::VPCSpec>),
    External(Arc<vpc::ExternalSpec>),
    VPCAttachment(Arc<vpc::VPCAttachmentSpec>),
    VPCPeering(Arc<vpc::VPCPeeringSpec>),
    ExternalAttachment(Arc<vpc::ExternalAttachmentSpec>),
    ExternalPeering(Arc<vpc::ExternalPeeringSpec>),
    GatewayGroup(EmptySpec),
    Gateway(Arc<gateway::GatewaySpec>),
    GatewayPeering(Arc<gateway::GatewayPeeringSpec>),
}

/// One typed API object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub metadata: ObjectMeta,
    pub spec: Spec,
    /// Whether the document had a `spec` key at all (a missing spec decodes as the empty spec).
    pub spec_present: bool,
}

impl Spec {
    pub fn kind(&self) -> Kind {
        match self {
            Spec::SwitchProfile(_) => Kind::SwitchProfile,
            Spec::ServerProfile(_) => Kind::ServerProfile,
            Spec::VLANNamespace(_) => Kind::VLANNamespace,
            Spec::IPv4Namespace(_) => Kind::IPv4Namespace,
            Spec::SwitchGroup(_) => Kind::SwitchGroup,
            Spec::Switch(_) => Kind::Switch,
            Spec::Server(_) => Kind::Server,
            Spec::Connection(_) => Kind::Connection,
            Spec::VPC(_) => Kind::VPC,
            Spec::External(_) => Kind::External,
            Spec::VPCAttachment(_) => Kind::VPCAttachment,
            Spec::VPCPeering(_) => Kind::VPCPeering,
            Spec::ExternalAttachment(_) => Kind::ExternalAttachment,
            Spec::ExternalPeering(_) => Kind::ExternalPeering,
            Spec::GatewayGroup(_) => Kind::GatewayGroup,
            Spec::Gateway(_) => Kind::Gateway,
            Spec::GatewayPeering(_) => Kind::GatewayPeering,
        }
    }

    /// The spec as JSON, fields in API order, absent fields omitted.
    pub fn to_json(&self) -> serde_json::Value {
        fn j<T: Serialize>(t: &T) -> serde_json::Value {
            // Serializing these plain structs cannot fail: keys are strings and there are no custom serializers
            // that error; an empty object is the harmless fallback.
            serde_json::to_value(t)
                .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()))
        }
        match self {
            Spec::SwitchProfile(s) => j(&**s),
            Spec::ServerProfile(s) => j(&**s),
            Spec::VLANNamespace(s) => j(&**s),
            Spec::IPv4Namespace(s) => j(s),
            Spec::SwitchGroup(s) | Spec::GatewayGroup(s) => j(s),
            Spec::Switch(s) => j(&**s),
            Spec::Server(s) => j(&**s),
            Spec::Connection(s) => j(&**s),
            Spec::VPC(s) => j(&**s),
            Spec::External(s) => j(&**s),
            Spec::VPCAttachment(s) => j(&**s),
            Spec::VPCPeering(s) => j(&**s),
            Spec::ExternalAttachment(s) => j(&**s),
            Spec::ExternalPeering(s) => j(&**s),
            Spec::Gateway(s) => j(&**s),
            Spec::GatewayPeering(s) => j(&**s),
        }
    }
}

impl Object {
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// The object's name (empty only if decoding was bypassed; [`decode_object`] requires one).
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }
}

fn decode_as<S: DeserializeOwned + Default>(
    node: &Node,
    wrap: fn(S) -> Spec,
) -> Result<Object, DecodeError> {
    let env: Envelope<S> = yaml::decode(node)?;
    let spec_present = env.spec.is_some();
    Ok(Object {
        metadata: env.metadata,
        spec: wrap(env.spec.unwrap_or_default()),
        spec_present,
    })
}

/// Strictly decodes one document's root node as an object of `kind`.
pub fn decode_object(kind: Kind, node: &Node) -> Result<Object, DecodeError> {
    match kind {
        Kind::SwitchProfile => decode_as(node, |s| Spec::SwitchProfile(Arc::new(s))),
        Kind::ServerProfile => decode_as(node, |s| Spec::ServerProfile(Arc::new(s))),
        Kind::VLANNamespace => decode_as(node, |s| Spec::VLANNamespace(Arc::new(s))),
        Kind::IPv4Namespace => decode_as(node, |s| Spec::IPv4Namespace(Arc::new(s))),
        Kind::SwitchGroup => decode_as(node, Spec::SwitchGroup),
        Kind::Switch => decode_as(node, |s| Spec::Switch(Arc::new(s))),
        Kind::Server => decode_as(node, |s| Spec::Server(Arc::new(s))),
        Kind::Connection => decode_as(node, |s| Spec::Connection(Arc::new(s))),
        Kind::VPC => decode_as(node, |s| Spec::VPC(Arc::new(s))),
        Kind::External => decode_as(node, |s| Spec::External(Arc::new(s))),
        Kind::VPCAttachment => decode_as(node, |s| Spec::VPCAttachment(Arc::new(s))),
        Kind::VPCPeering => decode_as(node, |s| Spec::VPCPeering(Arc::new(s))),
        Kind::ExternalAttachment => decode_as(node, |s| Spec::ExternalAttachment(Arc::new(s))),
        Kind::ExternalPeering => decode_as(node, |s| Spec::ExternalPeering(Arc::new(s))),
        Kind::GatewayGroup => decode_as(node, Spec::GatewayGroup),
        Kind::Gateway => decode_as(node, |s| Spec::Gateway(Arc::new(s))),
        Kind::GatewayPeering => decode_as(node, |s| Spec::GatewayPeering(Arc::new(s))),
    }
}

/// Decodes a spec from JSON (tests and tools build typed values this way; same serde derive as YAML decoding).
pub fn spec_from_json(kind: Kind, value: serde_json::Value) -> Result<Spec, serde_json::Error> {
    use serde_json::from_value as f;
    Ok(match kind {
        Kind::SwitchProfile => Spec::SwitchProfile(Arc::new(f(value)?)),
        Kind::ServerProfile => Spec::ServerProfile(Arc::new(f(value)?)),
        Kind::VLANNamespace => Spec::VLANNamespace(Arc::new(f(value)?)),
        Kind::IPv4Namespace => Spec::IPv4Namespace(Arc::new(f(value)?)),
        Kind::SwitchGroup => Spec::SwitchGroup(f(value)?),
        Kind::Switch => Spec::Switch(Arc::new(f(value)?)),
        Kind::Server => Spec::Server(Arc::new(f(value)?)),
        Kind::Connection => Spec::Connection(Arc::new(f(value)?)),
        Kind::VPC => Spec::VPC(Arc::new(f(value)?)),
        Kind::External => Spec::External(Arc::new(f(value)?)),
        Kind::VPCAttachment => Spec::VPCAttachment(Arc::new(f(value)?)),
        Kind::VPCPeering => Spec::VPCPeering(Arc::new(f(value)?)),
        Kind::ExternalAttachment => Spec::ExternalAttachment(Arc::new(f(value)?)),
        Kind::ExternalPeering => Spec::ExternalPeering(Arc::new(f(value)?)),
        Kind::GatewayGroup => Spec::GatewayGroup(f(value)?),
        Kind::Gateway => Spec::Gateway(Arc::new(f(value)?)),
        Kind::GatewayPeering => Spec::GatewayPeering(Arc::new(f(value)?)),
    })
}

impl Object {
    /// Builds an object from a name and a JSON spec (tests and tools).
    pub fn from_json(
        kind: Kind,
        name: &str,
        spec: serde_json::Value,
    ) -> Result<Object, serde_json::Error> {
        Ok(Object {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec: spec_from_json(kind, spec)?,
            spec_present: true,
        })
    }
}
