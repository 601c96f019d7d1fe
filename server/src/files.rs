//! File routes: `POST /channels/{ch}/files` (multipart: a `file` field and an
//! optional `text`), `GET /files/{id}`, `GET /files/{id}/info`, `GET /files/{id}/thumb`
//! and `DELETE /files/{id}`.
//!
//! An upload is streamed chunk by chunk to a staging file (`App::begin_upload`),
//! never held whole in memory; the route's body limit is `files.max_bytes` plus room
//! for the multipart framing, and the app refuses a file part past `files.max_bytes`
//! as it arrives. A download is streamed from disk with headers that keep a hostile
//! file from running in the app's origin: `Content-Security-Policy: sandbox`,
//! `X-Content-Type-Options: nosniff`, and `Content-Disposition: attachment` for all
//! but raster images.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_app::App;
use confab_app::files::is_inline_image;
use confab_core::{Error, ErrorCode, FileInfo};
use confab_protocol::http::FilePosted;
use tokio::io::AsyncReadExt;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Path, id};

/// Bytes of multipart framing (boundaries, part headers, the `text` part) allowed
/// beyond `files.max_bytes` in an upload's body.
pub const FRAMING_BYTES: usize = 256 * 1024;

/// Bytes read from disk per chunk of a download.
const READ_CHUNK: usize = 64 * 1024;

/// The body limit of the upload route: `files.max_bytes` and the framing.
pub fn upload_body_limit(config: &crate::config::Config) -> axum::extract::DefaultBodyLimit {
    let max = usize::try_from(config.app.files.max_bytes).unwrap_or(usize::MAX);
    axum::extract::DefaultBodyLimit::max(max.saturating_add(FRAMING_BYTES))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(ErrorCode::PayloadTooLarge, "the upload is larger than files.max_bytes allows");
    }
    ApiError::new(ErrorCode::InvalidRequest, format!("malformed multipart body: {}", e.body_text()))
}

/// Reads a small text part, refusing more than `max` bytes.
async fn small_text(mut field: Field<'_>, max: usize) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > max {
            return Err(Error::invalid_field("text", format!("at most {max} bytes")).into());
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| Error::invalid_field("text", "not UTF-8").into())
}

pub async fn upload(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<FilePosted>)> {
    let channel = id(&ch)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(ErrorCode::InvalidRequest, format!("send multipart/form-data: {}", e.body_text()))
    })?;
    let max_text = app.config().limits.max_message_chars * 4;
    let (mut upload, mut name, mut text) = (None, String::new(), String::new());
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") if upload.is_none() => {
                name = field.file_name().unwrap_or_default().to_string();
                let mut receiving = app.begin_upload(auth.caller, channel)?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    receiving.write(&chunk)?;
                }
                upload = Some(receiving);
            }
            Some("text") => text = small_text(field, max_text).await?,
            other => {
                let what = other.unwrap_or("a part without a name");
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("unexpected part {what:?}: send one `file` and an optional `text`"),
                ));
            }
        }
    }
    let upload =
        upload.ok_or_else(|| Error::invalid_field("file", "send the file in a part named `file`"))?;
    let (file, message) = app.post_file(auth.caller, upload, &name, text).await?;
    Ok((StatusCode::CREATED, Json(FilePosted { file, message })))
}

pub async fn download(
    State(app): State<App>,
    auth: Auth,
    Path(file): Path<String>,
    request_headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let (record, file) = app.open_file(auth.caller, id(&file)?)?;
    // The content's hash is its entity tag: a file's bytes never change.
    let etag = format!("\"{}\"", record.hash);
    if request_headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, header_value(&etag))]).into_response());
    }
    let info = record.info;
    let inline = is_inline_image(&info.content_type);
    let body = Body::from_stream(futures_util::stream::unfold(
        tokio::fs::File::from_std(file),
        |mut file| async move {
            let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
            match file.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(_) => Some((Ok::<_, std::io::Error>(buf.freeze()), file)),
                Err(e) => Some((Err(e), file)),
            }
        },
    ));
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encode(&info.name)
    );
    let headers = [
        (header::CONTENT_TYPE, header_value(&info.content_type)),
        (header::CONTENT_LENGTH, HeaderValue::from(info.size)),
        (header::CONTENT_DISPOSITION, header_value(&disposition)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable")),
        (header::ETAG, header_value(&etag)),
    ];
    Ok((headers, body).into_response())
}

pub async fn thumbnail(State(app): State<App>, auth: Auth, Path(file): Path<String>) -> ApiResult<Response> {
    let png = app.file_thumbnail(auth.caller, id(&file)?)?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
        (header::CONTENT_DISPOSITION, HeaderValue::from_static("inline")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable")),
    ];
    Ok((headers, png).into_response())
}

/// The file's record as the API shows it (`File`): what a client needs to show a
/// message's file without downloading it.
pub async fn info(State(app): State<App>, auth: Auth, Path(file): Path<String>) -> ApiResult<Json<FileInfo>> {
    Ok(Json(app.file(auth.caller, id(&file)?)?.info))
}

/// Deletes one file of a message (its author or an admin).
pub async fn delete(State(app): State<App>, auth: Auth, Path(file): Path<String>) -> ApiResult<StatusCode> {
    app.delete_file(auth.caller, id(&file)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// RFC 5987 encoding of a file name for `filename*=UTF-8''…`.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(super::percent_encode("a b\"é.txt"), "a%20b%22%C3%A9.txt");
    }
}
