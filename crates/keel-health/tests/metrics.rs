//! The `metrics` feature: gauges per check, recorded through a global test recorder.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use keel_health::{CheckOptions, Health, Status};
use keel_testkit::TestRecorder;

#[tokio::test(start_paused = true)]
async fn gauges_follow_the_latest_result() {
    let recorder = TestRecorder::new().install_global();
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
        recorder.gauge("keel_health_check_status{check=db:responseTime,status=pass}"),
        Some(1.0)
    );
    assert_eq!(
        recorder.gauge("keel_health_check_status{check=db:responseTime,status=fail}"),
        Some(0.0)
    );
    assert_eq!(
        recorder.gauge("keel_health_check_duration_seconds{check=db:responseTime}"),
        Some(0.03)
    );
    up.store(false, Ordering::SeqCst);
    assert_eq!(health.ready().await.status(), Status::Fail);
    assert_eq!(
        recorder.gauge("keel_health_check_status{check=db:responseTime,status=pass}"),
        Some(0.0)
    );
    assert_eq!(
        recorder.gauge("keel_health_check_status{check=db:responseTime,status=warn}"),
        Some(0.0)
    );
    assert_eq!(
        recorder.gauge("keel_health_check_status{check=db:responseTime,status=fail}"),
        Some(1.0)
    );
}
