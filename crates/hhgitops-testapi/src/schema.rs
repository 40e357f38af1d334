//! Structural OpenAPI v3 schemas of CRDs: pruning of unknown fields, null pruning, defaulting and validation,
//! done the way the API server does them for custom resources. Pure functions over `serde_json::Value`.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::status::{render_value, FieldError, FieldErrorKind};

/// One node of a CRD's `openAPIV3Schema` (the keywords the API server honours for custom resources).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub format: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, Schema>,
    pub additional_properties: Option<AdditionalProperties>,
    pub items: Option<Box<Schema>>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(rename = "enum", default)]
    pub enum_: Vec<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    #[serde(default)]
    pub exclusive_minimum: bool,
    #[serde(default)]
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    #[serde(default)]
    pub unique_items: bool,
    pub pattern: Option<String>,
    pub default: Option<Value>,
    #[serde(default)]
    pub nullable: bool,
    #[serde(default)]
    pub all_of: Vec<Schema>,
    #[serde(default)]
    pub any_of: Vec<Schema>,
    #[serde(default)]
    pub one_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
    #[serde(rename = "x-kubernetes-preserve-unknown-fields", default)]
    pub preserve_unknown_fields: bool,
    #[serde(rename = "x-kubernetes-int-or-string", default)]
    pub int_or_string: bool,
    #[serde(rename = "x-kubernetes-embedded-resource", default)]
    pub embedded_resource: bool,
    #[serde(rename = "x-kubernetes-map-type")]
    pub map_type: Option<String>,
    #[serde(skip)]
    pattern_regex: Option<Regex>,
}

/// `additionalProperties`: a schema for map values, or a boolean.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AdditionalProperties {
    Bool(bool),
    Schema(Box<Schema>),
}

impl Schema {
    /// Parses a schema and compiles its patterns; a pattern Rust's regex engine cannot compile is an error.
    pub fn from_value(value: &Value) -> Result<Schema, String> {
        let mut schema: Schema =
            serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        schema.compile("")?;
        Ok(schema)
    }

    fn compile(&mut self, path: &str) -> Result<(), String> {
        if let Some(p) = &self.pattern {
            let re = Regex::new(p)
                .map_err(|e| format!("{path}: pattern {p:?} does not compile: {e}"))?;
            self.pattern_regex = Some(re);
        }
        for (k, s) in self.properties.iter_mut() {
            s.compile(&join(path, k))?;
        }
        if let Some(AdditionalProperties::Schema(s)) = &mut self.additional_properties {
            s.compile(&format!("{path}.*"))?;
        }
        if let Some(items) = &mut self.items {
            items.compile(&format!("{path}[*]"))?;
        }
        for s in self
            .all_of
            .iter_mut()
            .chain(self.any_of.iter_mut())
            .chain(self.one_of.iter_mut())
        {
            s.compile(path)?;
        }
        if let Some(not) = &mut self.not {
            not.compile(path)?;
        }
        Ok(())
    }

