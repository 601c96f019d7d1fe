//! Turning app errors into HTTP answers: the status of the error code and the JSON
//! body `{"error": {"code", "message"}}`, plus `Retry-After` when throttled. This is
//! where the cause of a server failure is logged, once ([`confab_app::AppError::log`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_app::AppError;
use confab_core::{Error, ErrorCode};
use confab_protocol::http::ErrorBody;

/// An error on its way to the client, with its cause.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(AppError::Client(e))
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(AppError::Client(Error::new(code, message)))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let error = self.0.to_client();
        let status =
            StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = error.retry_after;
        let mut response = (status, Json(ErrorBody::new(error))).into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
