//! The actions of the pages (POST): queue a job, plan and confirm a sync, cancel a job, upload a raw file,
//! create and revoke tokens. Each checks the session's scope and its form token (the same-origin rule was
//! checked when the session was authenticated), then does what the matching API route does, and answers with a
//! redirect to the page that shows the result (or that page itself, for an upload and a new token).

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{raw_page, tokens_page, UploadView};
use super::view::{self, enc};
use super::{error_page, Session};
use crate::error::ApiError;
use crate::jobs::{JobParams, JobType};
use crate::state::AppState;
use crate::tokens::Scope;

#[derive(Deserialize)]
pub struct JobForm {
    #[serde(default)]
    csrf: String,
    #[serde(rename = "type")]
    job_type: String,
    prune: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("true" | "on" | "1"))
}

async fn queue(
    session: &Session,
    s: &AppState,
    fabric: &str,
    job_type: JobType,
    params: JobParams,
) -> Response {
    match crate::api::jobs::submit(s, fabric, job_type, params, &session.principal.name).await {
        Ok((job, _)) => Redirect::to(&format!("/jobs/{}", job.id)).into_response(),
        Err(e) => error_page(Some(session), e, &format!("/fabrics/{}", enc(fabric))),
    }
}

/// Queues a job of the fabric: ingest, drift, import, or a confirmed sync (never a dry run: plans come from
/// [`plan_sync`]).
pub async fn submit_job(
    session: Session,
    State(s): State<AppState>,
    Path(fabric): Path<String>,
    Form(form): Form<JobForm>,
) -> Response {
    if let Err(r) = session
        .require(Scope::Write)
        .and_then(|_| session.check_csrf(&form.csrf))
    {
        return *r;
    }
    let Some(job_type) = JobType::parse(&form.job_type).filter(|t| *t != JobType::Init) else {
        return error_page(
            Some(&session),
            ApiError::invalid(format!("unknown job type {:?}", form.job_type)),
            &format!("/fabrics/{}", enc(&fabric)),
        );
    };
    let params = JobParams {
        dry_run: false,
        prune: job_type == JobType::Sync && truthy(&form.prune),
        files: Vec::new(),
    };
    queue(&session, &s, &fabric, job_type, params).await
}

#[derive(Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
    prune: Option<String>,
}

