//! Per-check timeouts, concurrency and panics, on tokio's paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use keel_health::{CheckOptions, Health, Status};
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn ten_hung_checks_time_out_together() {
    let mut builder = Health::builder();
    for i in 0..10 {
        builder = builder.check(
            CheckOptions::builder(format!("slow{i}:responseTime"))
                .timeout(Duration::from_millis(200)),
            || async {
                sleep(Duration::from_secs(2)).await;
            },
        );
    }
    let health = builder.build().unwrap();
    let started = Instant::now();
    let report = health.ready().await;
    let took = started.elapsed();
    assert!(took <= Duration::from_millis(250), "took {took:?}");
    assert!(took >= Duration::from_millis(200), "took {took:?}");
    assert_eq!(report.status(), Status::Fail);
    assert_eq!(report.checks().len(), 10);
    for c in report.checks() {
        assert_eq!(c.status(), Status::Fail, "{}", c.name());
        assert_eq!(
            c.observation().output(),
            Some("timed out after 200ms"),
            "{}",
            c.name()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn checks_run_concurrently() {
    let mut builder = Health::builder();
    for i in 0..10 {
        builder = builder.check(format!("c{i}:responseTime"), || async {
            sleep(Duration::from_millis(100)).await;
        });
    }
    let health = builder.build().unwrap();
    let started = Instant::now();
    let report = health.report().await;
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(report.status(), Status::Pass);
    // `:responseTime` checks without a value of their own report their duration.
    for c in report.checks() {
        assert_eq!(
            c.observation().observed_value(),
            Some(&serde_json::json!(100.0))
        );
        assert_eq!(c.observation().observed_unit(), Some("ms"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_fails_without_taking_the_endpoint_down() {
    let health = Health::builder()
        .check("boom", || async {
            if true {
                panic!("check bug");
            }
        })
        .check("fine", || async {})
        .build()
        .unwrap();
    let report = health.ready().await;
    assert_eq!(report.status(), Status::Fail);
    let boom = &report.checks()[0];
    assert_eq!(
        (boom.status(), boom.observation().output()),
        (Status::Fail, Some("check panicked"))
    );
    assert_eq!(report.checks()[1].status(), Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn a_non_critical_timeout_only_degrades() {
    let health = Health::builder()
        .check("db", || async {})
        .check(
            CheckOptions::builder("cache")
                .non_critical()
                .timeout(Duration::from_millis(50)),
            || async {
                sleep(Duration::from_secs(10)).await;
            },
        )
        .build()
        .unwrap();
    let report = health.ready().await;
    assert_eq!(
        (report.status(), report.http_status_code()),
        (Status::Warn, 200)
    );
    assert_eq!(report.checks()[1].status(), Status::Fail);
}

#[test]
fn outside_a_runtime_checks_fail_instead_of_panicking() {
    let health = Health::builder().check("db", || async {}).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Evaluate a future created here but driven by a runtime-less executor: emulate by
    // polling once with a noop waker; acquisition happens on first poll.
    let fut = health.ready();
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(report) => {
            assert_eq!(report.status(), Status::Fail);
            assert!(
                report.checks()[0]
                    .observation()
                    .output()
                    .unwrap()
                    .contains("no tokio runtime")
            );
        }
        std::task::Poll::Pending => panic!("without a runtime the report must be immediate"),
    }
    // Inside a runtime it runs normally (the failure above was not cached).
    assert_eq!(rt.block_on(health.ready()).status(), Status::Pass);
    assert!(health.spawn_poller().is_err());
}
