//! Drift: how an object as hhgitops applies it differs from the copy the Kubernetes API server holds, and what
//! that means for a whole fabric (in sync, drifted, missing, extra, unmanaged). Pure: JSON values in, values out.
//!
//! The rules, in order:
//! - Only the fields present in the desired object are compared by value (`spec`, author labels and
//!   annotations, finalizers). Server-owned fields (`status`, `uid`, `resourceVersion`, `generation`,
//!   `creationTimestamp`, `managedFields` …) are never looked at.
//! - Our own bookkeeping — the fabric label [`FABRIC_LABEL`] and the record of the applied content
//!   [`APPLIED_ANNOTATION`] — is ownership, not content: a copy without them is still in sync (that is what an
//!   imported fabric looks like) but needs adopting ([`ObjectDiff::needs_apply`]).
//! - Labels containing `fabric.githedgehog.com/` are the fabric's derived labels: its mutating webhook deletes
//!   and rewrites them, so they are never compared. `kubectl.kubernetes.io/*` and HNP annotations are ignored.
//! - A field present only in the cluster counts as drift when `metadata.managedFields` says another field
//!   manager set it (someone edited the object in the cluster), or when hhgitops set it in an earlier apply of
//!   content that Git no longer has (the record annotation differs). A field nobody owns was filled in by the
//!   API server's defaulting and never counts. Lists are atomic (the Hedgehog CRDs declare no list types): a
//!   field inside a list item belongs to whoever owns the list.
//! - An empty map or list in Git equals an absent one in the cluster, and numbers compare by value.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::kinds::Kind;
use crate::model::meta::is_server_owned_annotation;
use crate::model::wiring::BUILTIN_SWITCH_PROFILES;
use crate::model::Object;
use crate::normalize::{content_hash, normalize_value};
use crate::path::{FieldPath, PathSegment};

/// The field manager of every hhgitops write.
pub const FIELD_MANAGER: &str = "hhgitops";
/// The label naming the fabric an object belongs to; what pruning selects on.
pub const FABRIC_LABEL: &str = "hhgitops.githedgehog.com/fabric";
/// The annotation recording the sha256 of the content hhgitops last applied (without this annotation).
pub const APPLIED_ANNOTATION: &str = "hhgitops.githedgehog.com/applied";
/// Labels whose key contains this are derived by the fabric's webhook (`CleanupFabricLabels`).
const FABRIC_DERIVED_LABEL: &str = "fabric.githedgehog.com/";
const KUBECTL_ANNOTATION_PREFIX: &str = "kubectl.kubernetes.io/";

/// The object as hhgitops applies it: the managed object as the fabric stores it (defaulted by
/// [`crate::defaults::default_object`]: sorted groups, stripped `SPEED_`, filled-in defaults, so that what the
/// webhook rewrites is neither drift nor applied again), normalized, without the labels the fabric derives itself,
/// plus the fabric label and the record annotation (the sha256 of everything else, so that a change in Git is
/// visible on the cluster copy).
pub fn applied_object(object: &Object, fabric: &str) -> Value {
    let mut stored = crate::defaults::default_object(object);
    if let Some(labels) = &mut stored.metadata.labels {
        labels.retain(|k, _| !k.contains(FABRIC_DERIVED_LABEL));
        if labels.is_empty() {
            stored.metadata.labels = None;
        }
    }
    let mut v = normalize_value(&stored);
    set_meta_entry(&mut v, "labels", FABRIC_LABEL, fabric);
    let hash = applied_hash(&v);
    set_meta_entry(&mut v, "annotations", APPLIED_ANNOTATION, &hash);
    v
}

/// Lowercase hex sha256 of the JSON serialization of `v`.
pub fn applied_hash(v: &Value) -> String {
    content_hash(v.to_string().as_bytes())
}

fn set_meta_entry(v: &mut Value, map: &str, key: &str, value: &str) {
    let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let entry = meta
        .entry(map.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Some(m) = entry.as_object_mut() {
        m.insert(key.to_string(), Value::String(value.to_string()));
    }
}

fn meta_str<'a>(v: &'a Value, map: &str, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get(map)?.get(key)?.as_str()
}

/// The fabric label a cluster object carries.
pub fn fabric_label(v: &Value) -> Option<&str> {
    meta_str(v, "labels", FABRIC_LABEL)
}

/// What kind of difference a field shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// In Git and in the cluster, with different values.
    Changed,
    /// In Git, absent in the cluster.
    Missing,
    /// Only in the cluster, set there by another field manager.
    Added,
    /// Only in the cluster, left from an earlier hhgitops apply of content Git no longer has.
    Stale,
}

/// One differing field: where, how, the value in Git, the value in the cluster and who set the cluster's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDiff {
    /// `spec.subnets.default.vlan`, `metadata.labels["team"]`, `spec.links[0].server.port`.
    pub path: String,
    pub change: Change,
    /// The value in Git, as hhgitops applies it (absent for `added`/`stale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
    /// The value in the cluster (absent for `missing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// The field managers other than hhgitops that own the cluster's value (from `metadata.managedFields`):
    /// who set it, e.g. `kubectl-patch`, `kubectl-edit`, a controller. Absent for `missing` and `stale`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<String>,
}

