//! The data functions behind the API's routes, reusable by the web UI (issue 14): each takes the shared state
//! and plain arguments, and returns a serializable value or an [`ApiError`]. Routes only parse, call one of
//! these, and answer.

use std::collections::BTreeMap;

use hhgitops_core::Kind;
use hhgitops_engine::fabric::{Fabric, FabricSpec};
use hhgitops_engine::index::FabricRecords;
use hhgitops_engine::layout::GitOpsRoot;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::api::health::Check;
use crate::api::Page;
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobType;
use crate::state::AppState;

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A registered fabric as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FabricView {
    pub name: String,
    /// The resolved GitOps root.
    pub root: String,
    /// Which rule of SPEC §1 chose the root.
    pub root_rule: String,
    #[schema(value_type = Option<Object>)]
    pub git: Option<serde_json::Value>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    /// Periodic sync interval (e.g. `5m`); absent: the server's default.
    pub sync_interval: Option<String>,
    /// Environment variable holding the Git webhook secret.
    pub webhook_secret_env: Option<String>,
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    pub created_at: String,
    /// The watcher of this fabric in this server, when it runs one.
    #[schema(value_type = Option<Object>)]
    pub watcher: Option<serde_json::Value>,
    /// The replica leading this fabric's watcher and periodic sync (absent: none holds the lease now).
    pub leader: Option<crate::replica::LeaderView>,
}

pub fn fabric_view(state: &AppState, f: &Fabric) -> FabricView {
    let watcher = state
        .watch_status()
        .into_iter()
        .find(|w| w.fabric == f.name)
        .map(|w| to_json(&w));
    FabricView {
        name: f.name.clone(),
        root: f.root.display().to_string(),
        root_rule: f.root_rule.as_str().into(),
        git: f.git.as_ref().map(|g| {
            serde_json::json!({"url": g.url, "branch": g.branch, "path": g.path, "tokenEnv": g.token_env})
        }),
        kubeconfig: f.kubeconfig.as_ref().map(|k| k.display().to_string()),
        context: f.kube_context.clone(),
        sync_interval: f.options.get("syncInterval").and_then(|v| v.as_str()).map(str::to_string),
        webhook_secret_env: crate::adapter::webhook_secret_env(f),
        options: f.options.clone(),
        created_at: f.created_at.clone(),
        watcher,
        leader: None,
    }
}

/// [`fabric_view`] with the fabric's leader read from the database.
pub async fn fabric_view_led(state: &AppState, f: &Fabric) -> FabricView {
    let mut v = fabric_view(state, f);
    v.leader = crate::replica::leader_of(state.engine().db(), &f.name, state.replica_id()).await;
    v
}

pub async fn fabric(state: &AppState, name: &str) -> ApiResult<Fabric> {
    Ok(state.engine().fabric(name).await?)
}

pub async fn list_fabrics(state: &AppState) -> ApiResult<Vec<FabricView>> {
    let all = state.engine().fabrics().await?;
    let mut leaders = crate::replica::leaders(state.engine().db(), state.replica_id())
        .await
        .unwrap_or_default();
    Ok(all
        .iter()
        .map(|f| {
            let mut v = fabric_view(state, f);
            v.leader = leaders.remove(&f.name);
            v
        })
        .collect())
}

/// What `POST /api/v1/fabrics` takes: the options of `fabric add`, in camelCase.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FabricCreate {
    pub name: String,
    pub path: Option<String>,
    pub git_url: Option<String>,
    pub branch: Option<String>,
    pub git_path: Option<String>,
    pub git_token_env: Option<String>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    /// e.g. `10m`.
    pub sync_interval: Option<String>,
    pub webhook_secret_env: Option<String>,
}

/// What `PATCH /api/v1/fabrics/{fabric}` takes; `null` clears a setting.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FabricPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub sync_interval: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub webhook_secret_env: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub kubeconfig: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub context: Option<Option<String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

fn check_interval(s: &str) -> ApiResult<()> {
    crate::tokens::parse_duration(s)
        .filter(|secs| *secs >= 10)
        .map(|_| ())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "syncInterval {s:?}: give a duration of at least 10s, e.g. 30s, 10m, 1h"
            ))
        })
}

fn check_env_name(s: &str) -> ApiResult<()> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{s:?} must name an environment variable (letters, digits, '_')"
        )))
    }
}

