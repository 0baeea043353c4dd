//! The reference service's middleware stack (keel-http's `ApiStack`), one layer at a time:
//! what each layer costs per request in time and in allocations, next to the bare axum
//! router (the peer).
//!
//! Every row serves `GET /health/live` (no `Accept-Encoding`, as `wrk` sends it) through
//! `tower::ServiceExt::oneshot` on a current-thread runtime, body collected. Row 1 swaps
//! the bare handler for keel-health's status-only liveness handler; row 3 wraps it in an
//! identity layer through `Router::layer` (axum's own per-`layer` cost); each further row
//! adds the next layer of `keel_http::stack::LAYERS`, outermost first (`ApiStack::outermost`),
//! with the service's settings (no CORS origin, no HSTS, 10 s timeout, 64 KiB body limit,
//! the global limit), its JSON log subscriber (writing to a sink at `info`) and its
//! Prometheus recorder installed. The rate-limit row uses a limiter
//! that never denies and does not exempt the path (the service exempts `/health`), so its
//! cost shows.
//!
//! Output: the criterion groups `http_stack/health_live` (bare router vs the keel-health
//! handler vs the full stack) and `http_stack/telemetry_layer` (keel-http's
//! `TelemetryLayer` alone around a handler that answers at once, vs that handler), and an
//! interleaved per-layer measurement (rounds alternate every row, the median per-request
//! time per row is reported, which cancels the drift of a shared machine) with allocations per request counted by a counting global allocator
//! (`stats_alloc`). The table is printed and written to
//! `target/criterion/http_stack_layers.json`, from which `cargo xtask bench` regenerates
//! the table in `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use keel_health::Health;
use keel_health::axum::{DetailsPolicy, HealthRouter};
use keel_http::stack::{ApiStack, LAYERS};
use keel_ratelimit::Limiter;
use keel_ratelimit::axum::{KeyExtractor, RateLimitLayer, TrustedProxies};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The service's log subscriber (keel-http's JSON format) and metrics recorder, as in
/// production (logs to a sink).
fn install_telemetry() {
    let filter = tracing_subscriber::EnvFilter::new("info");
    let _ = keel_http::json_log::json_subscriber(std::io::sink, filter).try_init();
    let _ = keel_http::prometheus::Prometheus::install();
}

fn bare() -> Router {
    Router::new().route(
        "/health/live",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "application/health+json")],
                r#"{"status":"pass"}"#,
            )
        }),
    )
}

fn health() -> Router {
    let health = Health::builder().service_id("bench").build().unwrap();
    HealthRouter::new(health)
        .details(DetailsPolicy::never())
        .into_router()
}

/// The reference service's stack (`middleware::stack`) with its default settings: its
/// security headers without HSTS, no CORS origin, a 10 s timeout, the 64 KiB body limit.
fn stack() -> ApiStack<RateLimitLayer> {
    let limiter = Limiter::memory_from_spec("1000000/second").unwrap();
    let key = KeyExtractor::client_ip(TrustedProxies::cidrs(Vec::<String>::new()).unwrap());
    let limit = RateLimitLayer::new(limiter, key).renderer(keel_ratelimit::axum::EnvelopeRenderer);
    ApiStack::new()
        .security_headers(reference_service::middleware::security_headers(false))
        .timeout(Duration::from_secs(10))
        .rate_limit(limit)
}

/// (row label, router): the bare peer, the keel-health handler, then one more layer per row.
fn rows() -> Vec<(String, Router)> {
    let stack = stack();
    let mut rows = vec![
        ("bare axum router (peer)".to_owned(), bare()),
        ("keel-health liveness handler".to_owned(), health()),
        // What axum's `Router::layer` costs by itself (it boxes each route's layered
        // service and its future), so the first keel row's Δ is the edge layer's own.
        (
            "axum `Router::layer` (identity layer)".to_owned(),
            health().layer(tower::layer::util::Identity::new()),
        ),
    ];
    for (i, name) in LAYERS.iter().enumerate() {
        rows.push((
            format!("+ {name}"),
            health().layer(stack.clone().outermost(i + 1)),
        ));
    }
    rows
}

fn request() -> Request<Body> {
    let mut req = Request::get("/health/live")
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    req
}

async fn one(router: &Router) -> usize {
    let res = router.clone().oneshot(request()).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.into_body().collect().await.unwrap().to_bytes().len()
}

fn criterion_group_fn(c: &mut Criterion) {
    install_telemetry();
    let rt = runtime();
    let rows = rows();
    let full = &rows[rows.len() - 1].1;
    let mut g = c.benchmark_group("http_stack/health_live");
    for (name, router) in [
        ("bare_router", &rows[0].1),
        ("keel_health_handler", &rows[1].1),
        ("keel_full_stack", full),
    ] {
        g.bench_function(name, |b| b.iter(|| black_box(rt.block_on(one(router)))));
    }
    g.finish();
}

