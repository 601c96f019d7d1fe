//! The browser client: the files of `client-web/`, embedded in the binary at build
//! time and served at `/`.

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

fn file(path: &str) -> Response {
    match CLIENT.get_file(path) {
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
    }
}
