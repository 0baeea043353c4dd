//! Startup, the HTTP transport and graceful shutdown.
//!
//! The service is served through hyper's HTTP/1.1 connection builder (with
//! `hyper-util`'s Tokio timer and graceful-shutdown watcher) rather than `axum::serve`,
//! because `axum::serve` gives hyper no timer: hyper's header-read timeout is then
//! inactive and a client that sends half a request holds its connection forever.
//!
//! Transport bounds ([`TransportConfig`]):
//! - **header-read timeout** (`KEEL_HEADER_READ_TIMEOUT_MS`, default 10 s): a connection
//!   whose request head (request line + headers) is not complete within it is closed.
//!   The timer also runs while a kept-alive connection waits for its next request, so
//!   idle connections are closed after the same time.
//! - **connection cap** (`KEEL_MAX_CONNECTIONS`, default 1024): connections beyond it are
//!   still accepted (so they never pile up in the kernel's backlog, invisible to
//!   monitoring) but answered at once with a `503` keel envelope, `Retry-After: 1` and
//!   `Connection: close`, then closed. At most [`MAX_SHEDDING`] such answers are in flight;
//!   beyond that excess connections are closed without an answer.
//!
//! HTTP/2 is not served: hyper has no header-read timeout for it, so an h2 client could
//! hold a connection open with an unfinished stream. Terminate HTTP/2 (and TLS) at the
//! proxy in front.
//!
//! Shutdown order on SIGTERM/SIGINT: readiness flips to `fail` (load balancers stop
//! sending; `KEEL_SHUTDOWN_DELAY_SECS` keeps serving meanwhile), the listener stops
//! accepting, in-flight requests drain (bounded by `KEEL_SHUTDOWN_TIMEOUT_SECS`), tracked
//! background jobs finish (same bound), the pool closes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use keel_errors::ApiError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service;

use crate::state::AppState;

/// Default of [`TransportConfig::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`TransportConfig::max_connections`].
///
/// An idle HTTP/1.1 connection costs hyper about 8–16 KiB of buffers plus a Tokio task
/// and a file descriptor, so 1024 connections stay under ~20 MiB. The service's own
/// throughput is bounded by CPU and the database pool long before that: 32 busy
/// connections saturate two cores, and a reverse proxy in front multiplexes thousands
/// of clients over far fewer upstream connections. Raise it with `ulimit -n` (the
/// process also needs descriptors for the pool, Redis and logs).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How many over-the-cap connections may be answered with a 503 at the same time;
/// beyond that they are closed without an answer (each answer is bounded in time).
pub const MAX_SHEDDING: usize = 64;

/// How long a shed connection may take to receive its 503 and close.
const SHED_DEADLINE: Duration = Duration::from_secs(1);

/// Bytes read (and discarded) from a shed connection before closing it, so the kernel
/// closes with a FIN, not a reset that could destroy the 503 in the client's buffer.
const SHED_DRAIN_LIMIT: usize = 16 * 1024;

/// The transport bounds (part of [`Config`](crate::Config)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportConfig {
    /// `KEEL_HEADER_READ_TIMEOUT_MS`: time allowed for a request head, and for an idle
    /// kept-alive connection to start its next request.
    pub header_read_timeout: Duration,
    /// `KEEL_MAX_CONNECTIONS`: open connections served at once.
    pub max_connections: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl TransportConfig {
    /// Reads `KEEL_HEADER_READ_TIMEOUT_MS` (100..=120000) and `KEEL_MAX_CONNECTIONS`
    /// (1..=1000000) through `get`, pushing one message per malformed value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Self {
        let mut out = Self::default();
        if let Some(v) = get("KEEL_HEADER_READ_TIMEOUT_MS") {
            match v.parse::<u64>() {
                Ok(ms) if (100..=120_000).contains(&ms) => {
                    out.header_read_timeout = Duration::from_millis(ms);
                }
                _ => problems.push(
                    "KEEL_HEADER_READ_TIMEOUT_MS must be a whole number of milliseconds in 100..=120000"
                        .into(),
                ),
            }
        }
        if let Some(v) = get("KEEL_MAX_CONNECTIONS") {
            match v.parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => out.max_connections = n,
                _ => problems.push("KEEL_MAX_CONNECTIONS must be a number in 1..=1000000".into()),
            }
        }
        out
    }
}

/// A running service: its address and state, for tests and `main`.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state.
    pub state: AppState,
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully.
///
/// # Errors
/// None today: accept errors are logged and retried (a full descriptor table must not
/// stop the server); the `Result` keeps the signature of `axum::serve`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config();
    let drain_timeout = config.shutdown_timeout;
    let drain_delay = config.shutdown_delay;
    let transport = config.transport;
    let health = state.health().clone();
    let stop = async move {
        shutdown.await;
        tracing::info!(
            delay_secs = drain_delay.as_secs(),
            "shutdown requested: readiness now fails"
        );
        // Load balancers need a probe period to notice; keep serving meanwhile.
        health.drain_and_wait(drain_delay).await;
        tracing::info!("closing the listener, draining in-flight requests");
    };
    let graceful = accept_loop(&listener, &app, transport, stop).await;
    drop(listener);
    // The drain is bounded: once shutdown starts, in-flight requests get `drain_timeout`.
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_secs = drain_timeout.as_secs(),
            "in-flight requests did not drain in time"
        );
    }
    state.jobs().shutdown(drain_timeout).await;
    state.pool().close();
    tracing::info!("shutdown complete");
    Ok(())
}

