//! Gauges per check through the `metrics` facade (feature `metrics`).
//!
//! - `keel_health_check_status{check, status}`: one series per status, 1 for the
//!   current status and 0 for the others (the kube-state-metrics idiom, so
//!   `keel_health_check_status{status="fail"} == 1` is the alert).
//! - `keel_health_check_duration_seconds{check}`: how long the latest run took.
//!
//! Recorded when a run completes, so polled or cached, the gauges follow the results.

use std::sync::Arc;
use std::time::Duration;

use crate::Status;

pub(crate) const STATUS: &str = "keel_health_check_status";
pub(crate) const DURATION: &str = "keel_health_check_duration_seconds";

pub(crate) fn describe() {
    metrics::describe_gauge!(
        STATUS,
        "Latest status of a health check: 1 for the current status label, 0 for the others."
    );
    metrics::describe_gauge!(
        DURATION,
        metrics::Unit::Seconds,
        "Duration of the latest run of a health check."
    );
}

pub(crate) fn record(check: &Arc<str>, status: Status, duration: Duration) {
    for s in [Status::Pass, Status::Warn, Status::Fail] {
        let value = if s == status { 1.0 } else { 0.0 };
        metrics::gauge!(STATUS, "check" => Arc::clone(check), "status" => s.as_str()).set(value);
    }
    metrics::gauge!(DURATION, "check" => Arc::clone(check)).set(duration.as_secs_f64());
}
