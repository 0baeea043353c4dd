//! Startup and shutdown around keel-http's transport.
//!
//! The service is served by [`keel_http::serve()`] (hyper-util with a timer: header-read
//! timeout, connection cap with 503 shedding, graceful drain; see docs/http.md).
//! [`TransportConfig`] is read from the environment:
//! - `KEEL_HEADER_READ_TIMEOUT_MS` (default 10 s): time allowed for a request head, and
//!   for an idle kept-alive connection to start its next request;
//! - `KEEL_MAX_CONNECTIONS` (default 1024): connections served at once; beyond it a `503`
//!   envelope with `Retry-After: 1`.
//!
//! Shutdown order on SIGTERM/SIGINT: readiness flips to `fail` (load balancers stop
//! sending; `KEEL_SHUTDOWN_DELAY_SECS` keeps serving meanwhile), the listener stops
//! accepting, in-flight requests drain (bounded by `KEEL_SHUTDOWN_TIMEOUT_SECS`), tracked
//! background jobs finish (same bound), the pool closes.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use keel_http::ServeConfig;
use keel_http::serve::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
use tokio::net::TcpListener;

use crate::state::AppState;

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
/// Transport bounds keel-http refuses (the config's ranges keep them valid).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config();
    let drain_timeout = config.shutdown_timeout;
    let drain_delay = config.shutdown_delay;
    let transport = ServeConfig::builder()
        .header_read_timeout(config.transport.header_read_timeout)
        .max_connections(config.transport.max_connections)
        .drain_timeout(drain_timeout)
        .build()
        .map_err(std::io::Error::other)?;
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
    keel_http::serve(listener, app)
        .config(transport)
        .security_headers(crate::middleware::security_headers(config.hsts))
        .with_graceful_shutdown(stop)
        .await?;
    state.jobs().shutdown(drain_timeout).await;
    state.pool().close();
    tracing::info!("shutdown complete");
    Ok(())
}

/// Spawns the metrics upkeep; the interval is short enough for histograms to stay bounded.
pub fn spawn_background(state: &AppState) -> tokio::task::JoinHandle<()> {
    crate::telemetry::spawn_metrics_upkeep(state.metrics().clone(), Duration::from_secs(5))
}