/// An empty string where a path or a name is wanted: 400, naming the field (`null` or leaving it out is how a
/// setting is left unset).
fn check_not_empty(field: &str, v: Option<&str>) -> ApiResult<()> {
    match v {
        Some(s) if s.trim().is_empty() => Err(ApiError::invalid(format!(
            "{field}: an empty value; give one, or leave {field} out (null clears it where it can be cleared)"
        ))),
        _ => Ok(()),
    }
}

/// Registers a fabric (as `fabric add`).
pub async fn create_fabric(state: &AppState, req: FabricCreate) -> ApiResult<serde_json::Value> {
    for (field, v) in [
        ("name", Some(req.name.as_str())),
        ("path", req.path.as_deref()),
        ("gitUrl", req.git_url.as_deref()),
        ("branch", req.branch.as_deref()),
        ("gitPath", req.git_path.as_deref()),
        ("gitTokenEnv", req.git_token_env.as_deref()),
        ("kubeconfig", req.kubeconfig.as_deref()),
        ("context", req.context.as_deref()),
    ] {
        check_not_empty(field, v)?;
    }
    if let Some(i) = &req.sync_interval {
        check_interval(i)?;
    }
    if let Some(e) = &req.webhook_secret_env {
        check_env_name(e)?;
    }
    let spec = FabricSpec {
        name: req.name.clone(),
        path: req.path.map(Into::into),
        git_url: req.git_url,
        git_branch: req.branch,
        git_path: req.git_path,
        git_token_env: req.git_token_env,
        kubeconfig: req.kubeconfig.map(Into::into),
        kube_context: req.context,
        options: None,
    };
    let report = state.engine().add_fabric(&spec).await?;
    let mut changes = serde_json::Map::new();
    if let Some(i) = req.sync_interval {
        changes.insert("syncInterval".into(), i.into());
    }
    if let Some(e) = req.webhook_secret_env {
        changes.insert("webhookSecretEnv".into(), e.into());
    }
    let fabric = if changes.is_empty() {
        report.fabric.clone()
    } else {
        crate::adapter::set_fabric_options(state.engine(), &req.name, &changes).await?
    };
    Ok(serde_json::json!({
        "fabric": fabric_view(state, &fabric),
        "init": to_json(&report.init),
        "git": to_json(&report.git),
    }))
}

pub async fn patch_fabric(
    state: &AppState,
    name: &str,
    patch: FabricPatch,
) -> ApiResult<FabricView> {
    state.engine().fabric(name).await?;
    check_not_empty(
        "kubeconfig",
        patch.kubeconfig.as_ref().and_then(|v| v.as_deref()),
    )?;
    check_not_empty("context", patch.context.as_ref().and_then(|v| v.as_deref()))?;
    let mut changes = serde_json::Map::new();
    if let Some(v) = &patch.sync_interval {
        if let Some(i) = v {
            check_interval(i)?;
        }
        changes.insert(
            "syncInterval".into(),
            v.clone().map_or(serde_json::Value::Null, Into::into),
        );
    }
    if let Some(v) = &patch.webhook_secret_env {
        if let Some(e) = v {
            check_env_name(e)?;
        }
        changes.insert(
            "webhookSecretEnv".into(),
            v.clone().map_or(serde_json::Value::Null, Into::into),
        );
    }
    crate::adapter::set_fabric_target(state.engine(), name, patch.kubeconfig, patch.context)
        .await?;
    let f = crate::adapter::set_fabric_options(state.engine(), name, &changes).await?;
    state.touched(name);
    Ok(fabric_view(state, &f))
}

pub async fn remove_fabric(state: &AppState, name: &str) -> ApiResult<FabricView> {
    let f = state.engine().remove_fabric(name).await?;
    state.0.status_cache.forget(name);
    state.0.drift_cache.forget(name);
    state.0.objects_cache.forget(name);
    state.0.last_commits.forget(name);
    Ok(fabric_view(state, &f))
}

pub async fn status(state: &AppState, name: &str) -> ApiResult<serde_json::Value> {
    let f = fabric(state, name).await?;
    let r = state.status(&f).await?;
    Ok(to_json(&*r))
}

/// The raw queue: pending, rejected (with every located error) and refused files.
pub async fn raw_files(state: &AppState, name: &str) -> ApiResult<serde_json::Value> {
    let f = fabric(state, name).await?;
    let r = state.status(&f).await?;
    let records = FabricRecords::new(state.engine().db(), &f.name);
    let all: BTreeMap<String, serde_json::Value> = records
        .rejections()
        .await?
        .into_iter()
        .map(|r| (r.file, r.errors))
        .collect();
    let rejected: Vec<serde_json::Value> = r
        .rejected
        .iter()
        .map(|x| {
            serde_json::json!({
                "file": x.file,
                "rejectedAt": x.rejected_at,
                "errors": all.get(&x.file).cloned().unwrap_or_else(|| serde_json::json!(x.errors)),
            })
        })
        .collect();
    Ok(serde_json::json!({
        "fabric": f.name,
        "pending": r.pending,
        "rejected": rejected,
        "refused": to_json(&r.refused),
    }))
}

