//! The standard middleware stack of a JSON API, in the order that works: [`ApiStack`].
//!
//! Every keel-http user assembles the same layers around the same `Router`, and the order
//! is where the bugs are (an error renderer outside compression labels rewritten bodies
//! as gzip; security headers inside the rate limiter leave 429s without them; CORS inside
//! the limiter spends a client's quota on preflights). [`ApiStack`] is one tower layer
//! that applies them in this order, outermost first:
//!
//! | # | layer | why here |
//! |---|---|---|
//! | 1 | edge ([`EdgeLayer`]) | marks credentials sensitive before anything can log them; replaces an insane `X-Request-Id`, generates one when absent, echoes it; adds the security headers outside everything else, so **every** response has them (errors, 429s, panics, CORS preflights) |
//! | 2 | compression (tower-http, feature `compression`) | outside the error renderer, so rewritten error bodies are never mislabelled as gzip; bodies under [`DEFAULT_COMPRESSION_MIN_SIZE`] (1 KiB) are sent as they are |
//! | 3 | access log + metrics ([`TelemetryLayer`]) | a request span, one access log line per request, request counter and latency histogram by matched route |
//! | 4 | CORS ([`StrictCors`](crate::cors::StrictCors), feature `cors`) | answers preflights before rate limits and handlers; absent when no policy is set (same-origin only, no `Vary` noise) |
//! | 5 | keel-errors `RenderErrorsLayer` | request id in every error body; bodiless errors from the layers and the router below (axum's 404 and 405, a limiter's 429, the timeout's 504) become envelopes |
//! | 6 | rate limit ([`ApiStack::rate_limit`], optional) | any layer, typically keel-ratelimit's per-client-IP limit: inside CORS (preflights are free), outside the handler's work |
//! | 7 | catch panic ([`CatchPanicLayer`] of `errors`) | a panicking handler becomes a 500 envelope; the process keeps serving; axum's body type kept (no re-boxing) |
//! | 8 | timeout ([`TimeoutLayer`]) | a handler over the limit becomes a 504 envelope; no timer is armed for a response ready on the first poll |
//! | 9 | body limit (axum `DefaultBodyLimit`) | larger bodies are a 413 (default 64 KiB; an envelope from keel-envelope's extractors, plain text from axum's own) |
//!
//! Apply it with **one** `Router::layer` call: axum boxes the service of every route once
//! per `layer` call, so one call for the whole stack is one boxed service per route, not
//! one per layer. What each layer costs per request is measured by `cargo bench -p
//! keel-benches --bench http_stack`, which builds the stack layer by layer with
//! [`ApiStack::outermost`] (the rows are named by [`LAYERS`]).
//!
//! The transport bounds (header-read timeout, connection cap) are [`serve`](mod@crate::serve)'s;
//! give it the same [`SecurityHeaders`] so its 503s carry them too.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use axum::http::{Request, StatusCode};
//! use keel_http::SecurityHeaders;
//! use keel_http::stack::ApiStack;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let stack = ApiStack::new()
//!     .security_headers(SecurityHeaders::api()) // `.with_hsts()` once clients only use HTTPS
//!     .timeout(Duration::from_secs(10))
//!     .body_limit(64 * 1024);
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "a user" }))
//!     .layer(stack);
//!
//! // An unknown route: a 404, with a request id and the security headers.
//! let res = app.oneshot(Request::get("/nope").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::NOT_FOUND);
//! assert!(res.headers().contains_key("x-request-id"));
//! assert_eq!(res.headers()["x-content-type-options"], "nosniff");
//! # }
//! ```

use std::time::Duration;

#[cfg(feature = "compression")]
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use keel_errors::axum::RenderErrorsLayer;
use tower::ServiceBuilder;
use tower::util::Either;
#[cfg(feature = "compression")]
use tower_http::compression::predicate::{And, NotForContentType, Predicate as _, SizeAbove};
use tower_layer::{Identity, Layer, Stack};

use crate::edge::EdgeLayer;
use crate::errors::CatchPanicLayer;
use crate::security_headers::SecurityHeaders;
use crate::telemetry::TelemetryLayer;
use crate::timeout::TimeoutLayer;

/// How error bodies are rendered ([`ApiStack::error_format`]), re-exported from keel-errors.
pub use keel_errors::axum::ErrorFormat;

/// The layers of [`ApiStack`], outermost first: the row names of the per-layer benchmark
/// ([`ApiStack::outermost`]`(n)` keeps the first `n`).
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

