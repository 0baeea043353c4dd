//! Another recorder installed first: the exporter refuses to pretend (its own process,
//! since the recorder is global).
#![cfg(feature = "prometheus")]
#![allow(clippy::unwrap_used)]

use keel_http::Error;
use keel_http::prometheus::Prometheus;

#[test]
fn another_recorder_first_is_an_error() {
    metrics::set_global_recorder(metrics::NoopRecorder).unwrap();
    assert_eq!(Prometheus::install().unwrap_err(), Error::RecorderInstalled);
    // And stays one: no exporter that would render nothing.
    assert_eq!(Prometheus::install().unwrap_err(), Error::RecorderInstalled);
}
