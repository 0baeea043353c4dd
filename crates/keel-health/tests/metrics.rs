//! The `metrics` feature: gauges per check, recorded through a global test recorder.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_health::{CheckOptions, Health, Status};
use metrics::{
    Counter, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

#[derive(Default)]
struct Cell(AtomicU64);

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::SeqCst)) + value);
    }
    fn decrement(&self, value: f64) {
        self.increment(-value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::SeqCst);
    }
}

#[derive(Default)]
struct TestRecorder {
    gauges: Mutex<HashMap<String, Arc<Cell>>>,
}

fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl TestRecorder {
    fn get(&self, key: &str) -> Option<f64> {
        self.gauges
            .lock()
            .unwrap()
            .get(key)
            .map(|c| f64::from_bits(c.0.load(Ordering::SeqCst)))
    }
}

impl Recorder for &'static TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let cell = Arc::clone(self.gauges.lock().unwrap().entry(render(key)).or_default());
        Gauge::from_arc(cell)
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test(start_paused = true)]
async fn gauges_follow_the_latest_result() {
    let recorder: &'static TestRecorder = Box::leak(Box::default());
    metrics::set_global_recorder(recorder).unwrap();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let u = Arc::clone(&up);
    let health = Health::builder()
        .check(
            CheckOptions::builder("db:responseTime").ttl(Duration::ZERO),
            move || {
                let up = u.load(Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    up
                }
            },
        )
        .build()
        .unwrap();
    assert_eq!(health.ready().await.status(), Status::Pass);
    assert_eq!(
        recorder.get("keel_health_check_status{check=db:responseTime,status=pass}"),
        Some(1.0)
    );
    assert_eq!(
        recorder.get("keel_health_check_status{check=db:responseTime,status=fail}"),
        Some(0.0)
    );
    assert_eq!(
        recorder.get("keel_health_check_duration_seconds{check=db:responseTime}"),
        Some(0.03)
    );
    up.store(false, Ordering::SeqCst);
    assert_eq!(health.ready().await.status(), Status::Fail);
    assert_eq!(
        recorder.get("keel_health_check_status{check=db:responseTime,status=pass}"),
        Some(0.0)
    );
    assert_eq!(
        recorder.get("keel_health_check_status{check=db:responseTime,status=warn}"),
        Some(0.0)
    );
    assert_eq!(
        recorder.get("keel_health_check_status{check=db:responseTime,status=fail}"),
        Some(1.0)
    );
}
