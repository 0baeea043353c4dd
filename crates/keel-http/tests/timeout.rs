//! `TimeoutLayer` on Tokio's paused clock: the deadline counts from the call, slow
//! handlers get the status, fast and waiting-but-in-time handlers their response.
#![cfg(feature = "timeout")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use keel_http::TimeoutLayer;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

fn app(layer: TimeoutLayer) -> Router {
    Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/wait/{ms}",
            get(
                |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "waited"
                },
            ),
        )
        .layer(layer)
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn status_and_elapsed(app: &Router, path: &str) -> (StatusCode, Duration) {
    let start = Instant::now();
    let res = app.clone().oneshot(get_req(path)).await.unwrap();
    (res.status(), start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn slow_handlers_time_out_fast_ones_answer() {
    let app = app(TimeoutLayer::new(Duration::from_secs(10)));
    assert_eq!(
        status_and_elapsed(&app, "/fast").await,
        (StatusCode::OK, Duration::ZERO)
    );
    // Waits, but within the limit: the handler's answer.
    assert_eq!(
        status_and_elapsed(&app, "/wait/9999").await,
        (StatusCode::OK, Duration::from_millis(9999))
    );
    // Over the limit: 504 at exactly the deadline, the handler dropped.
    let (status, elapsed) = status_and_elapsed(&app, "/wait/60000").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(elapsed, Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_counts_from_the_call_not_from_the_first_wait() {
    // A service whose future only starts its 2 s wait when first polled.
    let inner = tower::service_fn(|_: Request<Body>| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<_, std::convert::Infallible>(axum::response::Response::new(Body::empty()))
    });
    let mut svc = TimeoutLayer::new(Duration::from_secs(10)).layer(inner);
    let fut = svc.call(get_req("/"));
    // 9 s pass between the call and the first poll: 1 s is left, not 10.
    tokio::time::advance(Duration::from_secs(9)).await;
    let start = Instant::now();
    let res = fut.await.unwrap();
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn the_status_is_configurable_and_the_body_empty() {
    let layer = TimeoutLayer::new(Duration::from_millis(5)).status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(layer.timeout(), Duration::from_millis(5));
    let res = app(layer).oneshot(get_req("/wait/50")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    assert!(body.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unrepresentable_timeout_never_fires() {
    let app = app(TimeoutLayer::new(Duration::MAX));
    assert_eq!(
        status_and_elapsed(&app, "/wait/3600000").await,
        (StatusCode::OK, Duration::from_secs(3600))
    );
}
