use std::cell::Cell;

use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::{Envelope, is_valid_request_id};

/// Initial capacity of a thread's serialization buffer.
const RESPONSE_BUFFER: usize = 512;
/// The largest serialization buffer a thread keeps between responses. A larger body's
/// buffer becomes the body itself (no copy) and the thread starts afresh.
const MAX_RETAINED_BUFFER: usize = 16 * 1024;
/// Room for the headers a production stack adds on the way out (request id, security
/// headers and HSTS, `Cache-Control`, cache status, `Vary`, the five rate-limit headers,
/// CORS): sized once here, the map does not have to grow and rehash in a middleware
/// layer. (`http` rounds a capacity up to its own sizes: 13 to 24 all allocate room for
/// 24 headers, the size the rate-limit headers need over the 12 this was before.)
const RESPONSE_HEADERS: usize = 24;

thread_local! {
    /// Each thread serializes into one reused buffer and copies the result into an
    /// allocation of the exact size: one allocation per response, where a fresh `Vec`
    /// costs one, a second for `Bytes`' shared header (its length is not its capacity),
    /// and a reallocation per doubling for bodies over the initial capacity.
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// `body` as JSON bytes, or serde_json's error.
fn to_bytes<T: Serialize + ?Sized>(body: &T) -> Result<Bytes, serde_json::Error> {
    // Taken, not borrowed: a `Serialize` impl that itself builds a response gets an empty
    // buffer instead of a panic; during thread teardown there is no buffer to reuse.
    let mut buf = BUFFER.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    buf.reserve(RESPONSE_BUFFER);
    let written = serde_json::to_writer(&mut buf, body);
    if written.is_ok() && buf.capacity() > MAX_RETAINED_BUFFER {
        return Ok(Bytes::from(buf));
    }
    let bytes = written.map(|()| Bytes::copy_from_slice(&buf));
    if buf.capacity() <= MAX_RETAINED_BUFFER {
        buf.clear();
        // Nothing to keep it in during thread teardown: then it is dropped.
        let _ = BUFFER.try_with(|cell| cell.set(buf));
    }
    bytes
}

/// Serializes `body` as a JSON response with `status`.
///
/// If serialization fails (a `Serialize` impl returned an error, or a map has
/// non-string keys), the response is a 500 `INTERNAL_ERROR` envelope instead:
/// never a panic, never a half-written body.
///
/// The body is serialized into a per-thread buffer (kept between responses up to
/// 16 KiB) and copied into an allocation of its exact size.
///
/// ```
/// use keel_envelope::{Envelope, axum::json_response};
/// use http::StatusCode;
/// let res = json_response(StatusCode::CREATED, &Envelope::new(1));
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// ```
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match to_bytes(body) {
        Ok(bytes) => {
            let mut res = Response::new(axum_core::body::Body::from(bytes));
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use serde::ser::{Error as _, SerializeMap, Serializer};

    use super::*;

    /// The body `json_response` answers for `value`, checked against `serde_json::to_vec`.
    #[track_caller]
    fn check<T: Serialize>(value: &T) -> Bytes {
        let res = json_response(StatusCode::OK, value);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_of(res);
        assert_eq!(body, serde_json::to_vec(value).unwrap());
        body
    }

    fn body_of(res: Response) -> Bytes {
        let collect = http_body_util::BodyExt::collect(res.into_body());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(collect).unwrap().to_bytes()
    }

    fn retained() -> usize {
        BUFFER.with(|b| {
            let buf = b.take();
            let cap = buf.capacity();
            b.set(buf);
            cap
        })
    }

    struct Fails;

    impl Serialize for Fails {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            // Part of a body written (past the initial capacity) before the error.
            let mut map = s.serialize_map(None)?;
            map.serialize_entry("partial", &"x".repeat(600))?;
            Err(S::Error::custom("boom"))
        }
    }

    /// Builds a response of its own while being serialized.
    struct Nested;

    impl Serialize for Nested {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = json_response(StatusCode::OK, &Envelope::new("inner"));
            let inner = body_of(inner);
            s.serialize_str(std::str::from_utf8(&inner).unwrap())
        }
    }

    #[test]
    fn bodies_are_serde_json_bytes_whatever_came_before_on_the_thread() {
        let long = "a".repeat(5_000);
        check(&Envelope::new(&long));
        // A short body after a long one: nothing of the earlier body survives.
        let short = check(&Envelope::new(1));
        assert_eq!(&short[..], br#"{"success":true,"data":1}"#);
        check(&Envelope::new(BTreeMap::from([("k", "v\"\n")])));
        check(&Envelope::new(Nested));
        check(&Envelope::new(()));
    }

    #[test]
    fn the_thread_keeps_a_bounded_buffer() {
        check(&Envelope::new(7));
        let small = retained();
        assert!(
            (RESPONSE_BUFFER..=MAX_RETAINED_BUFFER).contains(&small),
            "{small}"
        );
        // A body over the bound becomes the response itself; the thread keeps nothing big.
        let big = "b".repeat(3 * MAX_RETAINED_BUFFER);
        check(&Envelope::new(&big));
        assert!(retained() <= MAX_RETAINED_BUFFER, "{}", retained());
        // Between the two: reused, within the bound.
        // (`Vec` grows to at most twice what a write needs.)
        let mid = "m".repeat(MAX_RETAINED_BUFFER / 4);
        check(&Envelope::new(&mid));
        check(&Envelope::new(&mid));
        let cap = retained();
        assert!((mid.len()..=MAX_RETAINED_BUFFER).contains(&cap), "{cap}");
    }

    #[test]
    fn the_headers_of_a_production_stack_fit_without_growing_the_map() {
        let mut res = json_response(StatusCode::OK, &Envelope::new(1));
        let room = res.headers().capacity();
        let v = HeaderValue::from_static("v");
        let added = [
            "x-cache",
            "cache-control",
            "vary",
            "x-request-id",
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "strict-transport-security",
            "ratelimit-policy",
            "ratelimit",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-expose-headers",
            "content-length",
        ];
        for name in added {
            res.headers_mut().insert(name, v.clone());
        }
        assert_eq!(res.headers().len(), added.len() + 1);
        assert_eq!(res.headers().capacity(), room, "the map grew");
        assert!(room >= RESPONSE_HEADERS, "{room}");
    }

    #[test]
    fn a_failed_serialization_is_the_constant_500_and_leaves_nothing_behind() {
        for _ in 0..2 {
            let res = json_response(StatusCode::OK, &Envelope::new(Fails));
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(
                &body_of(res)[..],
                br#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}"#
            );
            let ok = check(&Envelope::new("after"));
            assert_eq!(&ok[..], br#"{"success":true,"data":"after"}"#);
        }
    }
}
