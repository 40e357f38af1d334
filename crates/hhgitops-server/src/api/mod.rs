//! The HTTP API of SPEC §8. Every route is registered with its OpenAPI entry in one place
//! (`utoipa_axum::routes!`), so the document and the router cannot drift apart. Handlers are thin: parse,
//! check the scope (by their extractor), call a data function of [`crate::data`] or the engine, map errors.

pub mod fabrics;
pub mod health;
pub mod jobs;
pub mod tokens;
pub mod upload;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "hhgitops", description = "GitOps for Hedgehog Open Network Fabric: the HTTP API of `hhgitops serve`."),
    modifiers(&Security),
    paths(upload::put_raw),
    tags(
        (name = "fabrics"), (name = "jobs"), (name = "tokens"), (name = "health"), (name = "webhooks")
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("hhg_…")
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::COOKIE))),
        );
    }
}

/// The upload route: registered by hand because its last segment is a wildcard (`{*path}` in axum,
/// `{path}` in the document).
pub const UPLOAD_ROUTE: &str = "/api/v1/fabrics/{fabric}/raw/{*path}";

/// The API router with its document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi_json))
        .routes(routes!(fabrics::list_fabrics, fabrics::create_fabric))
        .routes(routes!(
            fabrics::get_fabric,
            fabrics::patch_fabric,
            fabrics::delete_fabric
        ))
        .routes(routes!(fabrics::fabric_status))
        .routes(routes!(fabrics::raw_files))
        .routes(routes!(upload::validate))
        .routes(routes!(fabrics::list_objects))
        .routes(routes!(fabrics::get_object, fabrics::delete_object))
        .routes(routes!(fabrics::drift))
        .routes(routes!(fabrics::history))
        .routes(routes!(fabrics::runs))
        .routes(routes!(jobs::create_job))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::job_events))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(webhooks::git_webhook))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
}

/// `limit` and `continue` of every list endpoint.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 100, at most 1000).
    pub limit: Option<i64>,
    /// The `continue` value of the previous page.
    #[serde(rename = "continue")]
    #[param(rename = "continue")]
    pub cont: Option<String>,
}

impl PageQuery {
    /// `(limit, offset)`.
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        let limit = match self.limit {
            None => 100,
            Some(n) if (1..=1000).contains(&n) => n,
            Some(n) => return Err(ApiError::invalid(format!("limit {n}: give 1 to 1000"))),
        };
        Ok((limit, crate::jobs::decode_continue(self.cont.as_deref())?))
    }
}

/// The positions of one page of `limit` items from `offset` in a list of `len` items.
pub fn window(len: usize, limit: i64, offset: i64) -> std::ops::Range<usize> {
    let start = (offset.max(0) as usize).min(len);
    start..start.saturating_add(limit.max(0) as usize).min(len)
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Items in the whole list (all pages).
    pub total: i64,
    /// Give this as `continue` for the next page; absent on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub cont: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn new(items: Vec<T>, total: i64, offset: i64) -> Self {
        let next = offset + items.len() as i64;
        Page {
            cont: crate::jobs::encode_continue(next, total),
            items,
            total,
        }
    }

    /// Pages a list held in memory.
    pub fn of(mut all: Vec<T>, limit: i64, offset: i64) -> Self {
        let total = all.len() as i64;
        let items: Vec<T> = all.drain(window(all.len(), limit, offset)).collect();
        Page::new(items, total, offset)
    }
}

/// A path or query that does not parse: the API's error shape instead of axum's plain text.
pub fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(e.to_string())
}