/// Accepts until `stop` resolves; returns the watcher of the connections still open.
async fn accept_loop(
    listener: &TcpListener,
    app: &Router,
    transport: TransportConfig,
    stop: impl Future<Output = ()>,
) -> GracefulShutdown {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(transport.header_read_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(transport.max_connections));
    let shedding = Arc::new(Semaphore::new(MAX_SHEDDING));
    let shed_total = metrics::counter!("http_connections_shed_total");
    let mut shed_since_log = 0u64;
    let mut last_shed_log: Option<Instant> = None;
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut stop => return graceful,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(&e).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            shed_total.increment(1);
            shed_since_log += 1;
            // One warning per second at most: a flood must not become a log flood.
            if last_shed_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(
                    max_connections = transport.max_connections,
                    shed = shed_since_log,
                    "connection cap reached: shedding new connections with 503"
                );
                last_shed_log = Some(Instant::now());
                shed_since_log = 0;
            }
            if let Ok(permit) = Arc::clone(&shedding).try_acquire_owned() {
                tokio::spawn(async move {
                    shed(stream).await;
                    drop(permit);
                });
            }
            continue;
        };
        // Responses are written in one go; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), service(app.clone(), peer));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the client's (reset, header timeout): nothing to act on.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
}

/// The per-connection service: the router, with the peer address as axum's
/// `ConnectInfo` (what `into_make_service_with_connect_info` would add).
fn service(
    router: Router,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send + 'static,
> + Clone {
    hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        // `Router` is always ready; cloning it is a reference-count increment.
        router.clone().call(req)
    })
}

/// Accept errors: per-connection ones are skipped; resource exhaustion (EMFILE, ENFILE,
/// ENOBUFS) pauses accepting briefly instead of spinning.
async fn accept_error(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing accepts for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answers an over-the-cap connection with a 503 envelope and closes it, within
/// [`SHED_DEADLINE`].
async fn shed(mut stream: TcpStream) {
    let response = shed_response();
    let _ = tokio::time::timeout(SHED_DEADLINE, async {
        if stream.write_all(&response).await.is_err() {
            return;
        }
        let _ = stream.shutdown().await;
        // Read what the client sent (bounded) so closing sends a FIN, not a reset.
        let mut buf = [0u8; 1024];
        let mut read = 0;
        while read < SHED_DRAIN_LIMIT {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// The raw HTTP/1.1 503 of a shed connection: keel envelope with a fresh request id,
/// `Retry-After`, the security headers, `Connection: close`.
fn shed_response() -> Vec<u8> {
    let id = crate::middleware::RequestId::generate();
    let err = ApiError::service_unavailable("The server is at its connection limit")
        .with_retry_after(Duration::from_secs(1))
        .with_request_id(id.as_str());
    let body = serde_json::to_vec(&err.to_envelope()).unwrap_or_default();
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(b"HTTP/1.1 503 Service Unavailable\r\n");
    let mut header = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    header("content-type", "application/json");
    header("content-length", &body.len().to_string());
    header("retry-after", "1");
    header("cache-control", "no-store");
    header("connection", "close");
    header("x-request-id", id.as_str());
    for (name, value) in crate::middleware::SECURITY_HEADERS {
        header(name, value);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Spawns the metrics upkeep; the interval is short enough for histograms to stay bounded.
pub fn spawn_background(state: &AppState) -> tokio::task::JoinHandle<()> {
    crate::telemetry::spawn_metrics_upkeep(state.metrics().clone(), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vars: &[(&str, &str)], expected: Result<TransportConfig, usize>) {
        let mut problems = Vec::new();
        let got = TransportConfig::from_lookup(
            |k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            },
            &mut problems,
        );
        match expected {
            Ok(want) => {
                assert!(problems.is_empty(), "{problems:?}");
                assert_eq!(got, want);
            }
            Err(n) => assert_eq!(problems.len(), n, "{problems:?}"),
        }
    }

    #[test]
    fn transport_config_parses_and_bounds() {
        check(&[], Ok(TransportConfig::default()));
        check(
            &[
                ("KEEL_HEADER_READ_TIMEOUT_MS", "300"),
                ("KEEL_MAX_CONNECTIONS", "2"),
            ],
            Ok(TransportConfig {
                header_read_timeout: Duration::from_millis(300),
                max_connections: 2,
            }),
        );
        check(&[("KEEL_HEADER_READ_TIMEOUT_MS", "0")], Err(1));
        check(&[("KEEL_HEADER_READ_TIMEOUT_MS", "10s")], Err(1));
        check(
            &[
                ("KEEL_MAX_CONNECTIONS", "0"),
                ("KEEL_HEADER_READ_TIMEOUT_MS", "999999"),
            ],
            Err(2),
        );
    }

    #[test]
    fn shed_response_is_a_complete_envelope() {
        let raw = String::from_utf8(shed_response()).unwrap_or_default();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
        assert!(v["meta"]["request_id"].is_string(), "{body}");
    }
}
