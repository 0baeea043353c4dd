//! The OpenAPI schemas against what the serializers emit: every member of real reports
//! (full, draining, starting, with every optional member) is validated against the
//! `HealthReport` schema of a generated document, read back from its JSON.
#![cfg(feature = "utoipa")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_health::openapi::HealthPaths;
use keel_health::{CheckOptions, Detail, Health, Observation, Probe};
use serde_json::Value;

/// Validates `value` against `schema` for the subset of JSON Schema the document uses
/// (`$ref`, `type`, `enum`, `required`, `properties`, `items`, `additionalProperties`,
/// `format: date-time`; a schema without `type` admits anything); panics with the path of the first mismatch.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        let target = doc.pointer(r.trim_start_matches('#')).expect(r);
        return validate(doc, target, value, at);
    }
    let Some(ty) = schema["type"].as_str() else {
        return; // No type: any JSON value.
    };
    {
        let ok = match ty {
            "string" => value.is_string(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "number" => value.is_number(),
            other => panic!("unexpected type {other} at {at}"),
        };
        assert!(ok, "{at}: {value} is not {ty}");
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(allowed.contains(value), "{at}: {value} not in {allowed:?}");
    }
    if schema["format"] == "date-time" {
        let s = value.as_str().unwrap();
        assert!(
            s.len() == 24 && s.as_bytes()[10] == b'T' && s.ends_with('Z'),
            "{at}: {s}"
        );
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            assert!(object.contains_key(name), "{at}: missing {name}");
        }
        for (key, member) in object {
            let property = &schema["properties"][key];
            let sub = if property.is_null() {
                &schema["additionalProperties"]
            } else {
                property
            };
            assert!(!sub.is_null(), "{at}: {key} is not documented");
            validate(doc, sub, member, &format!("{at}.{key}"));
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            validate(doc, &schema["items"], item, &format!("{at}[{i}]"));
        }
    }
}

fn document() -> Value {
    let text = HealthPaths::new().openapi().to_json().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check_body(doc: &Value, body: &[u8]) {
    let report: Value = serde_json::from_slice(body).unwrap();
    let schema = &doc["paths"]["/health/ready"]["get"]["responses"]["503"]["content"]["application/health+json"]
        ["schema"];
    validate(doc, schema, &report, "$");
}

fn health() -> Health {
    let db = CheckOptions::builder("db:responseTime")
        .probes(Probe::Readiness | Probe::Startup)
        .component_id("primary")
        .component_type("datastore")
        .affected_endpoints(["/api/v1/users"]);
    Health::builder()
        .version("1")
        .release_id("1.4.2")
        .service_id("orders-api")
        .description("Orders API")
        .check(db, || async {
            Observation::fail("refused").with_value(12.5, "ms")
        })
        .check(CheckOptions::builder("cache").non_critical(), || async {
            Observation::warn("slow").with_value(serde_json::json!({"p99": 3}), "ms")
        })
        .system_checks()
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_member_of_real_reports_is_documented() {
    let doc = document();
    let health = health();
    // Starting (the startup check fails): notes and output.
    for probe in [
        Probe::Liveness,
        Probe::Readiness,
        Probe::Startup,
        Probe::Full,
    ] {
        let report = health.evaluate(probe).await;
        check_body(&doc, &report.to_json(Detail::Full));
        check_body(&doc, &report.to_json(Detail::StatusOnly));
    }
    let full: Value =
        serde_json::from_slice(&health.evaluate(Probe::Full).await.to_json(Detail::Full)).unwrap();
    let db = &full["checks"]["db:responseTime"][0];
    for member in [
        "componentId",
        "affectedEndpoints",
        "observedValue",
        "output",
    ] {
        assert!(!db[member].is_null(), "the test covers {member}");
    }
    assert_eq!(full["notes"], serde_json::json!(["starting"]));
    // Draining: readiness answers with `output` and `notes`.
    health.drain();
    let ready = health.evaluate(Probe::Readiness).await;
    let json: Value = serde_json::from_slice(&ready.to_json(Detail::Full)).unwrap();
    assert!(json["output"].is_string() && json["notes"] == serde_json::json!(["draining"]));
    check_body(&doc, &ready.to_json(Detail::Full));
    check_body(
        &doc,
        &health.evaluate(Probe::Full).await.to_json(Detail::Full),
    );
}

#[test]
fn an_undocumented_member_is_caught() {
    // The validator itself can fail.
    let doc = document();
    let bad = serde_json::json!({"status": "pass", "uptime": 3});
    let schema = serde_json::json!({"$ref": "#/components/schemas/HealthReport"});
    let result = std::panic::catch_unwind(|| validate(&doc, &schema, &bad, "$"));
    assert!(result.is_err());
    let bad_status = serde_json::json!({"status": "ok"});
    let result = std::panic::catch_unwind(|| validate(&doc, &schema, &bad_status, "$"));
    assert!(result.is_err());
}

#[test]
fn probes_document_cache_control_and_both_statuses() {
    let doc = document();
    for path in [
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/health",
    ] {
        let responses = &doc["paths"][path]["get"]["responses"];
        for status in ["200", "503"] {
            let r = &responses[status];
            assert!(r["headers"]["Cache-Control"].is_object(), "{path} {status}");
            assert_eq!(
                r["content"]["application/health+json"]["schema"]["$ref"],
                "#/components/schemas/HealthReport"
            );
        }
    }
    assert_eq!(doc["tags"][0]["name"], "health");
}

#[test]
fn nests_under_the_mount_prefix() {
    let doc = utoipa::openapi::OpenApi::default().nest("/internal", HealthPaths::new().openapi());
    assert!(doc.paths.paths.contains_key("/internal/health/ready"));
    let json = serde_json::to_value(&doc).unwrap();
    assert!(json["components"]["schemas"]["HealthReport"].is_object());
}
