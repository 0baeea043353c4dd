//! End to end over a real socket: the loopback policy sees the peer address.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_health::Health;
use keel_health::axum::{DetailsPolicy, HealthRouter};
use keel_testkit::TestServer;

#[tokio::test]
async fn loopback_callers_get_details_over_tcp() {
    let health = Health::builder()
        .service_id("socket-test")
        .check("db:responseTime", || async {
            Err::<(), _>("connection refused")
        })
        .build()
        .unwrap();
    let app = HealthRouter::new(health.clone())
        .details(DetailsPolicy::loopback())
        .into_router::<()>();
    let server = TestServer::start(app).await;

    let ready = server.get("/health/ready").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        ready
            .to_ascii_lowercase()
            .contains("content-type: application/health+json"),
        "{ready}"
    );
    assert!(ready.contains(r#""serviceId":"socket-test""#), "{ready}");
    assert!(
        ready.contains(r#""output":"connection refused""#),
        "{ready}"
    );

    let live = server.get("/health/live").await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
}