/// Longest value shown in [`FieldDiff::describe`]; longer ones are cut with `…`.
const SHOWN_VALUE_MAX: usize = 80;

/// A value as a person reads it in one line: compact JSON (strings quoted, so `"1001"` and `1001` differ), cut
/// after [`SHOWN_VALUE_MAX`] characters, control and bidirectional-override characters escaped.
fn show_value(v: &Value) -> String {
    let s = crate::diag::escape_controls(&v.to_string()).into_owned();
    if s.chars().count() <= SHOWN_VALUE_MAX {
        return s;
    }
    let mut cut: String = s.chars().take(SHOWN_VALUE_MAX - 1).collect();
    cut.push('…');
    cut
}

impl FieldDiff {
    /// One line for a person: `spec.subnets.subnet-01.vlan: 1001 in Git, 1999 in the cluster (set by
    /// kubectl-patch)`. Control characters in the path and the manager names are escaped.
    pub fn describe(&self) -> String {
        let git = self
            .desired
            .as_ref()
            .map_or_else(|| "absent".to_string(), show_value);
        let cluster = self
            .live
            .as_ref()
            .map_or_else(|| "absent".to_string(), show_value);
        let mut line = format!(
            "{}: {git} in Git, {cluster} in the cluster",
            crate::diag::escape_controls(&self.path)
        );
        if !self.managers.is_empty() {
            let who: Vec<String> = self
                .managers
                .iter()
                .map(|m| crate::diag::escape_controls(m).into_owned())
                .collect();
            line.push_str(&format!(" (set by {})", who.join(", ")));
        } else if self.change == Change::Stale {
            line.push_str(" (left from an earlier hhgitops apply)");
        }
        line
    }
}

/// How one object differs between Git and the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    pub fields: Vec<FieldDiff>,
    /// The cluster copy carries this fabric's label.
    pub labelled: bool,
    /// The cluster copy records the content Git has now (hhgitops applied exactly this).
    pub recorded: bool,
}

impl ObjectDiff {
    pub fn in_sync(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether a sync must apply the object: it differs, or it lacks our label or our record of it.
    pub fn needs_apply(&self) -> bool {
        !self.in_sync() || !self.labelled || !self.recorded
    }
}

/// Who owns which fields of a live object, from `metadata.managedFields` (FieldsV1).
struct Owners<'a> {
    entries: Vec<(&'a str, &'a Value)>,
}

impl<'a> Owners<'a> {
    fn of_live(live: &'a Value) -> Owners<'a> {
        let mut entries = Vec::new();
        let list = live
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .and_then(Value::as_array);
        for e in list.into_iter().flatten() {
            // The status subresource's managers do not touch the fields compared here.
            if e.get("subresource")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                continue;
            }
            let (Some(manager), Some(fields)) =
                (e.get("manager").and_then(Value::as_str), e.get("fieldsV1"))
            else {
                continue;
            };
            entries.push((manager, fields));
        }
        Owners { entries }
    }

    /// Managers owning `path` or something below it; a list is atomic, so its owner owns every item's fields.
    fn of(&self, path: &FieldPath) -> BTreeSet<&'a str> {
        let mut out = BTreeSet::new();
        for (manager, fields) in &self.entries {
            if owns(fields, path) {
                out.insert(*manager);
            }
        }
        out
    }
}

fn owns(mut node: &Value, path: &FieldPath) -> bool {
    for seg in &path.0 {
        match seg {
            PathSegment::Key(k) => {
                let Some(map) = node.as_object() else {
                    return false;
                };
                let mut key = String::with_capacity(k.len() + 2);
                key.push_str("f:");
                key.push_str(k);
                match map.get(&key) {
                    Some(n) => node = n,
                    None => return false,
                }
            }
            PathSegment::Index(_) => return true,
        }
    }
    true
}

/// Null, false, 0, "", or a map or list of nothing but such values.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// Equality as the API sees it: numbers by value (`1` = `1.0`), everything else structurally.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

struct Cx<'a> {
    owners: Owners<'a>,
    recorded: bool,
    path: FieldPath,
    out: Vec<FieldDiff>,
}

