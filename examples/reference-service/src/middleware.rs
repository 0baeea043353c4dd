//! The middleware stack: one `ServiceBuilder`, outermost layer first.
//!
//! | # | layer | why here |
//! |---|---|---|
//! | 1 | sensitive headers | marks `Authorization`, `Cookie`, `Set-Cookie` sensitive before anything can log them |
//! | 2 | request id | drops an insane incoming `X-Request-Id`, generates one when absent, echoes it in the response |
//! | 3 | security headers | outside everything else, so **every** response has them: errors, 429s, panics, CORS preflights |
//! | 4 | compression | outside the error renderer, so rewritten error bodies are never mislabelled as gzip |
//! | 5 | trace | one log line per request: method, matched route, status, latency, request id |
//! | 6 | metrics | counts and times every request by matched route and status |
//! | 7 | CORS | answers preflights before rate limits and handlers |
//! | 8 | keel-errors `ErrorLayer` | request id in every error body; bodiless errors from the layers below become envelopes |
//! | 9 | global rate limit | per client IP (keel-ratelimit), optional |
//! | 10 | catch panic | a panicking handler becomes a 500 envelope; the process keeps serving |
//! | 11 | timeout | a handler over the limit becomes a 504 envelope |
//! | 12 | body limit | 64 KiB; larger bodies are a 413 envelope |

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use keel_errors::ApiError;
use keel_errors::axum::ErrorLayer;
use tower::ServiceBuilder;
use tower::util::{MapRequestLayer, MapResponseLayer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

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

fn static_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

/// Keeps a client's `X-Request-Id` only when it is short visible ASCII
/// (keel-envelope's rule); otherwise (too long, spaces, control characters, non-ASCII or
/// non-UTF-8 bytes) it is removed so a fresh one is generated.
fn drop_invalid_request_id<B>(mut req: Request<B>) -> Request<B> {
    if let Some(v) = req.headers().get(X_REQUEST_ID)
        && !is_valid_request_id_value(v)
    {
        req.headers_mut().remove(X_REQUEST_ID);
    }
    req
}

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

fn make_span(req: &Request<axum::body::Body>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // Never the URI's query (tokens) nor any header value or body.
    tracing::info_span!("request", method = %req.method(), route, request_id)
}

fn on_response(res: &Response, latency: Duration, _span: &tracing::Span) {
    let status = res.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if res.status().is_server_error() {
        tracing::warn!(status, latency_ms, "request finished");
    } else {
        tracing::info!(status, latency_ms, "request finished");
    }
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
pub const LAYERS: [&str; 12] = [
    "sensitive headers",
    "request id",
    "security headers",
    "compression",
    "trace + access log",
    "metrics",
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
/// service; fewer in the per-layer benchmark).
pub fn apply_layers(router: Router, opts: &StackOptions, upto: usize) -> Router {
    let mut router = router;
    for i in (0..upto.min(LAYERS.len())).rev() {
        router = apply_one(router, opts, i);
    }
    router
}

fn apply_one(router: Router, opts: &StackOptions, layer: usize) -> Router {
    match layer {
        0 => router
            .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ])),
        1 => router
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(MapRequestLayer::new(drop_invalid_request_id)),
        2 => {
            let hsts = opts.hsts.then(|| {
                SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static(HSTS),
                )
            });
            router.layer(
                ServiceBuilder::new()
                    .layer(static_header(SECURITY_HEADERS[0].0, SECURITY_HEADERS[0].1))
                    .layer(static_header(SECURITY_HEADERS[1].0, SECURITY_HEADERS[1].1))
                    .layer(static_header(SECURITY_HEADERS[2].0, SECURITY_HEADERS[2].1))
                    .layer(static_header(SECURITY_HEADERS[3].0, SECURITY_HEADERS[3].1))
                    .layer(static_header(SECURITY_HEADERS[4].0, SECURITY_HEADERS[4].1))
                    .option_layer(hsts),
            )
        }
        3 => router.layer(CompressionLayer::new()),
        4 => router.layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(on_response)
                .on_failure(()),
        ),
        5 => router.layer(axum::middleware::from_fn(
            crate::telemetry::record_http_metrics,
        )),
        6 => router.layer(cors(&opts.cors_origins)),
        7 => router.layer(ErrorLayer::new()),
        8 => match &opts.global_limit {
            Some(limit) => router.layer(limit.clone()),
            None => router,
        },
        // catch-panic boxes the body; the rate limiter and the error renderer work on axum's body type.
        9 => router.layer(
            ServiceBuilder::new()
                .layer(MapResponseLayer::new(|res: http::Response<_>| {
                    res.map(axum::body::Body::new)
                }))
                .layer(CatchPanicLayer::custom(panic_response)),
        ),
        10 => router.layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            opts.request_timeout,
        )),
        _ => router.layer(DefaultBodyLimit::max(BODY_LIMIT)),
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
