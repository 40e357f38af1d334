//! Uploads into raw/ and validation of YAML bodies.
//!
//! An upload is validated against the fabric first: a rejected file answers 422 with its located errors and
//! raw/ is left as it was. An accepted one is written atomically (a dotfile beside the target, made durable,
//! then renamed: the watcher never sees a half file) and its ingestion queued (202 with the job). Paths that
//! leave raw/, pass through a symbolic link, name a dotfile or a non-YAML file are refused; a file that is
//! already there (pending) is replaced only with `?replace=true`. The body is read up to the file-size limit
//! and refused (413) as soon as it goes past it, never buffered whole.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Auth, Write};
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::jobs::{JobParams, JobType};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct UploadQuery {
    /// Validate against the fabric and write nothing.
    pub dry_run: Option<bool>,
    /// Replace a file of that name that is still pending.
    pub replace: Option<bool>,
}

/// Checks an upload path (relative to raw/): plain folder names and a YAML file name, nothing hidden.
pub fn check_raw_path(path: &str) -> ApiResult<Vec<String>> {
    let bad = |why: &str| ApiError::invalid(format!("upload path {path:?} {why}"));
    if path.is_empty() || path.len() > 1024 {
        return Err(bad("must be 1 to 1024 characters"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(bad("must not contain '\\' or NUL"));
    }
    let parts: Vec<String> = path.split('/').map(str::to_string).collect();
    for p in &parts {
        if p.is_empty() || p == "." || p == ".." {
            return Err(bad(
                "must stay inside raw/ (no empty, '.' or '..' segments, no leading '/')",
            ));
        }
        if p.starts_with('.') {
            return Err(bad(
                "must not name a dotfile or dot-folder (they are ignored)",
            ));
        }
        if p.len() > 200 {
            return Err(bad("has a segment longer than 200 bytes"));
        }
    }
    let name = parts.last().map(String::as_str).unwrap_or("");
    if !hhgitops_engine::layout::is_yaml_name(name)
        || hhgitops_engine::rawfiles::is_ignored_name(name)
    {
        return Err(bad("must name a .yaml or .yml file"));
    }
    Ok(parts)
}

/// Reads a body up to `limit` bytes; 413 as soon as it is longer.
pub async fn read_bounded(headers: &HeaderMap, body: Body, limit: u64) -> ApiResult<Vec<u8>> {
    let too_large = || {
        ApiError::too_large(format!(
            "the body is larger than the file-size limit of {limit} bytes"
        ))
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut out = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::invalid(format!("cannot read the body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> ApiError {
    ApiError::internal(format!("{what} {}: {e}", p.display()))
}

/// Writes `bytes` as `raw/<parts…>` atomically, through the root's sandbox (never through a link, never outside
/// the root), creating missing subfolders. Refuses an existing file unless `replace`. Blocking.
pub fn write_raw(root: &Path, parts: &[String], bytes: &[u8], replace: bool) -> ApiResult<PathBuf> {
    use hhgitops_engine::sandbox::FileKind;
    let dir = hhgitops_engine::layout::GitOpsRoot::new(root).dir()?;
    let rel = format!("raw/{}", parts.join("/"));
    match dir.kind("raw") {
        Ok(Some(FileKind::Dir)) => {}
        Ok(_) => {
            return Err(ApiError::conflict(format!(
                "{} is not a folder",
                dir.abs("raw").display()
            )))
        }
        Err(e) => return Err(io_err("cannot open", &dir.abs("raw"), e)),
    }
    let parent = rel.rsplit_once('/').map_or("raw", |(p, _)| p);
    let created = dir.create_dir_all(parent).map_err(|_| {
        ApiError::invalid(format!(
            "{parent} is not a folder (a symbolic link or a file): uploads never pass through links"
        ))
    })?;
    let refuse = |e: ApiError| {
        dir.remove_created(&created);
        Err(e)
    };
    match dir.kind(&rel) {
        Ok(Some(FileKind::File)) if !replace => {
            return refuse(
                ApiError::conflict(format!(
                    "{rel} is already pending; upload with ?replace=true to replace it"
                ))
                .with_details(serde_json::json!({ "file": rel })),
            )
        }
        Ok(None | Some(FileKind::File)) => {}
        Ok(Some(_)) => {
            return refuse(ApiError::conflict(format!(
                "{rel} exists and is not a regular file"
            )))
        }
        Err(e) => return refuse(io_err("cannot open", &dir.abs(&rel), e)),
    }
    if let Err(e) = dir.write_atomic(&rel, bytes) {
        return refuse(io_err("cannot write", &dir.abs(&rel), e));
    }
    Ok(dir.abs(&rel))
}

pub(crate) async fn validate_bytes(
    s: &AppState,
    fabric: Option<hhgitops_engine::fabric::Fabric>,
    name: String,
    bytes: Vec<u8>,
) -> ApiResult<hhgitops_engine::check::ValidationReport> {
    let limit = s.options().ops.max_file_size;
    tokio::task::spawn_blocking(move || {
        crate::adapter::validate_sources(fabric.as_ref(), &[(name, bytes)], limit)
    })
    .await
    .map_err(|e| ApiError::internal(format!("validation task failed: {e}")))?
    .map_err(ApiError::from)
}

/// Uploads one YAML file into raw/ (write): 202 with the ingestion job; `?dryRun=true` validates only.
#[utoipa::path(put, path = "/api/v1/fabrics/{fabric}/raw/{path}", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), ("path" = String, Path, description = "file path under raw/, e.g. vpcs.yaml or site/a.yaml"), UploadQuery),
    request_body(content = String, content_type = "application/yaml"),
    responses((status = 202, body = crate::jobs::Job, headers(("Location" = String))), (status = 200, body = Object, description = "dry run: the validation report"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_raw(
    a: Auth<Write>,
    State(s): State<AppState>,
    ApiPath((fabric, path)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let f = s.engine().fabric(&fabric).await?;
    let parts = check_raw_path(&path)?;
    let rel = format!("raw/{}", parts.join("/"));
    let dry_run = q.dry_run.unwrap_or(false);
    // A Git fabric's root is each replica's own clone: the upload is held in the database and written into
    // the clone of whichever replica runs its ingestion.
    let held = f.root_rule == hhgitops_engine::fabric::RootRule::GitClone;
    if held {
        // Validated against the fabric as its remote has it: this replica's clone is brought up to date (made
        // on the first upload), as an ingestion would.
        drop(
            s.engine()
                .git_session(&f, &format!("upload to {fabric}"))
                .await?,
        );
        if !matches!(
            s.engine().root_state(&f),
            hhgitops_engine::fabric::RootState::Ready
        ) {
            s.engine().init(&f, false).await?;
        }
    }
    if !dry_run
        && !q.replace.unwrap_or(false)
        && (hhgitops_engine::layout::GitOpsRoot::new(&f.root)
            .dir()
            .is_ok_and(|d| d.exists(&rel))
            || (held && s.jobs().upload_pending(&fabric, &rel).await?))
    {
        // Refused before the body is read or validated.
        return Err(ApiError::conflict(format!(
            "{rel} is already pending; upload with ?replace=true to replace it"
        ))
        .with_details(serde_json::json!({ "file": rel })));
    }
    let bytes = read_bounded(&headers, body, s.options().ops.max_file_size).await?;
    let report = validate_bytes(&s, Some(f.clone()), rel.clone(), bytes.clone()).await?;
    if dry_run {
        return Ok((StatusCode::OK, Json(report)).into_response());
    }
    if !report.valid() {
        metrics::counter!("hhgitops_uploads_total", "fabric" => fabric.clone(), "outcome" => "rejected").increment(1);
        return Err(ApiError::unprocessable(format!(
            "{rel} does not validate against fabric {fabric:?}; raw/ is unchanged"
        ))
        .with_details(serde_json::to_value(&report).unwrap_or_default()));
    }
    let params = JobParams {
        dry_run: false,
        prune: false,
        files: vec![rel.clone()],
    };
    if held {
        // Validated YAML is UTF-8 text (the parser refuses anything else).
        let text = String::from_utf8(bytes).map_err(|_| {
            ApiError::unprocessable(format!("{rel} is not UTF-8 text; raw/ is unchanged"))
        })?;
        let (job, _) = crate::api::jobs::submit_holding(
            &s,
            &fabric,
            JobType::Ingest,
            params,
            a.actor(),
            &[(rel, text)],
        )
        .await?;
        metrics::counter!("hhgitops_uploads_total", "fabric" => fabric.clone(), "outcome" => "accepted").increment(1);
        return Ok(crate::api::jobs::accepted(job));
    }
    let root = f.root.clone();
    let replace = q.replace.unwrap_or(false);
    tokio::task::spawn_blocking(move || write_raw(&root, &parts, &bytes, replace))
        .await
        .map_err(|e| ApiError::internal(format!("upload task failed: {e}")))??;
    // The file is pending now: the status says so from the next request on.
    s.touched(&fabric);
    metrics::counter!("hhgitops_uploads_total", "fabric" => fabric.clone(), "outcome" => "accepted").increment(1);
    let (job, _) =
        crate::api::jobs::submit(&s, &fabric, JobType::Ingest, params, a.actor()).await?;
    Ok(crate::api::jobs::accepted(job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidateQuery {
    /// Validate over this fabric's managed state.
    pub fabric: Option<String>,
    /// The name errors are reported under (default `input.yaml`).
    pub file: Option<String>,
}

/// Validates the YAML body, alone or over fabric F's state; writes nothing (write scope).
#[utoipa::path(post, path = "/api/v1/validate", tag = "fabrics", security(("bearer" = [])), params(ValidateQuery),
    request_body(content = String, content_type = "application/yaml"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn validate(
    _a: Auth<Write>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ValidateQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<hhgitops_engine::check::ValidationReport>> {
    let fabric = match &q.fabric {
        Some(f) => Some(s.engine().fabric(f).await?),
        None => None,
    };
    let bytes = read_bounded(&headers, body, s.options().ops.max_file_size).await?;
    let name = q.file.unwrap_or_else(|| "input.yaml".into());
    Ok(Json(validate_bytes(&s, fabric, name, bytes).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(check_raw_path("a.yaml").unwrap(), vec!["a.yaml"]);
        assert_eq!(check_raw_path("site/b.YML").unwrap(), vec!["site", "b.YML"]);
        for bad in [
            "",
            "../a.yaml",
            "a/../../b.yaml",
            "/a.yaml",
            ".a.yaml",
            "x/.git/a.yaml",
            "a.txt",
            "a.yaml.archived",
            "a//b.yaml",
            "a\\b.yaml",
            "./a.yaml",
        ] {
            assert!(check_raw_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn atomic_write_refuses_links_and_pending() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("raw")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("raw/link")).unwrap();
        let p = |s: &str| check_raw_path(s).unwrap();
        assert!(write_raw(d.path(), &p("link/a.yaml"), b"x", false).is_err());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        write_raw(d.path(), &p("sub/a.yaml"), b"one", false).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("raw/sub/a.yaml")).unwrap(),
            b"one"
        );
        let e = write_raw(d.path(), &p("sub/a.yaml"), b"two", false).unwrap_err();
        assert_eq!(e.status, StatusCode::CONFLICT);
        write_raw(d.path(), &p("sub/a.yaml"), b"two", true).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("raw/sub/a.yaml")).unwrap(),
            b"two"
        );
        let names: Vec<_> = std::fs::read_dir(d.path().join("raw/sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    }
}
