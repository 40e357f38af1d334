//! The cluster state (objects of every resource, the global resourceVersion, the watch event history) and the
//! semantics of each verb on it: create, update, patch, server-side apply, delete, get, list and watch.
//! No I/O happens here; the HTTP layer translates requests into these calls.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use crate::crd::{ResourceDef, VersionDef};
use crate::faults::{AdmissionOperation, Faults};
use crate::managed::{self, ApplyInput, Conflict, ManagedEntry, Scope};
use crate::meta;
use crate::patch;
use crate::schema;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, FieldError, FieldErrorKind, StatusCause, StatusDetails};

/// Watch events kept for clients that resume from an older resourceVersion.
const HISTORY_LIMIT: usize = 100_000;
/// Live events buffered per watcher before it is considered too slow and its stream is closed.
const BROADCAST_CAPACITY: usize = 16_384;
/// Namespaces that exist from the start.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];
/// Namespaces the real server refuses to delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-public", "kube-system"];

/// `ADDED`, `MODIFIED` or `DELETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one stored object.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_type: EventType,
    pub group: String,
    pub plural: String,
    pub resource_version: u64,
    pub object: Arc<Value>,
    /// The object before the change (for selector transitions); `None` for `ADDED`.
    pub previous: Option<Arc<Value>>,
}

/// What a request addresses: a resource at a version, maybe a namespace, maybe one object, maybe its status.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: Arc<ResourceDef>,
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: bool,
}

/// `fieldValidation`: what to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// Query parameters of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
    /// Used for the manager name of writes without `fieldManager`, as the real server does.
    pub user_agent: Option<String>,
}

/// The patch types the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Apply,
    Merge,
    /// Accepted and treated as a merge patch (the CRDs declare no patch strategies).
    StrategicMerge,
    Json,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let base = content_type.split(';').next().unwrap_or_default().trim();
        match base {
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/json-patch+json" => Some(PatchType::Json),
            _ => None,
        }
    }
}

/// DeleteOptions preconditions and dry run.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
}

/// The outcome of a successful write.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub object: Value,
    /// True when the object did not exist before (201 instead of 200).
    pub created: bool,
    /// `Warning` headers (unknown fields dropped).
    pub warnings: Vec<String>,
}

/// Selection of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub selection: ListOptions,
    /// `None` or `Some(0)`: start with the current state (synthetic `ADDED` events).
    pub resource_version: Option<u64>,
    pub send_initial_events: bool,
}

/// A started watch: the events to send first, then the live stream.
pub struct WatchStart {
    pub initial: Vec<(EventType, Arc<Value>)>,
    pub receiver: broadcast::Receiver<StoredEvent>,
    pub filter: WatchFilter,
    /// Set when the requested resourceVersion is too old: send this as an `ERROR` event and stop.
    pub expired: Option<ApiError>,
    /// The resourceVersion the initial events correspond to.
    pub resource_version: u64,
}

/// Which stored events a watcher sees, and as what.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    group: String,
    plural: String,
    namespace: Option<String>,
    selection: ListOptions,
}

impl WatchFilter {
    fn selects(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            if obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns.as_str()) {
                return false;
            }
        }
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        self.selection.labels.matches(labels) && self.selection.fields.matches(obj)
    }

    /// The event as this watcher sees it: objects moving into the selection are `ADDED`, out of it `DELETED`.
    pub fn view(&self, ev: &StoredEvent) -> Option<(EventType, Arc<Value>)> {
        if ev.group != self.group || ev.plural != self.plural {
            return None;
        }
        let now = self.selects(&ev.object);
        let before = ev.previous.as_deref().is_some_and(|p| self.selects(p));
        match ev.event_type {
            EventType::Added => now.then(|| (EventType::Added, ev.object.clone())),
            EventType::Deleted => now.then(|| (EventType::Deleted, ev.object.clone())),
            EventType::Modified => match (before, now) {
                (true, true) => Some((EventType::Modified, ev.object.clone())),
                (false, true) => Some((EventType::Added, ev.object.clone())),
                (true, false) => Some((EventType::Deleted, ev.object.clone())),
                (false, false) => None,
            },
        }
    }
}

enum Ownership {
    Update(String),
    Apply(Vec<ManagedEntry>),
}

type ObjectKey = (String, String);

/// All stored state of one server.
pub struct Cluster {
    resources: Vec<Arc<ResourceDef>>,
    resource_version: u64,
    objects: BTreeMap<(String, String), BTreeMap<ObjectKey, Value>>,
    history: VecDeque<StoredEvent>,
    /// resourceVersion of the newest event dropped from the history.
    history_floor: u64,
    events: broadcast::Sender<StoredEvent>,
    faults: Faults,
}

pub(crate) fn now() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = obj.as_object_mut().ok_or_else(|| {
        ApiError::bad_request("the body of the request must be a JSON or YAML object")
    })?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn without_meta_and_status(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

fn conflict_error(group: &str, plural: &str, name: &str, conflicts: &[Conflict]) -> ApiError {
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].manager, conflicts[0].path
        )
    } else {
        let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in conflicts {
            by_manager.entry(&c.manager).or_default().push(&c.path);
        }
        let mut lines = Vec::new();
        for (m, paths) in by_manager {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(paths.iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::new(409, "Conflict", message).with_details(StatusDetails {
        name: name.to_string(),
        group: group.to_string(),
        kind: plural.to_string(),
        causes: conflicts
            .iter()
            .map(|c| StatusCause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with {}", c.manager),
                field: c.path.clone(),
            })
            .collect(),
    })
}

fn encode_continue(key: &ObjectKey) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}\u{0}{}", key.0, key.1))
}

