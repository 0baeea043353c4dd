//! Serving an axum `Router` with transport bounds: a header-read timeout, a connection
//! cap with load shedding, `ConnectInfo` and graceful shutdown.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout is inactive and a
//! client that sends half a request holds its connection (and a task, buffers and a file
//! descriptor) forever; it has no connection cap either. [`serve`] is the drop-in that
//! serves through hyper's HTTP/1.1 connection builder with a timer:
//!
//! - **header-read timeout** ([`ServeConfig::header_read_timeout`], default 10 s): a
//!   connection whose request head is not complete within it is closed. The timer also
//!   runs while a kept-alive connection waits for its next request, so idle connections
//!   are closed after the same time. It costs one Tokio timer per connection, re-armed
//!   only when it fires before the current head's deadline (hyper-util's `TokioTimer`
//!   allocates, registers and removes one per request).
//! - **connection cap** ([`ServeConfig::max_connections`], default 1024): connections
//!   beyond it are still accepted (so they never pile up in the kernel's backlog,
//!   invisible to monitoring) but answered at once with a `503`, `Retry-After: 1`,
//!   `Connection: close` and the security headers, then closed. The body is a keel-errors
//!   envelope with a fresh request id with the `errors` feature, plain text otherwise. At
//!   most [`ServeConfig::max_shedding`] (64) such answers are in flight, each bounded to
//!   1 s; beyond that excess connections are closed without an answer. With the
//!   `metrics` feature each shed counts in
//!   [`CONNECTIONS_SHED_TOTAL`](crate::telemetry::CONNECTIONS_SHED_TOTAL); a warning is
//!   logged at most once a second.
//! - **graceful shutdown** ([`Serve::with_graceful_shutdown`]): once the signal resolves
//!   the listener closes, in-flight requests finish (bounded by
//!   [`ServeConfig::drain_timeout`]) and idle connections are closed. With the `jobs`
//!   feature, [`Serve::background_jobs`] then waits for the tracked background jobs
//!   (same bound): jobs spawned by the requests being drained are waited for too.
//! - the peer address as axum's `ConnectInfo<SocketAddr>`, as
//!   `into_make_service_with_connect_info` gives it.
//!
//! HTTP/2 is not served: hyper has no header-read timeout for it, so an h2 client could
//! hold a connection with an unfinished stream. Terminate HTTP/2 (and TLS) at the proxy
//! in front.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use keel_http::{ServeConfig, SecurityHeaders, serve, shutdown_signal};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! serve(listener, app)
//!     .config(ServeConfig::builder().max_connections(512).build()?)
//!     .security_headers(SecurityHeaders::api())
//!     .with_graceful_shutdown(shutdown_signal())
//!     .await?;
//! # Ok(()) }
//! ```

mod config;
mod shed;
mod timer;

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture, Pending};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_service::Service;

pub use config::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_SHEDDING, MAX_HEADER_READ_TIMEOUT, ServeConfig, ServeConfigBuilder,
};

use crate::security_headers::SecurityHeaders;

/// Serves `service` (an axum `Router`, or any service like it) on `listener`; await the
/// returned [`Serve`] to run it. See the [module docs](self).
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S, Pending<()>>
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    Serve {
        listener,
        service,
        config: ServeConfig::new(),
        security: SecurityHeaders::api(),
        #[cfg(feature = "jobs")]
        jobs: None,
        shutdown: std::future::pending(),
    }
}

/// A server to await; built by [`serve`].
#[must_use = "a server does nothing until awaited"]
pub struct Serve<S, F> {
    listener: TcpListener,
    service: S,
    config: ServeConfig,
    security: SecurityHeaders,
    #[cfg(feature = "jobs")]
    jobs: Option<crate::jobs::BackgroundJobs>,
    shutdown: F,
}

impl<S, F> fmt::Debug for Serve<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl<S, F> Serve<S, F> {
    /// The transport bounds (default: [`ServeConfig::new`]).
    pub fn config(mut self, config: ServeConfig) -> Self {
        self.config = config;
        self
    }

