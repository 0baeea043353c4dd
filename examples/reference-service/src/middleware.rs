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

use crate::config::Config;
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
/// (keel-envelope's rule); otherwise a fresh one is generated.
fn drop_invalid_request_id<B>(mut req: Request<B>) -> Request<B> {
    let sane = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .is_none_or(keel_envelope::is_valid_request_id);
    if !sane {
        req.headers_mut().remove("x-request-id");
    }
    req
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

fn cors(config: &Config) -> CorsLayer {
    if config.cors_origins.is_empty() {
        // No origins configured: no CORS headers at all (same-origin only).
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(config.cors_origins.clone()))
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

/// Wraps `router` (routes already attached to `state`) in the middleware stack.
pub fn apply_middleware(router: Router, state: &AppState) -> Router {
    let config = state.config();
    let sensitive = [
        header::AUTHORIZATION,
        header::COOKIE,
        header::PROXY_AUTHORIZATION,
    ];
    let hsts = config.hsts.then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        )
    });
    let global_limit = state.global_rate_limit_layer();

    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
        .layer(MapRequestLayer::new(drop_invalid_request_id))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(static_header(SECURITY_HEADERS[0].0, SECURITY_HEADERS[0].1))
        .layer(static_header(SECURITY_HEADERS[1].0, SECURITY_HEADERS[1].1))
        .layer(static_header(SECURITY_HEADERS[2].0, SECURITY_HEADERS[2].1))
        .layer(static_header(SECURITY_HEADERS[3].0, SECURITY_HEADERS[3].1))
        .layer(static_header(SECURITY_HEADERS[4].0, SECURITY_HEADERS[4].1))
        .option_layer(hsts)
        .layer(CompressionLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(on_response)
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn(
            crate::telemetry::record_http_metrics,
        ))
        .layer(cors(config))
        .layer(ErrorLayer::new())
        .option_layer(global_limit)
        // catch-panic boxes the body; the rate limiter and the error renderer work on axum's body type.
        .layer(MapResponseLayer::new(|res: http::Response<_>| {
            res.map(axum::body::Body::new)
        }))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    router.layer(stack)
}