fn decode_continue(token: &str) -> Result<ObjectKey, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| ApiError::bad_request("continue key is not valid"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| ApiError::bad_request("continue key is not valid"))?;
    let (ns, name) = text
        .split_once('\u{0}')
        .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
    Ok((ns.to_string(), name.to_string()))
}

impl Cluster {
    pub fn new(crds: Vec<ResourceDef>, faults: Faults) -> Cluster {
        let mut resources = vec![
            Arc::new(ResourceDef::namespaces()),
            Arc::new(ResourceDef::configmaps()),
        ];
        resources.extend(crds.into_iter().map(Arc::new));
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let mut cluster = Cluster {
            resources,
            resource_version: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_floor: 0,
            events,
            faults,
        };
        for ns in INITIAL_NAMESPACES {
            let _ = cluster.create_namespace(ns);
        }
        cluster
    }

    fn create_namespace(&mut self, name: &str) -> Result<WriteResult, ApiError> {
        let target = self.namespace_target(None);
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let opts = WriteOptions {
            field_manager: Some("hhgitops-testapi".into()),
            ..WriteOptions::default()
        };
        self.create(&target, body, &opts)
    }

    fn namespace_target(&self, name: Option<&str>) -> Target {
        Target {
            resource: self.resources[0].clone(),
            version: "v1".into(),
            namespace: None,
            name: name.map(str::to_string),
            status: false,
        }
    }

    pub fn resources(&self) -> &[Arc<ResourceDef>] {
        &self.resources
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// The resource served at `group`/`version` under `plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.plural == plural && r.version(version).is_some())
            .cloned()
    }

    /// The resource of objects with this `apiVersion` and `kind`.
    pub fn resource_for(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<(Arc<ResourceDef>, String)> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.resources
            .iter()
            .find(|r| r.group == group && r.kind == kind && r.version(version).is_some())
            .map(|r| (r.clone(), version.to_string()))
    }

    fn store_key(res: &ResourceDef) -> (String, String) {
        (res.group.clone(), res.plural.clone())
    }

    fn object_key(t: &Target, name: &str) -> ObjectKey {
        (t.namespace.clone().unwrap_or_default(), name.to_string())
    }