impl Cx<'_> {
    fn in_list(&self) -> bool {
        self.path
            .0
            .iter()
            .any(|s| matches!(s, PathSegment::Index(_)))
    }

    fn others(&self) -> Vec<String> {
        self.owners
            .of(&self.path)
            .into_iter()
            .filter(|m| *m != FIELD_MANAGER)
            .map(str::to_string)
            .collect()
    }

    fn push(&mut self, change: Change, desired: Option<&Value>, live: Option<&Value>) {
        let managers = match change {
            Change::Missing | Change::Stale => Vec::new(),
            Change::Changed | Change::Added => self.others(),
        };
        self.out.push(FieldDiff {
            path: self.path.to_string(),
            change,
            desired: desired.cloned(),
            live: live.cloned(),
            managers,
        });
    }

    fn compare(&mut self, desired: &Value, live: &Value) {
        match (desired, live) {
            (Value::Null, _) => {}
            (Value::Object(d), Value::Object(l)) => {
                for (k, dv) in d {
                    self.path.push_key(k.as_str());
                    match l.get(k) {
                        Some(lv) => self.compare(dv, lv),
                        None if is_empty_container(dv) => {}
                        None => self.push(Change::Missing, Some(dv), None),
                    }
                    self.path.0.pop();
                }
                for (k, lv) in l {
                    if !d.contains_key(k) {
                        self.path.push_key(k.as_str());
                        self.live_only(lv);
                        self.path.0.pop();
                    }
                }
            }
            (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
                for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                    self.path.push_index(i);
                    self.compare(dv, lv);
                    self.path.0.pop();
                }
            }
            (d, l) if is_empty_container(d) && is_empty_container(l) => {}
            (d, l) => {
                if !json_eq(d, l) {
                    self.push(Change::Changed, Some(d), Some(l));
                }
            }
        }
    }

    /// A field only the cluster has: drift when someone else set it, or when it is left from our older content.
    fn live_only(&mut self, live: &Value) {
        // The webhook's re-encoding adds every field Go always encodes with its zero value (`switch: {}`,
        // `vtepMTU: 0`): such a value means the same as no value.
        if is_zero(live) {
            return;
        }
        let owners = self.owners.of(&self.path);
        let ours = owners.contains(FIELD_MANAGER);
        let others = owners.iter().any(|m| *m != FIELD_MANAGER);
        let change = if self.in_list() {
            // Inside an atomic list: defaults of list items belong to the list's owner; only a list someone else
            // took over is drift here (its values are compared above).
            (others && !ours).then_some(Change::Added)
        } else if others {
            Some(Change::Added)
        } else if ours && !self.recorded {
            Some(Change::Stale)
        } else {
            None
        };
        if let Some(c) = change {
            self.push(c, None, Some(live));
        }
    }

    /// Labels or annotations: the desired entries by value, live-only entries by ownership; `skip` names the
    /// keys that are never compared.
    fn compare_string_map(
        &mut self,
        name: &str,
        desired: Option<&Value>,
        live: Option<&Value>,
        skip: impl Fn(&str) -> bool,
    ) {
        let empty = Map::new();
        let d = desired.and_then(Value::as_object).unwrap_or(&empty);
        let l = live.and_then(Value::as_object).unwrap_or(&empty);
        self.path.push_key(name);
        for (k, dv) in d.iter().filter(|(k, _)| !skip(k)) {
            self.path.push_key(k.as_str());
            match l.get(k) {
                Some(lv) if json_eq(dv, lv) => {}
                Some(lv) => self.push(Change::Changed, Some(dv), Some(lv)),
                None => self.push(Change::Missing, Some(dv), None),
            }
            self.path.0.pop();
        }
        for (k, lv) in l.iter().filter(|(k, _)| !skip(k) && !d.contains_key(*k)) {
            self.path.push_key(k.as_str());
            self.live_only(lv);
            self.path.0.pop();
        }
        self.path.0.pop();
    }
}

fn skip_label(k: &str) -> bool {
    k == FABRIC_LABEL || k.contains(FABRIC_DERIVED_LABEL)
}

fn skip_annotation(k: &str) -> bool {
    k == APPLIED_ANNOTATION
        || is_server_owned_annotation(k)
        || k.starts_with(KUBECTL_ANNOTATION_PREFIX)
}

/// Compares the object hhgitops applies (see [`applied_object`]) with the cluster's copy.
pub fn diff_object(desired: &Value, live: &Value) -> ObjectDiff {
    let fabric = fabric_label(desired);
    let record = meta_str(desired, "annotations", APPLIED_ANNOTATION);
    let labelled = fabric.is_some() && fabric_label(live) == fabric;
    let recorded = record.is_some() && meta_str(live, "annotations", APPLIED_ANNOTATION) == record;
    let mut cx = Cx {
        owners: Owners::of_live(live),
        recorded,
        path: FieldPath::root(),
        out: Vec::new(),
    };
    let dm = desired.get("metadata");
    let lm = live.get("metadata");
    cx.path.push_key("metadata");
    cx.compare_string_map(
        "labels",
        dm.and_then(|m| m.get("labels")),
        lm.and_then(|m| m.get("labels")),
        skip_label,
    );
    cx.compare_string_map(
        "annotations",
        dm.and_then(|m| m.get("annotations")),
        lm.and_then(|m| m.get("annotations")),
        skip_annotation,
    );
    // Finalizers: ours must be there; controllers may add their own.
    if let Some(want) = dm
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
    {
        let have: Vec<&Value> = lm
            .and_then(|m| m.get("finalizers"))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if want.iter().any(|f| !have.contains(&f)) {
            cx.path.push_key("finalizers");
            let live = lm.and_then(|m| m.get("finalizers"));
            cx.push(Change::Changed, dm.and_then(|m| m.get("finalizers")), live);
            cx.path.0.pop();
        }
    }
    cx.path.0.pop();
    let empty = Value::Object(Map::new());
    let ds = desired.get("spec").unwrap_or(&empty);
    cx.path.push_key("spec");
    match live.get("spec") {
        Some(ls) => cx.compare(ds, ls),
        None if is_empty_container(ds) => {}
        None => cx.push(Change::Missing, Some(ds), None),
    }
    cx.path.0.pop();
    ObjectDiff {
        fields: cx.out,
        labelled,
        recorded,
    }
}