    /// The schema of field or map key `key` of an object with this schema.
    pub fn child(&self, key: &str) -> Option<&Schema> {
        if let Some(s) = self.properties.get(key) {
            return Some(s);
        }
        match &self.additional_properties {
            Some(AdditionalProperties::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// True when an object with this schema is replaced as a whole by server-side apply.
    pub fn is_atomic_map(&self) -> bool {
        self.map_type.as_deref() == Some("atomic")
    }

    fn keeps_unknown_fields(&self) -> bool {
        self.preserve_unknown_fields
            || matches!(
                self.additional_properties,
                Some(AdditionalProperties::Bool(true))
            )
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Drops fields the schema does not know (structural pruning). Returns the paths of what was dropped.
pub fn prune(value: &mut Value, schema: &Schema, path: &str, dropped: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema.embedded_resource {
                prune_embedded_metadata(map, path, dropped);
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if schema.embedded_resource
                    && matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                {
                    continue;
                }
                match schema.child(&key) {
                    Some(child) => {
                        if let Some(v) = map.get_mut(&key) {
                            prune(v, child, &join(path, &key), dropped);
                        }
                    }
                    None if schema.keeps_unknown_fields() => {}
                    None => {
                        map.remove(&key);
                        dropped.push(join(path, &key));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, item_schema, &format!("{path}[{i}]"), dropped);
                }
            }
        }
        _ => {}
    }
}

fn prune_embedded_metadata(map: &mut Map<String, Value>, path: &str, dropped: &mut Vec<String>) {
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        let keys: Vec<String> = meta.keys().cloned().collect();
        for key in keys {
            if !matches!(
                key.as_str(),
                "name" | "namespace" | "labels" | "annotations" | "generateName"
            ) {
                meta.remove(&key);
                dropped.push(join(&join(path, "metadata"), &key));
            }
        }
    }
}

/// Removes `null` values of fields that are not `nullable` (they are then defaulted, if they have a default).
pub fn prune_nulls(value: &mut Value, schema: &Schema) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let Some(child) = schema.child(&key) else {
                    continue;
                };
                if map.get(&key).is_some_and(Value::is_null) {
                    if !child.nullable {
                        map.remove(&key);
                    }
                } else if let Some(v) = map.get_mut(&key) {
                    prune_nulls(v, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for item in items.iter_mut() {
                    prune_nulls(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Applies the schema's `default:` values to absent fields of objects that are present, recursively.
pub fn apply_defaults(value: &mut Value, schema: &Schema) {
    match value {
        Value::Object(map) => {
            for (key, child) in &schema.properties {
                if let Some(default) = &child.default {
                    if !map.contains_key(key) {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if let (Some(child), Some(v)) = (schema.child(&key), map.get_mut(&key)) {
                    apply_defaults(v, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &schema.items {
                for item in items.iter_mut() {
                    apply_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// Prunes a whole resource: `apiVersion`, `kind` and `metadata` are left to the caller (metadata has its own
/// rules), every other top-level field is pruned against the root schema.
pub fn prune_resource(obj: &mut Value, schema: &Schema, dropped: &mut Vec<String>) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match schema.properties.get(&key) {
            Some(child) => {
                if let Some(v) = map.get_mut(&key) {
                    prune(v, child, &key, dropped);
                }
            }
            None if schema.keeps_unknown_fields() => {}
            None => {
                map.remove(&key);
                dropped.push(key);
            }
        }
    }
}

/// Null pruning and defaulting of a whole resource (metadata excluded).
pub fn default_resource(obj: &mut Value, schema: &Schema) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let Some(child) = schema.properties.get(&key) else {
            continue;
        };
        if map.get(&key).is_some_and(Value::is_null) && !child.nullable {
            map.remove(&key);
        } else if let Some(v) = map.get_mut(&key) {
            prune_nulls(v, child);
        }
    }
    for (key, child) in &schema.properties {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let (Some(default), false) = (&child.default, map.contains_key(key)) {
            map.insert(key.clone(), default.clone());
        }
        if let Some(v) = map.get_mut(key) {
            apply_defaults(v, child);
        }
    }
}

/// Validates a whole resource against its root schema (metadata excluded: see `meta::validate_metadata`).
pub fn validate_resource(obj: &Value, schema: &Schema, errors: &mut Vec<FieldError>) {
    let Some(map) = obj.as_object() else { return };
    for req in &schema.required {
        if !map.contains_key(req) {
            errors.push(FieldError::new(FieldErrorKind::Required, req, None, ""));
        }
    }
    for (key, v) in map {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child) = schema.properties.get(key) {
            validate(v, child, key, errors);
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.as_number().is_some_and(|n| n.is_i64() || n.is_u64()),
        "number" => value.is_number(),
        _ => true,
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Validates `value` against `schema`, appending one error per violation (paths relative to `path`).
pub fn validate(value: &Value, schema: &Schema, path: &str, errors: &mut Vec<FieldError>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if schema.nullable || (schema.type_.is_none() && !schema.int_or_string) {
            return;
        }
        let ty = schema.type_.as_deref().unwrap_or("string");
        errors.push(FieldError::new(
            FieldErrorKind::TypeInvalid,
            path,
            Some(&Value::String("null".into())),
            format!("{shown} in body must be of type {ty}: \"null\""),
        ));
        return;
    }
    if schema.int_or_string {
        if !(has_type(value, "integer") || value.is_string()) {
            errors.push(FieldError::new(
                FieldErrorKind::TypeInvalid,
                path,
                Some(&Value::String(type_name(value).into())),
                format!(
                    "{shown} in body must be of type integer,string: \"{}\"",
                    type_name(value)
                ),
            ));
            return;
        }
    } else if let Some(ty) = &schema.type_ {
        if !has_type(value, ty) {
            errors.push(FieldError::new(
                FieldErrorKind::TypeInvalid,
                path,
                Some(&Value::String(type_name(value).into())),
                format!(
                    "{shown} in body must be of type {ty}: \"{}\"",
                    type_name(value)
                ),
            ));
            return;
        }
    }

    if !schema.enum_.is_empty() && !schema.enum_.contains(value) {
        let supported: Vec<String> = schema.enum_.iter().map(render_value).collect();
        errors.push(FieldError::new(
            FieldErrorKind::NotSupported,
            path,
            Some(value),
            format!("supported values: {}", supported.join(", ")),
        ));
    }

    match value {
        Value::Number(n) => validate_number(
            n.as_f64().unwrap_or(0.0),
            value,
            schema,
            path,
            shown,
            errors,
        ),
        Value::String(s) => validate_string(s, value, schema, path, shown, errors),
        Value::Array(items) => validate_array(items, schema, path, shown, errors),
        Value::Object(map) => validate_object(map, value, schema, path, shown, errors),
        _ => {}
    }

    for sub in &schema.all_of {
        validate(value, sub, path, errors);
    }
    if !schema.any_of.is_empty() && !schema.any_of.iter().any(|s| is_valid(value, s)) {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            path,
            Some(value),
            format!("{shown} in body must validate at least one schema (anyOf)"),
        ));
    }
    if !schema.one_of.is_empty() && schema.one_of.iter().filter(|s| is_valid(value, s)).count() != 1
    {
        errors.push(FieldError::new(
            FieldErrorKind::Invalid,
            path,
            Some(value),
            format!("{shown} in body must validate one and only one schema (oneOf)"),
        ));
    }
    if let Some(not) = &schema.not {
        if is_valid(value, not) {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body must not validate the schema (not)"),
            ));
        }
    }
}

fn is_valid(value: &Value, schema: &Schema) -> bool {
    let mut errs = Vec::new();
    validate(value, schema, "", &mut errs);
    errs.is_empty()
}

fn validate_number(
    n: f64,
    value: &Value,
    schema: &Schema,
    path: &str,
    shown: &str,
    errors: &mut Vec<FieldError>,
) {
    if let Some(min) = schema.minimum {
        if n < min || (schema.exclusive_minimum && n == min) {
            let rel = if schema.exclusive_minimum {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body should be {rel} {}", number_text(min)),
            ));
        }
    }
    if let Some(max) = schema.maximum {
        if n > max || (schema.exclusive_maximum && n == max) {
            let rel = if schema.exclusive_maximum {
                "less than"
            } else {
                "less than or equal to"
            };
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body should be {rel} {}", number_text(max)),
            ));
        }
    }
    if let Some(m) = schema.multiple_of {
        if m != 0.0 && (n / m).fract() != 0.0 {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body should be a multiple of {}", number_text(m)),
            ));
        }
    }
}

fn validate_string(
    s: &str,
    value: &Value,
    schema: &Schema,
    path: &str,
    shown: &str,
    errors: &mut Vec<FieldError>,
) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.min_length {
        if len < min {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(max) = schema.max_length {
        if len > max {
            errors.push(FieldError::new(
                FieldErrorKind::TooLong,
                path,
                None,
                format!("may not be more than {max} bytes"),
            ));
        }
    }
    if let (Some(re), Some(p)) = (&schema.pattern_regex, &schema.pattern) {
        if !re.is_match(s) {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body should match '{p}'"),
            ));
        }
    }
}

fn validate_array(
    items: &[Value],
    schema: &Schema,
    path: &str,
    shown: &str,
    errors: &mut Vec<FieldError>,
) {
    let n = items.len() as u64;
    if let Some(min) = schema.min_items {
        if n < min {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(&Value::from(n)),
                format!("{shown} in body should have at least {min} items"),
            ));
        }
    }
    if let Some(max) = schema.max_items {
        if n > max {
            errors.push(FieldError::new(
                FieldErrorKind::TooMany,
                path,
                Some(&Value::from(n)),
                format!("must have at most {max} items"),
            ));
        }
    }
    if schema.unique_items {
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                errors.push(FieldError::new(
                    FieldErrorKind::Duplicate,
                    &format!("{path}[{i}]"),
                    Some(item),
                    "",
                ));
            }
        }
    }
    if let Some(item_schema) = &schema.items {
        for (i, item) in items.iter().enumerate() {
            validate(item, item_schema, &format!("{path}[{i}]"), errors);
        }
    }
}

