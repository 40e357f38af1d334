//! Liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Live {
    pub status: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/livez", tag = "health", responses((status = 200, body = Live)))]
pub async fn livez() -> axum::Json<Live> {
    axum::Json(Live {
        status: "ok".into(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadyQuery {
    /// List every check.
    pub verbose: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<Check>>,
}

/// The database is reachable and migrated.
#[utoipa::path(get, path = "/readyz", tag = "health", params(ReadyQuery),
    responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn readyz(State(state): State<AppState>, ApiQuery(q): ApiQuery<ReadyQuery>) -> Response {
    let checks = crate::data::readiness(&state).await;
    let ok = checks.iter().all(|c| c.ok);
    let body = Ready {
        status: if ok { "ok" } else { "unready" }.into(),
        checks: q.verbose.is_some().then_some(checks),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// Prometheus text format; names start with `hhgitops_`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = crate::error::ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.options().metrics_token_required {
        crate::auth::authenticate(&state, &method, &headers).await?;
    }
    let fabrics = crate::data::refresh_gauges(&state).await;
    let mut text = state.0.metrics.render();
    if let Some(fabrics) = fabrics {
        text = crate::data::without_removed_fabrics(&text, &fabrics);
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses((status = 200, body = Object)))]
pub async fn openapi_json() -> Response {
    let doc = crate::openapi_document();
    axum::Json(doc).into_response()
}
