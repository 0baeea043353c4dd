//! Logs (tracing; keel-http's JSON format in production) and metrics (Prometheus text
//! through the `metrics` facade). The HTTP access log and per-route metrics are
//! keel-http's `TelemetryLayer` (see [`crate::middleware`]); this is the process's
//! choice of subscriber and exporter.

use std::sync::OnceLock;
use std::time::Duration;

use keel_http::json_log;
use keel_http::telemetry::{LATENCY_BUCKETS, describe_metrics};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber (`RUST_LOG`, default `info`) writing to stdout
/// through keel-http's non-blocking writer. Idempotent: a second call (tests start
/// several services in one process) keeps the first subscriber. Keep the returned guard
/// alive until exit: dropping it flushes.
pub fn init_tracing(format: LogFormat) -> json_log::WorkerGuard {
    let (writer, guard) = json_log::non_blocking_stdout();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match format {
        LogFormat::Json => json_log::json_subscriber(writer, filter).try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .try_init(),
    };
    drop(result);
    guard
}

/// How often the recorder's upkeep (histogram draining) runs: often enough for histograms
/// to stay bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use, with its upkeep on one
/// thread of its own (as the exporter's own `install` does).
///
/// The `metrics` facade has one global recorder per process, so every service instance
/// in a process (tests run two, each on its own runtime) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                // Only fails for an empty bucket list.
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only this service's own");
            }
            let upkeep = handle.clone();
            let thread = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(e) = thread {
                tracing::warn!(error = %e, "no metrics upkeep thread: histograms grow until scraped");
            }
            describe_metrics();
            metrics::describe_counter!("background_jobs_total", "Background jobs started, by kind");
            handle
        })
        .clone()
}