/// Where an object stands between Git and the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftStatus {
    InSync,
    /// In Git and in the cluster, with differing fields.
    Drifted,
    /// In Git, not in the cluster.
    Missing,
    /// Carries this fabric's label in the cluster, no longer in Git: what `sync --prune` deletes.
    Extra,
    /// In the cluster, unknown to Git, without this fabric's label.
    Unmanaged,
    /// A built-in SwitchProfile the fabric ships itself and Git does not manage: never drift.
    Builtin,
    /// In Git, and in the cluster carrying another fabric's label: two fabrics claim it. Never taken over by a
    /// sync unless it is told to (`sync --adopt`).
    Conflict,
}

impl DriftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftStatus::InSync => "in-sync",
            DriftStatus::Drifted => "drifted",
            DriftStatus::Missing => "missing",
            DriftStatus::Extra => "extra",
            DriftStatus::Unmanaged => "unmanaged",
            DriftStatus::Builtin => "builtin",
            DriftStatus::Conflict => "conflict",
        }
    }

    /// Whether this status is drift (`drift` exits 1 when any object has one).
    pub fn is_drift(self) -> bool {
        !matches!(self, DriftStatus::InSync | DriftStatus::Builtin)
    }
}

/// One object of a fabric's drift report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    #[serde(serialize_with = "serialize_kind")]
    pub kind: Kind,
    pub name: String,
    pub status: DriftStatus,
    /// The differing fields of a drifted object.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
    /// In sync, but the cluster copy lacks this fabric's label or the record of the applied content: the next
    /// sync adds them (an imported object, or one someone relabelled).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// The other fabric whose label an unmanaged or conflicting object carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fabric: Option<String>,
}

fn serialize_kind<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}

