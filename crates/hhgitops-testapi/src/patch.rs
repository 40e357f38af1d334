//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902), the non-apply patch types clients send.

use serde_json::Value;

/// Applies an RFC 7386 merge patch: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                merge_patch(entry, value);
            }
        }
    }
}

/// Removes strategic-merge-patch directives (`$patch`, `$retainKeys`, `$setElementOrder/…`,
/// `$deleteFromPrimitiveList/…`), so that the rest applies as a merge patch: without patch strategies in the
/// schema, that is what a strategic merge patch means for custom resources.
pub fn strip_strategic_directives(patch: &mut Value) {
    match patch {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_strategic_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_strategic_directives),
        _ => {}
    }
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`).
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    for (i, op) in ops.iter().enumerate() {
        apply_op(target, op).map_err(|e| format!("operation {i}: {e}"))?;
    }
    Ok(())
}

fn apply_op(target: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or("missing \"op\"")?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or("missing \"path\"")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| "missing \"value\"".to_string())
    };
    let from = || {
        op.get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| "missing \"from\"".to_string())
    };
    match kind {
        "add" => add(target, path, value()?),
        "remove" => remove(target, path).map(|_| ()),
        "replace" => {
            remove(target, path)?;
            add(target, path, value()?)
        }
        "move" => {
            let v = remove(target, from()?)?;
            add(target, path, v)
        }
        "copy" => {
            let v = target
                .pointer(from()?)
                .cloned()
                .ok_or("\"from\" does not exist")?;
            add(target, path, v)
        }
        "test" => {
            if target.pointer(path) == Some(&value()?) {
                Ok(())
            } else {
                Err(format!("test failed at {path}"))
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

fn split(path: &str) -> Result<(&str, String), String> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    let last = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..idx], last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| format!("invalid array index {last:?}"))?
            };
            if idx > a.len() {
                return Err(format!("array index {idx} out of bounds"));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(format!("path {parent:?} does not exist")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => m
            .remove(&last)
            .ok_or_else(|| format!("path {path:?} does not exist")),
        Some(Value::Array(a)) => {
            let idx = last
                .parse::<usize>()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if idx >= a.len() {
                return Err(format!("array index {idx} out of bounds"));
            }
            Ok(a.remove(idx))
        }
        _ => Err(format!("path {parent:?} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut v = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut v,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(
            v,
            json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}})
        );
    }

    #[test]
    fn strategic_directives_are_dropped() {
        let mut p = json!({"spec": {"$setElementOrder/groups": [{"name": "a"}], "x": 1}, "$retainKeys": ["spec"]});
        strip_strategic_directives(&mut p);
        assert_eq!(p, json!({"spec": {"x": 1}}));
    }

    #[test]
    fn json_patch_supports_all_operations() {
        let mut v = json!({"spec": {"a": 1, "l": [1, 2]}, "metadata": {"labels": {"x/y": "1"}}});
        json_patch(
            &mut v,
            &json!([
                {"op": "test", "path": "/spec/a", "value": 1},
                {"op": "replace", "path": "/spec/a", "value": 2},
                {"op": "add", "path": "/spec/l/-", "value": 3},
                {"op": "remove", "path": "/metadata/labels/x~1y"},
                {"op": "copy", "from": "/spec/a", "path": "/spec/b"},
                {"op": "move", "from": "/spec/b", "path": "/spec/c"}
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"spec": {"a": 2, "l": [1, 2, 3], "c": 2}, "metadata": {"labels": {}}})
        );
        assert!(json_patch(
            &mut v,
            &json!([{"op": "test", "path": "/spec/a", "value": 9}])
        )
        .is_err());
        assert!(json_patch(&mut v, &json!([{"op": "remove", "path": "/nope/x"}])).is_err());
    }
}
