//! The read-only pages (GET). Each handler gathers its data from [`crate::data`], the job store or the engine,
//! turns it into a view (strings ready to show), and renders its template; a part that cannot be read is shown
//! as an error in place, the rest of the page still renders.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hhgitops_core::Kind;
use hhgitops_engine::fabric::Fabric;
use hhgitops_engine::layout::GitOpsRoot;
use serde::Deserialize;
use serde_json::Value;
use sqlx::Row;
use time::OffsetDateTime;

use super::view::{self, count, enc, esc, Located, Pager};
use super::{error_page, render, Chrome, Session};
use crate::error::ApiError;
use crate::jobs::{Job, JobFilter, JobState, JobType};
use crate::state::AppState;

/// Rows per page of the object, drift and history lists.
pub const PER_PAGE: i64 = 100;
/// Rows per page of the job history.
pub const JOBS_PER_PAGE: i64 = 50;
/// Errors shown in place per rejected file.
const ERRORS_SHOWN: usize = 10;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `<time>` with the age, or an em dash.
fn when_html(s: Option<&str>, now: OffsetDateTime) -> String {
    view::when(s, now)
        .map(|w| w.html())
        .unwrap_or_else(|| "—".into())
}

fn unix_html(secs: i64, now: OffsetDateTime) -> String {
    let iso = OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    when_html(iso.as_deref(), now)
}

fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn is_htmx(h: &HeaderMap) -> bool {
    h.contains_key("hx-request")
}

/// The fabric tabs' fields.
struct FabricTabs {
    fabric: String,
    fabric_enc: String,
}

impl FabricTabs {
    fn of(name: &str) -> Self {
        FabricTabs {
            fabric: name.to_string(),
            fabric_enc: enc(name),
        }
    }
}

async fn load_fabric(s: &AppState, session: &Session, name: &str) -> Result<Fabric, Response> {
    s.engine()
        .fabric(name)
        .await
        .map_err(|e| error_page(Some(session), ApiError::from(e), "/"))
}

fn watcher_label(s: &AppState, fabric: &str) -> String {
    match s.watch_status().into_iter().find(|w| w.fabric == fabric) {
        Some(w) => format!(
            "{} ({}, {} pending, {} runs)",
            label(&w.state),
            label(&w.mode),
            w.pending,
            w.runs
        ),
        None => "not watched by this server".into(),
    }
}

/// The latest sync run of a fabric (server or command line): `(outcome, finished or started)`.
async fn last_sync(s: &AppState, fabric: &str) -> Result<Option<(String, String)>, ApiError> {
    let row = sqlx::query(
        "SELECT outcome, started_at, finished_at FROM runs WHERE fabric = $1 AND operation = 'sync' \
         ORDER BY started_at DESC LIMIT 1",
    )
    .bind(fabric)
    .fetch_optional(s.engine().db().pool())
    .await?;
    Ok(match row {
        Some(r) => {
            let finished: Option<String> = r.try_get("finished_at")?;
            let started: String = r.try_get("started_at")?;
            Some((r.try_get("outcome")?, finished.unwrap_or(started)))
        }
        None => None,
    })
}

/// Counts of a drift report by status (from its entries).
fn drift_counts(objects: &[Value]) -> Vec<(String, i64)> {
    let mut m: Vec<(String, i64)> = Vec::new();
    for o in objects {
        let st = o
            .get("status")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown");
        match m.iter_mut().find(|(k, _)| k == st) {
            Some(e) => e.1 += 1,
            None => m.push((st.to_string(), 1)),
        }
    }
    m.sort_by_key(|(k, _)| (matches!(k.as_str(), "in-sync" | "builtin"), k.clone()));
    m
}

// ---------------------------------------------------------------------------------------------- overview

struct FabricRow {
    name: String,
    enc: String,
    error: Option<String>,
    pending: String,
    rejected: String,
    objects: String,
    drift: Option<String>,
    drift_class: String,
    drift_when: String,
    sync_outcome: Option<String>,
    sync_when: String,
    watcher: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    rows: Vec<FabricRow>,
    load_error: Option<String>,
}

async fn fabric_row(s: &AppState, f: &Fabric, now: OffsetDateTime) -> FabricRow {
    let mut row = FabricRow {
        name: f.name.clone(),
        enc: enc(&f.name),
        error: None,
        pending: String::new(),
        rejected: String::new(),
        objects: String::new(),
        drift: None,
        drift_class: String::new(),
        drift_when: String::new(),
        sync_outcome: None,
        sync_when: String::new(),
        watcher: watcher_label(s, &f.name),
    };
    match s.status(f).await {
        Ok(st) => {
            row.pending = count(st.pending.len() as i64);
            row.rejected = count(st.rejected.len() as i64);
            row.objects = count(st.total);
        }
        Err(e) => {
            row.error = Some(ApiError::from(e).message);
            return row;
        }
    }
    match crate::data::latest_drift_cached(s, &f.name).await {
        Ok(Some(d)) => {
            let objects = d.objects();
            let off = objects
                .iter()
                .filter(|o| {
                    !matches!(
                        o.get("status").and_then(|v| v.as_str()),
                        Some("in-sync" | "builtin")
                    )
                })
                .count() as i64;
            row.drift = Some(if off == 0 {
                format!("all {} in sync", count(objects.len() as i64))
            } else {
                format!(
                    "{} of {} not in sync",
                    count(off),
                    count(objects.len() as i64)
                )
            });
            row.drift_class = if off == 0 { "s-ok" } else { "s-warn" }.into();
            row.drift_when = when_html(d.computed_at.as_deref(), now);
        }
        Ok(None) => {}
        Err(e) => row.drift = Some(format!("unavailable: {}", e.message)),
    }
    match last_sync(s, &f.name).await {
        Ok(Some((outcome, at))) => {
            row.sync_outcome = Some(outcome);
            row.sync_when = when_html(Some(&at), now);
        }
        Ok(None) => {}
        Err(e) => row.sync_outcome = Some(format!("unavailable: {}", e.message)),
    }
    row
}