impl DriftEntry {
    /// Whether a sync applies this object (create, update, or adopt).
    pub fn needs_apply(&self) -> bool {
        matches!(self.status, DriftStatus::Missing | DriftStatus::Drifted) || self.adopt
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftSummary {
    pub in_sync: usize,
    pub drifted: usize,
    pub missing: usize,
    pub extra: usize,
    pub unmanaged: usize,
    pub builtin: usize,
    /// Claimed by another fabric's label.
    pub conflict: usize,
    /// In sync, to be adopted by the next sync.
    pub adopt: usize,
}

impl DriftSummary {
    pub fn of(entries: &[DriftEntry]) -> DriftSummary {
        let mut s = DriftSummary::default();
        for e in entries {
            match e.status {
                DriftStatus::InSync => s.in_sync += 1,
                DriftStatus::Drifted => s.drifted += 1,
                DriftStatus::Missing => s.missing += 1,
                DriftStatus::Extra => s.extra += 1,
                DriftStatus::Unmanaged => s.unmanaged += 1,
                DriftStatus::Builtin => s.builtin += 1,
                DriftStatus::Conflict => s.conflict += 1,
            }
            if e.adopt {
                s.adopt += 1;
            }
        }
        s
    }

    /// Objects that are not in sync (built-in profiles excepted).
    pub fn drift(&self) -> usize {
        self.drifted + self.missing + self.extra + self.unmanaged + self.conflict
    }
}

/// Classifies every object of a fabric. `desired` holds the applied form of every object in Git
/// ([`applied_object`]); `live` every Hedgehog object of the cluster's namespace. Entries come out in kind
/// (apply) order, then by name.
pub fn fabric_drift(
    desired: &BTreeMap<(Kind, String), Value>,
    live: &BTreeMap<(Kind, String), Value>,
    fabric: &str,
) -> Vec<DriftEntry> {
    let mut out = Vec::with_capacity(desired.len().max(live.len()));
    let mut desired_iter = desired.iter().peekable();
    let mut live_iter = live.iter().peekable();
    loop {
        let next = match (desired_iter.peek(), live_iter.peek()) {
            (None, None) => break,
            (Some((dk, _)), Some((lk, _))) => dk.cmp(lk),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        };
        let entry = match next {
            std::cmp::Ordering::Equal => {
                let (Some(((kind, name), d)), Some((_, l))) =
                    (desired_iter.next(), live_iter.next())
                else {
                    break;
                };
                let diff = diff_object(d, l);
                let other = fabric_label(l).filter(|l| *l != fabric);
                DriftEntry {
                    kind: *kind,
                    name: name.clone(),
                    status: if other.is_some() {
                        DriftStatus::Conflict
                    } else if diff.in_sync() {
                        DriftStatus::InSync
                    } else {
                        DriftStatus::Drifted
                    },
                    adopt: other.is_none() && diff.in_sync() && diff.needs_apply(),
                    fields: diff.fields,
                    fabric: other.map(str::to_string),
                }
            }
            std::cmp::Ordering::Less => {
                let Some(((kind, name), _)) = desired_iter.next() else {
                    break;
                };
                DriftEntry {
                    kind: *kind,
                    name: name.clone(),
                    status: DriftStatus::Missing,
                    fields: Vec::new(),
                    adopt: false,
                    fabric: None,
                }
            }
            std::cmp::Ordering::Greater => {
                let Some(((kind, name), l)) = live_iter.next() else {
                    break;
                };
                let label = fabric_label(l);
                let status = if label == Some(fabric) {
                    DriftStatus::Extra
                } else if *kind == Kind::SwitchProfile
                    && label.is_none()
                    && BUILTIN_SWITCH_PROFILES.contains(&name.as_str())
                {
                    DriftStatus::Builtin
                } else {
                    DriftStatus::Unmanaged
                };
                DriftEntry {
                    kind: *kind,
                    name: name.clone(),
                    status,
                    fields: Vec::new(),
                    adopt: false,
                    fabric: label.filter(|l| *l != fabric).map(str::to_string),
                }
            }
        };
        out.push(entry);
    }
    out
}

/// The importable form of a cluster object: `apiVersion`, `kind`, `metadata` (name, namespace, author labels
/// and annotations, finalizers) and `spec`, without server-owned fields, this fabric's label, the record
/// annotation and the labels the fabric derives itself. Normalization and validation come after.
pub fn importable(live: &Value) -> Value {
    let mut top = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = live.get(k) {
            top.insert(k.to_string(), v.clone());
        }
    }
    let mut meta = Map::new();
    if let Some(m) = live.get("metadata") {
        for k in ["name", "namespace"] {
            if let Some(v) = m.get(k) {
                meta.insert(k.to_string(), v.clone());
            }
        }
        let filtered = |key: &str, skip: fn(&str) -> bool| -> Option<Value> {
            let map = m.get(key)?.as_object()?;
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !skip(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        };
        if let Some(l) = filtered("labels", skip_label) {
            meta.insert("labels".into(), l);
        }
        if let Some(a) = filtered("annotations", skip_annotation) {
            meta.insert("annotations".into(), a);
        }
        if let Some(f) = m.get("finalizers").filter(|f| !is_empty_container(f)) {
            meta.insert("finalizers".into(), f.clone());
        }
    }
    top.insert("metadata".into(), Value::Object(meta));
    top.insert(
        "spec".into(),
        live.get("spec")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    Value::Object(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vpc_object() -> Object {
        Object::from_json(
            Kind::VPC,
            "vpc-1",
            json!({"subnets": {"default": {"subnet": "10.0.1.0/24", "vlan": 1001}}}),
        )
        .unwrap()
    }

    /// The cluster copy after hhgitops applied `desired`: its fields owned by hhgitops, plus `extra` spec fields
    /// nobody owns (server defaults).
    fn live_after_apply(desired: &Value, extra: Value) -> Value {
        let mut live = desired.clone();
        let m = live["metadata"].as_object_mut().unwrap();
        m.insert("uid".into(), json!("u-1"));
        m.insert("resourceVersion".into(), json!("7"));
        m.insert("generation".into(), json!(1));
        m.insert("creationTimestamp".into(), json!("2026-01-01T00:00:00Z"));
        m.insert(
            "managedFields".into(),
            json!([{"manager": "hhgitops", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:hhgitops.githedgehog.com/fabric": {}},
                                 "f:annotations": {"f:hhgitops.githedgehog.com/applied": {}}},
                                 "f:spec": {"f:subnets": {"f:default": {"f:subnet": {}, "f:vlan": {}}}}}}]),
        );
        if let (Some(s), Some(e)) = (live["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                s.insert(k.clone(), v.clone());
            }
        }
        live["status"] = json!({});
        live
    }

    fn paths(d: &ObjectDiff) -> Vec<(String, Change)> {
        d.fields
            .iter()
            .map(|f| (f.path.clone(), f.change))
            .collect()
    }

    #[test]
    fn a_changed_field_is_described_with_both_values_and_who_set_the_cluster_s() {
        let desired = applied_object(&vpc_object(), "f1");
        let mut live = live_after_apply(&desired, json!({}));
        live["spec"]["subnets"]["default"]["vlan"] = json!(1999);
        live["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"manager": "kubectl-patch", "operation": "Update", "fieldsType": "FieldsV1",
                         "fieldsV1": {"f:spec": {"f:subnets": {"f:default": {"f:vlan": {}}}}}}),
            );
        let d = diff_object(&desired, &live);
        assert_eq!(d.fields.len(), 1, "{:?}", d.fields);
        let f = &d.fields[0];
        assert_eq!(f.desired, Some(json!(1001)));
        assert_eq!(f.live, Some(json!(1999)));
        assert_eq!(f.managers, vec!["kubectl-patch".to_string()]);
        assert_eq!(
            f.describe(),
            "spec.subnets.default.vlan: 1001 in Git, 1999 in the cluster (set by kubectl-patch)"
        );
    }

