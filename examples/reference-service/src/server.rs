//! Startup and shutdown around keel-http's transport.
//!
//! The service is served by [`keel_http::serve()`] (hyper-util with a timer: header-read
//! timeout, connection cap with 503 shedding, graceful drain; see docs/http.md).
//! Its bounds come from the environment ([`Config::transport`](crate::Config::transport)):
//! - `KEEL_HEADER_READ_TIMEOUT_MS` (default 10 s): time allowed for a request head, and
//!   for an idle kept-alive connection to start its next request;
//! - `KEEL_MAX_CONNECTIONS` (default 1024): connections served at once; beyond it a `503`
//!   envelope with `Retry-After: 1`.
//!
//! Shutdown order on SIGTERM/SIGINT: readiness flips to `fail` (load balancers stop
//! sending; `KEEL_SHUTDOWN_DELAY_SECS` keeps serving meanwhile), the listener stops
//! accepting, in-flight requests drain (bounded by `KEEL_SHUTDOWN_TIMEOUT_SECS`), tracked
//! background jobs (keel-http's `BackgroundJobs`) finish (same bound), the pool closes.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

use crate::state::AppState;

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = &state.config;
    // Load balancers need a probe period to notice readiness failing; serve meanwhile.
    let stop = state.health.drain_after(shutdown, config.shutdown_delay);
    keel_http::serve(listener, app)
        .config(config.transport)
        .security_headers(crate::middleware::security_headers(config.hsts))
        .background_jobs(state.jobs.clone())
        .with_graceful_shutdown(stop)
        .await?;
    state.db.close();
    tracing::info!("shutdown complete");
    Ok(())
}
