//! Tokens through the API (admin).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::tokens::{NewToken, Scope, TokenInfo};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    pub scope: Scope,
    /// e.g. `30d`, `12h`; absent: never expires.
    pub expires: Option<String>,
}

/// Every token (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    _a: Auth<Admin>,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(s.tokens().list().await?))
}

/// Makes a token; the answer is the only time it is shown.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = TokenRequest,
    responses((status = 201, body = NewToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "the body is not `application/json`")))]
pub async fn create_token(
    a: Auth<Admin>,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let t = s
        .tokens()
        .create(&req.name, req.scope, req.expires.as_deref(), a.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    _a: Auth<Admin>,
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if s.tokens().revoke(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no token named {name:?}")))
    }
}
