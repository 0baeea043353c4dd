//! TTL caching, single flight, probe storms and background polling.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::Request;
use keel_health::{Check, CheckOptions, Health, Probe, Status};
use tokio::time::sleep;
use tower::ServiceExt;

fn counting(runs: &Arc<AtomicUsize>, delay: Duration) -> impl Check {
    let runs = Arc::clone(runs);
    move || {
        let runs = Arc::clone(&runs);
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            sleep(delay).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_requests_run_each_check_once() {
    let counters: Vec<Arc<AtomicUsize>> = (0..5).map(|_| Arc::default()).collect();
    let mut builder = Health::builder();
    for (i, c) in counters.iter().enumerate() {
        let kinds = Probe::Readiness | Probe::Liveness;
        builder = builder.check(
            CheckOptions::builder(format!("dep{i}"))
                .probes(kinds)
                .ttl(Duration::from_secs(5)),
            counting(c, Duration::from_millis(20)),
        );
    }
    let router = builder.build().unwrap().router::<()>();
    let paths = [
        "/health/ready",
        "/health",
        "/health/live",
        "/health/startup",
    ];
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let router = router.clone();
            let path = paths[i % paths.len()];
            tokio::spawn(async move {
                let res = router
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                res.status()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    for c in &counters {
        assert_eq!(c.load(Ordering::SeqCst), 1);
    }
    // Still within the TTL: served from the cache.
    sleep(Duration::from_secs(4)).await;
    let res = router
        .clone()
        .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The runs finished at 20 ms; now is 4.02 s: 5 − 4 = 1 s of freshness left.
    assert_eq!(res.headers()["cache-control"], "max-age=1");
    for c in &counters {
        assert_eq!(c.load(Ordering::SeqCst), 1);
    }
    // After the TTL: one more run each.
    sleep(Duration::from_secs(1)).await;
    let _ = router
        .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    for c in &counters {
        assert_eq!(c.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn max_age_is_the_smallest_remaining_ttl() {
    let health = Health::builder()
        .check(
            CheckOptions::builder("a").ttl(Duration::from_secs(30)),
            || async {},
        )
        .check(
            CheckOptions::builder("b").ttl(Duration::from_secs(10)),
            || async {},
        )
        .build()
        .unwrap();
    assert_eq!(health.ready().await.max_age(), Duration::from_secs(10));
    sleep(Duration::from_secs(3)).await;
    assert_eq!(health.ready().await.max_age(), Duration::from_secs(7));
    let res = health
        .router::<()>()
        .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "max-age=7");
    assert_eq!(res.headers()["content-type"], "application/health+json");
}

#[tokio::test(start_paused = true)]
async fn zero_ttl_still_coalesces_concurrent_callers() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = Health::builder()
        .check(
            CheckOptions::builder("db").ttl(Duration::ZERO),
            counting(&runs, Duration::from_millis(10)),
        )
        .build()
        .unwrap();
    let (a, b, c) = tokio::join!(health.ready(), health.ready(), health.ready());
    assert!([a, b, c].iter().all(|r| r.status() == Status::Pass));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    health.ready().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2, "no caching with a zero TTL");
}

#[tokio::test(start_paused = true)]
async fn failures_are_cached_too() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let health = Health::builder()
        .check("db", move || {
            r.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("down") }
        })
        .build()
        .unwrap();
    for _ in 0..5 {
        assert_eq!(health.ready().await.status(), Status::Fail);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_caller_does_not_stall_the_others() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = Health::builder()
        .check("db", counting(&runs, Duration::from_millis(100)))
        .build()
        .unwrap();
    // The first caller starts the run and is dropped halfway.
    let first = tokio::time::timeout(Duration::from_millis(50), health.ready()).await;
    assert!(first.is_err());
    // The run goes on in its own task; a second caller joins it and gets its result.
    let started = tokio::time::Instant::now();
    assert_eq!(health.ready().await.status(), Status::Pass);
    assert_eq!(started.elapsed(), Duration::from_millis(50));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn background_polling_serves_from_memory() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = Health::builder()
        .check(
            CheckOptions::builder("db").ttl(Duration::from_secs(2)),
            counting(&runs, Duration::from_millis(500)),
        )
        .build()
        .unwrap();
    let poller = health.spawn_poller().unwrap();
    // The first answer waits for the first run…
    assert_eq!(health.ready().await.status(), Status::Pass);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // …later answers never wait, even when the result is older than the TTL and a
    // refresh is running.
    for _ in 0..10 {
        sleep(Duration::from_millis(700)).await;
        let started = tokio::time::Instant::now();
        let _ = health.ready().await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
    // 7 s of polling with a 2 s TTL: a refresh about every TTL, not one per request.
    let n = runs.load(Ordering::SeqCst);
    assert!((4..=5).contains(&n), "{n} runs");
    drop(poller);
    sleep(Duration::from_secs(10)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        n,
        "polling stops with the Poller"
    );
}

/// The same storm on a multi-threaded runtime, where callers really race for the slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_holds_under_real_parallelism() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = Health::builder()
        .check(
            CheckOptions::builder("db").ttl(Duration::from_secs(60)),
            counting(&runs, Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let health = health.clone();
            tokio::spawn(async move { health.ready().await.status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Status::Pass);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
