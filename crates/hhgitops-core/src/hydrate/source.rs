//! Hydrating a parsed source file in place: the documents' specs receive the hydrated values as new nodes, so
//! that everything the author wrote keeps its position for later errors, and the added values point at the
//! document's `spec`.

use serde_json::Value as Json;

use super::{hydrate, HydrateConfig, HydrateError, HydrateReport};
use crate::diag::Span;
use crate::kinds::Kind;
use crate::model::{decode_object, Object};
use crate::yaml::{Document, Node, Value};

fn json_to_node(v: &Json, span: Span) -> Node {
    let value = match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Seq(a.iter().map(|x| json_to_node(x, span)).collect()),
        Json::Object(m) => Value::Map(
            m.iter()
                .map(|(k, x)| {
                    (
                        Node {
                            span,
                            value: Value::String(k.clone()),
                        },
                        json_to_node(x, span),
                    )
                })
                .collect(),
        ),
    };
    Node { span, value }
}

/// Makes `node` hold `new`: keys and list items it lacks are added (at the position of the nearest existing
/// parent), scalars that differ are replaced, nothing the node has is removed.
fn overlay(node: &mut Node, new: &Json) {
    let span = node.span;
    match (&mut node.value, new) {
        (Value::Map(entries), Json::Object(m)) => {
            for (k, v) in m {
                match entries
                    .iter_mut()
                    .find(|(key, _)| key.key_text() == k.as_str())
                {
                    Some((_, child)) => overlay(child, v),
                    None => entries.push((
                        Node {
                            span,
                            value: Value::String(k.clone()),
                        },
                        json_to_node(v, span),
                    )),
                }
            }
        }
        (Value::Seq(items), Json::Array(a)) if items.len() <= a.len() => {
            for (i, v) in a.iter().enumerate() {
                match items.get_mut(i) {
                    Some(child) => overlay(child, v),
                    None => items.push(json_to_node(v, span)),
                }
            }
        }
        _ => {
            if node.to_json() != *new {
                *node = json_to_node(new, span);
            }
        }
    }
}

/// The typed object of a document, when its envelope names a supported kind and it decodes strictly.
fn decode_doc(root: &Node) -> Option<Object> {
    let kind = Kind::from_kind_name(root.get_key("kind")?.as_str()?)?;
    if root.get_key("apiVersion")?.as_str()? != kind.api_version() {
        return None;
    }
    decode_object(kind, root).ok()
}

/// One decoded object of a stream, with where it is.
#[derive(Debug, Clone)]
pub struct DecodedObject {
    /// 1-based document index.
    pub document: usize,
    pub object: Object,
}

/// Strictly decodes every document of a parsed stream (no object rules: hydration needs only the typed values).
/// Documents that are not Hedgehog objects or do not decode give located errors.
pub fn decode_documents(
    file: &str,
    docs: &[Document],
) -> (Vec<DecodedObject>, Vec<crate::Diagnostic>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for d in docs {
        let Some(root) = &d.root else { continue };
        let kind = root
            .get_key("kind")
            .and_then(Node::as_str)
            .and_then(Kind::from_kind_name)
            .filter(|k| root.get_key("apiVersion").and_then(Node::as_str) == Some(k.api_version()));
        let Some(kind) = kind else {
            errors.push(
                crate::Diagnostic::new("not a supported Hedgehog object: expected apiVersion and kind of one of the 17 kinds")
                    .in_file(file)
                    .in_document(d.index)
                    .at(d.span),
            );
            continue;
        };
        match decode_object(kind, root) {
            Ok(o) => out.push(DecodedObject {
                document: d.index,
                object: o,
            }),
            Err(e) => errors.push(
                crate::Diagnostic::new(e.message)
                    .in_file(file)
                    .in_document(d.index)
                    .at(e.span)
                    .with_path(&e.path)
                    .for_object(
                        kind.name(),
                        root.get_key("metadata")
                            .and_then(|m| m.get_key("name"))
                            .and_then(Node::as_str)
                            .unwrap_or(""),
                    ),
            ),
        }
    }
    (out, errors)
}

/// Hydrates the documents of one file against `existing`. Documents that do not decode are left alone (their
/// errors are reported by validation). On success, the changed documents hold the hydrated values. Errors come
/// with the index of the document they concern (`None`: the settings).
pub fn hydrate_documents<'a>(
    docs: &mut [Document],
    existing: impl IntoIterator<Item = &'a Object>,
    cfg: &HydrateConfig,
) -> Result<HydrateReport, Vec<(Option<usize>, HydrateError)>> {
    let mut at: Vec<usize> = Vec::new();
    let mut objects: Vec<Object> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if let Some(o) = d.root.as_ref().and_then(decode_doc) {
            // The second of two objects with the same kind and name is a duplicate that validation reports.
            if !objects
                .iter()
                .any(|p| p.kind() == o.kind() && p.name() == o.name())
            {
                at.push(i);
                objects.push(o);
            }
        }
    }
    match hydrate(&mut objects, existing, cfg) {
        Ok(report) => {
            for &i in &report.changed {
                let spec = objects[i].spec.to_json();
                if let Some(root) = docs[at[i]].root.as_mut() {
                    let span = root.span;
                    if let Value::Map(entries) = &mut root.value {
                        match entries.iter_mut().find(|(k, _)| k.key_text() == "spec") {
                            Some((_, node)) => overlay(node, &spec),
                            None => entries.push((
                                Node {
                                    span,
                                    value: Value::String("spec".into()),
                                },
                                json_to_node(&spec, span),
                            )),
                        }
                    }
                }
            }
            Ok(report)
        }
        Err(errors) => Err(errors
            .into_iter()
            .map(|e| {
                let doc = e.kind.and_then(|k| {
                    objects
                        .iter()
                        .position(|o| o.kind() == k && o.name() == e.name)
                        .map(|i| docs[at[i]].index)
                });
                (doc, e)
            })
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::FabricSettings;
    use crate::yaml::{parse_stream, Limits};

    #[test]
    fn overlay_adds_keys_and_keeps_positions() {
        let src = b"apiVersion: wiring.githedgehog.com/v1beta1\nkind: Switch\nmetadata:\n  name: s1\nspec:\n  role: spine\n  description: x\n";
        let mut docs = parse_stream(src, &Limits::default()).unwrap();
        let cfg = HydrateConfig::from_settings(&FabricSettings::default());
        let rep = hydrate_documents(&mut docs, [], &cfg).unwrap();
        assert_eq!(rep.changed.len(), 1);
        let root = docs[0].root.as_ref().unwrap();
        let spec = root.get_key("spec").unwrap();
        assert_eq!(spec.get_key("ip").unwrap().as_str(), Some("172.30.0.6/21"));
        assert_eq!(spec.get_key("role").unwrap().span, Span::new(6, 9));
        assert_eq!(
            spec.get_key("asn").unwrap().to_json(),
            serde_json::json!(65100)
        );
    }
}