/// keel-http's `TelemetryLayer` alone (request span, JSON access line to a sink, metrics)
/// around a handler that answers at once, next to the same handler without it: what the
/// layer costs per request without the router's noise around it.
fn telemetry_layer(c: &mut Criterion) {
    use tower::Layer as _;

    install_telemetry();
    let rt = runtime();
    let handler = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(axum::http::Response::new(Body::empty()))
    });
    let layered = keel_http::TelemetryLayer::new().layer(handler);
    let req = || {
        Request::get("/api/v1/users/7")
            .header("x-request-id", "0193a0c4-5f7e-7d3a-9c1e-2b4f6a8d0e1f")
            .body(Body::empty())
            .unwrap()
    };
    let mut g = c.benchmark_group("http_stack/telemetry_layer");
    g.bench_function("handler_alone", |b| {
        b.iter(|| black_box(rt.block_on(handler.oneshot(req())).unwrap()));
    });
    g.bench_function("with_telemetry_layer", |b| {
        b.iter(|| black_box(rt.block_on(layered.clone().oneshot(req())).unwrap()));
    });
    g.finish();
}

/// The per-layer table: interleaved timing, counted allocations.
fn layers(_: &mut Criterion) {
    install_telemetry();
    let rt = runtime();
    let rows = rows();
    let full = std::env::var("KEEL_BENCH_FULL").is_ok_and(|v| v == "1");
    let (rounds, batch) = if full { (60, 4_000) } else { (25, 1_500) };

    // Warm up every row (caches, metric handles, lazily built tables).
    for (_, r) in &rows {
        rt.block_on(async {
            for _ in 0..500 {
                black_box(one(r).await);
            }
        });
    }

    // Allocations per request: deterministic, counted over 1,000 requests.
    let allocs: Vec<(f64, f64)> = rows
        .iter()
        .map(|(_, r)| {
            let region = Region::new(GLOBAL);
            rt.block_on(async {
                for _ in 0..1_000 {
                    black_box(one(r).await);
                }
            });
            let s = region.change();
            #[allow(clippy::cast_precision_loss)]
            (
                s.allocations as f64 / 1_000.0,
                s.bytes_allocated as f64 / 1_000.0,
            )
        })
        .collect();

    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); rows.len()];
    for _ in 0..rounds {
        for (i, (_, r)) in rows.iter().enumerate() {
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..batch {
                    black_box(one(r).await);
                }
            });
            #[allow(clippy::cast_precision_loss)]
            samples[i].push(start.elapsed().as_nanos() as f64 / f64::from(batch));
        }
    }
    let medians: Vec<f64> = samples
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();

    println!(
        "\nhttp_stack: per-layer cost, GET /health/live, median of {rounds} interleaved rounds of {batch}"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>12}",
        "row", "ns/req", "Δ ns", "allocs", "bytes"
    );
    let mut json_rows = Vec::new();
    for (i, (name, _)) in rows.iter().enumerate() {
        let delta = if i == 0 {
            0.0
        } else {
            medians[i] - medians[i - 1]
        };
        let (a, b) = allocs[i];
        let da = if i == 0 { 0.0 } else { a - allocs[i - 1].0 };
        println!(
            "{name:<40} {:>10.0} {:>+10.0} {:>10.1} {:>12.0}",
            medians[i], delta, a, b
        );
        json_rows.push(serde_json::json!({
            "row": name, "ns": medians[i].round(), "delta_ns": delta.round(),
            "allocs": a, "delta_allocs": da, "bytes": b.round(),
        }));
    }
    let bare_ns = medians[0];
    let full_ns = medians[medians.len() - 1];
    println!(
        "full stack ÷ bare router: {:.2}× the time ({:.2}× the throughput of one core)",
        full_ns / bare_ns,
        bare_ns / full_ns
    );
    let out = serde_json::json!({
        "endpoint": "GET /health/live",
        "rounds": rounds, "batch": batch,
        "rows": json_rows,
    });
    // Where criterion writes and `cargo xtask bench` reads: `$CARGO_TARGET_DIR` (relative
    // to the workspace root) when set, the workspace's `target/` otherwise.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |d| root.join(d))
        .join("criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("http_stack_layers.json"),
        serde_json::to_vec_pretty(&out).unwrap(),
    );
}

criterion_group! {
    name = benches;
    config = keel_benches::criterion_config();
    targets = layers, criterion_group_fn, telemetry_layer
}
criterion_main!(benches);
