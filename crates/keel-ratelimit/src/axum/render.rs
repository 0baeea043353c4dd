//! [`Renderer`]: the body of 429 (and 503) responses.

use std::fmt;

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::{Decision, Error};

/// Renders the response of a rejected request. The layer adds the rate limit headers and
/// `Retry-After` afterwards, so a renderer only chooses the status and body.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use http::request::Parts;
/// use keel_ratelimit::{Decision, Error, axum::Renderer};
///
/// #[derive(Debug)]
/// struct Teapot;
/// impl Renderer for Teapot {
///     fn rate_limited(&self, _: &Decision, _: &Parts) -> Response {
///         (http::StatusCode::TOO_MANY_REQUESTS, "slow down, please").into_response()
///     }
/// }
/// ```
pub trait Renderer: fmt::Debug + Send + Sync + 'static {
    /// The response for a denied request (status 429 expected).
    fn rate_limited(&self, decision: &Decision, request: &Parts) -> Response;

    /// The response when the limiter failed: a cost that can never pass (429 without
    /// `Retry-After`) or an unavailable backend under fail-closed (503). The default
    /// is [`Error::status`] with a short plain-text body that names no internals.
    fn error(&self, error: &Error, request: &Parts) -> Response {
        let _ = request;
        plain(error.status(), public_message(error))
    }
}

pub(crate) fn public_message(error: &Error) -> &'static str {
    match error {
        Error::CostExceedsBurst { .. } => "This request exceeds the rate limit\n",
        e if e.is_retryable() => "Rate limiting is temporarily unavailable\n",
        _ => "Internal server error\n",
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// The default renderer: `429 Too Many Requests` with a plain-text body.
///
/// ```
/// use keel_ratelimit::axum::{PlainTextRenderer, Renderer};
/// # let _ = PlainTextRenderer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTextRenderer;

impl Renderer for PlainTextRenderer {
    fn rate_limited(&self, _: &Decision, _: &Parts) -> Response {
        plain(StatusCode::TOO_MANY_REQUESTS, "Too many requests\n")
    }
}

/// The keel error envelope: `429` with code `RATE_LIMITED` and `details.retry_after`
/// (seconds), the request id when the request carries a sane `x-request-id`.
///
/// ```
/// use keel_ratelimit::axum::{KeyExtractor, RateLimitLayer, EnvelopeRenderer};
/// let limiter = keel_ratelimit::Limiter::memory_from_spec("5/minute")?;
/// let layer = RateLimitLayer::new(limiter, KeyExtractor::peer_ip()).renderer(EnvelopeRenderer);
/// # let _ = layer;
/// # Ok::<(), keel_ratelimit::Error>(())
/// ```
#[cfg(feature = "errors")]
#[cfg_attr(docsrs, doc(cfg(feature = "errors")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvelopeRenderer;

#[cfg(feature = "errors")]
impl EnvelopeRenderer {
    fn render(err: keel_errors::ApiError, request: &Parts) -> Response {
        let err = match keel_envelope::axum::request_id_from_headers(&request.headers) {
            Some(id) => err.with_request_id(id),
            None => err,
        };
        let mut res = keel_envelope::axum::json_response(err.status(), &err.to_envelope());
        // As every keel error response: never cached.
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

#[cfg(feature = "errors")]
impl Renderer for EnvelopeRenderer {
    fn rate_limited(&self, decision: &Decision, request: &Parts) -> Response {
        // The layer adds the rate limit headers afterwards.
        let after = crate::errors::retry_after(decision);
        Self::render(keel_errors::ApiError::rate_limited(after), request)
    }

    fn error(&self, error: &Error, request: &Parts) -> Response {
        Self::render(crate::errors::api_error(error), request)
    }
}
