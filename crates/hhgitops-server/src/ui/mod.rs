//! The web UI of SPEC §8: server-rendered pages (askama templates compiled into the binary, `templates/`),
//! static assets embedded with `rust-embed` (`assets/`: a pinned htmx, our one script and one style sheet).
//!
//! Invariants:
//! - **No inline script or style**: every page is served with [`CSP`] (`script-src 'self'; style-src 'self'`);
//!   templates carry no `<script>` body, no `style=` and no `on…=` attribute.
//! - **Same authentication as the API**: [`Session`] authenticates the session cookie (or a bearer token) with
//!   [`crate::auth::authenticate`]; a page without a valid session redirects to `/login`.
//! - **CSRF**: unsafe requests must be same-origin (`Sec-Fetch-Site`, else `Origin`; checked by `authenticate`)
//!   and carry the form token of the session ([`csrf_token`], derived from the session's token, nothing stored).
//! - **The server pages, filters and counts**: lists are paged on the server (objects and jobs in the database,
//!   drift over the cached latest report); no page ships a whole fabric.
//! - Every number comes from the engine or the database; a part that cannot be read says so in place.

mod actions;
pub mod assets;
mod pages;
pub mod view;

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::{presented_token, same_origin, COOKIE};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{Principal, Scope};

/// The Content-Security-Policy of every page: our own scripts and styles only, nothing inline.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/static/{file}", get(assets::serve))
        .route("/", get(pages::overview))
        .route("/fabrics/{fabric}", get(pages::fabric))
        .route(
            "/fabrics/{fabric}/raw",
            get(pages::raw).post(actions::upload).layer(
                // The upload reads its file up to the fabric's file-size limit itself.
                axum::extract::DefaultBodyLimit::disable(),
            ),
        )
        .route("/fabrics/{fabric}/objects", get(pages::objects))
        .route(
            "/fabrics/{fabric}/objects/{kind}/{name}",
            get(pages::object),
        )
        .route("/fabrics/{fabric}/drift", get(pages::drift))
        .route(
            "/fabrics/{fabric}/drift/{kind}/{name}",
            get(pages::drift_detail),
        )
        .route("/fabrics/{fabric}/history", get(pages::history))
        .route("/fabrics/{fabric}/jobs", post(actions::submit_job))
        .route("/fabrics/{fabric}/sync/plan", post(actions::plan_sync))
        .route("/jobs", get(pages::jobs))
        .route("/jobs/{id}", get(pages::job))
        .route("/jobs/{id}/cancel", post(actions::cancel_job))
        .route("/tokens", get(pages::tokens).post(actions::create_token))
        .route("/tokens/{name}/revoke", post(actions::revoke_token))
}

/// What the layout of every page needs.
pub struct Chrome {
    pub title: String,
    /// Which top navigation entry is current: `fabrics`, `jobs`, `tokens` or empty.
    pub nav: &'static str,
    pub signed_in: bool,
    pub user: String,
    pub scope: &'static str,
    pub write: bool,
    pub admin: bool,
    pub csrf: String,
    pub css: String,
    pub htmx: String,
    pub app: String,
}

impl Chrome {
    fn anonymous(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            nav: "",
            signed_in: false,
            user: String::new(),
            scope: "",
            write: false,
            admin: false,
            csrf: String::new(),
            css: assets::url(assets::CSS),
            htmx: assets::url(assets::HTMX),
            app: assets::url(assets::APP),
        }
    }
}

/// A signed-in browser (or a bearer token) on a page.
pub struct Session {
    pub principal: Principal,
    /// The form token of this session.
    pub csrf: String,
}

/// The CSRF form token of a session: derived from its token, so nothing is stored and another site, which cannot
/// read the cookie, cannot know it.
pub fn csrf_token(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"hhgitops-ui-csrf\0");
    h.update(session_token.as_bytes());
    hex::encode(&h.finalize()[..16])
}

impl Session {
    pub fn chrome(&self, title: &str, nav: &'static str) -> Chrome {
        Chrome {
            signed_in: true,
            nav,
            user: self.principal.name.clone(),
            scope: self.principal.scope.as_str(),
            write: self.principal.scope >= Scope::Write,
            admin: self.principal.scope >= Scope::Admin,
            csrf: self.csrf.clone(),
            ..Chrome::anonymous(title)
        }
    }

