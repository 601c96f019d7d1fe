//! Request extractors that answer bad input with the API's JSON errors instead of
//! axum's plain-text rejections: the bearer-token [`Auth`], JSON bodies, query
//! strings and ids in paths; and the client's address, [`ClientAddr`].

use std::str::FromStr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use confab_app::{App, Caller};
use confab_core::{Error, ErrorCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The authenticated caller, from `Authorization: Bearer <token>`.
pub struct Auth {
    pub caller: Caller,
    pub token: String,
}

impl FromRequestParts<App> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "send Authorization: Bearer <token>"))?;
        let caller = app.authenticate(token)?;
        Ok(Auth { caller, token: token.to_string() })
    }
}

/// A JSON body; malformed, mistyped or oversized bodies get `invalid_request` or
/// `payload_too_large`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::BytesRejection(r) if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::InvalidRequest,
            "send the body as JSON with Content-Type: application/json",
        ),
        other => ApiError::new(ErrorCode::InvalidRequest, other.body_text()),
    }
}

/// A query string.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, rejection.body_text())
}

/// Parses an id from a path segment with the id type's own error.
pub fn id<T: FromStr<Err = Error>>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(ApiError::from)
}

/// A JSON body that may be absent (an empty body means the defaults).
pub struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalBody)
            .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("invalid JSON body: {e}")))
    }
}

/// Path parameters, answering malformed ones with `invalid_request`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))
    }
}

/// The peers whose `X-Forwarded-For` is believed (`server.trusted_proxies`), as a
/// request extension set by the router.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub std::sync::Arc<Vec<ipnet::IpNet>>);

impl TrustedProxies {
    fn trusts(&self, addr: std::net::IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address: the TCP peer, or — only when the peer is a trusted proxy
    /// — the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client(&self, peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(addr) = hop.parse::<std::net::IpAddr>() else { break };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        client
    }
}

/// The client's IP address, for throttling log-ins and sign-ups.
pub struct ClientAddr(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::from(Error::internal()))?;
        let proxies = parts.extensions.get::<TrustedProxies>().cloned().unwrap_or_default();
        Ok(ClientAddr(proxies.client(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies(std::sync::Arc::new(vec!["10.0.0.0/8".parse().unwrap()]));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        // Through the proxies: the right-most untrusted hop (1.2.3.4 could be forged).
        assert_eq!(proxies.client(proxy, &headers), "203.0.113.7".parse::<std::net::IpAddr>().unwrap());
        // From anyone else the header is ignored.
        assert_eq!(proxies.client(stranger, &headers), stranger);
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(proxies.client(proxy, &headers), proxy);
    }
}
