use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::{Envelope, is_valid_request_id};

/// Initial capacity of a response body buffer.
const RESPONSE_BUFFER: usize = 512;
/// Room for the headers a production stack adds on the way out (request id, security
/// headers, cache status, `Vary`, rate limit, `Content-Length`): sized once here, the map
/// does not have to grow and rehash in a middleware layer.
const RESPONSE_HEADERS: usize = 12;

/// Serializes `body` as a JSON response with `status`.
///
/// If serialization fails (a `Serialize` impl returned an error, or a map has
/// non-string keys), the response is a 500 `INTERNAL_ERROR` envelope instead:
/// never a panic, never a half-written body.
///
/// ```
/// use keel_envelope::{Envelope, axum::json_response};
/// use http::StatusCode;
/// let res = json_response(StatusCode::CREATED, &Envelope::new(1));
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// ```
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    // serde_json::to_vec starts at 128 bytes; typical envelopes are a few hundred, and
    // each doubling copies the body, so start where most responses end.
    let mut bytes = Vec::with_capacity(RESPONSE_BUFFER);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => {
            let mut res = Response::new(axum_core::body::Body::from(Bytes::from(bytes)));
            *res.status_mut() = status;
            *res.headers_mut() = HeaderMap::with_capacity(RESPONSE_HEADERS);
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err(_) => {
            // A constant body: the failed value may hold anything, so none of it is echoed.
            let mut res = Response::new(axum_core::body::Body::from(
                r#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#,
            ));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
    }
}

/// The request id from `X-Request-Id`, if present and sane (see [`is_valid_request_id`]).
///
/// ```
/// use keel_envelope::axum::request_id_from_headers;
/// let mut h = http::HeaderMap::new();
/// h.insert("x-request-id", "abc".parse().unwrap());
/// assert_eq!(request_id_from_headers(&h), Some("abc"));
/// h.insert("x-request-id", "a b".parse().unwrap());
/// assert_eq!(request_id_from_headers(&h), None);
/// ```
pub fn request_id_from_headers(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_valid_request_id(id))
}

/// `200 OK` with the envelope as `application/json`. Pair it with a status code
/// in a tuple for anything else: `(StatusCode::CREATED, envelope)`.
impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self)
    }
}