pub async fn overview(session: Session, State(s): State<AppState>) -> Response {
    let now = now();
    let (rows, load_error) = match s.engine().fabrics().await {
        Ok(fs) => {
            let rows = futures::future::join_all(fs.iter().map(|f| fabric_row(&s, f, now))).await;
            (rows, None)
        }
        Err(e) => (Vec::new(), Some(ApiError::from(e).message)),
    };
    render(
        StatusCode::OK,
        &OverviewPage {
            chrome: session.chrome("Fabrics", "fabrics"),
            rows,
            load_error,
        },
    )
}

// ------------------------------------------------------------------------------------------------ fabric

pub(super) struct JobRow {
    id: String,
    short: String,
    kind: String,
    dry_run: bool,
    state: String,
    fabric: String,
    fabric_enc: String,
    actor: String,
    created: String,
    finished: String,
    outcome: String,
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// One line on what a finished job did, from its report.
fn job_outcome(j: &Job) -> String {
    if let Some(e) = &j.error {
        return e
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("failed")
            .chars()
            .take(160)
            .collect();
    }
    let Some(r) = &j.result else {
        return String::new();
    };
    let num = |v: &Value, k: &str| v.get(k).and_then(|x| x.as_i64()).unwrap_or(0);
    match j.job_type {
        JobType::Ingest => {
            let s = &r["summary"];
            format!(
                "{} file(s): +{} ~{} ={} −{}, {} rejected",
                num(s, "files"),
                num(s, "created"),
                num(s, "updated"),
                num(s, "unchanged_objects"),
                num(s, "deleted"),
                num(s, "rejected")
            )
        }
        JobType::Sync => match r.get("apply").filter(|a| !a.is_null()) {
            Some(a) => {
                let s = &a["summary"];
                if j.params.dry_run {
                    format!(
                        "plan: {} change(s), {} unchanged",
                        num(s, "planned"),
                        num(s, "unchanged")
                    )
                } else {
                    format!(
                        "{} created, {} updated, {} unchanged, {} deleted, {} rejected",
                        num(s, "created"),
                        num(s, "updated"),
                        num(s, "unchanged"),
                        num(s, "deleted"),
                        num(s, "rejected")
                    )
                }
            }
            None => r
                .get("applySkipped")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
        },
        JobType::Drift => {
            let objects = r["objects"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let off = drift_counts(objects)
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "in-sync" | "builtin"))
                .map(|(_, n)| n)
                .sum::<i64>();
            format!(
                "{} of {} not in sync",
                count(off),
                count(objects.len() as i64)
            )
        }
        _ => String::new(),
    }
}

pub(super) fn job_row(j: &Job, now: OffsetDateTime) -> JobRow {
    JobRow {
        id: j.id.clone(),
        short: short_id(&j.id),
        kind: j.job_type.as_str().into(),
        dry_run: j.params.dry_run,
        state: j.state.as_str().into(),
        fabric: j.fabric.clone(),
        fabric_enc: enc(&j.fabric),
        actor: j.actor.clone(),
        created: when_html(Some(&j.created_at), now),
        finished: when_html(j.finished_at.as_deref(), now),
        outcome: job_outcome(j),
    }
}

struct RunRow {
    operation: String,
    outcome: String,
    started: String,
    files: String,
    created: String,
    updated: String,
    unchanged: String,
    deleted: String,
    rejected: String,
    message: String,
    actor: String,
}

struct CommitRow {
    short: String,
    subject: String,
    author: String,
    when: String,
}

fn commit_row(c: &crate::adapter::CommitInfo, now: OffsetDateTime) -> CommitRow {
    CommitRow {
        short: c.id.chars().take(10).collect(),
        subject: c.subject.clone(),
        author: c.author.clone(),
        when: unix_html(c.time, now),
    }
}

#[derive(Template)]
#[template(path = "fabric.html")]
struct FabricPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    status_error: Option<String>,
    total: String,
    kinds: Vec<(String, String)>,
    pending: String,
    rejected: String,
    has_cluster: bool,
    root: String,
    root_rule: String,
    git_url: Option<String>,
    git_branch: Option<String>,
    git_state: Option<String>,
    git_steps: Vec<String>,
    last_commit: Option<CommitRow>,
    kubeconfig: Option<String>,
    context: Option<String>,
    watcher: String,
    jobs: Vec<JobRow>,
    runs: Vec<RunRow>,
}

pub async fn fabric(
    session: Session,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let f = match load_fabric(&s, &session, &name).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = now();
    let tabs = FabricTabs::of(&f.name);
    let mut page = FabricPage {
        chrome: session.chrome(&format!("Fabric {}", f.name), "fabrics"),
        fabric: tabs.fabric,
        fabric_enc: tabs.fabric_enc,
        tab: "fabric",
        status_error: None,
        total: String::new(),
        kinds: Vec::new(),
        pending: String::new(),
        rejected: String::new(),
        has_cluster: hhgitops_engine::sync::target_of(&f).is_configured(),
        root: f.root.display().to_string(),
        root_rule: f.root_rule.as_str().into(),
        git_url: f.git.as_ref().map(|g| g.url.clone()),
        git_branch: f.git.as_ref().and_then(|g| g.branch.clone()),
        git_state: None,
        git_steps: Vec::new(),
        last_commit: None,
        kubeconfig: f.kubeconfig.as_ref().map(|k| k.display().to_string()),
        context: f.kube_context.clone(),
        watcher: watcher_label(&s, &f.name),
        jobs: Vec::new(),
        runs: Vec::new(),
    };
    let status = s.status(&f).await;
    let current = status.as_ref().ok().cloned();
    match status {
        Ok(st) => {
            page.total = count(st.total);
            let mut kinds: Vec<(Kind, i64)> = st
                .counts
                .iter()
                .filter_map(|(k, n)| k.parse::<Kind>().ok().map(|k| (k, *n)))
                .collect();
            kinds.sort_by_key(|(k, _)| *k as u8);
            page.kinds = kinds
                .into_iter()
                .map(|(k, n)| (k.name().to_string(), count(n)))
                .collect();
            page.pending = count(st.pending.len() as i64);
            page.rejected = count(st.rejected.len() as i64);
            if let Some(g) = &st.git {
                page.git_state = Some(format!(
                    "{}{}: {} commit(s) not pushed, {} to pull{}",
                    g.branch.as_deref().unwrap_or("(no branch)"),
                    g.upstream
                        .as_deref()
                        .map(|u| format!(" → {u}"))
                        .unwrap_or_default(),
                    g.ahead,
                    g.behind,
                    if g.blocked {
                        "; BLOCKED by a conflict"
                    } else {
                        ""
                    }
                ));
                page.git_steps = g.steps.clone();
            }
        }
        Err(e) => page.status_error = Some(ApiError::from(e).message),
    }
    // Read once per status computed (the Git state above and the commit are of one moment).
    page.last_commit =
        s.0.last_commits
            .get(&f, current.as_ref())
            .await
            .map(|c| commit_row(&c, now));
    let filter = JobFilter {
        fabric: Some(f.name.clone()),
        ..JobFilter::default()
    };
    match s.jobs().list(&filter, 10, 0).await {
        Ok((jobs, _)) => page.jobs = jobs.iter().map(|j| job_row(j, now)).collect(),
        Err(e) => page.status_error = Some(format!("jobs: {e}")),
    }
    if let Ok(runs) = crate::data::runs(&s, &f.name, 10, 0).await {
        let n = |v: &Value, k: &str| count(v.get(k).and_then(|x| x.as_i64()).unwrap_or(0));
        let t = |v: &Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        page.runs = runs
            .items
            .iter()
            .map(|r| RunRow {
                operation: t(r, "operation"),
                outcome: t(r, "outcome"),
                started: when_html(r.get("startedAt").and_then(|v| v.as_str()), now),
                files: n(r, "files"),
                created: n(r, "created"),
                updated: n(r, "updated"),
                unchanged: n(r, "unchanged"),
                deleted: n(r, "deleted"),
                rejected: n(r, "rejected"),
                message: t(r, "message"),
                actor: t(r, "actor"),
            })
            .collect();
    }
    render(StatusCode::OK, &page)
}

