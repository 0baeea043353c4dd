//! `application/health+json` output against the shape of draft-inadarei-api-health-check
//! (golden files in `tests/data/`), and the details policy of the router.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::body::Body;
use http::Request;
use keel_health::axum::{DetailsPolicy, HealthRouter};
use keel_health::{CheckOptions, Detail, Health, Observation, Probe, Probes};
use serde_json::Value;
use tokio::time::sleep;
use tower::ServiceExt;

/// Top-level members the draft defines (§3), and the members of a check entry (§4).
const TOP_LEVEL: &[&str] = &[
    "status",
    "version",
    "releaseId",
    "notes",
    "output",
    "checks",
    "links",
    "serviceId",
    "description",
];
const ENTRY: &[&str] = &[
    "componentId",
    "componentType",
    "observedValue",
    "observedUnit",
    "status",
    "affectedEndpoints",
    "time",
    "output",
    "links",
];

/// Asserts the draft's shape and replaces each `time` (after checking it is RFC 3339 UTC)
/// by `"<time>"`, so the document can be compared with a golden file.
fn validate_and_normalize(doc: &mut Value) {
    let obj = doc.as_object_mut().expect("a JSON object");
    for key in obj.keys() {
        assert!(
            TOP_LEVEL.contains(&key.as_str()),
            "unknown top-level member {key}"
        );
    }
    assert!(matches!(
        obj["status"].as_str(),
        Some("pass" | "warn" | "fail")
    ));
    if let Some(notes) = obj.get("notes") {
        assert!(notes.as_array().unwrap().iter().all(Value::is_string));
    }
    let Some(checks) = obj.get_mut("checks") else {
        return;
    };
    for (name, entries) in checks.as_object_mut().expect("checks is an object") {
        assert!(name.matches(':').count() <= 1, "{name}");
        for entry in entries.as_array_mut().expect("each check is an array") {
            let entry = entry.as_object_mut().expect("each entry is an object");
            for key in entry.keys() {
                assert!(
                    ENTRY.contains(&key.as_str()),
                    "unknown member {key} in {name}"
                );
            }
            assert!(matches!(
                entry["status"].as_str(),
                Some("pass" | "warn" | "fail")
            ));
            if entry.contains_key("observedUnit") {
                assert!(
                    entry.contains_key("observedValue"),
                    "{name}: a unit without a value"
                );
            }
            let time = entry["time"].as_str().expect("time is a string");
            let b = time.as_bytes();
            assert_eq!(b.len(), 24, "{time}");
            assert!(
                b[4] == b'-'
                    && b[7] == b'-'
                    && b[10] == b'T'
                    && b[13] == b':'
                    && b[16] == b':'
                    && b[19] == b'.'
                    && b[23] == b'Z',
                "{time}"
            );
            entry.insert("time".into(), Value::from("<time>"));
        }
    }
}

