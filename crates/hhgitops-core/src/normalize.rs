//! Normalization: a typed object becomes the one-document YAML of its managed file.
//!
//! `apiVersion`, `kind`, `metadata` (`name`, `namespace: default`, sorted `labels` and `annotations`,
//! `finalizers` if the author set any), `spec` (API field order, maps sorted by key, absent fields omitted: no
//! defaults are injected). Server-owned fields (`status`, `uid`, `resourceVersion`, `generation`,
//! `creationTimestamp`, `managedFields`, …), the `kubectl.kubernetes.io/last-applied-configuration` annotation and
//! HNP's `hnp.githedgehog.com/*` annotations are dropped. Empty `labels`/`annotations` maps are dropped (Kubernetes
//! does not distinguish them from absent ones). A missing `spec` is written as `spec: {}`, which is how the API
//! server stores it. The result is deterministic and normalizing it again gives the same bytes.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::meta::is_server_owned_annotation;
use crate::model::Object;
use crate::yaml;

/// The normalized object as JSON, keys in output order.
pub fn normalize_value(object: &Object) -> Value {
    let kind = object.kind();
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(object.name().to_string()));
    meta.insert("namespace".into(), Value::String("default".into()));
    if let Some(labels) = &object.metadata.labels {
        if !labels.is_empty() {
            let m: Map<String, Value> = labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            meta.insert("labels".into(), Value::Object(m));
        }
    }
    if let Some(ann) = &object.metadata.annotations {
        let m: Map<String, Value> = ann
            .iter()
            .filter(|(k, _)| !is_server_owned_annotation(k))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if !m.is_empty() {
            meta.insert("annotations".into(), Value::Object(m));
        }
    }
    if let Some(f) = &object.metadata.finalizers {
        meta.insert(
            "finalizers".into(),
            Value::Array(f.iter().map(|s| Value::String(s.clone())).collect()),
        );
    }

    let mut top = Map::new();
    top.insert(
        "apiVersion".into(),
        Value::String(kind.api_version().into()),
    );
    top.insert("kind".into(), Value::String(kind.name().into()));
    top.insert("metadata".into(), Value::Object(meta));
    top.insert("spec".into(), object.spec.to_json());
    Value::Object(top)
}

/// The normalized managed-file content of `object`.
pub fn normalize(object: &Object) -> String {
    yaml::emit(&normalize_value(object))
}

/// Lowercase hex SHA-256 of `bytes` (the manifest's content hash of a normalized file).
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Kind;
    use std::collections::BTreeMap;

    #[test]
    fn value_has_api_order_and_drops_server_fields() {
        let mut o = Object::from_json(
            Kind::VPC,
            "vpc-1",
            serde_json::json!({"vlanNamespace": "default", "subnets": {"b": {"vlan": 2, "subnet": "10.0.2.0/24"}, "a": {"subnet": "10.0.1.0/24"}}, "mode": "l3vni"}),
        )
        .unwrap();
        let mut ann = BTreeMap::new();
        ann.insert(
            crate::model::meta::LAST_APPLIED_ANNOTATION.to_string(),
            "{}".to_string(),
        );
        ann.insert("hnp.githedgehog.com/source".to_string(), "x".to_string());
        ann.insert("z".to_string(), "1".to_string());
        o.metadata.annotations = Some(ann);
        o.metadata.labels = Some(BTreeMap::new());
        let v = normalize_value(&o);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"apiVersion":"vpc.githedgehog.com/v1beta1","kind":"VPC","metadata":{"name":"vpc-1","namespace":"default","annotations":{"z":"1"}},"spec":{"mode":"l3vni","subnets":{"a":{"subnet":"10.0.1.0/24"},"b":{"subnet":"10.0.2.0/24","vlan":2}},"vlanNamespace":"default"}}"#
        );
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