// --------------------------------------------------------------------------------------------- raw queue

pub(super) struct UploadView {
    pub file: String,
    pub valid: bool,
    pub documents: usize,
    pub message: String,
    pub errors: Vec<Located>,
    pub job: Option<String>,
}

struct RejectedView {
    file: String,
    cause: String,
    when: String,
    retried_when: String,
    error_count: usize,
    errors: Vec<Located>,
    more: usize,
    source_note: Option<String>,
}

#[derive(Template)]
#[template(path = "raw.html")]
struct RawPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    load_error: Option<String>,
    upload: Option<UploadView>,
    pending: Vec<String>,
    rejected: Vec<RejectedView>,
    refused: Vec<(String, String)>,
}

/// Reads files of the root (bounded) for the excerpts; a file that cannot be read is noted, not fatal.
fn read_sources(
    root: &std::path::Path,
    files: Vec<String>,
    max: u64,
) -> HashMap<String, Result<String, String>> {
    let dir = GitOpsRoot::new(root).dir();
    files
        .into_iter()
        .map(|f| {
            let text = match &dir {
                Ok(d) => d
                    .read_max(&f, max)
                    .map_err(|e| e.to_string())
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                Err(e) => Err(e.to_string()),
            };
            (f, text)
        })
        .collect()
}

pub(super) async fn raw_page(
    session: &Session,
    s: &AppState,
    f: &Fabric,
    upload: Option<UploadView>,
    status: StatusCode,
) -> Response {
    let now = now();
    let tabs = FabricTabs::of(&f.name);
    let mut page = RawPage {
        chrome: session.chrome(&format!("Raw queue of {}", f.name), "fabrics"),
        fabric: tabs.fabric,
        fabric_enc: tabs.fabric_enc,
        tab: "raw",
        load_error: None,
        upload,
        pending: Vec::new(),
        rejected: Vec::new(),
        refused: Vec::new(),
    };
    let st = match s.status(f).await {
        Ok(st) => st,
        Err(e) => {
            page.load_error = Some(ApiError::from(e).message);
            return render(status, &page);
        }
    };
    let records = hhgitops_engine::index::FabricRecords::new(s.engine().db(), &f.name);
    let all: HashMap<String, Value> = match records.rejections().await {
        Ok(rs) => rs.into_iter().map(|r| (r.file, r.errors)).collect(),
        Err(e) => {
            page.load_error = Some(ApiError::from(e).message);
            HashMap::new()
        }
    };
    // Which files the excerpts need: each rejected file, and the other files its errors point into.
    let mut wanted: Vec<String> = Vec::new();
    for r in &st.rejected {
        wanted.push(r.file.clone());
        if let Some(errs) = all.get(&r.file).and_then(|e| e.as_array()) {
            for e in errs.iter().take(ERRORS_SHOWN) {
                if let Some(other) = e.get("file").and_then(|v| v.as_str()) {
                    wanted.push(other.to_string());
                }
            }
        }
    }
    wanted.sort();
    wanted.dedup();
    let root = f.root.clone();
    let max = s.options().ops.max_file_size;
    let sources = tokio::task::spawn_blocking(move || read_sources(&root, wanted, max))
        .await
        .unwrap_or_default();
    for r in &st.rejected {
        let errs: Vec<Value> = all
            .get(&r.file)
            .and_then(|e| e.as_array().cloned())
            .unwrap_or_else(|| r.errors.clone());
        let mut note = None;
        let located = errs
            .iter()
            .take(ERRORS_SHOWN)
            .map(|e| {
                let file = e.get("file").and_then(|v| v.as_str()).unwrap_or(&r.file);
                let src = match sources.get(file) {
                    Some(Ok(t)) => Some(t.as_str()),
                    Some(Err(why)) => {
                        note = Some(format!("The source of {file} could not be read: {why}."));
                        None
                    }
                    None => None,
                };
                view::locate(e, src)
            })
            .collect();
        let error_count = r.error_count.max(errs.len());
        page.rejected.push(RejectedView {
            file: r.file.clone(),
            cause: if r.cause.is_empty() {
                "rejected".into()
            } else {
                r.cause.clone()
            },
            when: when_html(Some(&r.rejected_at), now),
            retried_when: r.retried_when.clone(),
            error_count,
            more: error_count.saturating_sub(ERRORS_SHOWN),
            errors: located,
            source_note: note,
        });
    }
    page.pending = st.pending.clone();
    page.refused = st
        .refused
        .iter()
        .map(|r| (r.file.clone(), r.reason.clone()))
        .collect();
    render(status, &page)
}

