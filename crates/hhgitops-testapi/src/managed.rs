//! Field ownership: field sets, `metadata.managedFields` in the FieldsV1 format, server-side apply (merge,
//! conflicts, removal of fields a manager stopped applying) and the bookkeeping of ordinary updates.
//!
//! Simplifications against structured-merge-diff, chosen because the Hedgehog CRDs declare no list types:
//! every list is atomic (owned and replaced as a whole), objects and maps are granular unless
//! `x-kubernetes-map-type: atomic`, and sets hold leaf paths only.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::schema::Schema;

/// A path of field names and map keys from the object root (`["spec", "subnets", "default", "vlan"]`).
pub type FieldPath = Vec<String>;

/// The fields one manager owns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<FieldPath>);

/// Which part of an object a write addresses: the main resource or its `status` subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Main { status_subresource: bool },
    Status,
}

impl Scope {
    fn subresource(self) -> &'static str {
        match self {
            Scope::Main { .. } => "",
            Scope::Status => "status",
        }
    }

    fn covers(self, top_level: &str) -> bool {
        match self {
            Scope::Main { status_subresource } => !(status_subresource && top_level == "status"),
            Scope::Status => top_level == "status",
        }
    }
}

/// Metadata fields the server owns; they never appear in field sets.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

fn pretty_path(path: &FieldPath) -> String {
    path.iter().map(|s| format!(".{s}")).collect()
}

impl FieldSet {
    /// The leaf fields of `obj` in `scope` (scalars, lists, empty objects, atomic maps).
    pub fn leaves(obj: &Value, schema: Option<&Schema>, scope: Scope) -> FieldSet {
        let mut out = BTreeSet::new();
        let Some(map) = obj.as_object() else {
            return FieldSet(out);
        };
        for (key, value) in map {
            if key == "apiVersion" || key == "kind" || value.is_null() {
                continue;
            }
            if key == "metadata" {
                if scope == Scope::Status {
                    continue;
                }
                if let Some(meta) = value.as_object() {
                    for (mk, mv) in meta {
                        if SERVER_METADATA.contains(&mk.as_str()) || mv.is_null() {
                            continue;
                        }
                        let mut path = vec!["metadata".to_string(), mk.clone()];
                        walk_leaves(mv, None, &mut path, &mut out);
                    }
                }
                continue;
            }
            if !scope.covers(key) {
                continue;
            }
            let mut path = vec![key.clone()];
            walk_leaves(
                value,
                schema.and_then(|s| s.child(key)),
                &mut path,
                &mut out,
            );
        }
        FieldSet(out)
    }

