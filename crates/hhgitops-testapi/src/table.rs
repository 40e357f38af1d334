//! Server-side printing: `meta.k8s.io/v1` Tables built from a CRD's `additionalPrinterColumns`, which is what
//! `kubectl get` asks for (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).

use serde_json::{json, Value};

use crate::crd::{PrinterColumn, VersionDef};

/// `includeObject`: what each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(value: Option<&str>) -> IncludeObject {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// A Table of `objects`, with list metadata (`resourceVersion`, `continue`) when given.
pub fn table(
    version: &VersionDef,
    objects: &[Value],
    include: IncludeObject,
    list_meta: Value,
    now: i64,
) -> Value {
    let mut columns = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        "priority": 0
    })];
    columns.extend(version.printer_columns.iter().map(|c| {
        json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![obj
                .pointer("/metadata/name")
                .cloned()
                .unwrap_or(Value::Null)];
            cells.extend(version.printer_columns.iter().map(|c| cell(c, obj, now)));
            let mut row = json!({"cells": cells});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = obj.clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))
                    })
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows
    })
}

/// Evaluates a simple JSONPath (`.spec.role`, `.spec.links[0].port`), as CRD printer columns use them.
fn eval_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (
                n,
                rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()),
            ),
            None => (seg, None),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn cell(column: &PrinterColumn, obj: &Value, now: i64) -> Value {
    let Some(value) = eval_path(obj, &column.json_path) else {
        return Value::Null;
    };
    match column.type_.as_str() {
        "string" => match value {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            other => json!(other.to_string()),
        },
        "integer" | "number" => value.as_number().map(|n| json!(n)).unwrap_or(Value::Null),
        "boolean" => value.as_bool().map(Value::Bool).unwrap_or(Value::Null),
        "date" => value
            .as_str()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| json!(human_duration(now - t.unix_timestamp())))
            .unwrap_or(Value::Null),
        _ => value.clone(),
    }
}

/// `5s`, `3m20s`, `4h5m`, `2d3h`, `1y20d`: how Kubernetes prints ages.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{d}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_print_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600 * 4 + 300), "4h5m");
        assert_eq!(human_duration(3600 * 24 * 2 + 3600 * 3), "2d3h");
    }

    #[test]
    fn rows_follow_printer_columns() {
        let v = VersionDef {
            name: "v1".into(),
            schema: None,
            raw_schema: None,
            printer_columns: vec![
                PrinterColumn {
                    name: "Role".into(),
                    type_: "string".into(),
                    format: String::new(),
                    description: String::new(),
                    priority: 0,
                    json_path: ".spec.role".into(),
                },
                PrinterColumn {
                    name: "Groups".into(),
                    type_: "string".into(),
                    format: String::new(),
                    description: String::new(),
                    priority: 0,
                    json_path: ".spec.groups".into(),
                },
                PrinterColumn {
                    name: "ASN".into(),
                    type_: "integer".into(),
                    format: String::new(),
                    description: String::new(),
                    priority: 1,
                    json_path: ".spec.asn".into(),
                },
                PrinterColumn {
                    name: "Age".into(),
                    type_: "date".into(),
                    format: String::new(),
                    description: String::new(),
                    priority: 0,
                    json_path: ".metadata.creationTimestamp".into(),
                },
            ],
            status_subresource: false,
        };
        let obj = json!({"metadata": {"name": "leaf-01", "creationTimestamp": "1970-01-01T00:01:00Z"},
                         "spec": {"role": "spine", "groups": ["a", "b"], "asn": 65101}});
        let t = table(&v, &[obj], IncludeObject::Metadata, json!({}), 90);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["leaf-01", "spine", "[\"a\",\"b\"]", 65101, "30s"])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
