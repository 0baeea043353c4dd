//! The edge of a stack in one layer: sensitive-header marking, the request id and the
//! security headers.
//!
//! [`EdgeLayer`] does what [`SetRequestIdLayer`](crate::request_id::SetRequestIdLayer),
//! [`SetSecurityHeadersLayer`](crate::security_headers::SetSecurityHeadersLayer) and
//! tower-http's `SetSensitiveHeadersLayer` do, with one service and one response future
//! instead of three (or eight, with one `SetResponseHeaderLayer` per security header).
//! Put it **outermost**, so that every response — errors, 429s, panics turned into 500s,
//! CORS preflights — carries the id and the headers, and so that no layer inside can log
//! a credential before it is marked sensitive.
//!
//! On the request: `Authorization`, `Cookie` and `Proxy-Authorization` are marked
//! sensitive (`Debug` of the header map prints `Sensitive`), and `X-Request-Id` is kept,
//! replaced or generated ([`ensure_request_id`]). On the response: the id is echoed
//! (unless the inner service set one), the security headers are added where absent, and
//! `Set-Cookie` is marked sensitive.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::Request;
//! use keel_http::{EdgeLayer, SecurityHeaders};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "ok" }))
//!     .layer(EdgeLayer::new(SecurityHeaders::api()));
//!
//! let res = app.oneshot(Request::get("/nowhere").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 404);
//! assert_eq!(res.headers()["x-frame-options"], "DENY");
//! assert_eq!(res.headers()["x-request-id"].len(), 36);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::{self, Entry};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::request_id::{X_REQUEST_ID, ensure_request_id};
use crate::security_headers::SecurityHeaders;

/// Request headers that carry credentials.
const SENSITIVE_REQUEST_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// Marks every value of `name` in `headers` sensitive.
pub fn mark_sensitive(headers: &mut HeaderMap, name: HeaderName) {
    if let Entry::Occupied(mut e) = headers.entry(name) {
        for v in e.iter_mut() {
            v.set_sensitive(true);
        }
    }
}

/// Layer of [`Edge`].
#[derive(Debug, Clone, Default)]
pub struct EdgeLayer {
    headers: SecurityHeaders,
}

impl EdgeLayer {
    /// Sensitive-header marking, request ids, and `headers` on every response.
    pub const fn new(headers: SecurityHeaders) -> Self {
        Self { headers }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge::new(inner, self.headers.clone())
    }
}

/// Marks credentials sensitive, sets the request id and adds the security headers; see
/// the [module docs](self).
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    headers: SecurityHeaders,
}

impl<S> Edge<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S, headers: SecurityHeaders) -> Self {
        Self { inner, headers }
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for Edge<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        // One pass over the request's few headers: three lookups by name would hash
        // each name and may grow the map (`entry` reserves room first).
        for (name, value) in headers.iter_mut() {
            if SENSITIVE_REQUEST_HEADERS.contains(name) {
                value.set_sensitive(true);
            }
        }
        let id = ensure_request_id(headers);
        ResponseFuture {
            inner: self.inner.call(req),
            id: Some(id),
            headers: self.headers.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`Edge`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
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
        let headers = res.headers_mut();
        headers.reserve(this.headers.len() + 1);
        if let Some(id) = this.id.take() {
            headers.entry(X_REQUEST_ID).or_insert(id);
        }
        this.headers.apply(headers);
        if headers.contains_key(header::SET_COOKIE) {
            mark_sensitive(headers, header::SET_COOKIE);
        }
        Poll::Ready(Ok(res))
    }
}
