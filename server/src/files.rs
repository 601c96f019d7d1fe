//! File routes: `POST /channels/{ch}/files` (multipart: a `file` field and an
//! optional `text`; or the raw file as the body, named in the query), `GET /files/{id}`, `GET /files/{id}/info`, `GET /files/{id}/thumb`
//! and `DELETE /files/{id}`.
//!
//! An upload is streamed chunk by chunk to a staging file (`App::begin_upload`),
//! never held whole in memory; the route's body limit is `files.max_bytes` plus room
//! for the multipart framing, and the app refuses a file part past `files.max_bytes`
//! as it arrives. A download is streamed from disk with headers that keep a hostile
//! file from running in the app's origin: `Content-Security-Policy: sandbox`,
//! `X-Content-Type-Options: nosniff`, and `Content-Disposition: attachment` for all
//! but raster images. It answers one `Range` (`206`, or `416` past the end), and
//! `If-None-Match` with its entity tag (the content's SHA-256) with `304`.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_app::App;
use confab_app::files::is_inline_image;
use confab_core::{Error, ErrorCode, FileInfo};
use confab_protocol::http::FilePosted;
use sha2::{Digest, Sha256};
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

/// `?name=…&text=…&thread_root=…` of an upload sent as the raw body rather than as
/// multipart; `thread_root` may also come with a multipart upload.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpload {
    name: Option<String>,
    text: Option<String>,
    thread_root: Option<String>,
}

/// `POST /channels/{ch}/files`: a `multipart/form-data` body (one or more `file`
/// parts, up to `files.max_files_per_message`, and an optional `text`), or the file as
/// the whole body with its name (and the optional text) in the query, as
/// `curl --data-binary @report.pdf` sends it. Either way one message carries the
/// files; with `?thread_root=` it is a reply in that thread.
pub async fn upload(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    axum::extract::Query(raw): axum::extract::Query<RawUpload>,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<FilePosted>)> {
    let channel = id(&ch)?;
    let thread_root = raw.thread_root.as_deref().map(id).transpose()?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let (uploads, text) = if multipart {
        if raw.name.is_some() || raw.text.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "a multipart upload names its file in its `file` part, not in the query",
            ));
        }
        let multipart = <Multipart as axum::extract::FromRequest<()>>::from_request(request, &()).await;
        multipart_upload(&app, auth.caller, channel, multipart).await?
    } else {
        raw_upload(&app, auth.caller, channel, raw, request.into_body()).await?
    };
    let (files, message) = app.post_files(auth.caller, uploads, text, thread_root).await?;
    let file = files.first().cloned().ok_or_else(|| ApiError::from(Error::internal()))?;
    Ok((StatusCode::CREATED, Json(FilePosted { file, files, message })))
}

/// The files received (each with its name) and the message's text.
type Received = (Vec<(confab_app::files::Upload, String)>, String);

async fn raw_upload(
    app: &App,
    caller: confab_app::Caller,
    channel: confab_core::ChannelId,
    raw: RawUpload,
    body: Body,
) -> ApiResult<Received> {
    use futures_util::StreamExt;
    let name = raw
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid_field("name", "name the file: ?name=report.pdf (or send multipart)"))?;
    let text = raw.text.unwrap_or_default();
    let max_text = app.config().limits.max_message_chars * 4;
    if text.len() > max_text {
        return Err(Error::invalid_field("text", format!("at most {max_text} bytes")).into());
    }
    let mut receiving = app.begin_upload(caller, channel)?;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        // The app refuses a file past `files.max_bytes` as it arrives, before the
        // route's body limit (that and the framing) is reached.
        let chunk = chunk
            .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("reading the upload: {e}")))?;
        receiving.write(&chunk)?;
    }
    Ok((vec![(receiving, name)], text))
}

async fn multipart_upload(
    app: &App,
    caller: confab_app::Caller,
    channel: confab_core::ChannelId,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Received> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(ErrorCode::InvalidRequest, format!("send multipart/form-data: {}", e.body_text()))
    })?;
    let max_text = app.config().limits.max_message_chars * 4;
    let max_files = app.config().files.max_files_per_message;
    let (mut uploads, mut text) = (Vec::new(), String::new());
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            // Refused before its bytes are read.
            Some("file") if uploads.len() == max_files => {
                return Err(
                    Error::invalid_field("file", format!("at most {max_files} files per message")).into()
                );
            }
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                let mut receiving = app.begin_upload(caller, channel)?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    receiving.write(&chunk)?;
                }
                uploads.push((receiving, name));
            }
            Some("text") => text = small_text(field, max_text).await?,
            other => {
                let what = other.unwrap_or("a part without a name");
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("unexpected part {what:?}: send `file` parts and an optional `text`"),
                ));
            }
        }
    }
    if uploads.is_empty() {
        return Err(Error::invalid_field("file", "send the file in a part named `file`").into());
    }
    Ok((uploads, text))
}

