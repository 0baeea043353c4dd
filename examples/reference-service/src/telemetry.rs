//! Logs (tracing, one JSON line per event) and metrics (Prometheus text through the
//! `metrics` facade).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use http::{Method, Request};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Latency buckets in seconds: sub-millisecond cache hits up to the 10 s timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the global tracing subscriber (`RUST_LOG`, default `info`). Idempotent:
/// a second call (tests start several services in one process) is a no-op.
///
/// Log lines go to stdout through a background writer thread: formatting stays on the
/// request's thread, but the `write` syscall per line does not (it cost ~28 % of
/// `/health/live` throughput). The writer applies back-pressure instead of dropping lines
/// when its buffer is full. Keep the returned guard alive until exit: dropping it flushes.
pub fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Json => json_subscriber(writer, filter).try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .try_init(),
    };
    // Already installed (tests): keep the first one.
    drop(result);
    guard
}

/// The production log format: one JSON object per event, with the current span's fields
/// (the request's method, route and id), written to `writer`. The per-layer benchmark
/// installs the same subscriber over a sink.
pub fn json_subscriber<W>(
    writer: W,
    filter: EnvFilter,
) -> tracing_subscriber::fmt::SubscriberBuilder<
    tracing_subscriber::fmt::format::JsonFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>,
    EnvFilter,
    W,
>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

/// The process-wide Prometheus recorder, installed on first use.
///
/// The `metrics` facade has one global recorder per process, so every service instance
/// in a process (tests run two) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                // Only fails for an empty bucket list.
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only this service's own");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests by method, matched route and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method and matched route"
    );
    metrics::describe_counter!("background_jobs_total", "Background jobs started, by kind");
}