/// One managed object in a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectItem {
    pub kind: String,
    pub name: String,
    pub file: String,
    pub sha256: String,
    #[schema(value_type = Option<Object>)]
    pub source: Option<serde_json::Value>,
    /// Status in the latest drift report (`in-sync`, `drifted`, `missing`, …); absent when none was computed.
    pub drift: Option<String>,
}

/// Filters of the object listing.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub drift: Option<String>,
}

pub fn parse_kind(k: &str) -> ApiResult<Kind> {
    k.parse::<Kind>()
        .map_err(|e| ApiError::invalid(e.to_string()))
}

/// One row of the object index as listed (see [`ObjectListing`]).
#[derive(Debug, Clone)]
struct ObjectRow {
    kind: String,
    name: String,
    file: String,
    sha256: String,
    source: Option<serde_json::Value>,
}

impl ObjectRow {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<ObjectRow, sqlx::Error> {
        let sf: Option<String> = r.try_get("source_file")?;
        let source = match sf {
            Some(file) => Some(serde_json::json!({
                "file": file,
                "document": r.try_get::<Option<i64>, _>("source_document")?,
                "sha256": r.try_get::<Option<String>, _>("source_sha256")?,
            })),
            None => None,
        };
        Ok(ObjectRow {
            kind: r.try_get("kind")?,
            name: r.try_get("name")?,
            file: r.try_get("file")?,
            sha256: r.try_get("sha256")?,
            source,
        })
    }

    /// The row as listed, with its status in the latest drift report (looked up in the report's index).
    fn item(&self, drift: Option<&LatestDrift>) -> ObjectItem {
        ObjectItem {
            drift: drift.and_then(|d| d.status_of(&self.kind, &self.name)),
            kind: self.kind.clone(),
            name: self.name.clone(),
            file: self.file.clone(),
            sha256: self.sha256.clone(),
            source: self.source.clone(),
        }
    }
}

/// A fabric's whole object index, sorted by kind and name (byte order, whatever the database's collation), as
/// read for the manifest it was built from. The index is a function of the manifest (it is replaced with the
/// manifest's hash in one transaction, and only so), so a listing read under one hash stays true while the
/// fabric's row names that hash: a page is then a slice of memory, checked with one query of one row.
#[derive(Debug)]
pub struct ObjectListing {
    manifest_sha: String,
    rows: Vec<ObjectRow>,
}

impl ObjectListing {
    /// The rows of one kind (all when `None`) whose name holds `name`, in either case (as SQLite's `LIKE`:
    /// managed objects' names are RFC 1123, lower case, so only the filter is lowered).
    fn select<'a>(
        &'a self,
        kind: Option<&'a str>,
        name: Option<&'a str>,
    ) -> impl Iterator<Item = &'a ObjectRow> + 'a {
        let rows = match kind {
            Some(k) => {
                let start = self.rows.partition_point(|r| r.kind.as_str() < k);
                let end = start + self.rows[start..].partition_point(|r| r.kind == k);
                &self.rows[start..end]
            }
            None => &self.rows[..],
        };
        let needle = name.map(str::to_ascii_lowercase).unwrap_or_default();
        rows.iter()
            .filter(move |r| r.name.contains(needle.as_str()))
    }
}

/// Per fabric, the object index last listed (see [`ObjectListing`]); one reader at a time reads a fabric's
/// index afresh, the requests arriving meanwhile wait for it and take what it read.
#[derive(Default)]
pub struct ObjectsCache {
    listings: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<ObjectListing>>>,
    reading: tokio::sync::Mutex<()>,
}

impl ObjectsCache {
    /// Forgets a fabric (removed from the registry).
    pub fn forget(&self, fabric: &str) {
        self.listings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fabric);
    }

    fn get(&self, fabric: &str, manifest_sha: &str) -> Option<std::sync::Arc<ObjectListing>> {
        self.listings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(fabric)
            .filter(|l| l.manifest_sha == manifest_sha)
            .cloned()
    }

    fn keep(&self, fabric: &str, listing: std::sync::Arc<ObjectListing>) {
        self.listings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fabric.to_string(), listing);
    }
}