pub async fn raw(
    session: Session,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    match load_fabric(&s, &session, &name).await {
        Ok(f) => raw_page(&session, &s, &f, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

// ----------------------------------------------------------------------------------------------- objects

#[derive(Deserialize, Default)]
pub struct ObjectsQuery {
    kind: Option<String>,
    name: Option<String>,
    drift: Option<String>,
    page: Option<i64>,
}

struct ObjectRow {
    kind: String,
    name: String,
    href: String,
    drift: Option<String>,
    source: Option<String>,
}

#[derive(Template)]
#[template(path = "objects.html")]
struct ObjectsPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    kinds: Vec<(String, bool)>,
    name: String,
    drift_statuses: Vec<(String, bool)>,
    filtered: bool,
    load_error: Option<String>,
    rows: Vec<ObjectRow>,
    pager: Pager,
}

/// Options of a `<select>`, with the selected one marked.
fn options(all: &[&str], selected: &str) -> Vec<(String, bool)> {
    all.iter()
        .map(|o| (o.to_string(), *o == selected))
        .collect()
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn object_href(fabric: &str, kind: &str, name: &str) -> String {
    format!(
        "/fabrics/{}/objects/{}/{}",
        enc(fabric),
        enc(kind),
        enc(name)
    )
}

pub async fn objects(
    session: Session,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ObjectsQuery>,
) -> Response {
    let f = match load_fabric(&s, &session, &name).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let filter = crate::data::ObjectFilter {
        kind: nonempty(&q.kind),
        name: nonempty(&q.name),
        drift: nonempty(&q.drift),
    };
    let mut base = format!("/fabrics/{}/objects?", enc(&f.name));
    for (k, v) in [
        ("kind", &filter.kind),
        ("name", &filter.name),
        ("drift", &filter.drift),
    ] {
        if let Some(v) = v {
            base.push_str(&format!("{k}={}&", enc(v)));
        }
    }
    let page_no = q.page.unwrap_or(1).max(1);
    let offset = (page_no - 1) * PER_PAGE;
    let tabs = FabricTabs::of(&f.name);
    let (rows, total, load_error) =
        match crate::data::objects(&s, &f.name, &filter, PER_PAGE, offset).await {
            Ok(p) => (
                p.items
                    .iter()
                    .map(|o| ObjectRow {
                        href: object_href(&f.name, &o.kind, &o.name),
                        kind: o.kind.clone(),
                        name: o.name.clone(),
                        drift: o.drift.clone(),
                        source: o.source.as_ref().and_then(|v| {
                            let file = v.get("file")?.as_str()?;
                            Some(match v.get("document").and_then(|d| d.as_i64()) {
                                Some(d) => format!("{file} #{d}"),
                                None => file.to_string(),
                            })
                        }),
                    })
                    .collect(),
                p.total,
                None,
            ),
            Err(e) => (Vec::new(), 0, Some(e.message)),
        };
    let page = ObjectsPage {
        chrome: session.chrome(&format!("Objects of {}", f.name), "fabrics"),
        fabric: tabs.fabric,
        fabric_enc: tabs.fabric_enc,
        tab: "objects",
        kinds: options(
            &Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
            filter.kind.as_deref().unwrap_or(""),
        ),
        filtered: filter.kind.is_some() || filter.name.is_some() || filter.drift.is_some(),
        name: filter.name.clone().unwrap_or_default(),
        drift_statuses: options(
            &[
                "in-sync", "drifted", "missing", "extra", "conflict", "unknown",
            ],
            filter.drift.as_deref().unwrap_or(""),
        ),
        load_error,
        rows,
        pager: Pager::new(page_no, PER_PAGE, total, &base),
    };
    render(StatusCode::OK, &page)
}

// ------------------------------------------------------------------------------------------------ object

pub(super) struct FieldRow {
    path: String,
    change: String,
    git: Option<String>,
    cluster: Option<String>,
    managers: String,
    no_manager: String,
}

/// The differing paths of a drift entry: Git value, cluster value, and the field managers that own the cluster's
/// value (who changed it). Values absent from the entry show as absent.
fn field_rows(entry: &Value) -> Vec<FieldRow> {
    entry
        .get("fields")
        .and_then(|f| f.as_array())
        .map(|fields| {
            fields
                .iter()
                .map(|f| {
                    let change = f
                        .get("change")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string();
                    let managers: Vec<String> = f
                        .get("managers")
                        .and_then(|m| m.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|m| m.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    FieldRow {
                        path: f
                            .get("path")
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string(),
                        git: f.get("desired").map(|v| view::short_value(Some(v))),
                        cluster: f.get("live").map(|v| view::short_value(Some(v))),
                        no_manager: match change.as_str() {
                            "missing" => "—".into(),
                            "stale" => "left by an earlier hhgitops apply".into(),
                            _ => "no other field manager recorded".into(),
                        },
                        change,
                        managers: managers.join(", "),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "object.html")]
struct ObjectPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    kind: String,
    name: String,
    load_error: Option<String>,
    file: String,
    source: Option<String>,
    yaml: String,
    refers_to: Vec<(String, String)>,
    referred_by: Vec<(String, String)>,
    drift: Option<String>,
    drift_when: String,
    fields: Vec<FieldRow>,
    history: Vec<CommitRow>,
    history_note: Option<String>,
}

pub async fn object(
    session: Session,
    State(s): State<AppState>,
    Path((fabric, kind, name)): Path<(String, String, String)>,
) -> Response {
    let f = match load_fabric(&s, &session, &fabric).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = now();
    let tabs = FabricTabs::of(&f.name);
    let links = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|x| {
                        let (k, n) = x.split_once('/').unwrap_or((x, ""));
                        (x.to_string(), object_href(&f.name, k, n))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut page = ObjectPage {
        chrome: session.chrome(&format!("{kind}/{name}"), "fabrics"),
        fabric: tabs.fabric,
        fabric_enc: tabs.fabric_enc,
        tab: "objects",
        kind: kind.clone(),
        name: name.clone(),
        load_error: None,
        file: String::new(),
        source: None,
        yaml: String::new(),
        refers_to: Vec::new(),
        referred_by: Vec::new(),
        drift: None,
        drift_when: String::new(),
        fields: Vec::new(),
        history: Vec::new(),
        history_note: None,
    };
    let o = match crate::data::object(&s, &f.name, &kind, &name).await {
        Ok(o) => o,
        Err(e) => {
            let status = e.status;
            page.load_error = Some(e.message);
            return render(status, &page);
        }
    };
    page.file = o["file"].as_str().unwrap_or("").to_string();
    page.yaml = o["yaml"].as_str().unwrap_or("").to_string();
    page.source = o["source"]["file"]
        .as_str()
        .map(|file| match o["source"]["document"].as_i64() {
            Some(d) => format!("{file}, document {d}"),
            None => file.to_string(),
        });
    page.refers_to = links(&o["refersTo"]);
    page.referred_by = links(&o["referredBy"]);
    if let Some(d) = o.get("drift").filter(|d| !d.is_null()) {
        page.drift = d["entry"]["status"].as_str().map(str::to_string);
        page.drift_when = when_html(d["computedAt"].as_str(), now);
        page.fields = field_rows(&d["entry"]);
    }
    let root = f.root.clone();
    let rel = page.file.clone();
    match tokio::task::spawn_blocking(move || crate::adapter::file_history(&root, Some(&rel), 20))
        .await
    {
        Ok(Ok(c)) if c.is_empty() => page.history_note = Some(
            "No commit touches this file (the fabric is not in Git, or it is not committed yet)."
                .into(),
        ),
        Ok(Ok(c)) => page.history = c.iter().map(|c| commit_row(c, now)).collect(),
        Ok(Err(e)) => page.history_note = Some(format!("The Git history could not be read: {e}")),
        Err(e) => page.history_note = Some(format!("The Git history could not be read: {e}")),
    }
    render(StatusCode::OK, &page)
}

// ------------------------------------------------------------------------------------------------- drift

#[derive(Deserialize, Default)]
pub struct DriftQuery {
    status: Option<String>,
    page: Option<i64>,
}

struct DriftRow {
    kind: String,
    name: String,
    status: String,
    fields: usize,
    adopt: bool,
    other: Option<String>,
    detail: String,
}

#[derive(Template)]
#[template(path = "drift.html")]
struct DriftPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    load_error: Option<String>,
    computed: bool,
    has_cluster: bool,
    when: String,
    job: String,
    job_short: String,
    cluster: String,
    summary: Vec<(String, String)>,
    statuses: Vec<(String, bool)>,
    rows: Vec<DriftRow>,
    pager: Pager,
}

pub async fn drift(
    session: Session,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DriftQuery>,
) -> Response {
    let f = match load_fabric(&s, &session, &name).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = now();
    let tabs = FabricTabs::of(&f.name);
    let status = nonempty(&q.status).unwrap_or_default();
    let page_no = q.page.unwrap_or(1).max(1);
    let base = if status.is_empty() {
        format!("/fabrics/{}/drift?", enc(&f.name))
    } else {
        format!("/fabrics/{}/drift?status={}&", enc(&f.name), enc(&status))
    };
    let mut page = DriftPage {
        chrome: session.chrome(&format!("Drift of {}", f.name), "fabrics"),
        fabric: tabs.fabric,
        fabric_enc: tabs.fabric_enc,
        tab: "drift",
        load_error: None,
        computed: false,
        has_cluster: hhgitops_engine::sync::target_of(&f).is_configured(),
        when: String::new(),
        job: String::new(),
        job_short: String::new(),
        cluster: String::new(),
        summary: Vec::new(),
        statuses: Vec::new(),
        rows: Vec::new(),
        pager: Pager::new(1, PER_PAGE, 0, &base),
    };
    let latest = match crate::data::latest_drift_cached(&s, &f.name).await {
        Ok(Some(l)) => l,
        Ok(None) => return render(StatusCode::OK, &page),
        Err(e) => {
            page.load_error = Some(e.message);
            return render(StatusCode::OK, &page);
        }
    };
    page.computed = true;
    page.when = when_html(latest.computed_at.as_deref(), now);
    page.job = latest.job.clone();
    page.job_short = short_id(&latest.job);
    page.cluster = latest.report["cluster"].as_str().unwrap_or("").to_string();
    let objects = latest.objects();
    let counts = drift_counts(objects);
    page.statuses = counts
        .iter()
        .map(|(k, _)| (k.clone(), *k == status))
        .collect();
    page.summary = counts.into_iter().map(|(k, n)| (k, count(n))).collect();
    let selected: Vec<&Value> = latest
        .order
        .iter()
        .map(|i| &objects[*i])
        .filter(|o| status.is_empty() || o["status"].as_str() == Some(status.as_str()))
        .collect();
    page.pager = Pager::new(page_no, PER_PAGE, selected.len() as i64, &base);
    page.rows = selected
        .iter()
        .skip(page.pager.offset() as usize)
        .take(PER_PAGE as usize)
        .map(|o| {
            let kind = o["kind"].as_str().unwrap_or("").to_string();
            let name = o["name"].as_str().unwrap_or("").to_string();
            DriftRow {
                detail: format!(
                    "/fabrics/{}/drift/{}/{}",
                    enc(&f.name),
                    enc(&kind),
                    enc(&name)
                ),
                status: o["status"].as_str().unwrap_or("").to_string(),
                fields: o["fields"].as_array().map_or(0, Vec::len),
                adopt: o["adopt"].as_bool().unwrap_or(false),
                other: o["fabric"].as_str().map(str::to_string),
                kind,
                name,
            }
        })
        .collect();
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "drift_detail.html")]
struct DriftDetail {
    kind: String,
    name: String,
    load_error: Option<String>,
    fields: Vec<FieldRow>,
    empty_note: String,
    object_href: String,
}

#[derive(Template)]
#[template(path = "drift_detail_page.html")]
struct DriftDetailPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    kind: String,
    name: String,
    load_error: Option<String>,
    fields: Vec<FieldRow>,
    empty_note: String,
    object_href: String,
}

/// One object's differing paths: a fragment for htmx (loaded when the row is expanded), a page otherwise.
pub async fn drift_detail(
    session: Session,
    State(s): State<AppState>,
    Path((fabric, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let f = match load_fabric(&s, &session, &fabric).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut detail = DriftDetail {
        object_href: object_href(&f.name, &kind, &name),
        kind,
        name,
        load_error: None,
        fields: Vec::new(),
        empty_note: String::new(),
    };
    let mut status = StatusCode::OK;
    match crate::data::latest_drift_cached(&s, &f.name).await {
        Ok(Some(latest)) => match latest.entry(&detail.kind, &detail.name) {
            Some(e) => {
                detail.fields = field_rows(e);
                detail.empty_note = match e["status"].as_str() {
                    Some("missing") => "Not in the cluster: the next sync creates it.".into(),
                    Some("extra") => "In the cluster with this fabric's label, no longer in Git: sync with prune deletes it.".into(),
                    Some("unmanaged") => "In the cluster, unknown to Git and without this fabric's label: never touched.".into(),
                    Some("conflict") => format!("Claimed by fabric {}.", e["fabric"].as_str().unwrap_or("?")),
                    Some(st) => format!("{st}: no differing path."),
                    None => "No differing path.".into(),
                };
            }
            None => {
                status = StatusCode::NOT_FOUND;
                detail.load_error = Some(format!(
                    "{}/{} is not in the latest drift report",
                    detail.kind, detail.name
                ));
            }
        },
        Ok(None) => {
            status = StatusCode::NOT_FOUND;
            detail.load_error = Some("No drift report yet.".into());
        }
        Err(e) => {
            status = e.status;
            detail.load_error = Some(e.message);
        }
    }
    if is_htmx(&headers) {
        return render(status, &detail);
    }
    let tabs = FabricTabs::of(&f.name);
    render(
        status,
        &DriftDetailPage {
            chrome: session.chrome(
                &format!("Drift of {}/{}", detail.kind, detail.name),
                "fabrics",
            ),
            fabric: tabs.fabric,
            fabric_enc: tabs.fabric_enc,
            tab: "drift",
            kind: detail.kind,
            name: detail.name,
            load_error: detail.load_error,
            fields: detail.fields,
            empty_note: detail.empty_note,
            object_href: detail.object_href,
        },
    )
}

// -------------------------------------------------------------------------------------------------- jobs

#[derive(Deserialize, Default)]
pub struct JobsQuery {
    fabric: Option<String>,
    state: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    chrome: Chrome,
    fabric_filter: Option<(String, String)>,
    states: Vec<(String, bool)>,
    types: Vec<(String, bool)>,
    load_error: Option<String>,
    jobs: Vec<JobRow>,
    pager: Pager,
}

pub async fn jobs(
    session: Session,
    State(s): State<AppState>,
    Query(q): Query<JobsQuery>,
) -> Response {
    let now = now();
    let fabric = nonempty(&q.fabric);
    let state = nonempty(&q.state).unwrap_or_default();
    let job_type = nonempty(&q.job_type).unwrap_or_default();
    let mut base = "/jobs?".to_string();
    for (k, v) in [
        ("fabric", fabric.as_deref().unwrap_or("")),
        ("state", &state),
        ("type", &job_type),
    ] {
        if !v.is_empty() {
            base.push_str(&format!("{k}={}&", enc(v)));
        }
    }
    let page_no = q.page.unwrap_or(1).max(1);
    let mut page = JobsPage {
        chrome: session.chrome("Jobs", "jobs"),
        fabric_filter: fabric.as_ref().map(|f| (f.clone(), enc(f))),
        states: options(
            &[
                "queued",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                "interrupted",
            ],
            &state,
        ),
        types: options(&["ingest", "sync", "drift", "import", "init"], &job_type),
        load_error: None,
        jobs: Vec::new(),
        pager: Pager::new(page_no, JOBS_PER_PAGE, 0, &base),
    };
    let filter = JobFilter {
        fabric,
        state: JobState::parse(&state),
        job_type: JobType::parse(&job_type),
    };
    if (!state.is_empty() && filter.state.is_none())
        || (!job_type.is_empty() && filter.job_type.is_none())
    {
        page.load_error = Some(format!(
            "unknown filter: state {state:?}, type {job_type:?}"
        ));
        return render(StatusCode::BAD_REQUEST, &page);
    }
    match s
        .jobs()
        .list(&filter, JOBS_PER_PAGE, (page_no - 1) * JOBS_PER_PAGE)
        .await
    {
        Ok((jobs, total)) => {
            page.jobs = jobs.iter().map(|j| job_row(j, now)).collect();
            page.pager = Pager::new(page_no, JOBS_PER_PAGE, total, &base);
        }
        Err(e) => page.load_error = Some(ApiError::from(e).message),
    }
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
pub struct JobQuery {
    fragment: Option<String>,
    page: Option<i64>,
}

struct OutcomeRow {
    kind: String,
    name: String,
    action: String,
    status: String,
    message: String,
}

/// One engine stage of a job (`ingest parse`): how far it got and what it was at.
struct StepRow {
    key: String,
    label: String,
    state: String,
    done: u64,
    total: Option<u64>,
    count: String,
    current: String,
}

fn step_row(key: &str, v: &Value) -> StepRow {
    let done = v["done"].as_u64().unwrap_or(0);
    let total = v["total"].as_u64();
    StepRow {
        key: key.to_string(),
        label: format!(
            "{} {}",
            v["operation"].as_str().unwrap_or(""),
            v["stage"].as_str().unwrap_or("")
        ),
        state: v["state"].as_str().unwrap_or("").to_string(),
        done,
        total,
        count: match total {
            Some(t) => format!("{} of {}", count(done as i64), count(t as i64)),
            None => count(done as i64),
        },
        current: v["current"].as_str().unwrap_or("").to_string(),
    }
}

struct FileRow {
    file: String,
    status: String,
    counts: String,
    errors: Vec<Located>,
}

struct Plan {
    counts: Vec<(String, String)>,
    prune: bool,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    chrome: Chrome,
    body: JobBody,
    short: String,
    kind: String,
    state: String,
    fabric: String,
    fabric_enc: String,
}

#[derive(Template)]
#[template(path = "job_fragment.html")]
struct JobBody {
    id: String,
    actor: String,
    requests: i64,
    params: String,
    created: String,
    started: String,
    finished: String,
    can_cancel: bool,
    state: String,
    fabric: String,
    fabric_enc: String,
    csrf: String,
    live: bool,
    stages: Vec<(String, String, String)>,
    steps: Vec<StepRow>,
    error: Option<String>,
    sections: Vec<(String, Vec<(String, String)>)>,
    plan: Option<Plan>,
    outcomes: Vec<OutcomeRow>,
    outcome_total: i64,
    outcome_label: String,
    outcome_next: Option<String>,
    files: Vec<FileRow>,
}

const STAGE_ORDER: [&str; 5] = ["layout", "ingest", "apply", "drift", "import"];

fn summary_section(title: &str, v: &Value) -> Option<(String, Vec<(String, String)>)> {
    let obj = v.as_object()?;
    let kv: Vec<(String, String)> = obj
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Number(n) => Some((k.replace('_', " "), count(n.as_i64().unwrap_or(0)))),
            Value::Bool(b) => Some((k.replace('_', " "), b.to_string())),
            _ => None,
        })
        .collect();
    (!kv.is_empty()).then(|| (title.to_string(), kv))
}

fn job_body(j: &Job, session: &Session, page_no: i64) -> JobBody {
    let now = now();
    let live = !j.state.is_final();
    let mut params = Vec::new();
    if j.params.dry_run {
        params.push("dry run".to_string());
    }
    if j.params.prune {
        params.push("prune".to_string());
    }
    if !j.params.files.is_empty() {
        params.push(format!("files: {}", j.params.files.join(", ")));
    }
    let mut stages: Vec<(String, String, String)> = Vec::new();
    let mut steps: Vec<StepRow> = Vec::new();
    if let Some(p) = j.progress.as_object() {
        // The engine's stages (`operation.stage` keys, carrying an `operation`), in the order they began.
        let mut engine: Vec<(&String, &Value)> = p
            .iter()
            .filter(|(_, v)| v.get("operation").is_some())
            .collect();
        engine.sort_by_key(|(_, v)| v["order"].as_u64().unwrap_or(u64::MAX));
        steps = engine.into_iter().map(|(k, v)| step_row(k, v)).collect();
        let mut keys: Vec<&String> = p
            .iter()
            .filter(|(_, v)| v.get("operation").is_none())
            .map(|(k, _)| k)
            .collect();
        keys.sort_by_key(|k| STAGE_ORDER.iter().position(|s| s == k).unwrap_or(99));
        for k in keys {
            let st = &p[k.as_str()];
            stages.push((
                k.clone(),
                st["state"].as_str().unwrap_or("").to_string(),
                st["seconds"]
                    .as_f64()
                    .map(|s| format!("{s:.2} s"))
                    .unwrap_or_default(),
            ));
        }
    }
    let mut body = JobBody {
        id: j.id.clone(),
        actor: j.actor.clone(),
        requests: j.requests,
        params: if params.is_empty() {
            "none".into()
        } else {
            params.join("; ")
        },
        created: when_html(Some(&j.created_at), now),
        started: when_html(j.started_at.as_deref(), now),
        finished: when_html(j.finished_at.as_deref(), now),
        can_cancel: session.principal.scope >= crate::tokens::Scope::Write,
        state: j.state.as_str().into(),
        fabric: j.fabric.clone(),
        fabric_enc: enc(&j.fabric),
        csrf: session.csrf.clone(),
        live,
        stages,
        steps,
        error: j
            .error
            .as_ref()
            .map(|e| e["message"].as_str().unwrap_or("failed").to_string()),
        sections: Vec::new(),
        plan: None,
        outcomes: Vec::new(),
        outcome_total: 0,
        outcome_label: String::new(),
        outcome_next: None,
        files: Vec::new(),
    };
    let Some(r) = &j.result else {
        return body;
    };
    let ingest = if j.job_type == JobType::Ingest {
        r
    } else {
        &r["ingest"]
    };
    body.sections
        .extend(summary_section("Ingest", &ingest["summary"]));
    if let Some(files) = ingest["files"].as_array() {
        body.files = files
            .iter()
            .take(50)
            .map(|f| {
                let n = |k: &str| f[k].as_array().map_or(0, Vec::len);
                let file = f["file"].as_str().unwrap_or("").to_string();
                FileRow {
                    counts: format!(
                        "{} document(s): {} created, {} updated, {} unchanged",
                        f["documents"].as_u64().unwrap_or(0),
                        n("created"),
                        n("updated"),
                        n("unchanged")
                    ),
                    status: f["status"].as_str().unwrap_or("").to_string(),
                    errors: f["errors"]
                        .as_array()
                        .map(|es| {
                            es.iter()
                                .take(ERRORS_SHOWN)
                                .map(|e| view::locate(e, None))
                                .collect()
                        })
                        .unwrap_or_default(),
                    file,
                }
            })
            .collect();
    }
    if j.job_type == JobType::Drift {
        let objects = r["objects"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let counts = drift_counts(objects);
        body.sections.push((
            "Drift".into(),
            counts.into_iter().map(|(k, n)| (k, count(n))).collect(),
        ));
    }
    if let Some(skipped) = r["applySkipped"].as_str() {
        body.sections.push((
            "Apply".into(),
            vec![("skipped".into(), skipped.to_string())],
        ));
    }
    let apply = &r["apply"];
    body.sections.extend(summary_section(
        if j.params.dry_run {
            "Plan (dry run)"
        } else {
            "Apply"
        },
        &apply["summary"],
    ));
    if let Some(objects) = apply["objects"].as_array() {
        let action = |o: &Value| o["action"].as_str().unwrap_or("").to_string();
        if j.job_type == JobType::Sync && j.params.dry_run && j.state == JobState::Succeeded {
            let mut counts: Vec<(String, i64)> =
                ["create", "update", "unchanged", "prune", "conflict"]
                    .iter()
                    .map(|a| (a.to_string(), 0))
                    .collect();
            for o in objects {
                let a = action(o);
                match counts.iter_mut().find(|(k, _)| *k == a) {
                    Some(c) => c.1 += 1,
                    None => counts.push((a, 1)),
                }
            }
            body.plan = Some(Plan {
                counts: counts.into_iter().map(|(k, n)| (k, count(n))).collect(),
                prune: j.params.prune,
            });
        }
        let mut order: Vec<&Value> = objects.iter().collect();
        order.sort_by_key(|o| action(o) == "unchanged");
        let pager = Pager::new(
            page_no,
            PER_PAGE,
            order.len() as i64,
            &format!("/jobs/{}?", j.id),
        );
        body.outcome_total = order.len() as i64;
        body.outcome_label = format!("objects {}", pager.label);
        body.outcome_next = pager.next.clone().map(|n| format!("{n}#objects-h"));
        body.outcomes = order
            .into_iter()
            .skip(pager.offset() as usize)
            .take(PER_PAGE as usize)
            .map(|o| OutcomeRow {
                kind: o["kind"].as_str().unwrap_or("").to_string(),
                name: o["name"].as_str().unwrap_or("").to_string(),
                action: action(o),
                status: o["status"].as_str().unwrap_or("").to_string(),
                message: o["message"].as_str().unwrap_or("").to_string(),
            })
            .collect();
    }
    body
}

pub async fn job(
    session: Session,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<JobQuery>,
) -> Response {
    let j = match s.jobs().get(&id).await {
        Ok(Some(j)) => j,
        Ok(None) => {
            return error_page(
                Some(&session),
                ApiError::not_found(format!("no job {id:?}")),
                "/jobs",
            )
        }
        Err(e) => return error_page(Some(&session), ApiError::from(e), "/jobs"),
    };
    let body = job_body(&j, &session, q.page.unwrap_or(1).max(1));
    if q.fragment.as_deref() == Some("body") {
        return render(StatusCode::OK, &body);
    }
    let page = JobPage {
        chrome: session.chrome(&format!("Job {}", short_id(&j.id)), "jobs"),
        body,
        short: short_id(&j.id),
        kind: j.job_type.as_str().into(),
        state: j.state.as_str().into(),
        fabric: j.fabric.clone(),
        fabric_enc: enc(&j.fabric),
    };
    render(StatusCode::OK, &page)
}

// ----------------------------------------------------------------------------------------------- history

#[derive(Deserialize, Default)]
pub struct PageOnly {
    page: Option<i64>,
}

struct HistoryRow {
    when: String,
    operation: String,
    files: Vec<String>,
    documents: String,
    created: String,
    updated: String,
    unchanged: String,
    deleted: String,
    archived_to: Option<String>,
    message: String,
    actor: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    fabric: String,
    fabric_enc: String,
    tab: &'static str,
    load_error: Option<String>,
    rows: Vec<HistoryRow>,
    pager: Pager,
}

pub async fn history(
    session: Session,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PageOnly>,
) -> Response {
    let f = match load_fabric(&s, &session, &name).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = now();
    let tabs = FabricTabs::of(&f.name);
    let page_no = q.page.unwrap_or(1).max(1);
    let base = format!("/fabrics/{}/history?", enc(&f.name));
    let mut page = HistoryPage {
        chrome: session.chrome(&format!("Archive log of {}", f.name), "fabrics"),
        fabric: tabs.fabric,
        fabric_enc: tabs.fabric_enc,
        tab: "history",
        load_error: None,
        rows: Vec::new(),
        pager: Pager::new(page_no, PER_PAGE, 0, &base),
    };
    match crate::data::history(&s, &f.name, PER_PAGE, (page_no - 1) * PER_PAGE).await {
        Ok(p) => {
            page.pager = Pager::new(page_no, PER_PAGE, p.total, &base);
            let n = |v: &Value, k: &str| count(v[k].as_array().map_or(0, |a| a.len() as i64));
            page.rows = p
                .items
                .iter()
                .map(|e| HistoryRow {
                    when: when_html(e["time"].as_str(), now),
                    operation: label(&e["operation"]),
                    files: e["files"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|f| f.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    documents: e["documents"].as_i64().map(count).unwrap_or_default(),
                    created: n(e, "created"),
                    updated: n(e, "updated"),
                    unchanged: n(e, "unchanged"),
                    deleted: n(e, "deleted"),
                    archived_to: e["archivedTo"].as_str().map(str::to_string),
                    message: e["message"].as_str().unwrap_or("").to_string(),
                    actor: e["actor"].as_str().unwrap_or("").to_string(),
                })
                .collect();
        }
        Err(e) => page.load_error = Some(e.message),
    }
    render(StatusCode::OK, &page)
}

// ------------------------------------------------------------------------------------------------ tokens

pub(super) struct TokenRow {
    name: String,
    enc: String,
    scope: String,
    state: String,
    state_class: String,
    created: String,
    created_by: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    message: Option<String>,
    created: Option<(String, String)>,
    rows: Vec<TokenRow>,
}

pub(super) async fn tokens_page(
    session: &Session,
    s: &AppState,
    created: Option<(String, String)>,
    message: Option<String>,
    status: StatusCode,
) -> Response {
    let now = now();
    let mut page = TokensPage {
        chrome: session.chrome("API tokens", "tokens"),
        message,
        created,
        rows: Vec::new(),
    };
    match s.tokens().list().await {
        Ok(list) => {
            page.rows = list
                .iter()
                .map(|t| TokenRow {
                    name: t.name.clone(),
                    enc: enc(&t.name),
                    scope: t.scope.as_str().into(),
                    state_class: match t.state.as_str() {
                        "active" => "ok".into(),
                        _ => "bad".into(),
                    },
                    state: t.state.clone(),
                    created: when_html(Some(&t.created_at), now),
                    created_by: t.created_by.clone(),
                    expires: t
                        .expires_at
                        .as_deref()
                        .map(|e| {
                            view::when(Some(e), now)
                                .map(|w| {
                                    format!(
                                        "<time datetime=\"{}\" title=\"{}\">{}</time>",
                                        esc(&w.iso),
                                        esc(&w.exact),
                                        esc(&w.exact)
                                    )
                                })
                                .unwrap_or_else(|| esc(e))
                        })
                        .unwrap_or_else(|| "never".into()),
                    last_used: t
                        .last_used_at
                        .as_deref()
                        .map(|u| when_html(Some(u), now))
                        .unwrap_or_else(|| "never".into()),
                })
                .collect()
        }
        Err(e) => page.message = Some(ApiError::from(e).message),
    }
    render(status, &page)
}

pub async fn tokens(session: Session, State(s): State<AppState>) -> Response {
    if let Err(r) = session.require(crate::tokens::Scope::Admin) {
        return *r;
    }
    tokens_page(&session, &s, None, None, StatusCode::OK).await
}
