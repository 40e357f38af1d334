//! One parsed document → one typed object: the envelope checks (mapping, apiVersion, kind, name, namespace), the
//! strict typed decode and the object rules, each error located in the document.

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::kinds::Kind;
use crate::model::{decode_object, Object};
use crate::path::FieldPath;
use crate::settings::FabricSettings;
use crate::yaml::{Node, Value};
use crate::{field_path, Span};

use super::check::{rfc1123_subdomain_problem, Findings};

/// Longest object name hhgitops can keep: `<name>.yaml` must fit the file systems' 255-byte file names.
pub const MAX_OBJECT_NAME: usize = 255 - ".yaml".len();
use super::object::check_object;

/// The result of checking one non-empty document.
pub(crate) struct CheckedDocument {
    /// Present when the document decoded into a typed object (even if object rules failed).
    pub object: Option<(Object, Arc<Node>)>,
    pub kind: Option<Kind>,
    pub name: Option<String>,
    pub errors: Vec<Diagnostic>,
}

fn map_get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.value {
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::String(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Int(i) => format!("the number {i}"),
        Value::UInt(u) => format!("the number {u}"),
        Value::Float(x) => format!("the number {x}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Seq(_) => "a list".into(),
        Value::Map(_) => "a mapping".into(),
    }
}

fn kinds_list() -> String {
    Kind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

struct Ctx<'a> {
    doc: usize,
    root: &'a Node,
    errors: Vec<Diagnostic>,
    kind: Option<String>,
    name: Option<String>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Span, path: &FieldPath, message: impl Into<String>) {
        let mut d = Diagnostic::new(message)
            .in_document(self.doc)
            .at(span)
            .with_path(path);
        d.kind = self.kind.clone();
        d.name = self.name.clone();
        self.errors.push(d);
    }

    /// A string field of the envelope; records an error and returns `None` when absent or not a string.
    fn string_field<'n>(
        &mut self,
        parent: &'n Node,
        path: FieldPath,
        expected: &str,
    ) -> Option<&'n str> {
        let key = match path.0.last() {
            Some(crate::path::PathSegment::Key(k)) => k.clone(),
            _ => return None,
        };
        match map_get(parent, &key) {
            None => {
                self.err(
                    super::check::locate(self.root, &path),
                    &path,
                    format!("missing required field: expected {expected}"),
                );
                None
            }
            Some(Node {
                value: Value::String(s),
                ..
            }) => Some(s.as_str()),
            Some(n) => {
                let found = describe(&n.value);
                self.err(n.span, &path, format!("expected {expected}, found {found}"));
                None
            }
        }
    }
}