/// The manifest hash a fabric's index was built from: `Ok(None)` when the index has none (or the fabric is
/// not registered: the caller tells which).
async fn index_sha(state: &AppState, fabric_name: &str) -> ApiResult<Option<String>> {
    Ok(FabricRecords::new(state.engine().db(), fabric_name)
        .index_manifest_sha()
        .await?)
}

/// A registered fabric's object index: from the cache while the fabric's row names the manifest it was read
/// for, else read whole (and kept when the manifest did not change while it was read). An unknown fabric is
/// 404. One query (the fabric's row) while the index stays as it is.
async fn object_listing(
    state: &AppState,
    fabric_name: &str,
) -> ApiResult<std::sync::Arc<ObjectListing>> {
    let cache = &state.0.objects_cache;
    let cached = |sha: &Option<String>| sha.as_deref().and_then(|s| cache.get(fabric_name, s));
    let mut before = index_sha(state, fabric_name).await?;
    if let Some(hit) = cached(&before) {
        return Ok(hit);
    }
    if before.is_none() {
        // No hash: an empty or never-indexed fabric, or no fabric at all (404).
        fabric(state, fabric_name).await?;
    }
    let _reading = cache.reading.lock().await;
    if before.is_some() {
        // Another request may have read it while this one waited.
        before = index_sha(state, fabric_name).await?;
        if let Some(hit) = cached(&before) {
            return Ok(hit);
        }
    }
    let db = state.engine().db();
    let rows = sqlx::query("SELECT * FROM managed_objects WHERE fabric = $1")
        .bind(fabric_name)
        .fetch_all(db.pool())
        .await?;
    let mut rows = rows
        .iter()
        .map(ObjectRow::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    rows.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    let after = index_sha(state, fabric_name).await?;
    let listing = std::sync::Arc::new(ObjectListing {
        manifest_sha: before.clone().unwrap_or_default(),
        rows,
    });
    // An index without a manifest hash, or replaced while it was read, is answered but not kept.
    if before.is_some() && after == before {
        cache.keep(fabric_name, listing.clone());
    }
    Ok(listing)
}

/// Managed objects of a fabric, filtered and paged from its object index (see [`ObjectListing`]); the drift
/// filter over the latest report.
pub async fn objects(
    state: &AppState,
    fabric_name: &str,
    filter: &ObjectFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<Page<ObjectItem>> {
    let kind = filter.kind.as_deref().map(parse_kind).transpose()?;
    let listing = object_listing(state, fabric_name).await?;
    let drift = latest_drift_cached(state, fabric_name).await?;
    let drift = drift.as_deref();
    let status_wanted = |r: &ObjectRow| match &filter.drift {
        None => true,
        Some(wanted) => match drift.and_then(|d| d.status_of(&r.kind, &r.name)) {
            Some(status) => status == *wanted,
            None => wanted == "unknown",
        },
    };
    let rows: Vec<&ObjectRow> = listing
        .select(kind.map(|k| k.name()), filter.name.as_deref())
        .filter(|r| status_wanted(r))
        .collect();
    let items = rows[crate::api::window(rows.len(), limit, offset)]
        .iter()
        .map(|r| r.item(drift))
        .collect();
    Ok(Page::new(items, rows.len() as i64, offset))
}

/// One object: normalized YAML and JSON, its source, its references both ways, its drift entry.
pub async fn object(
    state: &AppState,
    fabric_name: &str,
    kind: &str,
    name: &str,
) -> ApiResult<serde_json::Value> {
    let f = fabric(state, fabric_name).await?;
    let kind = parse_kind(kind)?;
    let row =
        sqlx::query("SELECT * FROM managed_objects WHERE fabric = $1 AND kind = $2 AND name = $3")
            .bind(fabric_name)
            .bind(kind.name())
            .bind(name)
            .fetch_optional(state.engine().db().pool())
            .await?;
    let Some(row) = row else {
        return Err(ApiError::not_found(format!(
            "{}/{name} is not managed in fabric {fabric_name:?}",
            kind.name()
        )));
    };
    let drift = latest_drift_cached(state, fabric_name).await?;
    let item = ObjectRow::from_row(&row)?.item(drift.as_deref());
    let name_owned = name.to_string();
    let f2 = f.clone();
    let detail = tokio::task::spawn_blocking(move || object_detail(&f2, kind, &name_owned))
        .await
        .map_err(|e| ApiError::internal(format!("object task failed: {e}")))??;
    let drift_entry = match state.jobs().latest(fabric_name, JobType::Drift).await? {
        Some(job) => job
            .result
            .as_ref()
            .and_then(|r| r.get("objects"))
            .and_then(|o| o.as_array())
            .and_then(|a| {
                a.iter()
                    .find(|o| {
                        o.get("kind").and_then(|v| v.as_str()) == Some(kind.name())
                            && o.get("name").and_then(|v| v.as_str()) == Some(name)
                    })
                    .cloned()
            })
            .map(|e| serde_json::json!({"entry": e, "job": job.id, "computedAt": job.finished_at})),
        None => None,
    };
    Ok(serde_json::json!({
        "kind": item.kind,
        "name": item.name,
        "file": item.file,
        "sha256": item.sha256,
        "source": item.source,
        "yaml": detail.0,
        "object": detail.1,
        "refersTo": detail.2,
        "referredBy": detail.3,
        "drift": drift_entry,
    }))
}

type Detail = (String, serde_json::Value, Vec<String>, Vec<String>);

fn object_detail(f: &Fabric, kind: Kind, name: &str) -> ApiResult<Detail> {
    let root = GitOpsRoot::new(&f.root);
    let rel = GitOpsRoot::managed_rel(kind, name);
    let yaml = root
        .dir()?
        .read(&rel)
        .map_err(|e| ApiError::not_found(format!("{rel}: {e}")))?;
    let yaml = String::from_utf8(yaml)
        .map_err(|_| ApiError::conflict(format!("{rel} is not UTF-8; see the fabric's status")))?;
    let settings = hhgitops_engine::config::fabric_settings(f)?;
    let manifest = root.current_manifest(&f.name)?;
    let managed = hhgitops_engine::managed::load(&root, &manifest, &settings)?;
    let Some(entry) = managed.state.get(kind, name) else {
        return Err(ApiError::conflict(format!(
            "{rel} does not validate; see the fabric's status"
        )));
    };
    let json = hhgitops_core::normalize::normalize_value(&entry.object);
    let fmt = |(k, n): &(Kind, String)| format!("{}/{n}", k.name());
    let refers: Vec<String> = hhgitops_kube::refs::references(&entry.object)
        .iter()
        .map(fmt)
        .collect();
    let mut referred = Vec::new();
    for e in managed.state.iter() {
        if hhgitops_kube::refs::references(&e.object)
            .iter()
            .any(|(k, n)| *k == kind && n == name)
        {
            referred.push(format!("{}/{}", e.object.kind().name(), e.object.name()));
        }
    }
    referred.sort();
    Ok((yaml, json, refers, referred))
}

/// The latest drift report, filtered by status.
pub async fn latest_drift(
    state: &AppState,
    fabric_name: &str,
    status: Option<&str>,
) -> ApiResult<serde_json::Value> {
    fabric(state, fabric_name).await?;
    let Some(job) = state.jobs().latest(fabric_name, JobType::Drift).await? else {
        return Err(ApiError::not_found(format!(
            "no drift report for fabric {fabric_name:?} yet: POST /api/v1/fabrics/{fabric_name}/jobs {{\"type\": \"drift\"}}"
        )));
    };
    let mut report = job.result.clone().unwrap_or(serde_json::Value::Null);
    if let (Some(s), Some(objs)) = (
        status,
        report.get_mut("objects").and_then(|o| o.as_array_mut()),
    ) {
        objs.retain(|o| o.get("status").and_then(|v| v.as_str()) == Some(s));
    }
    Ok(serde_json::json!({"job": job.id, "computedAt": job.finished_at, "report": report}))
}

/// Archive-log entries, newest first.
pub async fn history(
    state: &AppState,
    fabric_name: &str,
    limit: i64,
    offset: i64,
) -> ApiResult<Page<serde_json::Value>> {
    let f = fabric(state, fabric_name).await?;
    let entries = tokio::task::spawn_blocking(move || -> ApiResult<Vec<serde_json::Value>> {
        let root = GitOpsRoot::new(&f.root);
        let path = root.archive_log_path();
        let Some(v) = hhgitops_engine::records::read_yaml(
            &root.sandbox()?,
            hhgitops_engine::layout::ARCHIVE_LOG,
        )?
        else {
            return Ok(Vec::new());
        };
        let log = hhgitops_engine::records::parse_archive_log(&path, v)?;
        Ok(log.entries.iter().rev().map(to_json).collect())
    })
    .await
    .map_err(|e| ApiError::internal(format!("history task failed: {e}")))??;
    Ok(Page::of(entries, limit, offset))
}

/// Run records, newest first.
pub async fn runs(
    state: &AppState,
    fabric_name: &str,
    limit: i64,
    offset: i64,
) -> ApiResult<Page<serde_json::Value>> {
    fabric(state, fabric_name).await?;
    let db = state.engine().db().pool();
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE fabric = $1")
        .bind(fabric_name)
        .fetch_one(db)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(
        "SELECT id, operation, started_at, finished_at, outcome, files, created, updated, unchanged, deleted, rejected, message, actor \
         FROM runs WHERE fabric = $1 ORDER BY started_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(fabric_name)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let mut items = Vec::new();
    for r in &rows {
        items.push(serde_json::json!({
            "id": r.try_get::<String, _>("id")?,
            "operation": r.try_get::<String, _>("operation")?,
            "startedAt": r.try_get::<String, _>("started_at")?,
            "finishedAt": r.try_get::<Option<String>, _>("finished_at")?,
            "outcome": r.try_get::<String, _>("outcome")?,
            "files": r.try_get::<i64, _>("files")?,
            "created": r.try_get::<i64, _>("created")?,
            "updated": r.try_get::<i64, _>("updated")?,
            "unchanged": r.try_get::<i64, _>("unchanged")?,
            "deleted": r.try_get::<i64, _>("deleted")?,
            "rejected": r.try_get::<i64, _>("rejected")?,
            "message": r.try_get::<String, _>("message")?,
            "actor": r.try_get::<Option<String>, _>("actor")?,
        }));
    }
    Ok(Page::new(items, total, offset))
}

/// Deletes a managed object (as `delete`).
pub async fn delete_object(
    state: &AppState,
    fabric_name: &str,
    kind: &str,
    name: &str,
) -> ApiResult<serde_json::Value> {
    let f = fabric(state, fabric_name).await?;
    let kind = parse_kind(kind)?;
    let r = hhgitops_engine::maintain::delete_object(
        state.engine(),
        &f,
        kind,
        name,
        &Default::default(),
    )
    .await;
    // Done or refused, it ran (a run record): the status shows it from the next request on.
    state.touched(&f.name);
    Ok(to_json(&r?))
}

/// The checks of `/readyz`.
/// How long readiness waits for the database (a replica whose database does not answer at once is unready).
const READY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn readiness(state: &AppState) -> Vec<Check> {
    let mut checks = Vec::new();
    // Bounded: an unreachable database makes the replica unready at once, not after the pool's timeout.
    let db = tokio::time::timeout(
        READY_WAIT,
        sqlx::query("SELECT COUNT(*) AS n FROM jobs").fetch_one(state.engine().db().pool()),
    )
    .await;
    checks.push(match db {
        Ok(Ok(_)) => Check {
            name: "database".into(),
            ok: true,
            message: "reachable and migrated".into(),
        },
        Ok(Err(e)) => Check {
            name: "database".into(),
            ok: false,
            message: e.to_string(),
        },
        Err(_) => Check {
            name: "database".into(),
            ok: false,
            message: format!("no answer within {}ms", READY_WAIT.as_millis()),
        },
    });
    let failing = state.runner().health.failing_for();
    checks.push(Check {
        name: "databaseHeartbeat".into(),
        ok: failing.is_none(),
        message: match failing {
            None => "job leases and leadership renewed".into(),
            Some(d) => format!("job leases and leadership not renewed for {}s", d.as_secs()),
        },
    });
    let shutting = state.runner().shutdown.is_cancelled();
    checks.push(Check {
        name: "accepting".into(),
        ok: !shutting,
        message: if shutting {
            "shutting down".into()
        } else {
            "accepting jobs".into()
        },
    });
    checks
}

/// Gauges read at scrape time: jobs per state, raw files pending and rejected per fabric. Returns the fabrics
/// registered now (`None` when the registry could not be read), for [`without_removed_fabrics`].
pub async fn refresh_gauges(state: &AppState) -> Option<Vec<String>> {
    if let Ok(counts) = state.jobs().counts().await {
        for s in ["queued", "running"] {
            let n = counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            metrics::gauge!("hhgitops_jobs", "state" => s).set(n as f64);
        }
    }
    metrics::gauge!("hhgitops_replica_info", "replica" => state.replica_id().to_string()).set(1.0);
    if let Some(l) = state.0.leadership.get() {
        metrics::gauge!("hhgitops_fabrics_led").set(l.led().len() as f64);
    }
    let Ok(fabrics) = state.engine().fabrics().await else {
        return None;
    };
    for f in &fabrics {
        // Raw files pending and rejected as `status` shows them (from the status cache).
        if let Ok(st) = state.status(f).await {
            metrics::gauge!("hhgitops_raw_files_pending", "fabric" => f.name.clone())
                .set(st.pending.len() as f64);
            metrics::gauge!("hhgitops_raw_files_rejected", "fabric" => f.name.clone())
                .set(st.rejected.len() as f64);
            metrics::gauge!("hhgitops_managed_objects", "fabric" => f.name.clone())
                .set(st.total as f64);
        }
        // Objects per status of the latest drift report; every status is set, so one that emptied shows 0.
        if let Ok(Some(d)) = latest_drift_cached(state, &f.name).await {
            let mut by: BTreeMap<&str, u64> = DRIFT_STATUSES.iter().map(|s| (*s, 0)).collect();
            for o in d.objects() {
                if let Some(s) = o.get("status").and_then(|v| v.as_str()) {
                    *by.entry(s).or_insert(0) += 1;
                }
            }
            for (s, n) in by {
                metrics::gauge!("hhgitops_drift_objects", "fabric" => f.name.clone(), "status" => s.to_string())
                    .set(n as f64);
            }
        }
    }
    Some(fabrics.into_iter().map(|f| f.name).collect())
}

/// The rendered metrics without the gauge samples of fabrics no longer registered: a gauge says how a fabric is
/// now, and a removed fabric is not (its counters and histograms stay: they count what happened). The recorder
/// keeps every series it was given, so the samples are left out when the text is rendered.
pub fn without_removed_fabrics(text: &str, fabrics: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gauge = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            gauge = rest.split_whitespace().nth(1) == Some("gauge");
        } else if gauge && !line.starts_with('#') {
            if let Some(f) = fabric_label(line) {
                if !fabrics.iter().any(|n| n == f) {
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The value of the `fabric` label of a sample line (fabric names hold no quote or backslash).
fn fabric_label(line: &str) -> Option<&str> {
    let (_, labels) = line.split_once('{')?;
    let at = if labels.starts_with("fabric=\"") {
        0
    } else {
        labels.find(",fabric=\"")? + 1
    };
    let value = &labels[at + "fabric=\"".len()..];
    value.split_once('"').map(|(v, _)| v)
}

/// The statuses of a drift report's objects (`hhgitops_core::diff::DriftStatus`).
const DRIFT_STATUSES: &[&str] = &[
    "in-sync",
    "drifted",
    "missing",
    "extra",
    "unmanaged",
    "builtin",
    "conflict",
];

/// The latest drift report of a fabric, parsed once per report: reports carry one entry per object, so the
/// pages and the object listing read them from here instead of parsing the stored JSON on every request.
pub struct LatestDrift {
    pub job: String,
    pub computed_at: Option<String>,
    pub report: serde_json::Value,
    /// `(kind, name)` → index into `report.objects`.
    pub index: std::collections::HashMap<(String, String), usize>,
    /// Indexes into `report.objects`: not in sync first (in the report's kind order), then in sync.
    pub order: Vec<usize>,
}

impl LatestDrift {
    fn new(job: String, computed_at: Option<String>, report: serde_json::Value) -> LatestDrift {
        let objects = report
            .get("objects")
            .and_then(|o| o.as_array())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut index = std::collections::HashMap::with_capacity(objects.len());
        for (i, o) in objects.iter().enumerate() {
            if let (Some(k), Some(n)) = (
                o.get("kind").and_then(|v| v.as_str()),
                o.get("name").and_then(|v| v.as_str()),
            ) {
                index.insert((k.to_string(), n.to_string()), i);
            }
        }
        let quiet = |o: &serde_json::Value| {
            matches!(
                o.get("status").and_then(|v| v.as_str()),
                Some("in-sync" | "builtin")
            )
        };
        let mut order: Vec<usize> = (0..objects.len()).collect();
        order.sort_by_key(|i| quiet(&objects[*i]));
        LatestDrift {
            job,
            computed_at,
            report,
            index,
            order,
        }
    }

    pub fn objects(&self) -> &[serde_json::Value] {
        self.report
            .get("objects")
            .and_then(|o| o.as_array())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn entry(&self, kind: &str, name: &str) -> Option<&serde_json::Value> {
        self.index
            .get(&(kind.to_string(), name.to_string()))
            .and_then(|i| self.objects().get(*i))
    }

    pub fn status_of(&self, kind: &str, name: &str) -> Option<String> {
        self.entry(kind, name)
            .and_then(|e| e.get("status"))
            .and_then(|s| s.as_str())
            .map(str::to_string)
    }
}

/// Per fabric, the latest drift report read (see [`LatestDrift`]).
#[derive(Default)]
pub struct DriftCache(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<LatestDrift>>>,
);

impl DriftCache {
    /// Forgets a fabric (removed from the registry).
    pub fn forget(&self, fabric: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fabric);
    }
}

/// The latest succeeded drift report of a fabric, from the cache while no newer report exists.
pub async fn latest_drift_cached(
    state: &AppState,
    fabric: &str,
) -> ApiResult<Option<std::sync::Arc<LatestDrift>>> {
    let row = sqlx::query(
        "SELECT id FROM jobs WHERE fabric = $1 AND job_type = 'drift' AND state = 'succeeded' AND result IS NOT NULL \
         ORDER BY finished_at DESC LIMIT 1",
    )
    .bind(fabric)
    .fetch_optional(state.engine().db().pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let cache = &state.0.drift_cache;
    if let Some(hit) = cache
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(fabric)
        .filter(|d| d.job == id)
    {
        return Ok(Some(hit.clone()));
    }
    let Some(job) = state.jobs().get(&id).await? else {
        return Ok(None);
    };
    let latest = std::sync::Arc::new(LatestDrift::new(
        job.id,
        job.finished_at,
        job.result.unwrap_or(serde_json::Value::Null),
    ));
    cache
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(fabric.to_string(), latest.clone());
    Ok(Some(latest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(rows: &[(&str, &str)]) -> ObjectListing {
        let mut rows: Vec<ObjectRow> = rows
            .iter()
            .map(|(k, n)| ObjectRow {
                kind: k.to_string(),
                name: n.to_string(),
                file: format!("managed/{k}/{n}.yaml"),
                sha256: String::new(),
                source: None,
            })
            .collect();
        rows.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        ObjectListing {
            manifest_sha: "m".into(),
            rows,
        }
    }

    #[test]
    fn a_listing_selects_one_kind_and_names_holding_the_filter() {
        let l = listing(&[
            ("VPC", "vpc-2"),
            ("Connection", "a--b"),
            ("VPC", "vpc-1"),
            ("Switch", "leaf-1"),
            ("VPC", "other"),
        ]);
        let names = |k: Option<&str>, n: Option<&str>| -> Vec<String> {
            l.select(k, n)
                .map(|r| format!("{}/{}", r.kind, r.name))
                .collect()
        };
        assert_eq!(
            names(Some("VPC"), None),
            ["VPC/other", "VPC/vpc-1", "VPC/vpc-2"]
        );
        assert_eq!(names(Some("VPC"), Some("PC-")), ["VPC/vpc-1", "VPC/vpc-2"]);
        assert_eq!(names(None, Some("-1")), ["Switch/leaf-1", "VPC/vpc-1"]);
        assert_eq!(names(Some("Server"), None), Vec::<String>::new());
        assert_eq!(names(Some("Connection"), None), ["Connection/a--b"]);
        assert_eq!(names(None, None).len(), 5);
    }

    #[test]
    fn gauges_of_removed_fabrics_are_left_out_counters_stay() {
        let text = "\
# TYPE hhgitops_managed_objects gauge
hhgitops_managed_objects{fabric=\"kept\"} 4
hhgitops_managed_objects{fabric=\"gone\"} 9
# TYPE hhgitops_drift_objects gauge
hhgitops_drift_objects{status=\"drifted\",fabric=\"gone\"} 1
hhgitops_drift_objects{fabric=\"kept\",status=\"drifted\"} 2
# TYPE hhgitops_jobs gauge
hhgitops_jobs{state=\"queued\"} 0
# TYPE hhgitops_jobs_total counter
hhgitops_jobs_total{type=\"ingest\",fabric=\"gone\"} 3
";
        let out = without_removed_fabrics(text, &["kept".to_string()]);
        assert!(
            !out.contains("9\n") && !out.contains("status=\"drifted\",fabric=\"gone\""),
            "{out}"
        );
        for kept in [
            "hhgitops_managed_objects{fabric=\"kept\"} 4",
            "hhgitops_drift_objects{fabric=\"kept\",status=\"drifted\"} 2",
            "hhgitops_jobs{state=\"queued\"} 0",
            "hhgitops_jobs_total{type=\"ingest\",fabric=\"gone\"} 3",
            "# TYPE hhgitops_managed_objects gauge",
        ] {
            assert!(out.contains(kept), "{kept}: {out}");
        }
        assert_eq!(fabric_label("x{a=\"1\",fabric=\"f-1\"} 2"), Some("f-1"));
        assert_eq!(fabric_label("x{myfabric=\"f\"} 2"), None);
    }
}