    /// Serializes as FieldsV1 (`{"f:spec":{"f:role":{}}}`, with `"."` marking a member that has children).
    pub fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Trie {
            member: bool,
            children: BTreeMap<String, Trie>,
        }
        fn to_value(t: &Trie) -> Value {
            let mut m = Map::new();
            if t.member && !t.children.is_empty() {
                m.insert(".".into(), json!({}));
            }
            for (k, c) in &t.children {
                m.insert(format!("f:{k}"), to_value(c));
            }
            Value::Object(m)
        }
        let mut root = Trie::default();
        for path in &self.0 {
            let mut node = &mut root;
            for seg in path {
                node = node.children.entry(seg.clone()).or_default();
            }
            node.member = true;
        }
        to_value(&root)
    }

    /// Parses FieldsV1. List-item keys (`k:`, `v:`, `i:`), which this server never writes, are read as
    /// ownership of the whole list.
    pub fn from_fields_v1(value: &Value) -> FieldSet {
        fn collect(v: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
            let Some(m) = v.as_object() else { return };
            if m.is_empty() {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
                return;
            }
            for (k, child) in m {
                if k == "." {
                    if !path.is_empty() {
                        out.insert(path.clone());
                    }
                } else if let Some(name) = k.strip_prefix("f:") {
                    path.push(name.to_string());
                    collect(child, path, out);
                    path.pop();
                } else if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
        let mut out = BTreeSet::new();
        collect(value, &mut Vec::new(), &mut out);
        FieldSet(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn walk_leaves(
    value: &Value,
    schema: Option<&Schema>,
    path: &mut FieldPath,
    out: &mut BTreeSet<FieldPath>,
) {
    match value {
        Value::Object(m) if !m.is_empty() && !schema.is_some_and(Schema::is_atomic_map) => {
            let mut any = false;
            for (k, v) in m {
                if v.is_null() {
                    continue;
                }
                any = true;
                path.push(k.clone());
                walk_leaves(v, schema.and_then(|s| s.child(k)), path, out);
                path.pop();
            }
            if !any {
                out.insert(path.clone());
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path`, if every step exists.
pub fn get_path<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in path {
        cur = cur.as_object()?.get(seg)?;
    }
    Some(cur)
}

/// Removes the field at `path`, then removes ancestors (below the top level) that became empty and that no
/// manager owns.
fn remove_path(value: &mut Value, path: &[String], owned: &dyn Fn(&[String]) -> bool) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = &mut *value;
    for seg in parents {
        match cur.as_object_mut().and_then(|m| m.get_mut(seg)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
    let mut depth = parents.len();
    while depth >= 2 {
        let ancestor = &path[..depth];
        let empty =
            get_path(value, ancestor).is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
        if !empty || owned(ancestor) {
            break;
        }
        if let Some(Value::Object(parent)) = get_path_mut(value, &path[..depth - 1]) {
            parent.remove(&path[depth - 1]);
        }
        depth -= 1;
    }
}

fn get_path_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = value;
    for seg in path {
        cur = cur.as_object_mut()?.get_mut(seg)?;
    }
    Some(cur)
}

/// `Apply` or `Update`, as recorded in `managedFields[].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    /// `""` for the main resource, `"status"` for the status subresource.
    pub subresource: String,
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Reads `metadata.managedFields`; malformed entries are skipped.
pub fn read_entries(obj: &Value) -> Vec<ManagedEntry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let operation = match e.get("operation")?.as_str()? {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return None,
            };
            Some(ManagedEntry {
                manager: e
                    .get("manager")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                operation,
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                fields: e
                    .get("fieldsV1")
                    .map(FieldSet::from_fields_v1)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Writes `metadata.managedFields` (removed when no entry is left).
pub fn write_entries(obj: &mut Value, entries: &[ManagedEntry]) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
        return;
    }
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("apiVersion".into(), json!(e.api_version));
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), e.fields.to_fields_v1());
            m.insert("manager".into(), json!(e.manager));
            m.insert(
                "operation".into(),
                json!(match e.operation {
                    Operation::Apply => "Apply",
                    Operation::Update => "Update",
                }),
            );
            if !e.subresource.is_empty() {
                m.insert("subresource".into(), json!(e.subresource));
            }
            m.insert("time".into(), json!(e.time));
            Value::Object(m)
        })
        .collect();
    meta.insert("managedFields".into(), Value::Array(list));
}

/// Drops owned paths that no longer exist in `obj`, then entries that own nothing.
pub fn retain_existing(entries: &mut Vec<ManagedEntry>, obj: &Value) {
    for e in entries.iter_mut() {
        e.fields.0.retain(|p| get_path(obj, p).is_some());
    }
    entries.retain(|e| !e.fields.is_empty());
}

/// A field another manager owns with a different value than the applied one.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// `"kubectl"`, or `"kubectl-edit" using v1` for an Update manager, as the real server prints it.
    pub manager: String,
    /// `.spec.role`
    pub path: String,
}

/// Everything one server-side apply needs.
pub struct ApplyInput<'a> {
    /// The live object, with its `managedFields`; `None` when the apply creates the object.
    pub live: Option<&'a Value>,
    /// The applied configuration: pruned, without nulls.
    pub config: &'a Value,
    pub manager: &'a str,
    pub api_version: &'a str,
    pub force: bool,
    pub schema: Option<&'a Schema>,
    pub scope: Scope,
    pub now: &'a str,
}

/// Merges an applied configuration into the live object: the applier takes ownership of what it applied,
/// fields it applied before and no longer applies are removed unless someone else owns them, and fields
/// owned by other managers that the apply would change are conflicts (taken over when `force`).
///
/// Returns the merged object (without `managedFields`) and the new entries.
pub fn apply(input: &ApplyInput<'_>) -> Result<(Value, Vec<ManagedEntry>), Vec<Conflict>> {
    let mut entries = input.live.map(read_entries).unwrap_or_default();
    let mut base = input.live.cloned().unwrap_or_else(|| json!({}));
    if let Some(meta) = base.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let config_set = FieldSet::leaves(input.config, input.schema, input.scope);

    let mut merged = base.clone();
    if let (Some(target), Some(config)) = (merged.as_object_mut(), input.config.as_object()) {
        for (key, value) in config {
            if key == "metadata" {
                let meta = target.entry("metadata").or_insert_with(|| json!({}));
                if let Some(cfg_meta) = value.as_object() {
                    for (mk, mv) in cfg_meta {
                        if (SERVER_METADATA.contains(&mk.as_str())
                            && mk != "name"
                            && mk != "namespace")
                            || input.scope == Scope::Status
                        {
                            continue;
                        }
                        if let Some(meta) = meta.as_object_mut() {
                            match meta.get_mut(mk) {
                                Some(existing) => merge_value(existing, mv, None),
                                None => {
                                    meta.insert(mk.clone(), mv.clone());
                                }
                            }
                        }
                    }
                }
            } else if key == "apiVersion" || key == "kind" {
                target.insert(key.clone(), value.clone());
            } else if input.scope.covers(key) {
                let child = input.schema.and_then(|s| s.child(key));
                match target.get_mut(key) {
                    Some(existing) => merge_value(existing, value, child),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
    }

    let subresource = input.scope.subresource();
    let is_own = |e: &ManagedEntry| e.manager == input.manager;
    let mut conflicts = Vec::new();
    let mut conflicting: Vec<(usize, FieldPath)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if is_own(e) {
            continue;
        }
        for p in &e.fields.0 {
            if get_path(&base, p) != get_path(&merged, p) {
                conflicts.push(Conflict {
                    manager: e.describe(),
                    path: pretty_path(p),
                });
                conflicting.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !input.force {
        return Err(conflicts);
    }
    for (i, p) in conflicting {
        entries[i].fields.0.remove(&p);
    }
    // What the applier applied now belongs to its Apply entry, not to its earlier updates.
    for e in entries.iter_mut() {
        if is_own(e) && e.operation == Operation::Update && e.subresource == subresource {
            e.fields.0.retain(|p| !config_set.0.contains(p));
        }
    }

    let own_apply = entries
        .iter()
        .position(|e| is_own(e) && e.operation == Operation::Apply && e.subresource == subresource);
    let previous = own_apply
        .map(|i| entries[i].fields.clone())
        .unwrap_or_default();
    let others: Vec<FieldPath> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != own_apply)
        .flat_map(|(_, e)| e.fields.0.iter().cloned())
        .collect();
    let owned_by_others = |p: &[String]| others.iter().any(|q| q.starts_with(p));
    for p in previous.0.difference(&config_set.0) {
        if !owned_by_others(p) && !config_set.0.iter().any(|q| q.starts_with(p)) {
            remove_path(&mut merged, p, &|a| {
                owned_by_others(a) || config_set.0.iter().any(|q| q.starts_with(a))
            });
        }
    }

    let entry = ManagedEntry {
        manager: input.manager.to_string(),
        operation: Operation::Apply,
        api_version: input.api_version.to_string(),
        time: input.now.to_string(),
        subresource: subresource.to_string(),
        fields: config_set,
    };
    match own_apply {
        Some(i) => {
            let unchanged =
                entries[i].fields == entry.fields && entries[i].api_version == entry.api_version;
            let time = if unchanged {
                entries[i].time.clone()
            } else {
                entry.time.clone()
            };
            entries[i] = ManagedEntry { time, ..entry };
        }
        None => entries.push(entry),
    }
    entries.retain(|e| !e.fields.is_empty());
    Ok((merged, entries))
}

fn merge_value(target: &mut Value, config: &Value, schema: Option<&Schema>) {
    match (target, config) {
        (Value::Object(t), Value::Object(c)) if !schema.is_some_and(Schema::is_atomic_map) => {
            for (k, v) in c {
                let child = schema.and_then(|s| s.child(k));
                match t.get_mut(k) {
                    Some(existing) => merge_value(existing, v, child),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, c) => *t = c.clone(),
    }
}

/// Records an ordinary write (create, update, patch) by `manager`: the fields it changed become its own,
/// in its `Update` entry, and are taken away from everyone else.
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    mut entries: Vec<ManagedEntry>,
    manager: &str,
    api_version: &str,
    schema: Option<&Schema>,
    scope: Scope,
    now: &str,
) -> Vec<ManagedEntry> {
    let new_leaves = FieldSet::leaves(new, schema, scope);
    let touched: BTreeSet<FieldPath> = new_leaves
        .0
        .into_iter()
        .filter(|p| old.and_then(|o| get_path(o, p)) != get_path(new, p))
        .collect();
    let subresource = scope.subresource();
    let is_mine = |e: &ManagedEntry| {
        e.manager == manager
            && e.operation == Operation::Update
            && e.api_version == api_version
            && e.subresource == subresource
    };
    for e in entries.iter_mut() {
        if !is_mine(e) {
            e.fields
                .0
                .retain(|p| !touched.iter().any(|t| p.starts_with(t)));
        }
    }
    if !touched.is_empty() {
        match entries.iter_mut().find(|e| is_mine(e)) {
            Some(e) => {
                e.fields.0.extend(touched);
                e.time = now.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_string(),
                operation: Operation::Update,
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: subresource.to_string(),
                fields: FieldSet(touched),
            }),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_subresource: true,
    };

    fn paths(set: &FieldSet) -> Vec<String> {
        set.0.iter().map(pretty_path).collect()
    }

    fn applied(
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, Vec<Conflict>> {
        let (mut merged, entries) = apply(&ApplyInput {
            live,
            config,
            manager,
            api_version: "g/v1",
            force,
            schema: None,
            scope: MAIN,
            now: "2026-01-01T00:00:00Z",
        })?;
        write_entries(&mut merged, &entries);
        Ok(merged)
    }

    #[test]
    fn leaves_skip_server_fields_and_status() {
        let obj = json!({
            "apiVersion": "g/v1", "kind": "K",
            "metadata": {"name": "a", "namespace": "default", "uid": "u", "labels": {"x": "1"}},
            "spec": {"role": "spine", "groups": ["a"], "m": {}, "n": {"k": {"v": 1}}},
            "status": {"s": 1}
        });
        assert_eq!(
            paths(&FieldSet::leaves(&obj, None, MAIN)),
            vec![
                ".metadata.labels.x",
                ".spec.groups",
                ".spec.m",
                ".spec.n.k.v",
                ".spec.role"
            ]
        );
        assert_eq!(
            paths(&FieldSet::leaves(&obj, None, Scope::Status)),
            vec![".status.s"]
        );
    }

    #[test]
    fn fields_v1_round_trips_with_dot_for_members_with_children() {
        let set = FieldSet(
            [
                vec!["spec".into(), "x".into()],
                vec!["spec".into(), "x".into(), "y".into()],
                vec!["spec".into(), "z".into()],
            ]
            .into_iter()
            .collect(),
        );
        let v = set.to_fields_v1();
        assert_eq!(
            v,
            json!({"f:spec": {"f:x": {".": {}, "f:y": {}}, "f:z": {}}})
        );
        assert_eq!(FieldSet::from_fields_v1(&v), set);
        let foreign = json!({"f:spec": {"f:ports": {"k:{\"port\":80}": {".": {}, "f:port": {}}}}});
        assert_eq!(
            paths(&FieldSet::from_fields_v1(&foreign)),
            vec![".spec.ports"]
        );
    }

    #[test]
    fn apply_removes_fields_no_longer_applied_and_keeps_others_fields() {
        let a1 = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o", "labels": {"a": "1", "b": "2"}},
                        "spec": {"subnets": {"s1": {"vlan": 1}, "s2": {"vlan": 2}}, "x": 1}});
        let live = applied(None, &a1, "hhgitops", false).unwrap();
        // another manager adds a label
        let other = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o", "labels": {"c": "3"}}});
        let live = applied(Some(&live), &other, "kubectl", false).unwrap();
        let a2 = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o", "labels": {"a": "1"}},
                        "spec": {"subnets": {"s1": {"vlan": 1}}}});
        let live = applied(Some(&live), &a2, "hhgitops", false).unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"a": "1", "c": "3"}));
        assert_eq!(live["spec"], json!({"subnets": {"s1": {"vlan": 1}}}));
        let entries = read_entries(&live);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            paths(&entries[0].fields),
            vec![".metadata.labels.a", ".spec.subnets.s1.vlan"]
        );
    }

    #[test]
    fn apply_conflicts_with_other_managers_unless_forced() {
        let a = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o"}, "spec": {"role": "spine", "asn": 1}});
        let live = applied(None, &a, "kubectl", false).unwrap();
        // same value: shared ownership, no conflict
        let same = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o"}, "spec": {"role": "spine"}});
        let live = applied(Some(&live), &same, "hhgitops", false).unwrap();
        let different = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o"}, "spec": {"role": "leaf"}});
        let conflicts = applied(Some(&live), &different, "hhgitops", false).unwrap_err();
        assert_eq!(
            conflicts,
            vec![Conflict {
                manager: "\"kubectl\"".into(),
                path: ".spec.role".into()
            }]
        );
        let forced = applied(Some(&live), &different, "hhgitops", true).unwrap();
        assert_eq!(forced["spec"]["role"], "leaf");
        let entries = read_entries(&forced);
        let kubectl = entries.iter().find(|e| e.manager == "kubectl").unwrap();
        assert_eq!(paths(&kubectl.fields), vec![".spec.asn"]);
    }

    #[test]
    fn update_takes_changed_fields_from_appliers() {
        let a = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "o"}, "spec": {"role": "spine", "asn": 1}});
        let live = applied(None, &a, "hhgitops", false).unwrap();
        let mut new = live.clone();
        new["spec"]["asn"] = json!(2);
        let entries = record_update(
            Some(&live),
            &new,
            read_entries(&live),
            "kubectl-edit",
            "g/v1",
            None,
            MAIN,
            "t2",
        );
        let edit = entries
            .iter()
            .find(|e| e.manager == "kubectl-edit")
            .unwrap();
        assert_eq!(paths(&edit.fields), vec![".spec.asn"]);
        assert_eq!(edit.operation, Operation::Update);
        let mine = entries.iter().find(|e| e.manager == "hhgitops").unwrap();
        assert_eq!(paths(&mine.fields), vec![".spec.role"]);
        // a re-apply now conflicts on asn, and the message names the Update manager with its apiVersion
        write_entries(&mut new, &entries);
        let conflicts = applied(Some(&new), &a, "hhgitops", false).unwrap_err();
        assert_eq!(conflicts[0].manager, "\"kubectl-edit\" using g/v1");
    }
}
