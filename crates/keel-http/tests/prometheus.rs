//! The process-wide Prometheus exporter: one per process whoever installs it, keel-http's
//! latency buckets and descriptions, requests through `TelemetryLayer` in its text.
#![cfg(feature = "prometheus")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use http_body_util::BodyExt;
use keel_http::TelemetryLayer;
use keel_http::prometheus::{CONTENT_TYPE, Prometheus};
use tower::ServiceExt;

#[tokio::test]
async fn one_exporter_per_process_with_latency_buckets() {
    // Several services (threads, runtimes) installing at once get one exporter.
    let installs: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| Prometheus::install().unwrap()))
        .collect();
    let exporters: Vec<Prometheus> = installs.into_iter().map(|t| t.join().unwrap()).collect();

    let metrics_route = exporters[0].clone();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "a user" }))
        .route(
            "/metrics",
            get(move || async move { metrics_route.response() }),
        )
        .layer(TelemetryLayer::new());
    let res = app
        .clone()
        .oneshot(Request::get("/users/7").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();

    // The request, by matched route, counted once (every installer sees the same series).
    let line = r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#;
    assert!(text.contains(line), "{text}");
    for exporter in &exporters[1..] {
        assert!(exporter.render().contains(line));
    }
    // A histogram with keel-http's buckets, not a summary.
    let bucket =
        r#"http_request_duration_seconds_bucket{method="GET",route="/users/{id}",le="0.0005"}"#;
    assert!(text.contains(bucket), "{text}");
    assert!(!text.contains("quantile="), "{text}");
    // Described.
    assert!(
        text.contains(
            "# HELP http_requests_total HTTP requests by method, matched route and status"
        ),
        "{text}"
    );
}
