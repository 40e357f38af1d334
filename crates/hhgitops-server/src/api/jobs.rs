//! Jobs: create, list, show, follow (Server-Sent Events with replay), cancel.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::{Page, PageQuery};
use crate::auth::{Auth, Read, Write};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::jobs::{Job, JobEvent, JobFilter, JobParams, JobState, JobType};
use crate::state::AppState;

/// What `POST /api/v1/fabrics/{fabric}/jobs` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobRequest {
    #[serde(rename = "type")]
    pub job_type: JobType,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub prune: bool,
}

/// Queues a job and answers 202 with it (`Location: /api/v1/jobs/{id}`). Reusable by the UI.
pub async fn submit(
    s: &AppState,
    fabric: &str,
    job_type: JobType,
    params: JobParams,
    actor: &str,
) -> ApiResult<(Job, bool)> {
    submit_holding(s, fabric, job_type, params, actor, &[]).await
}

/// [`submit`] with uploads held in the database for the replica that runs the job (`(path, content)`).
pub async fn submit_holding(
    s: &AppState,
    fabric: &str,
    job_type: JobType,
    params: JobParams,
    actor: &str,
    held: &[(String, String)],
) -> ApiResult<(Job, bool)> {
    s.engine().fabric(fabric).await?;
    if s.runner().shutdown.is_cancelled() {
        return Err(ApiError::unavailable(
            "the server is shutting down; submit the job again to another server",
        ));
    }
    let (job, coalesced) = s
        .jobs()
        .enqueue_holding(fabric, job_type, &params, actor, held)
        .await?;
    s.jobs_queued();
    metrics::counter!("hhgitops_jobs_submitted_total", "type" => job_type.as_str(), "fabric" => fabric.to_string())
        .increment(1);
    Ok((job, coalesced))
}

pub fn accepted(job: Job) -> Response {
    let location = format!("/api/v1/jobs/{}", job.id);
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response()
}

/// One event of a job's Server-Sent Events stream: `event` is `progress`, `log`, … and finally `result`;
/// `data` is JSON text (for `result`: the job as `GET /jobs/{id}` shows it). Documents the stream only.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JobStreamEvent {
    pub id: String,
    pub event: String,
    pub data: String,
}

/// Queues a job (write); a job equal to one still queued is that job.
#[utoipa::path(post, path = "/api/v1/fabrics/{fabric}/jobs", tag = "jobs", security(("bearer" = [])),
    params(("fabric" = String, Path)), request_body = JobRequest,
    responses((status = 202, body = Job, headers(("Location" = String))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "the body is not `application/json`")))]
pub async fn create_job(
    a: Auth<Write>,
    State(s): State<AppState>,
    ApiPath(fabric): ApiPath<String>,
    ApiJson(req): ApiJson<JobRequest>,
) -> ApiResult<Response> {
    let params = JobParams {
        dry_run: req.dry_run,
        prune: req.prune,
        files: Vec::new(),
    };
    let (job, _) = submit(&s, &fabric, req.job_type, params, a.actor()).await?;
    Ok(accepted(job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    pub fabric: Option<String>,
    /// queued, running, succeeded, failed, cancelled, interrupted
    pub state: Option<String>,
    /// ingest, sync, drift, import, init
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub job_type: Option<String>,
    pub limit: Option<i64>,
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    pub cont: Option<String>,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])), params(JobQuery),
    responses((status = 200, body = Page<Job>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_jobs(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<Json<Page<Job>>> {
    let (limit, offset) = PageQuery {
        limit: q.limit,
        cont: q.cont.clone(),
    }
    .resolve()?;
    let filter = JobFilter {
        fabric: q.fabric,
        state: match q.state.as_deref() {
            None => None,
            Some(x) => Some(
                JobState::parse(x)
                    .ok_or_else(|| ApiError::invalid(format!("unknown job state {x:?}")))?,
            ),
        },
        job_type: match q.job_type.as_deref() {
            None => None,
            Some(x) => Some(
                JobType::parse(x)
                    .ok_or_else(|| ApiError::invalid(format!("unknown job type {x:?}")))?,
            ),
        },
    };
    let (items, total) = s.jobs().list(&filter, limit, offset).await?;
    Ok(Json(Page::new(items, total, offset)))
}

pub async fn find_job(s: &AppState, id: &str) -> ApiResult<Job> {
    s.jobs()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))
}

/// One job: state, times, actor, progress, result or error.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Job), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Job>> {
    Ok(Json(find_job(&s, &id).await?))
}

/// Asks a job to stop: a queued job is cancelled at once, a running one at its next safe point.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = Job), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_job(
    _a: Auth<Write>,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let job = find_job(&s, &id).await?;
    if job.state.is_final() {
        return Err(ApiError::conflict(format!(
            "job {id} has already ended ({})",
            job.state.as_str()
        )));
    }
    let job = s
        .jobs()
        .request_cancel(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))?;
    s.runner().cancel_local(&id);
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

struct Follow {
    state: AppState,
    id: String,
    last: i64,
    buffer: VecDeque<JobEvent>,
    done: bool,
    rx: tokio::sync::watch::Receiver<u64>,
}

/// Server-Sent Events: `progress` and `log` events, then one `result`. A late subscriber gets the past events
/// first; `Last-Event-ID` resumes after an event.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream", body = JobStreamEvent), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn job_events(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    find_job(&s, &id).await?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let rx = s.0.events.clone();
    let follow = Follow {
        state: s,
        id,
        last,
        buffer: VecDeque::new(),
        done: false,
        rx,
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(ev) = f.buffer.pop_front() {
                f.last = ev.seq;
                if ev.event == "result" {
                    f.done = true;
                }
                let event = Event::default()
                    .id(ev.seq.to_string())
                    .event(ev.event.clone())
                    .data(ev.data.to_string());
                return Some((Ok::<Event, Infallible>(event), f));
            }
            if f.done {
                return None;
            }
            match f.state.jobs().events_after(&f.id, f.last).await {
                Ok(evs) if !evs.is_empty() => f.buffer.extend(evs),
                Ok(_) => {
                    tokio::select! {
                        _ = f.rx.changed() => {}
                        // Events written by another replica are seen by polling.
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(job = %f.id, error = %e, "event stream: database error");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