pub async fn download(
    State(app): State<App>,
    auth: Auth,
    Path(file): Path<String>,
    request: HeaderMap,
) -> ApiResult<Response> {
    let (record, file) = app.open_file(auth.caller, id(&file)?)?;
    // The content's hash is its entity tag: a file's bytes never change.
    let etag = header_value(&format!("\"{}\"", record.hash));
    if matches_none_of(&request, &etag) {
        return Ok(not_modified(etag));
    }
    let info = record.info;
    let mut headers = file_headers(etag.clone());
    headers.insert(header::CONTENT_TYPE, header_value(&info.content_type));
    headers.insert(header::CONTENT_DISPOSITION, header_value(&disposition(&info)));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let size = info.size;
    match requested_range(&request, &etag, size) {
        Requested::Whole => {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            Ok((headers, stream(file, size)).into_response())
        }
        Requested::Part(range) => {
            let (start, end) = (*range.start(), *range.end());
            let mut file = file;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).map_err(|e| {
                tracing::error!(error = %e, "seeking in a file's content");
                ApiError::from(Error::internal())
            })?;
            headers.insert(header::CONTENT_RANGE, header_value(&format!("bytes {start}-{end}/{size}")));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
            Ok((StatusCode::PARTIAL_CONTENT, headers, stream(file, end - start + 1)).into_response())
        }
        Requested::Unsatisfiable => {
            let range = header_value(&format!("bytes */{size}"));
            Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, range)]).into_response())
        }
    }
}

/// What part of a file a request asks for.
#[derive(Debug, PartialEq)]
enum Requested {
    Whole,
    /// One range, inclusive, within the file.
    Part(std::ops::RangeInclusive<u64>),
    /// A range that starts past the end: `416` with the size.
    Unsatisfiable,
}

/// The part a request asks for with `Range` (RFC 9110 §14). A header that does not
/// parse, several ranges (which would need a multipart body) and an `If-Range` that
/// is not the current tag are ignored, as the RFC allows: the whole file is sent.
fn requested_range(request: &HeaderMap, etag: &HeaderValue, size: u64) -> Requested {
    let Some(range) = request.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Requested::Whole;
    };
    // A date in If-Range never matches: files have no Last-Modified.
    if request.get(header::IF_RANGE).is_some_and(|tag| tag != etag) {
        return Requested::Whole;
    }
    let Ok(parsed) = http_range_header::parse_range_header(range) else { return Requested::Whole };
    if parsed.len() != 1 {
        return Requested::Whole;
    }
    match parsed.validate(size) {
        Ok(ranges) => ranges.into_iter().next().map_or(Requested::Whole, Requested::Part),
        Err(_) => Requested::Unsatisfiable,
    }
}

/// Whether `If-None-Match` names the current entity tag (or is `*`): the client's
/// copy is current. Weak tags compare by their opaque part (RFC 9110 §13.1.2).
fn matches_none_of(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.to_str().unwrap_or_default();
    request.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|list| {
        list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}

/// `304 Not Modified`, with the headers a `200` would have had that concern caching.
fn not_modified(etag: HeaderValue) -> Response {
    let headers = [(header::ETAG, etag), (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL))];
    (StatusCode::NOT_MODIFIED, headers).into_response()
}

/// How a file's bytes may be cached: by the browser only (`private`: files are
/// permissioned), and revalidated at every use (`no-cache`), so that each use is
/// checked against the caller's right to read the channel now. Revalidation is a
/// `304` without the body. A long `max-age` would let a shared browser show a file to
/// the next person signed in there without asking the server.
const CACHE_CONTROL: &str = "private, no-cache";

/// The headers every file response has: nothing in it runs in the app's origin, and
/// how it is cached.
fn file_headers(etag: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    headers.insert(header::ETAG, etag);
    headers
}

/// `inline` for a raster image, `attachment` for anything else, with the file's name.
fn disposition(info: &FileInfo) -> String {
    let kind = if is_inline_image(&info.content_type) { "inline" } else { "attachment" };
    format!("{kind}; filename*=UTF-8''{}", percent_encode(&info.name))
}

/// A body of the next `len` bytes of `file`, read in chunks.
fn stream(file: std::fs::File, len: u64) -> Body {
    let reader = tokio::fs::File::from_std(file).take(len);
    Body::from_stream(futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok::<_, std::io::Error>(buf.freeze()), reader)),
            Err(e) => Some((Err(e), reader)),
        }
    }))
}

