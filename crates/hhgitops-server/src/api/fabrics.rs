//! Fabrics and what they hold: registration, status, raw queue, objects, drift, history, runs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::{Page, PageQuery};
use crate::auth::{Admin, Auth, Read, Write};
use crate::data::{self, FabricCreate, FabricPatch, FabricView, ObjectFilter, ObjectItem};
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::state::AppState;

type JsonValue = Json<serde_json::Value>;

/// Every registered fabric.
#[utoipa::path(get, path = "/api/v1/fabrics", tag = "fabrics", security(("bearer" = [])),
    responses((status = 200, body = Vec<FabricView>), (status = 401, body = ErrorBody)))]
pub async fn list_fabrics(
    _a: Auth<Read>,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<FabricView>>> {
    Ok(Json(data::list_fabrics(&s).await?))
}

/// Registers a fabric and initializes its layout (admin).
#[utoipa::path(post, path = "/api/v1/fabrics", tag = "fabrics", security(("bearer" = [])), request_body = FabricCreate,
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "the body is not `application/json`")))]
pub async fn create_fabric(
    a: Auth<Admin>,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<FabricCreate>,
) -> ApiResult<(StatusCode, JsonValue)> {
    // The layout's init entry in the archive log names the token.
    let r =
        hhgitops_engine::actor::scope(Some(a.principal.name.clone()), data::create_fabric(&s, req))
            .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// One fabric.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path)),
    responses((status = 200, body = FabricView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_fabric(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<FabricView>> {
    let f = data::fabric(&s, &name).await?;
    Ok(Json(data::fabric_view_led(&s, &f).await))
}

/// Changes a fabric's settings (admin).
#[utoipa::path(patch, path = "/api/v1/fabrics/{fabric}", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path)), request_body = FabricPatch,
    responses((status = 200, body = FabricView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "the body is not `application/json`")))]
pub async fn patch_fabric(
    _a: Auth<Admin>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(patch): ApiJson<FabricPatch>,
) -> ApiResult<Json<FabricView>> {
    Ok(Json(data::patch_fabric(&s, &name, patch).await?))
}

/// Unregisters a fabric; its files are kept (admin).
#[utoipa::path(delete, path = "/api/v1/fabrics/{fabric}", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path)),
    responses((status = 200, body = FabricView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_fabric(
    _a: Auth<Admin>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<FabricView>> {
    Ok(Json(data::remove_fabric(&s, &name).await?))
}

/// As `status --json`.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/status", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn fabric_status(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<JsonValue> {
    Ok(Json(data::status(&s, &name).await?))
}

/// Pending and rejected raw files, with located errors.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/raw", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn raw_files(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<JsonValue> {
    Ok(Json(data::raw_files(&s, &name).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObjectQuery {
    /// Kind name, plural or short name (`VPC`, `vpcs`).
    pub kind: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    /// Drift status in the latest report (`in-sync`, `drifted`, `missing`, `extra`; `unknown`: no report entry).
    pub drift: Option<String>,
    pub limit: Option<i64>,
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    pub cont: Option<String>,
}

/// Managed objects, filtered and paged.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/objects", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), ObjectQuery),
    responses((status = 200, body = Page<ObjectItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list_objects(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ObjectQuery>,
) -> ApiResult<Json<Page<ObjectItem>>> {
    let (limit, offset) = PageQuery {
        limit: q.limit,
        cont: q.cont.clone(),
    }
    .resolve()?;
    let filter = ObjectFilter {
        kind: q.kind,
        name: q.name,
        drift: q.drift,
    };
    Ok(Json(
        data::objects(&s, &name, &filter, limit, offset).await?,
    ))
}

/// One object: YAML and JSON, source, references both ways, drift.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/objects/{kind}/{name}", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), ("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_object(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath((fabric, kind, name)): ApiPath<(String, String, String)>,
) -> ApiResult<JsonValue> {
    Ok(Json(data::object(&s, &fabric, &kind, &name).await?))
}

/// Deletes a managed object, as `delete` (write); refused while referenced.
#[utoipa::path(delete, path = "/api/v1/fabrics/{fabric}/objects/{kind}/{name}", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), ("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_object(
    a: Auth<Write>,
    State(s): State<AppState>,
    ApiPath((fabric, kind, name)): ApiPath<(String, String, String)>,
) -> ApiResult<JsonValue> {
    // The delete's run record and archive-log entry name the token.
    let r = hhgitops_engine::actor::scope(
        Some(a.principal.name.clone()),
        data::delete_object(&s, &fabric, &kind, &name),
    )
    .await?;
    Ok(Json(r))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Only objects with this status.
    pub status: Option<String>,
}

/// The latest drift report: when and by which job it was computed.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/drift", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), DriftQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn drift(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> ApiResult<JsonValue> {
    Ok(Json(
        data::latest_drift(&s, &name, q.status.as_deref()).await?,
    ))
}

/// Archive-log entries, newest first.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/history", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), PageQuery),
    responses((status = 200, body = Page<serde_json::Value>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn history(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<serde_json::Value>>> {
    let (limit, offset) = q.resolve()?;
    Ok(Json(data::history(&s, &name, limit, offset).await?))
}

/// Run records, newest first.
#[utoipa::path(get, path = "/api/v1/fabrics/{fabric}/runs", tag = "fabrics", security(("bearer" = [])),
    params(("fabric" = String, Path), PageQuery),
    responses((status = 200, body = Page<serde_json::Value>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn runs(
    _a: Auth<Read>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<serde_json::Value>>> {
    let (limit, offset) = q.resolve()?;
    Ok(Json(data::runs(&s, &name, limit, offset).await?))
}
