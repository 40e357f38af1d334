//! The state of a fabric as validation sees it: typed objects keyed by (kind, name), each with its origin (file,
//! document, and optionally the parsed node) so that cross-object errors point at the referencing field.
//!
//! Insertion order matters: when two objects collide (a port used twice, a VLAN reused), the error goes to the one
//! inserted later. Callers insert what is already accepted (the managed files) before what is being ingested.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diag::Span;
use crate::kinds::Kind;
use crate::model::{Object, Spec};
use crate::yaml::Node;

/// Where an object comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file as the operator knows it (`raw/vpcs.yaml`, `managed/vpcs/vpc-1.yaml`).
    pub file: Arc<str>,
    /// 1-based document index within the file.
    pub document: usize,
    /// Where the document starts (errors fall back to it when `root` is absent).
    pub span: Span,
    /// The document's parsed root, for locating fields; `None` to save memory (errors are then reported at
    /// `span`).
    pub root: Option<Arc<Node>>,
}

/// One object of the state.
#[derive(Debug, Clone)]
pub struct StateEntry {
    /// The object as written (what is applied and normalized).
    pub object: Arc<Object>,
    /// The spec as the fabric stores it ([`crate::defaults::default_object`]): what the cross-object rules
    /// judge, as the fabric's webhooks see the other objects defaulted. Only the spec is kept: no rule reads the
    /// metadata the defaulting derives (labels of every Connection, the namespace), and keeping it cost more
    /// memory than the spec itself.
    pub defaulted: Spec,
    pub origin: Origin,
    /// Insertion sequence number (see the module documentation).
    pub seq: u64,
}

/// Objects of one fabric, keyed by (kind, name).
#[derive(Debug, Clone, Default)]
pub struct FabricState {
    by_kind: [BTreeMap<String, StateEntry>; 17],
    next_seq: u64,
}

fn slot(kind: Kind) -> usize {
    kind as usize
}

impl FabricState {
    pub fn new() -> Self {
        FabricState::default()
    }

    /// Inserts (or replaces) an object; returns the entry it replaced. A replaced object keeps its place in the
    /// insertion order.
    pub fn insert(&mut self, object: Arc<Object>, origin: Origin) -> Option<StateEntry> {
        let kind = object.kind();
        let name = object.name().to_string();
        let map = &mut self.by_kind[slot(kind)];
        let seq = match map.get(&name) {
            Some(prev) => prev.seq,
            None => {
                self.next_seq += 1;
                self.next_seq
            }
        };
        // Most specs the defaults leave as they are: those share the authored copy (memory).
        let d = crate::defaults::default_object(&object).spec;
        let defaulted = if d == object.spec {
            object.spec.clone()
        } else {
            d
        };
        map.insert(
            name,
            StateEntry {
                object,
                defaulted,
                origin,
                seq,
            },
        )
    }

    pub fn remove(&mut self, kind: Kind, name: &str) -> Option<StateEntry> {
        self.by_kind[slot(kind)].remove(name)
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&StateEntry> {
        self.by_kind[slot(kind)].get(name)
    }

    pub fn contains(&self, kind: Kind, name: &str) -> bool {
        self.by_kind[slot(kind)].contains_key(name)
    }

    /// Objects of one kind, by name.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&str, &StateEntry)> {
        self.by_kind[slot(kind)]
            .iter()
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Objects of one kind in insertion order.
    pub fn of_kind_in_order(&self, kind: Kind) -> Vec<(&str, &StateEntry)> {
        let mut v: Vec<_> = self.of_kind(kind).collect();
        v.sort_by_key(|(_, e)| e.seq);
        v
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.by_kind[slot(kind)].len()
    }

    pub fn len(&self) -> usize {
        self.by_kind.iter().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every object, in kind (apply) order, then by name.
    pub fn iter(&self) -> impl Iterator<Item = &StateEntry> {
        self.by_kind.iter().flat_map(|m| m.values())
    }

    /// Adds every object of a parsed file (see [`crate::validate::parse_source`]).
    pub fn insert_report(&mut self, file: &str, report: &crate::validate::SourceReport) {
        let file: Arc<str> = Arc::from(file);
        for o in &report.objects {
            let origin = Origin {
                file: file.clone(),
                document: o.document,
                span: o.span,
                root: o.root.clone(),
            };
            self.insert(o.object.clone(), origin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_all_kinds() {
        let mut seen = [false; 17];
        for k in Kind::ALL {
            seen[slot(k)] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn insert_keeps_order_on_replace() {
        let mut st = FabricState::new();
        let o =
            |n: &str| Arc::new(Object::from_json(Kind::Server, n, serde_json::json!({})).unwrap());
        let origin = || Origin {
            file: Arc::from("f"),
            document: 1,
            span: Span::default(),
            root: None,
        };
        st.insert(o("b"), origin());
        st.insert(o("a"), origin());
        assert!(st.insert(o("b"), origin()).is_some());
        let names: Vec<_> = st
            .of_kind_in_order(Kind::Server)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(st.len(), 2);
    }
}
