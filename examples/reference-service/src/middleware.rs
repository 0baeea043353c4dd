//! The middleware stack: one `ServiceBuilder`, outermost layer first.
//!
//! | # | layer | why here |
//! |---|---|---|
//! | 1 | edge ([`EdgeLayer`]) | marks `Authorization`, `Cookie`, `Proxy-Authorization`, `Set-Cookie` sensitive before anything can log them; replaces an insane incoming `X-Request-Id`, generates one when absent, echoes it; adds the security headers outside everything else, so **every** response has them (errors, 429s, panics, CORS preflights) |
//! | 2 | compression | outside the error renderer, so rewritten error bodies are never mislabelled as gzip |
//! | 3 | access log + metrics ([`HttpTelemetryLayer`](crate::telemetry::HttpTelemetryLayer)) | a request span for the handler's events, one access log line per request (method, matched route, status, latency, request id), request counter and latency histogram by matched route |
//! | 4 | CORS | answers preflights before rate limits and handlers; absent when no origin is configured |
//! | 5 | keel-errors `RenderErrorsLayer` | request id in every error body; bodiless errors from the layers below become envelopes |
//! | 6 | global rate limit | per client IP (keel-ratelimit), optional |
//! | 7 | catch panic | a panicking handler becomes a 500 envelope; the process keeps serving |
//! | 8 | timeout | a handler over the limit becomes a 504 envelope |
//! | 9 | body limit | 64 KiB; larger bodies are a 413 envelope |
//!
//! Each layer is applied once for the whole stack (one boxed service per route, not one
//! per layer); what each costs per request is measured by `cargo bench -p keel-benches
//! --bench http_stack` (see docs/benchmarks.md).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use keel_errors::ApiError;
use keel_errors::axum::RenderErrorsLayer;
use tower::util::MapResponseLayer;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `Content-Security-Policy` of API responses: JSON never needs to load anything.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `Content-Security-Policy` of the `/docs` UI: Swagger UI's own scripts and styles
/// (served from this process, so `'self'`), its inline styles and data: images.
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The security headers every response carries (name, value), HSTS excluded.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), payment=(), usb=()",
    ),
    ("content-security-policy", API_CSP),
];

/// `Strict-Transport-Security` when `KEEL_HSTS=true` (two years, subdomains).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// `X-Request-Id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a client's request id may be kept: 1 to 128 bytes of visible ASCII.
pub fn is_valid_request_id_value(v: &HeaderValue) -> bool {
    v.to_str().is_ok_and(keel_envelope::is_valid_request_id)
}

/// A generated request id: a UUID (version 8, RFC 9562) made of a per-process random
/// prefix and a per-request counter passed through a bijective mixer, so ids are unique
/// within the process, unique across processes with overwhelming probability, look
/// random (they do not reveal the request count), and cost neither a system call nor a
/// random number per request.
#[derive(Debug, Clone, Copy)]
pub struct RequestId {
    buf: [u8; uuid::fmt::Hyphenated::LENGTH],
}

impl RequestId {
    /// The next id of this process.
    pub fn generate() -> Self {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static PREFIX: OnceLock<(u64, u64)> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (prefix, key) = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mixed = mix64(n ^ key);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&mixed.to_be_bytes());
        let id = uuid::Builder::from_custom_bytes(bytes).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut buf);
        Self { buf }
    }

    /// The id as text (36 characters of lowercase hex and hyphens).
    pub fn as_str(&self) -> &str {
        // Always ASCII: written by `encode_lower`.
        std::str::from_utf8(&self.buf).unwrap_or("00000000-0000-8000-8000-000000000000")
    }

    /// The id as a header value.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.buf)
            .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-8000-8000-000000000000"))
    }
}

/// SplitMix64's finalizer: a bijection on `u64`, so distinct counters give distinct ids.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// By value: CatchPanicLayer's handler signature.
#[allow(clippy::needless_pass_by_value)]
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    ApiError::internal(std::io::Error::other(format!("handler panicked: {detail}"))).into_response()
}

