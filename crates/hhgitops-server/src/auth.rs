//! Authentication and authorization of requests (SPEC §8).
//!
//! A handler states the scope it needs by its extractor: [`Auth<Read>`], [`Auth<Write>`] or [`Auth<Admin>`].
//! The token comes from `Authorization: Bearer hhg_…` or, for a browser, from the session cookie set by
//! `/login`. No or a bad token is 401; a token without the scope is 403. A request authenticated by the cookie
//! with an unsafe method must come from the same origin (`Sec-Fetch-Site`, else `Origin` against `Host`), or it
//! is 403: a cookie is sent by the browser on its own, a bearer token is not.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{Principal, Scope, TokenError};

/// The session cookie's name.
pub const COOKIE: &str = "hhgitops_session";

pub trait ScopeMarker: Send + Sync + 'static {
    const SCOPE: Scope;
}

pub struct Read;
pub struct Write;
pub struct Admin;

impl ScopeMarker for Read {
    const SCOPE: Scope = Scope::Read;
}
impl ScopeMarker for Write {
    const SCOPE: Scope = Scope::Write;
}
impl ScopeMarker for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// An authenticated request with at least scope `S`.
pub struct Auth<S: ScopeMarker> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: ScopeMarker> Auth<S> {
    /// The actor recorded for what this request does.
    pub fn actor(&self) -> &str {
        &self.principal.name
    }
}

/// Where the token of a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    Cookie,
}

/// The token of a request, if any.
pub fn presented_token(headers: &HeaderMap) -> Option<(String, Credential)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        return Some((token.to_string(), Credential::Bearer));
    }
    session_cookie(headers).map(|t| (t, Credential::Cookie))
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, val)) = part.trim().split_once('=') {
                if k == COOKIE && !val.is_empty() {
                    return Some(val.to_string());
                }
            }
        }
    }
    None
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when a browser request is same-origin: `Sec-Fetch-Site: same-origin|none`, or else an `Origin` whose
/// host is the `Host` of the request. A request with neither header is refused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(o), Some(h)) => {
            let o = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .unwrap_or("");
            o.eq_ignore_ascii_case(h)
        }
        _ => false,
    }
}

/// Authenticates a request (any scope). Used by the extractors and by the UI's pages.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let Some((token, credential)) = presented_token(headers) else {
        return Err(ApiError::unauthorized(
            "authentication required: send Authorization: Bearer <token> (hhgitops token create)",
        ));
    };
    let principal = state
        .tokens()
        .authenticate(&token)
        .await
        .map_err(|e| match e {
            TokenError::Database(d) => ApiError::from(d),
            other => ApiError::unauthorized(other.to_string()),
        })?;
    if credential == Credential::Cookie && !is_safe(method) && !same_origin(headers) {
        return Err(ApiError::forbidden(
            "cross-origin request refused: a browser session may only change things from this server's own pages",
        )
        .with_details(serde_json::json!({"reason": "cross-origin"})));
    }
    Ok(principal)
}

impl<S: ScopeMarker> FromRequestParts<AppState> for Auth<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(state, &parts.method, &parts.headers).await?;
        if principal.scope < S::SCOPE {
            return Err(ApiError::forbidden(format!(
                "token {:?} has scope {}; this needs {}",
                principal.name,
                principal.scope.as_str(),
                S::SCOPE.as_str()
            )));
        }
        Ok(Auth {
            principal,
            _scope: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn origin_rules() {
        let mut h = HeaderMap::new();
        assert!(!same_origin(&h));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; hhgitops_session=hhg_x; c=d"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("hhg_x"));
        assert_eq!(presented_token(&h).map(|t| t.1), Some(Credential::Cookie));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer hhg_y"),
        );
        assert_eq!(presented_token(&h).map(|t| t.0).as_deref(), Some("hhg_y"));
    }
}
