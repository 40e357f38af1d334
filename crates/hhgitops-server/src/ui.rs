//! The web UI's slot (issue 14 builds the pages here). What exists now is the browser half of authentication:
//! `/login` (a form with one field, `token`) sets the session cookie (HttpOnly, SameSite=Strict, Secure under
//! TLS) and `/logout` clears it. Pages authenticate with [`crate::auth::authenticate`] and take their data from
//! [`crate::data`]; unsafe requests from a browser are checked to be same-origin there.

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use crate::auth::{same_origin, COOKIE};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
}

fn page(status: StatusCode, message: &str) -> Response {
    let msg = if message.is_empty() {
        String::new()
    } else {
        format!("<p role=\"alert\">{}</p>", html_escape(message))
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>hhgitops: sign in</title></head>\
         <body><main><h1>hhgitops</h1>{msg}<form method=\"post\" action=\"/login\">\
         <label for=\"token\">API token</label> <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required>\
         <button type=\"submit\">Sign in</button></form>\
         <p>Make a token with <code>hhgitops token create --name NAME --scope read</code>.</p></main></body></html>"
    );
    (
        status,
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        )],
        Html(body),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn login_form() -> Response {
    page(StatusCode::OK, "")
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
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
    if browser_cross_origin(&headers) {
        return page(StatusCode::FORBIDDEN, "Sign-in from another site refused.");
    }
    let mut h = HeaderMap::new();
    if let Ok(v) = format!("Bearer {}", form.token.trim()).parse() {
        h.insert(header::AUTHORIZATION, v);
    }
    match crate::auth::authenticate(&state, &Method::GET, &h).await {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie(&state, form.token.trim(), None)),
                (header::LOCATION, "/".to_string()),
            ],
        )
            .into_response(),
        Err(e) => page(e.status, &e.message),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if browser_cross_origin(&headers) {
        return page(StatusCode::FORBIDDEN, "Sign-out from another site refused.");
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
