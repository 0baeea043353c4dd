//! `StrictCors` through a real router: preflights and simple requests from a listed
//! origin get a credentialed answer with keel's headers exposed; any other origin gets no
//! CORS grant at all.
#![cfg(feature = "cors")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Method, Request, Response, StatusCode, header};
use axum::routing::get;
use keel_http::cors::StrictCors;
use tower::ServiceExt;

fn app(cors: &StrictCors) -> Router {
    Router::new()
        .route("/r", get(|| async { "ok" }).post(|| async { "ok" }))
        .layer(cors.layer())
}

fn policy() -> StrictCors {
    StrictCors::from_list("https://app.example, http://localhost:3000/")
        .unwrap()
        .expose_header(header::LOCATION)
        .allow_header(HeaderName::from_static("idempotency-key"))
}

async fn preflight(app: Router, origin: &str, method: &str) -> Response<Body> {
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/r")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap();
    app.oneshot(req).await.unwrap()
}

#[tokio::test]
async fn a_listed_origin_gets_a_credentialed_preflight() {
    let res = preflight(app(&policy()), "http://localhost:3000", "PATCH").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:3000"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
    let methods = h[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap();
    assert_eq!(methods, "GET,POST,PUT,PATCH,DELETE");
    let allowed = h[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
    assert_eq!(
        allowed,
        "authorization,content-type,x-request-id,idempotency-key"
    );
    // Caches key on the origin: one origin's answer is never served to another.
    assert!(h[header::VARY].to_str().unwrap().contains("origin"));
}

#[tokio::test]
async fn a_listed_origin_reads_keel_headers() {
    let req = Request::post("/r")
        .header(header::ORIGIN, "https://app.example")
        .body(Body::empty())
        .unwrap();
    let res = app(&policy()).oneshot(req).await.unwrap();
    let h = res.headers();
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    assert_eq!(
        h[header::ACCESS_CONTROL_EXPOSE_HEADERS],
        "x-request-id,retry-after,ratelimit,ratelimit-policy,location"
    );
}

#[tokio::test]
async fn other_origins_get_no_grant() {
    for origin in [
        "https://evil.example",
        "https://app.example.evil.example",
        "http://app.example",
        "null",
        "https://APP.example.",
    ] {
        let res = preflight(app(&policy()), origin, "DELETE").await;
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none(),
            "{origin}"
        );
        let req = Request::get("/r")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap();
        let res = app(&policy()).oneshot(req).await.unwrap();
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none(),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn settings_reach_the_layer() {
    let cors = StrictCors::new(["https://app.example"])
        .unwrap()
        .allow_methods([Method::GET])
        .max_age(Duration::from_secs(30))
        .without_credentials();
    let res = preflight(app(&cors), "https://app.example", "GET").await;
    let h = res.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "GET");
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "30");
    assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
}

#[tokio::test]
async fn an_empty_policy_grants_nothing() {
    let cors = StrictCors::from_list(" , ").unwrap();
    assert!(cors.is_empty());
    let res = preflight(app(&cors), "https://app.example", "GET").await;
    assert!(
        res.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}