/// Resolves `kind`/`apiVersion` to a supported kind or explains why not.
fn resolve_kind(kind: &str, api_version: &str) -> Result<Kind, (bool, String)> {
    let Some(k) = Kind::from_kind_name(kind) else {
        let hint = match Kind::from_user_input(kind) {
            Some(k) => format!(" (did you mean {k}?)"),
            None => String::new(),
        };
        return Err((
            true,
            format!(
                "unknown kind {kind:?}{hint}: expected one of {}",
                kinds_list()
            ),
        ));
    };
    if api_version == k.api_version() {
        return Ok(k);
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let msg = if group == k.group().name() {
        format!(
            "version {version:?} of API group {group} is not supported for kind {k}: expected apiVersion {}, found {api_version:?}",
            k.api_version()
        )
    } else {
        format!(
            "kind {k} belongs to API group {}, not {:?}: expected apiVersion {}, found {api_version:?}",
            k.group().name(),
            group,
            k.api_version()
        )
    };
    Err((false, msg))
}

/// Checks one non-empty document.
pub(crate) fn check_document(
    index: usize,
    root_arc: Arc<Node>,
    settings: &FabricSettings,
) -> CheckedDocument {
    let root: &Node = &root_arc;
    let mut cx = Ctx {
        doc: index,
        root,
        errors: Vec::new(),
        kind: None,
        name: None,
    };
    if !matches!(root.value, Value::Map(_)) {
        let found = describe(&root.value);
        cx.err(
            root.span,
            &FieldPath::root(),
            format!("expected a mapping (an API object with apiVersion, kind, metadata and spec), found {found}"),
        );
        return CheckedDocument {
            object: None,
            kind: None,
            name: None,
            errors: cx.errors,
        };
    }
    // kind and name first, so that the other errors can carry them.
    let kind_s = cx
        .string_field(
            root,
            field_path!("kind"),
            "a kind such as VPC or Connection",
        )
        .map(str::to_string);
    cx.kind = kind_s.clone();
    let meta = map_get(root, "metadata");
    let name = match meta {
        Some(m) if matches!(m.value, Value::Map(_)) => cx
            .string_field(m, field_path!("metadata", "name"), "the object's name")
            .map(str::to_string),
        _ => None,
    };
    cx.name = name.clone();
    let api_version = cx
        .string_field(
            root,
            field_path!("apiVersion"),
            "an apiVersion such as vpc.githedgehog.com/v1beta1",
        )
        .map(str::to_string);
    match meta {
        None => cx.err(
            root.span,
            &field_path!("metadata"),
            "missing required field: expected a mapping with the object's name",
        ),
        Some(m) if !matches!(m.value, Value::Map(_)) => {
            let found = describe(&m.value);
            cx.err(
                m.span,
                &field_path!("metadata"),
                format!("expected a mapping with the object's name, found {found}"),
            );
        }
        Some(_) => {}
    }

    let mut kind = None;
    if let (Some(k), Some(av)) = (&kind_s, &api_version) {
        match resolve_kind(k, av) {
            Ok(k) => kind = Some(k),
            Err((unknown_kind, msg)) => {
                let (path, node) = if unknown_kind {
                    ("kind", map_get(root, "kind"))
                } else {
                    ("apiVersion", map_get(root, "apiVersion"))
                };
                let span = node.map(|n| n.span).unwrap_or(root.span);
                cx.err(span, &field_path!(path), msg);
            }
        }
    }
    if let Some(n) = &name {
        if let Some(problem) = rfc1123_subdomain_problem(n) {
            let span = meta
                .and_then(|m| map_get(m, "name"))
                .map(|n| n.span)
                .unwrap_or(root.span);
            cx.err(
                span,
                &field_path!("metadata", "name"),
                format!("invalid name: {problem}"),
            );
        } else if n.len() > MAX_OBJECT_NAME {
            let span = meta
                .and_then(|m| map_get(m, "name"))
                .map(|n| n.span)
                .unwrap_or(root.span);
            cx.err(
                span,
                &field_path!("metadata", "name"),
                format!(
                    "name is {} characters long: hhgitops keeps each object in a file named <name>.yaml, and file systems take names of at most 255 bytes, so names are limited to {MAX_OBJECT_NAME} characters",
                    n.len()
                ),
            );
        }
    }
    if let Some(ns) = meta.and_then(|m| map_get(m, "namespace")) {
        match &ns.value {
            Value::String(s) if s == "default" => {}
            Value::Null => {}
            v => {
                let found = describe(v);
                cx.err(ns.span, &field_path!("metadata", "namespace"), format!("only the default namespace is supported: expected default (or no namespace), found {found}"));
            }
        }
    }
    let (Some(kind), Some(name)) = (kind, name) else {
        return CheckedDocument {
            object: None,
            kind: None,
            name: cx.name.clone(),
            errors: cx.errors,
        };
    };
    if !cx.errors.is_empty() {
        return CheckedDocument {
            object: None,
            kind: Some(kind),
            name: Some(name),
            errors: cx.errors,
        };
    }

    let object = match decode_object(kind, root) {
        Ok(o) => o,
        Err(e) => {
            cx.err(e.span, &e.path, e.message);
            return CheckedDocument {
                object: None,
                kind: Some(kind),
                name: Some(name),
                errors: cx.errors,
            };
        }
    };
    // The fabric's mutating webhook defaults the object before anything judges it (CATALOGUE §1a).
    let mut f = Findings::new();
    check_object(&crate::defaults::default_object(&object), settings, &mut f);
    for finding in f.items {
        let span = super::check::locate(cx.root, &finding.path);
        cx.err(span, &finding.path, finding.message);
    }
    CheckedDocument {
        object: Some((object, root_arc.clone())),
        kind: Some(kind),
        name: Some(name),
        errors: cx.errors,
    }
}
