//! Looking nodes up by field path, describing them in messages, and converting them to JSON.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::resolve::{abbreviate, key_string};
use super::{Node, Value};
use crate::diag::Span;
use crate::path::{FieldPath, PathSegment};

impl Node {
    /// The position of the node at `path`, or of its deepest existing ancestor.
    pub fn locate(&self, path: &FieldPath) -> Span {
        let mut cur = self;
        for seg in &path.0 {
            match cur.child(seg) {
                Some(next) => cur = next,
                None => break,
            }
        }
        cur.span
    }

    /// Like [`Node::locate`], but when `path` ends in a mapping key that exists, the position of that key
    /// rather than of its value: where "unknown field" and "forbidden field" messages point.
    pub fn locate_key(&self, path: &FieldPath) -> Span {
        if let Some((PathSegment::Key(k), parent)) = path.0.split_last() {
            let mut cur = self;
            for seg in parent {
                match cur.child(seg) {
                    Some(next) => cur = next,
                    None => return cur.span,
                }
            }
            return match cur.entry(k) {
                Some((key, _)) => key.span,
                None => cur.span,
            };
        }
        self.locate(path)
    }

    /// The node at `path`, if it exists.
    pub fn get(&self, path: &FieldPath) -> Option<&Node> {
        path.0.iter().try_fold(self, |cur, seg| cur.child(seg))
    }

    /// The value under `key`, when this node is a mapping that has it.
    pub fn get_key(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key and value nodes of the entry `key`, when this node is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.key_text() == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    fn child(&self, seg: &PathSegment) -> Option<&Node> {
        match (seg, &self.value) {
            (PathSegment::Key(k), Value::Map(_)) => self.get_key(k),
            (PathSegment::Index(i), Value::Seq(items)) => items.get(*i),
            _ => None,
        }
    }

    /// The string, when this node is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, when this node is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items, when this node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The text of a node used as a mapping key. Parsed keys are always strings; for nodes built by hand,
    /// other scalars convert as Kubernetes converts keys, and collections or null give an empty string.
    pub fn key_text(&self) -> Cow<'_, str> {
        match &self.value {
            Value::String(s) => Cow::Borrowed(s),
            other => Cow::Owned(key_string(other).unwrap_or_default()),
        }
    }

    /// What the node is, for messages: `null`, `boolean true`, `integer 5`, `number 1.5`,
    /// `string "abc"`, `a list`, `a mapping`.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Int(i) => format!("integer {i}"),
            Value::UInt(u) => format!("integer {u}"),
            Value::Float(f) => format!("number {}", float_text(*f)),
            Value::String(s) => format!("string {:?}", abbreviate(s, 60)),
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }

    /// The node as JSON (keys in source order). Floats JSON cannot hold (`.inf`, `.nan`; Kubernetes rejects
    /// them) become null; [`super::decode`] reports them as errors instead. Built without recursion.
    pub fn to_json(&self) -> Json {
        enum Open<'a> {
            Seq(Vec<Json>, std::slice::Iter<'a, Node>),
            Map(
                serde_json::Map<String, Json>,
                std::slice::Iter<'a, (Node, Node)>,
                String,
            ),
        }
        fn open(node: &Node) -> Result<Open<'_>, Json> {
            match &node.value {
                Value::Seq(items) => Ok(Open::Seq(Vec::with_capacity(items.len()), items.iter())),
                Value::Map(entries) => Ok(Open::Map(
                    serde_json::Map::new(),
                    entries.iter(),
                    String::new(),
                )),
                _ => Err(scalar_json(&node.value)),
            }
        }
        let mut stack = match open(self) {
            Ok(o) => vec![o],
            Err(scalar) => return scalar,
        };
        loop {
            let Some(top) = stack.last_mut() else {
                return Json::Null;
            };
            let next = match top {
                Open::Seq(_, iter) => iter.next(),
                Open::Map(_, iter, pending) => iter.next().map(|(k, v)| {
                    *pending = k.key_text().into_owned();
                    v
                }),
            };
            let done = match next {
                Some(child) => match open(child) {
                    Ok(o) => {
                        stack.push(o);
                        continue;
                    }
                    Err(scalar) => scalar,
                },
                None => match stack.pop() {
                    Some(Open::Seq(items, _)) => Json::Array(items),
                    Some(Open::Map(map, _, _)) => Json::Object(map),
                    None => Json::Null,
                },
            };
            match stack.last_mut() {
                Some(Open::Seq(items, _)) => items.push(done),
                Some(Open::Map(map, _, pending)) => {
                    map.insert(std::mem::take(pending), done);
                }
                None => return done,
            }
        }
    }
}

