//! The middleware stack: one `ServiceBuilder`, outermost layer first. The layers are the
//! crates' (keel-http, keel-errors, keel-ratelimit) and tower-http's; this file is the
//! service's choice of which, in which order, with which settings.
//!
//! | # | layer | why here |
//! |---|---|---|
//! | 1 | edge (keel-http `EdgeLayer`) | marks credentials sensitive before anything can log them; replaces an insane `X-Request-Id`, generates one when absent, echoes it; adds the security headers outside everything else, so **every** response has them (errors, 429s, panics, CORS preflights) |
//! | 2 | compression | outside the error renderer, so rewritten error bodies are never mislabelled as gzip |
//! | 3 | access log + metrics (keel-http `TelemetryLayer`) | a request span, one access log line per request, request counter and latency histogram by matched route |
//! | 4 | CORS | answers preflights before rate limits and handlers; absent when no origin is configured |
//! | 5 | keel-errors `RenderErrorsLayer` | request id in every error body; bodiless errors from the layers below become envelopes |
//! | 6 | global rate limit | per client IP (keel-ratelimit), optional |
//! | 7 | catch panic (keel-http `errors::CatchPanicLayer`) | a panicking handler becomes a 500 envelope; the process keeps serving; axum's body type kept (no re-boxing) |
//! | 8 | timeout (keel-http `TimeoutLayer`) | a handler over the limit becomes a 504 envelope; no timer is armed for a response ready on the first poll |
//! | 9 | body limit | 64 KiB; larger bodies are a 413 envelope |
//!
//! Each layer is applied once for the whole stack (one boxed service per route, not one
//! per layer); what each costs per request is measured by `cargo bench -p keel-benches
//! --bench http_stack` (see docs/benchmarks.md).

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use http::{HeaderName, header};
use keel_errors::axum::RenderErrorsLayer;
use keel_http::cors::StrictCors;
use keel_http::errors::CatchPanicLayer;
use keel_http::{EdgeLayer, SecurityHeaders, TelemetryLayer, TimeoutLayer};
use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;

use crate::state::AppState;

/// The security headers every API response carries (keel-http's defaults for an API).
pub use keel_http::security_headers::DEFAULTS as SECURITY_HEADERS;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `Content-Security-Policy` of the `/docs` UI: Swagger UI's own scripts and styles
/// (served from this process, so `'self'`), its inline styles and data: images.
pub const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The security headers of every response (and of the transport's 503): keel-http's API
/// set, plus HSTS when `KEEL_HSTS=true`.
pub fn security_headers(hsts: bool) -> SecurityHeaders {
    let set = SecurityHeaders::api();
    if hsts { set.with_hsts() } else { set }
}

/// keel-http's strict CORS for the configured origins (credentials allowed, keel's
/// headers exposed), plus the `Location` and `X-Cache` headers of this API's responses.
fn cors(policy: &StrictCors) -> CorsLayer {
    let policy = policy.clone().expose_header(header::LOCATION);
    policy
        .expose_header(HeaderName::from_static("x-cache"))
        .layer()
}

/// What the stack needs from the configuration (and the global limit), so it can be
/// built without a running service (the per-layer benchmark does).
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The CORS policy (`None`: no CORS layer).
    pub cors: Option<StrictCors>,
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
        let config = &state.config;
        Self {
            cors: config.cors.clone(),
            hsts: config.hsts,
            request_timeout: config.request_timeout,
            global_limit: state.limits.global_layer(),
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
    let stack = ServiceBuilder::new()
        .option_layer(on(0).then(|| EdgeLayer::new(security_headers(opts.hsts))))
        .option_layer(on(1).then(|| {
            // Back to axum's body type so the stack has one response type with or
            // without the layer (axum would box the body at the end anyway).
            ServiceBuilder::new()
                .layer(MapResponseLayer::new(|res: http::Response<_>| {
                    res.map(axum::body::Body::new)
                }))
                .layer(CompressionLayer::new())
        }))
        .option_layer(on(2).then(TelemetryLayer::new))
        // No origin configured: no CORS layer at all (same-origin only, no `Vary` noise).
        .option_layer(opts.cors.as_ref().filter(|_| on(3)).map(cors))
        .option_layer(on(4).then(RenderErrorsLayer::new))
        .option_layer(opts.global_limit.clone().filter(|_| on(5)))
        .option_layer(on(6).then(CatchPanicLayer::new))
        .option_layer(on(7).then(|| TimeoutLayer::new(opts.request_timeout)))
        .option_layer(on(8).then(|| DefaultBodyLimit::max(BODY_LIMIT)));
    router.layer(stack)
}
