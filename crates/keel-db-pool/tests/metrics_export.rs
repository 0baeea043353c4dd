//! The `metrics` feature publishes through the `metrics` recorder.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use keel_db_pool::{Config, LevelFilter, Pool};
use keel_testkit::TestRecorder;

#[tokio::test]
async fn pool_figures_reach_the_recorder() {
    let Some(url) = keel_testkit::database_url() else {
        return;
    };
    let recorder = TestRecorder::new();
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
    while recorder.gauge(in_use) < Some(1.0) {
        assert!(Instant::now() < deadline, "gauges were not published");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(recorder.gauge(open), Some(1.0));
    assert_eq!(
        recorder.gauge("keel_db_pool_max_size{pool=metrics_test}"),
        Some(2.0)
    );
    assert_eq!(
        recorder.counter("keel_db_pool_connections_created_total{pool=metrics_test}"),
        1
    );
    let waits = recorder.histogram("keel_db_pool_checkout_wait_seconds{pool=metrics_test}");
    assert_eq!(waits.len(), 6);
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