    /// The security headers of the 503 that shed connections get (default:
    /// [`SecurityHeaders::api`]); use the set the router's edge layer adds.
    pub fn security_headers(mut self, headers: SecurityHeaders) -> Self {
        self.security = headers;
        self
    }

    /// Stops accepting when `signal` resolves, then drains in-flight requests.
    pub fn with_graceful_shutdown<F2>(self, signal: F2) -> Serve<S, F2>
    where
        F2: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            service: self.service,
            config: self.config,
            security: self.security,
            #[cfg(feature = "jobs")]
            jobs: self.jobs,
            shutdown: signal,
        }
    }

    /// After the drain, waits for `jobs` (bounded by [`ServeConfig::drain_timeout`])
    /// before the server's future resolves: closed only then, so the requests being
    /// drained can still spawn jobs, and those are waited for too.
    #[cfg(feature = "jobs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jobs")))]
    pub fn background_jobs(mut self, jobs: crate::jobs::BackgroundJobs) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// The operating system's, from `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S, F> IntoFuture for Serve<S, F>
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    /// Never an error today: accept errors are logged and retried (a full descriptor
    /// table must not stop the server); the `io::Result` keeps `axum::serve`'s shape.
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Self {
                listener,
                service,
                config,
                security,
                #[cfg(feature = "jobs")]
                jobs,
                shutdown,
            } = self;
            let graceful = accept_loop(&listener, service, config, &security, shutdown).await;
            drop(listener);
            let timeout = config.drain_timeout();
            if tokio::time::timeout(timeout, graceful.shutdown())
                .await
                .is_err()
            {
                tracing::warn!(
                    timeout_ms = timeout.as_millis(),
                    "in-flight requests did not drain in time"
                );
            }
            #[cfg(feature = "jobs")]
            if let Some(jobs) = jobs {
                jobs.shutdown(timeout).await;
            }
            Ok(())
        })
    }
}

/// Accepts until `stop` resolves; returns the watcher of the connections still open.
async fn accept_loop<S>(
    listener: &TcpListener,
    service: S,
    config: ServeConfig,
    security: &SecurityHeaders,
    stop: impl Future<Output = ()>,
) -> GracefulShutdown
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header-read timeout through one Tokio timer per connection (see `timer`).
    http.timer(timer::HeaderTimer)
        .header_read_timeout(config.header_read_timeout())
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections()));
    let shedding = Arc::new(Semaphore::new(config.max_shedding()));
    #[cfg(feature = "metrics")]
    let shed_total = metrics::counter!(crate::telemetry::CONNECTIONS_SHED_TOTAL);
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
            #[cfg(feature = "metrics")]
            shed_total.increment(1);
            shed_since_log += 1;
            // One warning per second at most: a flood must not become a log flood.
            if last_shed_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(
                    max_connections = config.max_connections(),
                    shed = shed_since_log,
                    "connection cap reached: shedding new connections with 503"
                );
                last_shed_log = Some(Instant::now());
                shed_since_log = 0;
            }
            if let Ok(permit) = Arc::clone(&shedding).try_acquire_owned() {
                let response = shed::response(security);
                tokio::spawn(async move {
                    shed::shed(stream, response).await;
                    drop(permit);
                });
            }
            continue;
        };
        // Responses are written in one go; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), per_connection(service.clone(), peer));
        let conn = graceful.watch(conn);
        tokio::spawn(timer::HeaderTimer::scope(async move {
            // Errors here are the client's (reset, header timeout): nothing to act on.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        }));
    }
}

/// The per-connection hyper service: `service`, with the peer as `ConnectInfo`.
fn per_connection<S>(
    service: S,
    peer: SocketAddr,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        service.clone().oneshot(req)
    })
}

/// Accept errors: per-connection ones are skipped; resource exhaustion (EMFILE, ENFILE,
/// ENOBUFS) pauses accepting briefly instead of spinning.
async fn accept_error(e: &io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing accepts for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM: the usual argument of
/// [`Serve::with_graceful_shutdown`]. A signal that cannot be listened for never
/// resolves (the other still does).
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