fn validate_object(
    map: &Map<String, Value>,
    value: &Value,
    schema: &Schema,
    path: &str,
    shown: &str,
    errors: &mut Vec<FieldError>,
) {
    for req in &schema.required {
        if !map.contains_key(req) {
            errors.push(FieldError::new(
                FieldErrorKind::Required,
                &join(path, req),
                None,
                "",
            ));
        }
    }
    let n = map.len() as u64;
    if let Some(min) = schema.min_properties {
        if n < min {
            errors.push(FieldError::new(
                FieldErrorKind::Invalid,
                path,
                Some(value),
                format!("{shown} in body should have at least {min} properties"),
            ));
        }
    }
    if let Some(max) = schema.max_properties {
        if n > max {
            errors.push(FieldError::new(
                FieldErrorKind::TooMany,
                path,
                Some(&Value::from(n)),
                format!("must have at most {max} items"),
            ));
        }
    }
    for (key, v) in map {
        if schema.embedded_resource && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child) = schema.child(key) {
            validate(v, child, &join(path, key), errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        Schema::from_value(&v).unwrap()
    }

    #[test]
    fn prune_drops_unknown_fields_but_keeps_preserved_ones() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"type": "integer"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "empty": {"type": "object"}
            }
        }));
        let mut v = json!({"a": "x", "b": 1, "m": {"k": {"x": 1, "y": 2}}, "free": {"q": 1}, "empty": {"z": 1}});
        let mut dropped = Vec::new();
        prune(&mut v, &s, "spec", &mut dropped);
        dropped.sort();
        assert_eq!(
            v,
            json!({"a": "x", "m": {"k": {"x": 1}}, "free": {"q": 1}, "empty": {}})
        );
        assert_eq!(dropped, vec!["spec.b", "spec.empty.z", "spec.m.k.y"]);
    }

    #[test]
    fn defaults_apply_inside_present_objects_only() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "lf": {"type": "object", "properties": {
                    "t": {"type": "integer", "default": 3},
                    "r": {"type": "integer", "default": 300}
                }},
                "absent": {"type": "object", "properties": {"d": {"type": "integer", "default": 1}}}
            }
        }));
        let mut v = json!({"lf": {"t": 5, "r": null}});
        prune_nulls(&mut v, &s);
        apply_defaults(&mut v, &s);
        assert_eq!(v, json!({"lf": {"t": 5, "r": 300}}));
    }

    #[test]
    fn validation_reports_every_kind_of_violation_with_paths() {
        let s = schema(json!({
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {"type": "string", "enum": ["spine", "leaf"]},
                "n": {"type": "integer", "minimum": 1, "maximum": 50},
                "ip": {"type": "string", "pattern": "^\\d+\\.\\d+$"},
                "l": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer"}},
                "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "integer"}}}}
            }
        }));
        let v = json!({"n": 0, "ip": "x", "l": [1, "a", 3], "m": {"k": {"v": "s"}}});
        let mut errs = Vec::new();
        validate(&v, &s, "spec", &mut errs);
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            rendered.contains(&"spec.role: Required value".to_string()),
            "{rendered:?}"
        );
        assert!(
            rendered.contains(
                &"spec.n: Invalid value: 0: spec.n in body should be greater than or equal to 1"
                    .to_string()
            ),
            "{rendered:?}"
        );
        assert!(rendered
            .iter()
            .any(|e| e.starts_with("spec.ip: Invalid value: \"x\": spec.ip in body should match")));
        assert!(
            rendered.contains(&"spec.l: Too many: 3: must have at most 2 items".to_string()),
            "{rendered:?}"
        );
        assert!(rendered.contains(&"spec.l[1]: Invalid value: \"string\": spec.l[1] in body must be of type integer: \"string\"".to_string()), "{rendered:?}");
        assert!(
            rendered
                .iter()
                .any(|e| e.starts_with("spec.m.k.v: Invalid value")),
            "{rendered:?}"
        );

        let mut errs = Vec::new();
        validate(&json!({"role": "boss"}), &s, "spec", &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "spec.role: Unsupported value: \"boss\": supported values: \"spine\", \"leaf\""
        );
    }

    #[test]
    fn kubernetes_ip_pattern_compiles_and_matches() {
        let s = schema(
            json!({"type": "string", "pattern": "^((25[0-5]|(2[0-4]|1\\d|[1-9]|)\\d)\\.?\\b){4}/([1-2]?[0-9]|3[0-2])$"}),
        );
        let mut errs = Vec::new();
        validate(&json!("172.30.128.0/31"), &s, "ip", &mut errs);
        assert!(errs.is_empty());
        validate(&json!("172.30.128.0"), &s, "ip", &mut errs);
        assert_eq!(errs.len(), 1);
    }
}
