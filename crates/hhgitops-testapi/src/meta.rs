//! `ObjectMeta`: which metadata fields exist, and the API server's rules for names, labels and annotations.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::status::{FieldError, FieldErrorKind};

/// The `ObjectMeta` fields; anything else under `metadata` is dropped, as decoding into `ObjectMeta` does.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const QUALIFIED_NAME: &str = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("constant regex {pattern}: {e}"))
}

static SUBDOMAIN_RE: LazyLock<Regex> = LazyLock::new(|| compile(DNS1123_SUBDOMAIN));
static LABEL_RE: LazyLock<Regex> = LazyLock::new(|| compile(DNS1123_LABEL));
static QUALIFIED_RE: LazyLock<Regex> = LazyLock::new(|| compile(QUALIFIED_NAME));
static LABEL_VALUE_RE: LazyLock<Regex> = LazyLock::new(|| compile(LABEL_VALUE));

/// Drops unknown `metadata` fields; returns their paths.
pub fn prune_metadata(obj: &mut Value, dropped: &mut Vec<String>) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        let unknown: Vec<String> = meta
            .keys()
            .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            meta.remove(&k);
            dropped.push(format!("metadata.{k}"));
        }
    }
}

/// Whether `name` is a lowercase RFC 1123 subdomain of at most 253 characters.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && SUBDOMAIN_RE.is_match(name)
}

/// Validates an object name: an RFC 1123 subdomain, or an RFC 1123 label for namespaces.
pub fn validate_name(name: &str, label_only: bool, errors: &mut Vec<FieldError>) {
    let value = Value::String(name.to_string());
    if label_only {
        if name.len() > 63 || !LABEL_RE.is_match(name) {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                "metadata.name",
                Some(&value),
                format!("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{}')", &DNS1123_LABEL[1..DNS1123_LABEL.len() - 1]),
            ));
        }
    } else if !is_dns_subdomain(name) {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            "metadata.name",
            Some(&value),
            format!("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{}')", &DNS1123_SUBDOMAIN[1..DNS1123_SUBDOMAIN.len() - 1]),
        ));
    }
}

fn validate_qualified_key(key: &str, field: &str, errors: &mut Vec<FieldError>) {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let value = Value::String(key.to_string());
    if let Some(p) = prefix {
        if !is_dns_subdomain(p) {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                field,
                Some(&value),
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            ));
        }
    }
    if name.is_empty() || name.len() > 63 || !QUALIFIED_RE.is_match(name) {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            field,
            Some(&value),
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') and be at most 63 characters",
        ));
    }
}

/// Validates the user-settable parts of `metadata`: name, labels, annotations, finalizers.
pub fn validate_metadata(obj: &Value, namespace_resource: bool, errors: &mut Vec<FieldError>) {
    let Some(meta) = obj.get("metadata") else {
        errors.push(FieldError::new(
            FieldErrorKind::Required,
            "metadata",
            None,
            "",
        ));
        return;
    };
    if !meta.is_object() {
        errors.push(FieldError::new(
            FieldErrorKind::TypeInvalid,
            "metadata",
            Some(meta),
            "must be an object",
        ));
        return;
    }
    match meta.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => validate_name(name, namespace_resource, errors),
        _ => errors.push(FieldError::new(
            FieldErrorKind::Required,
            "metadata.name",
            None,
            "name or generateName is required",
        )),
    }
    for (field, is_labels) in [("labels", true), ("annotations", false)] {
        let Some(map) = meta.get(field) else { continue };
        let path = format!("metadata.{field}");
        let Some(map) = map.as_object() else {
            errors.push(FieldError::new(
                FieldErrorKind::TypeInvalid,
                &path,
                Some(map),
                "must be a map of strings",
            ));
            continue;
        };
        for (k, v) in map {
            validate_qualified_key(k, &path, errors);
            match v.as_str() {
                None => errors.push(FieldError::new(
                    FieldErrorKind::TypeInvalid,
                    &format!("{path}.{k}"),
                    Some(v),
                    "must be a string",
                )),
                Some(s) if is_labels && (s.len() > 63 || !LABEL_VALUE_RE.is_match(s)) => {
                    errors.push(FieldError::new(
                        FieldErrorKind::Invalid,
                        &path,
                        Some(v),
                        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(f) = meta.get("finalizers") {
        if !f.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            errors.push(FieldError::new(
                FieldErrorKind::TypeInvalid,
                "metadata.finalizers",
                Some(f),
                "must be a list of strings",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_labels_and_annotations() {
        let mut errs = Vec::new();
        validate_metadata(
            &json!({"metadata": {"name": "leaf-01", "labels": {"hhgitops.githedgehog.com/fabric": "f1", "a": ""},
                                  "annotations": {"x.y/z": "any value at all!"}}}),
            false,
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        validate_metadata(
            &json!({"metadata": {"name": "Leaf_01", "labels": {"a": "bad value"}}}),
            false,
            &mut errs,
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["metadata.name", "metadata.labels"]);
        let mut errs = Vec::new();
        validate_metadata(&json!({"metadata": {"name": "a.b"}}), true, &mut errs);
        assert_eq!(errs.len(), 1, "namespaces need an RFC 1123 label");
    }

    #[test]
    fn unknown_metadata_fields_are_dropped() {
        let mut obj = json!({"metadata": {"name": "a", "colour": "red"}});
        let mut dropped = Vec::new();
        prune_metadata(&mut obj, &mut dropped);
        assert_eq!(obj, json!({"metadata": {"name": "a"}}));
        assert_eq!(dropped, vec!["metadata.colour"]);
    }
}
