//! Access log and per-route metrics in one layer, labelled by the **matched route**
//! (`/users/{id}`, never the raw path, so label cardinality stays bounded).
//!
//! [`TelemetryLayer`] gives every request:
//! - a `request` span (method, route, request id) around the inner service, so the
//!   handler's own events carry the request id;
//! - one access-log line when the response is ready, message `request finished`, with
//!   `method`, `route`, `request_id`, `status` and `latency_ms` (milliseconds to the
//!   microsecond, e.g. `1.25`; `warn` for 5xx, `info` otherwise). Never the query string (it may carry tokens), a header value or a body;
//! - with the `metrics` feature, [`REQUESTS_TOTAL`]`{method,route,status}` and
//!   [`REQUEST_DURATION_SECONDS`]`{method,route}`, through handles registered on first
//!   use per (method, route, status): a request formats no label and hashes no key set in
//!   the recorder's registry.
//!
//! Requests that matched no route are labelled `unmatched`; methods outside the seven
//! standard ones are `OTHER` (both are client-chosen, labels must stay bounded). Put the
//! layer inside [`EdgeLayer`](crate::EdgeLayer) so the request id it logs is the sane one,
//! and apply it with `Router::layer` (not `route_layer`'s outside) so `MatchedPath` is
//! set. The log line goes through `tracing`: with a JSON subscriber
//! ([`json_log`](crate::json_log)) it is one JSON object per request.
//!
//! The usual alternative is tower-http's `TraceLayer` with a `make_span_with` and
//! `on_response` closure per service, plus a metrics middleware that formats its labels
//! on every request.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::Request;
//! use keel_http::TelemetryLayer;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "ok" }))
//!     .layer(TelemetryLayer::new());
//! // Logs `request finished` with route="/users/{id}" status=200.
//! let res = app.oneshot(Request::get("/users/7").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "metrics")]
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{HeaderValue, Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::request_id::X_REQUEST_ID;

#[cfg(feature = "metrics")]
mod series;
#[cfg(feature = "metrics")]
pub use series::{LATENCY_BUCKETS, describe_metrics};
#[cfg(feature = "metrics")]
use series::{Series, SeriesCache};

/// Counter of requests by `method`, `route` and `status` (feature `metrics`).
pub const REQUESTS_TOTAL: &str = "http_requests_total";

/// Histogram of request latency in seconds by `method` and `route` (feature `metrics`).
pub const REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";

/// Counter of connections shed at the connection cap (feature `metrics`, recorded by
/// [`serve`](mod@crate::serve) when that feature is on too).
pub const CONNECTIONS_SHED_TOTAL: &str = "http_connections_shed_total";

/// The `route` label (and log field) of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The methods with their own label; every other (extension) method is `OTHER`.
const METHODS: [(Method, &str); 7] = [
    (Method::GET, "GET"),
    (Method::POST, "POST"),
    (Method::PUT, "PUT"),
    (Method::PATCH, "PATCH"),
    (Method::DELETE, "DELETE"),
    (Method::HEAD, "HEAD"),
    (Method::OPTIONS, "OPTIONS"),
];

/// (index into [`METHODS`], or its length for `OTHER`; label).
fn method_label(m: &Method) -> (usize, &'static str) {
    METHODS
        .iter()
        .position(|(x, _)| x == m)
        .map_or((METHODS.len(), "OTHER"), |i| (i, METHODS[i].1))
}

/// Layer of [`Telemetry`]: request span, access log and (feature `metrics`) per-route
/// metrics. Clones share one cache of metric handles.
#[derive(Debug, Clone, Default)]
pub struct TelemetryLayer {
    #[cfg(feature = "metrics")]
    cache: Arc<SeriesCache>,
}

impl TelemetryLayer {
    /// A layer with its own cache of metric handles.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = Telemetry<S>;

    fn layer(&self, inner: S) -> Telemetry<S> {
        Telemetry {
            inner,
            #[cfg(feature = "metrics")]
            cache: Arc::clone(&self.cache),
        }
    }
}

/// Logs and measures every request; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Telemetry<S> {
    inner: S,
    #[cfg(feature = "metrics")]
    cache: Arc<SeriesCache>,
}

impl<S> Telemetry<S> {
    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// What the response future needs to log and record.
#[derive(Debug)]
struct Labels {
    method: &'static str,
    /// The matched route (with `metrics`, the series holds it: one reference count less
    /// per request on the route's shared `MatchedPath`).
    #[cfg(not(feature = "metrics"))]
    route: Option<MatchedPath>,
    #[cfg(feature = "metrics")]
    series: Arc<Series>,
}

impl Labels {
    fn route(&self) -> &str {
        #[cfg(feature = "metrics")]
        return self.series.route();
        #[cfg(not(feature = "metrics"))]
        self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }
}

impl<S, B, ResBody> Service<Request<B>> for Telemetry<S>
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
        let start = Instant::now();
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>();
        let route_str = route.map_or(UNMATCHED, MatchedPath::as_str);
        #[cfg(feature = "metrics")]
        let series = self.cache.get(method, route_str);
        #[cfg(not(feature = "metrics"))]
        let route = route.cloned();
        let request_id = req.headers().get(X_REQUEST_ID).cloned();
        let span = tracing::info_span!(
            "request",
            method = method.1,
            route = route_str,
            request_id = id_str(request_id.as_ref())
        );
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            span,
            start,
            labels: Labels {
                method: method.1,
                #[cfg(not(feature = "metrics"))]
                route,
                #[cfg(feature = "metrics")]
                series,
            },
            request_id,
        }
    }
}

/// The access line's `latency_ms`: milliseconds with microsecond precision (whole
/// thousandths, which the JSON format writes without the float formatter).
#[allow(clippy::cast_precision_loss)] // exact below 2^53 µs (285 years)
fn latency_ms(latency: std::time::Duration) -> f64 {
    latency.as_micros() as f64 / 1000.0
}

fn id_str(id: Option<&HeaderValue>) -> &str {
    id.and_then(|v| v.to_str().ok()).unwrap_or("-")
}

pin_project_lite::pin_project! {
    /// Response future of [`Telemetry`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        start: Instant,
        labels: Labels,
        request_id: Option<HeaderValue>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx))
        };
        let latency = this.start.elapsed();
        // An error of the inner service is not a response; axum's services have none.
        if let Ok(res) = &result {
            let status = res.status().as_u16();
            #[cfg(feature = "metrics")]
            this.labels.series.record(status, latency.as_secs_f64());
            let latency_ms = latency_ms(latency);
            let method = this.labels.method;
            let route = this.labels.route();
            let request_id = id_str(this.request_id.as_ref());
            if res.status().is_server_error() {
                tracing::warn!(
                    method,
                    route,
                    request_id,
                    status,
                    latency_ms,
                    "request finished"
                );
            } else {
                tracing::info!(
                    method,
                    route,
                    request_id,
                    status,
                    latency_ms,
                    "request finished"
                );
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn latency_is_milliseconds_to_the_microsecond() {
        let check =
            |d: Duration, ms: f64| assert_eq!(latency_ms(d).to_bits(), ms.to_bits(), "{d:?}");
        check(Duration::ZERO, 0.0);
        check(Duration::from_nanos(999), 0.0);
        check(Duration::from_nanos(1_234_567), 1.234);
        check(Duration::from_micros(5), 0.005);
        check(Duration::from_secs(10), 10_000.0);
        check(Duration::from_secs(3600), 3_600_000.0);
    }
}
