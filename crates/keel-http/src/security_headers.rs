//! Security headers on every response: a prebuilt [`SecurityHeaders`] set, inserted in
//! one pass where the response does not already carry the header.
//!
//! The defaults ([`DEFAULTS`]) are the headers OWASP's REST Security Cheat Sheet asks of
//! **every API response**: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
//! a `Content-Security-Policy` that lets a response load nothing and be framed by nobody
//! ([`API_CSP`]). The headers that only matter once a browser renders a response as a
//! document (`Referrer-Policy`, `Permissions-Policy`, the HTML directives of a CSP) are in
//! [`SecurityHeaders::html`], for the few routes that serve HTML: on a JSON body they do
//! nothing but add ~200 bytes to every response. `Strict-Transport-Security` is opt-in
//! ([`SecurityHeaders::with_hsts`]): it is only right once every client reaches the
//! service over HTTPS.
//!
//! A handler that needs another value (an HTML page with its own CSP) sets the header
//! itself; the layer never overrides one that is present.
//!
//! tower-http has no security-headers module: the usual alternative is one
//! `SetResponseHeaderLayer::if_not_present` per header, each with its own service,
//! future and lookup. [`SetSecurityHeadersLayer`] is one layer for the set;
//! [`EdgeLayer`](crate::EdgeLayer) adds the request id and sensitive-header marking in the
//! same future.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::Request;
//! use keel_http::security_headers::{SecurityHeaders, SetSecurityHeadersLayer};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "ok" }))
//!     .layer(SetSecurityHeadersLayer::new(SecurityHeaders::api().with_hsts()));
//!
//! let res = app.oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.headers()["x-content-type-options"], "nosniff");
//! assert_eq!(res.headers()["strict-transport-security"], "max-age=63072000; includeSubDomains");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::{self, Entry};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// `Content-Security-Policy` of API responses: JSON never needs to load anything
/// (`default-src 'none'`) and is never framed (`frame-ancestors 'none'`, OWASP's
/// anti-clickjacking directive for APIs). The document-only directives (`base-uri`,
/// `form-action`) are in [`HTML_CSP`].
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// `Content-Security-Policy` of [`SecurityHeaders::html`]: [`API_CSP`] plus the directives
/// that do not fall back to `default-src` and only matter in a rendered document.
pub const HTML_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `Strict-Transport-Security` of [`SecurityHeaders::with_hsts`]: two years, subdomains
/// included (the value the HSTS preload list asks for, without `preload`).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// The headers of [`SecurityHeaders::api`] (name, value): what OWASP's REST Security
/// Cheat Sheet lists for every API response (`Content-Type`, `Cache-Control` and HSTS
/// aside, which depend on the response and the deployment).
pub const DEFAULTS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", API_CSP),
];

/// The headers of [`SecurityHeaders::html`] (name, value): for responses a browser
/// renders as a document (an HTML page, API docs). A page that loads its own scripts
/// replaces the CSP with [`SecurityHeaders::with`].
pub const HTML_DEFAULTS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), payment=(), usb=()",
    ),
    ("content-security-policy", HTML_CSP),
];

/// A set of response headers, built once and shared by every response (cloning the set
/// is a reference-count increment; inserting a static value does not allocate).
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// use keel_http::security_headers::SecurityHeaders;
///
/// let set = SecurityHeaders::api()
///     .with(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"))
///     .without(&header::CONTENT_SECURITY_POLICY);
/// let mut headers = HeaderMap::new();
/// set.apply(&mut headers);
/// assert_eq!(headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
/// assert!(!headers.contains_key(header::CONTENT_SECURITY_POLICY));
/// ```
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self::api()
    }
}

impl SecurityHeaders {
    /// The [`DEFAULTS`] for a JSON API.
    pub fn api() -> Self {
        Self::from_static(&DEFAULTS)
    }

    /// The [`HTML_DEFAULTS`] for responses rendered as a document (HTML pages).
    ///
    /// ```
    /// use keel_http::security_headers::SecurityHeaders;
    /// assert_eq!(SecurityHeaders::html().len(), 5);
    /// ```
    pub fn html() -> Self {
        Self::from_static(&HTML_DEFAULTS)
    }

    fn from_static(set: &[(&'static str, &'static str)]) -> Self {
        set.iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect::<Vec<_>>()
            .into()
    }

    /// An empty set.
    pub fn none() -> Self {
        Vec::new().into()
    }

    /// Adds `Strict-Transport-Security: ` [`HSTS`].
    #[must_use]
    pub fn with_hsts(self) -> Self {
        self.with(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        )
    }

    /// Sets `name` to `value`, replacing the set's value if it has one.
    #[must_use]
    pub fn with(self, name: HeaderName, value: HeaderValue) -> Self {
        let mut v: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| *n != name)
            .cloned()
            .collect();
        v.push((name, value));
        v.into()
    }

    /// Removes `name` from the set.
    #[must_use]
    pub fn without(self, name: &HeaderName) -> Self {
        self.headers
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect::<Vec<_>>()
            .into()
    }

    /// The headers of the set, in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(n, v)| (n, v))
    }

    /// The number of headers in the set.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Inserts every header of the set that `headers` does not already have.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.reserve(self.headers.len());
        for (name, value) in self.headers.iter() {
            if let Entry::Vacant(e) = headers.entry(name) {
                e.insert(value.clone());
            }
        }
    }
}

impl From<Vec<(HeaderName, HeaderValue)>> for SecurityHeaders {
    fn from(headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        Self {
            headers: headers.into(),
        }
    }
}

/// Layer of [`SetSecurityHeaders`].
#[derive(Debug, Clone, Default)]
pub struct SetSecurityHeadersLayer {
    headers: SecurityHeaders,
}

impl SetSecurityHeadersLayer {
    /// Adds `headers` to every response.
    pub const fn new(headers: SecurityHeaders) -> Self {
        Self { headers }
    }
}

impl<S> Layer<S> for SetSecurityHeadersLayer {
    type Service = SetSecurityHeaders<S>;

    fn layer(&self, inner: S) -> SetSecurityHeaders<S> {
        SetSecurityHeaders::new(inner, self.headers.clone())
    }
}

/// Adds a [`SecurityHeaders`] set to every response of the inner service.
#[derive(Debug, Clone)]
pub struct SetSecurityHeaders<S> {
    inner: S,
    headers: SecurityHeaders,
}

impl<S> SetSecurityHeaders<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S, headers: SecurityHeaders) -> Self {
        Self { inner, headers }
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for SetSecurityHeaders<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            headers: self.headers.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`SetSecurityHeaders`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        headers: SecurityHeaders,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        this.headers.apply(res.headers_mut());
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_headers_are_kept_and_absent_ones_added() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        SecurityHeaders::api().apply(&mut h);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "default-src 'self'");
        for (name, value) in &DEFAULTS[..2] {
            assert_eq!(h[*name], *value);
        }
        assert!(!h.contains_key(header::REFERRER_POLICY));
        assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }

    #[test]
    fn with_replaces_and_without_removes() {
        let set = SecurityHeaders::api()
            .with_hsts()
            .with_hsts()
            .without(&header::X_FRAME_OPTIONS);
        assert_eq!(set.len(), DEFAULTS.len());
        let html = SecurityHeaders::html();
        assert!(html.iter().any(|(n, _)| n == "permissions-policy"));
        assert!(
            html.iter()
                .any(|(n, v)| n == header::CONTENT_SECURITY_POLICY && v == HTML_CSP)
        );
        assert!(set.iter().all(|(n, _)| n != header::X_FRAME_OPTIONS));
        assert!(SecurityHeaders::none().is_empty());
    }
}