    #[test]
    fn descriptions_quote_strings_say_absent_cut_long_values_and_escape_controls() {
        let missing = FieldDiff {
            path: "spec.subnets.default.subnet".into(),
            change: Change::Missing,
            desired: Some(json!("10.0.1.0/24")),
            live: None,
            managers: vec![],
        };
        assert_eq!(
            missing.describe(),
            "spec.subnets.default.subnet: \"10.0.1.0/24\" in Git, absent in the cluster"
        );
        let stale = FieldDiff {
            path: "spec.x".into(),
            change: Change::Stale,
            desired: None,
            live: Some(json!("1")),
            managers: vec![],
        };
        assert_eq!(
            stale.describe(),
            "spec.x: absent in Git, \"1\" in the cluster (left from an earlier hhgitops apply)"
        );
        let long = FieldDiff {
            path: "spec.list".into(),
            change: Change::Added,
            desired: None,
            live: Some(json!(vec!["abcdefghij"; 20])),
            managers: vec!["ctl\u{1b}[31m".into()],
        };
        let text = long.describe();
        assert!(text.contains("…"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let shown = text.split(" in the cluster").next().unwrap();
        assert!(shown.chars().count() < 120, "{text}");
    }

    #[test]
    fn applied_object_carries_label_and_a_record_of_its_content() {
        let a = applied_object(&vpc_object(), "f1");
        assert_eq!(fabric_label(&a), Some("f1"));
        let rec = meta_str(&a, "annotations", APPLIED_ANNOTATION).unwrap();
        assert_eq!(rec.len(), 64);
        assert_ne!(
            applied_object(&vpc_object(), "f2")["metadata"]["annotations"][APPLIED_ANNOTATION],
            rec
        );
        assert_eq!(applied_object(&vpc_object(), "f1"), a, "deterministic");
    }

    /// A Switch as the fabric's webhook stores it after another client created it from the same file: groups
    /// sorted, `SPEED_` stripped, VLAN namespaces defaulted, derived labels, zero values Go always encodes, all
    /// owned by that client. Compared with the managed file it is in sync: nothing to apply but the adoption.
    #[test]
    fn a_switch_as_the_webhook_stores_it_is_in_sync() {
        let authored = Object::from_json(
            Kind::Switch,
            "leaf-01",
            json!({"role": "server-leaf", "profile": "vs", "groups": ["rack-2", "rack-1"],
                   "redundancy": {"group": "eslag-1", "type": "eslag"},
                   "portSpeeds": {"E1/1": "SPEED_10G"}, "asn": 65101, "ip": "172.30.0.9/21",
                   "protocolIP": "172.30.8.2/32", "vtepIP": "172.30.12.0/32"}),
        )
        .unwrap();
        let desired = applied_object(&authored, "f1");
        let live = json!({
            "apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "Switch",
            "metadata": {"name": "leaf-01", "namespace": "default", "uid": "u", "resourceVersion": "3",
                "labels": {"fabric.githedgehog.com/profile": "vs", "switchgroup.fabric.githedgehog.com/eslag-1": "true",
                           "switchgroup.fabric.githedgehog.com/rack-1": "true", "switchgroup.fabric.githedgehog.com/rack-2": "true",
                           "vlanns.fabric.githedgehog.com/default": "true"},
                "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:role": {}, "f:profile": {}, "f:groups": {}, "f:redundancy": {}, "f:portSpeeds": {},
                                 "f:asn": {}, "f:ip": {}, "f:protocolIP": {}, "f:vtepIP": {}, "f:vlanNamespaces": {},
                                 "f:boot": {}, "f:enableAllPorts": {}}}}]},
            "spec": {"role": "server-leaf", "profile": "vs", "groups": ["eslag-1", "rack-1", "rack-2"],
                     "redundancy": {"group": "eslag-1", "type": "eslag"}, "vlanNamespaces": ["default"],
                     "portSpeeds": {"E1/1": "10G"}, "asn": 65101, "ip": "172.30.0.9/21",
                     "protocolIP": "172.30.8.2/32", "vtepIP": "172.30.12.0/32", "boot": {}, "enableAllPorts": false},
            "status": {}
        });
        let diff = diff_object(&desired, &live);
        assert!(diff.in_sync(), "{:#?}", diff.fields);
        assert!(!diff.labelled, "imported: adopted by the next sync");
        // The authored form would have been drift: unsorted groups and the SPEED_ prefix.
        let mut raw = normalize_value(&authored);
        set_meta_entry(&mut raw, "labels", FABRIC_LABEL, "f1");
        assert!(!diff_object(&raw, &live).in_sync());
        // A real edit in the cluster still is drift.
        let mut edited = live.clone();
        edited["spec"]["portSpeeds"]["E1/1"] = json!("25G");
        assert!(!diff_object(&desired, &edited).in_sync());
    }

    #[test]
    fn server_fields_and_defaults_are_not_drift() {
        let d = applied_object(&vpc_object(), "f1");
        let live = live_after_apply(
            &d,
            json!({"defaultIsolated": false, "ipv4Namespace": "default"}),
        );
        let diff = diff_object(&d, &live);
        assert!(diff.in_sync(), "{:?}", diff.fields);
        assert!(diff.labelled && diff.recorded && !diff.needs_apply());
    }

    #[test]
    fn a_changed_value_is_drift_naming_the_manager() {
        let d = applied_object(&vpc_object(), "f1");
        let mut live = live_after_apply(&d, json!({}));
        live["spec"]["subnets"]["default"]["vlan"] = json!(1099);
        live["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(
                json!({"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
                         "fieldsV1": {"f:spec": {"f:subnets": {"f:default": {"f:vlan": {}}}}}}),
            );
        let diff = diff_object(&d, &live);
        assert_eq!(
            diff.fields,
            vec![FieldDiff {
                path: "spec.subnets.default.vlan".into(),
                change: Change::Changed,
                desired: Some(json!(1001)),
                live: Some(json!(1099)),
                managers: vec!["kubectl-edit".into()],
            }]
        );
        assert!(diff.needs_apply());
    }

    #[test]
    fn fields_added_by_another_manager_are_drift_but_unowned_ones_are_defaults() {
        let d = applied_object(&vpc_object(), "f1");
        let mut live = live_after_apply(&d, json!({"mode": "l3vni", "defaultIsolated": false}));
        live["metadata"]["labels"]["team"] = json!("net");
        live["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                         "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:mode": {}}}}));
        let diff = diff_object(&d, &live);
        assert_eq!(
            paths(&diff),
            vec![
                ("metadata.labels.team".into(), Change::Added),
                ("spec.mode".into(), Change::Added)
            ]
        );
        assert_eq!(diff.fields[1].managers, vec!["kubectl".to_string()]);
    }

    #[test]
    fn a_field_removed_from_git_is_stale_until_applied() {
        let mut with_desc = vpc_object();
        if let crate::model::Spec::VPC(s) = &mut with_desc.spec {
            std::sync::Arc::make_mut(s).default_isolated = Some(true);
        }
        let old = applied_object(&with_desc, "f1");
        let mut live = live_after_apply(&old, json!({}));
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:defaultIsolated"] = json!({});
        let now = applied_object(&vpc_object(), "f1");
        let diff = diff_object(&now, &live);
        assert_eq!(
            paths(&diff),
            vec![("spec.defaultIsolated".into(), Change::Stale)]
        );
        assert!(!diff.recorded);
        // Once the current content is recorded, a field we own but Git lacks is a webhook's doing: not drift.
        let mut applied = live.clone();
        applied["metadata"]["annotations"] = now["metadata"]["annotations"].clone();
        assert!(diff_object(&now, &applied).in_sync());
    }

    #[test]
    fn missing_fields_and_label_and_record() {
        let d = applied_object(&vpc_object(), "f1");
        let mut live = live_after_apply(&d, json!({}));
        live["spec"]["subnets"]["default"]
            .as_object_mut()
            .unwrap()
            .remove("vlan");
        live["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(FABRIC_LABEL);
        let diff = diff_object(&d, &live);
        assert_eq!(
            paths(&diff),
            vec![("spec.subnets.default.vlan".into(), Change::Missing)]
        );
        assert!(!diff.labelled);
    }

    #[test]
    fn an_imported_object_is_in_sync_but_needs_adopting() {
        let d = applied_object(&vpc_object(), "f1");
        let live = json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
            "metadata": {"name": "vpc-1", "namespace": "default", "uid": "x",
                "labels": {"fabric.githedgehog.com/ipv4ns": "default"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                    "fieldsV1": {"f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                                 "f:spec": {"f:subnets": {"f:default": {"f:subnet": {}, "f:vlan": {}}}}}}]},
            // As the webhook stored it: gateway and namespaces defaulted.
            "spec": {"subnets": {"default": {"subnet": "10.0.1.0/24", "gateway": "10.0.1.1", "vlan": 1001}},
                     "ipv4Namespace": "default", "vlanNamespace": "default"}});
        let diff = diff_object(&d, &live);
        assert!(diff.in_sync(), "{:?}", diff.fields);
        assert!(!diff.labelled && !diff.recorded && diff.needs_apply());
    }

    #[test]
    fn lists_compare_per_item_and_defaults_inside_items_belong_to_the_list_owner() {
        let d = json!({"metadata": {}, "spec": {"links": [{"a": 1}, {"a": 2}]}});
        let mut live = json!({"metadata": {"managedFields": [
            {"manager": "hhgitops", "operation": "Apply", "fieldsV1": {"f:spec": {"f:links": {}}}}]},
            "spec": {"links": [{"a": 1, "mtu": 9000}, {"a": 2, "mtu": 9000}]}});
        assert!(diff_object(&d, &live).in_sync());
        live["spec"]["links"][1]["a"] = json!(3);
        assert_eq!(
            paths(&diff_object(&d, &live)),
            vec![("spec.links[1].a".into(), Change::Changed)]
        );
        live["spec"]["links"] = json!([{"a": 1}]);
        assert_eq!(
            paths(&diff_object(&d, &live)),
            vec![("spec.links".into(), Change::Changed)]
        );
        // Another manager took the list over and added a field to an item.
        let live = json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {"f:links": {}}}}]},
            "spec": {"links": [{"a": 1, "x": true}, {"a": 2}]}});
        assert_eq!(
            paths(&diff_object(&d, &live)),
            vec![("spec.links[0].x".into(), Change::Added)]
        );
    }

    #[test]
    fn numbers_compare_by_value_and_empty_containers_equal_absent() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!(1), &json!("1")));
        let d = json!({"metadata": {}, "spec": {"a": {}, "b": []}});
        let l = json!({"metadata": {}, "spec": {}});
        assert!(diff_object(&d, &l).in_sync());
        let d = json!({"metadata": {}, "spec": {}});
        assert!(diff_object(&d, &json!({"metadata": {}})).in_sync());
    }

    #[test]
    fn derived_labels_status_subresource_managers_and_kubectl_annotations_are_ignored() {
        let d = json!({"metadata": {"labels": {"fabric.githedgehog.com/vpc": "wrong", "team": "a"}}, "spec": {}});
        let l = json!({"metadata": {
            "labels": {"fabric.githedgehog.com/vpc": "vpc-1", "team": "a", "switch.fabric.githedgehog.com/leaf-1": "true"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "x"},
            "managedFields": [
                {"manager": "ctrl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:switch.fabric.githedgehog.com/leaf-1": {}}, "f:annotations": {"f:kubectl.kubernetes.io/restartedAt": {}}}}},
                {"manager": "ctrl", "operation": "Update", "subresource": "status", "fieldsV1": {"f:spec": {"f:x": {}}}}]},
            "spec": {"x": 1}});
        assert!(diff_object(&d, &l).in_sync(), "{:?}", diff_object(&d, &l));
    }

    #[test]
    fn finalizers_of_git_must_be_present_others_are_allowed() {
        let d = json!({"metadata": {"finalizers": ["a"]}, "spec": {}});
        let ok = json!({"metadata": {"finalizers": ["b", "a"]}, "spec": {}});
        assert!(diff_object(&d, &ok).in_sync());
        let bad = json!({"metadata": {"finalizers": ["b"]}, "spec": {}});
        assert_eq!(
            paths(&diff_object(&d, &bad)),
            vec![("metadata.finalizers".into(), Change::Changed)]
        );
    }

    #[test]
    fn fabric_drift_classifies_every_object() {
        let vpc = applied_object(&vpc_object(), "f1");
        let mut desired = BTreeMap::new();
        desired.insert((Kind::VPC, "vpc-1".to_string()), vpc.clone());
        let missing = applied_object(
            &Object::from_json(Kind::SwitchGroup, "sg", json!({})).unwrap(),
            "f1",
        );
        desired.insert((Kind::SwitchGroup, "sg".to_string()), missing);
        let mut live = BTreeMap::new();
        live.insert(
            (Kind::VPC, "vpc-1".to_string()),
            live_after_apply(&vpc, json!({})),
        );
        let labelled = |f: &str| json!({"metadata": {"labels": {FABRIC_LABEL: f}}, "spec": {}});
        live.insert((Kind::VPC, "gone".to_string()), labelled("f1"));
        live.insert((Kind::VPC, "theirs".to_string()), labelled("f2"));
        live.insert(
            (Kind::Server, "hand-made".to_string()),
            json!({"metadata": {}, "spec": {}}),
        );
        live.insert(
            (Kind::SwitchProfile, "vs".to_string()),
            json!({"metadata": {}, "spec": {}}),
        );
        let entries = fabric_drift(&desired, &live, "f1");
        let got: Vec<(Kind, &str, DriftStatus, Option<&str>)> = entries
            .iter()
            .map(|e| (e.kind, e.name.as_str(), e.status, e.fabric.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::SwitchProfile, "vs", DriftStatus::Builtin, None),
                (Kind::SwitchGroup, "sg", DriftStatus::Missing, None),
                (Kind::Server, "hand-made", DriftStatus::Unmanaged, None),
                (Kind::VPC, "gone", DriftStatus::Extra, None),
                (Kind::VPC, "theirs", DriftStatus::Unmanaged, Some("f2")),
                (Kind::VPC, "vpc-1", DriftStatus::InSync, None),
            ]
        );
        let s = DriftSummary::of(&entries);
        assert_eq!(
            (s.in_sync, s.missing, s.extra, s.unmanaged, s.builtin),
            (1, 1, 1, 2, 1)
        );
        assert_eq!(s.drift(), 4);
        assert!(entries[1].needs_apply() && !entries[5].needs_apply());
    }

    #[test]
    fn importable_strips_server_fields_and_our_bookkeeping() {
        let d = applied_object(&vpc_object(), "f1");
        let mut live = live_after_apply(&d, json!({}));
        live["metadata"]["labels"]["team"] = json!("net");
        live["metadata"]["labels"]["fabric.githedgehog.com/ipv4ns"] = json!("default");
        live["metadata"]["annotations"]["note"] = json!("x");
        let imp = importable(&live);
        assert_eq!(
            imp,
            json!({"apiVersion": "vpc.githedgehog.com/v1beta1", "kind": "VPC",
                   "metadata": {"name": "vpc-1", "namespace": "default", "labels": {"team": "net"},
                                "annotations": {"note": "x"}},
                   "spec": {"subnets": {"default": {"subnet": "10.0.1.0/24", "gateway": "10.0.1.1", "vlan": 1001}},
                            "ipv4Namespace": "default", "vlanNamespace": "default"}})
        );
    }
}
