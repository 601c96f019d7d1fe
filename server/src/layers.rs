//! The middleware every request goes through, in one place: body size limit,
//! timeout, panic catching (answered with the API's `internal` error), request
//! tracing and the request latency histogram.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use confab_core::Error;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::ApiError;

pub fn apply(router: Router, config: &Config) -> Router {
    router
        .layer(middleware::from_fn(record_latency))
        .layer(DefaultBodyLimit::max(config.app.limits.max_body_bytes))
        .layer(middleware::from_fn(timeouts(config)))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!("a request handler panicked");
            ApiError::from(Error::internal()).into_response()
        }))
        .layer(TraceLayer::new_for_http())
}

/// A request gets `server.request_timeout_secs` to be answered (408 past it), and an
/// upload (`POST /api/v1/channels/{ch}/files`, whose body is read before the answer)
/// gets `files.upload_timeout_secs`.
fn timeouts(
    config: &Config,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> + Clone + use<>
{
    let normal = Duration::from_secs(config.server.request_timeout_secs.max(1));
    let upload = Duration::from_secs(config.app.files.upload_timeout_secs.max(1));
    move |request: Request, next: Next| {
        let path = request.uri().path();
        let is_upload = request.method() == axum::http::Method::POST
            && path.starts_with("/api/v1/channels/")
            && path.ends_with("/files");
        let limit = if is_upload { upload } else { normal };
        Box::pin(async move {
            match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_) => axum::http::StatusCode::REQUEST_TIMEOUT.into_response(),
            }
        })
    }
}

async fn record_latency(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("confab_http_request_seconds", "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
