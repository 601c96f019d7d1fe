//! The browser client: the files of `client-web/`, embedded in the binary at build
//! time and served at `/`.
//!
//! Every page and asset carries a strict Content-Security-Policy (scripts, styles and
//! connections only from this origin, no framing: the Privacy page's consent grant
//! cannot be clickjacked), `X-Content-Type-Options: nosniff` and a `Referrer-Policy`
//! that keeps invite links out of other sites' logs. The client has no inline
//! scripts or styles; it sets styles only through the CSSOM, which CSP allows.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

static CLIENT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../client-web");

pub async fn index() -> Response {
    file("index.html")
}

pub async fn asset(Path(path): Path<String>) -> Response {
    if path.starts_with("api/") {
        // Unknown API paths answer in the API's error shape, not as missing files.
        return crate::api::not_found().await.into_response();
    }
    file(&path)
}

/// The web client's Content-Security-Policy. `data:` images are the inline favicon;
/// `blob:` images are uploaded images, which the client fetches with its token and
/// shows through object URLs (only this origin's scripts can make them);
/// `connect-src 'self'` covers the same-origin WebSocket (CSP level 3).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the web client's security headers to a response.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn file(path: &str) -> Response {
    secure(match CLIENT.get_file(path) {
        Some(f) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            let mut response = f.contents().into_response();
            if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    })
}
