//! Just enough of Kubernetes' protobuf encoding to read what kubectl sends for the built-in namespaces
//! (`kubectl create namespace`, `kubectl delete namespace`): the `k8s\0` envelope, `Namespace` (metadata and
//! spec) and `DeleteOptions` (preconditions and dry run), decoded into their JSON form.

use serde_json::{json, Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// One decoded field's payload; scalars are skipped (none of the fields read here is a number).
enum Field<'a> {
    Scalar,
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint too long".into())
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        let field = match wire {
            0 => {
                varint(buf, &mut pos)?;
                Field::Scalar
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| "length overflow")?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated field")?;
                let bytes = &buf[pos..end];
                pos = end;
                Field::Bytes(bytes)
            }
            1 => {
                pos += 8;
                Field::Scalar
            }
            5 => {
                pos += 4;
                Field::Scalar
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        if pos > buf.len() {
            return Err("truncated field".into());
        }
        out.push((number, field));
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "string field is not UTF-8".to_string())
}

fn string_map_entry(bytes: &[u8]) -> Result<(String, String), String> {
    let mut key = String::new();
    let mut value = String::new();
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = text(b)?,
            (2, Field::Bytes(b)) => value = text(b)?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn object_meta(bytes: &[u8]) -> Result<Value, String> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                meta.insert("name".into(), json!(text(b)?));
            }
            (2, Field::Bytes(b)) => {
                meta.insert("generateName".into(), json!(text(b)?));
            }
            (3, Field::Bytes(b)) => {
                meta.insert("namespace".into(), json!(text(b)?));
            }
            (5, Field::Bytes(b)) => {
                meta.insert("uid".into(), json!(text(b)?));
            }
            (6, Field::Bytes(b)) => {
                meta.insert("resourceVersion".into(), json!(text(b)?));
            }
            (11, Field::Bytes(b)) => {
                let (k, v) = string_map_entry(b)?;
                labels.insert(k, json!(v));
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = string_map_entry(b)?;
                annotations.insert(k, json!(v));
            }
            (14, Field::Bytes(b)) => finalizers.push(json!(text(b)?)),
            _ => {}
        }
    }
    meta.retain(|_, v| v.as_str().is_none_or(|s| !s.is_empty()));
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
}

/// Unwraps the `k8s\0` + `runtime.Unknown` envelope: `(apiVersion, kind, raw message)`.
fn envelope(body: &[u8]) -> Result<(String, String, &[u8]), String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("not a Kubernetes protobuf message")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (tn, tf) in fields(type_meta)? {
                    match (tn, tf) {
                        (1, Field::Bytes(b)) => api_version = text(b)?,
                        (2, Field::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    Ok((api_version, kind, raw))
}

/// Decodes a protobuf request body into its JSON form; only `v1` `Namespace` and `DeleteOptions` are known.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let (api_version, kind, raw) = envelope(body)?;
    match kind.as_str() {
        "Namespace" => {
            let mut obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {}});
            for (n, f) in fields(raw)? {
                match (n, f) {
                    (1, Field::Bytes(b)) => obj["metadata"] = object_meta(b)?,
                    (2, Field::Bytes(spec)) => {
                        let finalizers: Vec<Value> = fields(spec)?
                            .into_iter()
                            .filter_map(|(sn, sf)| match (sn, sf) {
                                (1, Field::Bytes(b)) => text(b).ok().map(Value::String),
                                _ => None,
                            })
                            .collect();
                        if !finalizers.is_empty() {
                            obj["spec"] = json!({"finalizers": finalizers});
                        }
                    }
                    _ => {}
                }
            }
            Ok(obj)
        }
        "DeleteOptions" => {
            let mut obj = json!({"apiVersion": api_version, "kind": kind});
            let mut dry_run = Vec::new();
            for (n, f) in fields(raw)? {
                match (n, f) {
                    (5, Field::Bytes(b)) => dry_run.push(json!(text(b)?)),
                    (2, Field::Bytes(pre)) => {
                        let mut p = Map::new();
                        for (pn, pf) in fields(pre)? {
                            match (pn, pf) {
                                (1, Field::Bytes(b)) => {
                                    p.insert("uid".into(), json!(text(b)?));
                                }
                                (2, Field::Bytes(b)) => {
                                    p.insert("resourceVersion".into(), json!(text(b)?));
                                }
                                _ => {}
                            }
                        }
                        obj["preconditions"] = Value::Object(p);
                    }
                    _ => {}
                }
            }
            if !dry_run.is_empty() {
                obj["dryRun"] = Value::Array(dry_run);
            }
            Ok(obj)
        }
        other => Err(format!(
            "protobuf bodies are only understood for Namespace and DeleteOptions, not {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_namespace_as_kubectl_sends_it() {
        let mut type_meta = field(1, b"v1");
        type_meta.extend(field(2, b"Namespace"));
        let mut label = field(1, b"team");
        label.extend(field(2, b"net"));
        let mut meta = field(1, b"other");
        meta.extend(field(11, &label));
        let mut ns = field(1, &meta);
        ns.extend(field(2, &[]));
        let mut body = MAGIC.to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, &ns));
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other", "labels": {"team": "net"}}})
        );
        assert!(decode(b"{}").is_err());
    }
}
