//! The middleware stack: keel-http's [`ApiStack`] (edge, compression, access log and
//! metrics, CORS, error rendering, the global rate limit, catch-panic, timeout, body limit;
//! its docs hold the order and the reason for each place) with this service's settings.
//! What each layer costs per request: `cargo bench -p keel-benches --bench http_stack`
//! (docs/benchmarks.md).

use http::header;
use keel_http::SecurityHeaders;
use keel_http::stack::ApiStack;
use keel_ratelimit::axum::RateLimitLayer;

use crate::state::AppState;

/// The security headers every API response carries (keel-http's defaults for an API).
pub use keel_http::security_headers::DEFAULTS as SECURITY_HEADERS;

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

/// The stack for the service's configuration, with the global per-IP limit
/// (`Limits::global_layer`) when on. CORS only when `KEEL_CORS_ORIGINS` is set, with this
/// API's `Location` and `X-Cache` readable by scripts besides keel's headers; the body
/// limit is the stack's 64 KiB.
pub fn stack(state: &AppState) -> ApiStack<RateLimitLayer> {
    let config = &state.config;
    let cors = config.cors.clone().map(|policy| {
        let policy = policy.expose_header(header::LOCATION);
        policy.expose_header(keel_cache::axum::X_CACHE)
    });
    ApiStack::new()
        .security_headers(security_headers(config.hsts))
        .option_cors(cors.as_ref())
        .timeout(config.request_timeout)
        .option_rate_limit(state.limits.global_layer())
}