/// Runs the recorder's upkeep (histogram draining) every `every` until the runtime stops.
pub fn spawn_metrics_upkeep(
    handle: PrometheusHandle,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Most distinct (method, route) series cached by [`HttpTelemetryLayer`]; routes are the
/// router's own patterns, so this only bounds a misconfiguration.
const MAX_CACHED_SERIES: usize = 1024;

/// Most distinct status codes cached per series.
const MAX_CACHED_STATUSES: usize = 32;

/// The methods with their own label; every other (extension) method is `OTHER`, since
/// methods are client-chosen strings and labels must stay bounded.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

fn method_label(m: &Method) -> (usize, &'static str) {
    METHODS
        .iter()
        .position(|x| x == m)
        .map_or((METHODS.len(), "OTHER"), |i| {
            (
                i,
                ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"][i],
            )
        })
}

/// The metric handles of one (method, route): registered once, then recorded into
/// without label formatting or registry lookups.
struct Series {
    method: &'static str,
    route: Arc<str>,
    latency: Histogram,
    requests: RwLock<Vec<(u16, Counter)>>,
}

impl Series {
    fn record(&self, status: u16, seconds: f64) {
        self.latency.record(seconds);
        if let Some(c) = self
            .requests
            .read()
            .ok()
            .and_then(|v| v.iter().find(|(s, _)| *s == status).map(|(_, c)| c.clone()))
        {
            c.increment(1);
            return;
        }
        let counter = metrics::counter!("http_requests_total", "method" => self.method, "route" => self.route.to_string(), "status" => status.to_string());
        counter.increment(1);
        if let Ok(mut v) = self.requests.write()
            && v.len() < MAX_CACHED_STATUSES
            && !v.iter().any(|(s, _)| *s == status)
        {
            v.push((status, counter));
        }
    }
}

type SeriesMap = HashMap<Box<str>, [Option<Arc<Series>>; METHODS.len() + 1]>;

/// The cache of [`Series`] by route and method.
#[derive(Default)]
struct SeriesCache {
    routes: RwLock<SeriesMap>,
    len: std::sync::atomic::AtomicUsize,
}

impl SeriesCache {
    fn get(&self, method: (usize, &'static str), route: &str) -> Arc<Series> {
        if let Some(s) = self
            .routes
            .read()
            .ok()
            .and_then(|m| m.get(route).and_then(|a| a[method.0].clone()))
        {
            return s;
        }
        let series = Arc::new(Series {
            method: method.1,
            route: Arc::from(route),
            latency: metrics::histogram!("http_request_duration_seconds", "method" => method.1, "route" => route.to_owned()),
            requests: RwLock::new(Vec::new()),
        });
        use std::sync::atomic::Ordering;
        if self.len.load(Ordering::Relaxed) < MAX_CACHED_SERIES
            && let Ok(mut m) = self.routes.write()
        {
            let slots = m.entry(Box::from(route)).or_default();
            if let Some(existing) = &slots[method.0] {
                return Arc::clone(existing);
            }
            slots[method.0] = Some(Arc::clone(&series));
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        series
    }
}

impl std::fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesCache")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Access log and HTTP metrics in one layer, labelled by the **matched route**
/// (`/api/v1/users/{id}`, never the raw path, so label cardinality stays bounded):
///
/// - a `request` span (method, route, request id) around the inner service, so the
///   handler's own events carry the request id;
/// - one access log line per request after the response: method, route, request id,
///   status, latency (`warn` for 5xx, `info` otherwise). Never the query string (tokens),
///   a header value or a body;
/// - `http_requests_total{method,route,status}` and
///   `http_request_duration_seconds{method,route}`, through handles registered on first
///   use per (method, route, status), so a request formats no label and hashes no key
///   set in the registry.
#[derive(Debug, Clone, Default)]
pub struct HttpTelemetryLayer {
    cache: Arc<SeriesCache>,
}

impl HttpTelemetryLayer {
    /// A layer with its own handle cache.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for HttpTelemetryLayer {
    type Service = HttpTelemetry<S>;

    fn layer(&self, inner: S) -> HttpTelemetry<S> {
        HttpTelemetry {
            inner,
            cache: Arc::clone(&self.cache),
        }
    }
}

/// The service of [`HttpTelemetryLayer`].
#[derive(Debug, Clone)]
pub struct HttpTelemetry<S> {
    inner: S,
    cache: Arc<SeriesCache>,
}

impl<S, B, ResBody> Service<Request<B>> for HttpTelemetry<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = TelemetryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        let route_str = route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let series = self.cache.get(method, route_str);
        let request_id = req.headers().get(crate::middleware::X_REQUEST_ID).cloned();
        let id = request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let span = tracing::info_span!(
            "request",
            method = method.1,
            route = route_str,
            request_id = id
        );
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        TelemetryFuture {
            inner,
            span,
            start,
            series,
            request_id,
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`HttpTelemetry`].
    #[derive(Debug)]
    pub struct TelemetryFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        start: Instant,
        series: Arc<Series>,
        request_id: Option<http::HeaderValue>,
    }
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("method", &self.method)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for TelemetryFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            std::task::ready!(this.inner.poll(cx))
        };
        let latency = this.start.elapsed();
        // An error of the inner service is not a response; axum's stack has none.
        if let Ok(res) = &result {
            let status = res.status().as_u16();
            this.series.record(status, latency.as_secs_f64());
            let latency_ms = latency.as_secs_f64() * 1000.0;
            let method = this.series.method;
            let route = &*this.series.route;
            let request_id = this
                .request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
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
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn one_access_line_per_request_and_metrics_by_matched_route() {
        let logs = Capture::default();
        let subscriber = json_subscriber(logs.clone(), EnvFilter::new("info")).finish();
        let recorder = PrometheusBuilder::new().build_recorder();
        let prometheus = recorder.handle();
        let app: Router = Router::new()
            .route(
                "/users/{id}",
                get(|| async {
                    tracing::info!("inside the handler");
                    "ok"
                }),
            )
            .layer(HttpTelemetryLayer::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        tracing::subscriber::with_default(subscriber, || {
            metrics::with_local_recorder(&recorder, || {
                for (i, path) in ["/users/1", "/users/2", "/nowhere"].iter().enumerate() {
                    let req = Request::get(*path)
                        .header("x-request-id", format!("req-{i}"))
                        .body(Body::empty())
                        .unwrap_or_else(|e| panic!("{e}"));
                    let res = rt
                        .block_on(app.clone().oneshot(req))
                        .unwrap_or_else(|e| match e {});
                    assert_eq!(res.status().is_success(), i < 2);
                }
            });
        });
        let text = String::from_utf8(logs.0.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        let access: Vec<_> = lines
            .iter()
            .filter(|l| l["fields"]["message"] == "request finished")
            .collect();
        assert_eq!(access.len(), 3, "{text}");
        assert_eq!(access[0]["fields"]["route"], "/users/{id}");
        assert_eq!(access[0]["fields"]["request_id"], "req-0");
        assert_eq!(access[0]["fields"]["status"], 200);
        assert_eq!(access[2]["fields"]["route"], "unmatched");
        assert_eq!(access[2]["fields"]["status"], 404);
        // The handler's own event carries the request span (and so the request id).
        let inner = lines
            .iter()
            .find(|l| l["fields"]["message"] == "inside the handler")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(inner["span"]["request_id"], "req-0");

        let metrics = prometheus.render();
        assert!(
            metrics.contains(
                r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 2"#
            ),
            "{metrics}"
        );
        assert!(
            metrics
                .contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                r#"http_request_duration_seconds_count{method="GET",route="/users/{id}"} 2"#
            ),
            "{metrics}"
        );
    }
}
