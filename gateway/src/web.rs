//! The web UI (web/), built by build.rs and embedded in the binary, served at `/` without
//! authentication (it holds no data; it signs in against the API).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// One embedded file: hashed assets are cached for good, index.html never.
fn serve(path: &str) -> Response {
    let Some((_, bytes)) = ASSETS.iter().find(|(p, _)| *p == path) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": {"code": "not_found", "message": format!("no file {path} in the web UI"), "details": null}})),
        )
            .into_response();
    };
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        *bytes,
    )
        .into_response()
}

/// `GET /`: the UI's page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /assets/{file}`: its scripts and styles.
pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&format!("assets/{file}"))
}