    /// Refuses (403 page) a session whose token lacks `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Box<Response>> {
        if self.principal.scope >= scope {
            return Ok(());
        }
        Err(Box::new(error_page(
            Some(self),
            ApiError::forbidden(format!(
                "token {:?} has scope {}; this needs {}",
                self.principal.name,
                self.principal.scope.as_str(),
                scope.as_str()
            )),
            "/",
        )))
    }

    /// Checks the form token of an unsafe request (the same-origin rule was checked by `authenticate`).
    pub fn check_csrf(&self, given: &str) -> Result<(), Box<Response>> {
        use subtle::ConstantTimeEq;
        if bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes())) {
            return Ok(());
        }
        Err(Box::new(error_page(
            Some(self),
            ApiError::forbidden(
                "the form's token does not match this session: reload the page and try again",
            )
            .with_details(serde_json::json!({"reason": "csrf"})),
            "/",
        )))
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match crate::auth::authenticate(state, &parts.method, &parts.headers).await {
            Ok(principal) => {
                let token = presented_token(&parts.headers)
                    .map(|t| t.0)
                    .unwrap_or_default();
                Ok(Session {
                    principal,
                    csrf: csrf_token(&token),
                })
            }
            Err(e) if e.status == StatusCode::UNAUTHORIZED && parts.method == Method::GET => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(Redirect::to(&format!("/login?next={}", view::enc(next))).into_response())
            }
            Err(e) => Err(error_page(None, e, "/")),
        }
    }
}

/// Renders a template with the page headers (CSP, no caching, no sniffing).
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => {
            let mut r = (status, body).into_response();
            page_headers(r.headers_mut());
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

fn page_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
    back: String,
}

/// An error as a page, with the status of the error.
pub fn error_page(session: Option<&Session>, e: ApiError, back: &str) -> Response {
    let heading = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Refused",
        StatusCode::UNAUTHORIZED => "Sign in first",
        s if s.is_client_error() => "Not accepted",
        _ => "Something failed",
    };
    let chrome = match session {
        Some(s) => s.chrome(heading, ""),
        None => Chrome::anonymous(heading),
    };
    render(
        e.status,
        &ErrorPage {
            chrome,
            heading: heading.to_string(),
            message: e.message,
            back: back.to_string(),
        },
    )
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    message: String,
    next: String,
}

fn login_page(status: StatusCode, message: &str, next: &str) -> Response {
    render(
        status,
        &LoginPage {
            chrome: Chrome::anonymous("Sign in"),
            message: message.to_string(),
            next: next.to_string(),
        },
    )
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path of this server (`/…`, not `//host`): never a redirect elsewhere.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

async fn login_form(Query(q): Query<NextQuery>) -> Response {
    login_page(StatusCode::OK, "", &local_path(q.next.as_deref()))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

fn cookie(state: &AppState, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    if state.tls() {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

fn browser_cross_origin(headers: &HeaderMap) -> bool {
    (headers.contains_key("sec-fetch-site") || headers.contains_key(header::ORIGIN))
        && !same_origin(headers)
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    if browser_cross_origin(&headers) {
        return login_page(
            StatusCode::FORBIDDEN,
            "Sign-in from another site refused.",
            &next,
        );
    }
    let token = form.token.trim();
    let mut h = HeaderMap::new();
    if let Ok(v) = format!("Bearer {token}").parse() {
        h.insert(header::AUTHORIZATION, v);
    }
    match crate::auth::authenticate(&state, &Method::GET, &h).await {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie(&state, token, None)),
                (header::LOCATION, next),
            ],
        )
            .into_response(),
        Err(e) => login_page(e.status, &e.message, &next),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if browser_cross_origin(&headers) {
        return login_page(
            StatusCode::FORBIDDEN,
            "Sign-out from another site refused.",
            "/",
        );
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie(&state, "", Some(0))),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_are_stable() {
        let a = csrf_token("hhg_a");
        assert_eq!(a, csrf_token("hhg_a"));
        assert_ne!(a, csrf_token("hhg_b"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("hhg_a"));
    }

    #[test]
    fn redirects_stay_on_this_server() {
        assert_eq!(local_path(Some("/fabrics/f?x=1")), "/fabrics/f?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn the_policy_allows_no_inline_script_or_style() {
        assert!(CSP.contains("script-src 'self'"));
        assert!(CSP.contains("style-src 'self'"));
        assert!(!CSP.contains("unsafe-inline"));
        assert!(!CSP.contains("unsafe-eval"));
    }
}