    fn stored(&self, t: &Target, name: &str) -> Option<&Value> {
        self.objects
            .get(&Self::store_key(&t.resource))?
            .get(&Self::object_key(t, name))
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .get(&(String::new(), "namespaces".to_string()))
            .is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())))
    }

    /// A stored object as served at the request's version.
    fn present(t: &Target, obj: &Value) -> Value {
        let mut v = obj.clone();
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                json!(t.resource.api_version(&t.version)),
            );
        }
        v
    }

    /// Every stored object of `group`/`plural`, sorted by namespace and name.
    pub fn objects(&self, group: &str, plural: &str) -> Vec<Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One stored object, as stored.
    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(group.to_string(), plural.to_string()))?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    fn emit(&mut self, event: StoredEvent) {
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.resource_version;
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    fn name_of(t: &Target) -> Result<&str, ApiError> {
        t.name
            .as_deref()
            .ok_or_else(|| ApiError::method_not_allowed("collection"))
    }

    fn check_type_meta(t: &Target, obj: &Value) -> Result<(), ApiError> {
        let map = obj.as_object().ok_or_else(|| {
            ApiError::bad_request("the body of the request must be a JSON or YAML object")
        })?;
        let want_version = t.resource.api_version(&t.version);
        let api_version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{obj}'"
            )));
        }
        if api_version.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Object 'apiVersion' is missing in '{obj}'"
            )));
        }
        if api_version != want_version {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({want_version})"
            )));
        }
        if kind != t.resource.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                t.resource.kind
            )));
        }
        Ok(())
    }

    fn settle_namespace(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
        let namespaced = t.resource.namespaced;
        let meta = meta_mut(obj)?;
        if !namespaced {
            meta.remove("namespace");
            return Ok(());
        }
        let ns = t.namespace.as_deref().ok_or_else(|| {
            ApiError::bad_request("a namespace must be given in the request path")
        })?;
        match meta.get("namespace").and_then(Value::as_str) {
            Some(given) if !given.is_empty() && given != ns => Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            _ => {
                meta.insert("namespace".into(), json!(ns));
                Ok(())
            }
        }
    }

    fn settle_name(t: &Target, obj: &mut Value) -> Result<(), ApiError> {
        let url_name = Self::name_of(t)?.to_string();
        let meta = meta_mut(obj)?;
        match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != url_name => Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            ))),
            _ => {
                meta.insert("name".into(), json!(url_name));
                Ok(())
            }
        }
    }

    fn require_namespace(&self, t: &Target) -> Result<(), ApiError> {
        if let Some(ns) = &t.namespace {
            if t.resource.namespaced && !self.namespace_exists(ns) {
                return Err(ApiError::not_found("", "namespaces", ns));
            }
        }
        Ok(())
    }

    fn manager_for(opts: &WriteOptions) -> String {
        if let Some(m) = opts.field_manager.as_deref().filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        opts.user_agent
            .as_deref()
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    /// Prunes unknown fields, honouring `fieldValidation`; returns the warnings to send.
    fn prune_unknown(
        obj: &mut Value,
        vdef: &VersionDef,
        validation: FieldValidation,
    ) -> Result<Vec<String>, ApiError> {
        let mut dropped = Vec::new();
        meta::prune_metadata(obj, &mut dropped);
        if let Some(s) = &vdef.schema {
            schema::prune_resource(obj, s, &mut dropped);
        }
        let unknown: Vec<String> = dropped
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        match validation {
            FieldValidation::Strict if !unknown.is_empty() => Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                unknown.join(", ")
            ))),
            FieldValidation::Warn => Ok(unknown),
            _ => Ok(Vec::new()),
        }
    }

    fn admission_denied(t: &Target, name: &str, message: &str) -> ApiError {
        let res = &t.resource;
        ApiError::new(
            422,
            "Invalid",
            format!(
                "admission webhook \"validate.{}.{}\" denied the request: {message}",
                res.plural, res.group
            ),
        )
        .with_details(StatusDetails {
            name: name.to_string(),
            group: res.group.clone(),
            kind: res.kind.clone(),
            causes: Vec::new(),
        })
    }

    /// The shared tail of every write: server-owned fields, status handling, pruning, defaulting,
    /// validation, admission, generation, managed fields, no-op detection, and the commit.
    fn finish_write(
        &mut self,
        t: &Target,
        old: Option<Value>,
        mut obj: Value,
        ownership: Ownership,
        opts: &WriteOptions,
        mut warnings: Vec<String>,
    ) -> Result<WriteResult, ApiError> {
        let res = t.resource.clone();
        let vdef = res.version(&t.version).ok_or_else(ApiError::no_route)?;
        let scope = if t.status {
            Scope::Status
        } else {
            Scope::Main {
                status_subresource: vdef.status_subresource,
            }
        };
        let is_namespace = res.group.is_empty() && res.plural == "namespaces";
        let now = now();
        {
            let meta = meta_mut(&mut obj)?;
            match &old {
                Some(old) => {
                    for f in [
                        "uid",
                        "creationTimestamp",
                        "generation",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                        "resourceVersion",
                    ] {
                        match old.get("metadata").and_then(|m| m.get(f)) {
                            Some(v) => meta.insert(f.into(), v.clone()),
                            None => meta.remove(f),
                        };
                    }
                }
                None => {
                    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                    meta.insert("creationTimestamp".into(), json!(now));
                    if !res.group.is_empty() {
                        meta.insert("generation".into(), json!(1));
                    }
                    for f in [
                        "resourceVersion",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                        "selfLink",
                    ] {
                        meta.remove(f);
                    }
                }
            }
        }
        if let (
            Scope::Main {
                status_subresource: true,
            },
            Some(map),
        ) = (scope, obj.as_object_mut())
        {
            match old.as_ref().and_then(|o| o.get("status")) {
                Some(s) => map.insert("status".into(), s.clone()),
                None => map.remove("status"),
            };
            if is_namespace && old.is_none() {
                map.insert("status".into(), json!({"phase": "Active"}));
                map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            }
        }
        if let Some(map) = obj.as_object_mut() {
            let storage = res.storage_version().name.clone();
            map.insert("apiVersion".into(), json!(res.api_version(&storage)));
            map.insert("kind".into(), json!(res.kind));
        }

        warnings.extend(Self::prune_unknown(&mut obj, vdef, opts.field_validation)?);
        if let Some(s) = &vdef.schema {
            schema::default_resource(&mut obj, s);
        }
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        let mut errors: Vec<FieldError> = Vec::new();
        meta::validate_metadata(&obj, is_namespace, &mut errors);
        if let Some(s) = &vdef.schema {
            schema::validate_resource(&obj, s, &mut errors);
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&res.group, &res.kind, &name, &errors));
        }
        if let Some(message) = self
            .faults
            .denial(&res.kind, &name, AdmissionOperation::Write)
        {
            return Err(Self::admission_denied(t, &name, &message));
        }
        if let Some(old) = &old {
            if !res.group.is_empty()
                && without_meta_and_status(old) != without_meta_and_status(&obj)
            {
                let generation = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    + 1;
                meta_mut(&mut obj)?.insert("generation".into(), json!(generation));
            }
        }

        let api_version = res.api_version(&t.version);
        let mut entries = match ownership {
            Ownership::Update(manager) => managed::record_update(
                old.as_ref(),
                &obj,
                old.as_ref().map(managed::read_entries).unwrap_or_default(),
                &manager,
                &api_version,
                vdef.schema.as_ref(),
                scope,
                &now,
            ),
            Ownership::Apply(entries) => entries,
        };
        managed::retain_existing(&mut entries, &obj);
        managed::write_entries(&mut obj, &entries);
        obj.sort_all_objects();

        if let Some(old) = &old {
            if *old == obj {
                return Ok(WriteResult {
                    object: Self::present(t, old),
                    created: false,
                    warnings,
                });
            }
        }
        if opts.dry_run {
            return Ok(WriteResult {
                object: Self::present(t, &obj),
                created: old.is_none(),
                warnings,
            });
        }

        self.resource_version += 1;
        let rv = self.resource_version;
        meta_mut(&mut obj)?.insert("resourceVersion".into(), json!(rv.to_string()));
        let key = Self::object_key(t, &name);
        self.objects
            .entry(Self::store_key(&res))
            .or_default()
            .insert(key.clone(), obj.clone());
        let created = old.is_none();
        self.emit(StoredEvent {
            event_type: if created {
                EventType::Added
            } else {
                EventType::Modified
            },
            group: res.group.clone(),
            plural: res.plural.clone(),
            resource_version: rv,
            object: Arc::new(obj.clone()),
            previous: old.map(Arc::new),
        });

        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers_left = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left {
            self.remove_object(t, &key);
        }
        Ok(WriteResult {
            object: Self::present(t, &obj),
            created,
            warnings,
        })
    }

    /// Removes a stored object now, with a `DELETED` event; returns it with its final resourceVersion.
    fn remove_object(&mut self, t: &Target, key: &ObjectKey) -> Option<Value> {
        let res = t.resource.clone();
        let mut obj = self.objects.get_mut(&Self::store_key(&res))?.remove(key)?;
        if res.group.is_empty() && res.plural == "namespaces" {
            self.remove_namespace_contents(&key.1);
        }
        self.resource_version += 1;
        let rv = self.resource_version;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        self.emit(StoredEvent {
            event_type: EventType::Deleted,
            group: res.group.clone(),
            plural: res.plural.clone(),
            resource_version: rv,
            object: Arc::new(obj.clone()),
            previous: None,
        });
        Some(obj)
    }

    fn remove_namespace_contents(&mut self, ns: &str) {
        let namespaced: Vec<Arc<ResourceDef>> = self
            .resources
            .iter()
            .filter(|r| r.namespaced)
            .cloned()
            .collect();
        for res in namespaced {
            let keys: Vec<ObjectKey> = self
                .objects
                .get(&Self::store_key(&res))
                .map(|m| m.keys().filter(|k| k.0 == ns).cloned().collect())
                .unwrap_or_default();
            let t = Target {
                version: res.storage_version().name.clone(),
                resource: res,
                namespace: Some(ns.to_string()),
                name: None,
                status: false,
            };
            for key in keys {
                self.remove_object(&t, &key);
            }
        }
    }

    /// `GET` of one object.
    pub fn get(&self, t: &Target) -> Result<Value, ApiError> {
        let name = Self::name_of(t)?;
        self.stored(t, name)
            .map(|o| Self::present(t, o))
            .ok_or_else(|| ApiError::not_found(&t.resource.group, &t.resource.plural, name))
    }

    /// `LIST`: the selected objects of the target's namespace (or all namespaces), one page at a time.
    pub fn list(&self, t: &Target, opts: &ListOptions) -> Result<ListResult, ApiError> {
        let after = opts
            .continue_token
            .as_deref()
            .map(decode_continue)
            .transpose()?;
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut remaining = None;
        if let Some(store) = self.objects.get(&Self::store_key(&t.resource)) {
            let selected: Vec<(&ObjectKey, &Value)> = store
                .iter()
                .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
                .filter(|(k, _)| t.namespace.as_ref().is_none_or(|ns| &k.0 == ns))
                .filter(|(_, o)| {
                    opts.labels
                        .matches(o.pointer("/metadata/labels").and_then(Value::as_object))
                        && opts.fields.matches(o)
                })
                .collect();
            let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
            for (i, (_, obj)) in selected.iter().enumerate() {
                if i == limit {
                    continue_token = Some(encode_continue(selected[i - 1].0));
                    remaining = Some(selected.len() - limit);
                    break;
                }
                items.push(Self::present(t, obj));
            }
        }
        Ok(ListResult {
            items,
            resource_version: self.resource_version,
            continue_token,
            remaining,
        })
    }

    /// `WATCH`: subscribes first, then collects the events to replay, so nothing falls in between.
    pub fn watch(&self, t: &Target, opts: &WatchOptions) -> WatchStart {
        let receiver = self.events.subscribe();
        let filter = WatchFilter {
            group: t.resource.group.clone(),
            plural: t.resource.plural.clone(),
            namespace: t.namespace.clone(),
            selection: ListOptions {
                limit: None,
                continue_token: None,
                ..opts.selection.clone()
            },
        };
        let mut initial = Vec::new();
        let mut expired = None;
        match opts.resource_version {
            Some(rv) if rv > 0 && !opts.send_initial_events => {
                if rv < self.history_floor {
                    expired = Some(ApiError::new(
                        410,
                        "Expired",
                        format!("too old resource version: {rv} ({})", self.history_floor),
                    ));
                } else {
                    initial.extend(
                        self.history
                            .iter()
                            .filter(|e| e.resource_version > rv)
                            .filter_map(|e| filter.view(e)),
                    );
                }
            }
            _ => {
                if let Some(store) = self.objects.get(&Self::store_key(&t.resource)) {
                    initial.extend(
                        store
                            .values()
                            .filter(|o| filter.selects(o))
                            .map(|o| (EventType::Added, Arc::new(o.clone()))),
                    );
                }
            }
        }
        WatchStart {
            initial,
            receiver,
            filter,
            expired,
            resource_version: self.resource_version,
        }
    }

    /// `POST` to a collection.
    pub fn create(
        &mut self,
        t: &Target,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        if t.status || t.name.is_some() {
            return Err(ApiError::method_not_allowed("POST"));
        }
        let mut obj = body;
        Self::check_type_meta(t, &obj)?;
        Self::settle_namespace(t, &mut obj)?;
        let meta = meta_mut(&mut obj)?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            if let Some(prefix) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            {
                let suffix: String = uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .chars()
                    .take(5)
                    .collect();
                meta.insert("name".into(), json!(format!("{prefix}{suffix}")));
            }
        }
        if meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        meta.remove("managedFields");
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.require_namespace(t)?;
        if !name.is_empty() && self.stored(t, &name).is_some() {
            return Err(ApiError::already_exists(
                &t.resource.group,
                &t.resource.plural,
                &name,
            ));
        }
        self.finish_write(
            t,
            None,
            obj,
            Ownership::Update(Self::manager_for(opts)),
            opts,
            Vec::new(),
        )
    }

    /// `PUT` of one object (or of its status).
    pub fn update(
        &mut self,
        t: &Target,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let mut obj = body;
        Self::check_type_meta(t, &obj)?;
        Self::settle_namespace(t, &mut obj)?;
        Self::settle_name(t, &mut obj)?;
        let name = Self::name_of(t)?.to_string();
        let res = &t.resource;
        let old = self
            .stored(t, &name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, &name))?;
        match meta_str(&obj, "resourceVersion").filter(|rv| !rv.is_empty()) {
            None => {
                return Err(ApiError::invalid(
                    &res.group,
                    &res.kind,
                    &name,
                    &[FieldError::new(
                        FieldErrorKind::Invalid,
                        "metadata.resourceVersion",
                        Some(&json!(0)),
                        "must be specified for an update",
                    )],
                ))
            }
            Some(rv) if Some(rv) != meta_str(&old, "resourceVersion") => {
                return Err(ApiError::conflict(
                    &res.group,
                    &res.plural,
                    &name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ))
            }
            Some(_) => {}
        }
        if let Some(uid) = meta_str(&obj, "uid").filter(|u| !u.is_empty()) {
            let live = meta_str(&old, "uid").unwrap_or_default();
            if uid != live {
                return Err(ApiError::conflict(
                    &res.group,
                    &res.plural,
                    &name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {live}"),
                ));
            }
        }
        let candidate = if t.status {
            Self::with_status_of(&old, &obj)
        } else {
            obj
        };
        self.finish_write(
            t,
            Some(old),
            candidate,
            Ownership::Update(Self::manager_for(opts)),
            opts,
            Vec::new(),
        )
    }

    fn with_status_of(old: &Value, new: &Value) -> Value {
        let mut c = old.clone();
        if let Some(map) = c.as_object_mut() {
            match new.get("status") {
                Some(s) => map.insert("status".into(), s.clone()),
                None => map.remove("status"),
            };
        }
        c
    }

    /// `PATCH` of one object (or of its status), any patch type.
    pub fn patch(
        &mut self,
        t: &Target,
        patch_type: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        if patch_type == PatchType::Apply {
            return self.apply(t, body, opts);
        }
        let name = Self::name_of(t)?.to_string();
        let res = t.resource.clone();
        let old = self
            .stored(t, &name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, &name))?;
        let patch_doc: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut patched = Self::present(t, &old);
        match patch_type {
            PatchType::Json => patch::json_patch(&mut patched, &patch_doc).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?,
            _ => {
                if !patch_doc.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                let mut patch_doc = patch_doc;
                if patch_type == PatchType::StrategicMerge {
                    patch::strip_strategic_directives(&mut patch_doc);
                }
                patch::merge_patch(&mut patched, &patch_doc)
            }
        }
        Self::check_type_meta(t, &patched)?;
        if meta_str(&patched, "name") != Some(name.as_str())
            || meta_str(&patched, "namespace") != meta_str(&old, "namespace")
        {
            return Err(ApiError::bad_request(
                "metadata.name and metadata.namespace cannot be changed by a patch",
            ));
        }
        if meta_str(&patched, "resourceVersion") != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(
                &res.group,
                &res.plural,
                &name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let candidate = if t.status {
            Self::with_status_of(&old, &patched)
        } else {
            patched
        };
        self.finish_write(
            t,
            Some(old),
            candidate,
            Ownership::Update(Self::manager_for(opts)),
            opts,
            Vec::new(),
        )
    }

    /// Server-side apply (`application/apply-patch+yaml`); creates the object when it does not exist.
    fn apply(
        &mut self,
        t: &Target,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let res = t.resource.clone();
        let manager = opts
            .field_manager
            .clone()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("fieldManager: Required value: is required for apply patch")
            })?;
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
        let mut config: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if !config.is_object() {
            return Err(ApiError::bad_request("an apply patch must be an object"));
        }
        Self::check_type_meta(t, &config)?;
        Self::settle_namespace(t, &mut config)?;
        Self::settle_name(t, &mut config)?;
        let name = Self::name_of(t)?.to_string();
        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        let old = self.stored(t, &name).cloned();
        if let Some(rv) = meta_str(&config, "resourceVersion").filter(|rv| !rv.is_empty()) {
            if old.as_ref().and_then(|o| meta_str(o, "resourceVersion")) != Some(rv) {
                return Err(ApiError::conflict(
                    &res.group,
                    &res.plural,
                    &name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        if old.is_none() {
            if t.status {
                return Err(ApiError::not_found(&res.group, &res.plural, &name));
            }
            self.require_namespace(t)?;
        }
        let vdef = res.version(&t.version).ok_or_else(ApiError::no_route)?;
        let warnings = Self::prune_unknown(&mut config, vdef, opts.field_validation)?;
        strip_nulls(&mut config);
        let now = now();
        let api_version = res.api_version(&t.version);
        let live = old.as_ref().map(|o| Self::present(t, o));
        let scope = if t.status {
            Scope::Status
        } else {
            Scope::Main {
                status_subresource: vdef.status_subresource,
            }
        };
        let (merged, entries) = managed::apply(&ApplyInput {
            live: live.as_ref(),
            config: &config,
            manager: &manager,
            api_version: &api_version,
            force: opts.force,
            schema: vdef.schema.as_ref(),
            scope,
            now: &now,
        })
        .map_err(|c| conflict_error(&res.group, &res.plural, &name, &c))?;
        self.finish_write(t, old, merged, Ownership::Apply(entries), opts, warnings)
    }

    /// `DELETE` of one object: removed at once, or marked for deletion while it has finalizers.
    pub fn delete(&mut self, t: &Target, options: &DeleteOptions) -> Result<Value, ApiError> {
        let name = Self::name_of(t)?.to_string();
        let res = t.resource.clone();
        let old = self
            .stored(t, &name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, &name))?;
        if let Some(uid) = &options.precondition_uid {
            let live = meta_str(&old, "uid").unwrap_or_default();
            if uid != live {
                return Err(ApiError::conflict(
                    &res.group,
                    &res.plural,
                    &name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {live}"),
                ));
            }
        }
        if let Some(rv) = &options.precondition_resource_version {
            let live = meta_str(&old, "resourceVersion").unwrap_or_default();
            if rv != live {
                return Err(ApiError::conflict(
                    &res.group,
                    &res.plural,
                    &name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {live}"),
                ));
            }
        }
        if res.group.is_empty()
            && res.plural == "namespaces"
            && PROTECTED_NAMESPACES.contains(&name.as_str())
        {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
        if let Some(message) = self
            .faults
            .denial(&res.kind, &name, AdmissionOperation::Delete)
        {
            return Err(Self::admission_denied(t, &name, &message));
        }
        if options.dry_run {
            return Ok(Self::present(t, &old));
        }
        let has_finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(Self::present(t, &old));
            }
            let mut obj = old.clone();
            let meta = meta_mut(&mut obj)?;
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            self.resource_version += 1;
            let rv = self.resource_version;
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            obj.sort_all_objects();
            let key = Self::object_key(t, &name);
            self.objects
                .entry(Self::store_key(&res))
                .or_default()
                .insert(key, obj.clone());
            self.emit(StoredEvent {
                event_type: EventType::Modified,
                group: res.group.clone(),
                plural: res.plural.clone(),
                resource_version: rv,
                object: Arc::new(obj.clone()),
                previous: Some(Arc::new(old)),
            });
            return Ok(Self::present(t, &obj));
        }
        let removed = self
            .remove_object(t, &Self::object_key(t, &name))
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, &name))?;
        Ok(Self::present(t, &removed))
    }

    /// `DELETE` of a collection: deletes every selected object, returns them as a list.
    pub fn delete_collection(
        &mut self,
        t: &Target,
        list: &ListOptions,
        options: &DeleteOptions,
    ) -> Result<Vec<Value>, ApiError> {
        let selected = self.list(
            t,
            &ListOptions {
                limit: None,
                continue_token: None,
                ..list.clone()
            },
        )?;
        let mut deleted = Vec::new();
        for item in selected.items {
            let mut one = t.clone();
            one.name = meta_str(&item, "name").map(str::to_string);
            one.namespace = meta_str(&item, "namespace")
                .map(str::to_string)
                .or(one.namespace);
            deleted.push(self.delete(&one, options)?);
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::parse_crd;

    fn cluster() -> (Cluster, Target) {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"group": "wiring.githedgehog.com", "scope": "Namespaced",
                "names": {"kind": "Switch", "plural": "switches", "singular": "switch", "listKind": "SwitchList"},
                "versions": [{"name": "v1beta1", "served": true, "storage": true, "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                        "spec": {"type": "object", "required": ["role"], "properties": {
                            "role": {"type": "string", "enum": ["spine", "server-leaf"]},
                            "asn": {"type": "integer"},
                            "lf": {"type": "object", "properties": {"t": {"type": "integer", "default": 3}}}
                        }},
                        "status": {"type": "object"}
                    }}}}]}
        });
        let def = parse_crd(&crd).unwrap();
        let c = Cluster::new(vec![def], Faults::default());
        let t = Target {
            resource: c
                .resource("wiring.githedgehog.com", "v1beta1", "switches")
                .unwrap(),
            version: "v1beta1".into(),
            namespace: Some("default".into()),
            name: None,
            status: false,
        };
        (c, t)
    }

    fn named(t: &Target, name: &str) -> Target {
        Target {
            name: Some(name.into()),
            ..t.clone()
        }
    }

    fn sw(name: &str, role: &str) -> Value {
        json!({"apiVersion": "wiring.githedgehog.com/v1beta1", "kind": "Switch",
               "metadata": {"name": name, "labels": {"f": "1"}}, "spec": {"role": role, "lf": {}, "junk": 1}})
    }

    fn opts(manager: &str) -> WriteOptions {
        WriteOptions {
            field_manager: Some(manager.into()),
            ..WriteOptions::default()
        }
    }

    #[test]
    fn create_sets_server_fields_defaults_prunes_and_rejects_duplicates() {
        let (mut c, t) = cluster();
        let rv0 = c.resource_version();
        let r = c.create(&t, sw("leaf-01", "spine"), &opts("test")).unwrap();
        assert!(r.created);
        assert_eq!(r.warnings, vec!["unknown field \"spec.junk\""]);
        let o = r.object;
        assert_eq!(o["metadata"]["namespace"], "default");
        assert_eq!(o["metadata"]["generation"], 1);
        assert_eq!(o["metadata"]["resourceVersion"], (rv0 + 1).to_string());
        assert!(o["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
        assert_eq!(o["spec"]["lf"]["t"], 3);
        assert!(o["spec"].get("junk").is_none());
        assert_eq!(o["metadata"]["managedFields"][0]["operation"], "Update");
        let err = c
            .create(&t, sw("leaf-01", "spine"), &opts("test"))
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    }

    #[test]
    fn invalid_objects_are_rejected_with_field_causes() {
        let (mut c, t) = cluster();
        let err = c
            .create(&t, sw("leaf-01", "boss"), &opts("test"))
            .unwrap_err();
        assert_eq!(err.code, 422);
        let causes = err.details.unwrap().causes;
        assert_eq!(causes[0].field, "spec.role");
        let strict = WriteOptions {
            field_validation: FieldValidation::Strict,
            ..opts("t")
        };
        let err = c.create(&t, sw("leaf-02", "spine"), &strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("unknown field \"spec.junk\""));
    }

    #[test]
    fn update_needs_current_resource_version_and_bumps_generation_on_spec_change() {
        let (mut c, t) = cluster();
        let o = c
            .create(&t, sw("leaf-01", "spine"), &opts("test"))
            .unwrap()
            .object;
        let mut stale = o.clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        let err = c
            .update(&named(&t, "leaf-01"), stale, &opts("test"))
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
        let mut newer = o.clone();
        newer["spec"]["role"] = json!("server-leaf");
        let u = c
            .update(&named(&t, "leaf-01"), newer, &opts("test"))
            .unwrap()
            .object;
        assert_eq!(u["metadata"]["generation"], 2);
        let mut labels_only = u.clone();
        labels_only["metadata"]["labels"]["g"] = json!("2");
        let l = c
            .update(&named(&t, "leaf-01"), labels_only, &opts("test"))
            .unwrap()
            .object;
        assert_eq!(l["metadata"]["generation"], 2);
    }

    #[test]
    fn noop_apply_does_not_write_and_dry_run_never_writes() {
        let (mut c, t) = cluster();
        let body = serde_json::to_vec(&sw("leaf-01", "spine")).unwrap();
        let t1 = named(&t, "leaf-01");
        let r = c
            .patch(&t1, PatchType::Apply, &body, &opts("hhgitops"))
            .unwrap();
        assert!(r.created);
        let rv = c.resource_version();
        let again = c
            .patch(&t1, PatchType::Apply, &body, &opts("hhgitops"))
            .unwrap();
        assert!(!again.created);
        assert_eq!(c.resource_version(), rv, "a no-op apply must not write");
        let dry = WriteOptions {
            dry_run: true,
            ..opts("hhgitops")
        };
        let changed = serde_json::to_vec(&sw("leaf-01", "server-leaf")).unwrap();
        let d = c.patch(&t1, PatchType::Apply, &changed, &dry).unwrap();
        assert_eq!(d.object["spec"]["role"], "server-leaf");
        assert_eq!(c.resource_version(), rv);
        assert_eq!(c.get(&t1).unwrap()["spec"]["role"], "spine");
        c.delete(
            &t1,
            &DeleteOptions {
                dry_run: true,
                ..DeleteOptions::default()
            },
        )
        .unwrap();
        assert!(c.get(&t1).is_ok());
    }

    #[test]
    fn apply_accepts_yaml_and_needs_a_field_manager() {
        let (mut c, t) = cluster();
        let t1 = named(&t, "leaf-01");
        let yaml = b"apiVersion: wiring.githedgehog.com/v1beta1\nkind: Switch\nmetadata:\n  name: leaf-01\nspec:\n  role: spine\n";
        let err = c
            .patch(&t1, PatchType::Apply, yaml, &WriteOptions::default())
            .unwrap_err();
        assert_eq!(err.code, 400);
        let r = c
            .patch(&t1, PatchType::Apply, yaml, &opts("hhgitops"))
            .unwrap();
        assert!(r.created);
        assert_eq!(r.object["spec"]["role"], "spine");
        let wrong_name =
            b"apiVersion: wiring.githedgehog.com/v1beta1\nkind: Switch\nmetadata:\n  name: other\n";
        assert_eq!(
            c.patch(&t1, PatchType::Apply, wrong_name, &opts("hhgitops"))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn delete_collection_removes_the_selected_objects_only() {
        let (mut c, t) = cluster();
        for (name, fabric) in [("a", "f1"), ("b", "f1"), ("c", "f2")] {
            let mut o = sw(name, "spine");
            o["metadata"]["labels"] = json!({"fabric": fabric});
            c.create(&t, o, &opts("test")).unwrap();
        }
        let sel = ListOptions {
            labels: LabelSelector::parse("fabric=f1").unwrap(),
            ..ListOptions::default()
        };
        let deleted = c
            .delete_collection(&t, &sel, &DeleteOptions::default())
            .unwrap();
        assert_eq!(deleted.len(), 2);
        let left = c.list(&t, &ListOptions::default()).unwrap().items;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["metadata"]["name"], "c");
    }

    #[test]
    fn watchers_see_objects_leave_and_enter_their_selection() {
        let (mut c, t) = cluster();
        let mut o = sw("leaf-01", "spine");
        o["metadata"]["labels"] = json!({"fabric": "f1"});
        c.create(&t, o, &opts("test")).unwrap();
        let rv = c.resource_version();
        let t1 = named(&t, "leaf-01");
        c.patch(
            &t1,
            PatchType::Merge,
            br#"{"metadata":{"labels":{"fabric":"f2"}}}"#,
            &opts("test"),
        )
        .unwrap();
        c.patch(
            &t1,
            PatchType::Merge,
            br#"{"metadata":{"labels":{"fabric":"f1"}}}"#,
            &opts("test"),
        )
        .unwrap();
        let sel = ListOptions {
            labels: LabelSelector::parse("fabric=f1").unwrap(),
            ..ListOptions::default()
        };
        let w = c.watch(
            &t,
            &WatchOptions {
                selection: sel,
                resource_version: Some(rv),
                send_initial_events: false,
            },
        );
        let types: Vec<EventType> = w.initial.iter().map(|(e, _)| *e).collect();
        assert_eq!(types, vec![EventType::Deleted, EventType::Added]);
    }

    #[test]
    fn objects_need_an_existing_namespace_and_the_path_namespace() {
        let (mut c, t) = cluster();
        let elsewhere = Target {
            namespace: Some("nowhere".into()),
            ..t.clone()
        };
        let err = c
            .create(&elsewhere, sw("leaf-01", "spine"), &opts("t"))
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (404, "namespaces \"nowhere\" not found")
        );
        let mut o = sw("leaf-01", "spine");
        o["metadata"]["namespace"] = json!("kube-system");
        assert_eq!(c.create(&t, o, &opts("t")).unwrap_err().code, 400);
    }

    #[test]
    fn finalizers_delay_deletion_until_removed() {
        let (mut c, t) = cluster();
        let mut o = sw("leaf-01", "spine");
        o["metadata"]["finalizers"] = json!(["x/y"]);
        c.create(&t, o, &opts("test")).unwrap();
        let t1 = named(&t, "leaf-01");
        let marked = c.delete(&t1, &DeleteOptions::default()).unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        let patch = br#"{"metadata":{"finalizers":null}}"#;
        c.patch(&t1, PatchType::Merge, patch, &opts("test"))
            .unwrap();
        assert_eq!(c.get(&t1).unwrap_err().code, 404);
    }

    #[test]
    fn list_pages_and_selects_and_watch_replays_history() {
        let (mut c, t) = cluster();
        let start = c.resource_version();
        for i in 0..5 {
            let mut o = sw(&format!("sw-{i}"), "spine");
            o["metadata"]["labels"] = json!({"parity": if i % 2 == 0 { "even" } else { "odd" }});
            c.create(&t, o, &opts("test")).unwrap();
        }
        let page = c
            .list(
                &t,
                &ListOptions {
                    limit: Some(2),
                    ..ListOptions::default()
                },
            )
            .unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.remaining, Some(3));
        let next = c
            .list(
                &t,
                &ListOptions {
                    limit: Some(10),
                    continue_token: page.continue_token,
                    ..ListOptions::default()
                },
            )
            .unwrap();
        assert_eq!(next.items[0]["metadata"]["name"], "sw-2");
        let even = ListOptions {
            labels: LabelSelector::parse("parity=even").unwrap(),
            ..ListOptions::default()
        };
        assert_eq!(c.list(&t, &even).unwrap().items.len(), 3);
        let w = c.watch(
            &t,
            &WatchOptions {
                resource_version: Some(start + 2),
                ..WatchOptions::default()
            },
        );
        let names: Vec<&str> = w
            .initial
            .iter()
            .filter_map(|(_, o)| o["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, vec!["sw-2", "sw-3", "sw-4"]);
    }
}