fn scalar_json(v: &Value) -> Json {
    match v {
        Value::Null | Value::Seq(_) | Value::Map(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
    }
}

/// A float as YAML writes it: `1.5`, `.inf`, `-.inf`, `.nan`.
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        format!("{f:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_path;
    use crate::yaml::{parse_stream, Limits};

    fn root(s: &str) -> Node {
        let docs = parse_stream(s.as_bytes(), &Limits::default()).unwrap_or_default();
        docs.into_iter()
            .next()
            .and_then(|d| d.root)
            .unwrap_or(Node {
                span: Span::default(),
                value: Value::Null,
            })
    }

    #[test]
    fn get_and_locate() {
        let n =
            root("spec:\n  links:\n  - server:\n      port: s1/eth0\n  labels:\n    a.b/c: x\n");
        let port = field_path!("spec", "links", 0usize, "server", "port");
        assert_eq!(n.get(&port).and_then(Node::as_str), Some("s1/eth0"));
        assert_eq!(n.locate(&port), Span::new(4, 13));
        assert_eq!(n.locate_key(&port), Span::new(4, 7));
        // Missing leaf → deepest existing ancestor.
        assert_eq!(
            n.locate(&field_path!("spec", "links", 0usize, "switch", "port")),
            Span::new(3, 5)
        );
        assert_eq!(
            n.locate_key(&field_path!("spec", "links", 0usize, "nope")),
            Span::new(3, 5)
        );
        assert_eq!(
            n.locate(&field_path!("spec", "links", 5usize)),
            Span::new(3, 3)
        );
        assert!(n.get(&field_path!("spec", "links", 5usize)).is_none());
        let label = field_path!("spec", "labels", "a.b/c");
        assert_eq!(n.get(&label).and_then(Node::as_str), Some("x"));
        assert_eq!(n.locate(&FieldPath::root()), Span::new(1, 1));
        // Index into a mapping, key into a list: no such node.
        assert!(n.get(&field_path!("spec", 0usize)).is_none());
        assert!(n.get(&field_path!("spec", "links", "x")).is_none());
    }

    #[test]
    fn to_json_keeps_order_and_types() {
        let n = root(
            "z: 1\na: [true, ~, 1.5, 'x', {k: -3}]\nm: {}\nbig: 18446744073709551615\ninf: .inf\n",
        );
        let j = n.to_json();
        assert_eq!(
            j,
            serde_json::json!({"z": 1, "a": [true, null, 1.5, "x", {"k": -3}], "m": {}, "big": u64::MAX, "inf": null})
        );
        let keys: Vec<_> = j
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["z", "a", "m", "big", "inf"]);
        assert_eq!(root("plain").to_json(), serde_json::json!("plain"));
    }

    #[test]
    fn deep_trees_convert_without_recursion() {
        let mut node = Node {
            span: Span::default(),
            value: Value::Int(1),
        };
        for _ in 0..100_000 {
            node = Node {
                span: Span::default(),
                value: Value::Seq(vec![node]),
            };
        }
        let mut j = node.to_json();
        let mut depth = 0;
        while let Json::Array(mut items) = j {
            depth += 1;
            j = items.pop().unwrap_or(Json::Null);
        }
        assert_eq!((depth, j), (100_000, Json::from(1)));
        // Tear down without recursion too.
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if let Value::Seq(items) = n.value {
                stack.extend(items);
            }
        }
    }

    #[test]
    fn describe_names_the_type_and_value() {
        assert_eq!(root("5").describe(), "integer 5");
        assert_eq!(root("'5'").describe(), "string \"5\"");
        assert_eq!(root("[1]").describe(), "a list");
        assert_eq!(root("a: 1").describe(), "a mapping");
        assert_eq!(root("~").describe(), "null");
        assert_eq!(root("1.5").describe(), "number 1.5");
        assert_eq!(root("-.inf").describe(), "number -.inf");
    }
}
