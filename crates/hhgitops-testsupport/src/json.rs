//! JSON output: parsed, and held to SPEC §7's camelCase convention.

use std::process::Output;

use crate::stdout;

/// Parses stdout as one JSON document and checks that every key is camelCase ([`assert_camel_case`]).
pub fn json(out: &Output) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)));
    assert_camel_case(&v);
    v
}

/// Parses every line of stdout as a JSON document (`ingest --watch --json`), each checked as [`json`] does.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert_camel_case(&v);
            v
        })
        .collect()
}

/// Maps whose keys are data, not field names: object counts by kind (`{"VPC": 3}`), fabric settings by name,
/// HTTP headers. Their values are still walked.
const DATA_KEYED: &[&str] = &["counts", "values", "kinds", "headers", "progress"];

/// Fields whose whole value is data (a setting's value, a field's value in Git or in the cluster, an object as
/// JSON, labels): not walked.
const OPAQUE: &[&str] = &["value", "desired", "live", "json", "labels", "annotations"];

/// A key of SPEC §7's convention: a lower-case ASCII letter, then letters and digits (`rootRule`, `inSync`).
pub fn is_camel_case(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// The keys of `v`, at any depth, that are not camelCase, each with its JSON path. The entries of
/// [`DATA_KEYED`] maps, the [`OPAQUE`] values and Kubernetes objects (anything with `apiVersion` and `kind`, whose keys are the
/// API's) are data and not judged.
pub fn non_camel_case_keys(v: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: &str, data_keys: bool, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.contains_key("apiVersion") && m.contains_key("kind") {
                    return;
                }
                for (k, child) in m {
                    if !data_keys && !is_camel_case(k) {
                        out.push(format!("{path}.{k}"));
                    }
                    if OPAQUE.contains(&k.as_str()) {
                        continue;
                    }
                    let data = !data_keys && DATA_KEYED.contains(&k.as_str());
                    walk(child, &format!("{path}.{k}"), data, out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), false, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "$", false, &mut out);
    out
}

/// Fails on any key of `v` that is not camelCase (see [`non_camel_case_keys`]).
pub fn assert_camel_case(v: &serde_json::Value) {
    let bad = non_camel_case_keys(v);
    assert!(
        bad.is_empty(),
        "keys that are not camelCase: {bad:?} in {v}"
    );
}