fn cors(origins: &[HeaderValue]) -> CorsLayer {
    if origins.is_empty() {
        // No origins configured: no CORS headers at all (same-origin only).
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
            HeaderName::from_static("x-cache"),
            header::LOCATION,
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

/// What the stack needs from the configuration (and the global limit), so it can be
/// built without a running service (the per-layer benchmark does).
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Allowed CORS origins (none: no CORS headers).
    pub cors_origins: Vec<HeaderValue>,
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
    /// Handler timeout (504 after it).
    pub request_timeout: Duration,
    /// The global per-IP limit, if on.
    pub global_limit: Option<keel_ratelimit::axum::RateLimitLayer>,
}

impl StackOptions {
    /// The options of a running service.
    pub fn from_state(state: &AppState) -> Self {
        let config = state.config();
        Self {
            cors_origins: config.cors_origins.clone(),
            hsts: config.hsts,
            request_timeout: config.request_timeout,
            global_limit: state.global_rate_limit_layer(),
        }
    }
}

/// The layers of the stack, outermost first (names for the per-layer benchmark).
pub const LAYERS: [&str; 9] = [
    "edge: sensitive headers, request id, security headers",
    "compression",
    "access log + metrics",
    "CORS",
    "error layer",
    "rate limit",
    "catch-panic",
    "timeout",
    "body limit",
];

/// Wraps `router` (routes already attached to `state`) in the middleware stack.
pub fn apply_middleware(router: Router, state: &AppState) -> Router {
    apply_layers(router, &StackOptions::from_state(state), LAYERS.len())
}

/// Wraps `router` in the outermost `upto` layers of [`LAYERS`] (all of them in the
/// service; fewer in the per-layer benchmark). One `ServiceBuilder`, so one boxed
/// service per route whatever the number of layers.
pub fn apply_layers(router: Router, opts: &StackOptions, upto: usize) -> Router {
    let on = |i: usize| i < upto;
    let limit = opts.global_limit.clone().filter(|_| on(5));
    let cors = (on(3) && !opts.cors_origins.is_empty()).then(|| cors(&opts.cors_origins));
    let stack = ServiceBuilder::new()
        .option_layer(on(0).then(|| EdgeLayer::new(opts.hsts)))
        .option_layer(on(1).then(|| {
            // Back to axum's body type so the stack has one response type with or
            // without the layer (axum would box the body at the end anyway).
            ServiceBuilder::new()
                .layer(MapResponseLayer::new(|res: http::Response<_>| {
                    res.map(axum::body::Body::new)
                }))
                .layer(CompressionLayer::new())
        }))
        .option_layer(on(2).then(crate::telemetry::HttpTelemetryLayer::new))
        // No origin configured: no CORS layer at all (same-origin only, no `Vary` noise).
        .option_layer(cors)
        .option_layer(on(4).then(RenderErrorsLayer::new))
        .option_layer(limit)
        // catch-panic boxes the body; the rate limiter and the error renderer work on axum's body type.
        .option_layer(on(6).then(|| {
            ServiceBuilder::new()
                .layer(MapResponseLayer::new(|res: http::Response<_>| {
                    res.map(axum::body::Body::new)
                }))
                .layer(CatchPanicLayer::custom(panic_response))
        }))
        .option_layer(on(7).then(|| {
            TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, opts.request_timeout)
        }))
        .option_layer(on(8).then(|| DefaultBodyLimit::max(BODY_LIMIT)));
    router.layer(stack)
}

/// The edge of the stack in one layer: sensitive-header marking, request id (validate,
/// generate, echo) and the security headers, prebuilt once (what would otherwise be
/// eight tower-http layers, each with its own future and header lookups).
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl EdgeLayer {
    /// The security headers of [`SECURITY_HEADERS`], plus HSTS when `hsts`.
    pub fn new(hsts: bool) -> Self {
        let mut headers: Vec<(HeaderName, HeaderValue)> = SECURITY_HEADERS
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect();
        if hsts {
            headers.push((
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            ));
        }
        Self {
            headers: headers.into(),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            headers: Arc::clone(&self.headers),
        }
    }
}

/// The service of [`EdgeLayer`].
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

const SENSITIVE_REQUEST_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

fn mark_sensitive(headers: &mut HeaderMap, name: HeaderName) {
    if let Entry::Occupied(mut e) = headers.entry(name) {
        for v in e.iter_mut() {
            v.set_sensitive(true);
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for Edge<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        for name in SENSITIVE_REQUEST_HEADERS {
            mark_sensitive(headers, name);
        }
        let id = match headers.get(X_REQUEST_ID) {
            Some(v) if is_valid_request_id_value(v) => v.clone(),
            _ => {
                let v = RequestId::generate().to_header_value();
                headers.insert(X_REQUEST_ID, v.clone());
                v
            }
        };
        EdgeFuture {
            inner: self.inner.call(req),
            id: Some(id),
            headers: Arc::clone(&self.headers),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`Edge`].
    #[derive(Debug)]
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
        headers: Arc<[(HeaderName, HeaderValue)]>,
    }
}

impl<F, ResBody, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = std::task::ready!(this.inner.poll(cx))?;
        let headers = res.headers_mut();
        headers.reserve(this.headers.len() + 1);
        if let Some(id) = this.id.take() {
            headers.entry(X_REQUEST_ID).or_insert(id);
        }
        for (name, value) in this.headers.iter() {
            if let Entry::Vacant(e) = headers.entry(name) {
                e.insert(value.clone());
            }
        }
        mark_sensitive(headers, header::SET_COOKIE);
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_unique_uuids() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = RequestId::generate();
            let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap_or_default();
            assert_eq!(parsed.get_version_num(), 8, "{}", id.as_str());
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
            assert!(keel_envelope::is_valid_request_id(id.as_str()));
            assert_eq!(id.to_header_value(), id.as_str());
            assert!(seen.insert(id.as_str().to_owned()));
        }
    }

    #[test]
    fn client_request_ids_are_kept_only_when_sane() {
        fn check(raw: &[u8], keep: bool) {
            let v = HeaderValue::from_bytes(raw).unwrap_or_else(|_| HeaderValue::from_static("-"));
            assert_eq!(is_valid_request_id_value(&v), keep, "{raw:?}");
        }
        check(b"abc-123", true);
        check(&[b'a'; 128], true);
        check(&[b'a'; 129], false);
        check(b"\xff\xfe", false);
        check("caf\u{e9}".as_bytes(), false);
        check(b"two words", false);
        check(b"tab\there", false);
    }
}
