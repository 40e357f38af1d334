//! `metadata`: the Kubernetes `ObjectMeta` fields an input file may carry.
//!
//! Author-owned: `name`, `namespace`, `labels`, `annotations`, `finalizers` (kept by normalization).
//! Server-owned or cluster-specific, accepted on input (files exported with `kubectl get -o yaml` carry them)
//! and dropped by normalization: `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//! `deletionTimestamp`, `deletionGracePeriodSeconds`, `selfLink`, `managedFields`, `ownerReferences` (owner UIDs
//! only mean something inside one cluster) and `generateName` (ignored by the API server when a name is given,
//! and a name is always required here).

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// `metadata` of an input document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing)]
    pub generate_name: Option<IgnoredAny>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing)]
    pub self_link: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub uid: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub resource_version: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub generation: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub creation_timestamp: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub deletion_timestamp: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub deletion_grace_period_seconds: Option<IgnoredAny>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing)]
    pub owner_references: Option<IgnoredAny>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    #[serde(default, skip_serializing)]
    pub managed_fields: Option<IgnoredAny>,
}

/// The annotation `kubectl apply` writes; server-owned for our purposes.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Prefix of the annotations HNP (the NetBox plugin) wrote into its managed files.
pub const HNP_ANNOTATION_PREFIX: &str = "hnp.githedgehog.com/";
/// The VPCAttachment annotation naming a /31 point-to-point link.
pub const P2P_LINK_ANNOTATION: &str = "fabric.githedgehog.com/p2p-link";

/// Whether normalization drops this annotation.
pub fn is_server_owned_annotation(key: &str) -> bool {
    key == LAST_APPLIED_ANNOTATION || key.starts_with(HNP_ANNOTATION_PREFIX)
}
