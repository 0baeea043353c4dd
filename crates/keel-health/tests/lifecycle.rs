//! Startup gating and drain.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::Request;
use keel_health::{CheckOptions, Health, Probe, Status};
use tower::ServiceExt;

fn flag_check(
    flag: &Arc<AtomicBool>,
) -> impl Fn() -> std::future::Ready<bool> + Send + Sync + 'static {
    let flag = Arc::clone(flag);
    move || std::future::ready(flag.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn readiness_fails_until_every_startup_check_passed_once() {
    let migrated = Arc::new(AtomicBool::new(false));
    let warmed = Arc::new(AtomicBool::new(false));
    let health = Health::builder()
        .check(
            CheckOptions::builder("migrations")
                .probes(Probe::Startup)
                .ttl(Duration::ZERO),
            flag_check(&migrated),
        )
        .check(
            CheckOptions::builder("cache:warm")
                .probes(Probe::Startup)
                .ttl(Duration::ZERO),
            flag_check(&warmed),
        )
        // A non-critical startup check does not gate.
        .check(
            CheckOptions::builder("optional")
                .probes(Probe::Startup)
                .non_critical(),
            || async { false },
        )
        .check("db", || async {})
        .build()
        .unwrap();
    assert!(!health.is_started());

    let ready = health.ready().await;
    assert_eq!(ready.status(), Status::Fail);
    assert_eq!(ready.notes(), ["starting"]);
    // While gated, readiness shows the startup checks too.
    assert_eq!(ready.checks().len(), 4);
    assert_eq!(health.startup().await.status(), Status::Fail);
    assert_eq!(
        health.live().await.status(),
        Status::Pass,
        "liveness is never gated"
    );

    // Each check passes at a different time: passing once is enough.
    migrated.store(true, Ordering::SeqCst);
    assert_eq!(health.ready().await.status(), Status::Fail);
    migrated.store(false, Ordering::SeqCst);
    warmed.store(true, Ordering::SeqCst);
    let ready = health.ready().await;
    assert_eq!(ready.status(), Status::Pass);
    assert!(health.is_started());
    assert_eq!(
        ready.checks().iter().map(|c| c.name()).collect::<Vec<_>>(),
        ["db"]
    );

    // Latched: later startup failures change nothing, the startup probe answers from memory.
    warmed.store(false, Ordering::SeqCst);
    assert_eq!(health.ready().await.status(), Status::Pass);
    let startup = health.startup().await;
    assert_eq!(startup.status(), Status::Pass);
    assert!(startup.checks().is_empty());
}

#[tokio::test]
async fn without_startup_checks_the_service_is_started() {
    let health = Health::builder().check("db", || async {}).build().unwrap();
    assert!(health.is_started());
    assert_eq!(health.startup().await.status(), Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn the_startup_endpoint_turns_200_once_started() {
    let up = Arc::new(AtomicBool::new(false));
    let health = Health::builder()
        .check(
            CheckOptions::builder("migrations")
                .probes(Probe::Startup)
                .ttl(Duration::ZERO),
            flag_check(&up),
        )
        .build()
        .unwrap();
    let router = health.router::<()>();
    let get = |path: &'static str| {
        let router = router.clone();
        async move {
            router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get("/health/startup").await, 503);
    assert_eq!(get("/health/ready").await, 503);
    up.store(true, Ordering::SeqCst);
    assert_eq!(get("/health/startup").await, 200);
    assert_eq!(get("/health/ready").await, 200);
}

#[tokio::test(start_paused = true)]
async fn drain_fails_readiness_first_and_runs_no_check() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let health = Health::builder()
        .check(CheckOptions::builder("db").ttl(Duration::ZERO), move || {
            r.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .build()
        .unwrap();
    let router = health.router::<()>();
    assert_eq!(health.ready().await.status(), Status::Pass);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let waiting = tokio::spawn({
        let health = health.clone();
        async move { health.drain_and_wait(Duration::from_secs(10)).await }
    });
    tokio::task::yield_now().await;
    assert!(health.is_draining());
    let ready = health.ready().await;
    assert_eq!(
        (ready.status(), ready.notes()),
        (Status::Fail, &["draining"][..])
    );
    assert_eq!(
        ready.output(),
        Some("draining: the service is shutting down")
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "draining answers without running checks"
    );
    let res = router
        .clone()
        .oneshot(Request::get("/health/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["cache-control"], "max-age=0");
    // Liveness keeps passing so the orchestrator does not kill the process early.
    let res = router
        .clone()
        .oneshot(Request::get("/health/live").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The full report still reports the checks, with a note.
    let full = health.report().await;
    assert_eq!(
        (full.status(), full.notes()),
        (Status::Pass, &["draining"][..])
    );

    assert!(!waiting.is_finished());
    tokio::time::sleep(Duration::from_secs(10)).await;
    waiting.await.unwrap();
    health.drain(); // idempotent
    assert!(health.is_draining());
}

#[tokio::test(start_paused = true)]
async fn liveness_runs_only_liveness_checks() {
    let deps = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&deps);
    let health = Health::builder()
        .check("db", move || {
            d.fetch_add(1, Ordering::SeqCst);
            async { false }
        })
        .build()
        .unwrap();
    let live = health.live().await;
    assert_eq!(live.status(), Status::Pass);
    assert!(live.checks().is_empty());
    assert_eq!(
        deps.load(Ordering::SeqCst),
        0,
        "a database outage must not fail liveness"
    );

    let health = Health::builder()
        .check(
            CheckOptions::builder("deadlock").probes(Probe::Liveness),
            || async { false },
        )
        .build()
        .unwrap();
    assert_eq!(health.live().await.status(), Status::Fail);
    assert_eq!(health.ready().await.status(), Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn a_background_poller_completes_startup_without_any_probe() {
    let health = Health::builder()
        .check(
            CheckOptions::builder("migrations").probes(Probe::Startup),
            || async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                true
            },
        )
        .build()
        .unwrap();
    let _poller = health.spawn_poller().unwrap();
    assert!(!health.is_started());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(health.is_started());
    assert_eq!(health.ready().await.status(), Status::Pass);
}

#[tokio::test(start_paused = true)]
async fn drain_after_waits_for_the_signal_then_the_delay() {
    let health = Health::builder().build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stop = tokio::spawn(health.drain_after(
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    // No signal yet: still ready, the server keeps accepting.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!health.is_draining());
    assert!(!stop.is_finished());

    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    // Readiness fails at once, but serving goes on for the delay.
    assert!(health.is_draining());
    assert_eq!(health.ready().await.status(), Status::Fail);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!stop.is_finished());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(stop.is_finished());
    stop.await.unwrap();
}
