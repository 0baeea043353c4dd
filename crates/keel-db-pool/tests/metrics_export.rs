//! The `metrics` feature publishes through the `metrics` recorder.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_db_pool::{Config, LevelFilter, Pool};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// Keeps every registered series, keyed `name{k=v,...}`.
#[derive(Default)]
struct TestRecorder {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
    samples: Mutex<HashMap<String, Arc<Samples>>>,
}

fn series(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl TestRecorder {
    fn value(&self, key: &str) -> Arc<AtomicU64> {
        Arc::clone(
            self.values
                .lock()
                .unwrap()
                .entry(key.to_owned())
                .or_default(),
        )
    }
    fn counter(&self, key: &str) -> u64 {
        self.value(key).load(Ordering::Relaxed)
    }
    fn gauge(&self, key: &str) -> f64 {
        f64::from_bits(self.value(key).load(Ordering::Relaxed))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.value(&series(key)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.value(&series(key)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let s = Arc::clone(self.samples.lock().unwrap().entry(series(key)).or_default());
        Histogram::from_arc(s)
    }
}

#[tokio::test]
async fn pool_figures_reach_the_recorder() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let recorder = TestRecorder::default();
    let config = Config::builder()
        .url(&url)
        .name("metrics_test")
        .max_size(2)
        // Every statement counts as slow (and is not logged): the counter is exported.
        .log_slow_statements(LevelFilter::OFF, Duration::ZERO)
        .maintenance_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    // Handles are resolved when the pool is built.
    let pool = metrics::with_local_recorder(&recorder, || Pool::new(config)).unwrap();
    for _ in 0..5 {
        pool.query_one("SELECT 1", &[]).await.unwrap();
    }
    let held = pool.get().await.unwrap();

    let open = "keel_db_pool_connections{pool=metrics_test,state=open}";
    let in_use = "keel_db_pool_connections{pool=metrics_test,state=in_use}";
    let deadline = Instant::now() + Duration::from_secs(5);
    while recorder.gauge(in_use) < 1.0 {
        assert!(Instant::now() < deadline, "gauges were not published");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(recorder.gauge(open), 1.0);
    assert_eq!(
        recorder.gauge("keel_db_pool_max_size{pool=metrics_test}"),
        2.0
    );
    assert_eq!(
        recorder.counter("keel_db_pool_connections_created_total{pool=metrics_test}"),
        1
    );
    let waits = recorder
        .samples
        .lock()
        .unwrap()
        .get("keel_db_pool_checkout_wait_seconds{pool=metrics_test}")
        .map(|s| s.0.lock().unwrap().len());
    assert_eq!(waits, Some(6));
    assert_eq!(
        recorder.counter("keel_db_pool_slow_statements_total{pool=metrics_test}"),
        5
    );
    drop(held);

    // Closing by cause is counted as it happens.
    pool.invalidate();
    assert_eq!(
        recorder
            .counter("keel_db_pool_connections_closed_total{cause=invalidated,pool=metrics_test}"),
        1
    );
}
