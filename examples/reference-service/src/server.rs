//! Startup and graceful shutdown.
//!
//! Shutdown order on SIGTERM/SIGINT: readiness flips to `fail` (load balancers stop
//! sending; `KEEL_SHUTDOWN_DELAY_SECS` keeps serving meanwhile), the listener stops accepting, in-flight requests drain (bounded by
//! `KEEL_SHUTDOWN_TIMEOUT_SECS`), tracked background jobs finish (same bound), the pool closes.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::state::AppState;

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
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let drain_timeout = state.config().shutdown_timeout;
    let drain_delay = state.config().shutdown_delay;
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(false);
    let health = state.health().clone();
    let graceful = async move {
        shutdown.await;
        tracing::info!(
            delay_secs = drain_delay.as_secs(),
            "shutdown requested: readiness now fails"
        );
        // Load balancers need a probe period to notice; keep serving meanwhile.
        health.drain_and_wait(drain_delay).await;
        tracing::info!("closing the listener, draining in-flight requests");
        let _ = signal_tx.send(true);
    };
    let mut timeout_rx = signal_rx.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(graceful);
    // The drain is bounded: once shutdown starts, in-flight requests get `drain_timeout`.
    let bounded = async move {
        let _ = timeout_rx.wait_for(|s| *s).await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        res = server => res?,
        () = bounded => tracing::warn!(timeout_secs = drain_timeout.as_secs(), "in-flight requests did not drain in time"),
    }
    drop(signal_rx);
    state.jobs().shutdown(drain_timeout).await;
    state.pool().close();
    tracing::info!("shutdown complete");
    Ok(())
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
