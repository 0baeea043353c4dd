//! keel-health: the cost of the liveness endpoint, of a cached full report, and the
//! concurrency of live checks.
//!
//! Targets (issue #8): liveness through the axum router close to an empty handler; a full
//! report over 10 cached checks in microseconds; 10 live checks of 1 ms each ≈ 1 ms, not
//! the 10 ms of running them one after another.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use keel_health::{CheckOptions, Detail, Health};
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn call(rt: &tokio::runtime::Runtime, router: &Router, path: &'static str) -> u16 {
    rt.block_on(async {
        let req = Request::get(path)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let res = router
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        res.status().as_u16()
    })
}

fn liveness(c: &mut Criterion) {
    let rt = runtime();
    let empty: Router = Router::new().route("/health/live", get(|| async {}));
    let hand_rolled: Router = Router::new().route(
        "/health/live",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"status":"pass"}"#,
            )
        }),
    );
    // A realistic registry: dependencies are readiness checks, so liveness runs none.
    let mut builder = Health::builder().service_id("bench");
    for i in 0..5 {
        builder = builder.check(format!("dep{i}:responseTime"), || async {});
    }
    let health = builder.build().unwrap_or_else(|e| panic!("{e}"));
    let keel: Router = health.router();

    let mut g = c.benchmark_group("health/liveness");
    g.bench_function("empty_handler", |b| {
        b.iter(|| call(&rt, &empty, "/health/live"));
    });
    g.bench_function("hand_rolled_json", |b| {
        b.iter(|| call(&rt, &hand_rolled, "/health/live"));
    });
    g.bench_function("keel_health", |b| {
        b.iter(|| call(&rt, &keel, "/health/live"));
    });
    g.finish();
}

fn cached_report(c: &mut Criterion) {
    let rt = runtime();
    let mut builder = Health::builder().service_id("bench").release_id("1.0.0");
    for i in 0..10 {
        let options = CheckOptions::builder(format!("dep{i}:responseTime"))
            .component_type("datastore")
            .ttl(Duration::from_secs(3600));
        builder = builder.check(options, || async {});
    }
    let health = builder.build().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(health.report()); // fill the cache

    let mut g = c.benchmark_group("health/report_10_cached");
    // What a hand-written endpoint does with 10 instant checks: run them and build JSON.
    g.bench_function("hand_rolled_serde_json", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut checks = serde_json::Map::new();
                for i in 0..10 {
                    let ok = black_box(async { true }).await;
                    let status = if ok { "pass" } else { "fail" };
                    checks.insert(
                        format!("dep{i}:responseTime"),
                        serde_json::json!([{ "status": status }]),
                    );
                }
                serde_json::to_vec(&serde_json::json!({ "status": "pass", "checks": checks }))
                    .map(|v| v.len())
            })
        });
    });
    g.bench_function("keel_status_only", |b| {
        b.iter(|| rt.block_on(async { health.report().await.to_json(Detail::StatusOnly).len() }));
    });
    g.bench_function("keel_full_json", |b| {
        b.iter(|| rt.block_on(async { health.report().await.to_json(Detail::Full).len() }));
    });
    g.finish();
}

fn live_checks(c: &mut Criterion) {
    let rt = runtime();
    let mut builder = Health::builder();
    for i in 0..10 {
        let options = CheckOptions::builder(format!("dep{i}:responseTime")).ttl(Duration::ZERO);
        builder = builder.check(options, || async {
            tokio::time::sleep(Duration::from_millis(1)).await;
        });
    }
    let health = builder.build().unwrap_or_else(|e| panic!("{e}"));

    let mut g = c.benchmark_group("health/report_10_live_1ms");
    // A typical FastAPI service: one check after another.
    g.bench_function("sequential", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
        });
    });
    // The floor: a single 1 ms check (tokio's timer has 1 ms granularity).
    g.bench_function("single_sleep_1ms", |b| {
        b.iter(|| rt.block_on(async { tokio::time::sleep(Duration::from_millis(1)).await }));
    });
    g.bench_function("keel_health", |b| {
        b.iter(|| rt.block_on(async { health.report().await.status() }));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = liveness, cached_report, live_checks
}
criterion_main!(benches);
