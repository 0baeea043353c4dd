//! The documented responses in a whole generated document: what `#[derive(OpenApi)]`
//! plus [`CommonResponses`] produce, serialized as a client would read it.
#![cfg(feature = "utoipa")]

use keel_envelope::Envelope;
use keel_envelope::openapi::{CommonResponses, NotFound, Unauthenticated, ValidationFailed};
use serde_json::Value;
use utoipa::OpenApi;

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Item {
    id: u64,
}

type ItemBody = Envelope<Item>;

#[utoipa::path(get, path = "/items/{id}", params(("id" = u64, Path)), responses(
    (status = 200, description = "The item", body = ItemBody),
    (status = 401, response = Unauthenticated),
    (status = 404, response = NotFound),
))]
#[allow(dead_code)]
async fn get_item() {}

#[utoipa::path(post, path = "/items", responses(
    (status = 201, description = "Created", body = ItemBody),
    (status = 422, response = ValidationFailed),
    (status = 503, description = "The queue is full, as this operation documents it"),
))]
#[allow(dead_code)]
async fn create_item() {}

const COMMON: CommonResponses = CommonResponses::new().on_every_operation(&[429, 503]);

#[derive(OpenApi)]
#[openapi(paths(get_item, create_item), components(schemas(ItemBody)), modifiers(&COMMON))]
struct Api;

fn document() -> Value {
    let text = Api::openapi().to_pretty_json().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 5, "{all:?}");
    for r in all {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
}

#[test]
fn common_statuses_on_every_operation_without_overriding() {
    let doc = document();
    let get = &doc["paths"]["/items/{id}"]["get"]["responses"];
    assert_eq!(get["429"]["$ref"], "#/components/responses/RateLimited");
    assert_eq!(
        get["503"]["$ref"],
        "#/components/responses/ServiceUnavailable"
    );
    let post = &doc["paths"]["/items"]["post"]["responses"];
    assert_eq!(post["429"]["$ref"], "#/components/responses/RateLimited");
    assert_eq!(
        post["503"]["description"],
        "The queue is full, as this operation documents it"
    );
}

#[test]
fn headers_and_bodies_of_the_registered_responses() {
    let doc = document();
    let responses = &doc["components"]["responses"];
    let header = |name: &str, header: &str| responses[name]["headers"][header]["schema"].clone();
    assert_eq!(
        header("Unauthenticated", "WWW-Authenticate")["type"],
        "string"
    );
    assert_eq!(header("RateLimited", "Retry-After")["type"], "integer");
    assert_eq!(header("ServiceUnavailable", "Retry-After")["minimum"], 0);
    assert!(responses["NotFound"]["headers"].is_null());
    for name in [
        "Unauthenticated",
        "NotFound",
        "ValidationFailed",
        "RateLimited",
    ] {
        assert_eq!(
            responses[name]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorEnvelope",
            "{name}"
        );
    }
}

#[test]
fn the_document_round_trips() {
    let text = Api::openapi().to_json().unwrap_or_default();
    let back: utoipa::openapi::OpenApi = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(back.to_json().unwrap_or_default(), text);
    assert!(
        back.components
            .is_some_and(|c| c.responses.contains_key("RateLimited"))
    );
}
