//! `ApiStack` through `Router` + `oneshot`: every response has the security headers and a
//! request id (404, 405, 413, 429, 500 from a panic, 504), errors are envelopes, compression
//! sits outside the error renderer, CORS answers preflights before the rate limit and is
//! absent when no policy is set (no grant, no `Vary: origin`), and `outermost(n)` builds the stack layer by layer.
#![cfg(all(feature = "stack", feature = "cors", feature = "compression"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use keel_envelope::axum::Json;
use keel_http::cors::StrictCors;
use keel_http::security_headers::DEFAULTS;
use keel_http::stack::{ApiStack, ErrorFormat, LAYERS};
use tower::ServiceExt;

const ORIGIN: &str = "https://app.example";

fn routes() -> Router {
    Router::new()
        .route(
            "/json",
            get(|| async {
                let users: Vec<String> = (0..50).map(|i| format!("user {i}")).collect();
                axum::Json(users)
            }),
        )
        .route(
            "/big",
            get(|| async {
                // About 2.5 KB: above the default compression minimum (1 KiB).
                let users: Vec<String> = (0..200).map(|i| format!("user {i}")).collect();
                axum::Json(users)
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("a bug in a handler");
                }
                "unreachable"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route(
            "/echo",
            // keel-envelope's extractor: its rejections (413 included) are envelopes.
            post(|Json(text): Json<String>| async move { text.len().to_string() }),
        )
}

/// A limiter that denies everything, as keel-ratelimit's layer answers a denial: a
/// bodiless 429 with `Retry-After` (the error layer outside it renders the envelope).
async fn deny_all(_: Request<Body>, _: Next) -> Response {
    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")]).into_response()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The security headers, a request id, and an error envelope carrying that id.
    #[track_caller]
    fn assert_error_envelope(&self, status: StatusCode) {
        assert_eq!(self.status, status);
        assert_edge_headers(&self.headers);
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(
            body["meta"]["request_id"].as_str(),
            self.headers["x-request-id"].to_str().ok(),
            "{body}"
        );
    }
}

#[track_caller]
fn assert_edge_headers(h: &HeaderMap) {
    for (name, value) in DEFAULTS {
        assert_eq!(
            h.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name} in {h:?}"
        );
    }
    assert!(h.contains_key("x-request-id"), "x-request-id in {h:?}");
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `POST /echo` with a JSON string document of exactly `len` bytes (quotes included).
fn echo(len: usize) -> Request<Body> {
    let body = format!("\"{}\"", "a".repeat(len - 2));
    let req = Request::post("/echo").header(header::CONTENT_TYPE, "application/json");
    req.body(Body::from(body)).unwrap()
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_error_is_an_envelope_with_the_security_headers() {
    let app = routes().layer(ApiStack::new());
    let ok = send(&app, get_req("/json")).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_edge_headers(&ok.headers);

    send(&app, get_req("/nope"))
        .await
        .assert_error_envelope(StatusCode::NOT_FOUND);
    let wrong_method = Request::delete("/json").body(Body::empty());
    send(&app, wrong_method.unwrap())
        .await
        .assert_error_envelope(StatusCode::METHOD_NOT_ALLOWED);
    let panicked = send(&app, get_req("/panic")).await;
    panicked.assert_error_envelope(StatusCode::INTERNAL_SERVER_ERROR);
    let text = String::from_utf8_lossy(&panicked.body);
    assert!(
        !text.contains("a bug in a handler"),
        "panic message leaked: {text}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_a_413_envelope() {
    let app = routes().layer(ApiStack::new());
    let at_limit = echo(64 * 1024);
    let res = send(&app, at_limit).await;
    assert_eq!(res.status, StatusCode::OK, "64 KiB is the default limit");
    assert_eq!(res.body, (64 * 1024 - 2).to_string());
    let over = echo(64 * 1024 + 1);
    send(&app, over)
        .await
        .assert_error_envelope(StatusCode::PAYLOAD_TOO_LARGE);

    let app = routes().layer(ApiStack::new().body_limit(10));
    let over = echo(11);
    send(&app, over)
        .await
        .assert_error_envelope(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(start_paused = true)]
async fn slow_handlers_are_a_504_envelope_after_the_timeout() {
    let app = routes().layer(ApiStack::new().timeout(Duration::from_secs(2)));
    let start = tokio::time::Instant::now();
    send(&app, get_req("/slow"))
        .await
        .assert_error_envelope(StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test]
async fn the_rate_limit_slot_sits_inside_the_error_renderer_and_cors() {
    let policy = StrictCors::new([ORIGIN]).unwrap();
    let stack = ApiStack::new()
        .cors(&policy)
        .rate_limit(axum::middleware::from_fn(deny_all));
    let app = routes().layer(stack);

    let denied = send(&app, get_req("/json")).await;
    denied.assert_error_envelope(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        denied.headers[header::RETRY_AFTER],
        "1",
        "the limiter's headers kept"
    );

    // A preflight is answered by CORS before the limiter: it spends no quota.
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/json")
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(Body::empty())
        .unwrap();
    let res = send(&app, preflight).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert_edge_headers(&res.headers);

    // An empty slot: `option_rate_limit(None)`.
    let app =
        routes().layer(ApiStack::new().option_rate_limit(None::<tower::layer::util::Identity>));
    assert_eq!(send(&app, get_req("/json")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_answers_configured_origins_only_and_is_absent_without_a_policy() {
    let cross_origin = |origin: &str| {
        Request::get("/json")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap()
    };
    let policy = StrictCors::new([ORIGIN]).unwrap();
    let app = routes().layer(ApiStack::new().cors(&policy));
    let allowed = send(&app, cross_origin(ORIGIN)).await;
    assert_eq!(allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let other = send(&app, cross_origin("https://evil.example")).await;
    assert!(
        !other
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );

    // No policy: no CORS layer at all (no grant, no `Vary: origin`).
    for app in [
        routes().layer(ApiStack::new()),
        routes().layer(ApiStack::new().option_cors(None)),
    ] {
        let res = send(&app, cross_origin(ORIGIN)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(
            !res.headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
        let vary = res.headers.get_all(header::VARY).iter();
        let vary: Vec<_> = vary.filter_map(|v| v.to_str().ok()).collect();
        assert!(!vary.iter().any(|v| v.contains("origin")), "{vary:?}");
    }
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn compression_is_outside_the_error_renderer() {
    // Every body compressed, however small: the error envelope is ~200 bytes.
    let app = routes().layer(ApiStack::new().compression_min_size(0));
    let gzip = gzip_get;
    let plain = send(&app, get_req("/json")).await;
    let res = send(&app, gzip("/json")).await;
    assert_eq!(res.headers[header::CONTENT_ENCODING], "gzip");
    assert_edge_headers(&res.headers);
    assert_eq!(gunzip(&res.body), plain.body);

    // The renderer's envelope is what gets compressed: the label matches the bytes.
    let res = send(&app, gzip("/nope")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.headers[header::CONTENT_ENCODING], "gzip");
    let body: serde_json::Value = serde_json::from_slice(&gunzip(&res.body)).unwrap();
    assert_eq!(
        body["meta"]["request_id"].as_str(),
        res.headers["x-request-id"].to_str().ok()
    );

    // Turned off: never compressed.
    let app = routes().layer(ApiStack::new().compression(false));
    let res = send(&app, gzip("/json")).await;
    assert!(!res.headers.contains_key(header::CONTENT_ENCODING));
    assert_eq!(res.body, plain.body);
}

fn gzip_get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap()
}

fn varies_by_encoding(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("accept-encoding")))
}

#[tokio::test]
async fn bodies_under_the_minimum_size_are_sent_as_they_are() {
    let app = routes().layer(ApiStack::new());
    // Under 1 KiB (the default): identity, and no `Vary` (the same for every client).
    let plain = send(&app, get_req("/json")).await;
    assert!(plain.body.len() < 1024, "{}", plain.body.len());
    let res = send(&app, gzip_get("/json")).await;
    assert!(!res.headers.contains_key(header::CONTENT_ENCODING));
    assert!(!varies_by_encoding(&res.headers), "{:?}", res.headers);
    assert_eq!(res.body, plain.body);
    assert_edge_headers(&res.headers);

    // Over it: gzip, with `Vary: accept-encoding`.
    let plain = send(&app, get_req("/big")).await;
    assert!(plain.body.len() >= 1024, "{}", plain.body.len());
    let res = send(&app, gzip_get("/big")).await;
    assert_eq!(res.headers[header::CONTENT_ENCODING], "gzip");
    assert!(varies_by_encoding(&res.headers), "{:?}", res.headers);
    assert_eq!(gunzip(&res.body), plain.body);

    // The minimum is the caller's.
    let app = routes().layer(ApiStack::new().compression_min_size(64 * 1024));
    let res = send(&app, gzip_get("/big")).await;
    assert!(!res.headers.contains_key(header::CONTENT_ENCODING));
    assert_eq!(res.body, plain.body);
}

#[tokio::test]
async fn the_error_format_is_configurable() {
    let app = routes().layer(ApiStack::new().error_format(ErrorFormat::Problem));
    let res = send(&app, get_req("/nope")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(
        res.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_edge_headers(&res.headers);
}

#[tokio::test]
async fn outermost_builds_the_stack_layer_by_layer() {
    assert_eq!(LAYERS.len(), 9);
    let layered = |n: usize| routes().layer(ApiStack::new().outermost(n));
    // Nothing: axum's bare 404.
    let res = send(&layered(0), get_req("/nope")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(!res.headers.contains_key("x-request-id"));
    // The edge alone: headers, but no envelope yet.
    let res = send(&layered(1), get_req("/nope")).await;
    assert_edge_headers(&res.headers);
    assert!(res.body.is_empty());
    // Up to the error layer (row 5): the envelope.
    let index = LAYERS.iter().position(|l| *l == "error layer").unwrap();
    assert!(
        send(&layered(index), get_req("/nope"))
            .await
            .body
            .is_empty()
    );
    send(&layered(index + 1), get_req("/nope"))
        .await
        .assert_error_envelope(StatusCode::NOT_FOUND);
    // Without the body limit (row 9): axum's 2 MiB default applies instead of 64 KiB.
    let big = || echo(100_000);
    assert_eq!(send(&layered(8), big()).await.status, StatusCode::OK);
    assert_eq!(
        send(&layered(9), big()).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}