fn golden(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sample() -> Health {
    Health::builder()
        .version("1")
        .release_id("1.4.2")
        .service_id("orders-api")
        .description("Orders API")
        .check(
            CheckOptions::builder("postgres:responseTime")
                .component_type("datastore")
                .component_id("primary"),
            || async { sleep(Duration::from_millis(5)).await },
        )
        .check(
            CheckOptions::builder("postgres:responseTime")
                .component_type("datastore")
                .component_id("replica"),
            || async { sleep(Duration::from_millis(7)).await },
        )
        .check(
            CheckOptions::builder("redis:responseTime")
                .component_type("datastore")
                .non_critical()
                .timeout(Duration::from_millis(200))
                .affected_endpoints(["/api/v1/carts"]),
            || async { sleep(Duration::from_secs(10)).await },
        )
        .check(
            CheckOptions::builder("queue:depth").probes(Probes::NONE),
            || async { Observation::warn("backlog growing").with_value(1200, "jobs") },
        )
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn full_report_matches_the_golden_file() {
    let health = sample();
    sleep(Duration::from_secs(3600)).await;
    let report = health.report().await;
    let mut doc: Value = serde_json::from_slice(&report.to_json(Detail::Full)).unwrap();
    validate_and_normalize(&mut doc);
    assert_eq!(doc, golden("full_report.json"));
    // `serde` gives the same document as `to_json`.
    assert_eq!(
        serde_json::to_vec(&report).unwrap(),
        report.to_json(Detail::Full)
    );
    // Status first, as in the draft's examples.
    assert!(
        report
            .to_json(Detail::Full)
            .starts_with(br#"{"status":"warn","version":"1""#)
    );
}

#[tokio::test(start_paused = true)]
async fn draining_and_starting_reports() {
    let health = Health::builder()
        .service_id("svc")
        .check(
            CheckOptions::builder("migrations").probes(Probe::Startup),
            || async { false },
        )
        .build()
        .unwrap();
    let mut doc: Value =
        serde_json::from_slice(&health.ready().await.to_json(Detail::Full)).unwrap();
    validate_and_normalize(&mut doc);
    assert_eq!(
        doc,
        serde_json::json!({
            "status": "fail",
            "serviceId": "svc",
            "output": "starting: not every startup check has passed yet",
            "notes": ["starting"],
            "checks": {"migrations": [{"status": "fail", "time": "<time>", "output": "check returned false"}]}
        })
    );
    health.drain();
    let mut doc: Value =
        serde_json::from_slice(&health.ready().await.to_json(Detail::Full)).unwrap();
    validate_and_normalize(&mut doc);
    assert_eq!(
        doc,
        serde_json::json!({
            "status": "fail",
            "serviceId": "svc",
            "output": "draining: the service is shutting down",
            "notes": ["draining"]
        })
    );
}

async fn get(
    router: &axum::Router,
    path: &str,
    token: Option<&str>,
) -> (u16, String, String, Vec<u8>) {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    let cc = res.headers()["cache-control"].to_str().unwrap().to_owned();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, ct, cc, body)
}

#[tokio::test(start_paused = true)]
async fn the_public_sees_only_the_status() {
    let router: axum::Router = HealthRouter::new(sample())
        .details(DetailsPolicy::bearer_token("admin-token"))
        .into_router();
    for path in [
        "/health",
        "/health/ready",
        "/health/live",
        "/health/startup",
    ] {
        for token in [None, Some("wrong-token")] {
            let (_, ct, cc, body) = get(&router, path, token).await;
            assert_eq!(ct, "application/health+json");
            assert!(!cc.contains("private"), "{cc}");
            let doc: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc.as_object().unwrap().len(), 1, "{path}: {doc}");
            assert!(doc["status"].is_string(), "{path}: {doc}");
            let text = String::from_utf8(body).unwrap();
            for secret in [
                "postgres",
                "redis",
                "orders-api",
                "1.4.2",
                "timed out",
                "datastore",
            ] {
                assert!(!text.contains(secret), "{path} leaks {secret}: {text}");
            }
        }
    }
    let (status, _, _, body) = get(&router, "/health", None).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, &br#"{"status":"warn"}"#[..])
    );
}

#[tokio::test(start_paused = true)]
async fn authorized_callers_see_details() {
    let router: axum::Router = HealthRouter::new(sample())
        .details(DetailsPolicy::bearer_token("admin-token"))
        .into_router();
    let (status, _, cc, body) = get(&router, "/health", Some("admin-token")).await;
    assert_eq!(status, 200);
    assert!(cc.starts_with("private, max-age="), "{cc}");
    let mut doc: Value = serde_json::from_slice(&body).unwrap();
    validate_and_normalize(&mut doc);
    assert_eq!(doc["serviceId"], "orders-api");
    assert_eq!(
        doc["checks"]["redis:responseTime"][0]["output"],
        "timed out after 200ms"
    );
    // Readiness details list readiness checks only (queue:depth is full-report only).
    let (_, _, _, body) = get(&router, "/health/ready", Some("admin-token")).await;
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&String> = doc["checks"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["postgres:responseTime", "redis:responseTime"]);
}

#[tokio::test]
async fn kubernetes_paths_and_head() {
    let router: axum::Router = HealthRouter::new(Health::builder().build().unwrap())
        .kubernetes_paths(true)
        .into_router();
    for path in ["/livez", "/readyz", "/startupz"] {
        assert_eq!(get(&router, path, None).await.0, 200, "{path}");
    }
    let plain: axum::Router = Health::builder().build().unwrap().router();
    let res = plain
        .clone()
        .oneshot(Request::get("/livez").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = plain
        .oneshot(Request::head("/health/live").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[derive(Clone)]
struct Marked;

#[tokio::test(start_paused = true)]
async fn the_report_layer_runs_for_the_full_report_only() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // Marks every request it sees; the policy shows details to marked requests.
    let layer = axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            counted.fetch_add(1, Ordering::SeqCst);
            req.extensions_mut().insert(Marked);
            next.run(req)
        },
    );
    let router: axum::Router = HealthRouter::new(sample())
        .details(DetailsPolicy::when(|p| {
            p.extensions.get::<Marked>().is_some()
        }))
        .kubernetes_paths(true)
        .into_router_with_report_layer(layer);
    for path in [
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/livez",
        "/readyz",
        "/startupz",
    ] {
        let (_, _, _, body) = get(&router, path, None).await;
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc.as_object().unwrap().len(), 1, "{path}: {doc}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the probes never pass the layer"
    );
    let (status, _, _, body) = get(&router, "/health", None).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc["serviceId"], "orders-api",
        "the layer marked the report request"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