/// A thumbnail, tagged by its bytes' hash: it is made once, at upload.
pub async fn thumbnail(
    State(app): State<App>,
    auth: Auth,
    Path(file): Path<String>,
    request: HeaderMap,
) -> ApiResult<Response> {
    let png = app.file_thumbnail(auth.caller, id(&file)?)?;
    let tag = confab_store::blobs::hex(&Sha256::digest(&png).into());
    Ok(png_response(&request, &tag, png))
}

/// A PNG the server made (a thumbnail, a picture) with the file headers and `tag` as
/// its entity tag: `304` when the request already has it.
fn png_response(request: &HeaderMap, tag: &str, png: Vec<u8>) -> Response {
    let etag = header_value(&format!("\"{tag}\""));
    if matches_none_of(request, &etag) {
        return not_modified(etag);
    }
    let mut headers = file_headers(etag);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    (headers, png).into_response()
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

/// `PUT /me/avatar`: the image as the whole body (`curl --data-binary @me.jpg`), at
/// most `confab_app::profile::AVATAR_MAX_BYTES`; the account as it is now.
pub async fn set_avatar(
    State(app): State<App>,
    auth: Auth,
    request: axum::extract::Request,
) -> ApiResult<Json<confab_core::User>> {
    let max = confab_app::profile::AVATAR_MAX_BYTES;
    // The write rate before the body: a refused caller costs no 5 MiB read.
    app.check_avatar_rate(auth.caller)?;
    // One byte past the limit is enough to know it is too large.
    let image = axum::body::to_bytes(request.into_body(), max + 1).await.map_err(|_| {
        ApiError::new(ErrorCode::PayloadTooLarge, format!("a picture may have at most {max} bytes"))
    })?;
    Ok(Json(app.set_avatar(auth.caller, image.to_vec()).await?))
}

/// `DELETE /me/avatar`: the account without its picture.
pub async fn remove_avatar(State(app): State<App>, auth: Auth) -> ApiResult<Json<confab_core::User>> {
    Ok(Json(app.remove_avatar(auth.caller).await?))
}

/// `GET /users/{id}/avatar`: a member's picture (a PNG the server made), tagged by its
/// version, for whoever shares a workspace with them.
pub async fn avatar(
    State(app): State<App>,
    auth: Auth,
    Path(user): Path<String>,
    request: HeaderMap,
) -> ApiResult<Response> {
    let (png, version) = app.avatar(auth.caller, id(&user)?)?;
    Ok(png_response(&request, &version, png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(percent_encode("a b\"é.txt"), "a%20b%22%C3%A9.txt");
    }

    fn request(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn one_range_is_served_and_anything_else_is_the_whole_file() {
        let etag = HeaderValue::from_static("\"abc\"");
        let range = |pairs: &[(header::HeaderName, &str)]| requested_range(&request(pairs), &etag, 1000);
        let asked = |value: &str| range(&[(header::RANGE, value)]);
        assert_eq!(range(&[]), Requested::Whole);
        assert_eq!(asked("bytes=0-99"), Requested::Part(0..=99));
        assert_eq!(asked("bytes=990-"), Requested::Part(990..=999));
        assert_eq!(asked("bytes=-10"), Requested::Part(990..=999));
        assert_eq!(asked("bytes=-5000"), Requested::Part(0..=999), "a longer suffix is the whole file");
        assert_eq!(asked("bytes=900-5000"), Requested::Part(900..=999), "the end is clipped");
        assert_eq!(asked("bytes=1000-"), Requested::Unsatisfiable);
        assert_eq!(asked("bytes=5000-6000"), Requested::Unsatisfiable);
        for ignored in ["bytes=0-1,5-6", "bytes=abc", "items=0-1", "bytes=5-1"] {
            assert_eq!(asked(ignored), Requested::Whole, "{ignored}");
        }
        let current = [(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"abc\"")];
        assert_eq!(range(&current), Requested::Part(0..=9));
        let stale = [(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"old\"")];
        assert_eq!(range(&stale), Requested::Whole, "a changed entity is sent whole");
    }

    #[test]
    fn if_none_match_compares_entity_tags() {
        let etag = HeaderValue::from_static("\"abc\"");
        let current = |value: &str| matches_none_of(&request(&[(header::IF_NONE_MATCH, value)]), &etag);
        assert!(current("\"abc\""));
        assert!(current("\"x\", W/\"abc\""));
        assert!(current("*"));
        assert!(!current("\"abcd\""));
        assert!(!current("abc"));
        assert!(!matches_none_of(&HeaderMap::new(), &etag));
    }
}