/// Default handler timeout of [`ApiStack`]: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default request body limit of [`ApiStack`]: 64 KiB, ample for JSON documents (axum's
/// own default, 2 MiB, is sized for forms and uploads). Raise it per route with axum's
/// `DefaultBodyLimit` where a route takes more.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Default smallest body [`ApiStack`] compresses: 1 KiB
/// ([`ApiStack::compression_min_size`]). A smaller JSON body fits one TCP segment
/// either way, so gzip saves no packet and no round trip, and costs more CPU than the rest
/// of a cached read: the reference service's 224-byte user read answered 59.6k req/s
/// gzipped (190 bytes) vs 89k uncompressed (`wrk -H 'Accept-Encoding: gzip'`,
/// docs/benchmarks.md). tower-http's own default is 32 bytes.
#[cfg(feature = "compression")]
pub const DEFAULT_COMPRESSION_MIN_SIZE: u64 = 1024;

/// tower-http's default predicate with our smallest size: not below the minimum, not
/// gRPC, images (but SVG) or server-sent events.
#[cfg(feature = "compression")]
type CompressWhen =
    And<And<And<SizeAbove, NotForContentType>, NotForContentType>, NotForContentType>;

#[cfg(feature = "compression")]
fn compress_when(min_size: u64) -> CompressWhen {
    SizeAbove::new(min_size)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

#[cfg(feature = "compression")]
type Compression = Stack<
    tower_http::compression::CompressionLayer<CompressWhen>,
    tower::util::MapResponseLayer<fn(CompressedResponse) -> http::Response<Body>>,
>;
#[cfg(feature = "compression")]
type CompressedResponse = http::Response<tower_http::compression::CompressionBody<Body>>;
#[cfg(not(feature = "compression"))]
type Compression = Identity;

#[cfg(feature = "cors")]
type Cors = tower_http::cors::CorsLayer;
#[cfg(not(feature = "cors"))]
type Cors = Identity;

/// An optional layer in the stack.
type Slot<T> = Either<T, Identity>;

/// The tower stack [`ApiStack`] builds: `Stack<Inner, Outer>`, innermost first (what
/// `ServiceBuilder` builds from the outermost-first calls).
type Layers<L> = Stack<
    Slot<DefaultBodyLimit>,
    Stack<
        Slot<TimeoutLayer>,
        Stack<
            Slot<CatchPanicLayer>,
            Stack<
                Slot<L>,
                Stack<
                    Slot<RenderErrorsLayer>,
                    Stack<
                        Slot<Cors>,
                        Stack<
                            Slot<TelemetryLayer>,
                            Stack<Slot<Compression>, Stack<Slot<EdgeLayer>, Identity>>,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// The standard API middleware stack as one tower layer; see the [module docs](self) for
/// the layers and their order. `L` is the type of the [rate limit](Self::rate_limit)
/// slot.
///
/// Apply it with one `Router::layer(stack)` call (after the routes and fallbacks are in
/// place, as every `Router::layer`). Clones share the access log's cache of metric
/// handles, as clones of [`TelemetryLayer`] do.
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiStack<L = Identity> {
    headers: SecurityHeaders,
    #[cfg(feature = "compression")]
    compression: bool,
    #[cfg(feature = "compression")]
    compression_min_size: u64,
    #[cfg(feature = "cors")]
    cors: Option<tower_http::cors::CorsLayer>,
    /// Built once: its clones (one per route) share one cache of metric handles.
    telemetry: TelemetryLayer,
    errors: RenderErrorsLayer,
    rate_limit: Option<L>,
    timeout: Duration,
    body_limit: usize,
    outermost: usize,
}

impl Default for ApiStack {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiStack {
    /// The stack with its defaults: [`SecurityHeaders::api`], compression on (feature
    /// `compression`), no CORS, envelope error bodies, no rate limit, a
    /// [`DEFAULT_TIMEOUT`] handler timeout and a [`DEFAULT_BODY_LIMIT`] body limit.
    pub fn new() -> Self {
        Self {
            headers: SecurityHeaders::api(),
            #[cfg(feature = "compression")]
            compression: true,
            #[cfg(feature = "compression")]
            compression_min_size: DEFAULT_COMPRESSION_MIN_SIZE,
            #[cfg(feature = "cors")]
            cors: None,
            telemetry: TelemetryLayer::new(),
            errors: RenderErrorsLayer::new(),
            rate_limit: None,
            timeout: DEFAULT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            outermost: LAYERS.len(),
        }
    }
}

impl<L> ApiStack<L> {
    /// The security headers of every response (default [`SecurityHeaders::api`]). Give
    /// [`Serve::security_headers`](crate::serve::Serve::security_headers) the same set.
    pub fn security_headers(mut self, headers: SecurityHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Whether responses are compressed (default: on). tower-http's `CompressionLayer`
    /// with the algorithms its enabled features provide: gzip through this crate's
    /// `compression` feature; add tower-http's `compression-br` (and so on) to your own
    /// manifest for more. Bodies under [`compression_min_size`](Self::compression_min_size),
    /// images (but SVG), server-sent events and gRPC are left alone.
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// The smallest body compressed, in bytes (default [`DEFAULT_COMPRESSION_MIN_SIZE`],
    /// 1 KiB). A body of unknown length (streamed, no `Content-Length`) is compressed
    /// whatever its size. A response left uncompressed for its size carries no
    /// `Vary: Accept-Encoding`: it is the same for every client.
    #[cfg(feature = "compression")]
    #[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
    pub fn compression_min_size(mut self, bytes: u64) -> Self {
        self.compression_min_size = bytes;
        self
    }

    /// Answers cross-origin requests with `policy` (default: no CORS layer at all).
    #[cfg(feature = "cors")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cors")))]
    pub fn cors(self, policy: &crate::cors::StrictCors) -> Self {
        self.option_cors(Some(policy))
    }

    /// [`cors`](Self::cors) when `policy` is `Some` (typically: origins configured),
    /// no CORS layer otherwise.
    #[cfg(feature = "cors")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cors")))]
    pub fn option_cors(mut self, policy: Option<&crate::cors::StrictCors>) -> Self {
        self.cors = policy.map(crate::cors::StrictCors::layer);
        self
    }

    /// How error bodies are rendered (default: the keel envelope).
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.errors = self.errors.format(format);
        self
    }

    /// Puts `layer` in the rate-limit slot (row 6: inside CORS and the error renderer,
    /// outside catch-panic, timeout and body limit). Any tower layer fits; keel-ratelimit's
    /// `RateLimitLayer` is the usual one.
    pub fn rate_limit<L2>(self, layer: L2) -> ApiStack<L2> {
        self.option_rate_limit(Some(layer))
    }

    /// [`rate_limit`](Self::rate_limit) when `layer` is `Some`, an empty slot otherwise.
    pub fn option_rate_limit<L2>(self, layer: Option<L2>) -> ApiStack<L2> {
        ApiStack {
            headers: self.headers,
            #[cfg(feature = "compression")]
            compression: self.compression,
            #[cfg(feature = "compression")]
            compression_min_size: self.compression_min_size,
            #[cfg(feature = "cors")]
            cors: self.cors,
            telemetry: self.telemetry,
            errors: self.errors,
            rate_limit: layer,
            timeout: self.timeout,
            body_limit: self.body_limit,
            outermost: self.outermost,
        }
    }

    /// The handler timeout (default [`DEFAULT_TIMEOUT`]): a `504` envelope after it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest accepted request body in bytes (default [`DEFAULT_BODY_LIMIT`]): a
    /// `413` envelope beyond it.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Keeps only the outermost `n` layers of [`LAYERS`] (all nine by default; more than
    /// nine is all): what a per-layer benchmark measures, one more layer per row. A
    /// service has no reason to call it.
    pub fn outermost(mut self, n: usize) -> Self {
        self.outermost = n;
        self
    }

    /// The tower stack, as `ServiceBuilder` builds it from the outermost-first calls.
    fn layers(&self) -> Layers<L>
    where
        L: Clone,
    {
        let on = |i: usize| i < self.outermost;
        #[cfg(feature = "compression")]
        let compression = self.compression.then(|| {
            // Back to axum's body type, so the stack has one response type with or
            // without the layer (axum would box the body at the end anyway).
            let to_body: fn(CompressedResponse) -> http::Response<Body> = |res| res.map(Body::new);
            Stack::new(
                tower_http::compression::CompressionLayer::new()
                    .compress_when(compress_when(self.compression_min_size)),
                tower::util::MapResponseLayer::new(to_body),
            )
        });
        #[cfg(not(feature = "compression"))]
        let compression: Option<Compression> = None;
        #[cfg(feature = "cors")]
        let cors = self.cors.clone();
        #[cfg(not(feature = "cors"))]
        let cors: Option<Cors> = None;
        ServiceBuilder::new()
            .option_layer(on(0).then(|| EdgeLayer::new(self.headers.clone())))
            .option_layer(compression.filter(|_| on(1)))
            .option_layer(on(2).then(|| self.telemetry.clone()))
            .option_layer(cors.filter(|_| on(3)))
            .option_layer(on(4).then_some(self.errors))
            .option_layer(self.rate_limit.clone().filter(|_| on(5)))
            .option_layer(on(6).then(CatchPanicLayer::new))
            .option_layer(on(7).then(|| TimeoutLayer::new(self.timeout)))
            .option_layer(on(8).then(|| DefaultBodyLimit::max(self.body_limit)))
            .into_inner()
    }
}

impl<S, L> Layer<S> for ApiStack<L>
where
    L: Clone,
    Layers<L>: Layer<S>,
{
    type Service = <Layers<L> as Layer<S>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.layers().layer(inner)
    }
}