/// The first half of a sync: a dry-run sync job, whose page shows the plan per object and the form to confirm.
pub async fn plan_sync(
    session: Session,
    State(s): State<AppState>,
    Path(fabric): Path<String>,
    Form(form): Form<PlanForm>,
) -> Response {
    if let Err(r) = session
        .require(Scope::Write)
        .and_then(|_| session.check_csrf(&form.csrf))
    {
        return *r;
    }
    let params = JobParams {
        dry_run: true,
        prune: truthy(&form.prune),
        files: Vec::new(),
    };
    queue(&session, &s, &fabric, JobType::Sync, params).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn cancel_job(
    session: Session,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = session
        .require(Scope::Write)
        .and_then(|_| session.check_csrf(&form.csrf))
    {
        return *r;
    }
    let back = format!("/jobs/{}", enc(&id));
    match s.jobs().request_cancel(&id).await {
        Ok(Some(_)) => {
            s.runner().cancel_local(&id);
            Redirect::to(&back).into_response()
        }
        Ok(None) => error_page(
            Some(&session),
            ApiError::not_found(format!("no job {id:?}")),
            "/jobs",
        ),
        Err(e) => error_page(Some(&session), ApiError::from(e), &back),
    }
}

/// An upload from the form (file picker or drop): validated against the fabric first; a rejected file shows its
/// located errors in its own source and nothing is written; a valid one is written atomically into raw/ and its
/// ingestion queued, as `PUT /api/v1/fabrics/{fabric}/raw/{path}` does.
pub async fn upload(
    session: Session,
    State(s): State<AppState>,
    Path(fabric): Path<String>,
    mut multipart: Multipart,
) -> Response {
    if let Err(r) = session.require(Scope::Write) {
        return *r;
    }
    let f = match s.engine().fabric(&fabric).await {
        Ok(f) => f,
        Err(e) => return error_page(Some(&session), ApiError::from(e), "/"),
    };
    let back = format!("/fabrics/{}/raw", enc(&f.name));
    let limit = s.options().ops.max_file_size;
    let mut csrf = String::new();
    let mut replace = false;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return error_page(
                    Some(&session),
                    ApiError::invalid(format!("cannot read the form: {e}")),
                    &back,
                )
            }
        };
        match field.name().unwrap_or("") {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "replace" => replace = field.text().await.is_ok_and(|v| v == "true"),
            "file" => {
                // Only the base name: a browser sends no folder, and nothing else may choose where it lands.
                let name = field
                    .file_name()
                    .unwrap_or("")
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or("")
                    .to_string();
                let mut bytes = Vec::new();
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if bytes.len() as u64 + chunk.len() as u64 > limit {
                                return error_page(
                                    Some(&session),
                                    ApiError::too_large(format!(
                                        "the file is larger than the file-size limit of {limit} bytes"
                                    )),
                                    &back,
                                );
                            }
                            bytes.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            return error_page(
                                Some(&session),
                                ApiError::invalid(format!("cannot read the file: {e}")),
                                &back,
                            )
                        }
                    }
                }
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    if let Err(r) = session.check_csrf(&csrf) {
        return *r;
    }
    let Some((name, bytes)) = file.filter(|(n, _)| !n.is_empty()) else {
        return error_page(
            Some(&session),
            ApiError::invalid("choose a YAML file to upload"),
            &back,
        );
    };
    let parts = match crate::api::upload::check_raw_path(&name) {
        Ok(p) => p,
        Err(e) => return error_page(Some(&session), e, &back),
    };
    let rel = format!("raw/{}", parts.join("/"));
    let source = String::from_utf8_lossy(&bytes).into_owned();
    let report =
        match crate::api::upload::validate_bytes(&s, Some(f.clone()), rel.clone(), bytes.clone())
            .await
        {
            Ok(r) => r,
            Err(e) => return error_page(Some(&session), e, &back),
        };
    let documents: usize = report.files.iter().map(|v| v.documents).sum();
    if !report.valid() {
        let errors = report
            .files
            .iter()
            .flat_map(|v| v.errors.iter())
            .map(|e| {
                let e = serde_json::to_value(e).unwrap_or_default();
                let here = e
                    .get("file")
                    .and_then(|v| v.as_str())
                    .is_none_or(|x| x == rel);
                view::locate(&e, here.then_some(source.as_str()))
            })
            .collect();
        let view = UploadView {
            file: rel.clone(),
            valid: false,
            documents,
            message: format!(
                "{rel} does not validate against fabric {}; nothing was written.",
                f.name
            ),
            errors,
            job: None,
        };
        return raw_page(
            &session,
            &s,
            &f,
            Some(view),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let root = f.root.clone();
    let written = tokio::task::spawn_blocking(move || {
        crate::api::upload::write_raw(&root, &parts, &bytes, replace)
    })
    .await
    .map_err(|e| ApiError::internal(format!("upload task failed: {e}")))
    .and_then(|r| r);
    s.touched(&f.name);
    if let Err(e) = written {
        let status = e.status;
        let view = UploadView {
            file: rel.clone(),
            valid: false,
            documents,
            message: e.message,
            errors: Vec::new(),
            job: None,
        };
        return raw_page(&session, &s, &f, Some(view), status).await;
    }
    let params = JobParams {
        dry_run: false,
        prune: false,
        files: vec![rel.clone()],
    };
    match crate::api::jobs::submit(
        &s,
        &f.name,
        JobType::Ingest,
        params,
        &session.principal.name,
    )
    .await
    {
        Ok((job, _)) => {
            let view = UploadView {
                file: rel,
                valid: true,
                documents,
                message: String::new(),
                errors: Vec::new(),
                job: Some(job.id),
            };
            raw_page(&session, &s, &f, Some(view), StatusCode::OK).await
        }
        Err(e) => error_page(Some(&session), e, &back),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
    scope: String,
    expires: Option<String>,
}

pub async fn create_token(
    session: Session,
    State(s): State<AppState>,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(r) = session
        .require(Scope::Admin)
        .and_then(|_| session.check_csrf(&form.csrf))
    {
        return *r;
    }
    let Some(scope) = Scope::parse(&form.scope) else {
        return tokens_page(
            &session,
            &s,
            None,
            Some(format!("unknown scope {:?}", form.scope)),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let expires = form
        .expires
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    match s
        .tokens()
        .create(form.name.trim(), scope, expires, &session.principal.name)
        .await
    {
        Ok(t) => {
            tokens_page(
                &session,
                &s,
                Some((t.info.name, t.token)),
                None,
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => tokens_page(&session, &s, None, Some(e.message), e.status).await,
    }
}

pub async fn revoke_token(
    session: Session,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = session
        .require(Scope::Admin)
        .and_then(|_| session.check_csrf(&form.csrf))
    {
        return *r;
    }
    match s.tokens().revoke(&name).await {
        Ok(true) => Redirect::to("/tokens").into_response(),
        Ok(false) => {
            tokens_page(
                &session,
                &s,
                None,
                Some(format!("no active token named {name:?}")),
                StatusCode::NOT_FOUND,
            )
            .await
        }
        Err(e) => error_page(Some(&session), ApiError::from(e), "/tokens"),
    }
}
