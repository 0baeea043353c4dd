//! The process's Prometheus exporter, set up the way [`TelemetryLayer`](crate::TelemetryLayer)
//! needs it, in one call.
//!
//! [`Prometheus::install`] installs a process-wide `metrics-exporter-prometheus` recorder
//! (on the first call only; later calls return the same exporter), with:
//! - [`LATENCY_BUCKETS`] for every histogram whose
//!   name ends in `duration_seconds` (keel-http's request latency, keel-health's check
//!   durations, your own `*_duration_seconds`), so latency is exported as a Prometheus
//!   histogram rather than a summary;
//! - the upkeep (draining histogram samples) on a thread of its own every
//!   [`UPKEEP_INTERVAL`], as the exporter's own `install` does, so histograms stay
//!   bounded when nobody scrapes;
//! - keel-http's metrics described
//!   ([`describe_metrics`]).
//!
//! The `metrics` facade has one global recorder per process, so several services (or
//! tests) in one process share one exporter: calling `install` from each is correct.
//! Serve the text with [`Prometheus::response`] (or [`Prometheus::render`]) on a route
//! that is not public.
//!
//! ```
//! use axum::{Router, routing::get};
//! use keel_http::{TelemetryLayer, prometheus::Prometheus};
//!
//! let prometheus = Prometheus::install()?;
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "a user" }))
//!     .route("/metrics", get(move || async move { prometheus.response() }))
//!     .layer(TelemetryLayer::new());
//! # Ok::<(), keel_http::Error>(())
//! ```

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::Error;
use crate::telemetry::{LATENCY_BUCKETS, describe_metrics};

/// How often the upkeep thread drains histogram samples into their buckets.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The content type of the text exposition format [`Prometheus::response`] answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process-wide Prometheus exporter; cheap to clone.
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
}

impl fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prometheus").finish_non_exhaustive()
    }
}

/// The exporter installed by the first [`Prometheus::install`], or `None` when another
/// recorder was there first.
static INSTALLED: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

impl Prometheus {
    /// Installs the process-wide recorder on the first call (see the
    /// [module docs](self)) and returns the exporter; later calls, from any thread or
    /// runtime, return the same one.
    ///
    /// # Errors
    /// [`Error::RecorderInstalled`] when a recorder other than this one was installed in
    /// the process first (metrics recorded through the facade go there, so this exporter
    /// would show none of them).
    pub fn install() -> Result<Self, Error> {
        INSTALLED
            .get_or_init(install_recorder)
            .clone()
            .map(|handle| Self { handle })
            .ok_or(Error::RecorderInstalled)
    }

    /// The exporter's handle (to render, or to run upkeep by hand).
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }

    /// Every metric in the text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// A `200 OK` with [`render`](Self::render)'s text and [`CONTENT_TYPE`]: the body of a
    /// `/metrics` route.
    pub fn response(&self) -> Response {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], self.render()).into_response()
    }
}

fn install_recorder() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new();
    // Only fails for an empty bucket list, which LATENCY_BUCKETS is not.
    let builder = builder
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("another metrics recorder is installed: the Prometheus exporter is not");
        return None;
    }
    let upkeep = handle.clone();
    let thread = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = thread {
        // Rendering also drains, so scrapes still keep histograms bounded.
        tracing::warn!(error = %e, "no metrics upkeep thread: histograms grow until scraped");
    }
    describe_metrics();
    Some(handle)
}
