//! The embedded static assets (`assets/`), served under `/static/` with a one-year immutable cache lifetime:
//! pages link them with their content hash (`?v=`), so a new build is fetched at once.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The vendored htmx (see `assets/README.md` for its version, source and sha256).
pub const HTMX: &str = "htmx-2.0.11.min.js";
pub const APP: &str = "app.js";
pub const CSS: &str = "app.css";

/// `/static/<file>?v=<first 12 hex digits of its sha256>`.
pub fn url(file: &'static str) -> String {
    static URLS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let urls = URLS.get_or_init(|| {
        [HTMX, APP, CSS]
            .into_iter()
            .map(|f| {
                let v = Assets::get(f)
                    .map(|a| hex::encode(&a.metadata.sha256_hash()[..6]))
                    .unwrap_or_default();
                (f, format!("/static/{f}?v={v}"))
            })
            .collect()
    });
    urls.iter()
        .find(|(f, _)| *f == file)
        .map(|(_, u)| u.clone())
        .unwrap_or_else(|| format!("/static/{file}"))
}

pub async fn serve(Path(file): Path<String>) -> Response {
    // Only scripts and style sheets are served (the folder's README is documentation).
    let servable = file.ends_with(".js") || file.ends_with(".css");
    let Some(asset) = Assets::get(&file).filter(|_| servable) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mime = if file.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else {
        "text/css; charset=utf-8"
    };
    let mut r = asset.data.into_owned().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_embedded_and_versioned() {
        for f in [HTMX, APP, CSS] {
            assert!(Assets::get(f).is_some_and(|a| a.data.len() > 100), "{f}");
            let u = url(f);
            assert!(
                u.starts_with(&format!("/static/{f}?v=")) && u.len() == f.len() + 23,
                "{u}"
            );
        }
        // The pinned htmx is the file the README names.
        let htmx = Assets::get(HTMX).unwrap();
        assert_eq!(
            hex::encode(htmx.metadata.sha256_hash()),
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
        );
        assert!(Assets::get("nothing.js").is_none());
    }
}
