//! The access log's line shape (the production JSON format) and the metrics by matched
//! route, through a real subscriber and recorder.
#![cfg(all(feature = "metrics", feature = "json-log"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use keel_http::json_log::json_subscriber;
use keel_http::{EdgeLayer, SecurityHeaders, TelemetryLayer};
use keel_testkit::{LogCapture, TestRecorder};
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::EnvFilter;

fn app() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async {
                tracing::info!("inside the handler");
                "ok"
            }),
        )
        .route(
            "/boom",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }),
        )
        .route(
            "/status/{code}",
            get(
                |axum::extract::Path(code): axum::extract::Path<u16>| async move {
                    StatusCode::from_u16(code).unwrap().into_response()
                },
            ),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(EdgeLayer::new(SecurityHeaders::api()))
                .layer(TelemetryLayer::new()),
        )
}

/// Runs `requests` through the app under a JSON subscriber writing into a capture and a
/// local test recorder; returns the parsed log lines and the recorder.
fn run(requests: Vec<Request<Body>>) -> (Vec<Value>, TestRecorder, String) {
    let logs = LogCapture::new();
    let subscriber = json_subscriber(logs.clone(), EnvFilter::new("info")).finish();
    let recorder = TestRecorder::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = app();
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            for req in requests {
                rt.block_on(app.clone().oneshot(req)).unwrap();
            }
        });
    });
    let text = logs.text();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, recorder, text)
}

fn req(method: Method, path: &str, id: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("x-request-id", id)
        .body(Body::empty())
        .unwrap()
}

#[test]
fn one_json_access_line_per_request_with_the_matched_route() {
    let (lines, _, text) = run(vec![
        req(Method::GET, "/users/1?token=s3cret", "req-0"),
        req(Method::GET, "/users/2", "req-1"),
        req(Method::GET, "/nowhere", "req-2"),
        req(Method::GET, "/boom", "req-3"),
    ]);
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request finished")
        .collect();
    assert_eq!(access.len(), 4, "{text}");
    let first = access[0];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["fields"]["method"], "GET");
    assert_eq!(first["fields"]["route"], "/users/{id}");
    assert_eq!(first["fields"]["request_id"], "req-0");
    assert_eq!(first["fields"]["status"], 200);
    // Milliseconds to the microsecond: at most three decimals.
    let latency = first["fields"]["latency_ms"].as_f64().unwrap();
    assert!(latency >= 0.0);
    let raw = text
        .lines()
        .find(|l| l.contains("request finished"))
        .and_then(|l| l.split("\"latency_ms\":").nth(1))
        .unwrap();
    let number = raw.split([',', '}']).next().unwrap();
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 3, "latency_ms {number}");
    assert_eq!(access[2]["fields"]["route"], "unmatched");
    assert_eq!(access[2]["fields"]["status"], 404);
    assert_eq!(access[3]["level"], "WARN", "5xx is a warning");
    assert_eq!(access[3]["fields"]["status"], 500);
    // The raw path and its query string (tokens) are never logged.
    assert!(
        !text.contains("s3cret") && !text.contains("/users/1"),
        "{text}"
    );
    // The handler's own event carries the request span, and so the request id.
    let inner = lines
        .iter()
        .find(|l| l["fields"]["message"] == "inside the handler")
        .unwrap();
    assert_eq!(inner["span"]["request_id"], "req-0");
    assert_eq!(inner["span"]["route"], "/users/{id}");
}

#[test]
fn an_invalid_request_id_is_logged_as_its_replacement() {
    let (lines, _, text) = run(vec![req(Method::GET, "/users/1", "evil id")]);
    let line = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request finished")
        .unwrap();
    let id = line["fields"]["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{text}");
    assert!(!text.contains("evil"), "{text}");
}

#[test]
fn every_status_is_counted_beyond_the_cached_ones() {
    // 40 distinct statuses, twice each: more than a series caches handles for.
    let codes: Vec<u16> = (200..220).chain(400..420).collect();
    let requests = codes
        .iter()
        .chain(codes.iter())
        .enumerate()
        .map(|(i, c)| req(Method::GET, &format!("/status/{c}"), &format!("s{i}")))
        .collect();
    let (lines, m, _) = run(requests);
    assert_eq!(lines.len(), 80);
    for c in codes {
        assert_eq!(
            m.counter(&format!(
                "http_requests_total{{method=GET,route=/status/{{code}},status={c}}}"
            )),
            2,
            "{c}: {:?}",
            m.series()
        );
    }
}

#[test]
fn metrics_by_method_matched_route_and_status() {
    let (_, m, _) = run(vec![
        req(Method::GET, "/users/1", "a"),
        req(Method::GET, "/users/2", "b"),
        req(Method::POST, "/users/2", "c"),
        req(Method::GET, "/nowhere/7", "d"),
        req(Method::from_bytes(b"BREW").unwrap(), "/users/3", "e"),
    ]);
    assert_eq!(
        m.counter("http_requests_total{method=GET,route=/users/{id},status=200}"),
        2
    );
    assert_eq!(
        m.counter("http_requests_total{method=POST,route=/users/{id},status=405}"),
        1
    );
    assert_eq!(
        m.counter("http_requests_total{method=GET,route=unmatched,status=404}"),
        1
    );
    assert_eq!(
        m.counter("http_requests_total{method=OTHER,route=/users/{id},status=405}"),
        1,
        "{:?}",
        m.series()
    );
    let latencies = m.histogram("http_request_duration_seconds{method=GET,route=/users/{id}}");
    assert_eq!(latencies.len(), 2);
    assert!(latencies.iter().all(|s| (0.0..1.0).contains(s)));
    // Only matched routes and the fixed labels: no raw path became a series.
    assert!(
        m.series()
            .iter()
            .all(|s| !s.contains("/users/1") && !s.contains("/nowhere") && !s.contains("BREW")),
        "{:?}",
        m.series()
    );
}
